//! The customer operations shared by the JSON API and the web pages: input validation and the
//! ledger jobs built from it, so both front ends check exactly the same things and post
//! through exactly the same jobs.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use ringbank_domain::document::Document;
use ringbank_domain::{AccountNumber, IdempotencyKey, NewLeg, NewTransfer, RawLeg, TransferStatus};

use super::{hash_password, Caller, ServiceError, Services};
use crate::clock::new_id;
use crate::ledger::{AccountKind, AccountView, IdempotencyRecord, Job, LedgerError, Leg, LocalTransfer, Outcome, Posted, TransferKind};

/// Longest description or payment reference, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 140;
/// Most holders of one joint account.
pub const HOLDERS_MAX: usize = 8;
/// Longest customer name, in characters.
pub const NAME_MAX_CHARS: usize = 120;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub document: String,
    pub name: String,
    pub password: String,
}

/// Validates and registers a customer; returns its document and cleaned name.
pub async fn create_customer(state: &Services, request: &NewCustomer) -> Result<(Document, String), ServiceError> {
    let document = parse_document(&request.document)?;
    let name = clean_text("name", &request.name, 1, NAME_MAX_CHARS)?;
    check_password(&request.password, document.as_str(), &name)?;
    if state.ledger.customer(document.as_str()).await?.is_some() {
        return Err(LedgerError::CustomerExists.into());
    }
    let password = request.password.clone();
    let password_hash =
        tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|e| ServiceError::Internal(e.to_string()))??;
    let job = Job::CreateCustomer { document: document.as_str().to_string(), kind: document.kind(), name: name.clone(), password_hash };
    state.ledger.submit(job, None).await?;
    Ok((document, name))
}

/// The password policy (ringbank_domain::password): length, common and trivial passwords, and
/// the customer's own document or name.
pub fn check_password(password: &str, document: &str, name: &str) -> Result<(), ServiceError> {
    ringbank_domain::password::check_password(password, document, name).map_err(|error| ServiceError::InvalidField(error.to_string()))
}

