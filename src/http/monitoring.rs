//! Endpoints for operators and orchestrators: readiness and Prometheus metrics. (`/healthz`,
//! liveness, is in `http::routes`.)

use std::sync::Arc;
use std::time::Duration;

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::reply::{json_response, with_state};
use crate::http::state::AppState;
use crate::metrics::Gauges;

/// How long /readyz waits for the database.
const READY_DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    readyz(state.clone()).or(metrics(state)).unify().boxed()
}

/// GET /readyz: 200 when the database answers and the bank has joined the ring (it has seen
/// a token, epoch > 0); 503 otherwise, with what is missing.
fn readyz(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("readyz").and(warp::get()).and(with_state(state)).then(ready).boxed()
}

async fn ready(state: Arc<AppState>) -> Response {
    let database = matches!(tokio::time::timeout(READY_DATABASE_TIMEOUT, state.ledger.ping()).await, Ok(Ok(())));
    let epoch = state.ring.status().epoch;
    let ring_joined = epoch > 0;
    let status = if database && ring_joined { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({
        "status": if status == StatusCode::OK { "ready" } else { "not ready" },
        "database": database,
        "ring_joined": ring_joined,
        "epoch": epoch,
    });
    json_response(status, &body)
}

/// GET /metrics: the Prometheus text exposition (version 0.0.4).
fn metrics(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("metrics").and(warp::get()).and(with_state(state)).then(render).boxed()
}

async fn render(state: Arc<AppState>) -> Response {
    let status = state.ring.status();
    let (transfers_by_status, in_doubt) = match state.ledger.transfer_counts().await {
        Ok(counts) => counts,
        Err(error) => {
            tracing::warn!(%error, "metrics: cannot count transfers");
            (Vec::new(), 0)
        }
    };
    let gauges = Gauges {
        bank: state.bank().to_string(),
        epoch: status.epoch,
        token_seq: status.token_seq,
        holding: status.holding,
        grants: status.grants,
        messages_sent: status.messages_sent,
        messages_received: status.messages_received,
        writer_queue_depth: state.ledger.queue_depth(),
        transfers_by_status,
        in_doubt,
    };
    let body = state.metrics.render(&gauges, state.ledger.writer_stats());
    let mut response = Response::new(body.into());
    response.headers_mut().insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static(crate::metrics::CONTENT_TYPE));
    response
}
