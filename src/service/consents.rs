//! Consents, the customer's side: at the account's bank, a signed-in customer grants another
//! member bank a consent on one of their accounts (with limits and an expiry), lists and revokes
//! them; at the bank the customer uses, the consents they brought are attached to their debits
//! at other banks. The bank-to-bank side (redeeming a one-time code, listing consented accounts)
//! is here too, for the transport to call once it authenticated the asking bank.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Caller, ServiceError, Services};
use crate::clock::wall_clock_ms;
use crate::ledger::consent::{ConsentJob, ConsentRecord, LinkedConsent};
use crate::ledger::{Job, LedgerError, Outcome};

/// Longest validity of a consent: one year.
pub const VALID_FOR_SECONDS_MAX: i64 = 366 * 24 * 3600;
/// How long a one-time code of the web round trip may be redeemed.
pub const CODE_VALID_FOR_MS: i64 = 5 * 60 * 1000;

/// POST /api/v1/consents
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    /// The member bank allowed to debit the account.
    pub grantee: String,
    pub account: String,
    pub max_per_transfer_cents: i64,
    pub max_total_cents: i64,
    pub valid_for_seconds: i64,
}

/// A consent as the API shows it to the customer who granted it.
#[derive(Clone, Debug, Serialize)]
pub struct ConsentBody {
    pub id: String,
    /// The bank where the account is (this bank).
    pub bank: String,
    pub grantee: String,
    pub account: String,
    pub max_per_transfer_cents: i64,
    pub max_total_cents: i64,
    pub used_cents: i64,
    /// "active", "revoked" or "expired".
    pub status: &'static str,
    pub expires_at: String,
    pub created_at: String,
}

fn rfc3339(ms: i64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))).to_string()
}

impl ConsentBody {
    pub fn new(bank: &str, consent: &ConsentRecord) -> ConsentBody {
        ConsentBody {
            id: consent.id.clone(),
            bank: bank.to_string(),
            grantee: consent.grantee.clone(),
            account: consent.account.clone(),
            max_per_transfer_cents: consent.max_per_transfer_cents,
            max_total_cents: consent.max_total_cents,
            used_cents: consent.used_cents,
            status: consent.status(wall_clock_ms()),
            expires_at: rfc3339(consent.expires_at_ms),
            created_at: rfc3339(consent.created_at_ms),
        }
    }
}

/// Checks a consent request; returns the job (without a code).
fn grant_job(state: &Services, caller: &Caller, request: &NewConsent) -> Result<ConsentJob, ServiceError> {
    let grantee = request.grantee.trim();
    if grantee == state.bank() {
        return Err(ServiceError::InvalidField(
            "grantee must be another bank: this bank needs no consent to debit its own customers".into(),
        ));
    }
    if state.cross.ring.members().node_of(grantee).is_none() {
        return Err(ServiceError::UnknownBank(grantee.to_string()));
    }
    let account = ringbank_domain::AccountNumber::parse(request.account.trim())
        .map(ringbank_domain::AccountNumber::into_string)
        .map_err(|_| ServiceError::InvalidField("account must be an account number (1 to 20 digits)".into()))?;
    ringbank_domain::transfer::check_amount("max_per_transfer_cents", request.max_per_transfer_cents, state.transfer_limits())?;
    if request.max_total_cents < request.max_per_transfer_cents {
        return Err(ServiceError::InvalidField("max_total_cents must be at least max_per_transfer_cents".into()));
    }
    if !(1..=VALID_FOR_SECONDS_MAX).contains(&request.valid_for_seconds) {
        return Err(ServiceError::InvalidField(format!("valid_for_seconds must be between 1 and {VALID_FOR_SECONDS_MAX}")));
    }
    Ok(ConsentJob::Grant {
        grantor: caller.document.clone(),
        grantee: grantee.to_string(),
        account,
        max_per_transfer_cents: request.max_per_transfer_cents,
        max_total_cents: request.max_total_cents,
        expires_at_ms: wall_clock_ms().saturating_add(request.valid_for_seconds.saturating_mul(1000)),
        code: None,
    })
}

