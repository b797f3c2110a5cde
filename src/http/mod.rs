//! The HTTP boundary: warp routes for the customer API (JSON), the admin endpoints, the home page
//! and monitoring (/healthz here; /readyz and /metrics in `monitoring`).
//! Handlers parse and validate input, call the ledger, and shape the output;
//! errors go through `ApiError` and its one mapping (crate::error).

mod admin;
mod api;
mod bank;
mod monitoring;
pub mod openapi;
mod pages;
mod ring;

pub use admin::constant_time_eq;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use crate::error::ApiError;
use crate::state::AppState;

/// Largest request body accepted anywhere, in bytes.
pub const BODY_LIMIT_BYTES: u64 = 64 * 1024;

/// Every route of the bank, with warp's own rejections mapped to problem+json.
pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    let healthz = warp::path!("healthz").and(warp::get()).map(|| json_response(StatusCode::OK, &serde_json::json!({"status": "ok"})));
    let metrics = state.metrics.clone();
    healthz
        .or(monitoring::routes(state.clone()))
        .unify()
        .or(api::routes(state.clone()))
        .unify()
        .or(admin::routes(state.clone()))
        .unify()
        .or(ring::routes(state.clone()))
        .unify()
        .or(bank::routes(state.clone()))
        .unify()
        .or(crate::web::routes(state.clone())).unify()
        .or(pages::routes(state))
        .unify()
        .recover(crate::error::recover)
        .unify()
        .with(warp::log::custom(move |info| {
            metrics.record_http(info.method().as_str(), info.path(), info.status().as_u16());
            tracing::debug!(method = %info.method(), path = info.path(), status = info.status().as_u16(), elapsed_ms = info.elapsed().as_millis() as u64, "http");
        }))
        .map(warp::Reply::into_response)
        .boxed()
}

/// Hands the shared state to a handler.
fn with_state(state: Arc<AppState>) -> impl Filter<Extract = (Arc<AppState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// A size-limited raw body; parsing happens in the handler so errors are precise.
fn body() -> impl Filter<Extract = (Bytes,), Error = warp::Rejection> + Clone {
    warp::body::content_length_limit(BODY_LIMIT_BYTES).and(warp::body::bytes())
}

/// Parses a JSON body, telling malformed JSON apart from missing or mistyped fields.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        let message = error.to_string();
        match error.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof | serde_json::error::Category::Io => {
                ApiError::MalformedJson(message)
            }
            serde_json::error::Category::Data if message.starts_with("missing field") => ApiError::MissingField(message),
            serde_json::error::Category::Data => ApiError::InvalidField(message),
        }
    })
}

pub fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string());
    raw_json_response(status, body)
}

pub fn raw_json_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("application/json"));
    response
}

/// Turns a handler's result into a response, errors as problem+json.
pub fn respond(instance: &str, result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|error| error.into_response(instance))
}