/// Opens an account held by the caller and `other_holders` (documents as typed).
pub async fn open_account(
    state: &Services,
    caller: &Caller,
    kind: AccountKind,
    other_holders: &[String],
) -> Result<AccountView, ServiceError> {
    if other_holders.len() > HOLDERS_MAX {
        return Err(ServiceError::LimitExceeded(format!("an account has at most {HOLDERS_MAX} holders")));
    }
    let mut holders = vec![caller.document.clone()];
    for holder in other_holders {
        let document = parse_document(holder)?;
        if !holders.iter().any(|h| h == document.as_str()) {
            holders.push(document.as_str().to_string());
        }
    }
    let job = Job::OpenAccount { caller: caller.document.clone(), caller_is_person: caller.person, kind, holders };
    match state.ledger.submit(job, None).await? {
        Outcome::Account(view) => Ok(view),
        other => Err(ServiceError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

/// The caller, named as a co-holder of a joint account, accepts it.
pub async fn accept_account(state: &Services, caller: &Caller, number: &str) -> Result<AccountView, ServiceError> {
    let account = AccountNumber::parse(number.trim()).map_err(|_| LedgerError::AccountNotFound(number.to_string()))?;
    let job = Job::AcceptHolding { account: account.as_str().to_string(), document: caller.document.clone() };
    match state.ledger.submit(job, None).await? {
        Outcome::Account(view) => Ok(view),
        other => Err(ServiceError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

/// A deposit or withdrawal as requested.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CashRequest {
    pub account: String,
    pub amount_cents: i64,
}

/// Which way cash moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cash {
    Deposit,
    Withdrawal,
}

/// The job for a deposit or withdrawal.
pub fn cash_job(state: &Services, caller: &Caller, cash: Cash, request: &CashRequest) -> Result<Job, ServiceError> {
    check_amount(state, "amount_cents", request.amount_cents)?;
    let account = account_field("account", &request.account)?;
    let (caller, amount_cents) = (caller.document.clone(), request.amount_cents);
    Ok(match cash {
        Cash::Deposit => Job::Deposit { id: new_id("dp"), caller, account, amount_cents },
        Cash::Withdrawal => Job::Withdraw { id: new_id("wd"), caller, account, amount_cents },
    })
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub debits: Vec<RawLeg>,
    pub credits: Vec<RawLeg>,
    #[serde(default)]
    pub description: String,
}

pub fn transfer_job(state: &Services, caller: &Caller, request: &TransferRequest) -> Result<Job, ServiceError> {
    let description = clean_text("description", &request.description, 0, DESCRIPTION_MAX_CHARS)?;
    let (debits, credits) = validate_legs(state, &request.debits, &request.credits)?;
    let transfer = LocalTransfer {
        id: new_id("tr"),
        kind: TransferKind::Transfer,
        initiated_by: caller.document.clone(),
        description,
        debits,
        credits,
        limit_window: Some(state.limit_window(crate::clock::wall_clock_ms())),
    };
    Ok(transfer_or_cross(state, transfer))
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentTarget {
    pub bank: String,
    pub account: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub from_account: String,
    pub to: PaymentTarget,
    pub amount_cents: i64,
    pub reference: String,
}

pub fn payment_job(state: &Services, caller: &Caller, request: &PaymentRequest) -> Result<Job, ServiceError> {
    let reference = clean_text("reference", &request.reference, 1, DESCRIPTION_MAX_CHARS)?;
    let debit =
        RawLeg { bank: state.bank().to_string(), account: request.from_account.clone(), amount_cents: request.amount_cents, consent: None };
    let credit =
        RawLeg { bank: request.to.bank.clone(), account: request.to.account.clone(), amount_cents: request.amount_cents, consent: None };
    let (debits, credits) = validate_legs(state, &[debit], &[credit])?;
    let transfer = LocalTransfer {
        id: new_id("pm"),
        kind: TransferKind::Payment,
        initiated_by: caller.document.clone(),
        description: reference,
        debits,
        credits,
        limit_window: Some(state.limit_window(crate::clock::wall_clock_ms())),
    };
    Ok(transfer_or_cross(state, transfer))
}

/// A transfer with every leg here commits at once; one with a leg at another bank is stored
/// as pending and runs under the token (two-phase commit).
fn transfer_or_cross(state: &Services, transfer: LocalTransfer) -> Job {
    let bank = state.bank();
    if transfer.debits.iter().chain(&transfer.credits).all(|leg| leg.bank == bank) {
        Job::Transfer(transfer)
    } else {
        Job::SubmitCross(transfer)
    }
}

/// Posts a money movement, recording its outcome under the Idempotency-Key when one is given
/// (`canonical` is the request in canonical form; a key reused with another request fails).
/// A transfer with a leg at another bank comes back pending and wakes the coordinator.
pub async fn post_money(
    state: &Arc<Services>,
    caller: &Caller,
    collection: &str,
    job: Job,
    canonical: &str,
    key: Option<String>,
) -> Result<Posted, ServiceError> {
    let mut job = job;
    if let Job::SubmitCross(transfer) = &mut job {
        super::consents::attach_linked(state, caller, &mut transfer.debits).await?;
    }
    let idempotency = key
        .map(|key| {
            let key = validate_idempotency_key(&key)?;
            let request_hash = hex::encode(Sha256::digest(format!("{collection}\n{canonical}").as_bytes()));
            Ok::<_, ServiceError>(IdempotencyRecord { document: caller.document.clone(), key: key.into_string(), request_hash })
        })
        .transpose()?;
    let _guard = match &idempotency {
        Some(record) => Some(state.enter_in_flight(&record.document, &record.key)?),
        None => None,
    };
    let pending_expected = job.posts_pending();
    match state.ledger.submit(job, idempotency).await? {
        Outcome::Posted(posted) => {
            if let Some(pending_expected) = pending_expected {
                let pending = posted.status == TransferStatus::Pending;
                assert_eq!(pending, pending_expected, "posting {} came back {:?}", posted.id, posted.status);
            }
            if !posted.status.is_final() {
                state.cross.coordinator_work.notify_one();
            }
            Ok(posted)
        }
        other => Err(ServiceError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

pub fn validate_idempotency_key(key: &str) -> Result<IdempotencyKey, ServiceError> {
    IdempotencyKey::parse(key).map_err(|e| ServiceError::BadIdempotencyKey(e.to_string()))
}

/// Parses a transfer's legs once (domain rules: counts, amounts, sums, member banks, repeated
/// accounts) and turns them into ledger legs.
pub fn validate_legs(state: &Services, debits: &[RawLeg], credits: &[RawLeg]) -> Result<(Vec<Leg>, Vec<Leg>), ServiceError> {
    let members = state.cross.ring.members();
    let is_member = |bank: &str| bank == state.bank() || members.node_of(bank).is_some();
    let transfer = NewTransfer::parse(debits, credits, state.transfer_limits(), is_member)?;
    if let Some(index) = transfer.debits.iter().position(|leg| leg.consent.is_some() && leg.bank.as_str() == state.bank()) {
        return Err(ServiceError::InvalidField(format!(
            "debits[{index}].consent: a debit at this bank needs no consent (a consent is for a debit at another bank)"
        )));
    }
    let into_legs = |legs: Vec<NewLeg>| -> Vec<Leg> {
        legs.into_iter()
            .map(|l| Leg { bank: l.bank.into_string(), account: l.account.into_string(), amount_cents: l.amount_cents, consent: l.consent })
            .collect()
    };
    Ok((into_legs(transfer.debits), into_legs(transfer.credits)))
}

pub fn parse_document(input: &str) -> Result<Document, ServiceError> {
    Document::parse(input).map_err(|e| ServiceError::InvalidDocument(format!("{input:?}: {e}")))
}

pub fn check_amount(state: &Services, field: &str, amount: i64) -> Result<(), ServiceError> {
    ringbank_domain::transfer::check_amount(field, amount, state.transfer_limits())?;
    Ok(())
}

pub fn account_field(field: &str, text: &str) -> Result<String, ServiceError> {
    AccountNumber::parse(text.trim())
        .map(AccountNumber::into_string)
        .map_err(|_| ServiceError::InvalidField(format!("{field} must be an account number (1 to 20 digits)")))
}

/// Trims a free-text field and checks its length and that it has no control characters.
pub fn clean_text(field: &str, text: &str, min_chars: usize, max_chars: usize) -> Result<String, ServiceError> {
    Ok(ringbank_domain::transfer::clean_text(field, text, min_chars, max_chars)?)
}

/// The account if the caller holds it; 404 (account-not-found) otherwise, including for
/// numbers that are not account numbers at all.
pub async fn held_account(state: &Services, caller: &Caller, number: &str) -> Result<AccountView, ServiceError> {
    let not_found = || ServiceError::Ledger(LedgerError::AccountNotFound(number.to_string()));
    if AccountNumber::parse(number).is_err() {
        return Err(not_found());
    }
    state.ledger.account_for(number, &caller.document).await?.ok_or_else(not_found)
}
