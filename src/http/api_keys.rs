//! Pix keys in the customer API (/api/v1/keys, portability claims under /api/v1/keys/claims), the directory's bank-to-bank endpoint
//! (`POST /ring/v1/directory`, signed), and the operator's views of the development outbox and
//! of the replica (/admin/v1/outbox, /admin/v1/directory). Transport only: the use cases are in
//! `service::keys`, the ordering in `crate::directory`.

use std::sync::Arc;

use bytes::Bytes;
use ringbank_domain::PixKeyKind;
use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::reply::{body, json_response, parse_json, respond, with_state};
use crate::directory::DirectoryEnvelope;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::service::keys::Registration;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    register(state.clone())
        .or(list(state.clone()))
        .unify()
        .or(claim(state.clone()))
        .unify()
        .or(claims(state.clone()))
        .unify()
        .or(decide_claim(state.clone()))
        .unify()
        .or(confirm(state.clone()))
        .unify()
        .or(lookup(state.clone()))
        .unify()
        .or(delete(state.clone()))
        .unify()
        .or(pay(state.clone()))
        .unify()
        .or(peer_message(state.clone()))
        .unify()
        .or(outbox(state.clone()))
        .unify()
        .or(replica(state))
        .unify()
        .boxed()
}

fn authorization() -> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("authorization").or(warp::any().map(|| None)).unify()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    account: String,
    kind: String,
    #[serde(default)]
    key: Option<String>,
}

/// POST /api/v1/keys {account, kind: cpf|cnpj|email|phone|random, key?} -> 201 {status: registered, key}
/// or 202 {status: confirmation_sent, confirmation_id, sent_to, expires_in_seconds} (e-mail, phone)
fn register(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "keys")
        .and(warp::post())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: NewKey = parse_json(&body)?;
                let kind = PixKeyKind::parse(&request.kind).map_err(|e| ApiError::InvalidField(e.to_string()))?;
                let registration = state.pix.register(&caller, &request.account, kind, request.key.as_deref()).await?;
                let status = match registration {
                    Registration::Registered { .. } => StatusCode::CREATED,
                    Registration::ConfirmationSent { .. } => StatusCode::ACCEPTED,
                };
                Ok::<_, ApiError>(json_response(status, &registration))
            };
            respond("/api/v1/keys", result.await)
        })
        .boxed()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Confirmation {
    confirmation_id: String,
    code: String,
}

/// POST /api/v1/keys/confirm {confirmation_id, code} -> 201 key
fn confirm(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "keys" / "confirm")
        .and(warp::post())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: Confirmation = parse_json(&body)?;
                let key = state.pix.confirm(&caller, &request.confirmation_id, &request.code).await?;
                Ok::<_, ApiError>(json_response(StatusCode::CREATED, &key))
            };
            respond("/api/v1/keys/confirm", result.await)
        })
        .boxed()
}

/// GET /api/v1/keys -> [key] (the caller's keys at this bank)
fn list(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "keys")
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|auth: Option<String>, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let keys = state.pix.list(&caller).await?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &keys))
            };
            respond("/api/v1/keys", result.await)
        })
        .boxed()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClaim {
    account: String,
    key: String,
}

/// POST /api/v1/keys/claims {account, key} -> 202 claim (pending until the owner confirms at
/// the bank that holds the key)
fn claim(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "keys" / "claims")
        .and(warp::post())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: NewClaim = parse_json(&body)?;
                let claim = state.pix.claim(&caller, &request.account, &request.key).await?;
                Ok::<_, ApiError>(json_response(StatusCode::ACCEPTED, &claim))
            };
            respond("/api/v1/keys/claims", result.await)
        })
        .boxed()
}

/// GET /api/v1/keys/claims -> [claim] (the caller's claims at this bank, both sides)
fn claims(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "keys" / "claims")
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|auth: Option<String>, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let claims = state.pix.claims(&caller).await?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &claims))
            };
            respond("/api/v1/keys/claims", result.await)
        })
        .boxed()
}

/// POST /api/v1/keys/claims/{id}/confirm -> 200 claim (completed: the key moved) and
/// POST /api/v1/keys/claims/{id}/refuse -> 200 claim (refused), at the bank that holds the key
fn decide_claim(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "keys" / "claims" / String / String)
        .and(warp::post())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|id: String, action: String, auth: Option<String>, _body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let claim = match action.as_str() {
                    "confirm" => state.pix.confirm_claim(&caller, &id).await?,
                    "refuse" => state.pix.refuse_claim(&caller, &id).await?,
                    _ => return Err(ApiError::RouteNotFound(format!("/api/v1/keys/claims/{id}/{action}"))),
                };
                Ok::<_, ApiError>(json_response(StatusCode::OK, &claim))
            };
            respond("/api/v1/keys/claims", result.await)
        })
        .boxed()
}

#[derive(Deserialize)]
struct LookupQuery {
    key: String,
}

