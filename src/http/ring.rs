//! Bank-to-bank ring endpoints under /ring/v1. Every POST is authenticated (signed with the
//! sending bank's own key, see peer::auth) and handed to the ring driver as an event; the handlers never
//! touch the state machine. GET /ring/v1/status is public and read-only (its shape is a
//! contract for outside tools).

use std::sync::Arc;

use bytes::Bytes;
use ringbank_ring::Message;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::reply::{body, json_response, parse_json, respond, with_state};
use crate::clock::wall_clock_ms;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::peer::auth::{self, Signed};

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    status(state.clone()).or(membership(state.clone())).unify().or(message(state)).unify().boxed()
}

/// GET /ring/v1/membership -> {founding: [{id, url, public_key}], membership, next_node}: what a
/// bank about to join learns the ring from (`ringbank serve --join`). Public like the status:
/// member ids, URLs and public keys are what every member already publishes.
fn membership(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("ring" / "v1" / "membership")
        .and(warp::get())
        .and(with_state(state))
        .map(|state: Arc<AppState>| {
            let document = crate::peer::join::JoinDocument::of(&state.ring.registry, &state.ring.membership());
            json_response(StatusCode::OK, &document)
        })
        .boxed()
}

/// GET /ring/v1/status -> {bank, epoch, token_seq, holding, state, members, ring, ...,
/// active_faults: [{kind, bank, detail, remaining_ms}], faults_injected}
fn status(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("ring" / "v1" / "status")
        .and(warp::get())
        .and(with_state(state))
        .map(|state: Arc<AppState>| {
            let mut status = serde_json::to_value(state.ring.status()).unwrap_or_default();
            if let Some(object) = status.as_object_mut() {
                object.insert("active_faults".into(), serde_json::to_value(state.faults.active()).unwrap_or_default());
                object.insert("faults_injected".into(), state.faults.injected().into());
            }
            json_response(StatusCode::OK, &status)
        })
        .boxed()
}

/// POST /ring/v1/{token|token_ack|claim|confirm|propose|promise|reject|join|wake|probe|parked} (signed) -> 202
fn message(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("ring" / "v1" / String)
        .and(warp::post())
        .and(warp::header::headers_cloned())
        .and(body())
        .and(with_state(state))
        .then(|kind: String, headers: HeaderMap, body: Bytes, state: Arc<AppState>| async move {
            let path = format!("/ring/v1/{kind}");
            let result = handle_message(&state, &path, &kind, &headers, &body);
            respond(&path, result)
        })
        .boxed()
}

fn handle_message(state: &AppState, path: &str, kind: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let from = authenticate_peer(state, "POST", path, headers, body)?;
    let from_node = state.ring.members().node_of(&from).ok_or_else(|| {
        tracing::warn!(bank = %from, "ring message from a bank that is not a member");
        ApiError::Forbidden(format!("bank {from:?} is not a member of this ring"))
    })?;
    if state.faults.is_partitioned(&from) {
        return Err(ApiError::Unavailable("partitioned by fault injection".into()));
    }
    let message: Message = parse_json(body)?;
    if message.kind() != kind {
        return Err(ApiError::InvalidField(format!("a {} message was posted to /ring/v1/{kind}", message.kind())));
    }
    if !state.ring.deliver(from_node, message) {
        return Err(ApiError::Unavailable("the ring driver is busy; retry".into()));
    }
    let mut response = Response::new(Default::default());
    *response.status_mut() = StatusCode::ACCEPTED;
    Ok(response)
}

/// Checks the signature headers against the sender's public key; returns the sending bank's id. Failures are logged and get 401.
pub fn authenticate_peer(state: &AppState, method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let header = |name: &'static str| -> Result<String, auth::AuthError> {
        headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string).ok_or(auth::AuthError::MissingHeader(name))
    };
    let result = (|| {
        let verifier = &state.ring_verifier;
        let signed = Signed {
            bank: header(auth::HEADER_BANK)?,
            timestamp_ms: header(auth::HEADER_TIMESTAMP)?.parse().map_err(|_| auth::AuthError::Stale)?,
            nonce: header(auth::HEADER_NONCE)?,
            signature: header(auth::HEADER_SIGNATURE)?,
        };
        verifier.verify(method, path, body, &signed, wall_clock_ms())?;
        Ok::<_, auth::AuthError>(signed.bank)
    })();
    result.map_err(|error| {
        if state.ring_verifier.worth_a_warning(&error) {
            tracing::warn!(%error, path, "refused an unauthenticated bank-to-bank request");
        } else {
            tracing::debug!(%error, path, "refused an unauthenticated bank-to-bank request");
        }
        ApiError::PeerUnauthenticated(error.to_string())
    })
}
