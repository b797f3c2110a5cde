//! Consents in the pages, both ends of the round trip that brings an account at another bank
//! into this one (issue 18; Open Finance Brasil's payment-initiation redirect):
//!
//! 1. At bank A (the bank the customer uses), "usar uma conta em outro banco": the signed-in
//!    customer picks bank B (POST /consents/link, CSRF). A draws a random `state`, keeps it
//!    server-side bound to the session (`AppState::consent_links`, single use, ten minutes) and
//!    redirects the browser to B's GET /consents/authorize?client=A&state=..&return_to=..
//! 2. At bank B (the account's bank): `return_to` must be exactly A's configured URL from the
//!    member list plus /consents/return (no open redirect). Not signed in: B's sign-in page, then
//!    back. The customer picks an account and the limits and confirms (POST, CSRF); B grants the
//!    consent with a one-time code (short-lived, single use, stored hashed) and redirects to
//!    `return_to?code=..&state=..`. Nothing else travels in the URL.
//! 3. Back at A (GET /consents/return): the `state` must be the one this session started; A
//!    redeems the code at B over the signed bank-to-bank POST /bank/v1/consent-code (B answers
//!    only to the grantee), learns the consent id and account, and keeps them as a linked consent.
//!
//! GET /consents lists, at any bank, the consents the customer granted here (revocable) and the
//! ones they brought here from other banks.

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::session::{visit, Session, Visit};
use super::{
    account_choices, error_message, form_body, html, parse_amount, redirect, render, signed_in, signed_in_post, with_state, Choice, Chrome,
    Errors, Field, Form,
};
use crate::http::error::ApiError;
use crate::http::reply::constant_time_eq;
use crate::http::state::{AppState, PendingLink};
use crate::ledger::consent::LinkedConsent;
use crate::peer::{Member, PeerError};
use crate::service::consents::{self, ConsentBody, NewConsent};

/// Where the account's bank sends the customer back to, on the bank they came from.
pub const RETURN_PATH: &str = "/consents/return";
/// The validity choices of the consent form, in days.
const VALID_DAYS: [i64; 5] = [1, 7, 30, 90, 365];
/// Preselected validity, in days.
const VALID_DAYS_DEFAULT: i64 = 30;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    list(state.clone())
        .or(revoke(state.clone()))
        .unify()
        .or(authorize_form(state.clone()))
        .unify()
        .or(authorize(state.clone()))
        .unify()
        .or(link_form(state.clone()))
        .unify()
        .or(link_start(state.clone()))
        .unify()
        .or(link_return(state))
        .unify()
        .boxed()
}

/// `scheme://host[:port]` of a member's URL (what a Content-Security-Policy names).
fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or("")),
        None => url.to_string(),
    }
}

