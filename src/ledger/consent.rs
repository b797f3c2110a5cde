//! Consents (Open Finance Brasil's payment-initiation model), at both ends:
//!
//! - at the account's bank: a customer allows another member bank (the grantee) to debit one of
//!   their accounts here, within a limit per transfer and in total, until it expires or is
//!   revoked. The participant core checks the consent while it votes (`ConsentView`, read in the
//!   vote's transaction); a yes vote records its use, an abort gives it back. Listing accounts for
//!   another bank needs a consent too. One-time codes carry a consent back to the grantee in the
//!   web round trip.
//! - at the grantee: the consents its customers brought (`linked_consents`), and the consent each
//!   debit leg at another bank carries (`transfer_legs.consent`).

use std::collections::HashMap;

use ringbank_twopc::{BankId, ConsentView};
use sqlx::AnyConnection;

use super::ops::require_holder;
use super::queries::account_view;
use super::{AccountView, Ledger, LedgerError, Leg, Outcome};
use crate::clock::{new_id, wall_clock_ms};

/// A consent as its bank stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRecord {
    pub id: String,
    pub grantor: String,
    pub grantee: String,
    pub account: String,
    pub max_per_transfer_cents: i64,
    pub max_total_cents: i64,
    pub used_cents: i64,
    pub expires_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

impl ConsentRecord {
    /// "active", "revoked" or "expired", on this bank's wall clock at `now_ms`.
    pub fn status(&self, now_ms: i64) -> &'static str {
        if self.revoked_at_ms.is_some() {
            "revoked"
        } else if self.expires_at_ms <= now_ms {
            "expired"
        } else {
            "active"
        }
    }
}

/// A consent a customer of this bank brought from another bank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedConsent {
    pub bank: String,
    pub consent_id: String,
    pub account: String,
}

/// The writes of consents, each one job of the writer.
#[derive(Clone, Debug)]
pub enum ConsentJob {
    /// `grantor` allows `grantee` to debit `account`; with `code`, also a one-time code (its
    /// SHA-256, valid until the given time) for the web round trip.
    Grant {
        grantor: String,
        grantee: String,
        account: String,
        max_per_transfer_cents: i64,
        max_total_cents: i64,
        expires_at_ms: i64,
        code: Option<(String, i64)>,
    },
    Revoke {
        grantor: String,
        id: String,
    },
    /// The grantee redeems a one-time code (by its SHA-256) for its consent.
    Redeem {
        code_hash: String,
        grantee: String,
    },
    /// At the grantee: a customer of this bank brought a consent from `bank`.
    Link {
        document: String,
        consent: LinkedConsent,
    },
}

const CONSENT_COLUMNS: &str = "id, grantor, grantee, account, max_per_transfer_cents, max_total_cents, used_cents, \
                               expires_at_ms, revoked_at_ms, created_at_ms";
type ConsentRow = (String, String, String, String, i64, i64, i64, i64, Option<i64>, i64);

fn record((id, grantor, grantee, account, per, total, used, expires, revoked, created): ConsentRow) -> ConsentRecord {
    ConsentRecord {
        id,
        grantor,
        grantee,
        account,
        max_per_transfer_cents: per,
        max_total_cents: total,
        used_cents: used,
        expires_at_ms: expires,
        revoked_at_ms: revoked,
        created_at_ms: created,
    }
}

