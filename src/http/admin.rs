//! Operator endpoints under /admin/v1, authenticated with the bank's admin secret
//! (`Authorization: Bearer <secret>`). Without a configured secret they answer 403.

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::{json_response, respond, with_state};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    audit(state)
}

/// GET /admin/v1/audit -> the ledger audit report ({bank, passed, checks, ...})
fn audit(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "audit")
        .and(warp::get())
        .and(warp::header::optional::<String>("authorization"))
        .and(with_state(state))
        .then(|auth: Option<String>, state: Arc<AppState>| async move {
            let result = async {
                require_admin(&state, auth.as_deref())?;
                let report = crate::ledger::audit::audit(state.ledger.read_pool()).await?;
                Ok(json_response(StatusCode::OK, &report))
            };
            respond("/admin/v1/audit", result.await)
        })
        .boxed()
}

pub fn require_admin(state: &AppState, authorization: Option<&str>) -> Result<(), ApiError> {
    let Some(secret) = state.config.admin_secret.as_deref() else {
        return Err(ApiError::Forbidden("admin endpoints are disabled: start the bank with --admin-secret".into()));
    };
    let presented = authorization.and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    if constant_time_eq(presented.as_bytes(), secret.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("a valid admin secret is required (Authorization: Bearer <secret>)".into()))
    }
}

/// Compares without stopping at the first difference, so timing does not leak the secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
