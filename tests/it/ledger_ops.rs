//! Accounts and money movements inside one bank.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn account_kinds_and_their_rules() {
    let bank = TestBank::start("A").await;
    let (ana_cpf, bia_cpf, company_cnpj) = (new_cpf(), new_cpf(), new_cnpj());
    let ana = bank.customer(&ana_cpf, "Ana").await;
    let bia = bank.customer(&bia_cpf, "Bia").await;
    let company = bank.customer(&company_cnpj, "Padaria Ltda").await;

    let individual = bank.open_account(&ana, "individual", &[]).await;
    // At most one individual account per CPF per bank.
    let (as_ana, as_company) = (bank.as_customer(&ana), bank.as_customer(&company));
    assert_client_problem(as_ana.open_account(AccountKind::Individual, &[]).await, 409, "individual-account-exists");
    // Any number of joint accounts; other holders must be customers here.
    let joint1 = bank.open_account(&ana, "joint", &[&bia_cpf]).await;
    let joint2 = bank.open_account(&bia, "joint", &[&ana_cpf]).await;
    assert_ne!(joint1, joint2);
    assert_client_problem(as_ana.open_account(AccountKind::Joint, &[&new_cpf()]).await, 422, "unknown-customer");
    assert_client_problem(as_ana.open_account(AccountKind::Joint, &[]).await, 422, "invalid-account-kind");
    assert_client_problem(as_ana.open_account(AccountKind::Joint, &[&company_cnpj]).await, 422, "invalid-account-kind");
    assert_client_problem(as_ana.open_account(AccountKind::Company, &[]).await, 422, "invalid-account-kind");
    assert_client_problem(as_company.open_account(AccountKind::Individual, &[]).await, 422, "invalid-account-kind");
    // Not a kind at all: sent raw, since the typed client cannot express it.
    assert_problem(&bank.post("/api/v1/accounts", Some(&ana), json!({"kind": "savings"})).await, 422, "invalid-field");
    let company_account = bank.open_account(&company, "company", &[]).await;

    // The joint account is visible to both holders, with both listed (once Bia has accepted it).
    let (status, body) = bank.post(&format!("/api/v1/accounts/{joint1}/acceptance"), Some(&bia), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = bank.get(&format!("/api/v1/accounts/{joint1}"), Some(&bia)).await;
    assert_eq!(status, StatusCode::OK);
    let mut holders = vec![ana_cpf.clone(), bia_cpf.clone()];
    holders.sort();
    assert_eq!(body, json!({"bank": "A", "number": joint1, "kind": "joint", "holders": holders, "balance_cents": 0, "available_cents": 0}));
    let list = as_ana.accounts().await.expect("accounts");
    let mut numbers: Vec<String> = list.into_iter().map(|a| a.number).collect();
    numbers.sort();
    let mut expected = vec![individual, joint1, joint2];
    expected.sort();
    assert_eq!(numbers, expected);
    let list = as_company.accounts().await.expect("accounts");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].number, company_account);
}

