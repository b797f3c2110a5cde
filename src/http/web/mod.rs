//! The customer web pages (internet banking): server-rendered HTML from askama templates
//! under web/templates, checked at compile time, with the static files of web/static
//! embedded in the binary. Pages work without JavaScript.
//!
//! Money moves only through crate::service::operations, the same validation and ledger jobs as the
//! JSON API. Sessions and CSRF are described in `session`.

mod accounts;
mod assets;
mod auth;
mod cash;
mod consents;
pub mod display;
pub mod i18n;
mod idle;
mod limits;
mod monitor;
mod pix;
mod pix_keys;
mod pix_text;
mod refunds;
mod remote;
mod schedules;

mod session;
mod statement;
mod transfers;
mod verify;

use std::convert::Infallible;
use std::sync::Arc;

use askama::Template;
use bytes::Bytes;
use warp::filters::BoxedFilter;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Filter;

use self::i18n::{Lang, Tr};
pub use self::idle::PageActivity;
use self::session::{Session, Visit};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::ledger::LedgerError;

/// Every page route; requests for other paths are rejected (not found) so the API's routes
/// and error mapping stay as they are.
pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    let pages = assets::routes()
        .or(auth::routes(state.clone()))
        .unify()
        .or(accounts::routes(state.clone()))
        .unify()
        .or(cash::routes(state.clone()))
        .unify()
        .or(transfers::routes(state.clone()))
        .unify()
        .or(consents::routes(state.clone()))
        .unify()
        .or(limits::routes(state.clone()))
        .unify()
        .or(refunds::routes(state.clone()))
        .unify()
        .or(schedules::routes(state.clone()))
        .unify()
        .or(verify::routes(state.clone()))
        .unify()
        // Before the statement's exports: those take any /accounts/{n}/{file} and answer 404
        // for a file they do not know.
        .or(pix::routes(state.clone()))
        .unify()
        .or(pix_keys::routes(state.clone()))
        .unify()
        .or(statement::routes(state.clone()))
        .unify()
        .or(monitor::routes(state))
        .unify();
    session::lang_switch()
        .and(pages)
        .map(|asked: Option<Lang>, mut response: Response| {
            if let Some(lang) = asked {
                add_cookie(&mut response, &session::lang_cookie(lang));
            }
            response
        })
        .boxed()
}

/// Paths that belong to the JSON APIs and tools: they keep problem+json for unknown routes.
const API_PREFIXES: &[&str] = &["/api/", "/bank/", "/ring/v1", "/admin", "/metrics", "/healthz", "/readyz", "/static/"];

/// Any other GET from a browser (it accepts HTML) outside the APIs: the 404 page in the bank's
/// style instead of problem+json. Mounted after every route (src/http/mod.rs), before `recover`.
pub fn unknown_page(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    // The method is checked inside: a method filter's rejection (405) would outrank the
    // API routes' own rejections (a bad header's 400) for every non-GET request.
    warp::method()
        .and(warp::header::optional::<String>("accept"))
        .and(session::visit(&state))
        .and(with_state(state))
        .and_then(|method: warp::http::Method, accept: Option<String>, visit: Visit, state: Arc<AppState>| async move {
            let api = API_PREFIXES.iter().any(|prefix| visit.path.starts_with(prefix));
            if method != warp::http::Method::GET || api || !accept.is_some_and(|a| a.contains("text/html")) {
                return Err(warp::reject::not_found());
            }
            let session = visit.session(&state).await;
            Ok::<Response, warp::Rejection>(not_found(&state, &visit, session.as_ref()))
        })
        .boxed()
}

