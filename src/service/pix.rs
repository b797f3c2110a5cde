//! Pix by BR Code ("Pix copia e cola"), the customer's side: a static code for one of their
//! accounts (key, optional amount and description, the holder's name, the bank's city) with its
//! QR as SVG; a company account's dynamic charges (a URL in the code, the charge's status at
//! that URL); and paying a pasted code: parse (CRC checked: a changed code is refused), resolve
//! where it pays, review, then an ordinary transfer (local, or cross-bank under the token).
//!
//! Where a key leads is decided in ONE place, `resolve_key`: the consortium's key directory
//! (this bank's replica of it, see `service::keys`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use ringbank_domain::brcode::{self, BrCode, BrCodeError, Initiation, Target};
use ringbank_domain::document::format_document;
use ringbank_domain::{AccountKind, RawLeg};

use super::operations::{self, held_account, TransferRequest, DESCRIPTION_MAX_CHARS};
use super::{Caller, ServiceError, Services};
use crate::clock::wall_clock_ms;
use crate::ledger::pix::{payment_description, ChargeRecord};
use crate::ledger::{AccountView, Job, LedgerError, Posted};

/// Longest validity of a charge: 30 days.
pub const CHARGE_VALID_FOR_SECONDS_MAX: i64 = 30 * 24 * 3600;
/// Charges listed per account on its page.
pub const CHARGES_LISTED: i64 = 20;
/// Where a charge is read, after the bank's address (the code's URL carries no scheme).
pub const CHARGE_PATH: &str = "/pix/v1/charges/";

/// Why a Pix operation was refused (besides the ordinary ones of a transfer).
#[derive(Debug, thiserror::Error)]
pub enum PixError {
    #[error("not a valid Pix code: {0}")]
    BrCode(#[from] BrCodeError),
    #[error("Pix key {0:?} is not registered in the consortium's key directory")]
    KeyNotFound(String),
    #[error("account {0} has no Pix key: register one first (POST /api/v1/keys)")]
    NoKey(String),
    #[error("charge {0} not found")]
    ChargeNotFound(String),
    #[error("charge {0} has expired")]
    ChargeExpired(String),
    #[error("charge {0} was already paid")]
    ChargePaid(String),
    #[error("{0}")]
    ChargeMismatch(String),
    #[error("the charge's address {0:?} is not a bank of this consortium")]
    NotAMember(String),
}

/// Where a key or a charge leads: what the payer is shown before paying.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTarget {
    pub bank: String,
    pub account: String,
    /// individual, joint or company.
    pub account_kind: String,
    pub holder_name: String,
    /// A CPF shows only its middle digits (***.444.777-**); a CNPJ shows whole.
    pub masked_document: String,
}

/// Resolves a Pix key to the account it names, from this bank's replica of the consortium's
/// key directory (`service::keys`, ordered by the ring): the one place a key is looked up for
/// BR Codes, in the pages and the API. A key nobody registered leads nowhere.
pub async fn resolve_key(state: &Services, key: &str) -> Result<Option<KeyTarget>, ServiceError> {
    let Ok(key) = ringbank_domain::PixKey::parse_any(key.trim()) else { return Ok(None) };
    Ok(state.pix_keys.resolve(&key).map(|found| KeyTarget {
        bank: found.bank,
        account: found.account,
        account_kind: found.account_kind,
        holder_name: found.name,
        masked_document: found.masked_document,
    }))
}

/// The keys registered in the directory for `account` at this bank.
pub async fn keys_of(state: &Services, account: &AccountView) -> Result<Vec<String>, ServiceError> {
    Ok(state.pix_keys.keys_of_account(&account.number))
}

/// ***.444.777-** for a CPF (as Pix shows a person), the whole CNPJ for a company.
pub fn mask_document(bare: &str) -> String {
    let formatted = format_document(bare);
    if bare.len() != 11 {
        return formatted;
    }
    formatted.chars().enumerate().map(|(i, c)| if i < 3 || i >= formatted.len() - 2 { '*' } else { c }).collect()
}

/// A code issued here: the payload ("copia e cola"), its QR as SVG, and the code's fields.
#[derive(Clone, Debug, Serialize)]
pub struct Issued {
    pub payload: String,
    pub svg: String,
    pub brcode: BrCode,
}

/// The QR of a payload as an SVG document (error correction M, 4-module quiet zone).
pub fn qr_svg(payload: &str) -> Result<String, ServiceError> {
    let code = qrcode::QrCode::with_error_correction_level(payload.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ServiceError::Internal(format!("QR code: {e}")))?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(240, 240).quiet_zone(true).build();
    // The XML declaration is not wanted inline in HTML.
    Ok(svg.split_once("?>").map(|(_, rest)| rest.to_string()).unwrap_or(svg))
}

