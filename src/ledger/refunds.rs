//! Refunds (devolução): the receiver of a transfer or payment returns it, fully or in parts,
//! within 90 days. A refund is a transfer from the credited account back to the debited one,
//! linked to the original (`transfers.refund_of`); the checks and the posting are one writer
//! job, so concurrent refunds of one original are serialized and their sum never exceeds what
//! the original credited to the account.
//!
//! A refund of a transfer that came from another bank is itself a cross-bank transfer (stored
//! pending here, run by two-phase commit under the token, as any other): the payer is the one
//! the original's prepare named (`participations.payer_*`), and the refund's prepare carries
//! its link, so the payer's bank credits only the account the original debited there. Pending
//! refunds count against what is left, so racing refunds never pass the original even before
//! they commit; one that aborts gives its amount back.

use sqlx::AnyConnection;

use super::ops::{local_transfer, require_holder};
use super::{Ledger, LedgerError, Leg, LocalTransfer, Outcome, TransferKind};

/// `caller` refunds `amount_cents` of `original` from `account` (which it credited).
#[derive(Clone, Debug)]
pub struct RefundJob {
    pub id: String,
    pub caller: String,
    pub original: String,
    pub account: String,
    pub amount_cents: i64,
    /// The refund's own words, after "devolução de <original>".
    pub note: String,
    pub now_ms: i64,
    /// How long after the original it may be refunded (`--refund-window`, 90 days as Pix).
    pub window_ms: i64,
    /// The ring's member banks (a refund to a bank that left would never run).
    pub members: Vec<String>,
}

fn refuse(why: String) -> LedgerError {
    LedgerError::RefundRefused(why)
}

/// What `account` already had refunded of `original` (refunds pending or committed).
async fn refunded(connection: &mut AnyConnection, original: &str, account: &str) -> Result<i64, LedgerError> {
    let (sum,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(l.amount_cents), 0) AS BIGINT) FROM transfers t \
         JOIN transfer_legs l ON l.transfer_id = t.id AND l.side = 'debit' \
         WHERE t.refund_of = $1 AND l.account = $2 AND t.status <> 'aborted'",
    )
    .bind(original)
    .bind(account)
    .fetch_one(&mut *connection)
    .await?;
    Ok(sum)
}

pub(super) async fn refund(connection: &mut AnyConnection, bank: &str, job: &RefundJob) -> Result<Outcome, LedgerError> {
    require_holder(connection, &job.account, &job.caller).await?;
    // What the original credited to this account here, and when it was booked.
    let (credited, booked_at): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT CAST(SUM(l.amount_cents) AS BIGINT), MIN(e.created_at_ms) FROM legs l JOIN entries e ON e.id = l.entry_id \
         WHERE l.entry_id = $1 AND l.account = $2 AND l.amount_cents > 0 AND e.kind IN ('transfer', 'payment')",
    )
    .bind(&job.original)
    .bind(&job.account)
    .fetch_one(&mut *connection)
    .await?;
    let (Some(credited), Some(booked_at)) = (credited, booked_at) else {
        return Err(refuse(format!("transfer {} credited nothing to account {} here", job.original, job.account)));
    };
    if job.now_ms.saturating_sub(booked_at) > job.window_ms {
        let days = job.window_ms / (24 * 3_600_000);
        return Err(refuse(format!(
            "transfer {} is older than the refund window ({days} days); it can no longer be refunded",
            job.original
        )));
    }
    let links: Vec<(Option<String>,)> = sqlx::query_as(
        "SELECT refund_of FROM transfers WHERE id = $1 UNION ALL SELECT refund_of FROM participations WHERE transfer_id = $1",
    )
    .bind(&job.original)
    .fetch_all(&mut *connection)
    .await?;
    if links.iter().any(|(link,)| link.is_some()) {
        return Err(refuse(format!("{} is itself a refund; it cannot be refunded", job.original)));
    }
    let (payer_bank, payer) = payer_of(connection, &job.original).await?;
    if payer_bank != bank && !job.members.contains(&payer_bank) {
        return Err(refuse(format!("transfer {} came from bank {payer_bank}, which is no longer a member", job.original)));
    }
    let left = credited - refunded(connection, &job.original, &job.account).await?;
    if job.amount_cents > left {
        return Err(refuse(format!(
            "{} of {} credited to account {} is left to refund; {} requested",
            ringbank_domain::money::format_brl(left.max(0)),
            ringbank_domain::money::format_brl(credited),
            job.account,
            ringbank_domain::money::format_brl(job.amount_cents)
        )));
    }
    let description = if job.note.is_empty() {
        format!("devolução de {}", job.original)
    } else {
        format!("devolução de {}: {}", job.original, job.note)
    };
    let transfer = LocalTransfer {
        id: job.id.clone(),
        kind: TransferKind::Transfer,
        initiated_by: job.caller.clone(),
        description,
        debits: vec![Leg { bank: bank.to_string(), account: job.account.clone(), amount_cents: job.amount_cents, consent: None }],
        credits: vec![Leg { bank: payer_bank.clone(), account: payer, amount_cents: job.amount_cents, consent: None }],
        // Returning money received is not a transfer limits apply to.
        limit_window: None,
    };
    let outcome = if payer_bank == bank {
        local_transfer(connection, &transfer).await?
    } else {
        super::cross::submit(connection, bank, &transfer).await?
    };
    sqlx::query("UPDATE transfers SET refund_of = $1 WHERE id = $2").bind(&job.original).bind(&job.id).execute(&mut *connection).await?;
    Ok(outcome)
}

