//! The customer web pages over plain HTTP: forms, cookies, CSRF, ownership and language.
//! (tests/it/browser.rs drives the same pages in a real browser.)

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, StatusCode};

use crate::common::{new_cpf, Consortium, TestBank, ADMIN_SECRET, PASSWORD};

/// A browser-like client: keeps cookies, does not follow redirects (tests look at them).
pub struct WebClient {
    url: String,
    client: Client,
    cookies: Vec<(String, String)>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl WebClient {
    pub fn new(bank: &TestBank) -> WebClient {
        let client = Client::builder().redirect(redirect::Policy::none()).build().expect("client");
        WebClient { url: bank.url.clone(), client, cookies: Vec::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        let status = response.status();
        let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        let set_cookies: Vec<String> =
            response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.retain(|(n, _)| n != name);
                if !value.is_empty() && !cookie.contains("Max-Age=0") {
                    self.cookies.push((name.to_string(), value.to_string()));
                }
            }
        }
        let body = response.text().await.expect("body");
        Page { status, location, set_cookies, body }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self.client.get(format!("{}{path}", self.url)).header(COOKIE, self.cookie_header()).send().await.expect("GET");
        self.finish(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).expect("form");
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .header(COOKIE, self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST");
        self.finish(response).await
    }

    /// GETs a form page and POSTs it with its CSRF token plus `fields`.
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "GET {path}: {}", page.body);
        let csrf = hidden(&page.body, "csrf");
        let key = hidden(&page.body, "key");
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf), ("key", &key)];
        form.extend_from_slice(fields);
        self.post(path, &form).await
    }

    /// Sends `name=value` as an extra cookie on every later request.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_string(), value.to_string()));
    }

    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut request = self.client.get(format!("{}{path}", self.url)).header(COOKIE, self.cookie_header());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("GET");
        self.finish(response).await
    }

    /// Signs up with the form; returns the dashboard page.
    pub async fn sign_up(&mut self, document: &str, name: &str) -> Page {
        let page =
            self.submit("/signup", &[("document", document), ("name", name), ("password", PASSWORD), ("password_confirm", PASSWORD)]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(page.location.as_deref(), Some("/dashboard"));
        self.get("/dashboard").await
    }
}

/// The value of a hidden input in a page ("" when absent).
pub fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    body.split(&marker).nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("").to_string()
}

