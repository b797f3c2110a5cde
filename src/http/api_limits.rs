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
    get(state.clone()).or(put(state.clone())).unify().or(get_own(state.clone())).unify().or(put_own(state)).unify().boxed()
}

/// GET /api/v1/limits -> the caller's own limits in force, what is left, a raise waiting
fn get_own(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "limits")
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|auth: Option<String>, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let status = limits::get_own(&state.services, &caller).await?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &status))
            };
            respond("/api/v1/limits", result.await)
        })
        .boxed()
}

/// PUT /api/v1/limits {per_transfer_cents?, daily_cents?, night_cents?} -> 200 limits (the
/// caller's own; lower at once, higher or null after the raise delay)
fn put_own(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "limits")
        .and(warp::put())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: LimitsRequest = parse_json(&body)?;
                let status = limits::set_own(&state.services, &caller, &request).await?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &status))
            };
            respond("/api/v1/limits", result.await)
        })
        .boxed()
}

fn authorization() -> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("authorization").or(warp::any().map(|| None)).unify()
}

/// GET /api/v1/accounts/{number}/limits -> limits in force, what is left, a raise waiting
fn get(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "accounts" / String / "limits")
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|number: String, auth: Option<String>, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/accounts/{number}/limits");
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let status = limits::get(&state.services, &caller, &number).await?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &status))
            };
            respond(&instance, result.await)
        })
        .boxed()
}

/// PUT /api/v1/accounts/{number}/limits {per_transfer_cents?, daily_cents?, night_cents?} -> 200
/// limits (a lower limit applies at once; a higher one, or null, only after the raise delay)
fn put(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "accounts" / String / "limits")
        .and(warp::put())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|number: String, auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/accounts/{number}/limits");
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: LimitsRequest = parse_json(&body)?;
                let status = limits::set(&state.services, &caller, &number, &request).await?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &status))
            };
            respond(&instance, result.await)
        })
        .boxed()
}