#[tokio::test]
async fn deposits_withdrawals_transfers_and_payments() {
    let bank = TestBank::start("A").await;
    let (ana_cpf, bia_cpf) = (new_cpf(), new_cpf());
    let ana = bank.customer(&ana_cpf, "Ana").await;
    let bia = bank.customer(&bia_cpf, "Bia").await;
    let shop = bank.customer(&new_cnpj(), "Loja").await;
    let ana_account = bank.open_account(&ana, "individual", &[]).await;
    let joint = bank.open_account(&ana, "joint", &[&bia_cpf]).await;
    let bia_account = bank.open_account(&bia, "individual", &[]).await;
    let shop_account = bank.open_account(&shop, "company", &[]).await;

    bank.deposit(&ana, &ana_account, 50_000).await;
    let (status, body) = bank.post(&format!("/api/v1/accounts/{joint}/acceptance"), Some(&bia), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    bank.deposit(&bia, &joint, 20_000).await;
    let (as_ana, as_bia) = (bank.as_customer(&ana), bank.as_customer(&bia));
    let withdrawal = as_ana.withdraw(&ana_account, 5_000, &PostOptions::default()).await.expect("withdrawal");
    assert_eq!(withdrawal.http_status, 201);

    // Two debits (one of them a joint account), two credits: atomic as a whole.
    let transfer = NewTransfer {
        debits: vec![Leg::new("A", &ana_account, 10_000), Leg::new("A", &joint, 5_000)],
        credits: vec![Leg::new("A", &bia_account, 12_000), Leg::new("A", &shop_account, 3_000)],
        description: "split".to_string(),
    };
    let reply = as_ana.transfer(&transfer, &PostOptions::default()).await.expect("transfer");
    assert_eq!(reply.http_status, 201, "{reply:?}");
    assert_eq!(reply.transfer.status, "committed");
    let id = reply.transfer.id;
    let view = as_ana.transfer_view(&id).await.expect("transfer readable");
    assert_eq!(view.status, "committed");
    assert_eq!(view.reason, None);
    assert_eq!(view.debits.len(), 2);
    assert_eq!(view.credits[0], Leg::new("A", &bia_account, 12_000));
    // Only the customer who made it can read it.
    assert_client_problem(as_bia.transfer_view(&id).await, 404, "transfer-not-found");

    // A transfer where one debit lacks funds changes nothing at all (sent raw: without a description).
    let too_much = json!({
        "debits": [{"bank": "A", "account": ana_account, "amount_cents": 1_000}, {"bank": "A", "account": joint, "amount_cents": 15_001}],
        "credits": [{"bank": "A", "account": bia_account, "amount_cents": 16_001}]
    });
    assert_problem(&bank.post("/api/v1/transfers", Some(&ana), too_much).await, 422, "insufficient-funds");

    assert_eq!(bank.balance(&ana, &ana_account).await, (35_000, 35_000));
    assert_eq!(bank.balance(&ana, &joint).await, (15_000, 15_000));
    assert_eq!(bank.balance(&bia, &bia_account).await, (12_000, 12_000));
    assert_eq!(bank.balance(&shop, &shop_account).await, (3_000, 3_000));

    // Payments go to company accounts, with a reference.
    let pay = |to: &str, amount_cents: i64, reference: &str| NewPayment {
        from_account: bia_account.clone(),
        to: PaymentTarget { bank: "A".to_string(), account: to.to_string() },
        amount_cents,
        reference: reference.to_string(),
    };
    let none = PostOptions::default();
    assert_client_problem(as_bia.pay(&pay(&ana_account, 2_000, "boleto 123"), &none).await, 422, "not-a-company-account");
    let reply = as_bia.pay(&pay(&shop_account, 2_000, "boleto 123"), &none).await.expect("payment");
    assert_eq!(reply.http_status, 201, "{reply:?}");
    let view = as_bia.transfer_view(&reply.transfer.id).await.expect("payment readable");
    assert_eq!(view.kind, "payment");
    assert_eq!(view.description, "boleto 123");
    assert_client_problem(as_bia.pay(&pay(&shop_account, 1, " "), &none).await, 422, "invalid-field");
    assert_eq!(bank.balance(&shop, &shop_account).await, (5_000, 5_000));
    bank.assert_audit_passes().await;
    bank.assert_no_batch_retried().await;
}

#[tokio::test]
async fn statements_are_newest_first_and_paginated() {
    let bank = TestBank::start("A").await;
    let ana = bank.customer(&new_cpf(), "Ana").await;
    let account = bank.open_account(&ana, "individual", &[]).await;
    for amount in 1..=7 {
        bank.deposit(&ana, &account, amount * 100).await;
    }
    let as_ana = bank.as_customer(&ana);
    let page = as_ana.statement(&account, Some(3), None).await.expect("statement");
    let amounts = |page: &StatementPage| -> Vec<i64> { page.entries.iter().map(|e| e.amount_cents).collect() };
    assert_eq!(amounts(&page), vec![700, 600, 500]);
    assert_eq!(page.entries[0].balance_after_cents, 2_800);
    assert!(page.next_before.is_some());
    let page = as_ana.statement(&account, Some(3), page.next_before).await.expect("second page");
    assert_eq!(amounts(&page), vec![400, 300, 200]);
    assert!(page.next_before.is_some());
    let page = as_ana.statement(&account, Some(3), page.next_before).await.expect("last page");
    assert_eq!(amounts(&page), vec![100]);
    assert_eq!(page.next_before, None);
    assert_client_problem(as_ana.statement(&account, Some(0), None).await, 422, "invalid-field");
    // Not a number: sent raw.
    assert_problem(&bank.get(&format!("/api/v1/accounts/{account}/statement?limit=x"), Some(&ana)).await, 422, "invalid-field");
}
