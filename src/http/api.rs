//! The customer API under /api/v1 (JSON). Paths and fields are a contract; see openapi.rs.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::{body, json_response, parse_json, raw_json_response, respond, with_state};
use crate::document::Document;
use crate::error::ApiError;
use crate::ledger::{new_id, AccountKind, IdempotencyRecord, Job, Leg, LedgerError, LocalTransfer, Outcome, TransferKind};
use crate::state::{hash_password, AppState, Caller};

/// Longest description or payment reference, in characters.
const DESCRIPTION_MAX_CHARS: usize = 140;
/// Most holders of one joint account.
const HOLDERS_MAX: usize = 8;
const STATEMENT_PAGE_MAX: u32 = 200;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    create_customer(state.clone())
        .or(create_session(state.clone()))
        .unify()
        .or(delete_session(state.clone()))
        .unify()
        .or(create_account(state.clone()))
        .unify()
        .or(list_accounts(state.clone()))
        .unify()
        .or(get_account(state.clone()))
        .unify()
        .or(statement(state.clone()))
        .unify()
        .or(money_post(state.clone(), "deposits"))
        .unify()
        .or(money_post(state.clone(), "withdrawals"))
        .unify()
        .or(money_post(state.clone(), "transfers"))
        .unify()
        .or(money_post(state.clone(), "payments"))
        .unify()
        .or(get_transfer(state))
        .unify()
        .or(openapi())
        .unify()
        .boxed()
}

fn authorization() -> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("authorization").or(warp::any().map(|| None)).unify()
}

/// POST /api/v1/customers {document, name, password} -> 201 {document, name}
fn create_customer(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "customers")
        .and(warp::post())
        .and(body())
        .and(with_state(state))
        .then(|body: Bytes, state: Arc<AppState>| async move {
            respond("/api/v1/customers", create_customer_handler(&state, &body).await)
        })
        .boxed()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCustomer {
    document: String,
    name: String,
    password: String,
}

async fn create_customer_handler(state: &AppState, body: &[u8]) -> Result<Response, ApiError> {
    let request: NewCustomer = parse_json(body)?;
    let document = parse_document(&request.document)?;
    let name = clean_text("name", &request.name, 1, 120)?;
    let chars = request.password.chars().count();
    if !(8..=128).contains(&chars) {
        return Err(ApiError::InvalidField("password must have 8 to 128 characters".into()));
    }
    if state.ledger.customer(document.as_str()).await?.is_some() {
        return Err(LedgerError::CustomerExists.into());
    }
    let password = request.password;
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let job = Job::CreateCustomer {
        document: document.as_str().to_string(),
        person: document.is_person(),
        name: name.clone(),
        password_hash,
    };
    state.ledger.submit(job, None).await?;
    Ok(json_response(StatusCode::CREATED, &serde_json::json!({ "document": document.as_str(), "name": name })))
}

/// POST /api/v1/sessions {document, password} -> 200 {token, expires_at}
fn create_session(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "sessions")
        .and(warp::post())
        .and(body())
        .and(with_state(state))
        .then(|body: Bytes, state: Arc<AppState>| async move {
            respond("/api/v1/sessions", create_session_handler(&state, &body).await)
        })
        .boxed()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    document: String,
    password: String,
}

async fn create_session_handler(state: &AppState, body: &[u8]) -> Result<Response, ApiError> {
    let request: SignIn = parse_json(body)?;
    let document = parse_document(&request.document)?;
    let (token, expires_at_ms) = state.sign_in(document.as_str(), &request.password).await?;
    let expires_at = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(expires_at_ms).unwrap_or(0)),
    )
    .to_string();
    Ok(json_response(StatusCode::OK, &serde_json::json!({ "token": token, "expires_at": expires_at })))
}

/// DELETE /api/v1/sessions -> 204 (signs the bearer token out)
fn delete_session(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "sessions")
        .and(warp::delete())
        .and(authorization())
        .and(with_state(state))
        .then(|auth: Option<String>, state: Arc<AppState>| async move {
            let result = state.sign_out(auth.as_deref()).await.map(|()| {
                let mut response = Response::new(Default::default());
                *response.status_mut() = StatusCode::NO_CONTENT;
                response
            });
            respond("/api/v1/sessions", result)
        })
        .boxed()
}

/// POST /api/v1/accounts {kind, holders} -> 201 account
fn create_account(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "accounts")
        .and(warp::post())
        .and(authorization())
        .and(body())
        .and(with_state(state))
        .then(|auth: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            respond("/api/v1/accounts", create_account_handler(&state, auth.as_deref(), &body).await)
        })
        .boxed()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    kind: AccountKind,
    #[serde(default)]
    holders: Vec<String>,
}