fn issue(code: BrCode) -> Result<Issued, ServiceError> {
    let payload = code.encode().map_err(|e| ServiceError::InvalidField(e.to_string()))?;
    let svg = qr_svg(&payload)?;
    Ok(Issued { payload, svg, brcode: code })
}

/// The merchant name of a holder (accents removed, 25 characters).
fn merchant_name(name: &str) -> String {
    match brcode::fit_text(name, brcode::MERCHANT_NAME_MAX_CHARS) {
        fitted if fitted.trim().is_empty() => "RINGBANK".to_string(),
        fitted => fitted,
    }
}

/// The bank's city as a code carries it.
fn merchant_city(state: &Services) -> String {
    match brcode::fit_text(&state.config.pix_city, brcode::MERCHANT_CITY_MAX_CHARS) {
        fitted if fitted.trim().is_empty() => "BRASIL".to_string(),
        fitted => fitted,
    }
}

/// POST /api/v1/pix/brcodes: a static code for one of the caller's accounts.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRequest {
    pub account: String,
    /// One of the account's keys; the first one when absent.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub amount_cents: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
    /// 1 to 25 letters and digits, to tell payments apart; none ("***") when absent.
    #[serde(default)]
    pub txid: Option<String>,
}

/// A static code for the caller's account: one of its keys, the holder's name, the bank's city.
pub async fn static_code(state: &Services, caller: &Caller, request: &StaticRequest) -> Result<Issued, ServiceError> {
    let account = held_account(state, caller, request.account.trim()).await?;
    let keys = keys_of(state, &account).await?;
    let key = match request.key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        Some(key) if keys.iter().any(|k| k == key) => key.to_string(),
        Some(key) => return Err(ServiceError::InvalidField(format!("key {key:?} does not lead to account {}", account.number))),
        None => keys.first().cloned().ok_or_else(|| PixError::NoKey(account.number.clone()))?,
    };
    if let Some(cents) = request.amount_cents {
        operations::check_amount(state, "amount_cents", cents)?;
    }
    let holder = state.ledger.customer(&key).await?.ok_or_else(|| LedgerError::UnknownCustomer(key.clone()))?;
    // Field 26 holds at most 99 characters: GUI (18) and key (4 + its length) leave the rest.
    let room = 99usize.saturating_sub(18 + 4 + key.len() + 4);
    let description = match request.description.as_deref() {
        Some(text) => {
            let cleaned = operations::clean_text("description", text, 0, DESCRIPTION_MAX_CHARS)?;
            Some(brcode::fit_text(&cleaned, room)).filter(|d| !d.is_empty())
        }
        None => None,
    };
    let txid = match request.txid.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(txid) if txid.len() <= brcode::TXID_MAX_CHARS && txid.bytes().all(|b| b.is_ascii_alphanumeric()) => txid.to_string(),
        Some(_) => return Err(ServiceError::InvalidField("txid must be 1 to 25 letters and digits".into())),
        None => brcode::NO_TXID.to_string(),
    };
    issue(BrCode {
        initiation: None,
        target: Target::Key { key, description },
        merchant_category_code: "0000".to_string(),
        amount_cents: request.amount_cents,
        merchant_name: merchant_name(&holder.name),
        merchant_city: merchant_city(state),
        postal_code: None,
        txid,
    })
}

/// POST /api/v1/pix/charges: a company account's charge.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewCharge {
    pub account: String,
    pub amount_cents: i64,
    #[serde(default)]
    pub description: String,
    pub expires_in_seconds: i64,
}

/// A charge as its URL answers it (public: whoever holds the code may read it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeView {
    pub id: String,
    pub bank: String,
    pub account: String,
    pub amount_cents: i64,
    pub description: String,
    pub merchant_name: String,
    pub masked_document: String,
    /// active, paid or expired (on the charge's bank's clock).
    pub status: String,
    pub expires_at: String,
}

/// This bank's address as a code's URL carries it (no scheme, no trailing slash).
fn own_host(state: &Services) -> String {
    let members = state.cross.ring.members();
    strip_scheme(members.my_url()).to_string()
}

fn strip_scheme(url: &str) -> &str {
    let without = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    without.trim_end_matches('/')
}

