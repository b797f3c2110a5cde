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
    list(state.clone()).or(add(state.clone())).unify().or(remove(state.clone())).unify().or(approve(state)).unify().boxed()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddRequest {
    bank: String,
    url: String,
    public_key: String,
    /// Other members' approvals (`POST /admin/v1/ring/approvals` at each of them).
    #[serde(default)]
    approvals: Vec<ApprovalView>,
}

/// One member's approval of a change, as its bank gave it to its operator.
#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct ApprovalView {
    /// The approving member.
    bank: String,
    /// The membership version the change creates.
    version: u64,
    signature: ringbank_domain::Signature,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RemoveRequest {
    #[serde(default)]
    approvals: Vec<ApprovalView>,
}

/// The change an approval is for: `{"add": {bank, url, public_key}}` or `{"remove": bank}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum ApproveRequest {
    Add { bank: String, url: String, public_key: String },
    Remove(String),
}

/// The approvals in the ring's terms: each names a member (by node id); one that names a bank
/// that is not a member is refused (the ring would not count it either).
fn ring_approvals(state: &AppState, approvals: Vec<ApprovalView>) -> Result<Vec<ringbank_ring::Approval>, ApiError> {
    let members = state.ring.members();
    approvals
        .into_iter()
        .map(|approval| {
            let by = members
                .node_of(&approval.bank)
                .ok_or_else(|| ApiError::MembershipRefused(format!("an approval by {:?}, which is not a member", approval.bank)))?;
            Ok(ringbank_ring::Approval { by, signature: approval.signature })
        })
        .collect()
}

/// The change to add `bank` at `url` with `public_key`, checked as the admin API checks it.
fn add_change(state: &AppState, bank: &str, url: &str, public_key: &str) -> Result<(String, ringbank_ring::MembershipChange), ApiError> {
    let peer = crate::config::parse_peer(&format!("{bank}={url}={public_key}")).map_err(ApiError::InvalidField)?;
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
    Ok((peer.id, change))
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

/// POST /admin/v1/ring/members {bank, url, public_key, approvals} -> 202 {version, node}: queues
/// the addition of a bank (started beforehand with `--join`) as node `next_node`, with other
/// members' approvals (with this bank's own, a quorum of the members: else 409).
fn add(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "ring" / "members")
        .and(warp::post())
        .and(super::reply::body())
        .and(admin(state))
        .then(|body: bytes::Bytes, admin: Result<Arc<AppState>, ApiError>| async move {
            let result = async {
                let state = admin?;
                let request: AddRequest = super::reply::parse_json(&body)?;
                let (bank, change) = add_change(&state, &request.bank, &request.url, &request.public_key)?;
                let node = change.id();
                let approvals = ring_approvals(&state, request.approvals)?;
                let version = propose(&state, change, approvals).await?;
                tracing::info!(%bank, node, version, "operator: adding a bank to the ring");
                Ok(json_response(StatusCode::ACCEPTED, &serde_json::json!({"version": version, "node": node, "bank": bank})))
            };
            respond("/admin/v1/ring/members", result.await)
        })
        .boxed()
}

/// DELETE /admin/v1/ring/members/{bank} [{approvals}] -> 202 {version}: queues the removal of a
/// member that has no transfer in doubt or undelivered here and a settled position with this
/// bank (zero balance on its settlement account here), with the other members' approvals (an
/// optional JSON body).
fn remove(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "ring" / "members" / String)
        .and(warp::delete())
        .and(super::reply::body())
        .and(admin(state))
        .then(|bank: String, body: bytes::Bytes, admin: Result<Arc<AppState>, ApiError>| async move {
            let result = async {
                let state = admin?;
                let request: RemoveRequest =
                    if body.iter().all(u8::is_ascii_whitespace) { RemoveRequest::default() } else { super::reply::parse_json(&body)? };
                let node = removable(&state, &bank).await?;
                let approvals = ring_approvals(&state, request.approvals)?;
                let version = propose(&state, ringbank_ring::MembershipChange::Remove { id: node }, approvals).await?;
                tracing::info!(%bank, node, version, "operator: removing a bank from the ring");
                Ok(json_response(StatusCode::ACCEPTED, &serde_json::json!({"version": version, "node": node, "bank": bank})))
            };
            respond("/admin/v1/ring/members/{bank}", result.await)
        })
        .boxed()
}

/// POST /admin/v1/ring/approvals {"add": {bank, url, public_key}} | {"remove": bank} -> 200
/// {bank, version, signature}: this bank's approval of that change as the next one (its
/// operator's decision), to hand to the operator of the member that will order it. A change
/// takes effect only with the approvals of a quorum of the members (the ordering member's own
/// included), so no member alone changes who the members are.
fn approve(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("admin" / "v1" / "ring" / "approvals")
        .and(warp::post())
        .and(super::reply::body())
        .and(admin(state))
        .then(|body: bytes::Bytes, admin: Result<Arc<AppState>, ApiError>| async move {
            let result = async {
                let state = admin?;
                let change = match super::reply::parse_json::<ApproveRequest>(&body)? {
                    ApproveRequest::Add { bank, url, public_key } => add_change(&state, &bank, &url, &public_key)?.1,
                    ApproveRequest::Remove(bank) => ringbank_ring::MembershipChange::Remove { id: removable(&state, &bank).await? },
                };
                let (version, approval) =
                    state.ring.approve(&change).map_err(|refusal| ApiError::MembershipRefused(refusal.to_string()))?;
                tracing::info!(?change, version, "operator: approving a membership change");
                let view = ApprovalView { bank: state.bank().to_string(), version, signature: approval.signature };
                Ok(json_response(StatusCode::OK, &view))
            };
            respond("/admin/v1/ring/approvals", result.await)
        })
        .boxed()
}

/// The node id of member `bank` if this bank may order or approve its removal: no cross-bank
/// transfer with `bank` in doubt or undelivered here (traffic among the other members does not
/// count), and this bank's position with it settled (a zero balance on its settlement account
/// here). Each approving member checks its own books, so a removal needs a
/// quorum of members that have settled with the bank leaving.
async fn removable(state: &AppState, bank: &str) -> Result<u16, ApiError> {
    let node = state.ring.members().node_of(bank).ok_or_else(|| ApiError::UnknownBank(bank.to_string()))?;
    let open = state.ledger.open_with(bank).await?;
    if open > 0 {
        return Err(ApiError::MembershipRefused(format!(
            "{open} cross-bank transfer(s) with {bank} are in doubt or undelivered here: let them finish before removing it"
        )));
    }
    let position = state.ledger.settlement_balances().await?.into_iter().find(|(peer, _)| peer == bank).map_or(0, |(_, b)| b);
    if position != 0 {
        return Err(ApiError::MembershipRefused(format!(
            "the position with {bank} is not settled here ({position} centavos on settlement:{bank})"
        )));
    }
    Ok(node)
}

async fn propose(
    state: &AppState,
    change: ringbank_ring::MembershipChange,
    approvals: Vec<ringbank_ring::Approval>,
) -> Result<u64, ApiError> {
    state.ring.propose(change, approvals).await.map_err(|error| match error {
        crate::ring_driver::ProposeError::Refused(refusal) => ApiError::MembershipRefused(refusal.to_string()),
        crate::ring_driver::ProposeError::Stopped => ApiError::Unavailable("the ring driver has stopped".into()),
    })
}