async fn load(connection: &mut AnyConnection, id: &str) -> Result<Option<ConsentRecord>, LedgerError> {
    let row: Option<ConsentRow> =
        sqlx::query_as(&format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE id = $1")).bind(id).fetch_optional(&mut *connection).await?;
    Ok(row.map(record))
}

pub(super) async fn apply(connection: &mut AnyConnection, job: &ConsentJob) -> Result<Outcome, LedgerError> {
    match job {
        ConsentJob::Grant { grantor, grantee, account, max_per_transfer_cents, max_total_cents, expires_at_ms, code } => {
            // Only a holder may grant, and a joint account only once every co-holder accepted it.
            require_holder(connection, account, grantor).await?;
            let id = new_id("cs");
            sqlx::query(
                "INSERT INTO consents (id, grantor, grantee, account, max_per_transfer_cents, max_total_cents, used_cents, \
                 expires_at_ms, revoked_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, NULL, $8)",
            )
            .bind(&id)
            .bind(grantor)
            .bind(grantee)
            .bind(account)
            .bind(max_per_transfer_cents)
            .bind(max_total_cents)
            .bind(expires_at_ms)
            .bind(wall_clock_ms())
            .execute(&mut *connection)
            .await?;
            if let Some((code_hash, code_expires_at_ms)) = code {
                sqlx::query("INSERT INTO consent_codes (code_hash, consent_id, expires_at_ms, redeemed) VALUES ($1, $2, $3, 0)")
                    .bind(code_hash)
                    .bind(&id)
                    .bind(code_expires_at_ms)
                    .execute(&mut *connection)
                    .await?;
            }
            consent_outcome(connection, &id).await
        }
        ConsentJob::Revoke { grantor, id } => {
            let found = load(connection, id).await?.filter(|c| &c.grantor == grantor);
            let Some(found) = found else { return Err(LedgerError::ConsentNotFound(id.clone())) };
            if found.revoked_at_ms.is_none() {
                sqlx::query("UPDATE consents SET revoked_at_ms = $1 WHERE id = $2")
                    .bind(wall_clock_ms())
                    .bind(id)
                    .execute(&mut *connection)
                    .await?;
            }
            consent_outcome(connection, id).await
        }
        ConsentJob::Redeem { code_hash, grantee } => {
            let row: Option<(String, i64, i64)> =
                sqlx::query_as("SELECT consent_id, expires_at_ms, redeemed FROM consent_codes WHERE code_hash = $1")
                    .bind(code_hash)
                    .fetch_optional(&mut *connection)
                    .await?;
            let invalid = || LedgerError::ConsentCodeInvalid;
            let (id, expires_at_ms, redeemed) = row.ok_or_else(invalid)?;
            let consent = load(connection, &id).await?.ok_or_else(invalid)?;
            if redeemed != 0 || expires_at_ms <= wall_clock_ms() || &consent.grantee != grantee {
                return Err(invalid());
            }
            sqlx::query("UPDATE consent_codes SET redeemed = 1 WHERE code_hash = $1").bind(code_hash).execute(&mut *connection).await?;
            Ok(Outcome::Consent(consent))
        }
        ConsentJob::Link { document, consent } => {
            sqlx::query("DELETE FROM linked_consents WHERE document = $1 AND bank = $2 AND consent_id = $3")
                .bind(document)
                .bind(&consent.bank)
                .bind(&consent.consent_id)
                .execute(&mut *connection)
                .await?;
            sqlx::query("INSERT INTO linked_consents (document, bank, consent_id, account, created_at_ms) VALUES ($1, $2, $3, $4, $5)")
                .bind(document)
                .bind(&consent.bank)
                .bind(&consent.consent_id)
                .bind(&consent.account)
                .bind(wall_clock_ms())
                .execute(&mut *connection)
                .await?;
            Ok(Outcome::Done)
        }
    }
}

async fn consent_outcome(connection: &mut AnyConnection, id: &str) -> Result<Outcome, LedgerError> {
    let consent = load(connection, id).await?.ok_or_else(|| LedgerError::Invariant(format!("consent {id} vanished")))?;
    Ok(Outcome::Consent(consent))
}

/// The consents the debit legs of a prepare name, as the participant core sees them, read in
/// the vote's transaction (so nothing changes between the check and the recorded use). The
/// expiry is judged on this bank's own wall clock: the consent is this bank's, no other host's
/// clock is compared.
pub(super) async fn views(
    connection: &mut AnyConnection,
    prepare: &ringbank_twopc::Prepare,
    banks: &[String],
) -> Result<HashMap<String, ConsentView>, LedgerError> {
    let mut views = HashMap::new();
    let now = wall_clock_ms();
    for id in prepare.transfers.iter().flat_map(|item| &item.legs).filter_map(|leg| leg.consent.as_ref()) {
        if views.contains_key(id) {
            continue;
        }
        let Some(consent) = load(connection, id).await? else { continue };
        // A grantee no longer configured matches no member.
        let grantee = banks.iter().position(|b| *b == consent.grantee).and_then(|i| BankId::try_from(i).ok()).unwrap_or(BankId::MAX);
        let usable = require_holder(connection, &consent.account, &consent.grantor).await.is_ok();
        views.insert(
            id.clone(),
            ConsentView {
                grantee,
                account: consent.account.clone(),
                per_transfer_max_cents: consent.max_per_transfer_cents,
                total_max_cents: consent.max_total_cents,
                used_cents: consent.used_cents,
                revoked: consent.revoked_at_ms.is_some(),
                expired: consent.expires_at_ms <= now,
                usable,
            },
        );
    }
    Ok(views)
}

/// At the origin: the consent each debit leg at another bank carries (after its leg rows).
pub(super) async fn store_leg_consents(connection: &mut AnyConnection, transfer_id: &str, debits: &[Leg]) -> Result<(), LedgerError> {
    for (position, leg) in debits.iter().enumerate() {
        if let Some(consent) = &leg.consent {
            // Debits are stored first, so a debit's position is its index.
            sqlx::query("UPDATE transfer_legs SET consent = $1 WHERE transfer_id = $2 AND position = $3")
                .bind(consent)
                .bind(transfer_id)
                .bind(i64::try_from(position).unwrap_or(i64::MAX))
                .execute(&mut *connection)
                .await?;
        }
    }
    Ok(())
}

impl Ledger {
    /// The consents `grantor` granted at this bank, newest first.
    pub async fn consents_of(&self, grantor: &str) -> Result<Vec<ConsentRecord>, LedgerError> {
        let rows: Vec<ConsentRow> = sqlx::query_as(&format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE grantor = $1 ORDER BY created_at_ms DESC, id LIMIT 1000"
        ))
        .bind(grantor)
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// One consent, if `grantor` granted it.
    pub async fn consent_of(&self, grantor: &str, id: &str) -> Result<Option<ConsentRecord>, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        Ok(load(&mut connection, id).await?.filter(|c| c.grantor == grantor))
    }

    /// The accounts covered by those of `ids` that are active consents granted to `grantee`
    /// (each account once): what another bank may show its customer.
    pub async fn consented_accounts(&self, grantee: &str, ids: &[String]) -> Result<Vec<AccountView>, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        let now = wall_clock_ms();
        let mut views: Vec<AccountView> = Vec::new();
        for id in ids {
            let Some(consent) = load(&mut connection, id).await? else { continue };
            if consent.grantee != grantee || consent.status(now) != "active" || views.iter().any(|v| v.number == consent.account) {
                continue;
            }
            if require_holder(&mut connection, &consent.account, &consent.grantor).await.is_err() {
                continue;
            }
            if let Some(view) = account_view(&mut connection, self.bank(), &consent.account).await? {
                views.push(view);
            }
        }
        Ok(views)
    }

    /// The consents `document` brought from other banks, newest first.
    pub async fn linked_consents(&self, document: &str) -> Result<Vec<LinkedConsent>, LedgerError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT bank, consent_id, account FROM linked_consents WHERE document = $1 ORDER BY created_at_ms DESC, consent_id LIMIT 1000",
        )
        .bind(document)
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows.into_iter().map(|(bank, consent_id, account)| LinkedConsent { bank, consent_id, account }).collect())
    }
}
