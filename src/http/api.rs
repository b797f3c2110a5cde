//! The customer API under /api/v1 (JSON). Paths and fields are a contract; see openapi.rs.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use ringbank_domain::TransferStatus;

use super::reply::{body, json_response, parse_json, respond, with_state};
use crate::http::error::ApiError;
use crate::http::server::client_ip;
use crate::http::state::AppState;
use crate::ledger::{AccountKind, LedgerError};
use crate::service::operations::{self, held_account, parse_document, Cash, CashRequest, NewCustomer, PaymentRequest, TransferRequest};

const STATEMENT_PAGE_MAX: u32 = 200;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    create_customer(state.clone())
        .or(create_session(state.clone()))
        .unify()
        .or(delete_session(state.clone()))
        .unify()
        .or(create_account(state.clone()))
        .unify()
        .or(accept_account(state.clone()))
        .unify()
        .or(list_accounts(state.clone()))
        .unify()
        .or(get_account(state.clone()))
        .unify()
        .or(statement(state.clone()))
        .unify()
        .or(money_post(state.clone(), "deposits"))
        .unify()
        .or(money_post(state.clone(), "withdrawals"))
        .unify()
        .or(money_post(state.clone(), "transfers"))
        .unify()
        .or(money_post(state.clone(), "payments"))
        .unify()
        .or(get_transfer(state))
        .unify()
        .or(openapi())
        .unify()
        .boxed()
}

fn authorization() -> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("authorization").or(warp::any().map(|| None)).unify()
}

/// POST /api/v1/customers {document, name, password} -> 201 {document, name}
fn create_customer(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "customers")
        .and(warp::post())
        .and(body())
        .and(with_state(state))
        .then(|body: Bytes, state: Arc<AppState>| async move { respond("/api/v1/customers", create_customer_handler(&state, &body).await) })
        .boxed()
}

async fn create_customer_handler(state: &AppState, body: &[u8]) -> Result<Response, ApiError> {
    let request: NewCustomer = parse_json(body)?;
    let (document, name) = operations::create_customer(&state.services, &request).await?;
    Ok(json_response(StatusCode::CREATED, &serde_json::json!({ "document": document.as_str(), "name": name })))
}

/// POST /api/v1/sessions {document, password} -> 200 {token, expires_at}
fn create_session(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "sessions")
        .and(warp::post())
        .and(client_ip())
        .and(body())
        .and(with_state(state))
        .then(|client: Option<IpAddr>, body: Bytes, state: Arc<AppState>| async move {
            respond("/api/v1/sessions", create_session_handler(&state, client, &body).await)
        })
        .boxed()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    document: String,
    password: String,
}

async fn create_session_handler(state: &AppState, client: Option<IpAddr>, body: &[u8]) -> Result<Response, ApiError> {
    let request: SignIn = parse_json(body)?;
    let document = parse_document(&request.document)?;
    let (token, expires_at_ms) = state.services.sign_in(client, document.as_str(), &request.password).await?;
    let expires_at = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(expires_at_ms).unwrap_or(0)),
    )
    .to_string();
    Ok(json_response(StatusCode::OK, &serde_json::json!({ "token": token, "expires_at": expires_at })))
}

/// DELETE /api/v1/sessions -> 204 (signs the bearer token out)
fn delete_session(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "sessions")
        .and(warp::delete())
        .and(authorization())
        .and(with_state(state))
        .then(|auth: Option<String>, state: Arc<AppState>| async move {
            let result = state.services.sign_out(auth.as_deref()).await.map_err(ApiError::from).map(|()| {
                let mut response = Response::new(Default::default());
                *response.status_mut() = StatusCode::NO_CONTENT;
                response
            });
            respond("/api/v1/sessions", result)
        })
        .boxed()
}

/// POST /api/v1/accounts {kind, holders} -> 201 account
fn create_account(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "accounts")
        .and(warp::post())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            respond("/api/v1/accounts", create_account_handler(&state, auth.as_deref(), &body).await)
        })
        .boxed()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    kind: AccountKind,
    #[serde(default)]
    holders: Vec<String>,
}

async fn create_account_handler(state: &AppState, auth: Option<&str>, body: &[u8]) -> Result<Response, ApiError> {
    let caller = state.services.authenticate(auth).await?;
    let request: NewAccount = parse_json(body)?;
    let view = operations::open_account(&state.services, &caller, request.kind, &request.holders).await?;
    Ok(json_response(StatusCode::CREATED, &view))
}

/// POST /api/v1/accounts/{number}/acceptance -> 200 account (a named co-holder accepts a joint account)
fn accept_account(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "accounts" / String / "acceptance")
        .and(warp::post())
        .and(authorization())
        .and(with_state(state))
        .then(|number: String, auth: Option<String>, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/accounts/{number}/acceptance");
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let view = operations::accept_account(&state.services, &caller, &number).await?;
                Ok(json_response(StatusCode::OK, &view))
            };
            respond(&instance, result.await)
        })
        .boxed()
}

/// GET /api/v1/accounts -> [account] (the caller's accounts at this bank)
fn list_accounts(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "accounts")
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|auth: Option<String>, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let accounts = state.ledger.accounts_of(&caller.document).await?;
                Ok(json_response(StatusCode::OK, &accounts))
            };
            respond("/api/v1/accounts", result.await)
        })
        .boxed()
}

/// GET /api/v1/accounts/{number} -> account (404 unless the caller holds it)
fn get_account(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "accounts" / String)
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|number: String, auth: Option<String>, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/accounts/{number}");
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let view = held_account(&state.services, &caller, &number).await?;
                Ok(json_response(StatusCode::OK, &view))
            };
            respond(&instance, result.await)
        })
        .boxed()
}

