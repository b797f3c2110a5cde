//! The transfer limits pages: an account's (/accounts/{n}/limits) and the customer's own over
//! every account they hold (/limits): the limits in force, what is left today and tonight, a
//! raise waiting, and a form to change them, through the same use cases as the API's GET/PUT
//! /api/v1/accounts/{n}/limits and /api/v1/limits.

use std::sync::Arc;

use askama::Template;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use ringbank_domain::money::{format_brl, parse_brl};

use super::session::{visit, Session, Visit};
use super::{error_message, form_body, redirect, render, signed_in, signed_in_post, with_state, Chrome, Errors, Field, Form};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::service::limits::{self, LimitsRequest, LimitsStatus};

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    let account = warp::path!("accounts" / String / "limits").map(Some);
    let own = warp::path!("limits").map(|| None);
    let path = account.or(own).unify().boxed();
    page(state.clone(), path.clone()).or(post(state, path)).unify().boxed()
}

/// Which limits a page shows: an account's (its number), or the customer's own (None).
type Subject = Option<String>;

async fn read(state: &AppState, session: &Session, subject: &Subject) -> Result<LimitsStatus, ApiError> {
    match subject {
        Some(number) => limits::get(&state.services, &session.caller, number).await.map_err(ApiError::from),
        None => limits::get_own(&state.services, &session.caller).await.map_err(ApiError::from),
    }
}

/// One line of the summary: a limit, what is left of it.
struct Row {
    id: &'static str,
    label: String,
    limit: String,
    left: String,
}

#[derive(Template)]
#[template(path = "limits.html")]
struct LimitsPage {
    c: Chrome,
    /// The page's own path (the form posts back to it).
    path: String,
    back_href: String,
    back_label: String,
    heading: String,
    /// The customer's own limits: a line on what they cover.
    own_lead: Option<String>,
    notice: Option<String>,
    night_now: String,
    rows: Vec<Row>,
    raise: Option<String>,
    hint: String,
    fields: Vec<Field>,
    errors: Errors,
}

fn money_or_none(c: &Chrome, cents: Option<i64>) -> String {
    cents.map(format_brl).unwrap_or_else(|| c.t.get("limits.none").to_string())
}

/// The value a form field shows for a limit: R$ without the symbol, empty for no limit.
fn field_value(cents: Option<i64>) -> String {
    cents.map(|c| format_brl(c).trim_start_matches("R$").trim().to_string()).unwrap_or_default()
}

fn render_page(
    state: &Arc<AppState>,
    visit: &Visit,
    session: &Session,
    status: &LimitsStatus,
    typed: Option<[&str; 3]>,
    errors: Errors,
) -> Response {
    let own = status.customer.is_some();
    let c = Chrome::new(state, visit, Some(session), if own { "limits.own_title" } else { "limits.title" }, "dashboard");
    let t = c.t;
    let rows = vec![
        Row {
            id: "limit-per-transfer",
            label: t.get("limits.per_transfer").to_string(),
            limit: money_or_none(&c, status.per_transfer_cents),
            left: String::new(),
        },
        Row {
            id: "limit-daily",
            label: t.get("limits.daily").to_string(),
            limit: money_or_none(&c, status.daily_cents),
            left: status.daily_left_cents.map(format_brl).unwrap_or_default(),
        },
        Row {
            id: "limit-night",
            label: t.get("limits.night").to_string(),
            limit: money_or_none(&c, status.night_cents),
            left: status.night_left_cents.map(format_brl).unwrap_or_default(),
        },
    ];
    let raise = status.raise.as_ref().map(|raise| {
        let list = format!(
            "{}: {}; {}: {}; {}: {}",
            t.get("limits.per_transfer"),
            money_or_none(&c, raise.per_transfer_cents),
            t.get("limits.daily"),
            money_or_none(&c, raise.daily_cents),
            t.get("limits.night"),
            money_or_none(&c, raise.night_cents)
        );
        t.fill("limits.raise_waiting", &[&list, &raise.applies_at])
    });
    let delay_secs = state.config.limit_raise_delay.as_secs();
    let delay = if delay_secs >= 3600 && delay_secs % 3600 == 0 {
        format!("{} h", delay_secs / 3600)
    } else {
        humantime::format_duration(state.config.limit_raise_delay).to_string()
    };
    let values = typed
        .map(|v| v.map(str::to_string))
        .unwrap_or_else(|| [field_value(status.per_transfer_cents), field_value(status.daily_cents), field_value(status.night_cents)]);
    let fields = vec![
        Field::text("per_transfer", t.get("limits.per_transfer").to_string(), &values[0]).error(&errors),
        Field::text("daily", t.get("limits.daily").to_string(), &values[1]).error(&errors),
        Field::text("night", t.get("limits.night").to_string(), &values[2]).error(&errors),
    ]
    .into_iter()
    .map(|mut f| {
        f.required = false;
        f.inputmode = "decimal";
        f
    })
    .collect();
    let (path, back_href, back_label, heading) = match &status.account {
        Some(number) => (
            format!("/accounts/{number}/limits"),
            format!("/accounts/{number}"),
            format!("{} {number}", t.get("limits.back")),
            format!("{} · {number}", c.title),
        ),
        None => ("/limits".to_string(), "/dashboard".to_string(), t.get("nav.dashboard").to_string(), c.title.clone()),
    };
    let page = LimitsPage {
        path,
        back_href,
        back_label,
        heading,
        own_lead: own.then(|| t.get("limits.own_lead").to_string()),
        notice: visit.query_value("saved").map(|_| t.get("limits.saved").to_string()),
        night_now: t.get(if status.night_now { "limits.night_now" } else { "limits.day_now" }).to_string(),
        rows,
        raise,
        hint: t.fill("limits.hint", &[&delay]),
        fields,
        errors,
        c,
    };
    let code = if page.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render(code, &page)
}

