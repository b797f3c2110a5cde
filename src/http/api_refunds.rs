//! The customer API of refunds (devolução): POST and GET /api/v1/transfers/{id}/refunds (JSON).
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
use crate::service::refunds::{self, RefundRequest};

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    create(state.clone()).or(list(state)).unify().boxed()
}

fn authorization() -> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("authorization").or(warp::any().map(|| None)).unify()
}

/// POST /api/v1/transfers/{id}/refunds {account, amount_cents, description?} -> 201 {id, status, refund_of}
/// (committed), or 202 with status "pending" when the original came from another bank (the
/// refund runs by two-phase commit; poll GET /api/v1/transfers/{refund id})
fn create(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "transfers" / String / "refunds")
        .and(warp::post())
        .and(authorization())
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(body())
        .and(with_state(state))
        .then(|original: String, auth: Option<String>, key: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/transfers/{original}/refunds");
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: RefundRequest = parse_json(&body)?;
                let posted = refunds::refund(&state.services, &caller, &original, &request, key).await?;
                let body = serde_json::json!({ "id": posted.id, "status": posted.status.as_str(), "refund_of": original });
                let code = if posted.status.is_final() { StatusCode::CREATED } else { StatusCode::ACCEPTED };
                Ok::<_, ApiError>(json_response(code, &body))
            };
            respond(&instance, result.await)
        })
        .boxed()
}

/// GET /api/v1/transfers/{id}/refunds -> {refund_of, refunded_cents, refunds: [...]} (those the
/// caller took part in, as receiver or payer)
fn list(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "transfers" / String / "refunds")
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|original: String, auth: Option<String>, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/transfers/{original}/refunds");
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let (lines, total) = refunds::refunds_of(&state.services, &caller, &original).await?;
                let body = serde_json::json!({ "refund_of": original, "refunded_cents": total, "refunds": lines });
                Ok::<_, ApiError>(json_response(StatusCode::OK, &body))
            };
            respond(&instance, result.await)
        })
        .boxed()
}
