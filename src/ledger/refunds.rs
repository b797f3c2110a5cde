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
    let payers = payers_of(connection, bank, &job.original, &job.account, credited).await?;
    if let Some((gone, _, _)) = payers.iter().find(|(payer_bank, _, _)| payer_bank != bank && !job.members.contains(payer_bank)) {
        return Err(refuse(format!("transfer {} came from bank {gone}, which is no longer a member", job.original)));
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
    // Each payer is owed what it paid of this credit less what this account's refunds of the
    // original (pending or committed) already returned to it; the refund is split pro rata.
    let returned = returned_to(connection, &job.original, &job.account).await?;
    let owed: Vec<i64> = payers
        .iter()
        .map(|(payer_bank, account, paid)| {
            paid - returned.iter().filter(|(b, a, _)| b == payer_bank && a == account).map(|(_, _, cents)| cents).sum::<i64>()
        })
        .collect();
    let parts = ringbank_domain::refund::split_refund(job.amount_cents, &owed).ok_or_else(|| {
        LedgerError::Invariant(format!(
            "refund of {}: {} does not fit in what its payers are owed {owed:?}",
            job.original, job.amount_cents
        ))
    })?;
    let description = if job.note.is_empty() {
        format!("devolução de {}", job.original)
    } else {
        format!("devolução de {}: {}", job.original, job.note)
    };
    let credits: Vec<Leg> = payers
        .iter()
        .zip(&parts)
        .filter(|(_, part)| **part > 0)
        .map(|((payer_bank, account, _), part)| Leg {
            bank: payer_bank.clone(),
            account: account.clone(),
            amount_cents: *part,
            consent: None,
        })
        .collect();
    let local = credits.iter().all(|leg| leg.bank == bank);
    let transfer = LocalTransfer {
        id: job.id.clone(),
        kind: TransferKind::Transfer,
        initiated_by: job.caller.clone(),
        description,
        debits: vec![Leg { bank: bank.to_string(), account: job.account.clone(), amount_cents: job.amount_cents, consent: None }],
        credits,
        // Returning money received is not a transfer limits apply to.
        limit_window: None,
    };
    let outcome =
        if local { local_transfer(connection, &transfer).await? } else { super::cross::submit(connection, bank, &transfer).await? };
    sqlx::query("UPDATE transfers SET refund_of = $1 WHERE id = $2").bind(&job.original).bind(&job.id).execute(&mut *connection).await?;
    Ok(outcome)
}

/// What this account's refunds of `original` (pending or committed) returned to each payer:
/// (bank, account, cents).
async fn returned_to(connection: &mut AnyConnection, original: &str, account: &str) -> Result<Vec<(String, String, i64)>, LedgerError> {
    Ok(sqlx::query_as(
        "SELECT c.bank, c.account, CAST(SUM(c.amount_cents) AS BIGINT) FROM transfers t \
         JOIN transfer_legs d ON d.transfer_id = t.id AND d.side = 'debit' AND d.account = $2 \
         JOIN transfer_legs c ON c.transfer_id = t.id AND c.side = 'credit' \
         WHERE t.refund_of = $1 AND t.status <> 'aborted' GROUP BY c.bank, c.account",
    )
    .bind(original)
    .bind(account)
    .fetch_all(&mut *connection)
    .await?)
}

/// Who paid what `original` credited to `account` here, as (bank, account, cents) adding up to
/// `credited`: from the original's own legs where this bank originated it (debits matched to
/// credits in leg order, as the coordinator told the other credited banks), else from what its
/// prepare named (`participation_payers`, or the one payer of rows written before them).
async fn payers_of(
    connection: &mut AnyConnection,
    bank: &str,
    original: &str,
    account: &str,
    credited: i64,
) -> Result<Vec<(String, String, i64)>, LedgerError> {
    let legs: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT side, bank, account, amount_cents FROM transfer_legs WHERE transfer_id = $1 AND side IN ('debit', 'credit') ORDER BY position",
    )
    .bind(original)
    .fetch_all(&mut *connection)
    .await?;
    let payers = if legs.is_empty() {
        let named: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT bank, account, amount_cents FROM participation_payers WHERE transfer_id = $1 AND credited = $2 ORDER BY position",
        )
        .bind(original)
        .bind(account)
        .fetch_all(&mut *connection)
        .await?;
        if named.is_empty() {
            let one: Option<(Option<String>, Option<String>)> =
                sqlx::query_as("SELECT payer_bank, payer_account FROM participations WHERE transfer_id = $1")
                    .bind(original)
                    .fetch_optional(&mut *connection)
                    .await?;
            match one {
                Some((Some(payer_bank), Some(payer_account))) => vec![(payer_bank, payer_account, credited)],
                Some(_) => {
                    return Err(refuse(format!(
                        "transfer {original} was received before this bank kept who paid it; refund it to its payers by transfer"
                    )))
                }
                None => return Err(refuse(format!("transfer {original} has no payer this bank knows of"))),
            }
        } else {
            named
        }
    } else {
        // Summed per account in leg order, as `ringbank_twopc::payers_of` does at the coordinator.
        let mut debits: Vec<(String, String, i64)> = Vec::new();
        let mut credits: Vec<(String, String, i64)> = Vec::new();
        for (side, leg_bank, leg_account, cents) in legs {
            let list = if side == "debit" { &mut debits } else { &mut credits };
            match list.iter_mut().find(|(b, a, _)| *b == leg_bank && *a == leg_account) {
                Some(entry) => entry.2 += cents,
                None => list.push((leg_bank, leg_account, cents)),
            }
        }
        let paid: Vec<i64> = debits.iter().map(|(_, _, cents)| *cents).collect();
        let received: Vec<i64> = credits.iter().map(|(_, _, cents)| *cents).collect();
        ringbank_domain::refund::funding(&paid, &received)
            .into_iter()
            .filter(|(receiver, _, _)| credits[*receiver].0 == bank && credits[*receiver].1 == account)
            .map(|(_, payer, cents)| (debits[payer].0.clone(), debits[payer].1.clone(), cents))
            .collect()
    };
    if payers.iter().map(|(_, _, cents)| cents).sum::<i64>() != credited {
        return Err(LedgerError::Invariant(format!("the payers of {original} do not add up to what it credited to {account}")));
    }
    Ok(payers)
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
            "SELECT t.id, t.status, d.bank, d.account, c.bank, c.account, c.amount_cents, t.description, t.created_at_ms FROM transfers t \
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
