//! Read-side queries: accounts, statements, transfers, customers and sessions. They run on
//! the read pool and see only committed data.

use sqlx::AnyConnection;

use ringbank_domain::{CustomerKind, Signature, SignedDecision, TransferDecision, TransferKind, TransferStatus};

use super::{Ledger, LedgerError, Leg};

pub use ringbank_wire::{AccountView, StatementLine, StatementPage};

/// A transfer as the ledger knows it, typed; its JSON shape is `ringbank_wire::TransferView`.
#[derive(Clone, Debug)]
pub struct TransferRecord {
    pub id: String,
    pub kind: TransferKind,
    pub status: TransferStatus,
    pub reason: Option<String>,
    pub description: String,
    pub debits: Vec<Leg>,
    pub credits: Vec<Leg>,
    pub created_at: String,
    /// The coordinator's signed decision (the receipt), once decided under signing.
    pub receipt: Option<SignedDecision>,
}

impl From<TransferRecord> for ringbank_wire::TransferView {
    fn from(record: TransferRecord) -> ringbank_wire::TransferView {
        let wire_leg =
            |leg: Leg| ringbank_wire::Leg { bank: leg.bank, account: leg.account, amount_cents: leg.amount_cents, consent: leg.consent };
        ringbank_wire::TransferView {
            id: record.id,
            kind: record.kind.as_str().to_string(),
            status: record.status.as_str().to_string(),
            reason: record.reason,
            description: record.description,
            debits: record.debits.into_iter().map(wire_leg).collect(),
            credits: record.credits.into_iter().map(wire_leg).collect(),
            created_at: record.created_at,
            receipt: record.receipt,
        }
    }
}

#[derive(Clone, Debug)]
pub struct CustomerRecord {
    pub document: String,
    pub kind: CustomerKind,
    pub name: String,
    pub password_hash: String,
}

pub(super) async fn account_view(connection: &mut AnyConnection, bank: &str, number: &str) -> Result<Option<AccountView>, LedgerError> {
    let row: Option<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT number, kind, balance_cents, held_cents FROM accounts \
         WHERE number = $1 AND kind IN ('individual', 'joint', 'company')",
    )
    .bind(number)
    .fetch_optional(&mut *connection)
    .await?;
    let Some((number, kind, balance_cents, held_cents)) = row else {
        return Ok(None);
    };
    let holders: Vec<(String, i64)> = sqlx::query_as("SELECT document, accepted FROM account_holders WHERE account = $1 ORDER BY document")
        .bind(&number)
        .fetch_all(&mut *connection)
        .await?;
    let pending_holders = holders.iter().filter(|(_, accepted)| *accepted == 0).map(|(d, _)| d.clone()).collect();
    Ok(Some(AccountView {
        bank: bank.to_string(),
        number,
        kind,
        holders: holders.into_iter().map(|(d, _)| d).collect(),
        pending_holders,
        balance_cents,
        available_cents: balance_cents - held_cents,
    }))
}

/// A stored receipt: the exact text signed and the signature.
fn parse_receipt(id: &str, text: &str, signature: &str) -> Result<SignedDecision, LedgerError> {
    let broken = |what: String| LedgerError::Invariant(format!("the receipt of {id}: {what}"));
    let decision = TransferDecision::parse_canonical(text).map_err(|e| broken(e.to_string()))?;
    let signature = Signature::parse(signature).map_err(|e| broken(e.to_string()))?;
    Ok(SignedDecision { decision, signature })
}

pub(super) fn rfc3339(ms: i64) -> String {
    let since = std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + since).to_string()
}

/// A statement page (account, before, limit): every column is in legs_statement, so a page reads
/// that index alone (statement_lines_tests checks the plan).
pub(super) const STATEMENT_PAGE: &str = "SELECT entry_id, kind, description, amount_cents, balance_after_cents, account_leg_number, \
     created_at_ms FROM legs WHERE account = $1 AND account_leg_number < $2 ORDER BY account_leg_number DESC LIMIT $3";

impl Ledger {
    pub async fn customer(&self, document: &str) -> Result<Option<CustomerRecord>, LedgerError> {
        let row: Option<(String, String, String, String)> =
            sqlx::query_as("SELECT document, kind, name, password_hash FROM customers WHERE document = $1")
                .bind(document)
                .fetch_optional(self.read_pool())
                .await?;
        let Some((document, kind, name, password_hash)) = row else { return Ok(None) };
        let kind = kind.parse().map_err(|e| LedgerError::Invariant(format!("customer {document}: {e}")))?;
        Ok(Some(CustomerRecord { document, kind, name, password_hash }))
    }