/// A page whose forms may end in a redirect to `origins` (CSP form-action covers redirects).
fn allow_form_targets(mut response: Response, origins: &[String]) -> Response {
    let targets: String = origins.iter().map(|o| format!(" {o}")).collect();
    let policy = format!("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'{targets}; base-uri 'none'");
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

fn member(state: &AppState, bank: &str) -> Option<Member> {
    state.ring.members().list.iter().find(|m| m.id == bank).cloned()
}

/// The other member banks.
fn others(state: &AppState) -> Vec<Member> {
    state.ring.members().list.iter().filter(|m| m.id != state.bank()).cloned().collect()
}

/// A refusal (or outcome) page: a heading and a sentence, `arg` filling its placeholder.
fn refusal(state: &AppState, visit: &Visit, session: Option<&Session>, status: StatusCode, text_key: &str, arg: &str) -> Response {
    let c = Chrome::new(state, visit, session, "consent.refused_title", "consents");
    let heading = c.title.clone();
    let text = c.t.fill(text_key, &[arg]);
    render(status, &super::MessagePage { c, heading, text })
}

// ---------------------------------------------------------------- the list (either bank)

struct ConsentRow {
    id: String,
    grantee: String,
    account: String,
    per_transfer: String,
    total: String,
    used: String,
    status: &'static str,
    status_label: &'static str,
    expires: String,
}

struct LinkedRow {
    bank: String,
    account: String,
}

#[derive(Template)]
#[template(path = "consents.html")]
struct ConsentsPage {
    c: Chrome,
    notice: Option<String>,
    granted: Vec<ConsentRow>,
    linked: Vec<LinkedRow>,
    can_link: bool,
}

/// GET /consents -> the consents the customer granted here and the ones they brought here
fn list(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("consents")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let document = &session.caller.document;
            let (granted, linked) = tokio::join!(state.ledger.consents_of(document), state.ledger.linked_consents(document));
            let (granted, linked) = match (granted, linked) {
                (Ok(granted), Ok(linked)) => (granted, linked),
                (Err(error), _) | (_, Err(error)) => return super::failure(&state, &visit, Some(&session), &error.into()),
            };
            let c = Chrome::new(&state, &visit, Some(&session), "consents.title", "consents");
            let t = c.t;
            let notice = if visit.query_value("revoked").is_some() {
                Some(t.get("consents.revoked").to_string())
            } else {
                match (visit.query_value("linked"), visit.query_value("account")) {
                    (Some(bank), Some(account)) => Some(t.fill("consents.linked_done", &[account, bank])),
                    _ => None,
                }
            };
            let granted = granted
                .iter()
                .map(|record| {
                    let body = ConsentBody::new(state.bank(), record);
                    ConsentRow {
                        id: body.id.clone(),
                        grantee: body.grantee.clone(),
                        account: body.account.clone(),
                        per_transfer: ringbank_domain::money::format_brl(body.max_per_transfer_cents),
                        total: ringbank_domain::money::format_brl(body.max_total_cents),
                        used: ringbank_domain::money::format_brl(body.used_cents),
                        status: body.status,
                        status_label: t.get(&format!("consents.status_{}", body.status)),
                        expires: super::display::local_time(&state.config.time_zone, visit.lang, &body.expires_at),
                    }
                })
                .collect();
            let linked = linked.into_iter().map(|l| LinkedRow { bank: l.bank, account: l.account }).collect();
            let can_link = !others(&state).is_empty();
            render(StatusCode::OK, &ConsentsPage { c, notice, granted, linked, can_link })
        })
        .boxed()
}

/// POST /consents/{id}/revoke {csrf} -> 303 /consents?revoked=1
fn revoke(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("consents" / String / "revoke")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|id: String, visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            match consents::revoke(&state.services, &session.caller, &id).await {
                Ok(_) => redirect("/consents?revoked=1"),
                Err(error) => super::failure(&state, &visit, Some(&session), &ApiError::from(error)),
            }
        })
        .boxed()
}

// ---------------------------------------------------------------- at the account's bank (B)

/// A checked authorization request: who asks, for which session of theirs, and where to return.
struct Request {
    client: String,
    state: String,
    return_to: String,
    client_origin: String,
}

/// Checks `client`, `state` and `return_to`; Err is the translation key of the refusal.
fn check_request(state: &AppState, client: &str, client_state: &str, return_to: &str) -> Result<Request, &'static str> {
    let member = member(state, client).filter(|m| m.id != state.bank()).ok_or("consent.error_client")?;
    let expected = format!("{}{RETURN_PATH}", member.url.trim_end_matches('/'));
    if return_to != expected {
        return Err("consent.error_return_to");
    }
    let well_formed =
        (16..=128).contains(&client_state.len()) && client_state.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err("consent.error_state");
    }
    Ok(Request { client: member.id.clone(), state: client_state.to_string(), return_to: expected, client_origin: origin(&member.url) })
}

/// `return_to` with these query parameters.
fn back_to(request: &Request, params: &[(&str, &str)]) -> String {
    format!("{}?{}", request.return_to, serde_urlencoded::to_string(params).unwrap_or_default())
}

