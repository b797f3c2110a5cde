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
    assert_problem(&bank.post("/api/v1/accounts", Some(&ana), json!({"kind": "individual"})).await, 409, "individual-account-exists");
    // Any number of joint accounts; other holders must be customers here.
    let joint1 = bank.open_account(&ana, "joint", &[&bia_cpf]).await;
    let joint2 = bank.open_account(&bia, "joint", &[&ana_cpf]).await;
    assert_ne!(joint1, joint2);
    assert_problem(
        &bank.post("/api/v1/accounts", Some(&ana), json!({"kind": "joint", "holders": [new_cpf()]})).await,
        422,
        "unknown-customer",
    );
    assert_problem(&bank.post("/api/v1/accounts", Some(&ana), json!({"kind": "joint", "holders": []})).await, 422, "invalid-account-kind");
    assert_problem(
        &bank.post("/api/v1/accounts", Some(&ana), json!({"kind": "joint", "holders": [company_cnpj]})).await,
        422,
        "invalid-account-kind",
    );
    assert_problem(&bank.post("/api/v1/accounts", Some(&ana), json!({"kind": "company"})).await, 422, "invalid-account-kind");
    assert_problem(&bank.post("/api/v1/accounts", Some(&company), json!({"kind": "individual"})).await, 422, "invalid-account-kind");
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
    let (_, list) = bank.get("/api/v1/accounts", Some(&ana)).await;
    let mut numbers: Vec<String> = list.as_array().unwrap().iter().map(|a| a["number"].as_str().unwrap().to_string()).collect();
    numbers.sort();
    let mut expected = vec![individual, joint1, joint2];
    expected.sort();
    assert_eq!(numbers, expected);
    let (_, list) = bank.get("/api/v1/accounts", Some(&company)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["number"], json!(company_account));
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
    let (status, _) = bank.post("/api/v1/withdrawals", Some(&ana), json!({"account": ana_account, "amount_cents": 5_000})).await;
    assert_eq!(status, StatusCode::CREATED);

    // Two debits (one of them a joint account), two credits: atomic as a whole.
    let transfer = json!({
        "debits": [{"bank": "A", "account": ana_account, "amount_cents": 10_000}, {"bank": "A", "account": joint, "amount_cents": 5_000}],
        "credits": [{"bank": "A", "account": bia_account, "amount_cents": 12_000}, {"bank": "A", "account": shop_account, "amount_cents": 3_000}],
        "description": "split"
    });
    let (status, body) = bank.post("/api/v1/transfers", Some(&ana), transfer).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], json!("committed"));
    let id = body["id"].as_str().unwrap().to_string();
    let (status, view) = bank.get(&format!("/api/v1/transfers/{id}"), Some(&ana)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], json!("committed"));
    assert_eq!(view["reason"], json!(null));
    assert_eq!(view["debits"].as_array().unwrap().len(), 2);
    assert_eq!(view["credits"][0], json!({"bank": "A", "account": bia_account, "amount_cents": 12_000}));
    // Only the customer who made it can read it.
    assert_problem(&bank.get(&format!("/api/v1/transfers/{id}"), Some(&bia)).await, 404, "transfer-not-found");

    // A transfer where one debit lacks funds changes nothing at all.
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
    let pay = |to: &str| json!({"from_account": bia_account, "to": {"bank": "A", "account": to}, "amount_cents": 2_000, "reference": "boleto 123"});
    assert_problem(&bank.post("/api/v1/payments", Some(&bia), pay(&ana_account)).await, 422, "not-a-company-account");
    let (status, body) = bank.post("/api/v1/payments", Some(&bia), pay(&shop_account)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, view) = bank.get(&format!("/api/v1/transfers/{}", body["id"].as_str().unwrap()), Some(&bia)).await;
    assert_eq!(view["kind"], json!("payment"));
    assert_eq!(view["description"], json!("boleto 123"));
    let missing_reference =
        json!({"from_account": bia_account, "to": {"bank": "A", "account": shop_account}, "amount_cents": 1, "reference": " "});
    assert_problem(&bank.post("/api/v1/payments", Some(&bia), missing_reference).await, 422, "invalid-field");
    assert_eq!(bank.balance(&shop, &shop_account).await, (5_000, 5_000));
    bank.assert_audit_passes().await;
}

#[tokio::test]
async fn statements_are_newest_first_and_paginated() {
    let bank = TestBank::start("A").await;
    let ana = bank.customer(&new_cpf(), "Ana").await;
    let account = bank.open_account(&ana, "individual", &[]).await;
    for amount in 1..=7 {
        bank.deposit(&ana, &account, amount * 100).await;
    }
    let (status, page) = bank.get(&format!("/api/v1/accounts/{account}/statement?limit=3"), Some(&ana)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let amounts = |page: &serde_json::Value| -> Vec<i64> {
        page["entries"].as_array().unwrap().iter().map(|e| e["amount_cents"].as_i64().unwrap()).collect()
    };
    assert_eq!(amounts(&page), vec![700, 600, 500]);
    assert_eq!(page["entries"][0]["balance_after_cents"], json!(2_800));
    let before = page["next_before"].as_i64().unwrap();
    let (_, page) = bank.get(&format!("/api/v1/accounts/{account}/statement?limit=3&before={before}"), Some(&ana)).await;
    assert_eq!(amounts(&page), vec![400, 300, 200]);
    let before = page["next_before"].as_i64().unwrap();
    let (_, page) = bank.get(&format!("/api/v1/accounts/{account}/statement?limit=3&before={before}"), Some(&ana)).await;
    assert_eq!(amounts(&page), vec![100]);
    assert_eq!(page["next_before"], json!(null));
    assert_problem(&bank.get(&format!("/api/v1/accounts/{account}/statement?limit=0"), Some(&ana)).await, 422, "invalid-field");
    assert_problem(&bank.get(&format!("/api/v1/accounts/{account}/statement?limit=x"), Some(&ana)).await, 422, "invalid-field");
}
