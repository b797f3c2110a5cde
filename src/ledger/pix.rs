//! Pix dynamic charges (cobranças): a company account asks for one payment of a fixed amount
//! until an expiry. Created by the writer (the creator must hold the company account); read by
//! id for the charge's public URL. Whether a charge was paid is read from the journal (a credit
//! of exactly its amount to its account, in an entry described `Pix {id}`), so paying needs no
//! write here and a payment from another bank counts as soon as its outcome is applied.

use sqlx::AnyConnection;

use super::ops::{customer_account_kind, require_holder};
use super::{AccountKind, Ledger, LedgerError, Outcome};

/// A charge as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRecord {
    /// The txid: 25 letters and digits, random.
    pub id: String,
    pub account: String,
    pub created_by: String,
    pub amount_cents: i64,
    pub description: String,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
}

/// The description of the journal entry that pays a charge.
pub fn payment_description(id: &str) -> String {
    format!("Pix {id}")
}

const COLUMNS: &str = "id, account, created_by, amount_cents, description, expires_at_ms, created_at_ms";
type Row = (String, String, String, i64, String, i64, i64);

fn record((id, account, created_by, amount_cents, description, expires_at_ms, created_at_ms): Row) -> ChargeRecord {
    ChargeRecord { id, account, created_by, amount_cents, description, expires_at_ms, created_at_ms }
}

/// Stores a new charge: only a holder of a company account (every holder accepted) creates one.
pub(super) async fn create(connection: &mut AnyConnection, charge: &ChargeRecord) -> Result<Outcome, LedgerError> {
    require_holder(connection, &charge.account, &charge.created_by).await?;
    if customer_account_kind(connection, &charge.account).await? != AccountKind::Company {
        return Err(LedgerError::InvalidAccountKind(format!(
            "account {} is not a company account: only company accounts create Pix charges",
            charge.account
        )));
    }
    sqlx::query(&format!("INSERT INTO pix_charges ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
        .bind(&charge.id)
        .bind(&charge.account)
        .bind(&charge.created_by)
        .bind(charge.amount_cents)
        .bind(&charge.description)
        .bind(charge.expires_at_ms)
        .bind(charge.created_at_ms)
        .execute(&mut *connection)
        .await?;
    Ok(Outcome::Done)
}

impl Ledger {
    /// A charge by id.
    pub async fn charge(&self, id: &str) -> Result<Option<ChargeRecord>, LedgerError> {
        let row: Option<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM pix_charges WHERE id = $1")).bind(id).fetch_optional(self.read_pool()).await?;
        Ok(row.map(record))
    }

    /// The newest charges of an account, at most `limit`.
    pub async fn charges_of(&self, account: &str, limit: i64) -> Result<Vec<ChargeRecord>, LedgerError> {
        let rows: Vec<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM pix_charges WHERE account = $1 ORDER BY created_at_ms DESC, id LIMIT $2"))
                .bind(account)
                .bind(limit)
                .fetch_all(self.read_pool())
                .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// Whether the journal holds a payment of the charge (its amount credited to its account,
    /// described `Pix {id}`).
    pub async fn charge_paid(&self, charge: &ChargeRecord) -> Result<bool, LedgerError> {
        let row: Option<(String,)> = sqlx::query_as(
            // legs_statement holds the account's lines with their descriptions: the index alone.
            "SELECT entry_id FROM legs WHERE account = $1 AND amount_cents = $2 AND description = $3 LIMIT 1",
        )
        .bind(&charge.account)
        .bind(charge.amount_cents)
        .bind(payment_description(&charge.id))
        .fetch_optional(self.read_pool())
        .await?;
        Ok(row.is_some())
    }
}
