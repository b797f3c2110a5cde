//! Pix by BR Code in the JSON API: issuing a static code for an account, parsing a pasted code,
//! paying one, creating a company's dynamic charge, and the charge's public URL
//! (/pix/v1/charges/{id}, what a dynamic code points at). The use cases are service::pix.

use std::sync::Arc;

use bytes::Bytes;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use ringbank_domain::brcode::BrCode;
use ringbank_domain::TransferStatus;

use super::reply::{body, json_response, parse_json, respond, with_state};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::service::pix::{self, NewCharge, PayRequest, PixError, StaticRequest};

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    issue(state.clone())
        .or(parse())
        .unify()
        .or(pay(state.clone()))
        .unify()
        .or(create_charge(state.clone()))
        .unify()
        .or(charge(state))
        .unify()
        .boxed()
}

fn authorization() -> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("authorization").or(warp::any().map(|| None)).unify()
}

/// POST /api/v1/pix/brcodes {account, key?, amount_cents?, description?, txid?}
///   -> 201 {payload, svg, brcode}: a static code for one of the caller's accounts
fn issue(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "pix" / "brcodes")
        .and(warp::post())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: StaticRequest = parse_json(&body)?;
                let issued = pix::static_code(&state.services, &caller, &request).await?;
                Ok::<_, ApiError>(json_response(StatusCode::CREATED, &issued))
            };
            respond("/api/v1/pix/brcodes", result.await)
        })
        .boxed()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ParseRequest {
    payload: String,
}

/// POST /api/v1/pix/brcodes/parse {payload} -> 200 {brcode, crc_ok: true}; a changed code is
/// 422 brcode-tampered, a malformed one 422 invalid-brcode (pure parsing: no session needed)
fn parse() -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "pix" / "brcodes" / "parse")
        .and(warp::post())
        .and(body())
        .then(|body: Bytes| async move {
            let result = (|| {
                let request: ParseRequest = parse_json(&body)?;
                let code = BrCode::parse(&request.payload).map_err(PixError::from)?;
                Ok::<_, ApiError>(json_response(StatusCode::OK, &serde_json::json!({ "brcode": code, "crc_ok": true })))
            })();
            respond("/api/v1/pix/brcodes/parse", result)
        })
        .boxed()
}

/// POST /api/v1/pix/payments {from_account, payload, amount_cents?} with an optional
/// Idempotency-Key -> 201 {id, status: committed, payee} (all here) or 202 {id, status:
/// pending, payee} (the payee at another bank: a cross-bank transfer under the token)
fn pay(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "pix" / "payments")
        .and(warp::post())
        .and(authorization())
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, key: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: PayRequest = parse_json(&body)?;
                let (review, posted) = pix::pay(&state.services, &caller, &request, key).await?;
                let status = if posted.status == TransferStatus::Pending { StatusCode::ACCEPTED } else { StatusCode::CREATED };
                let answer = serde_json::json!({ "id": posted.id, "status": posted.status.as_str(), "payee": review.payee, "description": review.description });
                Ok::<_, ApiError>(json_response(status, &answer))
            };
            respond("/api/v1/pix/payments", result.await)
        })
        .boxed()
}

/// POST /api/v1/pix/charges {account, amount_cents, description, expires_in_seconds}
///   -> 201 {charge, payload, svg, brcode}: a company account's dynamic charge
fn create_charge(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "pix" / "charges")
        .and(warp::post())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.services.authenticate(auth.as_deref()).await?;
                let request: NewCharge = parse_json(&body)?;
                let (charge, issued) = pix::create_charge(&state.services, &caller, &request).await?;
                let answer = serde_json::json!({ "charge": charge, "payload": issued.payload, "svg": issued.svg, "brcode": issued.brcode });
                Ok::<_, ApiError>(json_response(StatusCode::CREATED, &answer))
            };
            respond("/api/v1/pix/charges", result.await)
        })
        .boxed()
}

/// GET /pix/v1/charges/{id} -> 200 {id, bank, account, amount_cents, description,
/// merchant_name, masked_document, status: active|paid|expired, expires_at}; public (the
/// address a dynamic code carries; the id is 25 random letters and digits)
fn charge(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("pix" / "v1" / "charges" / String)
        .and(warp::get())
        .and(with_state(state))
        .then(|id: String, state: Arc<AppState>| async move {
            let instance = format!("/pix/v1/charges/{id}");
            let result = async { Ok::<_, ApiError>(json_response(StatusCode::OK, &pix::charge(&state.services, &id).await?)) };
            respond(&instance, result.await)
        })
        .boxed()
}
