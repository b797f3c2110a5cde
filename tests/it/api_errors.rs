//! Every error kind of the customer API: the right status, a stable problem type, and
//! nothing half-written.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn documents_are_validated_exactly() {
    let bank = TestBank::start("A").await;
    let register = |document: &str| json!({"document": document, "name": "Someone", "password": PASSWORD});
    for bad in ["111.444.777-36", "111.111.111-11", "1234", "11.222.333/0001-82", "12.ABC.345/01DE-36", "abc"] {
        assert_problem(&bank.post("/api/v1/customers", None, register(bad)).await, 422, "invalid-document");
    }
    // Punctuated and bare forms, numeric and alphanumeric CNPJ, are accepted and stored bare.
    for (good, stored) in
        [("111.444.777-35", "11144477735"), ("11222333000181", "11222333000181"), ("12.abc.345/01de-35", "12ABC34501DE35")]
    {
        let (status, body) = bank.post("/api/v1/customers", None, register(good)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["document"], json!(stored));
    }
    // The same document twice, in another spelling, is the same customer.
    assert_problem(&bank.post("/api/v1/customers", None, register("11144477735")).await, 409, "customer-exists");
}

#[tokio::test]
async fn malformed_and_incomplete_bodies_are_client_errors() {
    let bank = TestBank::start("A").await;
    let response = bank.client.post(format!("{}/api/v1/customers", bank.url)).body("{not json").send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["type"], json!("/problems/malformed-json"));

    assert_problem(&bank.post("/api/v1/customers", None, json!({"document": "11144477735"})).await, 400, "missing-field");
    assert_problem(
        &bank.post("/api/v1/customers", None, json!({"document": 5, "name": "x", "password": PASSWORD})).await,
        422,
        "invalid-field",
    );
    assert_problem(
        &bank.post("/api/v1/customers", None, json!({"document": "11144477735", "name": "x", "password": "short"})).await,
        422,
        "invalid-field",
    );
    // A body is an object: an array is refused even where it would fill a struct's fields in
    // order (schemathesis found PUT .../limits taking [null, null] as two raises).
    let token = bank.customer(&new_cpf(), "Ana").await;
    let account = bank.open_account(&token, "individual", &[]).await;
    for (method, path, body) in [
        (reqwest::Method::PUT, format!("/api/v1/accounts/{account}/limits"), json!([null, null])),
        (reqwest::Method::POST, "/api/v1/customers".to_string(), json!(["11144477735", "x", PASSWORD])),
        (reqwest::Method::POST, "/api/v1/schedules".to_string(), json!("text")),
    ] {
        let refused = bank.call(method, &path, Some(&token), Some(body)).await;
        assert_problem(&refused, 422, "invalid-field");
        assert!(refused.1["detail"].as_str().unwrap_or_default().contains("JSON object"), "{}", refused.1);
    }
    let (_, limits) = bank.get(&format!("/api/v1/accounts/{account}/limits"), Some(&token)).await;
    assert_eq!(limits["raise"], json!(null), "the refused change left nothing: {limits}");
    // Bodies are size-limited.
    let huge = json!({"document": "11144477735", "name": "x".repeat(100_000), "password": PASSWORD});
    assert_problem(&bank.post("/api/v1/customers", None, huge).await, 413, "payload-too-large");
    // Nothing of the refused requests was written.
    assert_problem(
        &bank.post("/api/v1/sessions", None, json!({"document": "11144477735", "password": PASSWORD})).await,
        401,
        "wrong-credentials",
    );
}

