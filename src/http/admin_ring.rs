//! Operator endpoints that change the ring's membership (admin secret required, as for every
//! /admin/v1 route): add a bank, remove one, read the member list. The change itself is ordered
//! by the token (ring/README.md, "Membership change"); this bank only checks it and queues it.

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::admin::admin;
use super::reply::{json_response, respond};
use crate::http::error::ApiError;
use crate::http::state::AppState;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    list(state.clone()).or(add(state.clone())).unify().or(remove(state)).unify().boxed()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddRequest {
    bank: String,
    url: String,
    public_key: String,
}

/// GET /admin/v1/ring/members -> {version, joint, members: [{bank, node, url, public_key}], next_node}
fn list(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "ring" / "members")
        .and(warp::get())
        .and(admin(state))
        .map(|admin: Result<Arc<AppState>, ApiError>| {
            let result = admin.map(|state| json_response(StatusCode::OK, &member_list(&state)));
            respond("/admin/v1/ring/members", result)
        })
        .boxed()
}

fn member_list(state: &AppState) -> serde_json::Value {
    let members = state.ring.members();
    let list: Vec<serde_json::Value> = members
        .list
        .iter()
        .map(|m| serde_json::json!({"bank": m.id, "node": m.node, "url": m.url, "public_key": m.public_key.to_string()}))
        .collect();
    serde_json::json!({"version": members.version, "joint": members.joint, "members": list, "next_node": members.next_node()})
}

/// POST /admin/v1/ring/members {bank, url, public_key} -> 202 {version, node}: queues the
/// addition of a bank (started beforehand with `--join`) as node `next_node`.
fn add(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "ring" / "members")
        .and(warp::post())
        .and(super::reply::body())
        .and(admin(state))
        .then(|body: bytes::Bytes, admin: Result<Arc<AppState>, ApiError>| async move {
            let result = async {
                let state = admin?;
                let request: AddRequest = super::reply::parse_json(&body)?;
                let peer = crate::config::parse_peer(&format!("{}={}={}", request.bank, request.url, request.public_key))
                    .map_err(ApiError::InvalidField)?;
                let public_key = peer.public_key.ok_or_else(|| ApiError::MissingField("public_key".into()))?;
                let members = state.ring.members();
                if members.names().iter().any(|name| *name == peer.id) {
                    return Err(ApiError::MembershipRefused(format!("{} is or was a member: a bank id is never reused", peer.id)));
                }
                if members.list.iter().any(|m| m.url == peer.url || m.public_key == public_key) {
                    return Err(ApiError::MembershipRefused("a member already has that URL or public key".into()));
                }
                let node = u16::try_from(members.next_node()).map_err(|_| ApiError::MembershipRefused("no node id left".into()))?;
                let change = ringbank_ring::MembershipChange::Add {
                    id: node,
                    public_key: crate::peer::key_bytes(&public_key),
                    label: crate::peer::member_label(&peer.id, &peer.url),
                };
                let version = propose(&state, change).await?;
                tracing::info!(bank = %peer.id, node, version, "operator: adding a bank to the ring");
                Ok(json_response(StatusCode::ACCEPTED, &serde_json::json!({"version": version, "node": node, "bank": peer.id})))
            };
            respond("/admin/v1/ring/members", result.await)
        })
        .boxed()
}

/// DELETE /admin/v1/ring/members/{bank} -> 202 {version}: queues the removal of a member that
/// has no transfer in doubt here and a settled position with this bank (zero balance on its
/// settlement account here).
fn remove(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "ring" / "members" / String)
        .and(warp::delete())
        .and(admin(state))
        .then(|bank: String, admin: Result<Arc<AppState>, ApiError>| async move {
            let result = async {
                let state = admin?;
                let node = state.ring.members().node_of(&bank).ok_or_else(|| ApiError::UnknownBank(bank.clone()))?;
                let (_, _, _, in_doubt) = state.ledger.money_totals().await?;
                if in_doubt > 0 {
                    return Err(ApiError::MembershipRefused(format!(
                        "{in_doubt} cross-bank transfer(s) are in doubt here: resolve them before removing a member"
                    )));
                }
                let position = state.ledger.settlement_balances().await?.into_iter().find(|(peer, _)| *peer == bank).map_or(0, |(_, b)| b);
                if position != 0 {
                    return Err(ApiError::MembershipRefused(format!(
                        "the position with {bank} is not settled here ({position} centavos on settlement:{bank})"
                    )));
                }
                let version = propose(&state, ringbank_ring::MembershipChange::Remove { id: node }).await?;
                tracing::info!(%bank, node, version, "operator: removing a bank from the ring");
                Ok(json_response(StatusCode::ACCEPTED, &serde_json::json!({"version": version, "node": node, "bank": bank})))
            };
            respond("/admin/v1/ring/members/{bank}", result.await)
        })
        .boxed()
}

async fn propose(state: &AppState, change: ringbank_ring::MembershipChange) -> Result<u64, ApiError> {
    state.ring.propose(change).await.map_err(|error| match error {
        crate::ring_driver::ProposeError::Refused(refusal) => ApiError::MembershipRefused(refusal.to_string()),
        crate::ring_driver::ProposeError::Stopped => ApiError::Unavailable("the ring driver has stopped".into()),
    })
}
