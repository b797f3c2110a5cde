//! The dashboard (the customer's accounts), an account's page with its statement, and
//! opening another account (individual, joint or company).

use std::sync::Arc;

use askama::Template;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::i18n::Tr;
use super::session::{visit, Session, Visit};
use super::{error_message, form_body, redirect, render, signed_in, signed_in_post, with_state, Chrome, Errors, Field, Form};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::ledger::{AccountKind, AccountView, LedgerError};
use crate::service::operations;
use ringbank_domain::document::Document;
use ringbank_domain::money::format_brl;

/// Statement lines per page.
const STATEMENT_PAGE_LINES: u32 = 20;
/// Other holders offered on the new-account form (without JavaScript).
const HOLDER_INPUTS: usize = 3;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    dashboard(state.clone())
        .or(new_account_form(state.clone()))
        .unify()
        .or(new_account(state.clone()))
        .unify()
        .or(accept(state.clone()))
        .unify()
        .or(account(state))
        .unify()
        .boxed()
}

/// POST /accounts/{number}/accept {csrf} -> 303 /accounts/{number}?accepted=1 (a named co-holder consents)
fn accept(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / String / "accept")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|number: String, visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            match operations::accept_account(&state.services, &session.caller, &number).await {
                Ok(view) => redirect(&format!("/accounts/{}?accepted=1", view.number)),
                Err(error) => super::failure(&state, &visit, Some(&session), &ApiError::from(error)),
            }
        })
        .boxed()
}

/// An account as the pages show it: amounts and documents already formatted.
pub struct AccountCard {
    pub number: String,
    pub kind_label: &'static str,
    pub balance: String,
    pub available: String,
    pub held: bool,
    pub holders: String,
    /// Co-holders who have not accepted yet, formatted; empty once the account is active.
    pub pending_holders: String,
}

impl AccountCard {
    pub fn new(t: Tr, view: &AccountView) -> AccountCard {
        AccountCard {
            number: view.number.clone(),
            kind_label: t.get(&format!("kind.{}", view.kind)),
            balance: format_brl(view.balance_cents),
            available: format_brl(view.available_cents),
            held: view.available_cents != view.balance_cents,
            holders: view.holders.iter().map(|h| ringbank_domain::display::mask_document(h)).collect::<Vec<_>>().join(", "),
            pending_holders: view.pending_holders.iter().map(|h| ringbank_domain::display::mask_document(h)).collect::<Vec<_>>().join(", "),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    c: Chrome,
    welcome: String,
    document: String,
    total: String,
    accounts: Vec<AccountCard>,
    elsewhere: Vec<OtherBank>,
    /// Scheduled transfers that failed or were missed in the last week.
    schedule_notices: Vec<String>,
}

/// The customer's accounts at another bank of the ring, as the dashboard shows them.
struct OtherBank {
    bank: String,
    available: bool,
    accounts: Vec<AccountCard>,
}

/// GET /dashboard -> the customer's accounts at this bank and at the other banks of the ring
fn dashboard(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("dashboard")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let (views, elsewhere) = tokio::join!(
                state.ledger.accounts_of(&session.caller.document),
                super::remote::accounts_elsewhere(&state, &session.caller.document)
            );
            let views = match views {
                Ok(views) => views,
                Err(error) => return super::failure(&state, &visit, Some(&session), &error.into()),
            };
            let c = Chrome::new(&state, &visit, Some(&session), "dashboard.title", "dashboard");
            let t = c.t;
            let failures = crate::service::schedules::recent_failures(&state.services, &session.caller, 7).await.unwrap_or_default();
            let schedule_notices = failures
                .iter()
                .map(|run| {
                    let when = crate::service::schedules::rfc3339(run.due_at_ms);
                    t.fill("schedules.failed_notice", &[&when, run.reason.as_deref().unwrap_or_default()])
                })
                .collect();
            let total = ringbank_domain::money::checked_sum(views.iter().map(|v| v.balance_cents)).map(format_brl).unwrap_or_default();
            let page = DashboardPage {
                welcome: t.fill("dashboard.welcome", &[ringbank_domain::display::first_name(&session.caller.name)]),
                document: ringbank_domain::display::mask_document(&session.caller.document),
                total,
                accounts: views.iter().map(|v| AccountCard::new(t, v)).collect(),
                elsewhere: elsewhere
                    .into_iter()
                    .map(|b| OtherBank {
                        available: b.accounts.is_some(),
                        accounts: b.accounts.unwrap_or_default().iter().map(|v| AccountCard::new(t, v)).collect(),
                        bank: b.bank,
                    })
                    .collect(),
                schedule_notices,
                c,
            };
            render(StatusCode::OK, &page)
        })
        .boxed()
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    c: Chrome,
    account: AccountCard,
    notice: Option<String>,
    lines: Vec<super::statement::Line>,
    older_href: Option<String>,
    dates: super::statement::DateFilter,
    /// `?from=..&until=..` of the filter, for the export links.
    filter_query: String,
    first_page: bool,
    /// The signed-in customer is a co-holder who has not accepted this account yet.
    can_accept: bool,
}

/// GET /accounts/{number}?before=LINE -> balance, available balance and statement (404 unless held)
fn account(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / String)
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|number: String, visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            match account_page(&state, &visit, &session, &number).await {
                Ok(response) => response,
                Err(error) => super::failure(&state, &visit, Some(&session), &error),
            }
        })
        .boxed()
}

