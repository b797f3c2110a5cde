//! Refunds (devolução, issue 15 part 1) inside one bank: the receiver returns a transfer or a
//! payment, fully or in parts, within the refund window; the refunds of one original never add
//! up to more than it credited, also when they race; each refund is linked to the original and
//! shown on both statements.

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