/// The one account `original` debited, and its bank: from its own legs where this bank
/// originated it, else from what its prepare named.
async fn payer_of(connection: &mut AnyConnection, original: &str) -> Result<(String, String), LedgerError> {
    let several = || refuse(format!("transfer {original} had several payers; refund it to each of them by transfer"));
    let payers: Vec<(String, String)> =
        sqlx::query_as("SELECT bank, account FROM transfer_legs WHERE transfer_id = $1 AND side = 'debit' ORDER BY position")
            .bind(original)
            .fetch_all(&mut *connection)
            .await?;
    match payers.as_slice() {
        [payer] => return Ok(payer.clone()),
        [] => {}
        _ => return Err(several()),
    }
    let named: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT payer_bank, payer_account FROM participations WHERE transfer_id = $1")
            .bind(original)
            .fetch_optional(&mut *connection)
            .await?;
    match named {
        Some((Some(bank), Some(account))) => Ok((bank, account)),
        Some(_) => Err(several()),
        None => Err(refuse(format!("transfer {original} has no payer this bank knows of"))),
    }
}

/// One refund of an original, as its receiver and its payer see it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RefundLine {
    pub id: String,
    /// "pending", "committed" (aborted refunds are not listed).
    pub status: String,
    /// The account refunded from (the original's receiver) and to (its payer), with their banks.
    pub from_bank: String,
    pub from_account: String,
    pub to_bank: String,
    pub to_account: String,
    pub amount_cents: i64,
    pub description: String,
    pub created_at_ms: i64,
}

impl Ledger {
    /// The refunds of `original` that `document` took part in (holding the account refunded
    /// from or to), oldest first: those made here (local, or sent to the payer's bank), and
    /// those another bank's receiver made to an account here. Holders are looked up for the
    /// legs at this bank only: an account number names an account at one bank, and the same
    /// digits at another bank are someone else's.
    pub async fn refunds_of(&self, original: &str, document: &str) -> Result<Vec<RefundLine>, LedgerError> {
        type Row = (String, String, String, String, String, String, i64, String, i64);
        let mut rows: Vec<Row> = sqlx::query_as(
            "SELECT t.id, t.status, d.bank, d.account, c.bank, c.account, d.amount_cents, t.description, t.created_at_ms FROM transfers t \
             JOIN transfer_legs d ON d.transfer_id = t.id AND d.side = 'debit' \
             JOIN transfer_legs c ON c.transfer_id = t.id AND c.side = 'credit' \
             WHERE t.refund_of = $1 AND t.status <> 'aborted' \
               AND ((d.bank = $3 AND EXISTS (SELECT 1 FROM account_holders h WHERE h.account = d.account AND h.document = $2)) \
                 OR (c.bank = $3 AND EXISTS (SELECT 1 FROM account_holders h WHERE h.account = c.account AND h.document = $2)))",
        )
        .bind(original)
        .bind(document)
        .bind(self.bank())
        .fetch_all(self.read_pool())
        .await?;
        let received: Vec<Row> = sqlx::query_as(
            "SELECT p.transfer_id, CASE WHEN p.status = 'prepared' THEN 'pending' ELSE p.status END, \
                    COALESCE(p.payer_bank, p.coordinator), COALESCE(p.payer_account, ''), $3, l.account, l.amount_cents, \
                    p.description, p.created_at_ms \
             FROM participations p JOIN participation_legs l ON l.transfer_id = p.transfer_id AND l.amount_cents > 0 \
             WHERE p.refund_of = $1 AND p.status <> 'aborted' \
               AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.id = p.transfer_id) \
               AND EXISTS (SELECT 1 FROM account_holders h WHERE h.account = l.account AND h.document = $2)",
        )
        .bind(original)
        .bind(document)
        .bind(self.bank())
        .fetch_all(self.read_pool())
        .await?;
        rows.extend(received);
        rows.sort_by(|a, b| (a.8, &a.0).cmp(&(b.8, &b.0)));
        Ok(rows
            .into_iter()
            .map(|(id, status, from_bank, from_account, to_bank, to_account, amount_cents, description, created_at_ms)| RefundLine {
                id,
                status,
                from_bank,
                from_account,
                to_bank,
                to_account,
                amount_cents,
                description,
                created_at_ms,
            })
            .collect())
    }

    /// What the original credited to `account` here (None: nothing), for the refund form.
    pub async fn credited_by(&self, original: &str, account: &str) -> Result<Option<i64>, LedgerError> {
        let (credited,): (Option<i64>,) = sqlx::query_as(
            "SELECT CAST(SUM(l.amount_cents) AS BIGINT) FROM legs l JOIN entries e ON e.id = l.entry_id \
             WHERE l.entry_id = $1 AND l.account = $2 AND l.amount_cents > 0 AND e.kind IN ('transfer', 'payment')",
        )
        .bind(original)
        .bind(account)
        .fetch_one(self.read_pool())
        .await?;
        Ok(credited)
    }
}
