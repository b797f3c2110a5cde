//! Pix by BR Code over the API and the pages' forms: a static code for an account (its key is
//! the holder's CPF/CNPJ here), parsed back and paid; a changed code refused as tampered with
//! nothing moved; a company's dynamic charge read at its public URL, paid, then "paid" and not
//! payable again; the same charge paid from another bank (two bank processes, the charge read
//! over the member's URL, a cross-bank transfer under the token).

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::common::*;
use crate::web::{hidden, WebClient};

/// Flips one character of the code's body (keeping its CRC): what a tampered code looks like.
fn tamper(payload: &str) -> String {
    let body_end = payload.len() - 8;
    let position = payload[..body_end].rfind("5802BR").expect("country field") - 1;
    let mut bytes = payload.as_bytes().to_vec();
    bytes[position] = if bytes[position] == b'9' { b'8' } else { b'9' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_code_round_trips_and_pays_within_a_bank() {
    let bank = TestBank::start_with("A", |config| config.pix_city = "São José dos Campos".into()).await;
    let ana_cpf = new_cpf();
    let ana = bank.customer(&ana_cpf, "Ana Conceição").await;
    let ana_account = bank.open_account(&ana, "individual", &[]).await;
    let bruno = bank.customer(&new_cpf(), "Bruno").await;
    let bruno_account = bank.open_account(&bruno, "individual", &[]).await;
    bank.deposit(&bruno, &bruno_account, 10_000).await;
    // No key, no code: Ana registers her CPF in the key directory first.
    assert_problem(&bank.post("/api/v1/pix/brcodes", Some(&ana), json!({"account": ana_account})).await, 422, "no-pix-key");
    let (status, key) = bank.post("/api/v1/keys", Some(&ana), json!({"account": ana_account, "kind": "cpf"})).await;
    assert_eq!(status, 201, "{key}");

    let (status, issued) = bank
        .post(
            "/api/v1/pix/brcodes",
            Some(&ana),
            json!({"account": ana_account, "amount_cents": 1250, "description": "Almoço", "txid": "pedido42"}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let payload = issued["payload"].as_str().unwrap().to_string();
    assert!(payload.starts_with("000201"), "{payload}");
    assert!(issued["svg"].as_str().unwrap().contains("<svg"), "{issued}");
    assert_eq!(issued["brcode"]["target"]["key"], json!(ana_cpf));
    assert_eq!(issued["brcode"]["merchant_name"], json!("Ana Conceicao"), "accents removed for the code");
    assert_eq!(issued["brcode"]["merchant_city"], json!("Sao Jose dos Ca"), "the bank's city, cut to 15");

    // Parsing gives the same fields back (no session needed).
    let (status, parsed) = bank.post("/api/v1/pix/brcodes/parse", None, json!({"payload": payload})).await;
    assert_eq!(status, 200, "{parsed}");
    assert_eq!(parsed["brcode"], issued["brcode"]);
    assert_eq!(parsed["brcode"]["amount_cents"], json!(1250));
    assert_eq!(parsed["brcode"]["txid"], json!("pedido42"));

    // A changed code is refused, and nothing moves.
    let tampered = tamper(&payload);
    assert_problem(&bank.post("/api/v1/pix/brcodes/parse", None, json!({"payload": tampered})).await, 422, "brcode-tampered");
    let refused = bank.post("/api/v1/pix/payments", Some(&bruno), json!({"from_account": bruno_account, "payload": tampered})).await;
    assert_problem(&refused, 422, "brcode-tampered");
    assert_eq!(bank.balance(&bruno, &bruno_account).await, (10_000, 10_000));
    assert_problem(&bank.post("/api/v1/pix/brcodes/parse", None, json!({"payload": "hello"})).await, 422, "invalid-brcode");

    // A different amount than the code's is refused; the code's own is paid, once per key.
    let wrong = bank
        .post("/api/v1/pix/payments", Some(&bruno), json!({"from_account": bruno_account, "payload": payload, "amount_cents": 1}))
        .await;
    assert_problem(&wrong, 422, "invalid-amount");
    let body = json!({"from_account": bruno_account, "payload": payload});
    let headers = [("idempotency-key", "pix-1")];
    let (status, paid) = bank.call_with(Method::POST, "/api/v1/pix/payments", Some(&bruno), Some(body.clone()), &headers).await;
    assert_eq!(status, 201, "{paid}");
    assert_eq!(paid["status"], json!("committed"));
    assert_eq!(paid["payee"]["account"], json!(ana_account));
    assert_eq!(paid["payee"]["holder_name"], json!("Ana Conceição"));
    assert!(paid["payee"]["masked_document"].as_str().unwrap().starts_with("***."), "{paid}");
    let (status, again) = bank.call_with(Method::POST, "/api/v1/pix/payments", Some(&bruno), Some(body), &headers).await;
    assert_eq!((status.as_u16(), &again["id"]), (201, &paid["id"]), "a repeat with the key is the same payment");
    assert_eq!(bank.balance(&bruno, &bruno_account).await, (8_750, 8_750));
    assert_eq!(bank.balance(&ana, &ana_account).await, (1_250, 1_250));
    let (_, statement) = bank.get(&format!("/api/v1/accounts/{ana_account}/statement"), Some(&ana)).await;
    assert_eq!(statement["entries"][0]["description"], json!("Pix pedido42: Almoco"), "{statement}");

    // A code without an amount needs one from the payer.
    let (_, open) = bank.post("/api/v1/pix/brcodes", Some(&ana), json!({"account": ana_account})).await;
    let open = open["payload"].as_str().unwrap().to_string();
    let missing = bank.post("/api/v1/pix/payments", Some(&bruno), json!({"from_account": bruno_account, "payload": open})).await;
    assert_problem(&missing, 422, "invalid-amount");
    let (status, _) =
        bank.post("/api/v1/pix/payments", Some(&bruno), json!({"from_account": bruno_account, "payload": open, "amount_cents": 500})).await;
    assert_eq!(status, 201);
    assert_eq!(bank.balance(&ana, &ana_account).await.0, 1_750);

    // A key no one has here: not found, nothing moves.
    let stranger = ringbank_domain::brcode::BrCode::parse(&open).unwrap();
    let mut stranger = stranger.clone();
    stranger.target = ringbank_domain::brcode::Target::Key { key: new_cpf(), description: None };
    let stranger = stranger.encode().unwrap();
    let unknown = bank
        .post("/api/v1/pix/payments", Some(&bruno), json!({"from_account": bruno_account, "payload": stranger, "amount_cents": 100}))
        .await;
    assert_problem(&unknown, 404, "pix-key-not-found");
    // Someone else's account gets no code; a joint account has no key yet.
    assert_problem(&bank.post("/api/v1/pix/brcodes", Some(&bruno), json!({"account": ana_account})).await, 404, "account-not-found");
    bank.assert_audit_passes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_is_read_at_its_url_paid_once_and_then_refused() {
    let bank = TestBank::start("A").await;
    let shop = bank.customer(&new_cnpj(), "Padaria Pão Quente").await;
    let shop_account = bank.open_account(&shop, "company", &[]).await;
    let person = bank.customer(&new_cpf(), "Carla").await;
    let person_account = bank.open_account(&person, "individual", &[]).await;
    bank.deposit(&person, &person_account, 5_000).await;

    // Only a company account creates charges; validity is bounded.
    let refused = bank
        .post("/api/v1/pix/charges", Some(&person), json!({"account": person_account, "amount_cents": 100, "expires_in_seconds": 600}))
        .await;
    assert_problem(&refused, 422, "invalid-account-kind");
    let refused =
        bank.post("/api/v1/pix/charges", Some(&shop), json!({"account": shop_account, "amount_cents": 100, "expires_in_seconds": 1})).await;
    assert_problem(&refused, 422, "invalid-field");

    let (status, created) = bank
        .post(
            "/api/v1/pix/charges",
            Some(&shop),
            json!({"account": shop_account, "amount_cents": 2_990, "description": "Pedido 7", "expires_in_seconds": 600}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["charge"]["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 25);
    assert_eq!(created["brcode"]["initiation"], json!("single_use"));
    let url = created["brcode"]["target"]["url"].as_str().unwrap().to_string();
    assert_eq!(format!("http://{url}"), format!("{}/pix/v1/charges/{id}", bank.url), "the code points at the charge");
    let (status, charge) = bank.get(&format!("/pix/v1/charges/{id}"), None).await;
    assert_eq!(status, 200, "{charge}");
    assert_eq!((charge["status"].clone(), charge["amount_cents"].clone()), (json!("active"), json!(2_990)));
    assert_problem(&bank.get("/pix/v1/charges/doesNotExist", None).await, 404, "charge-not-found");

    let payload = created["payload"].as_str().unwrap().to_string();
    let (status, paid) =
        bank.post("/api/v1/pix/payments", Some(&person), json!({"from_account": person_account, "payload": payload})).await;
    assert_eq!(status, 201, "{paid}");
    assert_eq!(paid["description"], json!(format!("Pix {id}")));
    let (_, charge) = bank.get(&format!("/pix/v1/charges/{id}"), None).await;
    assert_eq!(charge["status"], json!("paid"));
    let again = bank.post("/api/v1/pix/payments", Some(&person), json!({"from_account": person_account, "payload": payload})).await;
    assert_problem(&again, 409, "charge-paid");
    assert_eq!(bank.balance(&person, &person_account).await.0, 5_000 - 2_990);
    assert_eq!(bank.balance(&shop, &shop_account).await.0, 2_990);
    bank.assert_audit_passes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_at_another_bank_is_read_there_and_paid_across_banks() {
    let consortium = Consortium::start(2, &[]).await;
    let (a, b) = (consortium.view(0), consortium.view(1));
    let shop = b.customer(&new_cnpj(), "Loja do Bairro").await;
    let shop_account = b.open_account(&shop, "company", &[]).await;
    let (_, created) = b
        .post("/api/v1/pix/charges", Some(&shop), json!({"account": shop_account, "amount_cents": 1_500, "expires_in_seconds": 600}))
        .await;
    let payload = created["payload"].as_str().expect("charge created").to_string();
    let id = created["charge"]["id"].as_str().unwrap().to_string();

    let payer = a.customer(&new_cpf(), "Davi").await;
    let payer_account = a.open_account(&payer, "individual", &[]).await;
    a.deposit(&payer, &payer_account, 4_000).await;
    let (status, paid) = a.post("/api/v1/pix/payments", Some(&payer), json!({"from_account": payer_account, "payload": payload})).await;
    assert_eq!(status, 202, "{paid}");
    assert_eq!(paid["payee"]["bank"], json!("B"));
    let transfer = paid["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, view) = a.get(&format!("/api/v1/transfers/{transfer}"), Some(&payer)).await;
        if view["status"] != json!("pending") {
            assert_eq!(view["status"], json!("committed"), "{view}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "payment still pending: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // B applied the credit: the charge is paid, read at B and through A.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, charge) = b.get(&format!("/pix/v1/charges/{id}"), None).await;
        if charge["status"] == json!("paid") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "charge not paid at B: {charge}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = a.post("/api/v1/pix/payments", Some(&payer), json!({"from_account": payer_account, "payload": payload})).await;
    assert_problem(&again, 409, "charge-paid");
    assert_eq!(b.balance(&shop, &shop_account).await.0, 1_500);

    // A code whose URL is not a member's is never fetched.
    let mut foreign = ringbank_domain::brcode::BrCode::parse(&payload).unwrap();
    foreign.target = ringbank_domain::brcode::Target::Url { url: format!("evil.example/pix/v1/charges/{id}") };
    let foreign = foreign.encode().unwrap();
    let refused = a.post("/api/v1/pix/payments", Some(&payer), json!({"from_account": payer_account, "payload": foreign})).await;
    assert_problem(&refused, 422, "charge-not-member");
    let report = consortium.audit_until_quiet(Duration::from_secs(20)).await;
    assert!(report.passed, "{report:?}");
}

/// The pages' form posts: the receive page shows a QR and the text; pasting a tampered code is
/// refused in Portuguese with nothing paid; the right code reviews and pays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_refuse_a_tampered_code_in_portuguese_and_pay_the_right_one() {
    let bank = TestBank::start("A").await;
    let mut ana = WebClient::new(&bank);
    let dashboard = ana.sign_up(&new_cpf(), "Ana").await;
    let ana_account = account_link(&dashboard.body);
    let page = ana.get(&format!("/accounts/{ana_account}/pix")).await;
    assert!(page.body.contains("id=\"pix-no-key\""), "an account without a key offers to register one");
    let csrf = hidden_value(&page.body, "csrf");
    let registered = ana.post(&format!("/accounts/{ana_account}/pix/keys"), &[("csrf", &csrf), ("kind", "document")]).await;
    assert_eq!(registered.status, 303, "{}", registered.body);
    let page = ana.get(&format!("/accounts/{ana_account}/pix?amount=12%2C50&description=Caf%C3%A9")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<svg"), "no QR on the page");
    let payload = textarea(&page.body, "brcode-payload");
    assert_eq!(ringbank_domain::brcode::BrCode::parse(&payload).unwrap().amount_cents, Some(1_250), "{payload:?}");

    let mut pedro = WebClient::new(&bank);
    let dashboard = pedro.sign_up(&new_cpf(), "Pedro").await;
    let pedro_account = account_link(&dashboard.body);
    let page = pedro.submit("/deposit", &[("account", &pedro_account), ("amount", "30,00")]).await;
    assert_eq!(page.status, 303, "{}", page.body);

    let refused = pedro.submit("/pix", &[("from", &pedro_account), ("payload", &tamper(&payload))]).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("foi alterado ou está incompleto"), "no Portuguese refusal: {}", refused.body);
    let not_a_code = pedro.submit("/pix", &[("from", &pedro_account), ("payload", "boleto 1234")]).await;
    assert!(not_a_code.body.contains("Este não é um código Pix válido"), "{}", not_a_code.body);

    let review = pedro.submit("/pix", &[("from", &pedro_account), ("payload", &payload)]).await;
    assert_eq!(review.status, 200, "{}", review.body);
    assert!(
        review.body.contains("Confira o pagamento Pix") && review.body.contains("R$ 12,50") && review.body.contains("Ana"),
        "{}",
        review.body
    );
    assert!(review.body.contains("Cafe"), "the description: {}", review.body);
    let csrf = hidden(&review.body, "csrf");
    let key = hidden(&review.body, "key");
    let done = pedro.post("/pix/confirm", &[("csrf", &csrf), ("from", &pedro_account), ("payload", &payload), ("key", &key)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.unwrap_or_default().starts_with("/transfers/"));
    // The same form posted twice pays once (its key).
    let twice = pedro.post("/pix/confirm", &[("csrf", &csrf), ("from", &pedro_account), ("payload", &payload), ("key", &key)]).await;
    assert_eq!(twice.status, 303);
    let account = ana.get(&format!("/accounts/{ana_account}")).await;
    assert!(account.body.contains("R$ 12,50"), "{}", account.body);
    let account = pedro.get(&format!("/accounts/{pedro_account}")).await;
    assert!(account.body.contains("R$ 17,50"), "{}", account.body);
}

/// The first account number linked from a page.
fn account_link(body: &str) -> String {
    body.split("href=\"/accounts/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
        .expect("an account link")
        .to_string()
}

/// The text of a textarea, unescaped.
fn textarea(body: &str, id: &str) -> String {
    let text = body.split(&format!("id=\"{id}\"")).nth(1).and_then(|rest| rest.split_once('>')).map(|(_, rest)| rest).unwrap_or("");
    let text = text.split("</textarea>").next().unwrap_or("");
    text.replace("&#x2a;", "*").replace("&#42;", "*").replace("&amp;", "&").replace("&#x27;", "'").replace("&quot;", "\"")
}

/// The value of the first hidden input `name` in a page.
fn hidden_value(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker).unwrap_or_else(|| panic!("no hidden {name} in {body}")) + marker.len();
    body[start..].split('"').next().unwrap_or_default().to_string()
}