/// GET /accounts/{n}/limits or /limits -> the limits page
fn page(state: Arc<AppState>, path: BoxedFilter<(Subject,)>) -> BoxedFilter<(Response,)> {
    path.and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|subject: Subject, visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            match read(&state, &session, &subject).await {
                Ok(status) => render_page(&state, &visit, &session, &status, None, Errors::default()),
                Err(error) => super::failure(&state, &visit, Some(&session), &error),
            }
        })
        .boxed()
}

/// POST /accounts/{n}/limits or /limits {csrf, per_transfer, daily, night} -> 303 back with a
/// notice
fn post(state: Arc<AppState>, path: BoxedFilter<(Subject,)>) -> BoxedFilter<(Response,)> {
    path.and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|subject: Subject, visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let t = visit.tr();
            let mut errors = Errors::default();
            let mut parse = |name: &str| -> Option<i64> {
                let text = form.get(name).trim();
                if text.is_empty() {
                    return None;
                }
                match parse_brl(text).filter(|cents| *cents > 0) {
                    Some(cents) => Some(cents),
                    None => {
                        errors.add(name, t.get("limits.amount_invalid"));
                        None
                    }
                }
            };
            let request = LimitsRequest {
                per_transfer_cents: Some(parse("per_transfer")),
                daily_cents: Some(parse("daily")),
                night_cents: Some(parse("night")),
            };
            let typed = [form.get("per_transfer"), form.get("daily"), form.get("night")];
            if !errors.is_empty() {
                return match read(&state, &session, &subject).await {
                    Ok(status) => render_page(&state, &visit, &session, &status, Some(typed), errors),
                    Err(error) => super::failure(&state, &visit, Some(&session), &error),
                };
            }
            let saved = match &subject {
                Some(number) => limits::set(&state.services, &session.caller, number, &request).await,
                None => limits::set_own(&state.services, &session.caller, &request).await,
            };
            match saved {
                Ok(status) => match &status.account {
                    Some(number) => redirect(&format!("/accounts/{number}/limits?saved=1")),
                    None => redirect("/limits?saved=1"),
                },
                Err(error) => {
                    let error = ApiError::from(error);
                    match read(&state, &session, &subject).await {
                        Ok(status) => {
                            errors.form = Some(error_message(t, &error));
                            render_page(&state, &visit, &session, &status, Some(typed), errors)
                        }
                        Err(_) => super::failure(&state, &visit, Some(&session), &error),
                    }
                }
            }
        })
        .boxed()
}