/// GET /api/v1/keys/lookup?key=... -> {key, key_kind, bank, account, account_kind, name, masked_document}
/// (rate-limited per customer: 429 with Retry-After)
fn lookup(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "keys" / "lookup")
        .and(warp::get())
        .and(authorization())
        .and(warp::query::<LookupQuery>().map(Some).or(warp::any().map(|| None)).unify())
        .and(with_state(state))
        .then(|auth: Option<String>, query: Option<LookupQuery>, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let query = query.ok_or_else(|| ApiError::MissingField("give the key to look up: ?key=...".into()))?;
                let resolved = state.pix.lookup(&caller, &query.key)?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &resolved))
            };
            respond("/api/v1/keys/lookup", result.await)
        })
        .boxed()
}

/// DELETE /api/v1/keys/{key} -> 204
fn delete(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "keys" / String)
        .and(warp::delete())
        .and(authorization())
        .and(with_state(state))
        .then(|key: String, auth: Option<String>, state: Arc<AppState>| async move {
            let key = percent_decode(&key);
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                state.pix.delete(&caller, &key).await?;
                let mut response = Response::new(Default::default());
                *response.status_mut() = StatusCode::NO_CONTENT;
                Ok::<_, ApiError>(response)
            };
            respond("/api/v1/keys", result.await)
        })
        .boxed()
}

/// `+` and `@` arrive percent-encoded in a path segment.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |b: u8| (b as char).to_digit(16);
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// POST /api/v1/key-payments {from_account, key, amount_cents, description} (Idempotency-Key
/// accepted) -> 201 committed (the key names an account here) or 202 pending (at another bank):
/// {id, status, to: {bank, account, account_kind, name, masked_document, ...}}
fn pay(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "key-payments")
        .and(warp::post())
        .and(authorization())
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, key: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: crate::service::keys::KeyPayment = parse_json(&body)?;
                let (posted, to) = crate::service::keys::pay_by_key(&state.services, &state.pix, &caller, &request, key).await?;
                let status = if posted.status.is_final() { StatusCode::CREATED } else { StatusCode::ACCEPTED };
                Ok::<_, ApiError>(json_response(status, &serde_json::json!({"id": posted.id, "status": posted.status, "to": to})))
            };
            respond("/api/v1/key-payments", result.await)
        })
        .boxed()
}

/// POST /ring/v1/directory {message} (signed by a member) -> 202
fn peer_message(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("ring" / "v1" / "directory")
        .and(warp::post())
        .and(warp::header::headers_cloned())
        .and(body())
        .and(with_state(state))
        .map(|headers: HeaderMap, body: Bytes, state: Arc<AppState>| {
            let path = "/ring/v1/directory";
            let result = (|| {
                let from = super::ring::authenticate_peer(&state, "POST", path, &headers, &body)?;
                let from_node = state
                    .ring
                    .members()
                    .node_of(&from)
                    .ok_or_else(|| ApiError::Forbidden(format!("bank {from:?} is not a member of this ring")))?;
                if state.faults.is_partitioned(&from) {
                    return Err(ApiError::Unavailable("partitioned by fault injection".into()));
                }
                let envelope: DirectoryEnvelope = parse_json(&body)?;
                if !state.pix.directory().deliver(from_node, envelope.message) {
                    return Err(ApiError::Unavailable("the directory driver is busy; retry".into()));
                }
                let mut response = Response::new(Default::default());
                *response.status_mut() = StatusCode::ACCEPTED;
                Ok(response)
            })();
            respond(path, result)
        })
        .boxed()
}

/// GET /admin/v1/outbox -> [{to, text, sent_at_ms}] (the development notifier's messages)
fn outbox(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "outbox")
        .and(warp::get())
        .and(super::admin::admin(state))
        .map(|admin: Result<Arc<AppState>, ApiError>| {
            respond("/admin/v1/outbox", admin.map(|state| json_response(StatusCode::OK, &state.pix.outbox())))
        })
        .boxed()
}

/// GET /admin/v1/directory -> {committed, keys, digest, promised: {epoch, seq}, messages_sent}
/// (this bank's replica, and the directory messages it has sent since it started)
fn replica(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "directory")
        .and(warp::get())
        .and(super::admin::admin(state))
        .map(|admin: Result<Arc<AppState>, ApiError>| {
            let result = admin.map(|state| {
                let directory = state.pix.directory();
                let sent = directory.stats.messages_sent.load(std::sync::atomic::Ordering::Relaxed);
                let body = directory.read(|r| {
                    serde_json::json!({
                        "messages_sent": sent,
                        "committed": r.committed(),
                        "keys": r.directory().len(),
                        "digest": format!("{:016x}", r.directory().digest()),
                        "promised": {"epoch": r.state().promised.epoch, "seq": r.state().promised.seq},
                    })
                });
                json_response(StatusCode::OK, &body)
            });
            respond("/admin/v1/directory", result)
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding() {
        assert_eq!(super::percent_decode("maria%40example.com"), "maria@example.com");
        assert_eq!(super::percent_decode("%2B5511987654321"), "+5511987654321");
        assert_eq!(super::percent_decode("abc%2"), "abc%2");
        assert_eq!(super::percent_decode("plain"), "plain");
    }
}
