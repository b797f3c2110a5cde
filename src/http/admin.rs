//! Operator endpoints under /admin/v1, authenticated with the bank's admin secret
//! (`Authorization: Bearer <secret>`): 401 without it, 403 for a wrong one, 429 when guessing.
//! Without a configured secret they answer 403.

use std::net::IpAddr;
use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::reply::{constant_time_eq, json_response, respond, with_state};
use crate::http::error::ApiError;
use crate::http::server::client_ip;
use crate::http::state::AppState;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    audit(state.clone())
        .or(faults_list(state.clone()))
        .unify()
        .or(partition(state.clone()))
        .unify()
        .or(heal(state.clone()))
        .unify()
        .or(crash_at(state.clone()))
        .unify()
        .or(consortium(state.clone()))
        .unify()
        .or(stats(state.clone()))
        .unify()
        .or(inject(state))
        .unify()
        .boxed()
}

/// GET /admin/v1/stats -> counters for the benchmark {writer_commits, ring_persists, batches, batched_transfers, batches_trimmed}
fn stats(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "stats")
        .and(warp::get())
        .and(admin(state))
        .map(|admin: Result<Arc<AppState>, ApiError>| {
            let result = admin.map(|state| {
                use std::sync::atomic::Ordering::Relaxed;
                let body = serde_json::json!({
                    "writer_commits": state.ledger.commits(),
                    "ring_persists": state.ring.status().persists,
                    "batches": state.cross.batches.load(Relaxed),
                    "batched_transfers": state.cross.batched_transfers.load(Relaxed),
                    "batches_trimmed": state.cross.batches_trimmed.load(Relaxed),
                    "phase_micros": {
                        "token_wait": state.cross.phase_micros[0].load(Relaxed),
                        "hold": state.cross.phase_micros[1].load(Relaxed),
                        "order_and_local_prepare": state.cross.phase_micros[2].load(Relaxed),
                        "remote_prepare": state.cross.phase_micros[3].load(Relaxed),
                        "decide": state.cross.phase_micros[4].load(Relaxed),
                    },
                });
                json_response(StatusCode::OK, &body)
            });
            respond("/admin/v1/stats", result)
        })
        .boxed()
}

/// GET /admin/v1/consortium -> this bank's summary for the consortium audit
fn consortium(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "consortium")
        .and(warp::get())
        .and(admin(state))
        .then(|admin: Result<Arc<AppState>, ApiError>| async move {
            let result = async {
                let state = admin?;
                let ledger = &state.ledger;
                let audit = crate::ledger::audit::audit(ledger.read_pool()).await?;
                let (customer_money_cents, cash_cents, held_cents, in_doubt) = ledger.money_totals().await?;
                let summary = ringbank_wire::BankSummary {
                    bank: state.bank().to_string(),
                    audit,
                    settlement: ledger.settlement_balances().await?,
                    customer_money_cents,
                    cash_cents,
                    held_cents,
                    in_doubt,
                    participations: ledger.participations().await?,
                    directory: Some(state.pix.directory().read(|r| ringbank_wire::DirectorySummary {
                        committed: r.committed(),
                        keys: r.directory().len() as u64,
                        digest: format!("{:016x}", r.directory().digest()),
                    })),
                };
                Ok(json_response(StatusCode::OK, &summary))
            };
            respond("/admin/v1/consortium", result.await)
        })
        .boxed()
}

/// GET /admin/v1/faults -> {bank, injected, active: [{kind, bank, detail, remaining_ms}]}
fn faults_list(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "faults")
        .and(warp::get())
        .and(admin(state))
        .map(|admin: Result<Arc<AppState>, ApiError>| {
            let result = admin.map(|state| json_response(StatusCode::OK, &state.faults.view()));
            respond("/admin/v1/faults", result)
        })
        .boxed()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitionRequest {
    banks: Vec<String>,
    /// humantime duration, e.g. "10s"
    #[serde(rename = "for")]
    duration: String,
}

