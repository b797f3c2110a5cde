//! Durability: every operation a bank acknowledged survives kill -9 and a restart.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn acknowledged_operations_survive_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let bank = BankProcess::spawn("A", data.path(), &[]).await;
    let client = Arc::new(bank.view());
    let cpf = new_cpf();
    let token = client.customer(&cpf, "Ana").await;
    let account = client.open_account(&token, "individual", &[]).await;

    // 16 writers deposit as fast as they can; the bank is killed while they run.
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<(String, i64)>::new()));
    let mut writers = Vec::new();
    for writer in 0..16i64 {
        let (client, token, account, acknowledged) = (client.clone(), token.clone(), account.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            for round in 0..1_000i64 {
                let amount = 1 + writer * 1_000 + round;
                let response = client
                    .client
                    .post(format!("{}/api/v1/deposits", client.url))
                    .bearer_auth(&token)
                    .body(json!({"account": account, "amount_cents": amount}).to_string())
                    .send()
                    .await;
                let Ok(response) = response else { return };
                if response.status() != 201 {
                    return;
                }
                let Ok(body) = response.json::<serde_json::Value>().await else { return };
                acknowledged.lock().unwrap().push((body["id"].as_str().unwrap().to_string(), amount));
            }
        }));
    }
    // Let some acknowledgements accumulate, then kill -9 mid-stream.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while acknowledged.lock().unwrap().len() < 300 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    bank.kill9().await;
    for writer in writers {
        let _ = writer.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 300, "only {} deposits acknowledged before the kill", acknowledged.len());

    let restarted = BankProcess::spawn("A", data.path(), &[]).await;
    let view = restarted.view();
    let token = view.sign_in(&cpf).await;
    let mut present = HashSet::new();
    let mut total = 0i64;
    let mut before: Option<i64> = None;
    loop {
        let path = match before {
            Some(b) => format!("/api/v1/accounts/{account}/statement?limit=200&before={b}"),
            None => format!("/api/v1/accounts/{account}/statement?limit=200"),
        };
        let (_, page) = view.get(&path, Some(&token)).await;
        for entry in page["entries"].as_array().unwrap() {
            present.insert(entry["entry_id"].as_str().unwrap().to_string());
            total += entry["amount_cents"].as_i64().unwrap();
        }
        match page["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    for (id, _) in &acknowledged {
        assert!(present.contains(id), "acknowledged deposit {id} lost by kill -9");
    }
    // Deposits in flight at the kill may or may not be there; what is there is consistent.
    assert_eq!(view.balance(&token, &account).await.0, total);
    view.assert_audit_passes().await;
    restarted.kill9().await;
}
