//! Interbank settlement, for operators (admin secret required, as for every /admin/v1 route):
//! the creditor bank records that a peer paid it reserves outside the ring, which lowers both
//! banks' positions through a two-phase commit under the token (`TransferKind::Settlement`); and
//! the positions and settlements this bank has. A member's position must be settled before it
//! is removed from the ring (admin_ring.rs).

use std::sync::Arc;
use std::time::Duration;

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::admin::admin;
use super::reply::{json_response, respond};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::ledger::cross::Settlement;
use crate::ledger::Job;
use crate::service::operations;
use crate::service::Caller;

/// How long a settlement request waits for its outcome before it answers 202 (pending).
const SETTLEMENT_WAIT: Duration = Duration::from_secs(10);
/// The most settlements `GET /admin/v1/settlements` lists (the newest).
const SETTLEMENTS_LISTED: i64 = 100;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    list(state.clone()).or(record(state)).unify().boxed()
}

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct SettlementRequest {
    /// The member bank that paid this bank (the debtor).
    from: String,
    amount_cents: i64,
    /// How it paid (a wire's reference, say): 1 to 140 characters.
    reference: String,
}

/// GET /admin/v1/settlements -> {positions: [{bank, position_cents}], settlements: [...]}:
/// this bank's position with each peer (positive: this bank owes the peer; negative: the peer
/// owes this bank) and the newest settlements it recorded as creditor.
fn list(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "settlements")
        .and(warp::get())
        .and(admin(state))
        .then(|admin: Result<Arc<AppState>, ApiError>| async move {
            let result = async {
                let state = admin?;
                let positions: Vec<serde_json::Value> = state
                    .ledger
                    .settlement_balances()
                    .await?
                    .into_iter()
                    .map(|(bank, position_cents)| serde_json::json!({"bank": bank, "position_cents": position_cents}))
                    .collect();
                let settlements = state.ledger.settlements(SETTLEMENTS_LISTED).await?;
                Ok(json_response(StatusCode::OK, &serde_json::json!({"positions": positions, "settlements": settlements})))
            };
            respond("/admin/v1/settlements", result.await)
        })
        .boxed()
}

/// POST /admin/v1/settlements {from, amount_cents, reference} (optional Idempotency-Key): records
/// that member `from` paid this bank `amount_cents` of reserves. Refused (409
/// `settlement-refused`) if `from` does not owe this bank that much; otherwise stored and run
/// under the token like a cross-bank transfer, whose outcome it waits for: 200 with the final
/// state (committed, or aborted with the reason, e.g. the debtor's vote), or 202 if still pending
/// after 10 s (GET /admin/v1/settlements shows it later).
fn record(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "settlements")
        .and(warp::post())
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(super::reply::body())
        .and(admin(state))
        .then(|key: Option<String>, body: bytes::Bytes, admin: Result<Arc<AppState>, ApiError>| async move {
            let result = async {
                let state = admin?;
                let request: SettlementRequest = super::reply::parse_json(&body)?;
                let peer = request.from.trim().to_string();
                if peer == state.bank() {
                    return Err(ApiError::InvalidField("from: a bank does not settle with itself".into()));
                }
                if state.ring.members().node_of(&peer).is_none() {
                    return Err(ApiError::UnknownBank(peer));
                }
                operations::check_amount(&state.services, "amount_cents", request.amount_cents)?;
                let reference = operations::clean_text("reference", &request.reference, 1, operations::DESCRIPTION_MAX_CHARS)?;
                let settlement = Settlement { id: crate::clock::new_id("st"), peer, amount_cents: request.amount_cents, reference };
                // The operator acts for the bank: its submissions are keyed apart from any customer's.
                let operator = Caller { document: ringbank_twopc::SETTLEMENT_INITIATOR.to_string(), person: false, name: String::new() };
                let canonical = serde_json::to_string(&request).unwrap_or_default();
                let job = Job::SubmitSettlement(settlement);
                let posted = operations::post_money(&state.services, &operator, "settlements", job, &canonical, key).await?;
                if let Some(record) = crate::twopc::wait_final(&state.cross, &posted.id, &operator.document, SETTLEMENT_WAIT).await {
                    return Ok(json_response(StatusCode::OK, &ringbank_wire::TransferView::from(record)));
                }
                Ok(json_response(StatusCode::ACCEPTED, &serde_json::json!({"id": posted.id, "status": posted.status})))
            };
            respond("/admin/v1/settlements", result.await)
        })
        .boxed()
}