    /// The document of the customer whose session token hashes to `token_hash` and when the
    /// session expires, if it exists and has not expired.
    pub async fn session_document(&self, token_hash: &str, now_ms: i64) -> Result<Option<(String, i64)>, LedgerError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT document, expires_at_ms FROM sessions WHERE token_hash = $1 AND expires_at_ms > $2")
                .bind(token_hash)
                .bind(now_ms)
                .fetch_optional(self.read_pool())
                .await?;
        Ok(row)
    }

    /// The account if `document` holds it; None for an account that does not exist or that
    /// the customer does not hold (indistinguishable on purpose).
    pub async fn account_for(&self, number: &str, document: &str) -> Result<Option<AccountView>, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        let view = account_view(&mut connection, self.bank(), number).await?;
        Ok(view.filter(|v| v.holders.iter().any(|h| h == document)))
    }

    pub async fn accounts_of(&self, document: &str) -> Result<Vec<AccountView>, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        let numbers: Vec<(String,)> = sqlx::query_as("SELECT account FROM account_holders WHERE document = $1 ORDER BY account")
            .bind(document)
            .fetch_all(&mut *connection)
            .await?;
        let mut views = Vec::with_capacity(numbers.len());
        for (number,) in numbers {
            if let Some(view) = account_view(&mut connection, self.bank(), &number).await? {
                views.push(view);
            }
        }
        Ok(views)
    }

    /// Statement lines of an account, newest first, `limit` at most, older than `before`.
    pub async fn statement(&self, account: &str, before: Option<i64>, limit: u32) -> Result<StatementPage, LedgerError> {
        let rows: Vec<(String, String, String, i64, i64, i64, i64)> = sqlx::query_as(STATEMENT_PAGE)
            .bind(account)
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit) + 1)
            .fetch_all(self.read_pool())
            .await?;
        let more = rows.len() > limit as usize;
        let entries: Vec<StatementLine> = rows
            .into_iter()
            .take(limit as usize)
            .map(|(entry_id, kind, description, amount_cents, balance_after_cents, line, created)| StatementLine {
                entry_id,
                kind,
                description,
                amount_cents,
                balance_after_cents,
                line,
                created_at: rfc3339(created),
            })
            .collect();
        let next_before = if more { entries.last().map(|e| e.line) } else { None };
        Ok(StatementPage { account: account.to_string(), entries, next_before })
    }

    /// A transfer or payment, if `document` initiated it.
    pub async fn transfer_for(&self, id: &str, document: &str) -> Result<Option<TransferRecord>, LedgerError> {
        // One statement (a transfer is read after every submission that waits for its outcome):
        // the transfer, a row per leg, and its receipt on each row.
        type Row = (
            String,
            String,
            String,
            Option<String>,
            String,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT t.id, t.kind, t.status, t.reason, t.description, t.created_at_ms, l.side, l.bank, l.account, l.amount_cents, \
                    r.signed_text, r.signature \
             FROM transfers t LEFT JOIN transfer_legs l ON l.transfer_id = t.id LEFT JOIN receipts r ON r.transfer_id = t.id \
             WHERE t.id = $1 AND t.initiated_by = $2 ORDER BY l.position",
        )
        .bind(id)
        .bind(document)
        .fetch_all(self.read_pool())
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let (id, kind, status, reason, description, created) =
            (first.0.clone(), first.1.clone(), first.2.clone(), first.3.clone(), first.4.clone(), first.5);
        let receipt = match (&first.10, &first.11) {
            (Some(text), Some(signature)) => Some(parse_receipt(&id, text, signature)?),
            _ => None,
        };
        let (mut debits, mut credits) = (Vec::new(), Vec::new());
        for row in rows {
            let (Some(side), Some(bank), Some(account), Some(amount_cents)) = (row.6, row.7, row.8, row.9) else { continue };
            let leg = Leg { bank, account, amount_cents, consent: None };
            if side == "debit" {
                debits.push(leg);
            } else {
                credits.push(leg);
            }
        }
        let invalid = |e: ringbank_domain::UnknownValue| LedgerError::Invariant(format!("transfer {id}: {e}"));
        let (kind, status) = (kind.parse().map_err(invalid)?, status.parse().map_err(invalid)?);
        Ok(Some(TransferRecord { id, kind, status, reason, description, debits, credits, created_at: rfc3339(created), receipt }))
    }
}

impl Ledger {
    /// Whether the database answers (for /readyz).
    pub async fn ping(&self) -> Result<(), LedgerError> {
        let (_one,): (i64,) = sqlx::query_as("SELECT CAST(1 AS BIGINT)").fetch_one(self.read_pool()).await?;
        Ok(())
    }

    /// How many transfers this bank originated are in each status, and how many cross-bank
    /// transfers are in doubt here (prepared, outcome unknown): for /metrics.
    pub async fn transfer_counts(&self) -> Result<(Vec<(String, i64)>, i64), LedgerError> {
        let by_status: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM transfers GROUP BY status").fetch_all(self.read_pool()).await?;
        let (in_doubt,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM participations WHERE status = 'prepared'").fetch_one(self.read_pool()).await?;
        Ok((by_status, in_doubt))
    }
}