#[derive(Deserialize)]
struct StatementQuery {
    limit: Option<u32>,
    before: Option<i64>,
}

/// GET /api/v1/accounts/{number}/statement?limit=50&before=LINE -> {account, entries, next_before}
fn statement(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "accounts" / String / "statement")
        .and(warp::get())
        .and(authorization())
        .and(warp::query::<StatementQuery>())
        .and(with_state(state))
        .then(|number: String, auth: Option<String>, query: StatementQuery, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/accounts/{number}/statement");
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                held_account(&state.services, &caller, &number).await?;
                let limit = query.limit.unwrap_or(50);
                if !(1..=STATEMENT_PAGE_MAX).contains(&limit) {
                    return Err(ApiError::InvalidField(format!("limit must be between 1 and {STATEMENT_PAGE_MAX}")));
                }
                let page = state.ledger.statement(&number, query.before, limit).await?;
                Ok(json_response(StatusCode::OK, &page))
            };
            respond(&instance, result.await)
        })
        .boxed()
}

/// POST /api/v1/{deposits|withdrawals|transfers|payments}, with an optional Idempotency-Key.
fn money_post(state: Arc<AppState>, collection: &'static str) -> BoxedFilter<(Response,)> {
    warp::path("api")
        .and(warp::path("v1"))
        .and(warp::path(collection))
        .and(warp::path::end())
        .and(warp::post())
        .and(authorization())
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(warp::header::optional::<String>("prefer"))
        .and(body())
        .and(with_state(state))
        .then(move |auth: Option<String>, key: Option<String>, prefer: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/{collection}");
            respond(&instance, money_post_handler(&state, collection, auth.as_deref(), key, prefer.as_deref(), &body).await)
        })
        .boxed()
}

async fn money_post_handler(
    state: &Arc<AppState>,
    collection: &str,
    auth: Option<&str>,
    key: Option<String>,
    prefer: Option<&str>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let caller = state.services.authenticate(auth).await?;
    let (job, canonical) = match collection {
        "deposits" | "withdrawals" => {
            let request: CashRequest = parse_json(body)?;
            let cash = if collection == "deposits" { Cash::Deposit } else { Cash::Withdrawal };
            let job = operations::cash_job(&state.services, &caller, cash, &request)?;
            (job, serde_json::to_string(&request).unwrap_or_default())
        }
        "transfers" => {
            let request: TransferRequest = parse_json(body)?;
            let job = operations::transfer_job(&state.services, &caller, &request)?;
            (job, serde_json::to_string(&request).unwrap_or_default())
        }
        "payments" => {
            let request: PaymentRequest = parse_json(body)?;
            let job = operations::payment_job(&state.services, &caller, &request)?;
            (job, serde_json::to_string(&request).unwrap_or_default())
        }
        other => return Err(ApiError::RouteNotFound(other.to_string())),
    };
    let wait = prefer.and_then(prefer_wait);
    // Watching before the posting: the wait below cannot miss the transfer becoming final.
    let early = wait.and(job.cross_transfer_id()).map(|id| crate::twopc::EarlyWatch::new(&state.cross.finalized, id));
    let posted = operations::post_money(&state.services, &caller, collection, job, &canonical, key).await?;
    // A pending (cross-bank) transfer: with `Prefer: wait=N`, answer 200 with the final
    // state if it is reached within N seconds (at most PREFER_WAIT_MAX). A repeat under an
    // Idempotency-Key answers an earlier transfer, which the early watch is not for: that one
    // is read first.
    if let (TransferStatus::Pending, Some(wait)) = (posted.status, wait) {
        if let Some(record) = crate::twopc::wait_final_from(&state.cross, &posted.id, &caller.document, wait, early).await {
            return Ok(json_response(StatusCode::OK, &ringbank_wire::TransferView::from(record)));
        }
    }
    // Committed here and now: 201; stored for the two-phase commit: 202.
    let status = if posted.status.is_final() { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    Ok(json_response(status, &PostedBody { id: &posted.id, status: posted.status }))
}

/// The answer to a money movement: `{"id": ..., "status": "committed" | "pending"}`.
#[derive(serde::Serialize)]
struct PostedBody<'a> {
    id: &'a str,
    status: TransferStatus,
}

/// Longest `Prefer: wait` honoured.
const PREFER_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// Parses RFC 7240 `Prefer: wait=N` (seconds), capped at PREFER_WAIT_MAX.
fn prefer_wait(header: &str) -> Option<std::time::Duration> {
    header
        .split(',')
        .filter_map(|p| p.trim().strip_prefix("wait="))
        .find_map(|n| n.trim().parse::<u64>().ok())
        .map(|seconds| std::time::Duration::from_secs(seconds).min(PREFER_WAIT_MAX))
}

/// GET /api/v1/transfers/{id} -> {id, status, reason, debits, credits, ...}
fn get_transfer(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "transfers" / String)
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|id: String, auth: Option<String>, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/transfers/{id}");
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let view = if id.len() <= 64 { state.ledger.transfer_for(&id, &caller.document).await? } else { None };
                let view = view.ok_or_else(|| ApiError::Ledger(LedgerError::TransferNotFound(id.clone())))?;
                Ok(json_response(StatusCode::OK, &ringbank_wire::TransferView::from(view)))
            };
            respond(&instance, result.await)
        })
        .boxed()
}

/// GET /api/v1/openapi.json -> the OpenAPI 3.1 document
fn openapi() -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "openapi.json").and(warp::get()).map(|| json_response(StatusCode::OK, &super::openapi::document())).boxed()
}
