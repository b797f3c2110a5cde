//! The pages' consent round trip over plain HTTP (tests/it/browser.rs drives it in a real
//! browser): bank A's `state` is bound to the session and single use, bank B sends the customer
//! back only to A's configured URL, the one-time code is single use and redeemable only by the
//! bank it was granted to, and nothing but the code and the state travels in URLs.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;
use crate::web::{hidden, Page, WebClient};

/// A signed bank-to-bank call as bank `sender`.
async fn signed(sender: &str, url: &str, path: &str, body: &Value) -> Result<Value, ringbank::peer::PeerError> {
    ringbank::peer::PeerClient::new(sender, test_key(sender)).call(url, path, body).await
}

/// Asserts a bank-to-bank call was refused as an invalid consent code.
fn assert_code_refused(result: Result<Value, ringbank::peer::PeerError>) {
    match result {
        Err(ringbank::peer::PeerError::Refused { status, body }) => {
            assert_eq!(status, 422, "{body}");
            assert!(body.contains("consent-code-invalid"), "{body}");
        }
        other => panic!("expected consent-code-invalid, got {other:?}"),
    }
}

/// The query parameters of a URL.
fn query_of(url: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(url.split_once('?').map(|(_, q)| q).unwrap_or("")).expect("a query")
}

fn param(url: &str, name: &str) -> String {
    query_of(url).into_iter().find(|(k, _)| k == name).map(|(_, v)| v).unwrap_or_default()
}

/// The path and query of an absolute URL on `base`.
fn local(base: &str, url: &str) -> String {
    url.strip_prefix(base).unwrap_or_else(|| panic!("{url} is not on {base}")).to_string()
}

