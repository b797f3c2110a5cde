//! Refunds (devolução, issue 15 part 1): the receiver returns a transfer or a payment, fully or
//! in parts, within the refund window; the refunds of one original never add up to more than it
//! credited, also when they race (at one bank, and at two receivers' banks at once); each refund
//! is linked to the original and shown on both statements. A refund of a transfer that came
//! from another bank crosses back by the two-phase commit.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

struct Pair {
    payer: String,
    payer_account: String,
    receiver: String,
    receiver_account: String,
}

async fn pair(bank: &TestBank) -> Pair {
    let payer = bank.customer(&new_cpf(), "Pagadora").await;
    let payer_account = bank.open_account(&payer, "individual", &[]).await;
    bank.deposit(&payer, &payer_account, 100_000).await;
    let receiver = bank.customer(&new_cpf(), "Recebedor").await;
    let receiver_account = bank.open_account(&receiver, "individual", &[]).await;
    Pair { payer, payer_account, receiver, receiver_account }
}

async fn pay(bank: &TestBank, p: &Pair, amount_cents: i64) -> String {
    let body = json!({
        "debits": [{ "bank": "A", "account": p.payer_account, "amount_cents": amount_cents }],
        "credits": [{ "bank": "A", "account": p.receiver_account, "amount_cents": amount_cents }],
        "description": "almoço",
    });
    let (status, body) = bank.post("/api/v1/transfers", Some(&p.payer), body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("id").to_string()
}

async fn refund(bank: &TestBank, token: &str, original: &str, account: &str, amount_cents: i64) -> (StatusCode, Value) {
    let body = json!({ "account": account, "amount_cents": amount_cents, "description": "desculpe" });
    bank.post(&format!("/api/v1/transfers/{original}/refunds"), Some(token), body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_refunds_in_parts_up_to_the_original_and_each_refund_is_linked_and_on_both_statements() {
    let bank = TestBank::start("A").await;
    let p = pair(&bank).await;
    let original = pay(&bank, &p, 10_000).await;

    let (status, first) = refund(&bank, &p.receiver, &original, &p.receiver_account, 4_000).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!((first["status"].as_str(), first["refund_of"].as_str()), (Some("committed"), Some(original.as_str())));
    let refused = refund(&bank, &p.receiver, &original, &p.receiver_account, 6_001).await;
    assert_problem(&refused, 422, "refund-refused");
    assert!(refused.1["detail"].as_str().unwrap_or_default().contains("R$ 60,00 of R$ 100,00"), "{}", refused.1);
    let (status, second) = refund(&bank, &p.receiver, &original, &p.receiver_account, 6_000).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_problem(&refund(&bank, &p.receiver, &original, &p.receiver_account, 1).await, 422, "refund-refused");
    assert_eq!(bank.balance(&p.payer, &p.payer_account).await.0, 100_000);
    assert_eq!(bank.balance(&p.receiver, &p.receiver_account).await.0, 0);

    // Linked: both parties list the refunds of the original; both statements name it.
    for token in [&p.payer, &p.receiver] {
        let (status, listed) = bank.get(&format!("/api/v1/transfers/{original}/refunds"), Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        assert_eq!(listed["refunded_cents"], 10_000, "{listed}");
        let ids: Vec<&str> = listed["refunds"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [first["id"].as_str().unwrap(), second["id"].as_str().unwrap()]);
    }
    for (token, account, sign) in [(&p.payer, &p.payer_account, 1), (&p.receiver, &p.receiver_account, -1)] {
        let statement = bank.as_customer(token).statement(account, None, None).await.expect("statement");
        let refunds: Vec<_> = statement.entries.iter().filter(|e| e.description.starts_with(&format!("devolução de {original}"))).collect();
        assert_eq!(refunds.len(), 2, "{statement:?}");
        assert!(refunds.iter().all(|e| e.amount_cents.signum() == sign));
    }
    // The refund's own receipt (its initiator's view) says what it returns.
    let view = bank.as_customer(&p.receiver).transfer_view(first["id"].as_str().unwrap()).await.expect("refund readable");
    assert_eq!(view.description, format!("devolução de {original}: desculpe"));

    // Only what was received, only by its receiver, never a refund of a refund.
    let stranger = bank.customer(&new_cpf(), "Estranho").await;
    let other = bank.open_account(&stranger, "individual", &[]).await;
    assert_problem(&refund(&bank, &stranger, &original, &p.receiver_account, 1).await, 404, "account-not-found");
    assert_problem(&refund(&bank, &stranger, &original, &other, 1).await, 422, "refund-refused");
    assert_problem(&refund(&bank, &p.payer, &original, &p.payer_account, 1).await, 422, "refund-refused");
    assert_problem(&refund(&bank, &p.payer, first["id"].as_str().unwrap(), &p.payer_account, 1).await, 422, "refund-refused");
    assert_problem(&refund(&bank, &p.receiver, "no such id!", &p.receiver_account, 1).await, 404, "transfer-not-found");
    assert_problem(&refund(&bank, &p.receiver, &original, &p.receiver_account, 0).await, 422, "invalid-amount");
    let extra = json!({ "account": p.receiver_account, "amount_cents": 1, "why": "x" });
    assert_problem(&bank.post(&format!("/api/v1/transfers/{original}/refunds"), Some(&p.receiver), extra).await, 422, "invalid-field");
    assert_problem(&refund(&bank, "not-a-token", &original, &p.receiver_account, 1).await, 401, "unauthenticated");
    bank.assert_audit_passes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_refunds_never_add_up_to_more_than_the_original_and_a_key_refunds_once() {
    let bank = TestBank::start("A").await;
    let p = pair(&bank).await;
    let original = pay(&bank, &p, 10_000).await;
    let races = (0..12).map(|_| refund(&bank, &p.receiver, &original, &p.receiver_account, 3_000));
    let results = futures_util::future::join_all(races).await;
    let done = results.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
    for result in results.iter().filter(|(status, _)| *status != StatusCode::CREATED) {
        assert_problem(result, 422, "refund-refused");
    }
    assert_eq!(done, 3, "3 x 3_000 fit in 10_000, a fourth does not");
    assert_eq!(bank.balance(&p.receiver, &p.receiver_account).await.0, 1_000);
    // The same Idempotency-Key refunds once, however often it is sent at once.
    let second = pay(&bank, &p, 5_000).await;
    let body = json!({ "account": p.receiver_account, "amount_cents": 1_000 });
    let path = format!("/api/v1/transfers/{second}/refunds");
    let sends =
        (0..6).map(|_| bank.call_with(Method::POST, &path, Some(&p.receiver), Some(body.clone()), &[("Idempotency-Key", "refund-once")]));
    let results = futures_util::future::join_all(sends).await;
    let ids: std::collections::BTreeSet<String> =
        results.iter().filter(|(s, _)| *s == StatusCode::CREATED).map(|(_, b)| b["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    for (status, body) in &results {
        assert!(*status == StatusCode::CREATED || *status == StatusCode::CONFLICT, "{status} {body}");
    }
    let (_, listed) = bank.get(&path, Some(&p.receiver)).await;
    assert_eq!(listed["refunded_cents"], 1_000, "{listed}");
    bank.assert_audit_passes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_after_the_window_is_refused() {
    let bank = TestBank::start_with("A", |config| config.refund_window = Duration::from_millis(800)).await;
    let p = pair(&bank).await;
    let original = pay(&bank, &p, 10_000).await;
    let (status, body) = refund(&bank, &p.receiver, &original, &p.receiver_account, 1_000).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let refused = refund(&bank, &p.receiver, &original, &p.receiver_account, 1_000).await;
    assert_problem(&refused, 422, "refund-refused");
    assert!(refused.1["detail"].as_str().unwrap_or_default().contains("older than the refund window"), "{}", refused.1);
    assert_eq!(bank.balance(&p.receiver, &p.receiver_account).await.0, 9_000);
}

/// Waits until transfer `id` is final at `bank` (as `token` sees it); returns its status.
async fn final_status(bank: &TestBank, token: &str, id: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let view = bank.as_customer(token).transfer_view(id).await.expect("transfer readable");
        if view.status != "pending" {
            return view.status;
        }
        assert!(std::time::Instant::now() < deadline, "{id} still pending: {view:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One payer at A pays receivers at B and C in one transfer; each receiver refunds at its own
/// bank with a dozen racing requests, through the two-phase commit: at each bank exactly what
/// fits in what it received is accepted (pending refunds count), every accepted refund commits,
/// and the payer gets back exactly their sum. Refunds are not held to the receiver's transfer
/// limits; a refund that aborts (no funds at the vote) gives its amount back; a refund is not
/// refundable; both sides list the refunds and their statements name the original.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_across_banks_race_at_two_banks_and_never_pass_the_original() {
    let consortium = Consortium::start(3, &[]).await;
    let (a, b, c) = (consortium.view(0), consortium.view(1), consortium.view(2));
    let payer = a.customer(&new_cpf(), "Pagadora").await;
    let payer_account = a.open_account(&payer, "individual", &[]).await;
    a.deposit(&payer, &payer_account, 100_000).await;
    let receiver_b = b.customer(&new_cpf(), "Recebedor B").await;
    let account_b = b.open_account(&receiver_b, "individual", &[]).await;
    let receiver_c = c.customer(&new_cpf(), "Recebedora C").await;
    let account_c = c.open_account(&receiver_c, "individual", &[]).await;
    // B's receiver may send at most R$ 1,00 per transfer: refunds are not transfers it sends.
    let (status, body) = b
        .call(Method::PUT, &format!("/api/v1/accounts/{account_b}/limits"), Some(&receiver_b), Some(json!({ "per_transfer_cents": 100 })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let body = json!({
        "debits": [{ "bank": "A", "account": payer_account, "amount_cents": 16_000 }],
        "credits": [{ "bank": "B", "account": account_b, "amount_cents": 10_000 }, { "bank": "C", "account": account_c, "amount_cents": 6_000 }],
        "description": "duas lojas",
    });
    let (status, posted) = a.post("/api/v1/transfers", Some(&payer), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{posted}");
    let original = posted["id"].as_str().unwrap().to_string();
    assert_eq!(final_status(&a, &payer, &original).await, "committed");
    assert!(consortium.audit_until_quiet(Duration::from_secs(20)).await.passed, "the original reached B and C");

    // A dozen racing refunds of R$ 30,00 at B (R$ 100,00 received) and of R$ 20,00 at C (R$ 60,00).
    let at_b = (0..12).map(|_| refund(&b, &receiver_b, &original, &account_b, 3_000));
    let at_c = (0..12).map(|_| refund(&c, &receiver_c, &original, &account_c, 2_000));
    let (at_b, at_c) = tokio::join!(futures_util::future::join_all(at_b), futures_util::future::join_all(at_c));
    let mut accepted = Vec::new();
    for (name, bank, token, results) in [("B", &b, &receiver_b, &at_b), ("C", &c, &receiver_c, &at_c)] {
        for result in results.iter().filter(|(status, _)| *status != StatusCode::ACCEPTED) {
            assert_problem(result, 422, "refund-refused");
        }
        let ids: Vec<String> = results
            .iter()
            .filter(|(status, _)| *status == StatusCode::ACCEPTED)
            .map(|(_, body)| body["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), 3, "exactly three fit in what {name} received: {results:?}");
        for id in ids {
            assert_eq!(results.iter().find(|(_, body)| body["id"] == id.as_str()).unwrap().1["status"], "pending");
            accepted.push((name, bank, token, id));
        }
    }
    for (name, bank, token, id) in &accepted {
        assert_eq!(final_status(bank, token, id).await, "committed", "refund {id} at {name}");
    }
    assert!(consortium.audit_until_quiet(Duration::from_secs(20)).await.passed);
    assert_eq!(a.balance(&payer, &payer_account).await.0, 100_000 - 16_000 + 9_000 + 6_000);
    assert_eq!(b.balance(&receiver_b, &account_b).await.0, 1_000);
    assert_eq!(c.balance(&receiver_c, &account_c).await.0, 0);

    // Linked on both sides: the payer at A sees all six, each receiver its own three.
    let path = format!("/api/v1/transfers/{original}/refunds");
    let (status, listed) = a.get(&path, Some(&payer)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["refunded_cents"], 15_000, "{listed}");
    let refunds = listed["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 6, "{listed}");
    assert!(
        refunds.iter().all(|r| r["to_bank"] == "A" && r["to_account"] == payer_account.as_str() && r["status"] == "committed"),
        "{listed}"
    );
    assert_eq!(refunds.iter().filter(|r| r["from_bank"] == "B" && r["from_account"] == account_b.as_str()).count(), 3, "{listed}");
    let (_, listed_b) = b.get(&path, Some(&receiver_b)).await;
    assert_eq!(listed_b["refunded_cents"], 9_000, "{listed_b}");
    let statement = a.as_customer(&payer).statement(&payer_account, None, None).await.expect("statement");
    let lines = statement.entries.iter().filter(|e| e.description.starts_with(&format!("devolução de {original}"))).count();
    assert_eq!(lines, 6, "{statement:?}");

    // A refund that aborts at the vote (its funds gone meanwhile) gives its amount back.
    let (status, body) = b.post("/api/v1/withdrawals", Some(&receiver_b), json!({ "account": account_b, "amount_cents": 1_000 })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, failed) = refund(&b, &receiver_b, &original, &account_b, 1_000).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{failed}");
    assert_eq!(final_status(&b, &receiver_b, failed["id"].as_str().unwrap()).await, "aborted");
    b.deposit(&receiver_b, &account_b, 1_000).await;
    let (status, last) = refund(&b, &receiver_b, &original, &account_b, 1_000).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{last}");
    assert_eq!(final_status(&b, &receiver_b, last["id"].as_str().unwrap()).await, "committed");
    assert_problem(&refund(&b, &receiver_b, &original, &account_b, 1).await, 422, "refund-refused");

    // A refund received is not itself refundable, at the payer's bank either.
    let some_refund = accepted[0].3.clone();
    let refused = refund(&a, &payer, &some_refund, &payer_account, 1).await;
    assert_problem(&refused, 422, "refund-refused");
    assert!(refused.1["detail"].as_str().unwrap_or_default().contains("itself a refund"), "{}", refused.1);
    assert!(consortium.audit_until_quiet(Duration::from_secs(20)).await.passed);
    assert_eq!(a.balance(&payer, &payer_account).await.0, 100_000);
}

/// A transfer with several payers at two banks (one customer's accounts at A and B) to receivers
/// at two banks: each receiver's refund goes back to the accounts that funded its credit (debits
/// matched to credits in leg order), split pro rata over what each is still owed, odd centavos
/// included, never more than each paid. The receiver at C learns the payers from the prepare;
/// the receiver at A (the origin) recomputes them from the legs. At one bank, a refund to two
/// payers is local.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_with_several_payers_is_refunded_to_each_of_them_pro_rata() {
    let consortium = Consortium::start(3, &[]).await;
    let (a, b, c) = (consortium.view(0), consortium.view(1), consortium.view(2));
    let cpf = new_cpf();
    let x = a.customer(&cpf, "Pagadora").await;
    let x_a = a.open_account(&x, "individual", &[]).await;
    a.deposit(&x, &x_a, 100_000).await;
    let x_at_b = b.customer(&cpf, "Pagadora").await;
    let x_b = b.open_account(&x_at_b, "individual", &[]).await;
    b.deposit(&x_at_b, &x_b, 100_000).await;
    let consent = b.grant_consent(&x_at_b, "A", &x_b, 3_000).await;
    let z = c.customer(&new_cpf(), "Recebedora Z").await;
    let z_account = c.open_account(&z, "individual", &[]).await;
    let w = a.customer(&new_cpf(), "Recebedor W").await;
    let w_account = a.open_account(&w, "individual", &[]).await;

    // 7,000 from A and 3,000 from B pay Z at C 8,000 and W at A 2,000: Z's credit came from A's
    // 7,000 and 1,000 of B's, W's from the other 2,000 of B's.
    let body = json!({
        "debits": [
            { "bank": "A", "account": x_a, "amount_cents": 7_000 },
            { "bank": "B", "account": x_b, "amount_cents": 3_000, "consent": consent },
        ],
        "credits": [{ "bank": "C", "account": z_account, "amount_cents": 8_000 }, { "bank": "A", "account": w_account, "amount_cents": 2_000 }],
        "description": "vaquinha",
    });
    let (status, posted) = a.post("/api/v1/transfers", Some(&x), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{posted}");
    let original = posted["id"].as_str().unwrap().to_string();
    assert_eq!(final_status(&a, &x, &original).await, "committed");
    assert!(consortium.audit_until_quiet(Duration::from_secs(20)).await.passed, "the original reached B and C");

    // Z refunds 39,99 (owed 7,000 and 1,000: 3,499.125 and 499.875, the odd centavo to the
    // first), then 40,01 (exactly what is left to each), then nothing is left.
    let mut refunds = Vec::new();
    for amount in [3_999, 4_001] {
        let (status, body) = refund(&c, &z, &original, &z_account, amount).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        assert_eq!(final_status(&c, &z, &id).await, "committed");
        refunds.push(id);
    }
    assert!(consortium.audit_until_quiet(Duration::from_secs(20)).await.passed);
    assert_eq!(a.balance(&x, &x_a).await.0, 100_000 - 7_000 + 3_500 + 3_500);
    assert_eq!(b.balance(&x_at_b, &x_b).await.0, 100_000 - 3_000 + 499 + 501);
    assert_eq!(c.balance(&z, &z_account).await.0, 0);
    assert_problem(&refund(&c, &z, &original, &z_account, 1).await, 422, "refund-refused");
    // Each refund is one line per payer credited, at the receiver's bank and at each payer's.
    let path = format!("/api/v1/transfers/{original}/refunds");
    let (status, listed) = c.get(&path, Some(&z)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["refunded_cents"], 8_000, "{listed}");
    let lines: Vec<(String, String, i64)> = listed["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r["to_bank"].as_str().unwrap().to_string(), r["amount_cents"].as_i64().unwrap()))
        .collect();
    let expected = vec![
        (refunds[0].clone(), "A".to_string(), 3_500),
        (refunds[0].clone(), "B".to_string(), 499),
        (refunds[1].clone(), "A".to_string(), 3_500),
        (refunds[1].clone(), "B".to_string(), 501),
    ];
    let mut sorted = lines.clone();
    sorted.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(sorted, expected_sorted, "{listed}");
    let (_, at_b) = b.get(&path, Some(&x_at_b)).await;
    assert_eq!(at_b["refunded_cents"], 1_000, "{at_b}");

    // W, at the origin, refunds its 20,00: all of it came from B's account.
    let (status, body) = refund(&a, &w, &original, &w_account, 2_000).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(final_status(&a, &w, body["id"].as_str().unwrap()).await, "committed");
    assert!(consortium.audit_until_quiet(Duration::from_secs(20)).await.passed);
    assert_eq!(b.balance(&x_at_b, &x_b).await.0, 100_000);
    assert_eq!(a.balance(&x, &x_a).await.0, 100_000);

    // At one bank: two accounts of one customer (its own and a joint one) pay W; W's refund
    // returns to both, at once.
    let partner = new_cpf();
    let partner_token = a.customer(&partner, "Sócia").await;
    let x_a2 = a.open_account(&x, "joint", &[&partner]).await;
    let (status, body) = a.post(&format!("/api/v1/accounts/{x_a2}/acceptance"), Some(&partner_token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    a.deposit(&x, &x_a2, 1_000).await;
    let body = json!({
        "debits": [{ "bank": "A", "account": x_a, "amount_cents": 600 }, { "bank": "A", "account": x_a2, "amount_cents": 400 }],
        "credits": [{ "bank": "A", "account": w_account, "amount_cents": 1_000 }],
        "description": "duas contas",
    });
    let (status, posted) = a.post("/api/v1/transfers", Some(&x), body).await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    let local = posted["id"].as_str().unwrap().to_string();
    let (status, body) = refund(&a, &w, &local, &w_account, 501).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(a.balance(&x, &x_a).await.0, 100_000 - 600 + 301);
    assert_eq!(a.balance(&x, &x_a2).await.0, 1_000 - 400 + 200);
    a.assert_audit_passes().await;
}
