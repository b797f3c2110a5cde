//! "Minhas chaves Pix" over plain HTTP with two banks: the account page links to it; keys are
//! registered (CPF, random, an e-mail confirmed by typing the code), listed, and deleted after a
//! confirm step; a portability claim is made from the new bank's page and confirmed (or refused)
//! from the old bank's; a stranger's claim is refused in Portuguese; a typed key on the Pix
//! paste page leads to the review with the payee's name and masked document, then pays.

use reqwest::Method;
use serde_json::Value;

use crate::common::*;
use crate::pix_keys::replicas_identical;
use crate::web::{hidden, Page, WebClient};

fn account_link(body: &str) -> String {
    body.split("href=\"/accounts/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
        .expect("an account link")
        .to_string()
}

/// The id of the first claim on the page that offers a confirm button.
fn claim_to_confirm(body: &str) -> String {
    body.split("id=\"claim-confirm-").nth(1).and_then(|rest| rest.split('"').next()).expect("a claim to confirm").to_string()
}

/// The last code the development notifier sent (the operator's outbox).
async fn last_code(bank: &TestBank) -> String {
    let auth = format!("Bearer {ADMIN_SECRET}");
    let (status, outbox): (_, Value) = bank.call_with(Method::GET, "/admin/v1/outbox", None, None, &[("authorization", &auth)]).await;
    assert_eq!(status, 200, "{outbox}");
    outbox.as_array().unwrap().last().unwrap()["text"].as_str().unwrap().rsplit(' ').next().unwrap().to_string()
}

async fn keys_page(web: &mut WebClient, account: &str) -> Page {
    let page = web.get(&format!("/accounts/{account}/pix/keys")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

#[tokio::test]
async fn pix_key_pages_list_register_confirm_delete_claim_and_pay_a_typed_key() {
    let consortium = Consortium::start(2, &[]).await;
    let banks: Vec<TestBank> = (0..2).map(|i| consortium.view(i)).collect();
    let (a, b) = (&banks[0], &banks[1]);
    let cpf = new_cpf();
    let mut at_a = WebClient::new(a);
    let dashboard = at_a.sign_up(&cpf, "Helena Costa").await;
    let account_a = account_link(&dashboard.body);
    let keys_path = format!("/accounts/{account_a}/pix/keys");
    let account_page = at_a.get(&format!("/accounts/{account_a}")).await;
    assert!(account_page.body.contains(&format!("href=\"{keys_path}\"")), "the account page links to its keys");
    let page = keys_page(&mut at_a, &account_a).await;
    assert!(page.body.contains("Minhas chaves Pix") && page.body.contains("id=\"keys-none\""), "{}", page.body);
    let csrf = hidden(&page.body, "csrf");

    // Without the form's CSRF token nothing is registered.
    let forged = at_a.post(&keys_path, &[("kind", "random")]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    // The CPF and a random key.
    for kind in ["document", "random"] {
        let done = at_a.post(&keys_path, &[("csrf", &csrf), ("kind", kind)]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location.as_deref(), Some(format!("{keys_path}?notice=registered").as_str()));
    }
    // An e-mail: a malformed one is refused on the field; a good one gets the code form.
    let bad = at_a.post(&keys_path, &[("csrf", &csrf), ("kind", "email"), ("value", "helena@")]).await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("id=\"value-error\"") && bad.body.contains("E-mail ou telefone inválido"), "{}", bad.body);
    let sent = at_a.post(&keys_path, &[("csrf", &csrf), ("kind", "email"), ("value", "Helena.Costa@Example.com")]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains("id=\"keys-code\"") && sent.body.contains("helena.costa@example.com"), "{}", sent.body);
    let confirmation = hidden(&sent.body, "confirmation_id");
    let code = last_code(a).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let confirm_path = format!("{keys_path}/confirm");
    let refused = at_a
        .post(
            &confirm_path,
            &[("csrf", &csrf), ("confirmation_id", &confirmation), ("sent_to", "helena.costa@example.com"), ("code", wrong)],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("id=\"code-error\"") && refused.body.contains("id=\"keys-code\""), "{}", refused.body);
    assert!(refused.body.contains("Código incorreto ou expirado"), "{}", refused.body);
    let done = at_a
        .post(
            &confirm_path,
            &[("csrf", &csrf), ("confirmation_id", &confirmation), ("sent_to", "helena.costa@example.com"), ("code", &code)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let page = at_a.get(&format!("{keys_path}?notice=registered")).await;
    assert!(page.body.contains("Chave cadastrada."), "{}", page.body);
    assert_eq!(page.body.matches("class=\"key-line\"").count(), 3, "{}", page.body);
    assert!(page.body.contains("helena.costa@example.com") && page.body.contains("data-kind=\"random\""), "{}", page.body);

    // Deleting asks first; only the confirmed form deletes.
    let delete_path = format!("{keys_path}/delete");
    let ask = at_a.post(&delete_path, &[("csrf", &csrf), ("key", "helena.costa@example.com")]).await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    assert!(ask.body.contains("Excluir chave Pix") && ask.body.contains("name=\"confirmed\" value=\"yes\""), "{}", ask.body);
    assert!(keys_page(&mut at_a, &account_a).await.body.contains("helena.costa@example.com"), "asking deleted nothing");
    let deleted = at_a.post(&delete_path, &[("csrf", &csrf), ("key", "helena.costa@example.com"), ("confirmed", "yes")]).await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    let page = keys_page(&mut at_a, &account_a).await;
    assert!(!page.body.contains("helena.costa@example.com"), "{}", page.body);
    let unknown = at_a.post(&delete_path, &[("csrf", &csrf), ("key", "helena.costa@example.com"), ("confirmed", "yes")]).await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    // English on request.
    let english = at_a.get(&format!("{keys_path}?lang=en")).await;
    assert!(english.body.contains("My Pix keys") && english.body.contains("Key portability"), "{}", english.body);
    let _ = at_a.get(&format!("{keys_path}?lang=pt")).await;
    let random_key = page
        .body
        .split("data-kind=\"random\"")
        .nth(1)
        .and_then(|rest| rest.split("name=\"key\" value=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("the random key's delete form")
        .to_string();
    replicas_identical(&banks, 4, std::time::Duration::from_secs(10)).await;

    // Helena at B brings her CPF key there from B's page; she confirms at A's.
    let mut at_b = WebClient::new(b);
    let dashboard = at_b.sign_up(&cpf, "Helena Costa").await;
    let account_b = account_link(&dashboard.body);
    let page_b = keys_page(&mut at_b, &account_b).await;
    let csrf_b = hidden(&page_b.body, "csrf");
    let claims_b = format!("/accounts/{account_b}/pix/claims");
    let empty = at_b.post(&claims_b, &[("csrf", &csrf_b), ("claim_key", "")]).await;
    assert_eq!(empty.status, 422);
    let malformed = at_b.post(&claims_b, &[("csrf", &csrf_b), ("claim_key", "not a key")]).await;
    assert_eq!(malformed.status, 422);
    assert!(malformed.body.contains("Esta chave não pode ser trazida"), "{}", malformed.body);
    let claimed = at_b.post(&claims_b, &[("csrf", &csrf_b), ("claim_key", &cpf)]).await;
    assert_eq!(claimed.status, 303, "{}", claimed.body);
    let page_b = at_b.get(&format!("/accounts/{account_b}/pix/keys?notice=claimed")).await;
    assert!(page_b.body.contains("claim-pending") && page_b.body.contains("Aguardando confirmação"), "{}", page_b.body);
    let page = keys_page(&mut at_a, &account_a).await;
    let id = claim_to_confirm(&page.body);
    let confirmed = at_a.post(&format!("/accounts/{account_a}/pix/claims/{id}/confirm"), &[("csrf", &csrf)]).await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    let page = at_a.get(&format!("{keys_path}?notice=confirmed")).await;
    assert!(page.body.contains("Portabilidade confirmada") && page.body.contains("Concluída"), "{}", page.body);
    assert_eq!(page.body.matches("class=\"key-line\"").count(), 1, "only the random key is left at A: {}", page.body);
    // B lists it once its replica has applied the move (committed by both banks, learned by B
    // from the commit message).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page_b = keys_page(&mut at_b, &account_b).await;
        if page_b.body.contains("data-kind=\"cpf\"") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the CPF key never showed at B: {}", page_b.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // A stranger's claim of her random key is refused in Portuguese; her own is refused by her at A.
    let mut stranger = WebClient::new(b);
    let dashboard = stranger.sign_up(&new_cpf(), "Pedro Alves").await;
    let stranger_account = account_link(&dashboard.body);
    let page_s = keys_page(&mut stranger, &stranger_account).await;
    let csrf_s = hidden(&page_s.body, "csrf");
    let refused =
        stranger.post(&format!("/accounts/{stranger_account}/pix/claims"), &[("csrf", &csrf_s), ("claim_key", &random_key)]).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("Portabilidade recusada"), "{}", refused.body);
    let claimed = at_b.post(&claims_b, &[("csrf", &csrf_b), ("claim_key", &random_key)]).await;
    assert_eq!(claimed.status, 303, "{}", claimed.body);
    let page = keys_page(&mut at_a, &account_a).await;
    let id = claim_to_confirm(&page.body);
    let refused = at_a.post(&format!("/accounts/{account_a}/pix/claims/{id}/refuse"), &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, 303, "{}", refused.body);
    let page = at_a.get(&format!("{keys_path}?notice=refused")).await;
    assert!(page.body.contains("Recusada") && page.body.contains("data-kind=\"random\""), "{}", page.body);

    // Pedro pays Helena by typing her random key on the Pix page: the review names her.
    let deposited = stranger.submit("/deposit", &[("account", &stranger_account), ("amount", "50,00")]).await;
    assert_eq!(deposited.status, 303, "{}", deposited.body);
    let mut review = stranger.submit("/pix", &[("from", &stranger_account), ("payload", &random_key)]).await;
    assert_eq!(review.status, 200, "{}", review.body);
    review.body = review.body.replace("&#x2a;", "*").replace("&#42;", "*");
    assert!(review.body.contains("Confira o pagamento Pix") && review.body.contains("Helena Costa"), "{}", review.body);
    assert!(review.body.contains(&format!("***.{}.{}-**", &cpf[3..6], &cpf[6..9])), "the masked CPF: {}", review.body);
    assert!(!review.body.contains(&cpf), "never the whole CPF: {}", review.body);
    let not_a_key = stranger.submit("/pix", &[("from", &stranger_account), ("payload", "helena@")]).await;
    assert_eq!(not_a_key.status, 422);
    assert!(not_a_key.body.contains("nem uma chave Pix"), "{}", not_a_key.body);
    let csrf = hidden(&review.body, "csrf");
    let key = hidden(&review.body, "key");
    let paid = stranger
        .post(
            "/pix/confirm",
            &[
                ("csrf", &csrf),
                ("from", &stranger_account),
                ("payload", &random_key),
                ("key", &key),
                ("amount", "12,34"),
                ("description", "almoço"),
            ],
        )
        .await;
    assert_eq!(paid.status, 303, "{}", paid.body);
    assert!(paid.location.unwrap_or_default().starts_with("/transfers/"));
}