/// POST /admin/v1/faults/partition {banks, for} -> 204 (ring traffic to/from those banks is dropped)
fn partition(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "faults" / "partition")
        .and(warp::post())
        .and(super::reply::body())
        .and(admin(state))
        .map(|body: bytes::Bytes, admin: Result<Arc<AppState>, ApiError>| {
            let result = (|| {
                let state = admin?;
                let request: PartitionRequest = super::reply::parse_json(&body)?;
                let duration = humantime::parse_duration(&request.duration).map_err(|e| ApiError::InvalidField(format!("for: {e}")))?;
                if duration.is_zero() || duration > crate::faults::FAULT_DURATION_MAX {
                    return Err(ApiError::InvalidField("for must be between 1ms and 1h".into()));
                }
                for bank in &request.banks {
                    if state.ring.members().node_of(bank).is_none() {
                        return Err(ApiError::InvalidField(format!("{bank:?} is not a member of the ring")));
                    }
                }
                state.faults.partition(&request.banks, duration);
                Ok(no_content())
            })();
            respond("/admin/v1/faults/partition", result)
        })
        .boxed()
}

/// POST /admin/v1/faults/heal -> 204 (every fault is lifted)
fn heal(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "faults" / "heal")
        .and(warp::post())
        .and(admin(state))
        .map(|admin: Result<Arc<AppState>, ApiError>| {
            let result = admin.map(|state| {
                state.faults.heal();
                no_content()
            });
            respond("/admin/v1/faults/heal", result)
        })
        .boxed()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CrashAtRequest {
    point: String,
}

/// POST /admin/v1/faults/crash-at {point} -> 204 (the bank kills itself when it reaches the point)
fn crash_at(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "faults" / "crash-at")
        .and(warp::post())
        .and(super::reply::body())
        .and(admin(state))
        .map(|body: bytes::Bytes, admin: Result<Arc<AppState>, ApiError>| {
            let result = (|| {
                let state = admin?;
                let request: CrashAtRequest = super::reply::parse_json(&body)?;
                let point: ringbank_domain::CrashPoint = request
                    .point
                    .parse()
                    .map_err(|e: ringbank_domain::crash_point::UnknownCrashPoint| ApiError::InvalidField(e.to_string()))?;
                state.faults.crash_at(point);
                Ok(no_content())
            })();
            respond("/admin/v1/faults/crash-at", result)
        })
        .boxed()
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    /// humantime; how long the fault lasts (pause: how long the bank is frozen).
    #[serde(rename = "for")]
    duration: Option<String>,
    delay: Option<String>,
    jitter: Option<String>,
    percent: Option<u8>,
    /// replay-token: how long to wait before re-sending the old token.
    after: Option<String>,
    /// clock-rate: ring clock ms per real ms, a decimal from 0.5 to 2 ("1.05").
    rate: Option<String>,
}

fn parse_duration_field(name: &str, value: Option<&str>, default: std::time::Duration) -> Result<std::time::Duration, ApiError> {
    let Some(text) = value else { return Ok(default) };
    let duration = humantime::parse_duration(text).map_err(|e| ApiError::InvalidField(format!("{name}: {e}")))?;
    if duration > crate::faults::FAULT_DURATION_MAX {
        return Err(ApiError::InvalidField(format!("{name} must be at most 1h")));
    }
    Ok(duration)
}

