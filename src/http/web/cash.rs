//! Deposits and withdrawals: one form each, posted through the same operations as the API's
//! POST /api/v1/deposits and /api/v1/withdrawals, with an idempotency key per form shown so
//! a double submit posts once.

use std::sync::Arc;

use askama::Template;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::session::{visit, Session, Visit};
use super::{
    account_choices, error_message, form_body, form_key, parse_amount, redirect, render, signed_in, signed_in_post, with_state, Chrome,
    Errors, Field, Form,
};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::ledger::LedgerError;
use crate::service::operations::{self, Cash, CashRequest};

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    cash_form(state.clone(), Cash::Deposit)
        .or(cash_post(state.clone(), Cash::Deposit))
        .unify()
        .or(cash_form(state.clone(), Cash::Withdrawal))
        .unify()
        .or(cash_post(state, Cash::Withdrawal))
        .unify()
        .boxed()
}

/// The path, page keys and API collection of each direction.
fn names(cash: Cash) -> (&'static str, &'static str, &'static str) {
    match cash {
        Cash::Deposit => ("deposit", "deposit", "deposits"),
        Cash::Withdrawal => ("withdraw", "withdraw", "withdrawals"),
    }
}

#[derive(Template)]
#[template(path = "cash.html")]
struct CashPage {
    c: Chrome,
    action: &'static str,
    lead: String,
    submit: String,
    key: String,
    has_accounts: bool,
    fields: Vec<Field>,
    errors: Errors,
}

/// GET /deposit?account=N and GET /withdraw?account=N -> the form
fn cash_form(state: Arc<AppState>, cash: Cash) -> BoxedFilter<(Response,)> {
    let (path, _, _) = names(cash);
    warp::path(path)
        .and(warp::path::end())
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(move |visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let preselected = visit.query_value("account").unwrap_or("").to_string();
            cash_page(&state, &visit, &session, cash, &preselected, "", &form_key(), Errors::default()).await
        })
        .boxed()
}

#[allow(clippy::too_many_arguments)]
async fn cash_page(
    state: &Arc<AppState>,
    visit: &Visit,
    session: &Session,
    cash: Cash,
    account: &str,
    amount: &str,
    key: &str,
    errors: Errors,
) -> Response {
    let (path, keys, _) = names(cash);
    let accounts = match state.ledger.accounts_of(&session.caller.document).await {
        Ok(accounts) => accounts,
        Err(error) => return super::failure(state, visit, Some(session), &error.into()),
    };
    let c = Chrome::new(state, visit, Some(session), &format!("{keys}.title"), path);
    let t = c.t;
    let selected = if account.is_empty() { accounts.first().map(|a| a.number.clone()).unwrap_or_default() } else { account.to_string() };
    let fields = vec![
        Field::select("account", t.get("field.account").to_string(), account_choices(t, &accounts, &selected, None)).error(&errors),
        Field::amount("amount", t, amount).error(&errors),
    ];
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = CashPage {
        lead: t.get(&format!("{keys}.lead")).to_string(),
        submit: t.get(&format!("{keys}.submit")).to_string(),
        action: path,
        key: key.to_string(),
        has_accounts: !accounts.is_empty(),
        fields,
        errors,
        c,
    };
    render(status, &page)
}

/// POST /deposit and POST /withdraw {csrf, key, account, amount} -> 303 /accounts/{n}?posted=ID
fn cash_post(state: Arc<AppState>, cash: Cash) -> BoxedFilter<(Response,)> {
    let (path, _, _) = names(cash);
    warp::path(path)
        .and(warp::path::end())
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(move |visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            match post_cash(&state, &visit, &session, cash, &form).await {
                Ok(response) => response,
                Err(errors) => {
                    cash_page(&state, &visit, &session, cash, form.get("account"), form.get("amount"), form.get("key"), errors).await
                }
            }
        })
        .boxed()
}

async fn post_cash(state: &Arc<AppState>, visit: &Visit, session: &Session, cash: Cash, form: &Form) -> Result<Response, Errors> {
    let t = visit.tr();
    let (_, _, collection) = names(cash);
    let mut errors = Errors::default();
    let account = form.get("account").trim();
    if operations::held_account(&state.services, &session.caller, account).await.map_err(ApiError::from).is_err() {
        errors.add("account", t.get("error.account_choose"));
    }
    let amount = parse_amount(state, t, form.get("amount")).map_err(|message| errors.add("amount", message)).ok();
    let Some(amount_cents) = amount.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    let request = CashRequest { account: account.to_string(), amount_cents };
    let result = async {
        let job = operations::cash_job(&state.services, &session.caller, cash, &request)?;
        let canonical = serde_json::to_string(&request).unwrap_or_default();
        let key = Some(form.get("key").to_string()).filter(|k| !k.is_empty());
        operations::post_money(&state.services, &session.caller, collection, job, &canonical, key).await.map_err(ApiError::from)
    };
    match result.await {
        Ok(posted) => Ok(redirect(&format!("/accounts/{account}?posted={}", posted.id))),
        Err(error) => {
            match &error {
                ApiError::Ledger(LedgerError::InsufficientFunds { .. } | LedgerError::Overflow)
                | ApiError::LimitExceeded(_)
                | ApiError::InvalidAmount(_) => errors.add("amount", error_message(t, &error)),
                _ => errors.form = Some(error_message(t, &error)),
            }
            Err(errors)
        }
    }
}