async fn account_page(state: &Arc<AppState>, visit: &Visit, session: &Session, number: &str) -> Result<Response, ApiError> {
    let view = operations::held_account(&state.services, &session.caller, number).await.map_err(ApiError::from)?;
    let before = visit.query_value("before").and_then(|b| b.parse::<i64>().ok());
    let t = visit.tr();
    let zone = &state.config.time_zone;
    let dates = super::statement::DateFilter::read(t, zone, visit);
    let filter = crate::ledger::StatementFilter { before, from_ms: dates.from_ms, until_ms: dates.until_ms, limit: STATEMENT_PAGE_LINES };
    let (rows, next_before) = state.ledger.statement_rows(&view.number, &session.caller.document, filter).await?;
    let mut c = Chrome::new(state, visit, Some(session), "statement.title", "dashboard");
    c.title = t.fill("account.number", &[&view.number]);
    let notice = if visit.query_value("opened").is_some() {
        Some(t.fill("dashboard.created", &[&view.number]))
    } else if let Some(entry) = visit.query_value("posted") {
        // Only what the ledger says happened is confirmed, never what the link says.
        rows.iter().map(|r| &r.line).find(|e| e.entry_id == entry).map(|e| match e.kind.as_str() {
            "deposit" => t.fill("deposit.done", &[&format_brl(e.amount_cents), &view.number]),
            _ => t.fill("withdraw.done", &[&format_brl(-e.amount_cents), &view.number]),
        })
    } else {
        None
    };
    let lines = rows.iter().map(|row| super::statement::Line::new(t, zone, row, &view.number)).collect();
    let filter_query = if dates.is_set() { format!("?{}", dates.query()) } else { String::new() };
    let and_filter = if dates.is_set() { format!("&{}", dates.query()) } else { String::new() };
    let older_href = next_before.map(|b| format!("/accounts/{}?before={b}{and_filter}", view.number));
    let can_accept = view.pending_holders.contains(&session.caller.document);
    let notice = notice.or_else(|| visit.query_value("accepted").map(|_| t.get("account.accepted").to_string()));
    let page = AccountPage {
        account: AccountCard::new(t, &view),
        c,
        notice,
        lines,
        older_href,
        first_page: before.is_none(),
        can_accept,
        dates,
        filter_query,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "new_account.html")]
struct NewAccountPage {
    c: Chrome,
    person: bool,
    kind: String,
    holders: Vec<Field>,
    errors: Errors,
}

/// GET /accounts/new -> the form to open another account
fn new_account_form(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / "new")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            match signed_in(&state, &visit).await {
                Ok(session) => new_account_page(&state, &visit, &session, &Form::default(), Errors::default()),
                Err(response) => response,
            }
        })
        .boxed()
}

fn new_account_page(state: &AppState, visit: &Visit, session: &Session, form: &Form, errors: Errors) -> Response {
    let c = Chrome::new(state, visit, Some(session), "new_account.title", "dashboard");
    let t = c.t;
    let person = session.caller.person;
    let default_kind = if person { "joint" } else { "company" };
    let kind = match form.get("kind") {
        "" => default_kind.to_string(),
        other => other.to_string(),
    };
    let holders = (1..=HOLDER_INPUTS)
        .map(|i| {
            let name = format!("holder_{i}");
            let mut field = Field::text(&name, t.fill("field.holder_n", &[&i.to_string()]), form.get(&name)).error(&errors);
            field.document = true;
            field.required = false;
            field.inputmode = "numeric";
            field
        })
        .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render(status, &NewAccountPage { c, person, kind, holders, errors })
}

/// POST /accounts/new {csrf, kind, holder_1..3} -> 303 /accounts/{number}?opened=1
fn new_account(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / "new")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            match open_account(&state, &visit, &session, &form).await {
                Ok(number) => redirect(&format!("/accounts/{number}?opened=1")),
                Err(errors) => new_account_page(&state, &visit, &session, &form, errors),
            }
        })
        .boxed()
}

async fn open_account(state: &Arc<AppState>, visit: &Visit, session: &Session, form: &Form) -> Result<String, Errors> {
    let t = visit.tr();
    let mut errors = Errors::default();
    let kind = match form.get("kind") {
        "individual" => Some(AccountKind::Individual),
        "joint" => Some(AccountKind::Joint),
        "company" => Some(AccountKind::Company),
        _ => None,
    };
    if kind.is_none() {
        errors.add("kind", t.get("error.kind_choose"));
    }
    let mut holders = Vec::new();
    for i in 1..=HOLDER_INPUTS {
        let name = format!("holder_{i}");
        let text = form.get(&name).trim();
        if text.is_empty() {
            continue;
        }
        match Document::parse(text) {
            Ok(document) => holders.push((name, document)),
            Err(_) => errors.add(&name, t.get("error.document_invalid")),
        }
    }
    if kind == Some(AccountKind::Joint) && holders.is_empty() && errors.is_empty() {
        errors.add("holder_1", t.get("error.joint_needs_holder"));
    }
    let Some(kind) = kind.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    // Holders only go with a joint account; the other kinds have the caller alone.
    let others: Vec<String> =
        if kind == AccountKind::Joint { holders.iter().map(|(_, d)| d.as_str().to_string()).collect() } else { Vec::new() };
    match operations::open_account(&state.services, &session.caller, kind, &others).await.map_err(ApiError::from) {
        Ok(view) => Ok(view.number),
        Err(error) => {
            match &error {
                ApiError::Ledger(LedgerError::UnknownCustomer(document)) => {
                    let field = holders.iter().find(|(_, d)| d.as_str() == document).map(|(n, _)| n.as_str()).unwrap_or("holder_1");
                    errors.add(field, error_message(t, &error));
                }
                ApiError::Ledger(LedgerError::IndividualAccountExists | LedgerError::InvalidAccountKind(_)) => {
                    errors.add("kind", error_message(t, &error));
                }
                _ => errors.form = Some(error_message(t, &error)),
            }
            Err(errors)
        }
    }
}