/// POST /admin/v1/faults/{crash|pause|drop-token|replay-token|delay|loss|duplicate|clock-rate}
/// {for?, delay?, jitter?, percent?, after?, rate?} -> 204
fn inject(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "faults" / String)
        .and(warp::post())
        .and(super::reply::body())
        .and(admin(state))
        .then(|kind: String, body: bytes::Bytes, admin: Result<Arc<AppState>, ApiError>| async move {
            let instance = format!("/admin/v1/faults/{kind}");
            let result = async {
                let state = admin?;
                let request: FaultRequest = if body.is_empty() { FaultRequest::default() } else { super::reply::parse_json(&body)? };
                let duration = parse_duration_field("for", request.duration.as_deref(), crate::faults::FAULT_DURATION_DEFAULT)?;
                if duration.is_zero() {
                    return Err(ApiError::InvalidField("for must be at least 1ms".into()));
                }
                let percent = || match request.percent {
                    Some(p) if p <= 100 => Ok(p),
                    _ => Err(ApiError::InvalidField("percent must be given, 0 to 100".into())),
                };
                let faults = &state.faults;
                match kind.as_str() {
                    "crash" => faults.crash_soon(),
                    "pause" => faults.pause_soon(duration),
                    "drop-token" => {
                        faults.arm_drop_token(duration);
                        state.ring.drop_token().await;
                    }
                    "replay-token" => {
                        let after = parse_duration_field("after", request.after.as_deref(), std::time::Duration::from_secs(2))?;
                        if !state.ring.replay_token(after).await {
                            return Err(ApiError::Unavailable(
                                "this bank has not passed a token on yet: nothing to replay; retry later".into(),
                            ));
                        }
                        faults
                            .record("replay-token", &format!("the last token sent is re-sent after {}", humantime::format_duration(after)));
                    }
                    "delay" => {
                        let delay = parse_duration_field("delay", request.delay.as_deref(), std::time::Duration::from_millis(100))?;
                        let jitter = parse_duration_field("jitter", request.jitter.as_deref(), std::time::Duration::ZERO)?;
                        if delay > crate::faults::DELAY_MAX || jitter > crate::faults::DELAY_MAX {
                            return Err(ApiError::InvalidField("delay and jitter must be at most 10s".into()));
                        }
                        faults.delay(delay, jitter, duration);
                    }
                    "clock-rate" => {
                        let text = request
                            .rate
                            .as_deref()
                            .ok_or_else(|| ApiError::InvalidField("rate must be given, e.g. \"1.05\" (0.5 to 2)".into()))?;
                        let rate: ringbank_domain::ClockRate =
                            text.parse().map_err(|e: ringbank_domain::ClockRateError| ApiError::InvalidField(format!("rate: {e}")))?;
                        faults.clock_rate(rate, duration);
                        state.ring.clock_changed().await;
                    }
                    "loss" => faults.loss(percent()?, duration),
                    "duplicate" => faults.duplicate(percent()?, duration),
                    _ => return Err(ApiError::RouteNotFound(instance.clone())),
                }
                Ok(no_content())
            };
            respond(&instance, result.await)
        })
        .boxed()
}

fn no_content() -> Response {
    let mut response = Response::new(Default::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// GET /admin/v1/audit -> the ledger audit report ({bank, passed, checks, ...})
fn audit(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "audit")
        .and(warp::get())
        .and(admin(state))
        .then(|admin: Result<Arc<AppState>, ApiError>| async move {
            let result = async {
                let state = admin?;
                let report = crate::ledger::audit::audit(state.ledger.read_pool()).await?;
                Ok(json_response(StatusCode::OK, &report))
            };
            respond("/admin/v1/audit", result.await)
        })
        .boxed()
}

/// Every admin route's common part: the admin secret is checked here, once; the route gets the
/// state, or the refusal to answer with.
pub(super) fn admin(state: Arc<AppState>) -> impl Filter<Extract = (Result<Arc<AppState>, ApiError>,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization").and(client_ip()).and(with_state(state)).then(
        |auth: Option<String>, client: Option<IpAddr>, state: Arc<AppState>| async move {
            let presented = auth.as_deref().map(|v| v.strip_prefix("Bearer ").unwrap_or("").trim());
            check_admin_secret(&state, client, presented).await.map(|()| state)
        },
    )
}

/// Checks a presented admin secret (None: nothing was presented, 401). Wrong guesses are
/// throttled per client address (429 with Retry-After) and slowed when they come from many.
pub async fn check_admin_secret(state: &AppState, client: Option<IpAddr>, presented: Option<&str>) -> Result<(), ApiError> {
    let Some(secret) = state.config.admin_secret.as_deref().filter(|s| !s.is_empty()) else {
        return Err(ApiError::Forbidden("admin endpoints are disabled: start the bank with --admin-secret".into()));
    };
    let Some(presented) = presented else {
        return Err(ApiError::AdminUnauthenticated);
    };
    match state.admin_guesses.check(client, ADMIN_TARGET) {
        Err(wait) => return Err(ApiError::too_many_attempts(wait)),
        Ok(delay) if !delay.is_zero() => tokio::time::sleep(delay).await,
        Ok(_) => {}
    }
    if constant_time_eq(presented.as_bytes(), secret.as_bytes()) {
        state.admin_guesses.record_success(client, ADMIN_TARGET);
        Ok(())
    } else {
        tracing::warn!(?client, "wrong admin secret");
        state.admin_guesses.record_failure(client, ADMIN_TARGET);
        Err(ApiError::Forbidden("a valid admin secret is required (Authorization: Bearer <secret>)".into()))
    }
}

/// The admin secret is one target: every guess at it counts against the same key.
const ADMIN_TARGET: &str = "admin secret";