#[derive(Template)]
#[template(path = "consent_authorize.html")]
struct AuthorizePage {
    c: Chrome,
    lead: String,
    client: String,
    client_state: String,
    return_to: String,
    fields: Vec<Field>,
    errors: Errors,
}

async fn authorize_page(state: &AppState, visit: &Visit, session: &Session, request: &Request, form: &Form, errors: Errors) -> Response {
    let accounts = match state.ledger.accounts_of(&session.caller.document).await {
        Ok(accounts) => accounts,
        Err(error) => return super::failure(state, visit, Some(session), &error.into()),
    };
    let c = Chrome::new(state, visit, Some(session), "consent.title", "consents");
    let t = c.t;
    let empty = t.get("consent.choose_account");
    let days = match form.get("valid_days") {
        "" => VALID_DAYS_DEFAULT.to_string(),
        days => days.to_string(),
    };
    let day_choices = VALID_DAYS
        .iter()
        .map(|d| Choice { value: d.to_string(), label: t.fill("consent.days", &[&d.to_string()]), selected: d.to_string() == days })
        .collect();
    let fields = vec![
        Field::select("account", t.get("consent.account").to_string(), account_choices(t, &accounts, form.get("account"), Some(empty)))
            .error(&errors),
        Field::amount("max_per_transfer", t, form.get("max_per_transfer"))
            .hint(t.get("consent.max_per_transfer_hint").to_string())
            .error(&errors),
        Field::amount("max_total", t, form.get("max_total")).hint(t.get("consent.max_total_hint").to_string()).error(&errors),
        Field::select("valid_days", t.get("consent.valid_for").to_string(), day_choices).error(&errors),
    ];
    let mut fields = fields;
    fields[1].label = t.get("consent.max_per_transfer").to_string();
    fields[2].label = t.get("consent.max_total").to_string();
    let lead = t.fill("consent.lead", &[&request.client, state.bank()]);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = AuthorizePage {
        c,
        lead,
        client: request.client.clone(),
        client_state: request.state.clone(),
        return_to: request.return_to.clone(),
        fields,
        errors,
    };
    allow_form_targets(render(status, &page), std::slice::from_ref(&request.client_origin))
}

/// GET /consents/authorize?client&state&return_to -> the consent form (after signing in here)
fn authorize_form(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("consents" / "authorize")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            let query = |name: &str| visit.query_value(name).unwrap_or("").to_string();
            let session = visit.session(&state).await;
            let request = match check_request(&state, &query("client"), &query("state"), &query("return_to")) {
                Ok(request) => request,
                Err(key) => return refusal(&state, &visit, session.as_ref(), StatusCode::BAD_REQUEST, key, &query("client")),
            };
            let Some(session) = session else {
                let here = format!(
                    "/consents/authorize?{}",
                    serde_urlencoded::to_string([
                        ("client", &request.client),
                        ("state", &request.state),
                        ("return_to", &request.return_to)
                    ])
                    .unwrap_or_default()
                );
                return redirect(&format!("/signin?{}", serde_urlencoded::to_string([("next", here)]).unwrap_or_default()));
            };
            authorize_page(&state, &visit, &session, &request, &Form::default(), Errors::default()).await
        })
        .boxed()
}