fn with_state(state: Arc<AppState>) -> impl Filter<Extract = (Arc<AppState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// A size-limited form body.
fn form_body() -> impl Filter<Extract = (Form,), Error = warp::Rejection> + Clone {
    crate::http::reply::body().map(|body: Bytes| Form { pairs: serde_urlencoded::from_bytes(&body).unwrap_or_default() })
}

/// An `application/x-www-form-urlencoded` body; missing fields read as empty.
#[derive(Debug, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub fn get(&self, name: &str) -> &str {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// What the layout (base.html) needs on every page.
pub struct Chrome {
    pub t: Tr,
    pub html_lang: &'static str,
    pub bank: String,
    pub title: String,
    pub user: Option<String>,
    pub csrf: String,
    pub nav: &'static str,
    pub lang_href: String,
    pub lang_label: &'static str,
    pub refresh_seconds: Option<u32>,
    /// Signed in: seconds of no page request before the idle sign-out, and of its warning.
    pub idle_seconds: u64,
    pub idle_warn_seconds: u64,
    /// A page's own script, besides static/app.js.
    pub extra_script: Option<&'static str>,
}

impl Chrome {
    pub fn new(state: &AppState, visit: &Visit, session: Option<&Session>, title_key: &str, nav: &'static str) -> Chrome {
        let t = visit.tr();
        let other = visit.lang.other();
        let mut query: Vec<(String, String)> = visit.query.iter().filter(|(k, _)| k != "lang").cloned().collect();
        query.push(("lang".to_string(), other.code().to_string()));
        let lang_href = format!("{}?{}", visit.path, serde_urlencoded::to_string(&query).unwrap_or_default());
        Chrome {
            t,
            html_lang: visit.lang.html_code(),
            bank: state.bank().to_string(),
            title: t.get(title_key).to_string(),
            user: session.map(|s| ringbank_domain::display::first_name(&s.caller.name).to_string()),
            csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
            nav,
            lang_href,
            lang_label: match other {
                Lang::Pt => "Português",
                Lang::En => "English",
            },
            refresh_seconds: None,
            idle_seconds: if session.is_some() { state.config.page_idle_timeout.as_secs() } else { 0 },
            idle_warn_seconds: (state.config.page_idle_timeout.as_secs() / 3).min(60),
            extra_script: None,
        }
    }
}

/// One labelled form control with its hint and error (rendered by field.html).
pub struct Field {
    pub name: String,
    pub label: String,
    /// text, password, select
    pub kind: &'static str,
    pub value: String,
    pub hint: Option<String>,
    pub error: Option<String>,
    pub autocomplete: &'static str,
    pub inputmode: &'static str,
    pub options: Vec<Choice>,
    /// Validate as a CPF or CNPJ while typing (static/app.js).
    pub document: bool,
    pub required: bool,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Field {
    pub fn text(name: &str, label: String, value: &str) -> Field {
        Field {
            name: name.to_string(),
            label,
            kind: "text",
            value: value.to_string(),
            hint: None,
            error: None,
            autocomplete: "off",
            inputmode: "text",
            options: Vec::new(),
            document: false,
            required: true,
        }
    }

    pub fn document(name: &str, t: Tr, value: &str) -> Field {
        let mut field = Field::text(name, t.get("field.document").to_string(), value);
        field.hint = Some(t.get("field.document.hint").to_string());
        field.autocomplete = "username";
        field.document = true;
        field
    }

    pub fn amount(name: &str, t: Tr, value: &str) -> Field {
        let mut field = Field::text(name, t.get("field.amount").to_string(), value);
        field.hint = Some(t.get("field.amount.hint").to_string());
        field.inputmode = "decimal";
        field
    }

    pub fn password(name: &str, label: String, autocomplete: &'static str) -> Field {
        let mut field = Field::text(name, label, "");
        field.kind = "password";
        field.autocomplete = autocomplete;
        field
    }

    pub fn select(name: &str, label: String, options: Vec<Choice>) -> Field {
        let mut field = Field::text(name, label, "");
        field.kind = "select";
        field.options = options;
        field
    }

    pub fn hint(mut self, hint: String) -> Field {
        self.hint = Some(hint);
        self
    }

    pub fn error(mut self, errors: &Errors) -> Field {
        self.error = errors.field(&self.name).map(str::to_string);
        self
    }

    /// The ids of the hint and error, for aria-describedby.
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("{}-hint", self.name));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.name));
        }
        ids.join(" ")
    }
}

/// A form's errors: per field, and one for the whole form.
#[derive(Debug, Default)]
pub struct Errors {
    pub fields: Vec<(String, String)>,
    pub form: Option<String>,
}

impl Errors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        if self.field(field).is_none() {
            self.fields.push((field.to_string(), message.into()));
        }
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_none()
    }
}

