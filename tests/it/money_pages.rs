//! The pages of issue 15 over plain HTTP: transfer limits (/accounts/{n}/limits, and a transfer
//! refused by one with a Portuguese sentence), refunds (/transfers/{id}/refund from the
//! statement's "Devolver" link) and scheduled transfers (/schedules, cancel, and the dashboard's
//! notice of a failed one).

use std::time::Duration;

use reqwest::StatusCode;

use crate::common::{new_cpf, Consortium, TestBank};
use crate::web::{hidden, WebClient};

fn first_account(body: &str) -> String {
    body.split("href=\"/accounts/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
        .expect("an account link")
        .to_string()
}

/// Submits the transfer form and confirms it; returns the confirmation's answer.
async fn transfer(web: &mut WebClient, from: &str, to_bank: &str, to: &str, amount: &str) -> crate::web::Page {
    let review = web
        .submit("/transfer", &[("from_1", from), ("amount_1", amount), ("to_bank", to_bank), ("to_account", to), ("description", "teste")])
        .await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    let mut form: Vec<(String, String)> = Vec::new();
    for name in ["csrf", "key", "from_1", "amount_1", "to_bank", "to_account", "description"] {
        form.push((name.to_string(), hidden(&review.body, name)));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    web.post("/transfer/confirm", &form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_page_shows_and_changes_limits_and_a_refused_transfer_says_which_in_portuguese() {
    let bank = TestBank::start("A").await;
    let payee_token = bank.customer(&new_cpf(), "Joana").await;
    let payee = bank.open_account(&payee_token, "individual", &[]).await;
    let mut web = WebClient::new(&bank);
    let cpf = new_cpf();
    let account = first_account(&web.sign_up(&cpf, "Kleber").await.body);
    let token = bank.sign_in(&cpf).await;
    bank.deposit(&token, &account, 500_000).await;

    let statement = web.get(&format!("/accounts/{account}")).await;
    assert!(statement.body.contains(&format!("href=\"/accounts/{account}/limits\"")), "the account page links its limits");
    let page = web.get(&format!("/accounts/{account}/limits")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Limites de transferência") && page.body.contains("Sem limite") && page.body.contains("R$ 1.000,00"),
        "{}",
        page.body
    );

    let bad = web.submit(&format!("/accounts/{account}/limits"), &[("per_transfer", "muito"), ("daily", ""), ("night", "1.000,00")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("id=\"per_transfer-error\""), "{}", bad.body);
    let saved =
        web.submit(&format!("/accounts/{account}/limits"), &[("per_transfer", "100,00"), ("daily", ""), ("night", "1.000,00")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = web.get(saved.location.as_deref().expect("location")).await;
    assert!(page.body.contains("Limites salvos.") && page.body.contains("R$ 100,00"), "{}", page.body);
    // Raising waits: the page says from when.
    let raised =
        web.submit(&format!("/accounts/{account}/limits"), &[("per_transfer", "200,00"), ("daily", ""), ("night", "1.000,00")]).await;
    let page = web.get(raised.location.as_deref().expect("location")).await;
    assert!(page.body.contains("id=\"raise\"") && page.body.contains("Aumento pedido"), "{}", page.body);

    let refused = transfer(&mut web, &account, "A", &payee, "150,00").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.body.contains("Limite por transferência da conta") && refused.body.contains("R$ 100,00"), "{}", refused.body);
    assert_eq!(bank.balance(&token, &account).await.0, 500_000);
}

/// The customer's own limits page (/limits, linked from the dashboard): none at first, changed
/// by the same form, and a transfer over them refused with a sentence that names the
/// customer's limit over all their accounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_limits_page_sets_the_customers_limits_and_a_refusal_names_them() {
    let bank = TestBank::start("A").await;
    let payee_token = bank.customer(&new_cpf(), "Joana").await;
    let payee = bank.open_account(&payee_token, "individual", &[]).await;
    let mut web = WebClient::new(&bank);
    let cpf = new_cpf();
    let dashboard = web.sign_up(&cpf, "Kátia").await;
    let account = first_account(&dashboard.body);
    assert!(dashboard.body.contains("href=\"/limits\""), "the dashboard links the customer's own limits");
    let token = bank.sign_in(&cpf).await;
    bank.deposit(&token, &account, 500_000).await;

    let page = web.get("/limits").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Meus limites") && page.body.contains("id=\"own-lead\"") && !page.body.contains("R$ 1.000,00"),
        "{}",
        page.body
    );
    let bad = web.submit("/limits", &[("per_transfer", ""), ("daily", "-5"), ("night", "")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("id=\"daily-error\""), "{}", bad.body);
    let saved = web.submit("/limits", &[("per_transfer", ""), ("daily", "120,00"), ("night", "")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location.as_deref(), Some("/limits?saved=1"));
    let page = web.get("/limits?saved=1").await;
    assert!(page.body.contains("Limites salvos.") && page.body.contains("R$ 120,00"), "{}", page.body);

    let refused = transfer(&mut web, &account, "A", &payee, "150,00").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    let formatted = ringbank_domain::document::format_document(&cpf);
    assert!(
        refused.body.contains("Seu limite diário (todas as suas contas")
            && refused.body.contains(&formatted)
            && refused.body.contains("restam R$ 120,00"),
        "{}",
        refused.body
    );
    assert_eq!(bank.balance(&token, &account).await.0, 500_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_received_transfer_is_refunded_from_the_statement_in_parts() {
    let bank = TestBank::start("A").await;
    let payer_cpf = new_cpf();
    let payer_token = bank.customer(&payer_cpf, "Pagadora").await;
    let payer = bank.open_account(&payer_token, "individual", &[]).await;
    bank.deposit(&payer_token, &payer, 100_000).await;
    let mut web = WebClient::new(&bank);
    let account = first_account(&web.sign_up(&new_cpf(), "Recebedor").await.body);
    let body = serde_json::json!({
        "debits": [{ "bank": "A", "account": payer, "amount_cents": 10_000 }],
        "credits": [{ "bank": "A", "account": account, "amount_cents": 10_000 }],
        "description": "sinal",
    });
    let (status, made) = bank.post("/api/v1/transfers", Some(&payer_token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let original = made["id"].as_str().unwrap().to_string();

    let statement = web.get(&format!("/accounts/{account}")).await;
    let link = format!("/transfers/{original}/refund?account={account}");
    assert!(statement.body.contains(&link.replace('&', "&amp;")) || statement.body.contains(&link), "{}", statement.body);
    let page = web.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("R$ 100,00"), "{}", page.body);
    let form_key = hidden(&page.body, "key");
    let csrf = hidden(&page.body, "csrf");
    let too_much = web
        .post(
            &format!("/transfers/{original}/refund"),
            &[("csrf", &csrf), ("key", &form_key), ("account", &account), ("amount", "100,01"), ("note", "")],
        )
        .await;
    assert_eq!(too_much.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_much.body.contains("Resta R$ 100,00 para devolver."), "{}", too_much.body);
    let done = web
        .post(
            &format!("/transfers/{original}/refund"),
            &[("csrf", &csrf), ("key", &form_key), ("account", &account), ("amount", "40,00"), ("note", "parte")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = web.get(done.location.as_deref().expect("location")).await;
    assert!(page.body.contains("Devolução de R$ 40,00 feita") && page.body.contains("R$ 60,00"), "{}", page.body);
    // The statement shows the refund, linked to the original.
    let statement = web.get(&format!("/accounts/{account}")).await;
    assert!(statement.body.contains(&format!("devolução de {original}: parte")), "{}", statement.body);
    assert_eq!(bank.balance(&payer_token, &payer).await.0, 100_000 - 10_000 + 4_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_page_creates_and_cancels_and_the_dashboard_tells_of_a_failed_run() {
    let bank =
        TestBank::start_with("A", |config| config.time_zone = ringbank_domain::display::LocalZone::fixed(ringbank_domain::UtcOffset::UTC))
            .await;
    let payee_token = bank.customer(&new_cpf(), "Joana").await;
    let payee = bank.open_account(&payee_token, "individual", &[]).await;
    let mut web = WebClient::new(&bank);
    let dashboard = web.sign_up(&new_cpf(), "Sem Saldo").await;
    assert!(dashboard.body.contains("href=\"/schedules\""), "the dashboard links the schedules");
    let account = first_account(&dashboard.body);
    let when = |ahead_ms: i64| {
        ringbank_domain::schedule::LocalDateTime::from_ms(ringbank::clock::wall_clock_ms() + ahead_ms, ringbank_domain::UtcOffset::UTC)
            .to_string()
    };
    let past = web
        .submit(
            "/schedules",
            &[
                ("from", &account),
                ("to_bank", "A"),
                ("to_account", &payee),
                ("amount", "10,00"),
                ("first_at", &when(-3_600_000)),
                ("repeat", "once"),
            ],
        )
        .await;
    assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(past.body.contains("id=\"first_at-error\""), "{}", past.body);
    let later = web
        .submit(
            "/schedules",
            &[
                ("from", &account),
                ("to_bank", "A"),
                ("to_account", &payee),
                ("amount", "10,00"),
                ("first_at", &when(86_400_000)),
                ("repeat", "weekly"),
            ],
        )
        .await;
    assert_eq!(later.status, StatusCode::SEE_OTHER, "{}", later.body);
    let page = web.get(later.location.as_deref().expect("location")).await;
    assert!(page.body.contains("Transferência agendada.") && page.body.contains("toda semana"), "{}", page.body);
    let id = page.body.split("id=\"schedule-").nth(1).and_then(|r| r.split('"').next()).expect("a schedule").to_string();
    let cancel = web.post(&format!("/schedules/{id}/cancel"), &[("csrf", &hidden(&page.body, "csrf"))]).await;
    assert_eq!(cancel.status, StatusCode::SEE_OTHER, "{}", cancel.body);
    let page = web.get(cancel.location.as_deref().expect("location")).await;
    assert!(page.body.contains("cancelada") && page.body.contains("Agendamento cancelado."), "{}", page.body);

    // An account with no money: the run fails and the dashboard says so.
    let soon = web
        .submit(
            "/schedules",
            &[
                ("from", &account),
                ("to_bank", "A"),
                ("to_account", &payee),
                ("amount", "10,00"),
                ("first_at", &when(1_500)),
                ("repeat", "once"),
            ],
        )
        .await;
    assert_eq!(soon.status, StatusCode::SEE_OTHER, "{}", soon.body);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let dashboard = web.get("/dashboard").await;
        if dashboard.body.contains("schedule-failed") {
            assert!(dashboard.body.contains("Uma transferência agendada não foi feita"), "{}", dashboard.body);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no notice: {}", dashboard.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page = web.get("/schedules").await;
    assert!(page.body.contains("falhou"), "{}", page.body);
}

/// A transfer received from another bank is refunded from the same page: the refund leaves
/// pending (the page says it was sent to the payer's bank), then commits, and the payer at the
/// other bank gets it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_from_another_bank_is_refunded_from_its_page() {
    let consortium = Consortium::start(2, &[]).await;
    let (a, b) = (consortium.view(0), consortium.view(1));
    let payer_token = a.customer(&new_cpf(), "Pagadora").await;
    let payer = a.open_account(&payer_token, "individual", &[]).await;
    a.deposit(&payer_token, &payer, 100_000).await;
    let mut web = WebClient::new(&b);
    let account = first_account(&web.sign_up(&new_cpf(), "Recebedor").await.body);
    let body = serde_json::json!({
        "debits": [{ "bank": "A", "account": payer, "amount_cents": 10_000 }],
        "credits": [{ "bank": "B", "account": account, "amount_cents": 10_000 }],
        "description": "sinal",
    });
    let (status, made) =
        a.call_with(reqwest::Method::POST, "/api/v1/transfers", Some(&payer_token), Some(body), &[("Prefer", "wait=20")]).await;
    assert_eq!((status, made["status"].as_str()), (StatusCode::OK, Some("committed")), "{made}");
    let original = made["id"].as_str().unwrap().to_string();

    let link = format!("/transfers/{original}/refund?account={account}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let page = loop {
        // B applies the outcome as it is delivered.
        let page = web.get(&link).await;
        if page.status == StatusCode::OK || std::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (form_key, csrf) = (hidden(&page.body, "key"), hidden(&page.body, "csrf"));
    let done = web
        .post(
            &format!("/transfers/{original}/refund"),
            &[("csrf", &csrf), ("key", &form_key), ("account", &account), ("amount", "25,00"), ("note", "troco")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = web.get(done.location.as_deref().expect("location")).await;
    let sent = format!("Devolução de R$ 25,00 enviada para a conta {payer} do banco A");
    let made = format!("Devolução de R$ 25,00 feita para a conta {payer}");
    assert!(page.body.contains(&sent) || page.body.contains(&made), "{}", page.body);
    assert!(page.body.contains("R$ 75,00"), "what is left: {}", page.body);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while a.balance(&payer_token, &payer).await.0 != 100_000 - 10_000 + 2_500 {
        assert!(std::time::Instant::now() < deadline, "the refund did not reach the payer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let statement = a.as_customer(&payer_token).statement(&payer, None, None).await.expect("statement");
    assert!(statement.entries.iter().any(|e| e.description == format!("devolução de {original}: troco")), "{statement:?}");
}
