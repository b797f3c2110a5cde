//! "Minhas chaves Pix" for one account (/accounts/{n}/pix/keys): the account's keys in the
//! consortium's directory, registering one (the holder's CPF/CNPJ, a random key, or an e-mail or
//! phone confirmed by typing the code the notifier sent), deleting one after a confirm step, and
//! portability claims: bring a key from another bank to this account, and confirm or refuse a
//! claim on one of this account's keys made at another bank. Server-rendered forms with the
//! session's CSRF token; the use cases are `service::keys` and `service::key_claims`, as the API's.

use std::sync::Arc;

use askama::Template;
use ringbank_domain::PixKeyKind;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::i18n::{Lang, Tr};
use super::session::{visit, Session, Visit};
use super::{error_message, form_body, redirect, render, signed_in, signed_in_post, with_state, Choice, Chrome, Errors, Field, Form};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::service::key_claims::ClaimView;
use crate::service::keys::{KeyView, Registration};
use crate::service::operations::held_account;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    page(state.clone())
        .or(register(state.clone()))
        .unify()
        .or(confirm_code(state.clone()))
        .unify()
        .or(delete(state.clone()))
        .unify()
        .or(claim(state.clone()))
        .unify()
        .or(decide(state))
        .unify()
        .boxed()
}

/// A refusal as the page says it: the translated kind and, in English, the service's detail. A
/// refused value (`invalid-field`) reads as `invalid_key`'s sentence for this form, in Portuguese
/// too (the service's detail is English).
fn refusal_text(t: Tr, error: &ApiError, invalid_key: &str) -> String {
    let message = match error {
        ApiError::InvalidField(_) => t.get(invalid_key).to_string(),
        _ => error_message(t, error),
    };
    let detail = error.to_string();
    if t.lang == Lang::En && !message.contains(&detail) && error.status().is_client_error() {
        format!("{message} ({detail})")
    } else {
        message
    }
}

struct KeyLine {
    key: String,
    display: String,
    kind: &'static str,
    kind_code: &'static str,
}

struct ClaimLine {
    id: String,
    display: String,
    /// The sentence saying where the key goes.
    route: String,
    status: String,
    status_label: &'static str,
    expires: String,
    reason: Option<String>,
    /// A pending claim on a key of this account: the owner confirms or refuses here.
    decide: bool,
}

/// An e-mail or phone key waiting for its code.
struct PendingCode {
    confirmation_id: String,
    sent_to: String,
}

#[derive(Template)]
#[template(path = "pix_keys.html")]
struct KeysPage {
    c: Chrome,
    number: String,
    notice: Option<String>,
    keys: Vec<KeyLine>,
    can_add: bool,
    add_fields: Vec<Field>,
    pending: Option<PendingCode>,
    code_fields: Vec<Field>,
    claim_fields: Vec<Field>,
    claims: Vec<ClaimLine>,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "pix_key_delete.html")]
struct DeletePage {
    c: Chrome,
    number: String,
    key: String,
    display: String,
}

/// What to show besides the lists: a notice, typed values, a code form, errors.
#[derive(Default)]
struct Extra {
    notice: Option<String>,
    pending: Option<PendingCode>,
    form: Form,
    errors: Errors,
}

async fn keys_page(state: &Arc<AppState>, visit: &Visit, session: &Session, number: &str, extra: Extra) -> Response {
    if let Err(error) = held_account(&state.services, &session.caller, number).await {
        return super::failure(state, visit, Some(session), &ApiError::from(error));
    }
    let (keys, claims) = match (state.pix.list(&session.caller).await, state.pix.claims(&session.caller).await) {
        (Ok(keys), Ok(claims)) => (keys, claims),
        (Err(error), _) | (_, Err(error)) => return super::failure(state, visit, Some(session), &ApiError::from(error)),
    };
    let c = Chrome::new(state, visit, Some(session), "keys.title", "pix");
    let t = c.t;
    let keys: Vec<KeyLine> = keys.iter().filter(|k| k.account == number).map(|k| key_line(t, k)).collect();
    let person = session.caller.person;
    let limit = ringbank_domain::pix_key::max_keys_per_account(if person {
        ringbank_domain::CustomerKind::Person
    } else {
        ringbank_domain::CustomerKind::Company
    });
    let claims = claims
        .iter()
        .filter(|claim| (claim.side == "claimant" && claim.to_account == number) || (claim.side == "donor" && claim.from_account == number))
        .map(|claim| claim_line(state, t, claim))
        .collect();
    let errors = extra.errors;
    let form = extra.form;
    let kinds = ["email", "phone"]
        .iter()
        .map(|kind| Choice {
            value: kind.to_string(),
            label: t.get(&format!("keys.kind.{kind}")).to_string(),
            selected: form.get("kind") == *kind,
        })
        .collect();
    let kind = Field::select("kind", t.get("keys.add.kind").to_string(), kinds).error(&errors);
    let value = Field::text("value", t.get("keys.add.value").to_string(), form.get("value"))
        .hint(t.get("keys.add.value.hint").to_string())
        .error(&errors);
    let mut code = Field::text("code", t.get("keys.code").to_string(), "").error(&errors);
    code.inputmode = "numeric";
    code.autocomplete = "one-time-code";
    let claim_key = Field::text("claim_key", t.get("keys.claim.key").to_string(), form.get("claim_key"))
        .hint(t.get("keys.claim.key.hint").to_string())
        .error(&errors);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = KeysPage {
        number: number.to_string(),
        notice: extra.notice,
        can_add: keys.len() < limit,
        keys,
        add_fields: vec![kind, value],
        pending: extra.pending,
        code_fields: vec![code],
        claim_fields: vec![claim_key],
        claims,
        errors,
        c,
    };
    render(status, &page)
}