/// A localized, human sentence for an operation's error.
pub fn error_message(t: Tr, error: &ApiError) -> String {
    let key = format!("error.{}", error.slug());
    if !t.has(&key) {
        // Errors customers should never meet (bank-to-bank ones): a generic sentence.
        return t.get("error.internal").to_string();
    }
    match error {
        ApiError::Ledger(LedgerError::InsufficientFunds { account, available_cents, .. }) => {
            t.fill(&key, &[account, &ringbank_domain::money::format_brl(*available_cents)])
        }
        ApiError::Ledger(LedgerError::AccountNotFound(number)) | ApiError::Ledger(LedgerError::NotACompanyAccount(number)) => {
            t.fill(&key, &[number])
        }
        ApiError::Ledger(LedgerError::UnknownCustomer(document)) => t.fill(&key, &[&ringbank_domain::document::format_document(document)]),
        ApiError::UnknownBank(bank) => t.fill(&key, &[bank]),
        ApiError::LimitExceeded(detail) => t.fill(&key, &[detail]),
        ApiError::Ledger(LedgerError::LimitExceeded(refusal)) => {
            let kind = t.get(&format!("limits.kind.{}", refusal.kind.as_str()));
            let (limit, left) =
                (ringbank_domain::money::format_brl(refusal.limit_cents), ringbank_domain::money::format_brl(refusal.left_cents));
            if refusal.customer {
                let document = ringbank_domain::document::format_document(&refusal.account);
                return t.fill(&format!("{key}.customer"), &[kind, &document, &limit, &left]);
            }
            t.fill(&key, &[kind, &refusal.account, &limit, &left])
        }
        ApiError::Ledger(LedgerError::RefundRefused(detail)) if t.lang == Lang::En => format!("{} ({detail})", t.get(&key)),
        // A limit refusal given again under the form's key: its text as first given.
        ApiError::Ledger(LedgerError::Refused { kind: crate::ledger::RefusalKind::LimitExceeded, detail }) => detail.clone(),
        ApiError::InvalidField(detail) | ApiError::InvalidAmount(detail) if t.lang == Lang::En => {
            format!("{} ({detail})", t.get(&key))
        }
        _ => t.get(&key).to_string(),
    }
}

/// Checks a typed amount the way the operations will, with field-sized messages.
pub fn parse_amount(state: &AppState, t: Tr, text: &str) -> Result<i64, String> {
    use ringbank_domain::money::AmountError;
    let cents = ringbank_domain::money::parse_brl_exact(text).map_err(|error| {
        t.get(match error {
            AmountError::BadCents => "error.amount_cents",
            AmountError::BadGrouping => "error.amount_grouping",
            AmountError::NotANumber | AmountError::TooLarge => "error.amount_invalid",
        })
        .to_string()
    })?;
    let limits = state.services.transfer_limits();
    ringbank_domain::transfer::check_amount("amount", cents, limits).map_err(|error| match error {
        ringbank_domain::TransferError::LimitExceeded(_) => {
            t.fill("error.amount_max", &[&ringbank_domain::money::format_brl(limits.max_amount_cents)])
        }
        _ => t.get("error.amount_positive").to_string(),
    })
}

/// Renders a template as an HTML response.
pub fn render<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(body) => html(status, body),
        Err(error) => {
            tracing::error!(%error, "template failed");
            html(StatusCode::INTERNAL_SERVER_ERROR, "<!doctype html><title>Error</title><p>Internal error".to_string())
        }
    }
}