async fn create_account_handler(state: &AppState, auth: Option<&str>, body: &[u8]) -> Result<Response, ApiError> {
    let caller = state.authenticate(auth).await?;
    let request: NewAccount = parse_json(body)?;
    if request.holders.len() > HOLDERS_MAX {
        return Err(ApiError::LimitExceeded(format!("an account has at most {HOLDERS_MAX} holders")));
    }
    let mut holders = vec![caller.document.clone()];
    for holder in &request.holders {
        let document = parse_document(holder)?;
        if !holders.iter().any(|h| h == document.as_str()) {
            holders.push(document.as_str().to_string());
        }
    }
    let job = Job::OpenAccount { caller: caller.document.clone(), caller_is_person: caller.person, kind: request.kind, holders };
    match state.ledger.submit(job, None).await? {
        Outcome::Account(view) => Ok(json_response(StatusCode::CREATED, &view)),
        other => Err(ApiError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

/// GET /api/v1/accounts -> [account] (the caller's accounts at this bank)
fn list_accounts(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "accounts")
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|auth: Option<String>, state: Arc<AppState>| async move {
            let result = async {
                let caller = state.authenticate(auth.as_deref()).await?;
                let accounts = state.ledger.accounts_of(&caller.document).await?;
                Ok(json_response(StatusCode::OK, &accounts))
            };
            respond("/api/v1/accounts", result.await)
        })
        .boxed()
}

/// GET /api/v1/accounts/{number} -> account (404 unless the caller holds it)
fn get_account(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "accounts" / String)
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|number: String, auth: Option<String>, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/accounts/{number}");
            let result = async {
                let caller = state.authenticate(auth.as_deref()).await?;
                let view = held_account(&state, &caller, &number).await?;
                Ok(json_response(StatusCode::OK, &view))
            };
            respond(&instance, result.await)
        })
        .boxed()
}

async fn held_account(state: &AppState, caller: &Caller, number: &str) -> Result<crate::ledger::AccountView, ApiError> {
    let not_found = || ApiError::Ledger(LedgerError::AccountNotFound(number.to_string()));
    if !is_account_number(number) {
        return Err(not_found());
    }
    state.ledger.account_for(number, &caller.document).await?.ok_or_else(not_found)
}

#[derive(Deserialize)]
struct StatementQuery {
    limit: Option<u32>,
    before: Option<i64>,
}

/// GET /api/v1/accounts/{number}/statement?limit=50&before=LINE -> {account, entries, next_before}
fn statement(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "accounts" / String / "statement")
        .and(warp::get())
        .and(authorization())
        .and(warp::query::<StatementQuery>())
        .and(with_state(state))
        .then(|number: String, auth: Option<String>, query: StatementQuery, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/accounts/{number}/statement");
            let result = async {
                let caller = state.authenticate(auth.as_deref()).await?;
                held_account(&state, &caller, &number).await?;
                let limit = query.limit.unwrap_or(50);
                if !(1..=STATEMENT_PAGE_MAX).contains(&limit) {
                    return Err(ApiError::InvalidField(format!("limit must be between 1 and {STATEMENT_PAGE_MAX}")));
                }
                let page = state.ledger.statement(&number, query.before, limit).await?;
                Ok(json_response(StatusCode::OK, &page))
            };
            respond(&instance, result.await)
        })
        .boxed()
}

/// POST /api/v1/{deposits|withdrawals|transfers|payments}, with an optional Idempotency-Key.
fn money_post(state: Arc<AppState>, collection: &'static str) -> BoxedFilter<(Response,)> {
    warp::path("api")
        .and(warp::path("v1"))
        .and(warp::path(collection))
        .and(warp::path::end())
        .and(warp::post())
        .and(authorization())
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(body())
        .and(with_state(state))
        .then(move |auth: Option<String>, key: Option<String>, body: Bytes, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/{collection}");
            respond(&instance, money_post_handler(&state, collection, auth.as_deref(), key, &body).await)
        })
        .boxed()
}

