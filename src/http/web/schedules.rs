//! Scheduled transfers in the pages (/schedules): the customer's schedules with their runs, a
//! form to schedule a transfer (once, weekly, monthly) and a cancel button per active one,
//! through the same use cases as /api/v1/schedules.

use std::sync::Arc;

use askama::Template;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use ringbank_domain::money::format_brl;
use ringbank_domain::schedule::LocalDateTime;

use super::session::{visit, Session, Visit};
use super::{
    account_choices, error_message, form_body, parse_amount, redirect, render, signed_in, signed_in_post, with_state, Choice, Chrome,
    Errors, Field, Form,
};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::service::operations::PaymentTarget;
use crate::service::schedules::{self, NewScheduleRequest};

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    page(state.clone()).or(create(state.clone())).unify().or(cancel(state)).unify().boxed()
}

struct Row {
    id: String,
    what: String,
    when: String,
    status: String,
    active: bool,
    runs: Vec<String>,
}

#[derive(Template)]
#[template(path = "schedules.html")]
struct SchedulesPage {
    c: Chrome,
    notice: Option<String>,
    rows: Vec<Row>,
    has_accounts: bool,
    fields: Vec<Field>,
    errors: Errors,
}

/// A local time for people: "05/12/2026 09:00".
fn local(state: &AppState, ms: i64) -> String {
    let t = LocalDateTime::from_ms(ms, state.config.time_zone.offset_at(ms));
    format!("{:02}/{:02}/{:04} {:02}:{:02}", t.day, t.month, t.year, t.hour, t.minute)
}

async fn show(state: &Arc<AppState>, visit: &Visit, session: &Session, typed: Option<&Form>, errors: Errors) -> Response {
    let (list, accounts) =
        match tokio::join!(schedules::list(&state.services, &session.caller), state.ledger.accounts_of(&session.caller.document)) {
            (Ok(list), Ok(accounts)) => (list, accounts),
            (Err(error), _) => return super::failure(state, visit, Some(session), &error.into()),
            (_, Err(error)) => return super::failure(state, visit, Some(session), &error.into()),
        };
    let c = Chrome::new(state, visit, Some(session), "schedules.title", "dashboard");
    let t = c.t;
    let rows = list
        .into_iter()
        .map(|s| {
            let r = &s.schedule;
            Row {
                id: r.id.clone(),
                what: t.fill("schedules.what", &[&format_brl(r.amount_cents), &r.from_account, &r.to_bank, &r.to_account]),
                when: match r.next_at_ms.filter(|_| r.status == "active") {
                    Some(ms) => t.fill("schedules.next", &[&local(state, ms), t.get(&format!("schedules.repeat.{}", r.repeat))]),
                    None => t.get(&format!("schedules.repeat.{}", r.repeat)).to_string(),
                },
                status: t.get(&format!("schedules.status.{}", r.status)).to_string(),
                active: r.status == "active",
                runs: s
                    .runs
                    .iter()
                    .map(|run| {
                        let status = t.get(&format!("schedules.run.{}", run.status));
                        match &run.reason {
                            Some(reason) => format!("{} · {status}: {reason}", local(state, run.due_at_ms)),
                            None => format!("{} · {status}", local(state, run.due_at_ms)),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    let get = |name: &str| typed.map(|f| f.get(name).to_string()).unwrap_or_default();
    let selected = get("from");
    let repeat = if typed.is_some() { get("repeat") } else { "once".to_string() };
    let repeat_choices = ["once", "weekly", "monthly"]
        .into_iter()
        .map(|r| Choice { value: r.to_string(), label: t.get(&format!("schedules.repeat.{r}")).to_string(), selected: r == repeat })
        .collect();
    let when = Field::text("first_at", t.get("schedules.first_at").to_string(), &get("first_at"))
        .hint(t.fill("schedules.first_at_hint", &[&state.config.time_zone.name().to_string()]))
        .error(&errors);
    let fields = vec![
        Field::select("from", t.get("field.account").to_string(), account_choices(t, &accounts, &selected, None)).error(&errors),
        Field::text(
            "to_bank",
            t.get("schedules.to_bank").to_string(),
            &if typed.is_some() { get("to_bank") } else { state.bank().to_string() },
        )
        .error(&errors),
        Field::text("to_account", t.get("schedules.to_account").to_string(), &get("to_account")).error(&errors),
        Field::amount("amount", t, &get("amount")).error(&errors),
        when,
        Field::select("repeat", t.get("schedules.repeat").to_string(), repeat_choices).error(&errors),
    ];
    let notice = visit
        .query_value("created")
        .map(|_| t.get("schedules.created").to_string())
        .or_else(|| visit.query_value("cancelled").map(|_| t.get("schedules.cancelled").to_string()));
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render(status, &SchedulesPage { c, notice, rows, has_accounts: !accounts.is_empty(), fields, errors })
}

/// GET /schedules -> the customer's schedules and the form
fn page(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("schedules")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            match signed_in(&state, &visit).await {
                Ok(session) => show(&state, &visit, &session, None, Errors::default()).await,
                Err(response) => response,
            }
        })
        .boxed()
}

/// POST /schedules {csrf, from, to_bank, to_account, amount, first_at, repeat} -> 303 /schedules?created=1
fn create(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("schedules")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let t = visit.tr();
            let mut errors = Errors::default();
            let amount = parse_amount(&state, t, form.get("amount")).map_err(|message| errors.add("amount", message)).ok();
            if LocalDateTime::parse(form.get("first_at")).is_err() {
                errors.add("first_at", t.get("schedules.first_at_invalid"));
            }
            let Some(amount_cents) = amount.filter(|_| errors.is_empty()) else {
                return show(&state, &visit, &session, Some(&form), errors).await;
            };
            let request = NewScheduleRequest {
                from_account: form.get("from").trim().to_string(),
                to: PaymentTarget { bank: form.get("to_bank").trim().to_string(), account: form.get("to_account").trim().to_string() },
                amount_cents,
                description: String::new(),
                first_at: form.get("first_at").to_string(),
                repeat: Some(form.get("repeat").to_string()),
                occurrences: None,
            };
            match schedules::create(&state.services, &session.caller, &request).await {
                Ok(_) => redirect("/schedules?created=1"),
                Err(error) => {
                    let error = ApiError::from(error);
                    match &error {
                        ApiError::InvalidField(detail) if detail.starts_with("first_at") => {
                            errors.add("first_at", t.get("schedules.first_at_future"))
                        }
                        _ => errors.form = Some(error_message(t, &error)),
                    }
                    show(&state, &visit, &session, Some(&form), errors).await
                }
            }
        })
        .boxed()
}

/// POST /schedules/{id}/cancel {csrf} -> 303 /schedules?cancelled=1
fn cancel(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("schedules" / String / "cancel")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|id: String, visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            match schedules::cancel(&state.services, &session.caller, &id).await {
                Ok(_) => redirect("/schedules?cancelled=1"),
                Err(error) => super::failure(&state, &visit, Some(&session), &error.into()),
            }
        })
        .boxed()
}
