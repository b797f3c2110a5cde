//! Bank-to-bank endpoints of cross-bank transfers under /bank/v1, all signed with the ring
//! secret like /ring/v1: prepare, outcome (commit/abort), query (what became of a transfer),
//! and accounts-of (a customer's accounts here, for their dashboard at another bank). Transport
//! only: the participant's rules are in crate::twopc::participant.

use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::reply::{body, json_response, parse_json, respond, with_state};
use super::ring::authenticate_peer;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::protocol::{OutcomeRequest, PrepareRequest, QueryRequest};
use crate::service::key_claims::{ClaimDecided, ClaimOffer};
use crate::twopc::participant;

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
                "consent-code" => consent_code(&state, &path, &headers, &body).await,
                "key-claim" => key_claim(&state, &path, &headers, &body).await,
                "key-claim-decided" => key_claim_decided(&state, &path, &headers, &body).await,
                _ => Err(ApiError::RouteNotFound(path.clone())),
            };
            respond(&path, result)
        })
        .boxed()
}

/// Authenticates the sending bank and parses the body; refuses partitioned banks.
fn receive<T: DeserializeOwned>(state: &AppState, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<(String, T), ApiError> {
    let from = authenticate_peer(state, "POST", path, headers, body)?;
    if state.ring.members().node_of(&from).is_none() {
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
    let votes = participant::prepare(&state.cross, &from, request).await?;
    Ok(json_response(StatusCode::OK, &votes))
}

/// POST /bank/v1/outcome {coordinator, outcomes} -> {final_ids}
async fn outcome(state: &AppState, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let (from, request): (String, OutcomeRequest) = receive(state, path, headers, body)?;
    let applied = participant::outcome(&state.cross, &from, request).await?;
    Ok(json_response(StatusCode::OK, &applied))
}

/// POST /bank/v1/query {coordinator, ids} -> {known: [{id, commit}]}
async fn query(state: &AppState, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let (from, request): (String, QueryRequest) = receive(state, path, headers, body)?;
    let known = participant::query(&state.cross, &from, request).await?;
    Ok(json_response(StatusCode::OK, &known))
}

/// Most consents one accounts-of request may name.
pub const ACCOUNTS_OF_CONSENTS_MAX: usize = 100;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsOf {
    consents: Vec<String>,
}

/// POST /bank/v1/accounts-of {consents} -> [account]: the accounts covered by those consents
/// that are active and granted to the asking bank (a document proves nothing here).
async fn accounts_of(state: &AppState, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let (from, request): (String, AccountsOf) = receive(state, path, headers, body)?;
    if request.consents.len() > ACCOUNTS_OF_CONSENTS_MAX {
        return Err(ApiError::LimitExceeded(format!("at most {ACCOUNTS_OF_CONSENTS_MAX} consents per request")));
    }
    let accounts = state.ledger.consented_accounts(&from, &request.consents).await?;
    Ok(json_response(StatusCode::OK, &accounts))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentCode {
    code: String,
}

/// POST /bank/v1/consent-code {code} -> {consent_id, account, ...}: the grantee redeems the
/// one-time code of the web round trip, once, for its consent.
async fn consent_code(state: &AppState, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let (from, request): (String, ConsentCode) = receive(state, path, headers, body)?;
    let consent = crate::service::consents::redeem(&state.services, &from, &request.code).await?;
    let body = crate::service::consents::ConsentBody::new(state.bank(), &consent);
    Ok(json_response(StatusCode::OK, &body))
}

/// POST /bank/v1/key-claim {id, key, document, from_account, to, limit} -> {id, expires_at_ms}:
/// a member's customer claims a Pix key held here (portability); stored as pending until the
/// owner confirms or refuses here, or it expires.
async fn key_claim(state: &AppState, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let (from, offer): (String, ClaimOffer) = receive(state, path, headers, body)?;
    let taken = state.pix.receive_claim(&from, offer).await?;
    Ok(json_response(StatusCode::OK, &taken))
}

/// POST /bank/v1/key-claim-decided {id, status, reason?} -> {}: the bank that held the key tells
/// the claimant's bank what became of its claim.
async fn key_claim_decided(state: &AppState, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let (from, decided): (String, ClaimDecided) = receive(state, path, headers, body)?;
    state.pix.claim_decided(&from, decided).await?;
    Ok(json_response(StatusCode::OK, &serde_json::json!({})))
}
