//! The refund page of a transfer or payment received (/transfers/{id}/refund?account=N): what
//! it credited, what was already refunded, and a form to refund all or part of the rest,
//! through the same use case as the API's POST /api/v1/transfers/{id}/refunds.

use std::sync::Arc;

use askama::Template;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use ringbank_domain::money::format_brl;

use super::session::{visit, Session, Visit};
use super::{
    error_message, form_body, form_key, parse_amount, redirect, render, signed_in, signed_in_post, with_state, Chrome, Errors, Field, Form,
};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::ledger::LedgerError;
use crate::service::operations;
use crate::service::refunds::{self, RefundRequest};

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    page(state.clone()).or(post(state)).unify().boxed()
}

struct Done {
    id: String,
    amount: String,
    description: String,
    /// Still running by two-phase commit (the payer is at another bank).
    pending: bool,
}

#[derive(Template)]
#[template(path = "refund.html")]
struct RefundPage {
    c: Chrome,
    original: String,
    account: String,
    notice: Option<String>,
    credited: String,
    refunded: String,
    left: String,
    can_refund: bool,
    done: Vec<Done>,
    key: String,
    fields: Vec<Field>,
    errors: Errors,
}

struct Typed<'a> {
    amount: &'a str,
    note: &'a str,
    key: &'a str,
}

async fn show(
    state: &Arc<AppState>,
    visit: &Visit,
    session: &Session,
    original: &str,
    account: &str,
    typed: Option<Typed<'_>>,
    errors: Errors,
) -> Result<Response, ApiError> {
    let original = refunds::transfer_id(original)?;
    let view = operations::held_account(&state.services, &session.caller, account).await?;
    let credited =
        state.ledger.credited_by(&original, &view.number).await?.ok_or_else(|| LedgerError::TransferNotFound(original.clone()))?;
    let (lines, _) = refunds::refunds_of(&state.services, &session.caller, &original).await?;
    let refunded: i64 = lines.iter().filter(|l| l.from_account == view.number).map(|l| l.amount_cents).sum();
    let left = (credited - refunded).max(0);
    let c = Chrome::new(state, visit, Some(session), "refund.title", "dashboard");
    let t = c.t;
    let notice = visit.query_value("done").and_then(|id| {
        // A refund of a transfer with several payers is one line per payer it returns to.
        let parts: Vec<_> = lines.iter().filter(|l| l.id == id).collect();
        let first = parts.first()?;
        let amount = format_brl(parts.iter().map(|l| l.amount_cents).sum());
        Some(match parts.as_slice() {
            [l] if l.status == "pending" => t.fill("refund.sent", &[&amount, &l.to_account, &l.to_bank]),
            [l] => t.fill("refund.done", &[&amount, &l.to_account]),
            _ => {
                let each: Vec<String> =
                    parts.iter().map(|l| t.fill("refund.part", &[&l.to_account, &l.to_bank, &format_brl(l.amount_cents)])).collect();
                let key = if first.status == "pending" { "refund.sent_several" } else { "refund.done_several" };
                t.fill(key, &[&amount, &each.join(", ")])
            }
        })
    });
    let typed = typed.unwrap_or(Typed { amount: "", note: "", key: "" });
    let amount = if typed.amount.is_empty() && errors.is_empty() {
        format_brl(left).trim_start_matches("R$").trim().to_string()
    } else {
        typed.amount.to_string()
    };
    let fields = vec![Field::amount("amount", t, &amount).error(&errors), {
        let mut note = Field::text("note", t.get("refund.note").to_string(), typed.note).error(&errors);
        note.required = false;
        note
    }];
    let key = if typed.key.is_empty() { form_key() } else { typed.key.to_string() };
    let page = RefundPage {
        original: original.clone(),
        account: view.number.clone(),
        notice,
        credited: format_brl(credited),
        refunded: format_brl(refunded),
        left: format_brl(left),
        can_refund: left > 0,
        done: lines
            .iter()
            .filter(|l| l.from_account == view.number)
            .map(|l| Done {
                id: l.id.clone(),
                amount: format_brl(l.amount_cents),
                description: l.description.clone(),
                pending: l.status == "pending",
            })
            .collect(),
        key,
        fields,
        errors,
        c,
    };
    let status = if page.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(render(status, &page))
}

/// GET /transfers/{id}/refund?account=N -> the refund page
fn page(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("transfers" / String / "refund")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|original: String, visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let account = visit.query_value("account").unwrap_or("").to_string();
            match show(&state, &visit, &session, &original, &account, None, Errors::default()).await {
                Ok(response) => response,
                Err(error) => super::failure(&state, &visit, Some(&session), &error),
            }
        })
        .boxed()
}

/// POST /transfers/{id}/refund {csrf, key, account, amount, note} -> 303 back with a notice
fn post(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("transfers" / String / "refund")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|original: String, visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let t = visit.tr();
            let account = form.get("account").trim().to_string();
            let typed = || Typed { amount: form.get("amount"), note: form.get("note"), key: form.get("key") };
            let mut errors = Errors::default();
            let mut amount = parse_amount(&state, t, form.get("amount")).map_err(|message| errors.add("amount", message)).ok();
            // What is left, as the page showed it (the ledger checks it again, exactly).
            if let (Some(cents), Ok(original)) = (amount, refunds::transfer_id(&original)) {
                let credited = state.ledger.credited_by(&original, &account).await.ok().flatten().unwrap_or(0);
                let refunded = refunds::refunds_of(&state.services, &session.caller, &original)
                    .await
                    .map(|(lines, _)| lines.iter().filter(|l| l.from_account == account).map(|l| l.amount_cents).sum::<i64>())
                    .unwrap_or(0);
                if credited > 0 && cents > credited - refunded {
                    errors.add("amount", t.fill("refund.more_than_left", &[&format_brl((credited - refunded).max(0))]));
                    amount = None;
                }
            }
            let result = match amount {
                None => Err(None),
                Some(amount_cents) => {
                    let request = RefundRequest { account: account.clone(), amount_cents, description: form.get("note").to_string() };
                    let key = Some(form.get("key").to_string()).filter(|k| !k.is_empty());
                    refunds::refund(&state.services, &session.caller, &original, &request, key).await.map_err(|e| Some(ApiError::from(e)))
                }
            };
            match result {
                Ok(posted) => redirect(&format!("/transfers/{original}/refund?account={account}&done={}", posted.id)),
                Err(error) => {
                    if let Some(error) = error {
                        match &error {
                            ApiError::Ledger(LedgerError::InsufficientFunds { .. } | LedgerError::RefundRefused(_))
                            | ApiError::InvalidAmount(_)
                            | ApiError::LimitExceeded(_) => errors.add("amount", error_message(t, &error)),
                            ApiError::Ledger(LedgerError::Refused { .. }) | ApiError::InvalidField(_) => {
                                errors.form = Some(error_message(t, &error))
                            }
                            _ => return super::failure(&state, &visit, Some(&session), &error),
                        }
                    }
                    match show(&state, &visit, &session, &original, &account, Some(typed()), errors).await {
                        Ok(response) => response,
                        Err(error) => super::failure(&state, &visit, Some(&session), &error),
                    }
                }
            }
        })
        .boxed()
}