fn key_line(t: Tr, key: &KeyView) -> KeyLine {
    KeyLine {
        key: key.key.clone(),
        display: key.display.clone(),
        kind: t.get(&format!("keys.kind.{}", key.kind.as_str())),
        kind_code: key.kind.as_str(),
    }
}

fn claim_line(state: &AppState, t: Tr, claim: &ClaimView) -> ClaimLine {
    let route = if claim.side == "claimant" {
        t.fill("keys.claims.incoming", &[&claim.from_bank])
    } else {
        t.fill("keys.claims.outgoing", &[&claim.to_bank, &claim.to_account])
    };
    ClaimLine {
        id: claim.id.clone(),
        display: claim.display.clone(),
        route,
        status: claim.status.clone(),
        status_label: t.get(&format!("keys.claims.status.{}", claim.status)),
        expires: super::display::local_time_ms(&state.config.time_zone, t.lang, claim.expires_at_ms),
        reason: claim.reason.clone().filter(|_| t.lang == Lang::En),
        decide: claim.side == "donor" && claim.status == "pending",
    }
}

/// GET /accounts/{number}/pix/keys?notice= -> "Minhas chaves Pix"
fn page(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / String / "pix" / "keys")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|number: String, visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let notice = visit
                .query_value("notice")
                .filter(|n| ["registered", "deleted", "claimed", "confirmed", "refused"].contains(n))
                .map(|n| visit.tr().get(&format!("keys.notice.{n}")).to_string());
            keys_page(&state, &visit, &session, &number, Extra { notice, ..Extra::default() }).await
        })
        .boxed()
}

/// POST /accounts/{n}/pix/keys {csrf, kind = document | random | email | phone, value?, back?}
///   -> 303 to the keys page (or, with back=receive, the "Receber com Pix" page); e-mail and
///   phone: the keys page with the form for the code sent
fn register(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / String / "pix" / "keys")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|number: String, visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let t = visit.tr();
            let (kind, value) = match form.get("kind") {
                "random" => (PixKeyKind::Random, None),
                "email" => (PixKeyKind::Email, Some(form.get("value").trim())),
                "phone" => (PixKeyKind::Phone, Some(form.get("value").trim())),
                _ if session.caller.document.len() == 11 => (PixKeyKind::Cpf, None),
                _ => (PixKeyKind::Cnpj, None),
            };
            let back = if form.get("back") == "receive" {
                format!("/accounts/{number}/pix")
            } else {
                format!("/accounts/{number}/pix/keys?notice=registered")
            };
            if value.is_some_and(str::is_empty) {
                let mut errors = Errors::default();
                errors.add("value", t.get("keys.add.value.empty"));
                return keys_page(&state, &visit, &session, &number, Extra { form, errors, ..Extra::default() }).await;
            }
            match state.pix.register(&session.caller, &number, kind, value).await {
                Ok(Registration::Registered { .. }) => redirect(&back),
                Ok(Registration::ConfirmationSent { confirmation_id, sent_to, .. }) => {
                    let pending = Some(PendingCode { confirmation_id, sent_to });
                    keys_page(&state, &visit, &session, &number, Extra { pending, ..Extra::default() }).await
                }
                Err(error) if form.get("back") == "receive" => super::failure(&state, &visit, Some(&session), &ApiError::from(error)),
                Err(error) => {
                    let error = ApiError::from(error);
                    let mut errors = Errors::default();
                    match value {
                        Some(_) => errors.add("value", refusal_text(t, &error, "keys.add.value.invalid")),
                        None => errors.form = Some(refusal_text(t, &error, "error.invalid-field")),
                    }
                    keys_page(&state, &visit, &session, &number, Extra { form, errors, ..Extra::default() }).await
                }
            }
        })
        .boxed()
}

