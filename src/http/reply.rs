//! Helpers every handler shares: the shared state as a filter, size-limited bodies, JSON
//! parsing that tells malformed JSON from wrong fields, JSON replies, problem replies, and a
//! constant-time comparison for secrets.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::error::ApiError;
use super::state::AppState;

/// Largest request body accepted anywhere, in bytes.
pub const BODY_LIMIT_BYTES: u64 = 64 * 1024;

/// Hands the shared state to a handler.
pub fn with_state(state: Arc<AppState>) -> impl Filter<Extract = (Arc<AppState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// A size-limited raw body; parsing happens in the handler so errors are precise.
pub fn body() -> impl Filter<Extract = (Bytes,), Error = warp::Rejection> + Clone {
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

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(left: impl AsRef<[u8]>, right: impl AsRef<[u8]>) -> bool {
    left.as_ref().ct_eq(right.as_ref()).into()
}

/// Maps warp's own rejections (unknown route, wrong method, oversized body) into problems.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, std::convert::Infallible> {
    let error = if rejection.is_not_found() {
        ApiError::RouteNotFound("this path".to_string())
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::PayloadTooLarge(crate::http::reply::BODY_LIMIT_BYTES)
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        ApiError::InvalidField("a Content-Length header is required".to_string())
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        ApiError::InvalidField(e.to_string())
    } else if let Some(e) = rejection.find::<warp::reject::MissingHeader>() {
        ApiError::InvalidField(e.to_string())
    } else if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        ApiError::InvalidField(e.to_string())
    } else {
        ApiError::Internal(format!("unhandled rejection: {rejection:?}"))
    };
    Ok(error.into_response(""))
}
