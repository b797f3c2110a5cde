//! Durability: every operation a bank acknowledged survives kill -9 and a restart.

use std::collections::HashSet;
use std::sync::Arc;

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
        let (customer, account, acknowledged) = (client.as_customer(&token), account.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            for round in 0..1_000i64 {
                let amount = 1 + writer * 1_000 + round;
                let Ok(reply) = customer.deposit(&account, amount, &PostOptions::default()).await else { return };
                if reply.http_status != 201 {
                    return;
                }
                acknowledged.lock().unwrap().push((reply.transfer.id, amount));
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
    let customer = view.as_customer(&token);
    loop {
        let page = customer.statement(&account, Some(200), before).await.expect("statement readable");
        for entry in &page.entries {
            present.insert(entry.entry_id.clone());
            total += entry.amount_cents;
        }
        match page.next_before {
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
