//! The customer API of transfer limits: GET and PUT /api/v1/accounts/{number}/limits (an
//! account's) and /api/v1/limits (the caller's own, over every account they hold) (JSON).
//! Paths and fields are a contract; see openapi.rs.

use std::sync::Arc;

use bytes::Bytes;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::reply::{body, json_response, parse_json, respond, with_state};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::service::limits::{self, LimitsRequest};

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    get(state.clone()).or(put(state)).unify().boxed()
}

/// Whose limits a path names: an account's (its number), or the caller's own (None).
fn subject() -> BoxedFilter<(Option<String>,)> {
    let account = warp::path!("api" / "v1" / "accounts" / String / "limits").map(Some);
    let own = warp::path!("api" / "v1" / "limits").map(|| None);
    account.or(own).unify().boxed()
}

/// The problem's `instance`: the path asked for.
fn instance(subject: &Option<String>) -> String {
    match subject {
        Some(number) => format!("/api/v1/accounts/{number}/limits"),
        None => "/api/v1/limits".to_string(),
    }
}

fn authorization() -> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("authorization").or(warp::any().map(|| None)).unify()
}

/// GET /api/v1/accounts/{number}/limits or /api/v1/limits -> limits in force, what is left, a
/// raise waiting
fn get(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    subject()
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|subject: Option<String>, auth: Option<String>, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let status = match &subject {
                    Some(number) => limits::get(&state.services, &caller, number).await?,
                    None => limits::get_own(&state.services, &caller).await?,
                };
                Ok::<_, ApiError>(json_response(StatusCode::OK, &status))
            };
            respond(&instance(&subject), result.await)
        })
        .boxed()
}

/// PUT /api/v1/accounts/{number}/limits or /api/v1/limits {per_transfer_cents?, daily_cents?,
/// night_cents?} -> 200 limits (a lower limit applies at once; a higher one, or null, only after
/// the raise delay)
fn put(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    subject()
        .and(warp::put())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|subject: Option<String>, auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: LimitsRequest = parse_json(&body)?;
                let status = match &subject {
                    Some(number) => limits::set(&state.services, &caller, number, &request).await?,
                    None => limits::set_own(&state.services, &caller, &request).await?,
                };
                Ok::<_, ApiError>(json_response(StatusCode::OK, &status))
            };
            respond(&instance(&subject), result.await)
        })
        .boxed()
}
