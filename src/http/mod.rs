//! The HTTP boundary: warp routes for the customer API (JSON), the admin endpoints, the home page
//! and monitoring (/healthz here; /readyz and /metrics in `monitoring`).
//! Handlers parse and validate input, call the ledger, and shape the output;
//! errors go through `ApiError` and its one mapping (`error`). The customer pages are in `web`;
//! helpers every handler shares are in `reply`. Children import siblings, never this file.

mod admin;
mod admin_ring;
mod admin_settlements;
pub mod allow;
mod api;
mod api_consents;
mod api_keys;
mod api_limits;
mod api_pix;
mod api_refunds;
mod api_schedules;
mod bank;
pub mod error;
mod monitoring;
pub mod openapi;
pub mod openapi_bank;
mod openapi_pix;
mod pages;
pub mod reply;
mod ring;
pub mod server;
pub mod state;
pub mod web;

use std::sync::Arc;

use warp::filters::path::FullPath;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

pub use error::ApiError;
pub use reply::{json_response, BODY_LIMIT_BYTES};
pub use state::AppState;

/// Every route of the bank, with warp's own rejections mapped to problem+json.
pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    let healthz = warp::path!("healthz").and(warp::get()).map(|| json_response(StatusCode::OK, &serde_json::json!({"status": "ok"})));
    let metrics = state.metrics.clone();
    let trust_forwarded_proto = state.config.trust_forwarded_proto;
    let bank_document =
        warp::path!("bank" / "v1" / "openapi.json").and(warp::get()).map(|| json_response(StatusCode::OK, &openapi_bank::document()));
    // Three boxed groups, in the order routes are tried: a long chain of `or` makes trait
    // solving (and so every build) slow; a boxed group is one type however many routes it holds.
    let customer = healthz
        .or(bank_document)
        .unify()
        .or(monitoring::routes(state.clone()))
        .unify()
        .or(api::routes(state.clone()))
        .unify()
        .or(api_consents::routes(state.clone()))
        .unify()
        .or(api_keys::routes(state.clone()))
        .unify()
        .or(api_limits::routes(state.clone()))
        .unify()
        .or(api_refunds::routes(state.clone()))
        .unify()
        .or(api_schedules::routes(state.clone()))
        .unify()
        .or(api_pix::routes(state.clone()))
        .unify()
        .boxed();
    let operators_and_banks = admin::routes(state.clone())
        .or(admin_ring::routes(state.clone()))
        .unify()
        .or(admin_settlements::routes(state.clone()))
        .unify()
        .or(ring::routes(state.clone()))
        .unify()
        .or(bank::routes(state.clone()))
        .unify()
        .boxed();
    let web_pages = web::routes(state.clone()).or(pages::routes(state.clone())).unify().or(web::unknown_page(state)).unify().boxed();
    let inner = customer.or(operators_and_banks).unify().or(web_pages).unify().recover(reply::recover).unify();
    // A forwarded scheme that is not text reads as absent (never a rejection outside recover).
    let forwarded_proto = warp::header::optional::<String>("x-forwarded-proto").or(warp::any().map(|| None)).unify();
    let routes =
        warp::path::full().and(forwarded_proto).and(inner).map(move |path: FullPath, proto: Option<String>, response: Response| {
            let over_tls = trust_forwarded_proto && proto.is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
            reply::finish(path.as_str(), over_tls, response)
        });
    routes
        .with(warp::log::custom(move |info| {
            metrics.record_http(info.method().as_str(), info.path(), info.status().as_u16());
            tracing::debug!(method = %info.method(), path = info.path(), status = info.status().as_u16(), elapsed_ms = info.elapsed().as_millis() as u64, "http");
        }))
        .map(warp::Reply::into_response)
        .boxed()
}