#[tokio::test]
async fn authentication_and_passwords() {
    let bank = TestBank::start("A").await;
    let cpf = new_cpf();
    let token = bank.customer(&cpf, "Ana").await;
    assert_problem(&bank.get("/api/v1/accounts", None).await, 401, "unauthenticated");
    assert_problem(&bank.get("/api/v1/accounts", Some("not-a-token")).await, 401, "unauthenticated");
    assert_problem(
        &bank.post("/api/v1/sessions", None, json!({"document": cpf, "password": "wrong password"})).await,
        401,
        "wrong-credentials",
    );
    assert_problem(
        &bank.post("/api/v1/sessions", None, json!({"document": new_cpf(), "password": PASSWORD})).await,
        401,
        "wrong-credentials",
    );
    let (status, _) = bank.get("/api/v1/accounts", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    // Signing out ends the session.
    let (status, _) = bank.call(Method::DELETE, "/api/v1/sessions", Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_problem(&bank.get("/api/v1/accounts", Some(&token)).await, 401, "unauthenticated");
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited() {
    let bank = TestBank::start("A").await;
    let cpf = new_cpf();
    bank.customer(&cpf, "Ana").await;
    for _ in 0..5 {
        assert_problem(
            &bank.post("/api/v1/sessions", None, json!({"document": cpf, "password": "guess guess"})).await,
            401,
            "wrong-credentials",
        );
    }
    // Even the right password is refused while the limit holds.
    assert_problem(&bank.post("/api/v1/sessions", None, json!({"document": cpf, "password": PASSWORD})).await, 429, "too-many-attempts");
}

#[tokio::test]
async fn amounts_accounts_and_funds() {
    let bank = TestBank::start_with("A", |c| c.max_amount_cents = 1_000_000).await;
    let token = bank.customer(&new_cpf(), "Ana").await;
    let account = bank.open_account(&token, "individual", &[]).await;
    let ana = bank.as_customer(&token);
    let none = PostOptions::default();
    for amount in [0, -5] {
        assert_client_problem(ana.deposit(&account, amount, &none).await, 422, "invalid-amount");
    }
    assert_client_problem(ana.deposit(&account, 1_000_001, &none).await, 422, "limit-exceeded");
    // Not an integer: sent raw, since the typed client cannot express it.
    assert_problem(
        &bank.post("/api/v1/deposits", Some(&token), json!({"account": account, "amount_cents": 1.5})).await,
        422,
        "invalid-field",
    );
    assert_client_problem(ana.deposit("99999999", 100, &none).await, 404, "account-not-found");
    assert_client_problem(ana.deposit("cash", 100, &none).await, 422, "invalid-field");
    assert_client_problem(ana.withdraw(&account, 1, &none).await, 422, "insufficient-funds");
    // Another customer's account is 404, exactly like one that does not exist.
    let other = bank.customer(&new_cpf(), "Bia").await;
    let other_account = bank.open_account(&other, "individual", &[]).await;
    assert_client_problem(ana.account(&other_account).await, 404, "account-not-found");
    assert_client_problem(ana.withdraw(&other_account, 1, &none).await, 404, "account-not-found");
    assert_client_problem(ana.statement(&other_account, None, None).await, 404, "account-not-found");
    assert_eq!(bank.balance(&token, &account).await, (0, 0));
    bank.assert_audit_passes().await;
}

#[tokio::test]
async fn transfer_shape_errors() {
    let bank = TestBank::start_with("A", |c| c.max_legs = 4).await;
    let token = bank.customer(&new_cpf(), "Ana").await;
    let from = bank.open_account(&token, "individual", &[]).await;
    let other = bank.customer(&new_cpf(), "Bia").await;
    let to = bank.open_account(&other, "individual", &[]).await;
    bank.deposit(&token, &from, 10_000).await;
    let leg = |bank_id: &str, account: &str, amount: i64| json!({"bank": bank_id, "account": account, "amount_cents": amount});
    let transfer =
        |debits: serde_json::Value, credits: serde_json::Value| json!({"debits": debits, "credits": credits, "description": "rent"});

    assert_problem(
        &bank.post("/api/v1/transfers", Some(&token), transfer(json!([leg("A", &from, 100)]), json!([leg("A", &to, 99)]))).await,
        422,
        "unbalanced-transfer",
    );
    assert_problem(
        &bank.post("/api/v1/transfers", Some(&token), transfer(json!([]), json!([leg("A", &to, 99)]))).await,
        422,
        "invalid-field",
    );
    assert_problem(
        &bank.post("/api/v1/transfers", Some(&token), transfer(json!([leg("B", &from, 100)]), json!([leg("A", &to, 100)]))).await,
        422,
        "unknown-bank",
    );
    assert_problem(
        &bank.post("/api/v1/transfers", Some(&token), transfer(json!([leg("A", &from, 100)]), json!([leg("A", &from, 100)]))).await,
        422,
        "invalid-field",
    );
    let many = json!([leg("A", &to, 1), leg("A", "11111111", 1), leg("A", "22222222", 1), leg("A", "33333333", 1)]);
    assert_problem(&bank.post("/api/v1/transfers", Some(&token), transfer(json!([leg("A", &from, 4)]), many)).await, 422, "limit-exceeded");
    // Debiting someone else's account is refused as if it did not exist.
    assert_problem(
        &bank.post("/api/v1/transfers", Some(&token), transfer(json!([leg("A", &to, 100)]), json!([leg("A", &from, 100)]))).await,
        404,
        "account-not-found",
    );
    assert_problem(
        &bank.post("/api/v1/transfers", Some(&token), transfer(json!([leg("A", &from, 100)]), json!([leg("A", "99999999", 100)]))).await,
        404,
        "account-not-found",
    );
    assert_eq!(bank.balance(&token, &from).await, (10_000, 10_000));
    bank.assert_audit_passes().await;
}

#[tokio::test]
async fn admin_endpoints_need_the_secret() {
    let bank = TestBank::start("A").await;
    assert_problem(&bank.get("/admin/v1/audit", None).await, 401, "unauthenticated");
    assert_problem(&bank.get("/admin/v1/audit", Some("wrong-secret-wrong-secret")).await, 403, "forbidden");
    bank.assert_audit_passes().await;
    let without = TestBank::start_with("B", |c| c.admin_secret = None).await;
    assert_problem(&without.get("/admin/v1/audit", Some(ADMIN_SECRET)).await, 403, "forbidden");
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let bank = TestBank::start("A").await;
    assert_problem(&bank.get("/api/v1/nothing-here", None).await, 404, "route-not-found");
    assert_problem(&bank.call(Method::PUT, "/api/v1/deposits", None, None).await, 405, "method-not-allowed");
    let (status, body) = bank.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], json!("ok"));
}
