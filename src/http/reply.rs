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
pub const BODY_LIMIT_BYTES: u64 = crate::protocol::BODY_MAX_BYTES;

/// Hands the shared state to a handler.
pub fn with_state(state: Arc<AppState>) -> impl Filter<Extract = (Arc<AppState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// A size-limited raw body, with a Content-Length or chunked; parsing happens in the handler
/// so errors are precise.
pub fn body() -> impl Filter<Extract = (Bytes,), Error = warp::Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and_then(|length: Option<u64>| async move {
            match length {
                Some(length) if length > BODY_LIMIT_BYTES => Err(warp::reject::custom(BodyTooLarge)),
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::body::stream())
        .and_then(read_limited)
}

/// The body is larger than BODY_LIMIT_BYTES.
#[derive(Debug)]
pub struct BodyTooLarge;
impl warp::reject::Reject for BodyTooLarge {}

/// The body could not be read (the client went away or was too slow).
#[derive(Debug)]
pub struct BodyUnreadable;
impl warp::reject::Reject for BodyUnreadable {}

async fn read_limited<S, B>(stream: S) -> Result<Bytes, warp::Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    use bytes::BufMut;
    use futures_util::StreamExt;
    let mut stream = std::pin::pin!(stream);
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| warp::reject::custom(BodyUnreadable))?;
        if (body.len() + chunk.remaining()) as u64 > BODY_LIMIT_BYTES {
            return Err(warp::reject::custom(BodyTooLarge));
        }
        body.put(chunk);
    }
    Ok(body.freeze())
}

/// Last touches on every response: the request's path as a problem's `instance` where it was
/// missing, `Allow` on a 405, and `Secure` on cookies when the client came over TLS.
pub fn finish(path: &str, over_tls: bool, mut response: Response) -> Response {
    if let Some(super::error::ProblemWithoutInstance(mut body)) = response.extensions_mut().remove() {
        body["instance"] = serde_json::Value::from(path);
        *response.body_mut() = body.to_string().into();
    }
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        if let Some(methods) = super::allow::allowed_methods(path) {
            response.headers_mut().insert(warp::http::header::ALLOW, warp::http::HeaderValue::from_static(methods));
        }
    }
    if over_tls {
        let cookies: Vec<String> = response
            .headers()
            .get_all(warp::http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|c| if c.to_ascii_lowercase().contains("; secure") { c.to_string() } else { format!("{c}; Secure") })
            .collect();
        if !cookies.is_empty() {
            response.headers_mut().remove(warp::http::header::SET_COOKIE);
            for cookie in cookies {
                if let Ok(value) = warp::http::HeaderValue::from_str(&cookie) {
                    response.headers_mut().append(warp::http::header::SET_COOKIE, value);
                }
            }
        }
    }
    response
}

/// Parses a JSON body, telling malformed JSON apart from missing or mistyped fields.
/// Every request body is a JSON object: an array or a scalar is refused, even where serde would
/// read a struct from a sequence (`[null, null]` as the first two fields).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        return Err(ApiError::InvalidField("the body must be a JSON object".into()));
    }
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
    } else if rejection.find::<BodyTooLarge>().is_some() {
        ApiError::PayloadTooLarge(crate::http::reply::BODY_LIMIT_BYTES)
    } else if rejection.find::<BodyUnreadable>().is_some() {
        ApiError::RequestTimeout
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        ApiError::LengthRequired
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        if e.name().eq_ignore_ascii_case("idempotency-key") {
            ApiError::BadIdempotencyKey("Idempotency-Key must be 1-255 visible ASCII characters".to_string())
        } else {
            ApiError::InvalidField(e.to_string())
        }
    } else if let Some(e) = rejection.find::<warp::reject::MissingHeader>() {
        ApiError::InvalidField(e.to_string())
    } else if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        ApiError::InvalidField(e.to_string())
    } else {
        ApiError::Internal(format!("unhandled rejection: {rejection:?}"))
    };
    Ok(error.into_response(""))
}
