//! The customer API of consents under /api/v1/consents (JSON): at the bank where the account
//! is, its holder grants another member bank a consent to debit it (limits, expiry), lists and
//! revokes them. Paths and fields are a contract; see openapi.rs.

use std::sync::Arc;

use bytes::Bytes;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::reply::{body, json_response, parse_json, respond, with_state};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::service::consents::{self, ConsentBody, NewConsent};

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    create(state.clone())
        .or(list(state.clone()))
        .unify()
        .or(get(state.clone()))
        .unify()
        .or(revoke(state.clone()))
        .unify()
        .or(link(state.clone()))
        .unify()
        .or(linked(state))
        .unify()
        .boxed()
}

fn authorization() -> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("authorization").or(warp::any().map(|| None)).unify()
}

/// POST /api/v1/consents {grantee, account, max_per_transfer_cents, max_total_cents, valid_for_seconds} -> 201 consent
fn create(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "consents")
        .and(warp::post())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: NewConsent = parse_json(&body)?;
                let consent = consents::grant(&state.services, &caller, &request).await?;
                Ok::<_, ApiError>(json_response(StatusCode::CREATED, &ConsentBody::new(state.bank(), &consent)))
            };
            respond("/api/v1/consents", result.await)
        })
        .boxed()
}

/// GET /api/v1/consents -> [consent] (the caller's, newest first)
fn list(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "consents")
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|auth: Option<String>, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let list = state.ledger.consents_of(&caller.document).await?;
                let bodies: Vec<ConsentBody> = list.iter().map(|c| ConsentBody::new(state.bank(), c)).collect();
                Ok::<_, ApiError>(json_response(StatusCode::OK, &bodies))
            };
            respond("/api/v1/consents", result.await)
        })
        .boxed()
}

/// GET /api/v1/consents/{id} -> consent (404 unless the caller granted it)
fn get(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "consents" / String)
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|id: String, auth: Option<String>, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/consents/{id}");
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let consent = consents::get(&state.services, &caller, &id).await?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &ConsentBody::new(state.bank(), &consent)))
            };
            respond(&instance, result.await)
        })
        .boxed()
}

/// DELETE /api/v1/consents/{id} -> 200 consent, revoked (404 unless the caller granted it)
fn revoke(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "consents" / String)
        .and(warp::delete())
        .and(authorization())
        .and(with_state(state))
        .then(|id: String, auth: Option<String>, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/consents/{id}");
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let consent = consents::revoke(&state.services, &caller, &id).await?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &ConsentBody::new(state.bank(), &consent)))
            };
            respond(&instance, result.await)
        })
        .boxed()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    bank: String,
    consent: String,
}

#[derive(serde::Serialize)]
struct LinkedBody<'a> {
    bank: &'a str,
    consent: &'a str,
    account: &'a str,
}

/// POST /api/v1/linked-consents {bank, consent} -> 201 {bank, consent, account}: at the bank the
/// customer uses, they bring a consent granted to it at `bank` (confirmed there, signed).
fn link(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "linked-consents")
        .and(warp::post())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: LinkRequest = parse_json(&body)?;
                let linked = consents::link_by_id(&state.services, &caller, request.bank.trim(), request.consent.trim()).await?;
                let body = LinkedBody { bank: &linked.bank, consent: &linked.consent_id, account: &linked.account };
                Ok::<_, ApiError>(json_response(StatusCode::CREATED, &body))
            };
            respond("/api/v1/linked-consents", result.await)
        })
        .boxed()
}

/// GET /api/v1/linked-consents -> [{bank, consent, account}] (the caller's, newest first)
fn linked(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "linked-consents")
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|auth: Option<String>, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let list = state.ledger.linked_consents(&caller.document).await?;
                let bodies: Vec<LinkedBody> =
                    list.iter().map(|l| LinkedBody { bank: &l.bank, consent: &l.consent_id, account: &l.account }).collect();
                Ok::<_, ApiError>(json_response(StatusCode::OK, &bodies))
            };
            respond("/api/v1/linked-consents", result.await)
        })
        .boxed()
}
