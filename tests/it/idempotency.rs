//! Idempotency-Key: a repeat gets the first response, a different body 422, a concurrent
//! repeat 409 or the first response; the money moves once.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn repeats_get_the_first_response_and_move_money_once() {
    let bank = TestBank::start("A").await;
    let ana = bank.customer(&new_cpf(), "Ana").await;
    let account = bank.open_account(&ana, "individual", &[]).await;
    let body = json!({"account": account, "amount_cents": 1_000});
    let key = [("idempotency-key", "deposit-0001")];
    let first = bank.call_with(reqwest::Method::POST, "/api/v1/deposits", Some(&ana), Some(body.clone()), &key).await;
    assert_eq!(first.0, StatusCode::CREATED);
    for _ in 0..3 {
        let again = bank.call_with(reqwest::Method::POST, "/api/v1/deposits", Some(&ana), Some(body.clone()), &key).await;
        assert_eq!(again, first);
    }
    // Same key, different body: 422, and nothing moves.
    let other = json!({"account": account, "amount_cents": 2_000});
    let reused = bank.call_with(reqwest::Method::POST, "/api/v1/deposits", Some(&ana), Some(other), &key).await;
    assert_problem(&reused, 422, "idempotency-key-reused");
    // The same key on another route is another request too.
    let withdrawal = bank.call_with(reqwest::Method::POST, "/api/v1/withdrawals", Some(&ana), Some(body.clone()), &key).await;
    assert_problem(&withdrawal, 422, "idempotency-key-reused");
    assert_eq!(bank.balance(&ana, &account).await, (1_000, 1_000));
    // Keys are scoped to the customer: another customer may use the same key.
    let bia = bank.customer(&new_cpf(), "Bia").await;
    let bia_account = bank.open_account(&bia, "individual", &[]).await;
    let bia_body = json!({"account": bia_account, "amount_cents": 500});
    let theirs = bank.call_with(reqwest::Method::POST, "/api/v1/deposits", Some(&bia), Some(bia_body), &key).await;
    assert_eq!(theirs.0, StatusCode::CREATED);
    assert_ne!(theirs.1["id"], first.1["id"]);
    // A malformed key is refused.
    let bad = bank.call_with(reqwest::Method::POST, "/api/v1/deposits", Some(&ana), Some(body), &[("idempotency-key", "")]).await;
    assert_problem(&bad, 400, "invalid-idempotency-key");
    bank.assert_audit_passes().await;
}

#[tokio::test]
async fn concurrent_repeats_move_money_once() {
    let bank = std::sync::Arc::new(TestBank::start("A").await);
    let ana = bank.customer(&new_cpf(), "Ana").await;
    let account = bank.open_account(&ana, "individual", &[]).await;
    bank.deposit(&ana, &account, 10_000).await;
    let body = json!({"account": account, "amount_cents": 3_000});
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let (bank, ana, body) = (bank.clone(), ana.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            bank.call_with(reqwest::Method::POST, "/api/v1/withdrawals", Some(&ana), Some(body), &[("idempotency-key", "w-1")]).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status.as_u16() {
            201 => {
                ids.insert(body["id"].as_str().unwrap().to_string());
            }
            409 => assert_eq!(body["type"], json!("/problems/idempotency-in-progress")),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "every success must be the same operation");
    assert_eq!(bank.balance(&ana, &account).await, (7_000, 7_000));
    bank.assert_audit_passes().await;
}
