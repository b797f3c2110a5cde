//! Transfer limits (issue 15, part 3): per transfer, per day and at night (20:00-06:00 local
//! time, R$ 1.000,00 by default); lower at once, raise after the delay; every channel (API
//! transfers and payments, debits other banks ask for under a consent); a refusal says which
//! limit and what is left; never exceeded under concurrent transfers, through one bank or
//! through several origin banks at once.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

async fn limits(bank: &TestBank, token: &str, account: &str) -> Value {
    let (status, body) = bank.get(&format!("/api/v1/accounts/{account}/limits"), Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn set_limits(bank: &TestBank, token: &str, account: &str, body: Value) -> (StatusCode, Value) {
    bank.call(Method::PUT, &format!("/api/v1/accounts/{account}/limits"), Some(token), Some(body)).await
}

async fn local_transfer(bank: &TestBank, token: &str, from: &str, to: &str, amount_cents: i64) -> (StatusCode, Value) {
    let body = json!({
        "debits": [{ "bank": "A", "account": from, "amount_cents": amount_cents }],
        "credits": [{ "bank": "A", "account": to, "amount_cents": amount_cents }],
    });
    bank.post("/api/v1/transfers", Some(token), body).await
}

/// A customer at bank A ("A" is TestBank's id) with a funded account, and a payee account.
async fn funded(bank: &TestBank, amount_cents: i64) -> (String, String, String) {
    let token = bank.customer(&new_cpf(), "Limitada").await;
    let account = bank.open_account(&token, "individual", &[]).await;
    bank.deposit(&token, &account, amount_cents).await;
    let payee = bank.customer(&new_cpf(), "Recebedor").await;
    let to = bank.open_account(&payee, "individual", &[]).await;
    (token, account, to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_lower_at_once_raise_after_the_delay_and_refusals_say_which_limit_and_what_is_left() {
    let bank = TestBank::start_with("A", |config| config.limit_raise_delay = Duration::from_millis(1_500)).await;
    let (token, account, to) = funded(&bank, 1_000_000).await;

    // The defaults: no limit per transfer or per day; the night limit of R$ 1.000,00 (it is day).
    let start = limits(&bank, &token, &account).await;
    assert_eq!(start["per_transfer_cents"], Value::Null, "{start}");
    assert_eq!(start["daily_cents"], Value::Null);
    assert_eq!(start["night_cents"], 100_000);
    assert_eq!(start["night_now"], false);
    assert_eq!(start["raise"], Value::Null);

    // Lowering (from "no limit") applies at once.
    let (status, set) = set_limits(&bank, &token, &account, json!({ "per_transfer_cents": 50_000, "daily_cents": 120_000 })).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!((set["per_transfer_cents"].as_i64(), set["daily_cents"].as_i64()), (Some(50_000), Some(120_000)));
    assert_eq!(set["night_cents"], 100_000, "a field left out keeps its value");
    assert_eq!(set["raise"], Value::Null);

    let refused = local_transfer(&bank, &token, &account, &to, 50_001).await;
    assert_problem(&refused, 422, "transfer-limit-exceeded");
    let detail = refused.1["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("limit per transfer") && detail.contains("R$ 500,00"), "{detail}");
    for _ in 0..2 {
        let (status, body) = local_transfer(&bank, &token, &account, &to, 50_000).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let refused = local_transfer(&bank, &token, &account, &to, 30_000).await;
    assert_problem(&refused, 422, "transfer-limit-exceeded");
    let detail = refused.1["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("daily limit") && detail.contains("R$ 200,00 left"), "{detail}");
    // A payment is limited the same way.
    let shop_owner = bank.customer(&new_cnpj(), "Loja").await;
    let shop = bank.open_account(&shop_owner, "company", &[]).await;
    let payment =
        json!({ "from_account": account, "to": { "bank": "A", "account": shop }, "amount_cents": 20_001, "reference": "pedido 1" });
    assert_problem(&bank.post("/api/v1/payments", Some(&token), payment).await, 422, "transfer-limit-exceeded");
    let now = limits(&bank, &token, &account).await;
    assert_eq!((now["used_today_cents"].as_i64(), now["daily_left_cents"].as_i64()), (Some(100_000), Some(20_000)), "{now}");
    // Nothing of the refused ones moved.
    assert_eq!(bank.balance(&token, &account).await.0, 900_000);

    // A refusal under an Idempotency-Key is given again to a repeat.
    let request = json!({
        "debits": [{ "bank": "A", "account": account, "amount_cents": 30_000 }],
        "credits": [{ "bank": "A", "account": to, "amount_cents": 30_000 }],
    });
    let keyed = |body: Value| {
        let bank = &bank;
        let token = token.clone();
        async move { bank.call_with(Method::POST, "/api/v1/transfers", Some(&token), Some(body), &[("Idempotency-Key", "limit-key-1")]).await }
    };
    let first = keyed(request.clone()).await;
    assert_problem(&first, 422, "transfer-limit-exceeded");
    assert_eq!(keyed(request).await.1["detail"], first.1["detail"]);

    // Raising waits for the delay; the limits in force stay until then.
    let (status, raised) = set_limits(&bank, &token, &account, json!({ "daily_cents": 200_000, "per_transfer_cents": null })).await;
    assert_eq!(status, StatusCode::OK, "{raised}");
    assert_eq!(raised["daily_cents"], 120_000, "{raised}");
    assert_eq!(raised["per_transfer_cents"], 50_000);
    assert_eq!(raised["raise"]["daily_cents"], 200_000);
    assert_eq!(raised["raise"]["per_transfer_cents"], Value::Null);
    assert_problem(&local_transfer(&bank, &token, &account, &to, 30_000).await, 422, "transfer-limit-exceeded");
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    let after = limits(&bank, &token, &account).await;
    assert_eq!((after["daily_cents"].as_i64(), after["per_transfer_cents"].as_i64()), (Some(200_000), None), "{after}");
    assert_eq!(after["raise"], Value::Null);
    let (status, body) = local_transfer(&bank, &token, &account, &to, 80_000).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_problem(&local_transfer(&bank, &token, &account, &to, 20_001).await, 422, "transfer-limit-exceeded");

    // Bad input, someone else's account, no session.
    assert_problem(&set_limits(&bank, &token, &account, json!({ "daily_cents": 0 })).await, 422, "invalid-field");
    assert_problem(&set_limits(&bank, &token, &account, json!({ "daily_cents": "lots" })).await, 422, "invalid-field");
    assert_problem(&set_limits(&bank, &token, &account, json!({ "weekly_cents": 5 })).await, 422, "invalid-field");
    let stranger = bank.customer(&new_cpf(), "Estranha").await;
    assert_problem(&set_limits(&bank, &stranger, &account, json!({ "daily_cents": 1 })).await, 404, "account-not-found");
    assert_problem(&bank.get(&format!("/api/v1/accounts/{account}/limits"), Some(&stranger)).await, 404, "account-not-found");
    assert_problem(&bank.get(&format!("/api/v1/accounts/{account}/limits"), None).await, 401, "unauthenticated");
    assert_problem(&bank.get("/api/v1/accounts/not-a-number/limits", Some(&token)).await, 404, "account-not-found");
    bank.assert_audit_passes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_night_limit_counts_from_20_to_06_local_time() {
    // 22:00 local now at one bank, 10:00 at the other (the time zone is the bank's option).
    let now = ringbank::clock::wall_clock_ms();
    let night = TestBank::start_with("A", |config| {
        config.time_zone = ringbank_domain::display::LocalZone::fixed(ringbank::config::offset_with_local_hour(now, 22))
    })
    .await;
    let day = TestBank::start_with("A", |config| {
        config.time_zone = ringbank_domain::display::LocalZone::fixed(ringbank::config::offset_with_local_hour(now, 10))
    })
    .await;

    let (token, account, to) = funded(&night, 500_000).await;
    let status = limits(&night, &token, &account).await;
    assert_eq!((status["night_now"].as_bool(), status["night_left_cents"].as_i64()), (Some(true), Some(100_000)), "{status}");
    let (code, body) = local_transfer(&night, &token, &account, &to, 60_000).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let refused = local_transfer(&night, &token, &account, &to, 40_001).await;
    assert_problem(&refused, 422, "transfer-limit-exceeded");
    let detail = refused.1["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("night limit (20:00-06:00)") && detail.contains("R$ 400,00 left"), "{detail}");
    let (code, body) = local_transfer(&night, &token, &account, &to, 40_000).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    // Lowering the night limit applies at once; raising it waits (24 h by default).
    let (code, set) = set_limits(&night, &token, &account, json!({ "night_cents": 150_000 })).await;
    assert_eq!(code, StatusCode::OK, "{set}");
    assert_eq!(set["night_cents"], 100_000);
    assert!(set["raise"]["applies_at"].as_str().is_some(), "{set}");
    assert_problem(&local_transfer(&night, &token, &account, &to, 1).await, 422, "transfer-limit-exceeded");

    // By day the night limit does not apply.
    let (token, account, to) = funded(&day, 500_000).await;
    let status = limits(&day, &token, &account).await;
    assert_eq!(status["night_now"], false, "{status}");
    let (code, body) = local_transfer(&day, &token, &account, &to, 300_000).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
}

/// Many transfers at once from one account: exactly what the daily limit allows commits, in
/// the writer's batches as well as one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transfers_never_pass_the_daily_limit() {
    let bank = TestBank::start("A").await;
    let (token, account, to) = funded(&bank, 1_000_000).await;
    let (status, body) = set_limits(&bank, &token, &account, json!({ "daily_cents": 100_000 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let attempts = (0..40).map(|_| local_transfer(&bank, &token, &account, &to, 7_000));
    let results = futures_util::future::join_all(attempts).await;
    let committed = results.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
    for (status, body) in results.iter().filter(|(status, _)| *status != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["type"], "/problems/transfer-limit-exceeded", "{body}");
    }
    assert_eq!(committed, 14, "100_000 / 7_000 = 14 transfers fit");
    assert_eq!(bank.balance(&token, &account).await.0, 1_000_000 - 14 * 7_000);
    let now = limits(&bank, &token, &account).await;
    assert_eq!(now["daily_left_cents"], 100_000 - 14 * 7_000, "{now}");
    bank.assert_audit_passes().await;
}

/// The writer keeps what each account debited today in memory between batches (it was read
/// back from the database, summing the day's rows, for every batch): waves of transfers, each
/// committed before the next starts, count against the limit exactly, and a lowered limit
/// applies to what was already debited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_limit_counts_exactly_across_batches_and_after_a_change() {
    let bank = TestBank::start("A").await;
    let (token, account, to) = funded(&bank, 1_000_000).await;
    let (status, body) = set_limits(&bank, &token, &account, json!({ "daily_cents": 100_000 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut committed = 0;
    for (wave, (size, amount)) in [(10, 3_000), (10, 3_000), (20, 3_000), (2, 1_000), (1, 1)].into_iter().enumerate() {
        let attempts = (0..size).map(|_| local_transfer(&bank, &token, &account, &to, amount));
        let results = futures_util::future::join_all(attempts).await;
        for (status, body) in &results {
            assert!(
                *status == StatusCode::CREATED
                    || (*status == StatusCode::UNPROCESSABLE_ENTITY && body["type"] == "/problems/transfer-limit-exceeded"),
                "wave {wave}: {status} {body}"
            );
        }
        let wave_committed: i64 = results.iter().filter(|(status, _)| *status == StatusCode::CREATED).map(|_| amount).sum();
        committed += wave_committed;
        let expected = [30_000, 30_000, 39_000, 1_000, 0][wave];
        assert_eq!(wave_committed, expected, "wave {wave}: the limit leaves exactly this much");
    }
    assert_eq!(committed, 100_000);
    let now = limits(&bank, &token, &account).await;
    assert_eq!(now["daily_left_cents"], 0, "{now}");

    // Lowering applies at once, to what the day already debited: nothing is left. A raise
    // waits for its delay, so even a higher limit asked now leaves the lower one in force.
    let (status, body) = set_limits(&bank, &token, &account, json!({ "daily_cents": 50_000 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refused = local_transfer(&bank, &token, &account, &to, 1).await;
    assert_problem(&refused, 422, "transfer-limit-exceeded");
    let (status, body) = set_limits(&bank, &token, &account, json!({ "daily_cents": 500_000 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refused = local_transfer(&bank, &token, &account, &to, 1).await;
    assert_problem(&refused, 422, "transfer-limit-exceeded");
    assert_eq!(bank.balance(&token, &account).await.0, 1_000_000 - 100_000);
    bank.assert_audit_passes().await;
}

/// The final state of transfers asked `each` at a time at `banks[i]` by `tokens[i]`, in order:
/// (committed, refused by the limit whose sentence contains `limit`, aborted for time). Aborts
/// for another reason (a prepare not answered within the lease on a loaded machine) are safe and
/// allowed; what may never happen is more committed than the limit allows.
async fn settle(
    banks: &[TestBank],
    tokens: &[String],
    replies: Vec<Result<ringbank_client::MoneyReply, ClientError>>,
    each: usize,
    limit: &str,
) -> (i64, i64, i64) {
    let (mut committed, mut refused_by_limit, mut other_aborts) = (0_i64, 0, 0);
    for (index, reply) in replies.into_iter().enumerate() {
        let (bank, token) = (&banks[index / each], &tokens[index / each]);
        let reply = match reply {
            Ok(reply) => reply,
            Err(error) => {
                // The origin's own debits are checked when submitted too.
                assert_client_problem::<()>(Err(error), 422, "transfer-limit-exceeded");
                refused_by_limit += 1;
                continue;
            }
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let view = loop {
            let view = bank.as_customer(token).transfer_view(&reply.transfer.id).await.expect("transfer readable");
            if view.status != "pending" {
                break view;
            }
            assert!(std::time::Instant::now() < deadline, "transfer still pending: {view:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        match view.status.as_str() {
            "committed" => committed += 1,
            "aborted" => {
                let reason = view.reason.clone().unwrap_or_default();
                if reason.contains(limit) {
                    refused_by_limit += 1;
                } else {
                    assert!(reason.contains("did not answer in time"), "aborted for an unexpected reason: {reason}");
                    other_aborts += 1;
                }
            }
            other => panic!("unexpected status {other}"),
        }
    }
    (committed, refused_by_limit, other_aborts)
}

/// Debits of one account at bank A asked at once by A itself and by B and C under consents:
/// the daily limit is checked where A's debits are serialized (its participant's vote), so
/// together they never pass it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_holds_under_concurrent_transfers_through_several_origin_banks() {
    let consortium = Consortium::start(3, &[]).await;
    let banks = [consortium.view(0), consortium.view(1), consortium.view(2)];
    let cpf = new_cpf();
    let mut tokens = Vec::new();
    for bank in &banks {
        tokens.push(bank.customer(&cpf, "Várias Origens").await);
    }
    let account = banks[0].open_account(&tokens[0], "individual", &[]).await;
    banks[0].deposit(&tokens[0], &account, 1_000_000).await;
    let (status, body) = set_limits(&banks[0], &tokens[0], &account, json!({ "daily_cents": 30_000 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Payees at each origin bank; consents for B and C on the account at A.
    let mut payees = Vec::new();
    for bank in &banks {
        let payee = bank.customer(&new_cpf(), "Recebedora").await;
        payees.push(bank.open_account(&payee, "individual", &[]).await);
    }
    let mut consents = vec![None];
    for grantee in ["B", "C"] {
        consents.push(Some(banks[0].grant_consent(&tokens[0], grantee, &account, 1_000_000).await));
    }

    const EACH: usize = 8;
    const AMOUNT: i64 = 2_000;
    let mut attempts = Vec::new();
    for (index, bank) in banks.iter().enumerate() {
        for _ in 0..EACH {
            let debit = match &consents[index] {
                Some(consent) => Leg::consented("A", &account, AMOUNT, consent),
                None => Leg::new("A", &account, AMOUNT),
            };
            let credit = Leg::new(&consortium.ids[index], &payees[index], AMOUNT);
            let transfer = NewTransfer { debits: vec![debit], credits: vec![credit], description: "several origins".into() };
            let client = bank.as_customer(&tokens[index]);
            attempts.push(async move { client.transfer(&transfer, &PostOptions::wait(Duration::from_secs(20))).await });
        }
    }
    let replies = futures_util::future::join_all(attempts).await;
    let (committed, refused_by_limit, other_aborts) = settle(&banks, &tokens, replies, EACH, "daily limit").await;
    assert!(committed * AMOUNT <= 30_000, "{committed} transfers of {AMOUNT} passed the daily limit of 30_000");
    assert_eq!(committed + refused_by_limit + other_aborts, (3 * EACH) as i64);
    if other_aborts == 0 {
        // 24 debits of 2_000 ask for 48_000: with nothing else in the way, exactly 15 fit.
        assert_eq!((committed, refused_by_limit), (15, 9));
    } else {
        eprintln!("{other_aborts} transfers aborted for time under load; {committed} committed, {refused_by_limit} refused by the limit");
    }
    assert!(consortium.audit_until_quiet(Duration::from_secs(20)).await.passed);
    assert_eq!(banks[0].balance(&tokens[0], &account).await, (1_000_000 - committed * AMOUNT, 1_000_000 - committed * AMOUNT));
    let now = limits(&banks[0], &tokens[0], &account).await;
    assert_eq!(now["used_today_cents"], committed * AMOUNT, "{now}");
}

async fn own_limits(bank: &TestBank, token: &str) -> Value {
    let (status, body) = bank.get("/api/v1/limits", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn set_own_limits(bank: &TestBank, token: &str, body: Value) -> (StatusCode, Value) {
    bank.call(Method::PUT, "/api/v1/limits", Some(token), Some(body)).await
}

/// A transfer debiting several accounts of one customer at bank A.
async fn debit_both(bank: &TestBank, token: &str, from: &[(&str, i64)], to: &str) -> (StatusCode, Value) {
    let debits: Vec<Value> =
        from.iter().map(|(account, cents)| json!({ "bank": "A", "account": account, "amount_cents": cents })).collect();
    let total: i64 = from.iter().map(|(_, cents)| cents).sum();
    let body = json!({ "debits": debits, "credits": [{ "bank": "A", "account": to, "amount_cents": total }] });
    bank.post("/api/v1/transfers", Some(token), body).await
}

/// A customer's own limits (issue 15: per customer, not only per account) count every debit
/// they make, from every account they hold here, together, also when concurrent; a joint
/// account's debit counts for the holder who made it; lower at once, raise after the delay; a
/// refusal names the customer's limit and what is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_own_limits_count_every_account_they_hold() {
    let bank = TestBank::start_with("A", |config| config.limit_raise_delay = Duration::from_millis(1_500)).await;
    let (ana_cpf, bia_cpf) = (new_cpf(), new_cpf());
    let ana = bank.customer(&ana_cpf, "Ana Limitada").await;
    let bia = bank.customer(&bia_cpf, "Bia").await;
    let own = bank.open_account(&ana, "individual", &[]).await;
    let joint = bank.open_account(&ana, "joint", &[&bia_cpf]).await;
    let (status, body) = bank.post(&format!("/api/v1/accounts/{joint}/acceptance"), Some(&bia), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    bank.deposit(&ana, &own, 1_000_000).await;
    bank.deposit(&ana, &joint, 1_000_000).await;
    let payee = bank.customer(&new_cpf(), "Recebedor").await;
    let to = bank.open_account(&payee, "individual", &[]).await;

    // None until the customer sets some; the accounts' own defaults still apply.
    let start = own_limits(&bank, &ana).await;
    assert_eq!((start["customer"].as_str(), start.get("account")), (Some(ana_cpf.as_str()), None), "{start}");
    for field in ["per_transfer_cents", "daily_cents", "night_cents"] {
        assert_eq!(start[field], Value::Null, "{start}");
    }
    let (status, set) = set_own_limits(&bank, &ana, json!({ "daily_cents": 50_000, "per_transfer_cents": 10_000 })).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(
        (set["daily_cents"].as_i64(), set["per_transfer_cents"].as_i64(), set["raise"].is_null()),
        (Some(50_000), Some(10_000), true)
    );

    // The per-transfer limit is on the transfer's total from the customer's accounts.
    let refused = debit_both(&bank, &ana, &[(&own, 6_000), (&joint, 4_001)], &to).await;
    assert_problem(&refused, 422, "transfer-limit-exceeded");
    let detail = refused.1["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains(&format!("limit per transfer of customer {ana_cpf} is R$ 100,00")), "{detail}");

    // 40 transfers of 3_000 at once, half from each account: 16 fit in 50_000, whichever account.
    let attempts = (0..40).map(|i| {
        let from = if i % 2 == 0 { own.clone() } else { joint.clone() };
        let (bank, ana, to) = (&bank, &ana, &to);
        async move { local_transfer(bank, ana, &from, to, 3_000).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    for (status, body) in results.iter().filter(|(status, _)| *status != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["type"], "/problems/transfer-limit-exceeded", "{body}");
    }
    assert_eq!(results.iter().filter(|(status, _)| *status == StatusCode::CREATED).count(), 16);
    let now = own_limits(&bank, &ana).await;
    assert_eq!((now["used_today_cents"].as_i64(), now["daily_left_cents"].as_i64()), (Some(48_000), Some(2_000)), "{now}");
    // Each account's own limits know only their own debits.
    let per_account = limits(&bank, &ana, &own).await["used_today_cents"].as_i64().unwrap()
        + limits(&bank, &ana, &joint).await["used_today_cents"].as_i64().unwrap();
    assert_eq!(per_account, 48_000);

    // A two-account transfer over what is left is refused whole; one that fits passes.
    let refused = debit_both(&bank, &ana, &[(&own, 1_500), (&joint, 1_000)], &to).await;
    assert_problem(&refused, 422, "transfer-limit-exceeded");
    let detail = refused.1["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains(&format!("daily limit of customer {ana_cpf}")) && detail.contains("R$ 20,00 left"), "{detail}");
    let (status, body) = debit_both(&bank, &ana, &[(&own, 1_000), (&joint, 1_000)], &to).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_problem(&local_transfer(&bank, &ana, &joint, &to, 1).await, 422, "transfer-limit-exceeded");
    // Bia's debit of the joint account is hers: Ana's limits do not stop it.
    let (status, body) = local_transfer(&bank, &bia, &joint, &to, 20_000).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(own_limits(&bank, &ana).await["used_today_cents"], 50_000);
    assert_eq!(own_limits(&bank, &bia).await["used_today_cents"], 20_000);

    // A raise waits for the delay; then it applies.
    let (status, raised) = set_own_limits(&bank, &ana, json!({ "daily_cents": 60_000 })).await;
    assert_eq!(status, StatusCode::OK, "{raised}");
    assert_eq!((raised["daily_cents"].as_i64(), raised["raise"]["daily_cents"].as_i64()), (Some(50_000), Some(60_000)), "{raised}");
    assert_problem(&local_transfer(&bank, &ana, &own, &to, 1).await, 422, "transfer-limit-exceeded");
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    let (status, body) = local_transfer(&bank, &ana, &own, &to, 10_000).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_problem(&local_transfer(&bank, &ana, &own, &to, 1).await, 422, "transfer-limit-exceeded");
    // Nothing refused moved: 60_000 left Ana's accounts, 20_000 Bia's share of the joint one.
    let (own_balance, joint_balance) = (bank.balance(&ana, &own).await.0, bank.balance(&ana, &joint).await.0);
    assert_eq!(own_balance + joint_balance, 2_000_000 - 60_000 - 20_000);

    // Bad input and no session.
    assert_problem(&set_own_limits(&bank, &ana, json!({ "daily_cents": 0 })).await, 422, "invalid-field");
    assert_problem(&set_own_limits(&bank, &ana, json!({ "monthly_cents": 5 })).await, 422, "invalid-field");
    assert_problem(&bank.get("/api/v1/limits", None).await, 401, "unauthenticated");
    bank.assert_audit_passes().await;
}

/// A customer's own limits at bank A hold when their accounts there are debited at once by A
/// itself (one account) and by B under a consent (the other): B's debits are checked in A's
/// vote, where A's debits are serialized.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_own_limits_hold_across_origin_banks() {
    let consortium = Consortium::start(2, &[]).await;
    let banks = [consortium.view(0), consortium.view(1)];
    let (cpf, co_cpf) = (new_cpf(), new_cpf());
    let tokens = [banks[0].customer(&cpf, "Cliente de Dois Bancos").await, banks[1].customer(&cpf, "Cliente de Dois Bancos").await];
    let co = banks[0].customer(&co_cpf, "Cotitular").await;
    let individual = banks[0].open_account(&tokens[0], "individual", &[]).await;
    let joint = banks[0].open_account(&tokens[0], "joint", &[&co_cpf]).await;
    let (status, body) = banks[0].post(&format!("/api/v1/accounts/{joint}/acceptance"), Some(&co), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    banks[0].deposit(&tokens[0], &individual, 1_000_000).await;
    banks[0].deposit(&tokens[0], &joint, 1_000_000).await;
    let (status, body) = set_own_limits(&banks[0], &tokens[0], json!({ "daily_cents": 20_000 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let consent = banks[0].grant_consent(&tokens[0], "B", &joint, 1_000_000).await;
    let mut payees = Vec::new();
    for bank in &banks {
        let payee = bank.customer(&new_cpf(), "Recebedora").await;
        payees.push(bank.open_account(&payee, "individual", &[]).await);
    }

    const EACH: usize = 6;
    const AMOUNT: i64 = 3_000;
    let mut attempts = Vec::new();
    for (index, bank) in banks.iter().enumerate() {
        for _ in 0..EACH {
            let debit = if index == 0 { Leg::new("A", &individual, AMOUNT) } else { Leg::consented("A", &joint, AMOUNT, &consent) };
            let credit = Leg::new(&consortium.ids[index], &payees[index], AMOUNT);
            let transfer = NewTransfer { debits: vec![debit], credits: vec![credit], description: "own limits".into() };
            let client = bank.as_customer(&tokens[index]);
            attempts.push(async move { client.transfer(&transfer, &PostOptions::wait(Duration::from_secs(20))).await });
        }
    }
    let replies = futures_util::future::join_all(attempts).await;
    let (committed, refused_by_limit, other_aborts) =
        settle(&banks, &tokens, replies, EACH, &format!("daily limit of customer {cpf}")).await;
    assert!(committed * AMOUNT <= 20_000, "{committed} transfers of {AMOUNT} passed the customer's daily limit of 20_000");
    assert_eq!(committed + refused_by_limit + other_aborts, (2 * EACH) as i64);
    if other_aborts == 0 {
        assert_eq!((committed, refused_by_limit), (6, 6), "6 x 3_000 fit in 20_000");
    } else {
        eprintln!("{other_aborts} transfers aborted for time under load; {committed} committed, {refused_by_limit} refused by the limit");
    }
    assert!(consortium.audit_until_quiet(Duration::from_secs(20)).await.passed);
    let now = own_limits(&banks[0], &tokens[0]).await;
    assert_eq!(now["used_today_cents"], committed * AMOUNT, "{now}");
    let left = banks[0].balance(&tokens[0], &individual).await.0 + banks[0].balance(&tokens[0], &joint).await.0;
    assert_eq!(left, 2_000_000 - committed * AMOUNT);
}
