//! The customer API of scheduled transfers: /api/v1/schedules (JSON). Paths and fields are a
//! contract; see openapi.rs.

use std::sync::Arc;

use bytes::Bytes;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::reply::{body, json_response, parse_json, respond, with_state};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::ledger::LedgerError;
use crate::service::schedules::{self, NewScheduleRequest};

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    create(state.clone()).or(list(state.clone())).unify().or(get(state.clone())).unify().or(cancel(state)).unify().boxed()
}

fn authorization() -> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("authorization").or(warp::any().map(|| None)).unify()
}

/// POST /api/v1/schedules {from_account, to, amount_cents, description?, first_at, repeat?, occurrences?} -> 201 schedule
fn create(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "schedules")
        .and(warp::post())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: NewScheduleRequest = parse_json(&body)?;
                let created = schedules::create(&state.services, &caller, &request).await?;
                Ok::<_, ApiError>(json_response(StatusCode::CREATED, &schedules::body(created, Vec::new())))
            };
            respond("/api/v1/schedules", result.await)
        })
        .boxed()
}

/// GET /api/v1/schedules -> [schedule with its runs] (the caller's, newest first)
fn list(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "schedules")
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|auth: Option<String>, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &schedules::list(&state.services, &caller).await?))
            };
            respond("/api/v1/schedules", result.await)
        })
        .boxed()
}

/// GET /api/v1/schedules/{id} -> schedule with its runs (404 unless the caller's)
fn get(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "schedules" / String)
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|id: String, auth: Option<String>, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/schedules/{id}");
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let found = schedules::list(&state.services, &caller).await?.into_iter().find(|s| s.schedule.id == id);
                let found = found.ok_or_else(|| ApiError::from(LedgerError::ScheduleNotFound(id.clone())))?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &found))
            };
            respond(&instance, result.await)
        })
        .boxed()
}

/// DELETE /api/v1/schedules/{id} -> 200 the schedule, cancelled (occurrences that ran stay)
fn cancel(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "schedules" / String)
        .and(warp::delete())
        .and(authorization())
        .and(with_state(state))
        .then(|id: String, auth: Option<String>, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/schedules/{id}");
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let cancelled = schedules::cancel(&state.services, &caller, &id).await?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &schedules::body(cancelled, Vec::new())))
            };
            respond(&instance, result.await)
        })
        .boxed()
}