/// Signs in with the form at the web client's bank.
async fn sign_in(web: &mut WebClient, cpf: &str) {
    let page = web.submit("/signin", &[("document", cpf), ("password", PASSWORD)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

/// At A: "use an account at another bank", bank B; returns the URL A redirects to.
async fn start_at_a(web_a: &mut WebClient, url_b: &str) -> String {
    let page = web_a.submit("/consents/link", &[("bank", "B")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location.expect("a redirect to bank B");
    assert!(location.starts_with(&format!("{url_b}/consents/authorize?")), "{location}");
    location
}

/// At B (signed in): the consent page of `authorize_path`, granted on `account`; returns B's answer.
async fn grant_at_b(web_b: &mut WebClient, authorize_path: &str, account: &str) -> Page {
    let form = web_b.get(authorize_path).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let fields = ["csrf", "client", "state", "return_to"].map(|name| (name, hidden(&form.body, name)));
    let mut post: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    post.extend([("decision", "grant"), ("account", account), ("max_per_transfer", "50,00"), ("max_total", "100,00"), ("valid_days", "7")]);
    web_b.post("/consents/authorize", &post).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_consent_state_is_bound_to_the_session_and_single_use_and_so_is_the_code() {
    let consortium = Consortium::start(2, &[]).await;
    let (a, b) = (consortium.view(0), consortium.view(1));
    let (url_a, url_b) = (consortium.url(0), consortium.url(1));
    let cpf = new_cpf();
    let token_b = b.customer(&cpf, "Bia").await;
    let account_b = b.open_account(&token_b, "individual", &[]).await;
    let mut web_a = WebClient::new(&a);
    web_a.sign_up(&cpf, "Bia").await;
    let mut web_b = WebClient::new(&b);

    // Round 1. At B, not signed in: B's sign-in page, which comes back to the consent page.
    let to_b = start_at_a(&mut web_a, &url_b).await;
    assert_eq!(param(&to_b, "client"), "A");
    assert_eq!(param(&to_b, "return_to"), format!("{url_a}/consents/return"));
    let state_1 = param(&to_b, "state");
    assert!(state_1.len() >= 32, "{state_1}");
    let page = web_b.get(&local(&url_b, &to_b)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let signin = page.location.expect("to sign in");
    assert!(signin.starts_with("/signin?next="), "{signin}");
    let form = web_b.get(&signin).await;
    let next = hidden(&form.body, "next").replace("&#38;", "&");
    assert_eq!(next, local(&url_b, &to_b));
    let csrf = hidden(&form.body, "csrf");
    let page = web_b.post("/signin", &[("csrf", &csrf), ("document", &cpf), ("password", PASSWORD), ("next", &next)]).await;
    assert_eq!(page.location.as_deref(), Some(next.as_str()));
    let back = grant_at_b(&mut web_b, &next, &account_b).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let back = back.location.expect("back to A");
    assert!(back.starts_with(&format!("{url_a}/consents/return?")), "{back}");
    // Only the one-time code and the state travel in the URL: no consent id.
    let keys: Vec<String> = query_of(&back).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["code", "state"]);
    let consents = b.as_customer(&token_b).consents().await.expect("consents");
    assert_eq!(consents.len(), 1);
    assert!(!back.contains(&consents[0].id), "{back}");
    let code_1 = param(&back, "code");
    assert_eq!(param(&back, "state"), state_1);

    // A wrong state is refused, and so is the right one afterwards (single use); nothing linked.
    let wrong = web_a.get(&format!("/consents/return?code={code_1}&state={}", "0".repeat(32))).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("não corresponde a um pedido feito nesta sessão"), "{}", wrong.body);
    let replay = web_a.get(&local(&url_a, &back)).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.body);
    let token_a = a.sign_in(&cpf).await;
    let (_, linked) = a.get("/api/v1/linked-consents", Some(&token_a)).await;
    assert_eq!(linked, json!([]));

    // Round 2: a missing state is refused.
    let to_b = start_at_a(&mut web_a, &url_b).await;
    let back = grant_at_b(&mut web_b, &local(&url_b, &to_b), &account_b).await.location.expect("back to A");
    let missing = web_a.get(&format!("/consents/return?code={}", param(&back, "code"))).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);

    // Round 3: the right state links the account; replaying the return is refused.
    let to_b = start_at_a(&mut web_a, &url_b).await;
    let back = grant_at_b(&mut web_b, &local(&url_b, &to_b), &account_b).await.location.expect("back to A");
    let code_3 = param(&back, "code");
    let done = web_a.get(&local(&url_a, &back)).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some(format!("/consents?linked=B&account={account_b}").as_str()));
    let (_, linked) = a.get("/api/v1/linked-consents", Some(&token_a)).await;
    assert_eq!(linked.as_array().map(Vec::len), Some(1), "{linked}");
    assert_eq!(linked[0]["account"], account_b.as_str());
    let dashboard = web_a.get("/dashboard").await;
    assert!(dashboard.body.contains(&format!("data-bank=\"B\" data-number=\"{account_b}\"")), "{}", dashboard.body);
    assert_eq!(web_a.get(&local(&url_a, &back)).await.status, StatusCode::BAD_REQUEST);

    // The code is single use: redeemed once by A, refused the second time.
    assert_code_refused(signed("A", &url_b, "/bank/v1/consent-code", &json!({ "code": code_3 })).await);
    // A used code brought back with a fresh, valid state is refused with a clear message.
    let to_b = start_at_a(&mut web_a, &url_b).await;
    let used = web_a.get(&format!("/consents/return?code={code_3}&state={}", param(&to_b, "state"))).await;
    assert_eq!(used.status, StatusCode::BAD_REQUEST);
    assert!(used.body.contains("expirou ou já foi usado"), "{}", used.body);

    // Refusing at B comes back as a refusal at A, with nothing linked.
    let to_b = start_at_a(&mut web_a, &url_b).await;
    let form = web_b.get(&local(&url_b, &to_b)).await;
    let fields = ["csrf", "client", "state", "return_to"].map(|name| (name, hidden(&form.body, name)));
    let mut post: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    post.push(("decision", "deny"));
    let denied = web_b.post("/consents/authorize", &post).await.location.expect("back to A");
    assert_eq!(query_of(&denied).into_iter().map(|(k, _)| k).collect::<Vec<_>>(), ["error", "state"]);
    let page = web_a.get(&local(&url_a, &denied)).await;
    assert!(page.body.contains("Você recusou a autorização no banco B"), "{}", page.body);
    // An unknown bank is refused at A before anything is sent anywhere.
    let form = web_a.get("/consents/link").await;
    let unknown = web_a.post("/consents/link", &[("csrf", &hidden(&form.body, "csrf")), ("bank", "Z")]).await;
    assert!(unknown.location.is_none());
    assert!(unknown.body.contains("O banco Z não faz parte do consórcio"), "{}", unknown.body);
    // Without the CSRF token, nothing starts.
    let forged = web_a.post("/consents/link", &[("csrf", "nope"), ("bank", "B")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Not signed in at A: one same-site hop (the session cookie is SameSite=Strict), then a refusal.
    let mut stranger = WebClient::new(&a);
    let hop = stranger.get(&format!("/consents/return?code={code_1}&state={state_1}")).await;
    assert_eq!(hop.status, StatusCode::OK);
    assert!(hop.body.contains("http-equiv=\"refresh\""), "{}", hop.body);
    let refused = stranger.get(&format!("/consents/return?code={code_1}&state={state_1}&hop=1")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("não está conectado"), "{}", refused.body);
    // Only round 3's consent was linked.
    let (_, linked) = a.get("/api/v1/linked-consents", Some(&token_a)).await;
    assert_eq!(linked.as_array().map(Vec::len), Some(1), "{linked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_consent_page_refuses_a_return_url_not_the_members_and_only_the_grantee_redeems_the_code() {
    let consortium = Consortium::start(3, &[]).await;
    let b = consortium.view(1);
    let (url_a, url_b, url_c) = (consortium.url(0), consortium.url(1), consortium.url(2));
    let cpf = new_cpf();
    let token_b = b.customer(&cpf, "Caio").await;
    let account_b = b.open_account(&token_b, "individual", &[]).await;
    let mut web_b = WebClient::new(&b);
    sign_in(&mut web_b, &cpf).await;
    let state = "s".repeat(32);
    let authorize = |client: &str, return_to: &str| {
        format!(
            "/consents/authorize?{}",
            serde_urlencoded::to_string([("client", client), ("state", &state), ("return_to", return_to)]).expect("query")
        )
    };

    // Return URLs that are not A's configured one, and a client that is not a member.
    for (client, return_to) in [
        ("A", "http://evil.example/consents/return".to_string()),
        ("A", format!("{url_c}/consents/return")),
        ("A", format!("{url_a}/consents/return/../../steal")),
        ("A", format!("{url_a}/elsewhere")),
    ] {
        let page = web_b.get(&authorize(client, &return_to)).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{return_to}: {}", page.body);
        assert!(page.body.contains("O endereço de retorno não é o do banco A"), "{}", page.body);
        assert!(page.location.is_none());
    }
    let unknown = web_b.get(&authorize("Z", &format!("{url_a}/consents/return"))).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.body.contains("O banco Z que pediu a autorização não faz parte do consórcio"), "{}", unknown.body);
    // A forged form post with a foreign return URL grants nothing and redirects nowhere.
    let form = web_b.get(&authorize("A", &format!("{url_a}/consents/return"))).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let csrf = hidden(&form.body, "csrf");
    let forged = web_b
        .post(
            "/consents/authorize",
            &[
                ("csrf", &csrf),
                ("client", "A"),
                ("state", &state),
                ("return_to", "http://evil.example/consents/return"),
                ("decision", "grant"),
                ("account", &account_b),
                ("max_per_transfer", "50,00"),
                ("max_total", "100,00"),
                ("valid_days", "7"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(forged.location.is_none());
    // Limits that do not make sense are form errors; nothing is granted.
    let return_to = format!("{url_a}/consents/return");
    let bad = web_b
        .post(
            "/consents/authorize",
            &[
                ("csrf", &csrf),
                ("client", "A"),
                ("state", &state),
                ("return_to", &return_to),
                ("decision", "grant"),
                ("account", &account_b),
                ("max_per_transfer", "50,00"),
                ("max_total", "20,00"),
                ("valid_days", "2"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("O limite total deve ser ao menos o limite por transferência"), "{}", bad.body);
    assert!(bad.body.contains("Escolha a validade"), "{}", bad.body);
    assert!(b.as_customer(&token_b).consents().await.expect("consents").is_empty());

    // A real grant to A: bank C cannot redeem the code, and its try does not burn it for A.
    let back = grant_at_b(&mut web_b, &authorize("A", &format!("{url_a}/consents/return")), &account_b).await;
    let back = back.location.expect("back to A");
    assert!(back.starts_with(&format!("{url_a}/consents/return?")), "{back}");
    let code = param(&back, "code");
    assert_code_refused(signed("C", &url_b, "/bank/v1/consent-code", &json!({ "code": code })).await);
    let redeemed = signed("A", &url_b, "/bank/v1/consent-code", &json!({ "code": code })).await.expect("A redeems its code");
    assert_eq!(redeemed["grantee"], "A");
    assert_eq!(redeemed["account"], account_b.as_str());
    assert_code_refused(signed("A", &url_b, "/bank/v1/consent-code", &json!({ "code": code })).await);
    assert_code_refused(signed("A", &url_b, "/bank/v1/consent-code", &json!({ "code": "0".repeat(48) })).await);

    // The customer sees the consent at B and revokes it in the pages.
    let list = web_b.get("/consents").await;
    let id = redeemed["id"].as_str().expect("an id");
    assert!(list.body.contains(&format!("data-id=\"{id}\" data-status=\"active\"")), "{}", list.body);
    let revoked = web_b.post(&format!("/consents/{id}/revoke"), &[("csrf", &hidden(&list.body, "csrf"))]).await;
    assert_eq!(revoked.location.as_deref(), Some("/consents?revoked=1"));
    let list = web_b.get("/consents").await;
    assert!(list.body.contains(&format!("data-id=\"{id}\" data-status=\"revoked\"")), "{}", list.body);
    // Without the CSRF token nothing is revoked (checked on a second consent).
    let back = grant_at_b(&mut web_b, &authorize("A", &format!("{url_a}/consents/return")), &account_b).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    let second = b.as_customer(&token_b).consents().await.expect("consents").into_iter().find(|c| c.status == "active").expect("active");
    let refused = web_b.post(&format!("/consents/{}/revoke", second.id), &[("csrf", "nope")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(b.as_customer(&token_b).consents().await.expect("consents").iter().filter(|c| c.status == "active").count(), 1);
}
