//! The landing page, sign up (customer and first account in one form), sign in and sign out.

use std::net::IpAddr;
use std::sync::Arc;

use askama::Template;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::session::{self, visit, Visit};
use super::{add_cookie, error_message, form_body, redirect, render, with_state, Chrome, Errors, Field, Form};
use crate::http::error::ApiError;
use crate::http::server::client_ip;
use crate::http::state::AppState;
use crate::ledger::{AccountKind, LedgerError};
use crate::service::operations::{self, NewCustomer};
use crate::service::Caller;
use ringbank_domain::document::Document;
use ringbank_domain::password::PasswordError;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    home(state.clone())
        .or(signup_form(state.clone()))
        .unify()
        .or(signup(state.clone()))
        .unify()
        .or(signin_form(state.clone()))
        .unify()
        .or(signin(state.clone()))
        .unify()
        .or(signout(state.clone()))
        .unify()
        .or(keepalive(state))
        .unify()
        .boxed()
}

/// GET /keepalive -> 204 while signed in (counts as activity: the idle warning's "stay signed
/// in"); otherwise the sign-in redirect, like any page.
fn keepalive(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("keepalive")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            match super::signed_in(&state, &visit).await {
                Ok(_) => {
                    let mut response = Response::new(Default::default());
                    *response.status_mut() = StatusCode::NO_CONTENT;
                    response.headers_mut().insert(warp::http::header::CACHE_CONTROL, warp::http::HeaderValue::from_static("no-store"));
                    response
                }
                Err(response) => response,
            }
        })
        .boxed()
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
    lead: String,
}

/// GET / -> the landing page
fn home(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path::end()
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            let session = visit.session(&state).await;
            let c = Chrome::new(&state, &visit, session.as_ref(), "home.title", "home");
            let lead = c.t.fill("home.lead", &[state.bank()]);
            render(StatusCode::OK, &HomePage { c, lead })
        })
        .boxed()
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    c: Chrome,
    form_csrf: String,
    fields: Vec<Field>,
    errors: Errors,
}

/// GET /signup -> the sign-up form
fn signup_form(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("signup")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            if visit.session(&state).await.is_some() {
                return redirect("/dashboard");
            }
            signup_page(&state, &visit, &Form::default(), Errors::default())
        })
        .boxed()
}

fn signup_page(state: &AppState, visit: &Visit, form: &Form, errors: Errors) -> Response {
    let (form_csrf, new) = visit.pre_session_csrf();
    let c = Chrome::new(state, visit, None, "signup.title", "signup");
    let t = c.t;
    let mut name = Field::text("name", t.get("field.name").to_string(), form.get("name"));
    name.autocomplete = "name";
    let fields = vec![
        Field::document("document", t, form.get("document")).error(&errors),
        name.error(&errors),
        Field::password("password", t.get("field.password").to_string(), "new-password")
            .hint(t.get("field.password.hint").to_string())
            .error(&errors),
        Field::password("password_confirm", t.get("field.password_confirm").to_string(), "new-password").error(&errors),
    ];
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let mut response = render(status, &SignupPage { c, form_csrf: form_csrf.clone(), fields, errors });
    if new {
        add_cookie(&mut response, &session::pre_session_csrf_cookie(state.bank(), &form_csrf));
    }
    response
}

/// POST /signup {csrf, document, name, password, password_confirm} -> 303 /dashboard
fn signup(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("signup")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|visit: Visit, form: Form, state: Arc<AppState>| async move {
            if !visit.pre_session_csrf_ok(form.get("csrf")) {
                return super::csrf_refused(&state, &visit, None);
            }
            match signup_handler(&state, &visit, &form).await {
                Ok(response) => response,
                Err(errors) => signup_page(&state, &visit, &form, errors),
            }
        })
        .boxed()
}

async fn signup_handler(state: &Arc<AppState>, visit: &Visit, form: &Form) -> Result<Response, Errors> {
    let t = visit.tr();
    let mut errors = Errors::default();
    let document = Document::parse(form.get("document")).ok();
    if document.is_none() {
        errors.add("document", t.get("error.document_invalid"));
    }
    if operations::clean_text("name", form.get("name"), 1, operations::NAME_MAX_CHARS).is_err() {
        errors.add("name", t.get("error.name_invalid"));
    }
    let password = form.get("password");
    if let Err(error) = ringbank_domain::password::check_password(password, form.get("document"), form.get("name")) {
        let key = match error {
            PasswordError::Length => "error.password_length",
            PasswordError::Common => "error.password_common",
            PasswordError::Trivial => "error.password_trivial",
            PasswordError::Personal => "error.password_personal",
        };
        errors.add("password", t.get(key));
    } else if password != form.get("password_confirm") {
        errors.add("password_confirm", t.get("error.password_mismatch"));
    }
    let Some(document) = document.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    let request =
        NewCustomer { document: document.as_str().to_string(), name: form.get("name").to_string(), password: password.to_string() };
    let (document, name) = operations::create_customer(&state.services, &request).await.map_err(ApiError::from).map_err(|error| {
        let mut errors = Errors::default();
        match error {
            ApiError::Ledger(LedgerError::CustomerExists) | ApiError::InvalidDocument(_) => {
                errors.add("document", error_message(t, &error))
            }
            other => errors.form = Some(error_message(t, &other)),
        }
        errors
    })?;
    let caller = Caller { document: document.as_str().to_string(), person: document.is_person(), name };
    let kind = if document.is_person() { AccountKind::Individual } else { AccountKind::Company };
    let form_error = |error: ApiError| Errors { fields: Vec::new(), form: Some(error_message(t, &error)) };
    operations::open_account(&state.services, &caller, kind, &[]).await.map_err(ApiError::from).map_err(form_error)?;
    // The password was set a moment ago: no guessing to throttle, hence no client address.
    let (token, _) = state.services.sign_in(None, document.as_str(), password).await.map_err(ApiError::from).map_err(form_error)?;
    Ok(signed_in_redirect(state, &token))
}

