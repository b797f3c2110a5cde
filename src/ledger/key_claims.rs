//! Pix key portability claims as stored (`key_claims`): one row per bank and side under the
//! claim's id. Opening stores a pending claim (the donor side refuses a second pending claim of
//! one key); deciding moves a pending claim to its final status, once: a decision about a claim
//! that is no longer pending changes nothing and says so, so two decisions never both count.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Ledger, LedgerError, Outcome};

/// Which bank's view of the claim a row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimSide {
    /// The new bank: its customer asked to bring the key here.
    Claimant,
    /// The bank that holds the key now: its customer confirms or refuses.
    Donor,
}

impl ClaimSide {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimSide::Claimant => "claimant",
            ClaimSide::Donor => "donor",
        }
    }

    fn parse(text: &str) -> Result<ClaimSide, LedgerError> {
        match text {
            "claimant" => Ok(ClaimSide::Claimant),
            "donor" => Ok(ClaimSide::Donor),
            other => Err(LedgerError::Invariant(format!("unknown key claim side {other:?}"))),
        }
    }
}

/// A claim as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRecord {
    pub id: String,
    pub side: ClaimSide,
    pub key: String,
    pub key_kind: String,
    /// The customer's document (the same person at both banks).
    pub document: String,
    pub from_bank: String,
    pub from_account: String,
    pub to_bank: String,
    pub to_account: String,
    pub to_account_kind: String,
    pub to_name: String,
    pub to_masked_document: String,
    /// The keys-per-account limit of the new account's holder.
    pub key_limit: i64,
    /// pending, completed, refused, expired or failed.
    pub status: String,
    pub reason: Option<String>,
    pub created_at_ms: i64,
    /// By the donor bank's clock (it alone decides that a claim expired).
    pub expires_at_ms: i64,
    pub decided_at_ms: Option<i64>,
}

#[derive(Clone, Debug)]
pub enum KeyClaimJob {
    /// Stores a new pending claim; on the donor side, refused while the key has another
    /// pending claim that has not expired by `now_ms`.
    Open { claim: Box<ClaimRecord>, now_ms: i64 },
    /// A pending claim gets its final status (completed, refused, expired or failed).
    Decide { id: String, side: ClaimSide, status: String, reason: Option<String>, at_ms: i64 },
}

const COLUMNS: &str = "id, side, key_text, key_kind, document, from_bank, from_account, to_bank, to_account, to_account_kind, \
     to_name, to_masked_document, key_limit, status, reason, created_at_ms, expires_at_ms, decided_at_ms";

fn record(row: &AnyRow) -> Result<ClaimRecord, LedgerError> {
    Ok(ClaimRecord {
        id: row.try_get(0)?,
        side: ClaimSide::parse(&row.try_get::<String, _>(1)?)?,
        key: row.try_get(2)?,
        key_kind: row.try_get(3)?,
        document: row.try_get(4)?,
        from_bank: row.try_get(5)?,
        from_account: row.try_get(6)?,
        to_bank: row.try_get(7)?,
        to_account: row.try_get(8)?,
        to_account_kind: row.try_get(9)?,
        to_name: row.try_get(10)?,
        to_masked_document: row.try_get(11)?,
        key_limit: row.try_get(12)?,
        status: row.try_get(13)?,
        reason: row.try_get(14)?,
        created_at_ms: row.try_get(15)?,
        expires_at_ms: row.try_get(16)?,
        decided_at_ms: row.try_get(17)?,
    })
}

pub(super) async fn apply(connection: &mut AnyConnection, job: &KeyClaimJob) -> Result<Outcome, LedgerError> {
    match job {
        KeyClaimJob::Open { claim, now_ms } => {
            if claim.side == ClaimSide::Donor {
                let open: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM key_claims WHERE key_text = $1 AND side = 'donor' AND status = 'pending' AND expires_at_ms > $2 LIMIT 1",
                )
                .bind(&claim.key)
                .bind(now_ms)
                .fetch_optional(&mut *connection)
                .await?;
                if open.is_some() {
                    return Err(LedgerError::KeyClaimPending("this key already has a pending portability claim".into()));
                }
            }
            sqlx::query(&format!(
                "INSERT INTO key_claims ({COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'pending', NULL, $14, $15, NULL)"
            ))
            .bind(&claim.id)
            .bind(claim.side.as_str())
            .bind(&claim.key)
            .bind(&claim.key_kind)
            .bind(&claim.document)
            .bind(&claim.from_bank)
            .bind(&claim.from_account)
            .bind(&claim.to_bank)
            .bind(&claim.to_account)
            .bind(&claim.to_account_kind)
            .bind(&claim.to_name)
            .bind(&claim.to_masked_document)
            .bind(claim.key_limit)
            .bind(claim.created_at_ms)
            .bind(claim.expires_at_ms)
            .execute(&mut *connection)
            .await?;
            Ok(Outcome::Done)
        }
        KeyClaimJob::Decide { id, side, status, reason, at_ms } => {
            assert!(matches!(status.as_str(), "completed" | "refused" | "expired" | "failed"), "a claim decided as {status:?}");
            let done = sqlx::query(
                "UPDATE key_claims SET status = $1, reason = $2, decided_at_ms = $3 WHERE id = $4 AND side = $5 AND status = 'pending'",
            )
            .bind(status)
            .bind(reason.as_deref())
            .bind(at_ms)
            .bind(id)
            .bind(side.as_str())
            .execute(&mut *connection)
            .await?;
            if done.rows_affected() == 0 {
                return Err(LedgerError::KeyClaimClosed(format!("claim {id} is not pending any more")));
            }
            Ok(Outcome::Done)
        }
    }
}

/// Claims shown per customer at most (newest first).
pub const CLAIMS_LISTED_MAX: i64 = 100;

impl Ledger {
    /// One claim as this bank holds it.
    pub async fn key_claim(&self, id: &str, side: ClaimSide) -> Result<Option<ClaimRecord>, LedgerError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM key_claims WHERE id = $1 AND side = $2"))
            .bind(id)
            .bind(side.as_str())
            .fetch_optional(self.read_pool())
            .await?;
        row.as_ref().map(record).transpose()
    }

    /// A customer's claims at this bank, on both sides, newest first.
    pub async fn key_claims_of(&self, document: &str) -> Result<Vec<ClaimRecord>, LedgerError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM key_claims WHERE document = $1 ORDER BY created_at_ms DESC, id LIMIT $2"))
            .bind(document)
            .bind(CLAIMS_LISTED_MAX)
            .fetch_all(self.read_pool())
            .await?;
        rows.iter().map(record).collect()
    }
}
