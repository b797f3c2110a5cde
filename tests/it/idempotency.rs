//! Idempotency-Key: a repeat gets the first response, a different body 422, a concurrent
//! repeat 409 or the first response; the money moves once.

use crate::common::*;

#[tokio::test]
async fn repeats_get_the_first_response_and_move_money_once() {
    let bank = TestBank::start("A").await;
    let ana = bank.customer(&new_cpf(), "Ana").await;
    let account = bank.open_account(&ana, "individual", &[]).await;
    let client = bank.as_customer(&ana);
    let key = PostOptions::key("deposit-0001");
    let first = client.deposit(&account, 1_000, &key).await.expect("first deposit");
    assert_eq!(first.http_status, 201);
    for _ in 0..3 {
        let again = client.deposit(&account, 1_000, &key).await.expect("repeat");
        assert_eq!((again.http_status, &again.transfer), (first.http_status, &first.transfer));
    }
    // Same key, different body: 422, and nothing moves.
    assert_client_problem(client.deposit(&account, 2_000, &key).await, 422, "idempotency-key-reused");
    // The same key on another route is another request too.
    assert_client_problem(client.withdraw(&account, 1_000, &key).await, 422, "idempotency-key-reused");
    assert_eq!(bank.balance(&ana, &account).await, (1_000, 1_000));
    // Keys are scoped to the customer: another customer may use the same key.
    let bia = bank.customer(&new_cpf(), "Bia").await;
    let bia_account = bank.open_account(&bia, "individual", &[]).await;
    let theirs = bank.as_customer(&bia).deposit(&bia_account, 500, &key).await.expect("their deposit");
    assert_eq!(theirs.http_status, 201);
    assert_ne!(theirs.transfer.id, first.transfer.id);
    // A malformed key is refused.
    assert_client_problem(client.deposit(&account, 1_000, &PostOptions::key("")).await, 400, "invalid-idempotency-key");
    bank.assert_audit_passes().await;
}

#[tokio::test]
async fn concurrent_repeats_move_money_once() {
    let bank = std::sync::Arc::new(TestBank::start("A").await);
    let ana = bank.customer(&new_cpf(), "Ana").await;
    let account = bank.open_account(&ana, "individual", &[]).await;
    bank.deposit(&ana, &account, 10_000).await;
    let client = bank.as_customer(&ana);
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let (client, account) = (client.clone(), account.clone());
        tasks.push(tokio::spawn(async move { client.withdraw(&account, 3_000, &PostOptions::key("w-1")).await }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(reply) => {
                assert_eq!(reply.http_status, 201, "{reply:?}");
                ids.insert(reply.transfer.id);
            }
            Err(error) => {
                assert_eq!(error.status(), Some(409), "unexpected {error}");
                assert_eq!(error.problem().map(|p| p.type_uri.as_str()), Some("/problems/idempotency-in-progress"), "{error}");
            }
        }
    }
    assert_eq!(ids.len(), 1, "every success must be the same operation");
    assert_eq!(bank.balance(&ana, &account).await, (7_000, 7_000));
    bank.assert_audit_passes().await;
}