async fn money_post_handler(
    state: &Arc<AppState>,
    collection: &str,
    auth: Option<&str>,
    key: Option<String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let caller = state.authenticate(auth).await?;
    let (job, canonical) = match collection {
        "deposits" | "withdrawals" => cash_job(state, &caller, collection, body)?,
        "transfers" => transfer_job(state, &caller, body)?,
        "payments" => payment_job(state, &caller, body)?,
        other => return Err(ApiError::RouteNotFound(other.to_string())),
    };
    let idempotency = key
        .map(|key| {
            validate_idempotency_key(&key)?;
            let request_hash = hex::encode(Sha256::digest(format!("{collection}\n{canonical}").as_bytes()));
            Ok::<_, ApiError>(IdempotencyRecord { document: caller.document.clone(), key, request_hash })
        })
        .transpose()?;
    let _guard = match &idempotency {
        Some(record) => Some(state.enter_in_flight(&record.document, &record.key)?),
        None => None,
    };
    match state.ledger.submit(job, idempotency).await? {
        Outcome::Posted { status_code, body } => {
            let status = StatusCode::from_u16(status_code).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(raw_json_response(status, body))
        }
        other => Err(ApiError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

fn validate_idempotency_key(key: &str) -> Result<(), ApiError> {
    let ok = !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadIdempotencyKey("Idempotency-Key must be 1 to 255 visible ASCII characters".into()))
    }
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct CashRequest {
    account: String,
    amount_cents: i64,
}

/// The job for a deposit or withdrawal, and the canonical form of the request (for hashing).
fn cash_job(state: &AppState, caller: &Caller, collection: &str, body: &[u8]) -> Result<(Job, String), ApiError> {
    let request: CashRequest = parse_json(body)?;
    check_amount(state, "amount_cents", request.amount_cents)?;
    let account = account_field("account", &request.account)?;
    let canonical = serde_json::to_string(&request).unwrap_or_default();
    let (caller, amount_cents) = (caller.document.clone(), request.amount_cents);
    let job = if collection == "deposits" {
        Job::Deposit { id: new_id("dp"), caller, account, amount_cents }
    } else {
        Job::Withdraw { id: new_id("wd"), caller, account, amount_cents }
    };
    Ok((job, canonical))
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct TransferRequest {
    debits: Vec<Leg>,
    credits: Vec<Leg>,
    #[serde(default)]
    description: String,
}

fn transfer_job(state: &AppState, caller: &Caller, body: &[u8]) -> Result<(Job, String), ApiError> {
    let request: TransferRequest = parse_json(body)?;
    let description = clean_text("description", &request.description, 0, DESCRIPTION_MAX_CHARS)?;
    let (debits, credits) = validate_legs(state, &request.debits, &request.credits)?;
    let canonical = serde_json::to_string(&request).unwrap_or_default();
    let transfer = LocalTransfer {
        id: new_id("tr"),
        kind: TransferKind::Transfer,
        initiated_by: caller.document.clone(),
        description,
        debits,
        credits,
    };
    Ok((Job::Transfer(transfer), canonical))
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct PaymentTarget {
    bank: String,
    account: String,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct PaymentRequest {
    from_account: String,
    to: PaymentTarget,
    amount_cents: i64,
    reference: String,
}

fn payment_job(state: &AppState, caller: &Caller, body: &[u8]) -> Result<(Job, String), ApiError> {
    let request: PaymentRequest = parse_json(body)?;
    let reference = clean_text("reference", &request.reference, 1, DESCRIPTION_MAX_CHARS)?;
    let debit = Leg { bank: state.bank().to_string(), account: request.from_account.clone(), amount_cents: request.amount_cents };
    let credit = Leg { bank: request.to.bank.clone(), account: request.to.account.clone(), amount_cents: request.amount_cents };
    let (debits, credits) = validate_legs(state, &[debit], &[credit])?;
    let canonical = serde_json::to_string(&request).unwrap_or_default();
    let transfer = LocalTransfer {
        id: new_id("pm"),
        kind: TransferKind::Payment,
        initiated_by: caller.document.clone(),
        description: reference,
        debits,
        credits,
    };
    Ok((Job::Transfer(transfer), canonical))
}

/// Checks the shape of a transfer's legs: counts, amounts, sums, banks, repeated accounts.
fn validate_legs(state: &AppState, debits: &[Leg], credits: &[Leg]) -> Result<(Vec<Leg>, Vec<Leg>), ApiError> {
    if debits.is_empty() || credits.is_empty() {
        return Err(ApiError::InvalidField("a transfer needs at least one debit and one credit".into()));
    }
    let max_legs = state.config.max_legs;
    if debits.len() + credits.len() > max_legs {
        return Err(ApiError::LimitExceeded(format!("a transfer has at most {max_legs} legs (debits plus credits)")));
    }
    let mut seen: Vec<(&str, &str)> = Vec::new();
    let clean = |side: &str, legs: &[Leg]| -> Result<Vec<Leg>, ApiError> {
        let mut out = Vec::with_capacity(legs.len());
        for (index, leg) in legs.iter().enumerate() {
            check_amount(state, &format!("{side}[{index}].amount_cents"), leg.amount_cents)?;
            let account = account_field(&format!("{side}[{index}].account"), &leg.account)?;
            if leg.bank != state.bank() {
                crate::config::validate_bank_id(&leg.bank)
                    .map_err(|_| ApiError::InvalidField(format!("{side}[{index}].bank is not a valid bank id")))?;
                return Err(ApiError::CrossBankUnavailable(leg.bank.clone()));
            }
            out.push(Leg { bank: leg.bank.clone(), account, amount_cents: leg.amount_cents });
        }
        Ok(out)
    };
    let debits = clean("debits", debits)?;
    let credits = clean("credits", credits)?;
    for leg in debits.iter().chain(credits.iter()) {
        if seen.contains(&(leg.bank.as_str(), leg.account.as_str())) {
            return Err(ApiError::InvalidField(format!(
                "account {} at bank {} appears in more than one leg",
                leg.account, leg.bank
            )));
        }
        seen.push((leg.bank.as_str(), leg.account.as_str()));
    }
    let total_debits = crate::money::checked_sum(debits.iter().map(|l| l.amount_cents));
    let total_credits = crate::money::checked_sum(credits.iter().map(|l| l.amount_cents));
    match (total_debits, total_credits) {
        (Some(d), Some(c)) if d == c => {
            check_amount(state, "the transfer's total", d)?;
            Ok((debits, credits))
        }
        (Some(d), Some(c)) => Err(ApiError::Unbalanced(format!("debits sum to {d} centavos but credits to {c}"))),
        _ => Err(ApiError::InvalidAmount("the amounts overflow".into())),
    }
}

/// GET /api/v1/transfers/{id} -> {id, status, reason, debits, credits, ...}
fn get_transfer(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "transfers" / String)
        .and(warp::get())
        .and(authorization())
        .and(with_state(state))
        .then(|id: String, auth: Option<String>, state: Arc<AppState>| async move {
            let instance = format!("/api/v1/transfers/{id}");
            let result = async {
                let caller = state.authenticate(auth.as_deref()).await?;
                let view = if id.len() <= 64 { state.ledger.transfer_for(&id, &caller.document).await? } else { None };
                let view = view.ok_or_else(|| ApiError::Ledger(LedgerError::TransferNotFound(id.clone())))?;
                Ok(json_response(StatusCode::OK, &view))
            };
            respond(&instance, result.await)
        })
        .boxed()
}

/// GET /api/v1/openapi.json -> the OpenAPI 3.1 document
fn openapi() -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "openapi.json")
        .and(warp::get())
        .map(|| json_response(StatusCode::OK, &super::openapi::document()))
        .boxed()
}

fn parse_document(input: &str) -> Result<Document, ApiError> {
    Document::parse(input).map_err(|e| ApiError::InvalidDocument(format!("{input:?}: {e}")))
}

fn check_amount(state: &AppState, field: &str, amount: i64) -> Result<(), ApiError> {
    if amount <= 0 {
        return Err(ApiError::InvalidAmount(format!("{field} must be a positive number of centavos (got {amount})")));
    }
    let max = state.config.max_amount_cents;
    if amount > max {
        return Err(ApiError::LimitExceeded(format!("{field} is {amount} centavos; one operation moves at most {max}")));
    }
    Ok(())
}

fn is_account_number(text: &str) -> bool {
    (1..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

fn account_field(field: &str, text: &str) -> Result<String, ApiError> {
    let trimmed = text.trim();
    if is_account_number(trimmed) {
        Ok(trimmed.to_string())
    } else {
        Err(ApiError::InvalidField(format!("{field} must be an account number (1 to 20 digits)")))
    }
}

/// Trims a free-text field and checks its length and that it has no control characters.
fn clean_text(field: &str, text: &str, min_chars: usize, max_chars: usize) -> Result<String, ApiError> {
    let trimmed = text.trim();
    let chars = trimmed.chars().count();
    if chars < min_chars || chars > max_chars {
        return Err(ApiError::InvalidField(format!("{field} must have {min_chars} to {max_chars} characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::InvalidField(format!("{field} must not contain control characters")));
    }
    Ok(trimmed.to_string())
}
