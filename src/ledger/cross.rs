//! Cross-bank transfers in the ledger: the origin's pending transfers and their place in the
//! global order, the coordinator's decisions and their delivery, and each participant's
//! durable vote, holds, and the posting or release that resolves them exactly once.

use sqlx::AnyConnection;

use super::ops::{customer_account_kind, insert_transfer_leg, post_entry, require_holder};
use super::{Ledger, LedgerError, LocalTransfer, Outcome, TransferKind};
use crate::clock::wall_clock_ms;
use crate::protocol::{OutcomeItem, PrepareItem, PrepareRequest, SettlementLeg, Vote};
use ringbank_ring::Stamp;

/// The settlement account this bank keeps for a peer bank.
pub fn settlement_account(peer: &str) -> String {
    format!("settlement:{peer}")
}

/// A coordinator's decision on one transfer.
#[derive(Clone, Debug)]
pub struct Decision {
    pub id: String,
    pub commit: bool,
    pub reason: Option<String>,
    pub participants: Vec<String>,
}

/// A pending transfer as the coordinator runs it.
#[derive(Clone, Debug)]
pub struct PendingTransfer {
    pub id: String,
    pub kind: String,
    pub initiated_by: String,
    pub description: String,
    /// (bank, account, signed amount): negative debits, positive credits.
    pub legs: Vec<(String, String, i64)>,
}

/// Stores a transfer with legs at other banks as pending, after checking its legs here.
pub(super) async fn submit(connection: &mut AnyConnection, bank: &str, transfer: &LocalTransfer) -> Result<Outcome, LedgerError> {
    for debit in transfer.debits.iter().filter(|l| l.bank == bank) {
        require_holder(connection, &debit.account, &transfer.initiated_by).await?;
    }
    for credit in transfer.credits.iter().filter(|l| l.bank == bank) {
        let kind = customer_account_kind(connection, &credit.account).await?;
        if transfer.kind == TransferKind::Payment && kind != super::AccountKind::Company {
            return Err(LedgerError::NotACompanyAccount(credit.account.clone()));
        }
    }
    sqlx::query(
        "INSERT INTO transfers (id, kind, initiated_by, description, status, reason, entry_id, created_at_ms, origin) \
         VALUES ($1, $2, $3, $4, 'pending', NULL, NULL, $5, $6)",
    )
    .bind(&transfer.id)
    .bind(transfer.kind.as_str())
    .bind(&transfer.initiated_by)
    .bind(&transfer.description)
    .bind(wall_clock_ms())
    .bind(bank)
    .execute(&mut *connection)
    .await?;
    let sides = transfer.debits.iter().map(|l| ("debit", l)).chain(transfer.credits.iter().map(|l| ("credit", l)));
    for (position, (side, leg)) in sides.enumerate() {
        insert_transfer_leg(connection, &transfer.id, position, side, leg).await?;
    }
    Ok(Outcome::Posted(super::Posted { id: transfer.id.clone(), status: ringbank_domain::TransferStatus::Pending }))
}

/// Gives each transfer of a batch its place in the global order, before any prepare is sent.
pub(super) async fn order_batch(connection: &mut AnyConnection, ids: &[String], stamp: Stamp) -> Result<Outcome, LedgerError> {
    for (position, id) in ids.iter().enumerate() {
        sqlx::query(
            "UPDATE transfers SET order_epoch = $1, order_seq = $2, order_position = $3 \
             WHERE id = $4 AND status = 'pending' AND order_epoch IS NULL",
        )
        .bind(i64::try_from(stamp.epoch).unwrap_or(i64::MAX))
        .bind(i64::try_from(stamp.seq).unwrap_or(i64::MAX))
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(id)
        .execute(&mut *connection)
        .await?;
    }
    Ok(Outcome::Done)
}

