//! Hardening against hostile clients: slow or silent connections are closed within the bound,
//! guessing is throttled per client address without locking the owner out, weak passwords and
//! deceptive text are refused, and protocol details (Allow, WWW-Authenticate, chunked bodies,
//! Idempotency-Key) are right.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{new_cpf, TestBank, PASSWORD};

/// Connects, sends `prefix`, then waits: the server must close the connection (EOF, after at
/// most an error response) within `bound`.
async fn closed_within(url: &str, prefix: &[u8], bound: Duration) -> Duration {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(prefix).await.expect("send");
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    let mut received = Vec::new();
    loop {
        match tokio::time::timeout(bound, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => panic!(
                "connection still open after {bound:?} (sent {:?}, got {:?})",
                String::from_utf8_lossy(prefix),
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

#[tokio::test]
async fn slow_and_silent_clients_are_closed_within_the_bound() {
    let bank = TestBank::start_with("slow", |config| {
        config.header_read_timeout = Duration::from_millis(500);
        config.body_read_timeout = Duration::from_millis(500);
    })
    .await;
    let bound = Duration::from_secs(3);
    let silent = closed_within(&bank.url, b"", bound);
    let partial_header = closed_within(&bank.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", bound);
    let stalled_body = closed_within(
        &bank.url,
        b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"doc",
        bound,
    );
    let (silent, partial_header, stalled_body) = tokio::join!(silent, partial_header, stalled_body);
    for elapsed in [silent, partial_header, stalled_body] {
        assert!(elapsed >= Duration::from_millis(300), "closed too early: {elapsed:?}");
    }
    // A kept-alive connection that goes idle after a request is closed too.
    let idle = closed_within(&bank.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", bound).await;
    assert!(idle >= Duration::from_millis(300), "{idle:?}");
    // And the bank still serves.
    let (status, _) = bank.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_stalled_body_gets_408() {
    let bank = TestBank::start_with("stall", |config| config.body_read_timeout = Duration::from_millis(300)).await;
    let mut stream = TcpStream::connect(bank.url.trim_start_matches("http://")).await.expect("connect");
    stream
        .write_all(b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .expect("send");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(3), stream.read_to_string(&mut answer)).await.expect("closed in time").expect("read");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let _ = (json!({}), new_cpf(), PASSWORD);
}

/// A client whose requests come from `source` (any 127.0.0.0/8 address is loopback on Linux).
fn client_from(source: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(std::net::IpAddr::from(source)).build().expect("client")
}

#[tokio::test]
async fn guessing_passwords_is_throttled_per_address_and_the_owner_still_signs_in() {
    let bank = TestBank::start("guess").await;
    let victim = new_cpf();
    bank.customer(&victim, "Vítima").await;
    let stranger = client_from([127, 0, 0, 2]);
    let sign_in = |client: &reqwest::Client, password: &str| {
        client.post(format!("{}/api/v1/sessions", bank.url)).body(json!({"document": victim, "password": password}).to_string()).send()
    };
    let mut statuses = Vec::new();
    for guess in 0..8 {
        let response = sign_in(&stranger, &format!("guess number {guess}")).await.expect("sent");
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().expect("seconds");
            assert!((1..=300).contains(&retry_after), "{retry_after}");
        }
    }
    assert_eq!(statuses[..5], [StatusCode::UNAUTHORIZED; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [StatusCode::TOO_MANY_REQUESTS; 3], "{statuses:?}");
    // The stranger is throttled even with the right password; the owner, elsewhere, is not.
    assert_eq!(sign_in(&stranger, PASSWORD).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    let owner = client_from([127, 0, 0, 3]);
    assert_eq!(sign_in(&owner, PASSWORD).await.unwrap().status(), StatusCode::OK);

    // Spraying many documents from one address is throttled too.
    let sprayer = client_from([127, 0, 0, 4]);
    let mut last = StatusCode::OK;
    for _ in 0..25 {
        let response = sprayer
            .post(format!("{}/api/v1/sessions", bank.url))
            .body(json!({"document": new_cpf(), "password": "not the password"}).to_string())
            .send()
            .await
            .unwrap();
        last = response.status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn guessing_the_admin_secret_is_throttled_and_missing_credentials_are_401() {
    let bank = TestBank::start("admin-guess").await;
    let anonymous = reqwest::Client::new().get(format!("{}/admin/v1/audit", bank.url)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));

    let stranger = client_from([127, 0, 0, 6]);
    let mut statuses = Vec::new();
    for (index, path) in ["/admin/v1/audit", "/ring/status.json"].iter().cycle().take(8).enumerate() {
        let response = stranger.get(format!("{}{path}", bank.url)).bearer_auth(format!("wrong-secret-{index}")).send().await.unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(statuses[..5], [StatusCode::FORBIDDEN; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [StatusCode::TOO_MANY_REQUESTS; 3], "{statuses:?}");
    let operator = client_from([127, 0, 0, 7]);
    for path in ["/admin/v1/audit", "/ring/status.json"] {
        let response = operator.get(format!("{}{path}", bank.url)).bearer_auth(crate::common::ADMIN_SECRET).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn weak_passwords_and_deceptive_text_are_refused() {
    let bank = TestBank::start("policy").await;
    let document = new_cpf();
    for weak in ["password", "12345678", "aaaaaaaa", "        ", "secret123", document.as_str(), "Maria Silva"] {
        let (status, body) =
            bank.post("/api/v1/customers", None, json!({"document": document, "name": "Maria Silva", "password": weak})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{weak:?}: {body}");
        assert_eq!(body["type"], "/problems/invalid-field", "{body}");
        assert!(body["detail"].as_str().unwrap().starts_with("password"), "{body}");
    }
    for name in ["\u{200B}", " \u{200B}\u{2060} ", "\u{FEFF}"] {
        let (status, body) = bank.post("/api/v1/customers", None, json!({"document": new_cpf(), "name": name, "password": PASSWORD})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("name"), "{body}");
    }
    let token = bank.customer(&document, "Maria Silva").await;
    let from = bank.open_account(&token, "individual", &[]).await;
    let payee = new_cpf();
    let payee_token = bank.customer(&payee, "Pedro").await;
    let to = bank.open_account(&payee_token, "individual", &[]).await;
    bank.deposit(&token, &from, 1000).await;
    let transfer = |description: &str| {
        json!({"debits": [{"bank": "policy", "account": from, "amount_cents": 10}],
               "credits": [{"bank": "policy", "account": to, "amount_cents": 10}], "description": description})
    };
    for deceptive in ["rent \u{202E}0001", "a\u{2066}b\u{2069}", "x\u{200F}y"] {
        let (status, body) = bank.post("/api/v1/transfers", Some(&token), transfer(deceptive)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{deceptive:?}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("bidirectional"), "{body}");
    }
    let (status, body) = bank.post("/api/v1/transfers", Some(&token), transfer("Jose\u{0301}")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, statement) = bank.get(&format!("/api/v1/accounts/{from}/statement"), Some(&token)).await;
    assert!(statement.to_string().contains("Jos\u{e9}"), "stored in NFC: {statement}");
}

/// Sends raw bytes as one request and returns the whole answer (the request asks to close).
async fn raw_request(url: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(url.trim_start_matches("http://")).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await.expect("answered").expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn protocol_details_allow_instance_chunked_idempotency_key_and_secure_cookies() {
    let bank = TestBank::start("proto").await;
    let response = reqwest::Client::new().put(format!("{}/api/v1/deposits", bank.url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["instance"], "/api/v1/deposits", "{body}");
    let response = reqwest::Client::new().delete(format!("{}/signin", bank.url)).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "GET, POST");
    let (status, body) = bank.get("/api/v1/nothing-here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["instance"], "/api/v1/nothing-here", "{body}");

    // A chunked body within the limit is read like any other.
    let document = new_cpf();
    let json = json!({"document": document, "name": "Chunk", "password": PASSWORD}).to_string();
    let (first, second) = json.split_at(10);
    let request = format!(
        "POST /api/v1/customers HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
        first.len(),
        second.len()
    );
    let answer = raw_request(&bank.url, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let big = format!("{:x}\r\n{}\r\n0\r\n\r\n", 70_000, "x".repeat(70_000));
    let request = format!("POST /api/v1/customers HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{big}");
    let answer = raw_request(&bank.url, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A non-ASCII Idempotency-Key is a bad request, like any other malformed key.
    let token = bank.sign_in(&document).await;
    let account = bank.open_account(&token, "individual", &[]).await;
    let body = json!({"account": account, "amount_cents": 100}).to_string();
    let mut request = format!(
        "POST /api/v1/deposits HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nIdempotency-Key: chave-",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice("ç\r\n\r\n".as_bytes());
    request.extend_from_slice(body.as_bytes());
    let answer = raw_request(&bank.url, &request).await;
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("invalid-idempotency-key"), "{answer}");

    // Cookies get Secure only when a trusted proxy says the client came over TLS.
    let cookies = |bank_url: String, proto: Option<&'static str>| async move {
        let mut request = reqwest::Client::new().get(format!("{bank_url}/signin"));
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        let response = request.send().await.unwrap();
        response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let untrusted = cookies(bank.url.clone(), Some("https")).await;
    assert!(!untrusted.is_empty() && untrusted.iter().all(|c| !c.contains("Secure")), "{untrusted:?}");
    let proxied = TestBank::start_with("proxied", |config| config.trust_forwarded_proto = true).await;
    let secure = cookies(proxied.url.clone(), Some("https")).await;
    assert!(!secure.is_empty() && secure.iter().all(|c| c.ends_with("; Secure")), "{secure:?}");
    let plain = cookies(proxied.url.clone(), Some("http")).await;
    assert!(plain.iter().all(|c| !c.contains("Secure")), "{plain:?}");
}

#[tokio::test]
async fn a_refusal_under_an_idempotency_key_is_given_again_to_a_repeat() {
    let bank = TestBank::start("refusal").await;
    let token = bank.customer(&new_cpf(), "Rita").await;
    let account = bank.open_account(&token, "individual", &[]).await;
    let withdraw = json!({"account": account, "amount_cents": 5_000});
    let headers = [("idempotency-key", "withdraw-once")];
    let (status, first) =
        bank.call_with(reqwest::Method::POST, "/api/v1/withdrawals", Some(&token), Some(withdraw.clone()), &headers).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{first}");
    assert_eq!(first["type"], "/problems/insufficient-funds");
    // Money arrives; the same request under the same key still gets the first answer.
    bank.deposit(&token, &account, 10_000).await;
    let (status, again) =
        bank.call_with(reqwest::Method::POST, "/api/v1/withdrawals", Some(&token), Some(withdraw.clone()), &headers).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{again}");
    assert_eq!((&again["type"], &again["detail"]), (&first["type"], &first["detail"]));
    assert_eq!(bank.balance(&token, &account).await.0, 10_000, "nothing was withdrawn");
    // Another body under that key is a reused key; a new key withdraws.
    let other = json!({"account": account, "amount_cents": 4_000});
    let (status, body) = bank.call_with(reqwest::Method::POST, "/api/v1/withdrawals", Some(&token), Some(other), &headers).await;
    assert_eq!((status, &body["type"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("/problems/idempotency-key-reused")), "{body}");
    let (status, body) = bank
        .call_with(reqwest::Method::POST, "/api/v1/withdrawals", Some(&token), Some(withdraw), &[("idempotency-key", "withdraw-twice")])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(bank.balance(&token, &account).await.0, 5_000);
}

#[tokio::test]
async fn the_openapi_document_tells_pending_waiting_and_strict_bodies() {
    let bank = TestBank::start("doc").await;
    let (_, document) = bank.get("/api/v1/openapi.json", None).await;
    for path in ["/api/v1/transfers", "/api/v1/payments"] {
        let operation = &document["paths"][path]["post"];
        for code in ["200", "201", "202"] {
            assert!(operation["responses"][code].is_object(), "{path} lacks {code}");
        }
        let names: Vec<&str> = operation["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Idempotency-Key", "Prefer"], "{path}");
    }
    let schemas = &document["components"]["schemas"];
    for name in ["NewCustomer", "SignIn", "NewAccount", "CashOperation", "Leg", "NewTransfer", "NewPayment"] {
        assert_eq!(schemas[name]["additionalProperties"], json!(false), "{name} is not strict");
    }
    assert_eq!(schemas["NewTransfer"]["properties"]["debits"]["minItems"], json!(1));
    assert!(schemas["Problem"]["required"].as_array().unwrap().contains(&json!("instance")));
    // The server is as strict as the document says: an unknown field is refused.
    let (status, body) =
        bank.post("/api/v1/customers", None, json!({"document": new_cpf(), "name": "Extra", "password": PASSWORD, "admin": true})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn a_joint_account_moves_no_money_until_every_co_holder_accepts() {
    let bank = TestBank::start("consent").await;
    let (ana_cpf, bia_cpf, caio_cpf) = (new_cpf(), new_cpf(), new_cpf());
    let ana = bank.customer(&ana_cpf, "Ana").await;
    let bia = bank.customer(&bia_cpf, "Bia").await;
    let caio = bank.customer(&caio_cpf, "Caio").await;
    let ana_account = bank.open_account(&ana, "individual", &[]).await;
    bank.deposit(&ana, &ana_account, 10_000).await;
    let joint = bank.open_account(&ana, "joint", &[&bia_cpf, &caio_cpf]).await;

    // Pending: visible to the named co-holders (to accept it), but no money in or out.
    let (status, view) = bank.get(&format!("/api/v1/accounts/{joint}"), Some(&bia)).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let mut pending = vec![bia_cpf.clone(), caio_cpf.clone()];
    pending.sort();
    assert_eq!(view["pending_holders"], json!(pending));
    let refused = |status: StatusCode, body: &serde_json::Value| {
        assert_eq!((status, &body["type"]), (StatusCode::CONFLICT, &json!("/problems/account-pending")), "{body}");
    };
    let (status, body) = bank.post("/api/v1/deposits", Some(&ana), json!({"account": joint, "amount_cents": 100})).await;
    refused(status, &body);
    let transfer = json!({"debits": [{"bank": "consent", "account": ana_account, "amount_cents": 100}],
                          "credits": [{"bank": "consent", "account": joint, "amount_cents": 100}]});
    let (status, body) = bank.post("/api/v1/transfers", Some(&ana), transfer.clone()).await;
    refused(status, &body);

    // A stranger cannot accept for them; Bia accepts; still pending until Caio does.
    let stranger = bank.customer(&new_cpf(), "Estranho").await;
    let (status, _) = bank.post(&format!("/api/v1/accounts/{joint}/acceptance"), Some(&stranger), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, view) = bank.post(&format!("/api/v1/accounts/{joint}/acceptance"), Some(&bia), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["pending_holders"], json!([caio_cpf]));
    let (status, body) = bank.post("/api/v1/transfers", Some(&ana), transfer.clone()).await;
    refused(status, &body);

    // Caio accepts on the account's page.
    let mut web = crate::web::WebClient::new(&bank);
    let signed = web.submit("/signin", &[("document", &caio_cpf), ("password", PASSWORD)]).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let page = web.get(&format!("/accounts/{joint}")).await;
    assert!(page.body.contains("id=\"pending\"") && page.body.contains("id=\"accept\""), "{}", page.body);
    let csrf = crate::web::hidden(&page.body, "csrf");
    let accepted = web.post(&format!("/accounts/{joint}/accept"), &[("csrf", &csrf)]).await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.body);
    let page = web.get(accepted.location.as_deref().expect("location")).await;
    assert!(!page.body.contains("id=\"pending\"") && !page.body.contains("id=\"accept\""), "{}", page.body);
    let (_, view) = bank.get(&format!("/api/v1/accounts/{joint}"), Some(&caio)).await;
    assert!(view.get("pending_holders").is_none(), "active: {view}");
    let (status, body) = bank.post("/api/v1/transfers", Some(&ana), transfer).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(bank.balance(&ana, &joint).await.0, 100);
}

#[tokio::test]
async fn the_bank_to_bank_document_covers_every_routed_operation() {
    let bank = TestBank::start("peers").await;
    let (status, document) = bank.get("/bank/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/bank/v1/prepare",
        "/bank/v1/outcome",
        "/bank/v1/query",
        "/bank/v1/accounts-of",
        "/ring/v1/token",
        "/ring/v1/join",
        "/ring/v1/parked",
        "/ring/v1/status",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let (status, body) =
                bank.call(reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), path, None, Some(json!({}))).await;
            assert!(
                body["type"] != "/problems/route-not-found" && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {status} {body}"
            );
            if operation.get("security").is_some() {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} unsigned: {body}");
            }
        }
    }
}