fn signed_in_redirect(state: &AppState, token: &str) -> Response {
    signed_in_redirect_to(state, token, "/dashboard")
}

/// Where to go after signing in: `next` when it is a path on this bank (the consent page sends
/// its visitors here and back), the dashboard otherwise; never another site.
pub fn next_page(next: &str) -> String {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && next.len() <= 2048;
    let clean = next.chars().all(|c| c.is_ascii_graphic());
    if local && clean {
        next.to_string()
    } else {
        "/dashboard".to_string()
    }
}

fn signed_in_redirect_to(state: &AppState, token: &str, next: &str) -> Response {
    let mut response = redirect(&next_page(next));
    add_cookie(&mut response, &session::session_cookie(state.bank(), token, state.config.session_ttl.as_secs()));
    response
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    c: Chrome,
    form_csrf: String,
    notice: Option<String>,
    /// Where to go after signing in (a path on this bank), carried by the form.
    next: String,
    fields: Vec<Field>,
    errors: Errors,
}

/// GET /signin -> the sign-in form
fn signin_form(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("signin")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            if visit.session(&state).await.is_some() {
                return redirect(&next_page(visit.query_value("next").unwrap_or("")));
            }
            signin_page(&state, &visit, &Form::default(), Errors::default())
        })
        .boxed()
}

fn signin_page(state: &AppState, visit: &Visit, form: &Form, errors: Errors) -> Response {
    let (form_csrf, new) = visit.pre_session_csrf();
    let c = Chrome::new(state, visit, None, "signin.title", "signin");
    let t = c.t;
    let next = match form.get("next") {
        "" => visit.query_value("next").unwrap_or(""),
        posted => posted,
    };
    let next = if next.is_empty() { String::new() } else { next_page(next) };
    let notice = if visit.query_value("signed_out").is_some() {
        Some(t.get("signin.signed_out").to_string())
    } else if visit.query_value("idle").is_some() {
        Some(t.get("signin.idle").to_string())
    } else if visit.query_value("expired").is_some() || !next.is_empty() {
        Some(t.get("signin.expired").to_string())
    } else {
        None
    };
    let fields = vec![
        Field::document("document", t, form.get("document")).error(&errors),
        Field::password("password", t.get("field.password").to_string(), "current-password").error(&errors),
    ];
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let mut response = render(status, &SigninPage { c, form_csrf: form_csrf.clone(), notice, next, fields, errors });
    if new {
        add_cookie(&mut response, &session::pre_session_csrf_cookie(state.bank(), &form_csrf));
    }
    response
}

/// POST /signin {csrf, document, password, next?} -> 303 next (a path here) or /dashboard
fn signin(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("signin")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(client_ip())
        .and(with_state(state))
        .then(|visit: Visit, form: Form, client: Option<IpAddr>, state: Arc<AppState>| async move {
            if !visit.pre_session_csrf_ok(form.get("csrf")) {
                return super::csrf_refused(&state, &visit, None);
            }
            let t = visit.tr();
            let mut errors = Errors::default();
            let Ok(document) = Document::parse(form.get("document")) else {
                errors.add("document", t.get("error.document_invalid"));
                return signin_page(&state, &visit, &form, errors);
            };
            match state.services.sign_in(client, document.as_str(), form.get("password")).await.map_err(ApiError::from) {
                Ok((token, _)) => signed_in_redirect_to(&state, &token, form.get("next")),
                Err(error) => {
                    let retry_after = match &error {
                        ApiError::TooManyAttempts { retry_after_seconds, .. } => Some(*retry_after_seconds),
                        _ => None,
                    };
                    errors.add("password", error_message(t, &error));
                    let mut response = signin_page(&state, &visit, &form, errors);
                    if let Some(seconds) = retry_after {
                        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                        response.headers_mut().insert(warp::http::header::RETRY_AFTER, warp::http::HeaderValue::from(seconds));
                    }
                    response
                }
            }
        })
        .boxed()
}

/// POST /signout {csrf} -> 303 /signin?signed_out=1 (ends the session server-side)
fn signout(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("signout")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match super::signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            if let Err(error) = state.services.sign_out(Some(&session.bearer())).await {
                return super::failure(&state, &visit, Some(&session), &ApiError::from(error));
            }
            let mut response = redirect("/signin?signed_out=1");
            add_cookie(&mut response, &session::clear_session_cookie(state.bank()));
            response
        })
        .boxed()
}