/// POST /consents/authorize {csrf, client, state, return_to, decision, account, max_per_transfer,
/// max_total, valid_days} -> 303 return_to?code&state (or ?error=access_denied&state)
fn authorize(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("consents" / "authorize")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let request = match check_request(&state, form.get("client"), form.get("state"), form.get("return_to")) {
                Ok(request) => request,
                Err(key) => return refusal(&state, &visit, Some(&session), StatusCode::BAD_REQUEST, key, form.get("client")),
            };
            if form.get("decision") == "deny" {
                return redirect(&back_to(&request, &[("error", "access_denied"), ("state", &request.state)]));
            }
            let t = visit.tr();
            let mut errors = Errors::default();
            if form.get("account").is_empty() {
                errors.add("account", t.get("consent.error_account"));
            }
            let per = parse_amount(&state, t, form.get("max_per_transfer")).map_err(|e| errors.add("max_per_transfer", e)).ok();
            // The total may exceed the largest single transfer: only its format is checked here.
            let total = match ringbank_domain::money::parse_brl(form.get("max_total")) {
                Some(cents) if cents > 0 => Some(cents),
                Some(_) => {
                    errors.add("max_total", t.get("error.amount_positive"));
                    None
                }
                None => {
                    errors.add("max_total", t.get("error.amount_invalid"));
                    None
                }
            };
            if let (Some(per), Some(total)) = (per, total) {
                if total < per {
                    errors.add("max_total", t.get("consent.error_total"));
                }
            }
            let days = form.get("valid_days").parse::<i64>().ok().filter(|d| VALID_DAYS.contains(d));
            if days.is_none() {
                errors.add("valid_days", t.get("consent.error_days"));
            }
            let (Some(per), Some(total), Some(days), true) = (per, total, days, errors.is_empty()) else {
                return authorize_page(&state, &visit, &session, &request, &form, errors).await;
            };
            let new = NewConsent {
                grantee: request.client.clone(),
                account: form.get("account").to_string(),
                max_per_transfer_cents: per,
                max_total_cents: total,
                valid_for_seconds: days * 24 * 3600,
            };
            match consents::grant_with_code(&state.services, &session.caller, &new).await {
                Ok((_, code)) => redirect(&back_to(&request, &[("code", &code), ("state", &request.state)])),
                Err(error) => {
                    let error = ApiError::from(error);
                    let errors = Errors { fields: Vec::new(), form: Some(error_message(t, &error)) };
                    authorize_page(&state, &visit, &session, &request, &form, errors).await
                }
            }
        })
        .boxed()
}

// ---------------------------------------------------------------- at the customer's bank (A)

#[derive(Template)]
#[template(path = "consent_link.html")]
struct LinkPage {
    c: Chrome,
    banks: Vec<Field>,
}

/// GET /consents/link -> "use an account at another bank": pick the bank
fn link_form(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("consents" / "link")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let c = Chrome::new(&state, &visit, Some(&session), "link.title", "consents");
            let t = c.t;
            let others = others(&state);
            let choices = others
                .iter()
                .enumerate()
                .map(|(i, m)| Choice { value: m.id.clone(), label: t.fill("dashboard.bank", &[&m.id]), selected: i == 0 })
                .collect();
            let banks = vec![Field::select("bank", t.get("link.bank").to_string(), choices)];
            let origins: Vec<String> = others.iter().map(|m| origin(&m.url)).collect();
            allow_form_targets(render(StatusCode::OK, &LinkPage { c, banks }), &origins)
        })
        .boxed()
}

/// POST /consents/link {csrf, bank} -> 303 to bank's /consents/authorize?client&state&return_to
fn link_start(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("consents" / "link")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let bank = form.get("bank").trim();
            let (Some(target), Some(me)) = (member(&state, bank).filter(|m| m.id != state.bank()), member(&state, state.bank())) else {
                return super::failure(&state, &visit, Some(&session), &ApiError::UnknownBank(bank.chars().take(40).collect()));
            };
            let client_state = hex::encode(rand::random::<[u8; 16]>());
            state
                .consent_links
                .start(&session.key(), PendingLink { state: client_state.clone(), bank: target.id.clone(), started: Instant::now() });
            let return_to = format!("{}{RETURN_PATH}", me.url.trim_end_matches('/'));
            let query = serde_urlencoded::to_string([("client", state.bank()), ("state", &client_state), ("return_to", &return_to)])
                .unwrap_or_default();
            redirect(&format!("{}/consents/authorize?{query}", target.url.trim_end_matches('/')))
        })
        .boxed()
}