/// A participant's vote on a batch, durable before it is answered. A repeated prepare gets
/// the vote already given. A stamp older than the newest accepted prepare is refused whole.
pub(super) async fn prepare(connection: &mut AnyConnection, request: &PrepareRequest) -> Result<Outcome, LedgerError> {
    let (epoch, seq): (i64, i64) =
        sqlx::query_as("SELECT epoch, seq FROM fencing WHERE name = 'prepare'").fetch_one(&mut *connection).await?;
    let newest = Stamp::new(u64::try_from(epoch).unwrap_or(0), u64::try_from(seq).unwrap_or(0));
    if request.stamp < newest {
        return Err(LedgerError::StaleStamp { got: request.stamp.to_string(), newest: newest.to_string() });
    }
    sqlx::query("UPDATE fencing SET epoch = $1, seq = $2 WHERE name = 'prepare'")
        .bind(i64::try_from(request.stamp.epoch).unwrap_or(i64::MAX))
        .bind(i64::try_from(request.stamp.seq).unwrap_or(i64::MAX))
        .execute(&mut *connection)
        .await?;
    let mut votes = Vec::with_capacity(request.transfers.len());
    for item in &request.transfers {
        votes.push(vote(connection, request, item).await?);
    }
    Ok(Outcome::Votes(votes))
}

