//! Many concurrent debits racing on one account: it never goes below zero and exactly as
//! many succeed as the balance allowed.

use std::sync::Arc;

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn two_hundred_concurrent_debits_on_one_account() {
    let bank = Arc::new(TestBank::start("A").await);
    let ana = bank.customer(&new_cpf(), "Ana").await;
    let account = bank.open_account(&ana, "individual", &[]).await;
    let bia = bank.customer(&new_cpf(), "Bia").await;
    let target = bank.open_account(&bia, "individual", &[]).await;
    // R$ 73,00 and debits of R$ 1,00: exactly 73 of the 200 can succeed.
    bank.deposit(&ana, &account, 7_300).await;

    let mut tasks = Vec::new();
    for i in 0..200 {
        let (bank, ana, account, target) = (bank.clone(), ana.clone(), account.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                bank.post("/api/v1/withdrawals", Some(&ana), json!({"account": account, "amount_cents": 100})).await
            } else {
                let transfer = json!({
                    "debits": [{"bank": "A", "account": account, "amount_cents": 100}],
                    "credits": [{"bank": "A", "account": target, "amount_cents": 100}]
                });
                bank.post("/api/v1/transfers", Some(&ana), transfer).await
            }
        }));
    }
    let (mut succeeded, mut refused, mut transferred) = (0, 0, 0);
    for (i, task) in tasks.into_iter().enumerate() {
        let (status, body) = task.await.unwrap();
        match status.as_u16() {
            201 => {
                succeeded += 1;
                if i % 2 == 1 {
                    transferred += 100;
                }
            }
            422 => {
                assert_eq!(body["type"], json!("/problems/insufficient-funds"), "{body}");
                refused += 1;
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(succeeded, 73);
    assert_eq!(refused, 127);
    assert_eq!(bank.balance(&ana, &account).await, (0, 0));
    assert_eq!(bank.balance(&bia, &target).await.0, transferred);
    bank.assert_audit_passes().await;
    bank.assert_no_batch_retried().await;
}