async fn submit(state: &Services, job: ConsentJob) -> Result<ConsentRecord, ServiceError> {
    match state.ledger.submit(Job::Consent(job), None).await? {
        Outcome::Consent(consent) => Ok(consent),
        other => Err(ServiceError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

/// The caller grants `request.grantee` a consent on one of their accounts here.
pub async fn grant(state: &Services, caller: &Caller, request: &NewConsent) -> Result<ConsentRecord, ServiceError> {
    submit(state, grant_job(state, caller, request)?).await
}

/// The same, for the web round trip: also returns a one-time code for the grantee to redeem.
pub async fn grant_with_code(state: &Services, caller: &Caller, request: &NewConsent) -> Result<(ConsentRecord, String), ServiceError> {
    let mut job = grant_job(state, caller, request)?;
    let code = hex::encode(rand::random::<[u8; 24]>());
    if let ConsentJob::Grant { code: slot, .. } = &mut job {
        *slot = Some((code_hash(&code), wall_clock_ms().saturating_add(CODE_VALID_FOR_MS)));
    }
    Ok((submit(state, job).await?, code))
}

/// The caller revokes one of their consents (revoking twice is the same as once).
pub async fn revoke(state: &Services, caller: &Caller, id: &str) -> Result<ConsentRecord, ServiceError> {
    if id.len() > ringbank_domain::transfer::CONSENT_ID_MAX_CHARS {
        return Err(LedgerError::ConsentNotFound(id.to_string()).into());
    }
    submit(state, ConsentJob::Revoke { grantor: caller.document.clone(), id: id.to_string() }).await
}

/// One consent of the caller's (404 for anyone else's, indistinguishable from none).
pub async fn get(state: &Services, caller: &Caller, id: &str) -> Result<ConsentRecord, ServiceError> {
    let not_found = || ServiceError::Ledger(LedgerError::ConsentNotFound(id.to_string()));
    if id.len() > ringbank_domain::transfer::CONSENT_ID_MAX_CHARS {
        return Err(not_found());
    }
    state.ledger.consent_of(&caller.document, id).await?.ok_or_else(not_found)
}

fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

/// Bank-to-bank: `grantee` (authenticated) redeems a one-time code for its consent.
pub async fn redeem(state: &Services, grantee: &str, code: &str) -> Result<ConsentRecord, ServiceError> {
    if code.is_empty() || code.len() > 128 {
        return Err(LedgerError::ConsentCodeInvalid.into());
    }
    submit(state, ConsentJob::Redeem { code_hash: code_hash(code), grantee: grantee.to_string() }).await
}

/// At the bank the customer uses: keeps a consent they brought from `consent.bank`.
pub async fn link(state: &Services, caller: &Caller, consent: LinkedConsent) -> Result<(), ServiceError> {
    state.ledger.submit(Job::Consent(ConsentJob::Link { document: caller.document.clone(), consent }), None).await?;
    Ok(())
}

/// Debits at other banks that name no consent get the newest one the caller brought for that
/// account (the web pages name none; an API client may name its own).
pub async fn attach_linked(state: &Services, caller: &Caller, debits: &mut [crate::ledger::Leg]) -> Result<(), ServiceError> {
    if debits.iter().all(|leg| leg.bank == state.bank() || leg.consent.is_some()) {
        return Ok(());
    }
    let linked = state.ledger.linked_consents(&caller.document).await?;
    for leg in debits.iter_mut().filter(|leg| leg.bank != state.bank() && leg.consent.is_none()) {
        leg.consent = linked.iter().find(|l| l.bank == leg.bank && l.account == leg.account).map(|l| l.consent_id.clone());
    }
    Ok(())
}

/// The body of POST /bank/v1/accounts-of.
#[derive(Serialize)]
struct AccountsOf<'a> {
    consents: [&'a str; 1],
}

/// At the bank the customer uses: the customer brings the id of a consent they granted this
/// bank at `bank`; `bank` confirms it (signed accounts-of) and names the account it covers.
pub async fn link_by_id(state: &Services, caller: &Caller, bank: &str, consent_id: &str) -> Result<LinkedConsent, ServiceError> {
    let members = state.cross.ring.members();
    let member = members.list.iter().find(|m| m.id == bank && bank != state.bank());
    let member = member.ok_or_else(|| ServiceError::UnknownBank(bank.to_string()))?;
    let not_found = || ServiceError::Ledger(LedgerError::ConsentNotFound(consent_id.to_string()));
    let well_formed = consent_id.len() <= ringbank_domain::transfer::CONSENT_ID_MAX_CHARS
        && !consent_id.is_empty()
        && consent_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !well_formed {
        return Err(not_found());
    }
    let body = AccountsOf { consents: [consent_id] };
    let accounts: Vec<crate::ledger::AccountView> = state
        .cross
        .peers
        .call(&member.url, "/bank/v1/accounts-of", &body)
        .await
        .map_err(|error| ServiceError::Unavailable(format!("bank {bank} did not confirm the consent: {error}")))?;
    let account = accounts.into_iter().next().ok_or_else(not_found)?;
    let consent = LinkedConsent { bank: bank.to_string(), consent_id: consent_id.to_string(), account: account.number };
    link(state, caller, consent.clone()).await?;
    Ok(consent)
}