fn new_charge_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..brcode::TXID_MAX_CHARS).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// Creates a charge on the caller's company account and its dynamic code.
pub async fn create_charge(state: &Services, caller: &Caller, request: &NewCharge) -> Result<(ChargeView, Issued), ServiceError> {
    let account = held_account(state, caller, request.account.trim()).await?;
    operations::check_amount(state, "amount_cents", request.amount_cents)?;
    let description = operations::clean_text("description", &request.description, 0, DESCRIPTION_MAX_CHARS)?;
    if !(60..=CHARGE_VALID_FOR_SECONDS_MAX).contains(&request.expires_in_seconds) {
        return Err(ServiceError::InvalidField(format!("expires_in_seconds must be between 60 and {CHARGE_VALID_FOR_SECONDS_MAX}")));
    }
    let now = wall_clock_ms();
    let charge = ChargeRecord {
        id: new_charge_id(),
        account: account.number.clone(),
        created_by: caller.document.clone(),
        amount_cents: request.amount_cents,
        description,
        expires_at_ms: now.saturating_add(request.expires_in_seconds.saturating_mul(1000)),
        created_at_ms: now,
    };
    state.ledger.submit(Job::PixCharge(charge.clone()), None).await?;
    let view = charge_view(state, &charge).await?;
    let issued = charge_code(state, &view)?;
    Ok((view, issued))
}

/// The dynamic code of a charge: its URL and amount, single use.
pub fn charge_code(state: &Services, charge: &ChargeView) -> Result<Issued, ServiceError> {
    issue(BrCode {
        initiation: Some(Initiation::SingleUse),
        target: Target::Url { url: format!("{}{CHARGE_PATH}{}", own_host(state), charge.id) },
        merchant_category_code: "0000".to_string(),
        amount_cents: Some(charge.amount_cents),
        merchant_name: merchant_name(&charge.merchant_name),
        merchant_city: merchant_city(state),
        postal_code: None,
        txid: brcode::NO_TXID.to_string(),
    })
}

async fn charge_view(state: &Services, charge: &ChargeRecord) -> Result<ChargeView, ServiceError> {
    let holder = state.ledger.customer(&charge.created_by).await?;
    let status = if state.ledger.charge_paid(charge).await? {
        "paid"
    } else if charge.expires_at_ms <= wall_clock_ms() {
        "expired"
    } else {
        "active"
    };
    Ok(ChargeView {
        id: charge.id.clone(),
        bank: state.bank().to_string(),
        account: charge.account.clone(),
        amount_cents: charge.amount_cents,
        description: charge.description.clone(),
        merchant_name: holder.as_ref().map(|h| h.name.clone()).unwrap_or_default(),
        masked_document: mask_document(&charge.created_by),
        status: status.to_string(),
        expires_at: rfc3339(charge.expires_at_ms),
    })
}

fn rfc3339(ms: i64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))).to_string()
}

/// GET /pix/v1/charges/{id}: a charge of this bank.
pub async fn charge(state: &Services, id: &str) -> Result<ChargeView, ServiceError> {
    let well_formed = (1..=brcode::TXID_MAX_CHARS).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    let record = if well_formed { state.ledger.charge(id).await? } else { None };
    let record = record.ok_or_else(|| PixError::ChargeNotFound(id.to_string()))?;
    charge_view(state, &record).await
}

/// The caller's charges on one of their accounts, newest first.
pub async fn charges_of(state: &Services, caller: &Caller, account: &str) -> Result<Vec<ChargeView>, ServiceError> {
    let account = held_account(state, caller, account).await?;
    let mut views = Vec::new();
    for record in state.ledger.charges_of(&account.number, CHARGES_LISTED).await? {
        views.push(charge_view(state, &record).await?);
    }
    Ok(views)
}

/// Reads the charge a dynamic code's URL names: here, or at the member bank whose address the
/// URL starts with (a plain GET of that member's charge URL). A URL anywhere else is refused:
/// the bank never fetches an address a pasted code chooses.
async fn charge_at(state: &Services, url: &str) -> Result<ChargeView, ServiceError> {
    let members = state.cross.ring.members();
    let found = members.list.iter().find_map(|member| {
        let prefix = format!("{}{CHARGE_PATH}", strip_scheme(&member.url));
        url.strip_prefix(&prefix).map(|id| (member, id.to_string()))
    });
    let (member, id) = found.ok_or_else(|| PixError::NotAMember(url.to_string()))?;
    if member.id == state.bank() {
        return charge(state, &id).await;
    }
    if id.is_empty() || id.len() > brcode::TXID_MAX_CHARS || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(PixError::ChargeNotFound(id).into());
    }
    let address = format!("{}{CHARGE_PATH}{id}", member.url.trim_end_matches('/'));
    let view: ChargeView = state.cross.peers.get_public(&address).await.map_err(|error| match error {
        crate::peer::PeerError::Refused { status: 404, .. } => ServiceError::from(PixError::ChargeNotFound(id.clone())),
        other => ServiceError::Unavailable(format!("bank {} did not answer for charge {id}: {other}", member.id)),
    })?;
    if view.bank != member.id || view.id != id {
        return Err(ServiceError::Unavailable(format!("bank {} answered for another charge", member.id)));
    }
    Ok(view)
}

