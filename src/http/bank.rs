//! Bank-to-bank endpoints of cross-bank transfers under /bank/v1, all signed with the ring
//! secret like /ring/v1: prepare, outcome (commit/abort), query (what became of a transfer),
//! and accounts-of (a customer's accounts here, for their dashboard at another bank).

use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::ring::authenticate_peer;
use super::{body, json_response, parse_json, respond, with_state};
use crate::error::ApiError;
use crate::ledger::{Job, Outcome};
use crate::peer::wire::{OutcomeRequest, OutcomeResponse, PrepareRequest, PrepareResponse, QueryRequest, QueryResponse, BATCH_MAX};
use crate::state::AppState;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("bank" / "v1" / String)
        .and(warp::post())
        .and(warp::header::headers_cloned())
        .and(body())
        .and(with_state(state))
        .then(|action: String, headers: HeaderMap, body: Bytes, state: Arc<AppState>| async move {
            let path = format!("/bank/v1/{action}");
            let result = match action.as_str() {
                "prepare" => prepare(&state, &path, &headers, &body).await,
                "outcome" => outcome(&state, &path, &headers, &body).await,
                "query" => query(&state, &path, &headers, &body).await,
                "accounts-of" => accounts_of(&state, &path, &headers, &body).await,
                _ => Err(ApiError::RouteNotFound(path.clone())),
            };
            respond(&path, result)
        })
        .boxed()
}

/// Authenticates the sending bank and parses the body; refuses partitioned banks.
fn receive<T: DeserializeOwned>(state: &AppState, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<(String, T), ApiError> {
    let from = authenticate_peer(state, "POST", path, headers, body)?;
    if state.ring.members.node_of(&from).is_none() {
        return Err(ApiError::Forbidden(format!("bank {from:?} is not a member of this ring")));
    }
    if state.faults.is_partitioned(&from) {
        return Err(ApiError::Unavailable("partitioned by fault injection".into()));
    }
    Ok((from, parse_json(body)?))
}

/// POST /bank/v1/prepare {coordinator, stamp, transfers} -> {votes}
async fn prepare(state: &AppState, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let (from, request): (String, PrepareRequest) = receive(state, path, headers, body)?;
    if from != request.coordinator {
        return Err(ApiError::Forbidden(format!("bank {from} cannot prepare for coordinator {}", request.coordinator)));
    }
    // Fencing: a stamp older than this bank's ring promise is refused outright (the ledger
    // also refuses stamps older than the newest prepare it accepted).
    let promised = state.ring.status().promised_epoch;
    if request.stamp.epoch < promised {
        return Err(ApiError::Ledger(crate::ledger::LedgerError::StaleStamp {
            got: request.stamp.to_string(),
            newest: format!("epoch {promised}"),
        }));
    }
    validate_prepare(state, &request)?;
    state.faults.crash_point(ringbank_domain::CrashPoint::OnPrepare);
    match state.ledger.submit(Job::Prepare(request), None).await? {
        Outcome::Votes(votes) => Ok(json_response(StatusCode::OK, &PrepareResponse { votes })),
        other => Err(ApiError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

/// The participant checks what it is asked to book before voting: bounded sizes, its own
/// customer accounts by number, member banks for settlement, legs that sum to zero.
fn validate_prepare(state: &AppState, request: &PrepareRequest) -> Result<(), ApiError> {
    if request.transfers.len() > BATCH_MAX {
        return Err(ApiError::LimitExceeded(format!("at most {BATCH_MAX} transfers per prepare")));
    }
    for item in &request.transfers {
        if item.legs.len() > state.config.max_legs || item.settlement.len() > state.ring.members.list.len() {
            return Err(ApiError::LimitExceeded(format!("transfer {} has too many legs", item.id)));
        }
        if !matches!(item.kind.as_str(), "transfer" | "payment") || item.id.is_empty() || item.id.len() > 64 {
            return Err(ApiError::InvalidField(format!("transfer {:?} is malformed", item.id)));
        }
        let mut total: i64 = 0;
        for leg in &item.legs {
            if !crate::operations::is_account_number(&leg.account)
                || leg.amount_cents == 0
                || leg.amount_cents.unsigned_abs() > state.config.max_amount_cents as u64
            {
                return Err(ApiError::InvalidField(format!("transfer {} has a malformed leg", item.id)));
            }
            total = total.checked_add(leg.amount_cents).ok_or(ApiError::InvalidAmount("overflow".into()))?;
        }
        for leg in &item.settlement {
            if state.ring.members.node_of(&leg.bank).is_none() || leg.bank == state.bank() || leg.amount_cents == 0 {
                return Err(ApiError::InvalidField(format!("transfer {} has a malformed settlement leg", item.id)));
            }
            total = total.checked_add(leg.amount_cents).ok_or(ApiError::InvalidAmount("overflow".into()))?;
        }
        if total != 0 || (item.legs.is_empty() && item.settlement.is_empty()) {
            return Err(ApiError::Unbalanced(format!("transfer {} does not balance at this bank", item.id)));
        }
    }
    Ok(())
}

/// POST /bank/v1/outcome {coordinator, outcomes} -> {final_ids}
async fn outcome(state: &AppState, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let (from, request): (String, OutcomeRequest) = receive(state, path, headers, body)?;
    if from != request.coordinator || request.outcomes.len() > BATCH_MAX {
        return Err(ApiError::Forbidden("only the coordinator delivers its outcomes, at most a batch at a time".into()));
    }
    state.faults.crash_point(ringbank_domain::CrashPoint::OnCommit);
    let job = Job::ApplyOutcomes { coordinator: request.coordinator, outcomes: request.outcomes };
    match state.ledger.submit(job, None).await? {
        Outcome::Final(final_ids) => {
            for id in &final_ids {
                let _ = state.finalized.send(id.clone());
            }
            Ok(json_response(StatusCode::OK, &OutcomeResponse { final_ids }))
        }
        other => Err(ApiError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

/// POST /bank/v1/query {coordinator, ids} -> {known: [{id, commit}]}
async fn query(state: &AppState, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let (_, request): (String, QueryRequest) = receive(state, path, headers, body)?;
    if request.ids.len() > BATCH_MAX {
        return Err(ApiError::LimitExceeded(format!("at most {BATCH_MAX} ids per query")));
    }
    let as_coordinator = request.coordinator == state.bank();
    let known = state.ledger.known_outcomes(&request.ids, as_coordinator).await?;
    Ok(json_response(StatusCode::OK, &QueryResponse { known }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsOf {
    document: String,
}

/// POST /bank/v1/accounts-of {document} -> [account] (the origin bank authenticated the customer)
async fn accounts_of(state: &AppState, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let (_, request): (String, AccountsOf) = receive(state, path, headers, body)?;
    let document = crate::operations::parse_document(&request.document)?;
    let accounts = state.ledger.accounts_of(document.as_str()).await?;
    Ok(json_response(StatusCode::OK, &accounts))
}