pub fn html(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// 303 See Other: the answer to a form POST, and to pages that need a session.
pub fn redirect(location: &str) -> Response {
    let mut response = Response::new(Default::default());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn add_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    c: Chrome,
    heading: String,
    text: String,
}

/// A page with a heading and a sentence: 404, 403 and failures.
pub fn message_page(
    state: &AppState,
    visit: &Visit,
    session: Option<&Session>,
    status: StatusCode,
    title_key: &str,
    text_key: &str,
) -> Response {
    let c = Chrome::new(state, visit, session, title_key, "");
    let heading = c.title.clone();
    let text = c.t.get(text_key).to_string();
    render(status, &MessagePage { c, heading, text })
}

pub fn not_found(state: &AppState, visit: &Visit, session: Option<&Session>) -> Response {
    message_page(state, visit, session, StatusCode::NOT_FOUND, "notfound.title", "notfound.text")
}

pub fn csrf_refused(state: &AppState, visit: &Visit, session: Option<&Session>) -> Response {
    message_page(state, visit, session, StatusCode::FORBIDDEN, "forbidden.title", "forbidden.text")
}

pub fn failure(state: &AppState, visit: &Visit, session: Option<&Session>, error: &ApiError) -> Response {
    if matches!(error, ApiError::Ledger(LedgerError::AccountNotFound(_)) | ApiError::Ledger(LedgerError::TransferNotFound(_))) {
        return not_found(state, visit, session);
    }
    if error.status().is_server_error() {
        tracing::error!(%error, "page failed");
    }
    let c = Chrome::new(state, visit, session, "error.page_title", "");
    let heading = c.title.clone();
    let text = error_message(c.t, error);
    render(error.status(), &MessagePage { c, heading, text })
}

/// The signed-in customer, or a redirect to the sign-in page that comes back here afterwards.
/// A session idle longer than `--page-idle-timeout` is signed out now (see `idle`).
pub async fn signed_in(state: &Arc<AppState>, visit: &Visit) -> Result<Session, Response> {
    let Some(session) = visit.session(state).await else {
        return Err(redirect(&signin_href(visit, "expired")));
    };
    if state.page_activity.touch(&session.key(), std::time::Instant::now(), state.config.page_idle_timeout) {
        if let Err(error) = state.services.sign_out(Some(&session.bearer())).await {
            tracing::warn!(%error, "idle sign-out failed");
        }
        let mut response = redirect(&signin_href(visit, "idle"));
        add_cookie(&mut response, &session::clear_session_cookie(state.bank()));
        return Err(response);
    }
    Ok(session)
}

/// /signin?{why}=1&next=PATH: PATH is this request's page (a form's POST path comes back as
/// the form's page: "/transfer/confirm" -> "/transfer"), without the language switch.
pub fn signin_href(visit: &Visit, why: &str) -> String {
    let mut path = visit.path.clone();
    for suffix in ["/confirm", "/accept", "/revoke"] {
        if let Some(page) = path.strip_suffix(suffix) {
            path = page.to_string();
        }
    }
    let query: Vec<&(String, String)> = visit.query.iter().filter(|(k, _)| k != "lang").collect();
    if !query.is_empty() {
        path = format!("{path}?{}", serde_urlencoded::to_string(&query).unwrap_or_default());
    }
    let next = auth::next_page(&path);
    format!("/signin?{why}=1&{}", serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default())
}

/// The signed-in customer of a form POST whose CSRF token checks out; otherwise a redirect
/// to sign in (no session) or a 403 page (bad token), with nothing done.
pub async fn signed_in_post(state: &Arc<AppState>, visit: &Visit, form: &Form) -> Result<Session, Response> {
    let session = signed_in(state, visit).await?;
    if session.csrf_ok(visit, form.get("csrf")) {
        Ok(session)
    } else {
        tracing::warn!(path = %visit.path, "form refused: bad CSRF token or origin");
        Err(csrf_refused(state, visit, Some(&session)))
    }
}

/// A fresh idempotency key for a form: submitting the form twice posts once.
pub fn form_key() -> String {
    format!("web-{}", hex::encode(rand::random::<[u8; 16]>()))
}

/// The customer's accounts as choices for a select, `selected` preselected.
pub fn account_choices(t: Tr, accounts: &[crate::ledger::AccountView], selected: &str, empty_label: Option<&str>) -> Vec<Choice> {
    let mut choices = Vec::new();
    if let Some(label) = empty_label {
        choices.push(Choice { value: String::new(), label: label.to_string(), selected: selected.is_empty() });
    }
    for account in accounts {
        choices.push(Choice {
            value: account.number.clone(),
            label: format!(
                "{} · {} · {}",
                account.number,
                t.get(&format!("kind.{}", account.kind)),
                ringbank_domain::money::format_brl(account.available_cents)
            ),
            selected: account.number == selected,
        });
    }
    choices
}