/// What paying a code would do, for the review step.
#[derive(Clone, Debug, Serialize)]
pub struct Review {
    pub brcode: BrCode,
    pub payee: KeyTarget,
    /// The amount the code fixes (None: the payer types it).
    pub amount_cents: Option<i64>,
    /// The charge a dynamic code names.
    pub charge: Option<ChargeView>,
    /// The description the transfer will carry.
    pub description: String,
}

/// Parses a pasted code (a changed code is refused by its CRC) and finds where it pays.
pub async fn review(state: &Services, payload: &str) -> Result<Review, ServiceError> {
    let code = BrCode::parse(payload).map_err(PixError::from)?;
    match &code.target {
        Target::Key { key, description } => {
            let payee = resolve_key(state, key).await?.ok_or_else(|| PixError::KeyNotFound(key.clone()))?;
            let mut text = match code.txid() {
                Some(txid) => format!("Pix {txid}"),
                None => "Pix".to_string(),
            };
            if let Some(description) = description {
                text = format!("{text}: {description}");
            }
            let description = text.chars().take(DESCRIPTION_MAX_CHARS).collect();
            Ok(Review { amount_cents: code.amount_cents, brcode: code.clone(), payee, charge: None, description })
        }
        Target::Url { url } => {
            let charge = charge_at(state, url).await?;
            match charge.status.as_str() {
                "paid" => return Err(PixError::ChargePaid(charge.id).into()),
                "expired" => return Err(PixError::ChargeExpired(charge.id).into()),
                _ => {}
            }
            if code.amount_cents.is_some_and(|cents| cents != charge.amount_cents) {
                return Err(PixError::ChargeMismatch(format!(
                    "the code says {} centavos but charge {} is for {}",
                    code.amount_cents.unwrap_or(0),
                    charge.id,
                    charge.amount_cents
                ))
                .into());
            }
            let payee = KeyTarget {
                bank: charge.bank.clone(),
                account: charge.account.clone(),
                account_kind: AccountKind::Company.as_str().to_string(),
                holder_name: charge.merchant_name.clone(),
                masked_document: charge.masked_document.clone(),
            };
            Ok(Review {
                amount_cents: Some(charge.amount_cents),
                description: payment_description(&charge.id),
                brcode: code.clone(),
                payee,
                charge: Some(charge),
            })
        }
    }
}

/// POST /api/v1/pix/payments
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    pub from_account: String,
    pub payload: String,
    /// Only for a code without an amount; a code with one pays exactly that.
    #[serde(default)]
    pub amount_cents: Option<i64>,
}

/// Pays a code from one of the caller's accounts here: reviewed again (never trusting an
/// earlier review), then posted as an ordinary transfer with the Idempotency-Key.
pub async fn pay(
    state: &Arc<Services>,
    caller: &Caller,
    request: &PayRequest,
    key: Option<String>,
) -> Result<(Review, Posted), ServiceError> {
    let review = review(state, &request.payload).await?;
    let amount_cents = match (review.amount_cents, request.amount_cents) {
        (Some(fixed), Some(asked)) if fixed != asked => {
            return Err(ServiceError::InvalidAmount(format!("the code fixes the amount at {fixed} centavos; {asked} was given")))
        }
        (Some(fixed), _) => fixed,
        (None, Some(asked)) => asked,
        (None, None) => return Err(ServiceError::InvalidAmount("the code has no amount: give amount_cents".into())),
    };
    let debit = RawLeg { bank: state.bank().to_string(), account: request.from_account.trim().to_string(), amount_cents, consent: None };
    let credit = RawLeg { bank: review.payee.bank.clone(), account: review.payee.account.clone(), amount_cents, consent: None };
    let transfer = TransferRequest { debits: vec![debit], credits: vec![credit], description: review.description.clone() };
    let job = operations::transfer_job(state, caller, &transfer)?;
    let canonical = serde_json::to_string(&(request, amount_cents)).unwrap_or_default();
    let posted = operations::post_money(state, caller, "pix-payments", job, &canonical, key).await?;
    Ok((review, posted))
}