/// What the account's bank answers to /bank/v1/consent-code (the JSON of ConsentBody).
#[derive(Debug, Deserialize)]
struct Redeemed {
    id: String,
    bank: String,
    grantee: String,
    account: String,
}

/// The session cookie is SameSite=Strict: a browser coming back from another site (the other
/// bank's redirect) does not send it. This page sends the browser on to the same URL from
/// here, and that second request carries the cookie.
fn same_site_hop(visit: &Visit) -> Response {
    let mut query: Vec<(String, String)> = visit.query.clone();
    query.push(("hop".to_string(), "1".to_string()));
    let url = format!("{RETURN_PATH}?{}", serde_urlencoded::to_string(&query).unwrap_or_default());
    let escaped = url.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    html(
        StatusCode::OK,
        format!(
            "<!doctype html><meta charset=utf-8><meta http-equiv=\"refresh\" content=\"0;url={escaped}\"><title>…</title><p><a href=\"{escaped}\">Continuar / Continue</a>"
        ),
    )
}

/// GET /consents/return?code&state (or ?error&state) -> 303 /consents?linked&account
fn link_return(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("consents" / "return")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            let Some(session) = visit.session(&state).await else {
                if visit.query_value("hop").is_none() {
                    return same_site_hop(&visit);
                }
                return refusal(&state, &visit, None, StatusCode::UNAUTHORIZED, "link.error_signed_out", "");
            };
            let pending = state.consent_links.take(&session.key());
            let submitted = visit.query_value("state").unwrap_or("");
            let Some(pending) = pending.filter(|p| !submitted.is_empty() && constant_time_eq(&p.state, submitted)) else {
                tracing::warn!("consent round trip refused: state does not match this session");
                return refusal(&state, &visit, Some(&session), StatusCode::BAD_REQUEST, "link.error_state", "");
            };
            if visit.query_value("error").is_some() {
                return refusal(&state, &visit, Some(&session), StatusCode::OK, "link.denied", &pending.bank);
            }
            let code = visit.query_value("code").unwrap_or("");
            let Some(member) = member(&state, &pending.bank) else {
                return super::failure(&state, &visit, Some(&session), &ApiError::UnknownBank(pending.bank.clone()));
            };
            let answer: Result<Redeemed, PeerError> =
                state.peers.call(&member.url, "/bank/v1/consent-code", &serde_json::json!({ "code": code })).await;
            let redeemed = match answer {
                Ok(redeemed) if redeemed.bank == member.id && redeemed.grantee == state.bank() => redeemed,
                Ok(other) => {
                    tracing::warn!(?other, "consent-code answer names another bank");
                    return refusal(&state, &visit, Some(&session), StatusCode::BAD_GATEWAY, "link.error_unavailable", &pending.bank);
                }
                Err(PeerError::Refused { body, .. }) if body.contains("consent-code-invalid") => {
                    return refusal(&state, &visit, Some(&session), StatusCode::BAD_REQUEST, "link.error_code", &pending.bank);
                }
                Err(error) => {
                    tracing::info!(bank = %member.id, %error, "consent-code failed");
                    return refusal(
                        &state,
                        &visit,
                        Some(&session),
                        StatusCode::SERVICE_UNAVAILABLE,
                        "link.error_unavailable",
                        &pending.bank,
                    );
                }
            };
            let linked = LinkedConsent { bank: member.id.clone(), consent_id: redeemed.id, account: redeemed.account };
            if let Err(error) = consents::link(&state.services, &session.caller, linked.clone()).await {
                return super::failure(&state, &visit, Some(&session), &ApiError::from(error));
            }
            let query = serde_urlencoded::to_string([("linked", &linked.bank), ("account", &linked.account)]).unwrap_or_default();
            redirect(&format!("/consents?{query}"))
        })
        .boxed()
}