async fn vote(connection: &mut AnyConnection, request: &PrepareRequest, item: &PrepareItem) -> Result<Vote, LedgerError> {
    let existing: Option<(String, Option<String>)> = sqlx::query_as("SELECT status, reason FROM participations WHERE transfer_id = $1")
        .bind(&item.id)
        .fetch_optional(&mut *connection)
        .await?;
    if let Some((status, reason)) = existing {
        return Ok(Vote { id: item.id.clone(), yes: status != "aborted", reason });
    }
    sqlx::query("SAVEPOINT vote").execute(&mut *connection).await?;
    let checked = place_holds(connection, item).await;
    let (status, reason) = match checked {
        Ok(()) => ("prepared", None),
        Err(error) => {
            sqlx::query("ROLLBACK TO SAVEPOINT vote").execute(&mut *connection).await?;
            let reason = match error {
                LedgerError::Database(e) => return Err(LedgerError::Database(e)),
                other => other.to_string(),
            };
            ("aborted", Some(reason))
        }
    };
    sqlx::query("RELEASE SAVEPOINT vote").execute(&mut *connection).await?;
    sqlx::query(
        "INSERT INTO participations (transfer_id, coordinator, kind, initiated_by, description, participants, status, reason, \
         order_epoch, order_seq, order_position, created_at_ms, resolved_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&item.id)
    .bind(&request.coordinator)
    .bind(&item.kind)
    .bind(&item.initiated_by)
    .bind(&item.description)
    .bind(item.participants.join(","))
    .bind(status)
    .bind(&reason)
    .bind(i64::try_from(request.stamp.epoch).unwrap_or(i64::MAX))
    .bind(i64::try_from(request.stamp.seq).unwrap_or(i64::MAX))
    .bind(i64::from(item.position))
    .bind(wall_clock_ms())
    .bind(if status == "aborted" { Some(wall_clock_ms()) } else { None })
    .execute(&mut *connection)
    .await?;
    if status == "prepared" {
        let legs = item
            .legs
            .iter()
            .map(|l| (l.account.clone(), l.amount_cents))
            .chain(item.settlement.iter().map(|s| (settlement_account(&s.bank), s.amount_cents)));
        for (position, (account, amount)) in legs.enumerate() {
            sqlx::query("INSERT INTO participation_legs (transfer_id, position, account, amount_cents) VALUES ($1, $2, $3, $4)")
                .bind(&item.id)
                .bind(i64::try_from(position).unwrap_or(i64::MAX))
                .bind(&account)
                .bind(amount)
                .execute(&mut *connection)
                .await?;
        }
    }
    Ok(Vote { id: item.id.clone(), yes: status == "prepared", reason })
}

/// Checks the legs here (accounts exist, debits held by the customer, payments to company
/// accounts) and places a hold on every debit. Any failure is a "no" vote with its reason.
async fn place_holds(connection: &mut AnyConnection, item: &PrepareItem) -> Result<(), LedgerError> {
    for leg in &item.legs {
        let kind = customer_account_kind(connection, &leg.account).await?;
        if leg.amount_cents < 0 {
            require_holder(connection, &leg.account, &item.initiated_by).await?;
            let amount = leg.amount_cents.checked_neg().ok_or(LedgerError::Overflow)?;
            let held =
                sqlx::query("UPDATE accounts SET held_cents = held_cents + $1 WHERE number = $2 AND balance_cents - held_cents >= $1")
                    .bind(amount)
                    .bind(&leg.account)
                    .execute(&mut *connection)
                    .await?;
            if held.rows_affected() != 1 {
                let (balance, holds): (i64, i64) = sqlx::query_as("SELECT balance_cents, held_cents FROM accounts WHERE number = $1")
                    .bind(&leg.account)
                    .fetch_one(&mut *connection)
                    .await?;
                return Err(LedgerError::InsufficientFunds {
                    account: leg.account.clone(),
                    available_cents: balance - holds,
                    requested_cents: amount,
                });
            }
            sqlx::query(
                "INSERT INTO holds (id, account, amount_cents, transfer_id, status, created_at_ms) VALUES ($1, $2, $3, $4, 'held', $5)",
            )
            .bind(format!("{}:{}", item.id, leg.account))
            .bind(&leg.account)
            .bind(amount)
            .bind(&item.id)
            .bind(wall_clock_ms())
            .execute(&mut *connection)
            .await?;
        } else if item.kind == "payment" && kind != super::AccountKind::Company {
            return Err(LedgerError::NotACompanyAccount(leg.account.clone()));
        }
    }
    for settlement in &item.settlement {
        ensure_settlement_account(connection, &settlement.bank).await?;
    }
    Ok(())
}

async fn ensure_settlement_account(connection: &mut AnyConnection, peer: &str) -> Result<(), LedgerError> {
    let number = settlement_account(peer);
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT number FROM accounts WHERE number = $1").bind(&number).fetch_optional(&mut *connection).await?;
    if exists.is_none() {
        sqlx::query("INSERT INTO accounts (number, kind, created_at_ms) VALUES ($1, 'settlement', $2)")
            .bind(&number)
            .bind(wall_clock_ms())
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// Logs the coordinator's decisions (durably, before anyone is told) and what must be
/// delivered to whom.
pub(super) async fn decide(connection: &mut AnyConnection, decisions: &[Decision]) -> Result<Outcome, LedgerError> {
    for decision in decisions {
        let (status, decision_text) = if decision.commit { ("committed", "commit") } else { ("aborted", "abort") };
        let updated = sqlx::query(
            "UPDATE transfers SET status = $1, reason = $2, decided_at_ms = $3, entry_id = NULL WHERE id = $4 AND status = 'pending'",
        )
        .bind(status)
        .bind(&decision.reason)
        .bind(wall_clock_ms())
        .bind(&decision.id)
        .execute(&mut *connection)
        .await?;
        if updated.rows_affected() == 0 {
            continue; // already decided: decisions are final
        }
        for bank in &decision.participants {
            sqlx::query("INSERT INTO outcome_deliveries (transfer_id, bank, decision, delivered) VALUES ($1, $2, $3, 0)")
                .bind(&decision.id)
                .bind(bank)
                .bind(decision_text)
                .execute(&mut *connection)
                .await?;
        }
    }
    Ok(Outcome::Done)
}

/// At start-up: every transfer whose prepares may have gone out without a logged decision is
/// aborted (presumed abort), to be delivered like any decision.
pub(super) async fn presume_abort(connection: &mut AnyConnection, bank: &str) -> Result<Outcome, LedgerError> {
    let stuck: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM transfers WHERE status = 'pending' AND order_epoch IS NOT NULL AND origin = $1")
            .bind(bank)
            .fetch_all(&mut *connection)
            .await?;
    let mut decisions = Vec::with_capacity(stuck.len());
    for (id,) in stuck {
        let banks: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT bank FROM transfer_legs WHERE transfer_id = $1").bind(&id).fetch_all(&mut *connection).await?;
        let mut participants: Vec<String> = banks.into_iter().map(|(b,)| b).collect();
        if !participants.iter().any(|b| b == bank) {
            participants.push(bank.to_string());
        }
        decisions.push(Decision {
            id,
            commit: false,
            reason: Some("the origin bank restarted before deciding; aborted (presumed abort)".into()),
            participants,
        });
    }
    decide(connection, &decisions).await
}

/// Applies outcomes at this participant: a commit posts the held debits, the credits and the
/// settlement legs as one entry; an abort releases the holds. An abort for a transfer never
/// prepared here leaves a tombstone, so a late prepare votes no. Returns the ids final here.
pub(super) async fn apply_outcomes(
    connection: &mut AnyConnection,
    coordinator: &str,
    outcomes: &[OutcomeItem],
) -> Result<Outcome, LedgerError> {
    let mut final_ids = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        let row: Option<(String, String, String)> =
            sqlx::query_as("SELECT status, kind, description FROM participations WHERE transfer_id = $1")
                .bind(&outcome.id)
                .fetch_optional(&mut *connection)
                .await?;
        match row {
            None if outcome.commit => {
                tracing::error!(transfer = %outcome.id, "commit for a transfer never prepared here; ignored");
                continue;
            }
            None => {
                sqlx::query(
                    "INSERT INTO participations (transfer_id, coordinator, kind, initiated_by, description, participants, status, reason, \
                     order_epoch, order_seq, order_position, created_at_ms, resolved_at_ms) \
                     VALUES ($1, $2, 'transfer', '', '', '', 'aborted', 'aborted before it was prepared here', 0, 0, 0, $3, $3)",
                )
                .bind(&outcome.id)
                .bind(coordinator)
                .bind(wall_clock_ms())
                .execute(&mut *connection)
                .await?;
            }
            Some((status, _, _)) if status != "prepared" => {}
            Some((_, kind, description)) => resolve(connection, &outcome.id, outcome.commit, &kind, &description).await?,
        }
        final_ids.push(outcome.id.clone());
    }
    Ok(Outcome::Final(final_ids))
}

async fn resolve(connection: &mut AnyConnection, id: &str, commit: bool, kind: &str, description: &str) -> Result<(), LedgerError> {
    let holds: Vec<(String, i64)> = sqlx::query_as("SELECT account, amount_cents FROM holds WHERE transfer_id = $1 AND status = 'held'")
        .bind(id)
        .fetch_all(&mut *connection)
        .await?;
    for (account, amount) in &holds {
        sqlx::query("UPDATE accounts SET held_cents = held_cents - $1 WHERE number = $2")
            .bind(amount)
            .bind(account)
            .execute(&mut *connection)
            .await?;
    }
    let now = wall_clock_ms();
    sqlx::query("UPDATE holds SET status = $1, resolved_at_ms = $2 WHERE transfer_id = $3 AND status = 'held'")
        .bind(if commit { "posted" } else { "released" })
        .bind(now)
        .bind(id)
        .execute(&mut *connection)
        .await?;
    if commit {
        let legs: Vec<(String, i64)> =
            sqlx::query_as("SELECT account, amount_cents FROM participation_legs WHERE transfer_id = $1 ORDER BY position")
                .bind(id)
                .fetch_all(&mut *connection)
                .await?;
        let legs: Vec<(&str, i64)> = legs.iter().map(|(a, x)| (a.as_str(), *x)).collect();
        if !legs.is_empty() {
            post_entry(connection, id, kind, description, "", &legs).await?;
            sqlx::query("UPDATE transfers SET entry_id = $1 WHERE id = $1").bind(id).execute(&mut *connection).await?;
        }
    }
    sqlx::query("UPDATE participations SET status = $1, resolved_at_ms = $2 WHERE transfer_id = $3")
        .bind(if commit { "committed" } else { "aborted" })
        .bind(now)
        .bind(id)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

pub(super) async fn mark_delivered(connection: &mut AnyConnection, bank: &str, ids: &[String]) -> Result<Outcome, LedgerError> {
    for id in ids {
        sqlx::query("UPDATE outcome_deliveries SET delivered = 1 WHERE transfer_id = $1 AND bank = $2")
            .bind(id)
            .bind(bank)
            .execute(&mut *connection)
            .await?;
    }
    Ok(Outcome::Done)
}

/// Per-bank settlement legs so every participant's entry sums to zero. Every bank other than
/// the origin settles with the origin; the origin settles with each of them.
pub fn settlement_legs(origin: &str, nets: &[(String, i64)]) -> Vec<(String, Vec<SettlementLeg>)> {
    let mut out = Vec::with_capacity(nets.len() + 1);
    let mut origin_legs = Vec::new();
    for (bank, net) in nets {
        if bank == origin || *net == 0 {
            continue;
        }
        origin_legs.push(SettlementLeg { bank: bank.clone(), amount_cents: *net });
        out.push((bank.clone(), vec![SettlementLeg { bank: origin.to_string(), amount_cents: -net }]));
    }
    out.push((origin.to_string(), origin_legs));
    out
}

pub use ringbank_wire::ParticipationView;

impl Ledger {
    /// Pending transfers not yet in any batch, oldest first (one query).
    pub async fn pending_batch(&self, limit: usize) -> Result<Vec<PendingTransfer>, LedgerError> {
        let rows: Vec<(String, String, String, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT t.id, t.kind, t.initiated_by, t.description, l.side, l.bank, l.account, l.amount_cents \
             FROM (SELECT id, kind, initiated_by, description, created_at_ms FROM transfers \
                   WHERE status = 'pending' AND order_epoch IS NULL ORDER BY created_at_ms, id LIMIT $1) t \
             JOIN transfer_legs l ON l.transfer_id = t.id \
             ORDER BY t.created_at_ms, t.id, l.position",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.read_pool())
        .await?;
        let mut out: Vec<PendingTransfer> = Vec::new();
        for (id, kind, initiated_by, description, side, bank, account, amount) in rows {
            let signed = if side == "debit" { -amount } else { amount };
            match out.last_mut() {
                Some(last) if last.id == id => last.legs.push((bank, account, signed)),
                _ => out.push(PendingTransfer { id, kind, initiated_by, description, legs: vec![(bank, account, signed)] }),
            }
        }
        Ok(out)
    }

    pub async fn has_unordered_pending(&self) -> Result<bool, LedgerError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM transfers WHERE status = 'pending' AND order_epoch IS NULL LIMIT 1")
            .fetch_optional(self.read_pool())
            .await?;
        Ok(row.is_some())
    }

    /// Outcomes not yet acknowledged, grouped by bank: (bank, [(id, commit)]).
    pub async fn undelivered(&self, limit: usize) -> Result<Vec<(String, Vec<OutcomeItem>)>, LedgerError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT bank, transfer_id, decision FROM outcome_deliveries WHERE delivered = 0 ORDER BY bank, transfer_id LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.read_pool())
        .await?;
        let mut grouped: Vec<(String, Vec<OutcomeItem>)> = Vec::new();
        for (bank, id, decision) in rows {
            let item = OutcomeItem { id, commit: decision == "commit" };
            match grouped.last_mut() {
                Some((last, items)) if *last == bank => items.push(item),
                _ => grouped.push((bank, vec![item])),
            }
        }
        Ok(grouped)
    }

    /// Transfers this bank voted yes on and still does not know the outcome of, prepared
    /// before `before_ms`: (id, coordinator, participants).
    pub async fn in_doubt(&self, before_ms: i64, limit: usize) -> Result<Vec<(String, String, Vec<String>)>, LedgerError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT transfer_id, coordinator, participants FROM participations \
             WHERE status = 'prepared' AND created_at_ms < $1 ORDER BY created_at_ms LIMIT $2",
        )
        .bind(before_ms)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, coordinator, participants)| {
                let list = participants.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
                (id, coordinator, list)
            })
            .collect())
    }

    /// What this bank knows of each transfer's outcome: as its coordinator (a transfer it
    /// originated and decided; one it has no record of is presumed aborted only when
    /// `as_coordinator`), or as a participant that already applied it.
    pub async fn known_outcomes(&self, ids: &[String], as_coordinator: bool) -> Result<Vec<OutcomeItem>, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        let mut known = Vec::new();
        for id in ids {
            let origin: Option<(String,)> = sqlx::query_as("SELECT status FROM transfers WHERE id = $1 AND origin IS NOT NULL")
                .bind(id)
                .fetch_optional(&mut *connection)
                .await?;
            let participation: Option<(String,)> = sqlx::query_as("SELECT status FROM participations WHERE transfer_id = $1")
                .bind(id)
                .fetch_optional(&mut *connection)
                .await?;
            let status = match (origin, participation) {
                (Some((s,)), _) if s != "pending" => Some(s == "committed"),
                (Some(_), _) => None,
                (None, Some((s,))) if s != "prepared" => Some(s == "committed"),
                (None, _) if as_coordinator => Some(false),
                (None, _) => None,
            };
            if let Some(commit) = status {
                known.push(OutcomeItem { id: id.clone(), commit });
            }
        }
        Ok(known)
    }

    /// Every cross-bank transfer this bank took part in, with its outcome here.
    pub async fn participations(&self) -> Result<Vec<ParticipationView>, LedgerError> {
        let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT transfer_id, status, order_epoch, order_seq, order_position FROM participations \
             WHERE coordinator <> '' ORDER BY order_epoch, order_seq, order_position LIMIT 1000000",
        )
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows.into_iter().map(|(id, status, e, s, p)| ParticipationView { id, status, order: (e, s, p) }).collect())
    }

    /// Balances of this bank's settlement accounts: (peer bank, balance).
    pub async fn settlement_balances(&self) -> Result<Vec<(String, i64)>, LedgerError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT number, balance_cents FROM accounts WHERE kind = 'settlement' ORDER BY number")
                .fetch_all(self.read_pool())
                .await?;
        Ok(rows.into_iter().map(|(number, balance)| (number.trim_start_matches("settlement:").to_string(), balance)).collect())
    }

    /// Totals for the consortium audit: (customer money, cash account balance, open holds,
    /// transfers in doubt here).
    pub async fn money_totals(&self) -> Result<(i64, i64, i64, i64), LedgerError> {
        let (customer,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(balance_cents), 0) AS BIGINT) FROM accounts WHERE kind IN ('individual', 'joint', 'company')",
        )
        .fetch_one(self.read_pool())
        .await?;
        let (cash,): (i64,) =
            sqlx::query_as("SELECT balance_cents FROM accounts WHERE number = 'cash'").fetch_one(self.read_pool()).await?;
        let (holds,): (i64,) =
            sqlx::query_as("SELECT CAST(COALESCE(SUM(held_cents), 0) AS BIGINT) FROM accounts").fetch_one(self.read_pool()).await?;
        let (in_doubt,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM participations WHERE status = 'prepared'").fetch_one(self.read_pool()).await?;
        Ok((customer, cash, holds, in_doubt))
    }
}