/// The first account number linked from a page.
fn first_account(body: &str) -> String {
    body.split("href=\"/accounts/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
        .expect("an account link")
        .to_string()
}

#[tokio::test]
async fn sign_up_opens_customer_and_account_with_a_strict_http_only_cookie() {
    let bank = TestBank::start("alfa").await;
    let mut web = WebClient::new(&bank);
    let cpf = new_cpf();
    let form_page = web.get("/signup").await;
    assert!(form_page
        .set_cookies
        .iter()
        .any(|c| c.starts_with("rb_csrf_alfa=") && c.contains("HttpOnly") && c.contains("SameSite=Strict")));
    let csrf = hidden(&form_page.body, "csrf");
    let formatted = ringbank_domain::document::format_document(&cpf);
    let page = web
        .post(
            "/signup",
            &[("csrf", &csrf), ("document", &formatted), ("name", "Ana Souza"), ("password", PASSWORD), ("password_confirm", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let session = page.set_cookies.iter().find(|c| c.starts_with("rb_session_alfa=")).expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(session.contains(flag), "{flag} missing in {session}");
    }
    assert!(!session.contains("Secure"), "no TLS here, so no Secure flag: {session}");
    let dashboard = web.get("/dashboard").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert!(dashboard.body.contains("Bem-vindo, Ana"), "{}", dashboard.body);
    assert!(dashboard.body.contains("Conta individual"));
    assert!(!dashboard.body.contains(&formatted), "the CPF is shown masked");
    assert!(dashboard.body.contains(&ringbank_domain::display::mask_document(&cpf)), "the CPF is shown masked");
    assert!(dashboard.body.contains("R$ 0,00"));
    // The API sees the same customer and account.
    let token = bank.sign_in(&cpf).await;
    let (_, accounts) = bank.get("/api/v1/accounts", Some(&token)).await;
    assert_eq!(accounts[0]["number"].as_str(), Some(first_account(&dashboard.body).as_str()));
    // Signing out ends the session server-side and clears the cookie.
    let csrf = hidden(&dashboard.body, "csrf");
    let out = web.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.set_cookies.iter().any(|c| c.starts_with("rb_session_alfa=;") && c.contains("Max-Age=0")));
    let after = web.get("/dashboard").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location.as_deref().is_some_and(|l| l.starts_with("/signin")));
}

#[tokio::test]
async fn sign_up_errors_are_shown_next_to_their_fields() {
    let bank = TestBank::start("alfa").await;
    let mut web = WebClient::new(&bank);
    let page = web
        .submit("/signup", &[("document", "111.444.777-36"), ("name", "Ana"), ("password", "short"), ("password_confirm", "short")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("id=\"document-error\""), "{}", page.body);
    assert!(page.body.contains("aria-describedby=\"document-hint document-error\""));
    assert!(page.body.contains("id=\"password-error\""));
    assert!(page.body.contains("CPF ou CNPJ inválido"));
    assert!(page.body.contains("value=\"111.444.777-36\""), "typed values are kept");
    // An existing customer is told so, next to the document.
    let cpf = new_cpf();
    bank.customer(&cpf, "Bia").await;
    let page = web.submit("/signup", &[("document", &cpf), ("name", "Bia"), ("password", PASSWORD), ("password_confirm", PASSWORD)]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Já existe um cliente"), "{}", page.body);
}

#[tokio::test]
async fn wrong_password_shows_an_error_and_right_one_signs_in() {
    let bank = TestBank::start("alfa").await;
    let cpf = new_cpf();
    bank.customer(&cpf, "Caio").await;
    let mut web = WebClient::new(&bank);
    let page = web.submit("/signin", &[("document", &cpf), ("password", "not the password")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("CPF/CNPJ ou senha incorretos"), "{}", page.body);
    assert!(page.body.contains("id=\"password-error\""));
    assert!(!page.set_cookies.iter().any(|c| c.starts_with("rb_session_alfa=")));
    let page = web.submit("/signin", &[("document", &cpf), ("password", PASSWORD)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(web.get("/dashboard").await.body.contains("Caio"));
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let bank = TestBank::start("alfa").await;
    let mut web = WebClient::new(&bank);
    let cpf = new_cpf();
    let dashboard = web.sign_up(&cpf, "Davi").await;
    let account = first_account(&dashboard.body);
    let deposit = [("account", account.as_str()), ("amount", "100,00")];
    let missing = web.post("/deposit", &deposit).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("Formulário recusado"), "{}", missing.body);
    let mut wrong = vec![("csrf", "0".repeat(64))];
    wrong.extend(deposit.iter().map(|(k, v)| (*k, v.to_string())));
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(web.post("/deposit", &wrong).await.status, StatusCode::FORBIDDEN);
    assert_eq!(web.post("/transfer/confirm", &wrong).await.status, StatusCode::FORBIDDEN);
    assert_eq!(web.post("/accounts/new", &[("kind", "joint")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(web.post("/signout", &[("csrf", "")]).await.status, StatusCode::FORBIDDEN);
    // Pre-sign-in forms need the double-submit cookie's value.
    let mut stranger = WebClient::new(&bank);
    let refused = stranger.post("/signin", &[("document", &cpf), ("password", PASSWORD)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // Nothing was written.
    let token = bank.sign_in(&cpf).await;
    assert_eq!(bank.balance(&token, &account).await, (0, 0));
    let (_, accounts) = bank.get("/api/v1/accounts", Some(&token)).await;
    assert_eq!(accounts.as_array().map(Vec::len), Some(1));
    // The same form with the page's token goes through.
    let ok = web.submit("/deposit", &deposit).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(bank.balance(&token, &account).await, (10_000, 10_000));
}

#[tokio::test]
async fn a_post_from_another_origin_is_refused() {
    let bank = TestBank::start("alfa").await;
    let mut web = WebClient::new(&bank);
    let dashboard = web.sign_up(&new_cpf(), "Eva").await;
    let csrf = hidden(&dashboard.body, "csrf");
    let account = first_account(&dashboard.body);
    let response = web
        .client
        .post(format!("{}/deposit", web.url))
        .header(COOKIE, web.cookie_header())
        .header("origin", "http://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("csrf", csrf.as_str()), ("account", &account), ("amount", "5")]).expect("form"))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn deposit_shows_in_the_statement_and_withdrawal_checks_funds() {
    let bank = TestBank::start("alfa").await;
    let mut web = WebClient::new(&bank);
    let dashboard = web.sign_up(&new_cpf(), "Fabi").await;
    let account = first_account(&dashboard.body);
    let page = web.submit(&format!("/deposit?account={account}"), &[("account", &account), ("amount", "1.234,56")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location.expect("location");
    assert!(location.starts_with(&format!("/accounts/{account}?posted=dp_")), "{location}");
    let statement = web.get(&location).await;
    assert_eq!(statement.status, StatusCode::OK);
    assert!(statement.body.contains("Depósito de R$ 1.234,56 na conta"), "{}", statement.body);
    assert!(statement.body.contains("<span class=\"entry-kind\">Depósito</span>"));
    assert!(statement.body.contains("R$ 1.234,56"));
    // "1234.57" is not an amount in pt-BR (the point groups thousands): said next to the field.
    let page = web.submit("/withdraw", &[("account", &account), ("amount", "1234.57")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Use vírgula para os centavos"), "{}", page.body);
    // Too much is refused next to the amount.
    let page = web.submit("/withdraw", &[("account", &account), ("amount", "1.234,57")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("id=\"amount-error\""), "{}", page.body);
    assert!(page.body.contains("Saldo insuficiente"));
    let page = web.submit("/withdraw", &[("account", &account), ("amount", "34,56")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let statement = web.get(&format!("/accounts/{account}")).await;
    assert!(statement.body.contains("-R$ 34,56"));
    assert!(statement.body.contains("R$ 1.200,00"));
    let index_of = |needle: &str| statement.body.find(needle).expect(needle);
    assert!(index_of(">Saque<") < index_of(">Depósito<"), "newest first");
}

#[tokio::test]
async fn statement_is_paginated_newest_first() {
    let bank = TestBank::start("alfa").await;
    let mut web = WebClient::new(&bank);
    let cpf = new_cpf();
    let dashboard = web.sign_up(&cpf, "Gil").await;
    let account = first_account(&dashboard.body);
    let token = bank.sign_in(&cpf).await;
    for cents in 1..=25 {
        bank.deposit(&token, &account, cents * 100).await;
    }
    let first = web.get(&format!("/accounts/{account}")).await;
    assert!(first.body.contains("R$ 25,00") && !first.body.contains(">R$ 5,00<"), "{}", first.body);
    let older = first
        .body
        .split("rel=\"next\"")
        .next()
        .and_then(|b| b.rsplit("href=\"").next())
        .and_then(|h| h.split('"').next())
        .unwrap()
        .to_string();
    let older = older.replace("&amp;", "&");
    let second = web.get(&older).await;
    assert!(second.body.contains(">R$ 5,00<") && second.body.contains(">R$ 1,00<"), "{}", second.body);
    assert!(!second.body.contains("rel=\"next\""));
}

#[tokio::test]
async fn another_customers_account_and_transfer_are_not_found() {
    let bank = TestBank::start("alfa").await;
    let mut owner = WebClient::new(&bank);
    let account = first_account(&owner.sign_up(&new_cpf(), "Hugo").await.body);
    let mut other = WebClient::new(&bank);
    other.sign_up(&new_cpf(), "Iris").await;
    let page = other.get(&format!("/accounts/{account}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Página não encontrada"), "{}", page.body);
    assert_eq!(other.get("/accounts/not-a-number").await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.get("/transfers/tr_000000000000000000000000").await.status, StatusCode::NOT_FOUND);
    // Depositing into it from the form is refused too, next to the field.
    let page = other.submit("/deposit", &[("account", &account), ("amount", "10")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("id=\"account-error\""));
    // Without a session, pages send people to sign in.
    let mut anonymous = WebClient::new(&bank);
    let page = anonymous.get(&format!("/accounts/{account}")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn portuguese_by_default_and_english_on_request() {
    let bank = TestBank::start("alfa").await;
    let mut web = WebClient::new(&bank);
    let home = web.get("/").await;
    assert!(home.body.contains("<html lang=\"pt-BR\">"));
    assert!(home.body.contains("Abrir minha conta"));
    let english = web.get("/signin?lang=en").await;
    assert!(english.set_cookies.iter().any(|c| c.starts_with("lang=en")));
    assert!(english.body.contains("<html lang=\"en\">"));
    assert!(english.body.contains("Sign in with") || english.body.contains("Access your accounts"), "{}", english.body);
    // The cookie keeps the choice.
    let again = web.get("/").await;
    assert!(again.body.contains("Open my account"), "{}", again.body);
    let back = web.get("/?lang=pt").await;
    assert!(back.body.contains("Abrir minha conta"));
}

#[tokio::test]
async fn transfer_goes_through_a_confirmation_and_shows_its_receipt() {
    let bank = TestBank::start("alfa").await;
    let payee_cpf = new_cpf();
    let payee_token = bank.customer(&payee_cpf, "Joana").await;
    let payee_account = bank.open_account(&payee_token, "individual", &[]).await;
    let mut web = WebClient::new(&bank);
    let cpf = new_cpf();
    let dashboard = web.sign_up(&cpf, "Kleber").await;
    let account = first_account(&dashboard.body);
    let token = bank.sign_in(&cpf).await;
    bank.deposit(&token, &account, 50_000).await;
    let review = web
        .submit(
            "/transfer",
            &[
                ("from_1", &account),
                ("amount_1", "120,50"),
                ("to_bank", "alfa"),
                ("to_account", &payee_account),
                ("description", "Aluguel"),
            ],
        )
        .await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert!(review.body.contains("Confirme a operação"), "{}", review.body);
    assert!(review.body.contains("R$ 120,50"));
    assert_eq!(bank.balance(&token, &account).await.0, 50_000, "nothing moves before confirming");
    let mut form: Vec<(String, String)> = Vec::new();
    for name in ["csrf", "key", "from_1", "amount_1", "to_bank", "to_account", "description"] {
        form.push((name.to_string(), hidden(&review.body, name)));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = web.post("/transfer/confirm", &form).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let receipt_path = done.location.expect("location");
    assert!(receipt_path.starts_with("/transfers/tr_"), "{receipt_path}");
    // Confirming twice (double click, reload) posts once: the form's key is an Idempotency-Key.
    let again = web.post("/transfer/confirm", &form).await;
    assert_eq!(again.location.as_deref(), Some(receipt_path.as_str()));
    assert_eq!(bank.balance(&token, &account).await.0, 50_000 - 12_050);
    assert_eq!(bank.balance(&payee_token, &payee_account).await.0, 12_050);
    let receipt = web.get(&receipt_path).await;
    assert!(receipt.body.contains("status-committed") && receipt.body.contains("Concluída"), "{}", receipt.body);
    let status = web.get(&format!("{receipt_path}/status")).await;
    let status: serde_json::Value = serde_json::from_str(&status.body).expect("json");
    assert_eq!(status["status"], "committed");
    let statement = web.get(&format!("/accounts/{account}")).await;
    assert!(statement.body.contains("-R$ 120,50") && statement.body.contains("Aluguel"));
    bank.assert_audit_passes().await;
}

#[tokio::test]
async fn unknown_bank_and_payment_errors_are_form_errors() {
    let bank = TestBank::start("alfa").await;
    let mut web = WebClient::new(&bank);
    let cpf = new_cpf();
    let account = first_account(&web.sign_up(&cpf, "Lia").await.body);
    let token = bank.sign_in(&cpf).await;
    bank.deposit(&token, &account, 10_000).await;
    let page = web.submit("/transfer", &[("from_1", &account), ("amount_1", "10"), ("to_bank", "beta"), ("to_account", "123")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("id=\"to_bank-error\""), "{}", page.body);
    assert!(page.body.contains("O banco beta não faz parte do consórcio"), "{}", page.body);
    // A payment to a person's account is refused at the review step, next to the destination,
    // with who it is (masked) - and at confirmation too, for a form posted straight there.
    let person_cpf = new_cpf();
    let person_token = bank.customer(&person_cpf, "Mel Rocha").await;
    let person_account = bank.open_account(&person_token, "individual", &[]).await;
    let fields =
        [("from", account.as_str()), ("to_bank", "alfa"), ("to_account", person_account.as_str()), ("amount", "5"), ("reference", "NF 12")];
    let review = web.submit("/pay", &fields).await;
    assert_eq!(review.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", review.body);
    assert!(review.body.contains("id=\"to_account-error\"") && review.body.contains("não é de empresa"), "{}", review.body);
    assert!(review.body.contains("Mel R***"), "{}", review.body);
    let csrf = hidden(&review.body, "csrf");
    let mut posted: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    posted.extend_from_slice(&fields);
    let refused = web.post("/pay/confirm", &posted).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("id=\"to_account-error\""), "{}", refused.body);
    assert_eq!(bank.balance(&token, &account).await.0, 10_000);
}

#[tokio::test]
async fn opening_a_joint_account_with_another_customer() {
    let bank = TestBank::start("alfa").await;
    let partner = new_cpf();
    bank.customer(&partner, "Nina").await;
    let mut web = WebClient::new(&bank);
    web.sign_up(&new_cpf(), "Otto").await;
    let page = web.submit("/accounts/new", &[("kind", "joint"), ("holder_1", "123.456.789-09")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert!(page.body.contains("id=\"holder_1-error\"") && page.body.contains("não é cliente deste banco"), "{}", page.body);
    let page = web.submit("/accounts/new", &[("kind", "joint"), ("holder_1", &ringbank_domain::document::format_document(&partner))]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let account = web.get(page.location.as_deref().expect("location")).await;
    assert!(account.body.contains("Conta conjunta") && account.body.contains("aberta com sucesso"), "{}", account.body);
    let dashboard = web.get("/dashboard").await;
    assert_eq!(dashboard.body.matches("class=\"card account-card\"").count(), 2);
}

#[tokio::test]
async fn ring_monitor_needs_the_admin_secret() {
    let bank = TestBank::start("alfa").await;
    let mut web = WebClient::new(&bank);
    let refused = web.get("/ring").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("action=\"/ring/signin\"") && !refused.body.contains("<svg"), "{}", refused.body);
    assert_eq!(web.get("/ring/live").await.status, StatusCode::UNAUTHORIZED, "nothing presented");
    assert_eq!(web.get("/ring/status.json").await.status, StatusCode::UNAUTHORIZED, "nothing presented");
    let wrong_bearer = web.get_with("/ring", &[("authorization", "Bearer not-the-secret-at-all")]).await;
    assert_eq!(wrong_bearer.status, StatusCode::FORBIDDEN);
    web.set_cookie("rb_admin_alfa", "00ff");
    assert_eq!(web.get("/ring").await.status, StatusCode::FORBIDDEN, "a forged cookie is refused");

    // Tools: the secret as a Bearer token.
    let bearer = format!("Bearer {ADMIN_SECRET}");
    let json = web.get_with("/ring/status.json", &[("authorization", &bearer)]).await;
    assert_eq!(json.status, StatusCode::OK, "{}", json.body);
    let snapshot: serde_json::Value = serde_json::from_str(&json.body).expect("json");
    assert_eq!(snapshot["bank"], "alfa");
    assert_eq!(snapshot["members"][0]["id"], "alfa");
    assert!(snapshot["in_doubt_count"].is_i64() && snapshot["faults"].is_array(), "{snapshot}");

    // People: the sign-in form, a wrong secret first.
    let csrf = hidden(&refused.body, "csrf");
    let wrong = web.post("/ring/signin", &[("csrf", &csrf), ("secret", "wrong-secret-wrong-secret")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("Segredo incorreto"), "{}", wrong.body);
    let forged = web.post("/ring/signin", &[("csrf", "x"), ("secret", ADMIN_SECRET)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "no CSRF token, no cookie");
    assert!(forged.set_cookies.iter().all(|c| !c.starts_with("rb_admin_alfa=")));
    let signed = web.post("/ring/signin", &[("csrf", &csrf), ("secret", ADMIN_SECRET)]).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let cookie = signed.set_cookies.iter().find(|c| c.starts_with("rb_admin_alfa=")).expect("admin cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/ring"), "{cookie}");
    assert!(!cookie.contains(ADMIN_SECRET), "the cookie proves the secret without holding it");
    let monitor = web.get("/ring").await;
    assert_eq!(monitor.status, StatusCode::OK, "{}", monitor.body);
    assert!(monitor.body.contains("<svg") && monitor.body.contains("data-bank=\"alfa\""), "{}", monitor.body);
    assert!(monitor.body.contains("/static/ring.js") && monitor.body.contains("http-equiv=\"refresh\""));
    let live = web.get("/ring/live").await;
    assert_eq!(live.status, StatusCode::OK);
    assert!(live.body.contains("<svg") && !live.body.contains("<html"), "a fragment");
    let signed_out = web.post("/ring/signout", &[]).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(web.get("/ring").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn dashboard_lists_accounts_at_the_other_banks_and_survives_one_down() {
    let mut consortium = Consortium::start(3, &[]).await;
    let (a, b) = (consortium.view(0), consortium.view(1));
    let cpf = new_cpf();
    let token_b = b.customer(&cpf, "Célia").await;
    let account_b = b.open_account(&token_b, "individual", &[]).await;
    b.deposit(&token_b, &account_b, 98_765).await;
    let consent = b.grant_consent(&token_b, "A", &account_b, 100_000).await;
    let mut web = WebClient::new(&a);
    let card = format!("data-bank=\"B\" data-number=\"{account_b}\"");
    // Without a consent brought to A, A sees nothing of B (the same CPF proves nothing there).
    let before = web.sign_up(&cpf, "Célia").await;
    assert!(!before.body.contains(&card) && !before.body.contains("R$ 987,65"), "{}", before.body);
    let token_a = a.sign_in(&cpf).await;
    a.link_consent(&token_a, "B", &consent).await;
    let dashboard = web.get("/dashboard").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert!(dashboard.body.contains(&card), "{}", dashboard.body);
    assert!(dashboard.body.contains("R$ 987,65"), "{}", dashboard.body);
    assert!(dashboard.body.contains("Você não tem contas no banco C"), "{}", dashboard.body);
    // The transfer form offers the account at B as a source.
    let form = web.get(&format!("/transfer?from_bank=B&from={account_b}")).await;
    assert!(form.body.contains(&format!("<option value=\"{account_b}\" selected>")), "{}", form.body);
    assert!(form.body.contains("<option value=\"B\" selected>"), "{}", form.body);
    // A bank that does not answer is shown as unavailable; the page still renders.
    consortium.kill9(1).await;
    let started = std::time::Instant::now();
    let dashboard = web.get("/dashboard").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "a short timeout");
    assert!(dashboard.body.contains("O banco B não respondeu"), "{}", dashboard.body);
}

#[tokio::test]
async fn two_source_cross_bank_transfer_from_the_pages() {
    let consortium = Consortium::start(2, &[]).await;
    let (a, b) = (consortium.view(0), consortium.view(1));
    let payee_token = b.customer(&new_cpf(), "Loja do Bairro").await;
    let payee_account = b.open_account(&payee_token, "individual", &[]).await;
    let cpf = new_cpf();
    let mut web = WebClient::new(&a);
    let dashboard = web.sign_up(&cpf, "Davi").await;
    let account_a = first_account(&dashboard.body);
    let token_a = a.sign_in(&cpf).await;
    a.deposit(&token_a, &account_a, 20_000).await;
    let token_b = b.customer(&cpf, "Davi").await;
    let account_b = b.open_account(&token_b, "individual", &[]).await;
    b.deposit(&token_b, &account_b, 10_000).await;
    let consent = b.grant_consent(&token_b, "A", &account_b, 100_000).await;
    a.link_consent(&token_a, "B", &consent).await;
    let fields = [
        ("from_bank_1", "A"),
        ("from_1", account_a.as_str()),
        ("amount_1", "100,00"),
        ("from_bank_2", "B"),
        ("from_2", account_b.as_str()),
        ("amount_2", "50,25"),
        ("to_bank", "B"),
        ("to_account", payee_account.as_str()),
        ("description", "Duas origens"),
    ];
    let review = web.submit("/transfer", &fields).await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert!(review.body.contains("Confirme a operação") && review.body.contains("R$ 150,25"), "{}", review.body);
    assert_eq!(hidden(&review.body, "from_bank_2"), "B");
    let (receipt_path, status) = transfer_from_the_pages(&mut web, &fields).await;
    assert_eq!(status["status"], "committed", "{status}");
    assert_eq!(a.balance(&token_a, &account_a).await.0, 10_000);
    // Committed means decided; the participant B books it when the outcome reaches it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while b.balance(&payee_token, &payee_account).await.0 != 15_025 {
        assert!(std::time::Instant::now() < deadline, "the outcome never reached B");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(b.balance(&token_b, &account_b).await.0, 10_000 - 5_025);
    let receipt = web.get(&receipt_path).await;
    assert!(receipt.body.contains("status-committed"), "{}", receipt.body);
    // The ring monitor lists it at both banks: coordinator at A, participant at B.
    let id = receipt_path.trim_start_matches("/transfers/").to_string();
    let bearer = format!("Bearer {ADMIN_SECRET}");
    for (bank, role) in [(&a, "coordinator"), (&b, "participant")] {
        let (status, snapshot) = bank.call_with(reqwest::Method::GET, "/ring/status.json", None, None, &[("authorization", &bearer)]).await;
        assert_eq!(status, StatusCode::OK, "{snapshot}");
        let listed = snapshot["recent_cross"].as_array().expect("list").iter().find(|x| x["id"] == id.as_str()).cloned();
        let listed = listed.unwrap_or_else(|| panic!("{id} not in {snapshot}"));
        assert_eq!(listed["role"], role);
        assert_eq!(listed["status"], "committed");
        assert_eq!(snapshot["members"].as_array().expect("members").len(), 2);
    }

    // More than the account at B has (as B reports it): refused at the review step, before
    // anything is sent, and at confirmation too for a form posted straight there. (A refusal by
    // the other bank itself, after confirming, is in web_ux.rs.)
    let fields = [
        ("from_bank_1", "B"),
        ("from_1", account_b.as_str()),
        ("amount_1", "999,00"),
        ("to_bank", "A"),
        ("to_account", account_a.as_str()),
    ];
    let review = web.submit("/transfer", &fields).await;
    assert_eq!(review.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", review.body);
    assert!(review.body.contains("id=\"amount_1-error\"") && review.body.contains("disponíveis"), "{}", review.body);
    let csrf = hidden(&review.body, "csrf");
    let mut posted: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    posted.extend_from_slice(&fields);
    let refused = web.post("/transfer/confirm", &posted).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    // Nothing was held or moved at B.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while b.balance(&token_b, &account_b).await != (10_000 - 5_025, 10_000 - 5_025) {
        assert!(std::time::Instant::now() < deadline, "a hold was left behind at B");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // A source at another bank that the customer does not hold is refused on the form.
    let other = web
        .submit(
            "/transfer",
            &[
                ("from_bank_1", "B"),
                ("from_1", payee_account.as_str()),
                ("amount_1", "1,00"),
                ("to_bank", "A"),
                ("to_account", account_a.as_str()),
            ],
        )
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", other.body);
    assert!(other.body.contains("from_1-error"), "{}", other.body);
}

/// Submits the transfer form, confirms it, and waits for the comprovante to leave "pending";
/// returns its path and status. A transfer aborted because a bank did not answer within the
/// lease (a loaded machine) is asked again, up to three times: that abort is safe, and not
/// what these tests look at.
async fn transfer_from_the_pages(web: &mut WebClient, fields: &[(&str, &str)]) -> (String, serde_json::Value) {
    for attempt in 0..3 {
        // After such an abort, the other bank releases its hold when the outcome reaches it:
        // until then the review step rightly finds less available there.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let review = loop {
            let review = web.submit("/transfer", fields).await;
            if review.status == StatusCode::OK || attempt == 0 || std::time::Instant::now() > deadline {
                break review;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        assert_eq!(review.status, StatusCode::OK, "{}", review.body);
        let mut form: Vec<(String, String)> =
            vec![("csrf".into(), hidden(&review.body, "csrf")), ("key".into(), hidden(&review.body, "key"))];
        form.extend(fields.iter().map(|(name, _)| (name.to_string(), hidden(&review.body, name))));
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let done = web.post("/transfer/confirm", &form).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        let path = done.location.expect("location");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            let status: serde_json::Value = serde_json::from_str(&web.get(&format!("{path}/status")).await.body).expect("json");
            if status["status"] != "pending" {
                break status;
            }
            assert!(std::time::Instant::now() < deadline, "still pending: {status}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        if !status["reason"].as_str().is_some_and(|r| r.contains("não respondeu a tempo")) {
            return (path, status);
        }
    }
    panic!("the other bank never answered within the lease");
}

#[tokio::test]
async fn a_limit_at_the_other_bank_is_explained_in_portuguese_on_the_comprovante() {
    let consortium = Consortium::start(2, &[]).await;
    let (a, b) = (consortium.view(0), consortium.view(1));
    let cpf = new_cpf();
    let mut web = WebClient::new(&a);
    let dashboard = web.sign_up(&cpf, "Lia").await;
    let account_a = first_account(&dashboard.body);
    let token_b = b.customer(&cpf, "Lia").await;
    let account_b = b.open_account(&token_b, "individual", &[]).await;
    b.deposit(&token_b, &account_b, 50_000).await;
    let consent = b.grant_consent(&token_b, "A", &account_b, 100_000).await;
    a.link_consent(&a.sign_in(&cpf).await, "B", &consent).await;
    // Lia's own limit at B: R$ 100,00 per transfer (a lower limit applies at once).
    let (status, body) = b
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/accounts/{account_b}/limits"),
            Some(&token_b),
            Some(serde_json::json!({ "per_transfer_cents": 10_000 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fields = [
        ("from_bank_1", "B"),
        ("from_1", account_b.as_str()),
        ("amount_1", "150,00"),
        ("to_bank", "A"),
        ("to_account", account_a.as_str()),
        ("description", "Acima do limite"),
    ];
    let (path, status) = transfer_from_the_pages(&mut web, &fields).await;
    assert_eq!(status["status"], "aborted", "{status}");
    let expected =
        format!("Banco B: o limite por transferência da conta {account_b} é R$ 100,00; restam R$ 100,00 e a transferência pede R$ 150,00.");
    assert_eq!(status["reason"], expected.as_str(), "{status}");
    let receipt = web.get(&path).await;
    assert!(receipt.body.contains(&expected), "{}", receipt.body);
    assert!(!receipt.body.contains("centavos") && !receipt.body.contains("limit per transfer"), "{}", receipt.body);
    // Within the limit it goes through.
    let fields =
        [("amount_1", "80,00"), ("from_bank_1", "B"), ("from_1", account_b.as_str()), ("to_bank", "A"), ("to_account", account_a.as_str())];
    let (_, status) = transfer_from_the_pages(&mut web, &fields).await;
    assert_eq!(status["status"], "committed", "{status}");
    // B books the debit when the coordinator's commit reaches it (it holds the amount until then).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while b.balance(&token_b, &account_b).await.0 != 50_000 - 8_000 {
        assert!(std::time::Instant::now() < deadline, "B never booked the committed debit");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