/// POST /accounts/{n}/pix/keys/confirm {csrf, confirmation_id, sent_to, code} -> 303 keys page
fn confirm_code(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / String / "pix" / "keys" / "confirm")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|number: String, visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let t = visit.tr();
            let pending =
                || PendingCode { confirmation_id: form.get("confirmation_id").to_string(), sent_to: form.get("sent_to").to_string() };
            let mut errors = Errors::default();
            if form.get("code").trim().is_empty() {
                errors.add("code", t.get("keys.code.empty"));
                return keys_page(&state, &visit, &session, &number, Extra { pending: Some(pending()), errors, ..Extra::default() }).await;
            }
            match state.pix.confirm(&session.caller, form.get("confirmation_id"), form.get("code")).await {
                Ok(_) => redirect(&format!("/accounts/{number}/pix/keys?notice=registered")),
                Err(error) => {
                    errors.add("code", refusal_text(t, &ApiError::from(error), "keys.code.wrong"));
                    keys_page(&state, &visit, &session, &number, Extra { pending: Some(pending()), errors, ..Extra::default() }).await
                }
            }
        })
        .boxed()
}

/// POST /accounts/{n}/pix/keys/delete {csrf, key} -> the confirm step;
/// {csrf, key, confirmed = yes} -> 303 keys page (the key is deleted from the directory)
fn delete(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / String / "pix" / "keys" / "delete")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|number: String, visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let t = visit.tr();
            let own = state
                .pix
                .list(&session.caller)
                .await
                .map(|keys| keys.into_iter().find(|k| k.account == number && k.key == form.get("key")));
            let key = match own {
                Ok(Some(key)) => key,
                Ok(None) => {
                    let errors = Errors { form: Some(t.get("keys.delete.unknown").to_string()), ..Errors::default() };
                    return keys_page(&state, &visit, &session, &number, Extra { errors, ..Extra::default() }).await;
                }
                Err(error) => return super::failure(&state, &visit, Some(&session), &ApiError::from(error)),
            };
            if form.get("confirmed") != "yes" {
                let c = Chrome::new(&state, &visit, Some(&session), "keys.delete.title", "pix");
                return render(StatusCode::OK, &DeletePage { c, number, key: key.key, display: key.display });
            }
            match state.pix.delete(&session.caller, &key.key).await {
                Ok(()) => redirect(&format!("/accounts/{number}/pix/keys?notice=deleted")),
                Err(error) => {
                    let errors = Errors { form: Some(refusal_text(t, &ApiError::from(error), "error.invalid-field")), ..Errors::default() };
                    keys_page(&state, &visit, &session, &number, Extra { errors, ..Extra::default() }).await
                }
            }
        })
        .boxed()
}

/// POST /accounts/{n}/pix/claims {csrf, claim_key} -> 303 keys page (the claim waits for the
/// owner's confirmation at the bank that holds the key)
fn claim(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / String / "pix" / "claims")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|number: String, visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let t = visit.tr();
            let mut errors = Errors::default();
            if form.get("claim_key").trim().is_empty() {
                errors.add("claim_key", t.get("keys.claim.key.empty"));
                return keys_page(&state, &visit, &session, &number, Extra { form, errors, ..Extra::default() }).await;
            }
            match state.pix.claim(&session.caller, &number, form.get("claim_key").trim()).await {
                Ok(_) => redirect(&format!("/accounts/{number}/pix/keys?notice=claimed")),
                Err(error) => {
                    errors.add("claim_key", refusal_text(t, &ApiError::from(error), "keys.claim.invalid"));
                    keys_page(&state, &visit, &session, &number, Extra { form, errors, ..Extra::default() }).await
                }
            }
        })
        .boxed()
}

/// POST /accounts/{n}/pix/claims/{id}/confirm | refuse {csrf} -> 303 keys page
fn decide(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / String / "pix" / "claims" / String / String)
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|number: String, id: String, action: String, visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let result = match action.as_str() {
                "confirm" => state.pix.confirm_claim(&session.caller, &id).await.map(|_| "confirmed"),
                "refuse" => state.pix.refuse_claim(&session.caller, &id).await.map(|_| "refused"),
                _ => return super::not_found(&state, &visit, Some(&session)),
            };
            match result {
                Ok(notice) => redirect(&format!("/accounts/{number}/pix/keys?notice={notice}")),
                Err(error) => {
                    let errors =
                        Errors { form: Some(refusal_text(visit.tr(), &ApiError::from(error), "error.invalid-field")), ..Errors::default() };
                    keys_page(&state, &visit, &session, &number, Extra { errors, ..Extra::default() }).await
                }
            }
        })
        .boxed()
}
