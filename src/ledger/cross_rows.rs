//! The cross-bank jobs' rows, a batch at a time: the order of a batch, the decisions, the
//! deliveries, and each participant's votes, holds and resolutions are read and written with a
//! number of statements that does not grow with the batch (multi-row statements through
//! `rows::lookup` and `rows::write_rows`), where they took several statements per transfer.
//! Every statement was a hop to the database's worker thread, and those hops were most of a
//! bank's CPU under cross-bank load (profiled: 58 % of it in the kernel, switching threads).
//! Writes that follow one another with no read between them (a vote's rows, the decisions
//! logged, a resolution's postings) go to SQLite as one query (`rows::write_together`).
//!
//! Each function keeps the rules of the per-transfer code it replaced: the same guards in the
//! WHERE clauses, and a count of the rows each multi-row statement changed checked against
//! what the batch expects, so a database that disagrees fails the job instead of being
//! written wrong.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::AnyConnection;

use super::ops::explain_refused_leg;
use super::rows::{lookup, text, write_rows, write_together, Statement, Unwritten, Value};
use super::LedgerError;
use crate::clock::wall_clock_ms;

/// Fails with an invariant error unless a statement changed `expected` rows.
/// Runs `head (rows) tail` over `values` (`width` columns each) and checks that every row was
/// written.
async fn insert_all(
    connection: &mut AnyConnection,
    what: &str,
    head: &str,
    tail: &str,
    width: usize,
    values: &[Value],
) -> Result<(), LedgerError> {
    let written = write_rows(connection, head, tail, width, values).await?;
    expect_rows(what, written, values.len() / width)
}

/// Writes `statements` together (`rows::write_together`: one query on SQLite), each of which
/// must change one row per row given; fails with an invariant error naming them otherwise.
async fn write_all_checked(connection: &mut AnyConnection, statements: &[Statement<'_>]) -> Result<(), LedgerError> {
    write_together(connection, statements).await.map_err(|error| match error {
        Unwritten::Database(error) => LedgerError::from(error),
        Unwritten::Short(detail) => LedgerError::Invariant(detail),
    })
}

fn expect_rows(what: &str, changed: u64, expected: usize) -> Result<(), LedgerError> {
    if changed == expected as u64 {
        Ok(())
    } else {
        Err(LedgerError::Invariant(format!("{what}: {changed} rows changed, {expected} expected")))
    }
}

fn int(value: usize) -> Value {
    Value::Int(i64::try_from(value).unwrap_or(i64::MAX))
}

/// Places a batch's transfers in the global order: position `first_position + i` for `ids[i]`,
/// where the transfer is still pending and unordered.
pub(super) async fn order(
    connection: &mut AnyConnection,
    ids: &[String],
    epoch: i64,
    seq: i64,
    first_position: u64,
) -> Result<(), LedgerError> {
    let mut values = Vec::with_capacity(ids.len() * 2);
    for (offset, id) in ids.iter().enumerate() {
        values.extend([text(id), Value::Int(i64::try_from(first_position + offset as u64).unwrap_or(i64::MAX))]);
    }
    let head = format!("UPDATE transfers SET order_epoch = {epoch}, order_seq = {seq}, order_position = v.column2 FROM (VALUES ");
    write_rows(
        connection,
        &head,
        ") AS v WHERE transfers.id = v.column1 AND transfers.status = 'pending' AND transfers.order_epoch IS NULL",
        2,
        &values,
    )
    .await?;
    Ok(())
}

/// Marks the outcomes of `ids` owed to `bank` as `state` (delivered or refused), where still owed.
pub(super) async fn mark_delivered(connection: &mut AnyConnection, bank: &str, ids: &[String], state: i64) -> Result<(), LedgerError> {
    let values: Vec<Value> = ids.iter().flat_map(|id| [text(id), text(bank)]).collect();
    let head = format!("UPDATE outcome_deliveries SET delivered = {state} FROM (VALUES ");
    write_rows(
        connection,
        &head,
        ") AS v WHERE outcome_deliveries.transfer_id = v.column1 AND outcome_deliveries.bank = v.column2 \
         AND outcome_deliveries.delivered = 0",
        2,
        &values,
    )
    .await?;
    Ok(())
}

/// Which of `ids` this bank originated and are still pending.
pub(super) async fn pending_of(connection: &mut AnyConnection, ids: &[&str]) -> Result<HashSet<String>, LedgerError> {
    let rows: Vec<(String,)> =
        lookup(connection, "SELECT t.id FROM (VALUES ", ") AS v JOIN transfers t ON t.id = v.column1 WHERE t.status = 'pending'", 1, ids)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A decision as logged: (id, status 'committed' or 'aborted', reason).
pub(super) struct DecisionRow<'a> {
    pub id: &'a str,
    pub commit: bool,
    pub reason: Option<&'a str>,
    /// The participants owed the outcome.
    pub participants: &'a [String],
    /// The signed receipt: (coordinator, signed text, signature).
    pub receipt: Option<(String, String, String)>,
}

/// Logs decisions on pending transfers: their status, their receipts and the deliveries owed.
/// Every row must be a pending transfer of this bank (`pending_of`).
pub(super) async fn log_decisions(connection: &mut AnyConnection, rows: &[DecisionRow<'_>]) -> Result<(), LedgerError> {
    if rows.is_empty() {
        return Ok(());
    }
    let now = wall_clock_ms();
    let values: Vec<Value> = rows
        .iter()
        .flat_map(|row| {
            [text(row.id), text(if row.commit { "committed" } else { "aborted" }), Value::MaybeText(row.reason.map(str::to_string))]
        })
        .collect();
    let head = format!("UPDATE transfers SET status = v.column2, reason = v.column3, decided_at_ms = {now}, entry_id = NULL FROM (VALUES ");
    let receipts: Vec<Value> = rows
        .iter()
        .filter_map(|row| row.receipt.as_ref().map(|(coordinator, signed, signature)| (row.id, coordinator, signed, signature)))
        .flat_map(|(id, coordinator, signed, signature)| [text(id), text(coordinator), text(signed), text(signature)])
        .collect();
    let deliveries: Vec<Value> = rows
        .iter()
        .flat_map(|row| row.participants.iter().map(move |bank| (row, bank)))
        .flat_map(|(row, bank)| [text(row.id), text(bank), text(if row.commit { "commit" } else { "abort" })])
        .collect();
    write_all_checked(
        connection,
        &[
            Statement {
                what: "decisions logged on pending transfers",
                head: &head,
                tail: ") AS v WHERE transfers.id = v.column1 AND transfers.status = 'pending'",
                width: 3,
                values: &values,
            },
            Statement {
                what: "receipts",
                head: "INSERT INTO receipts (transfer_id, coordinator, signed_text, signature) VALUES ",
                tail: "",
                width: 4,
                values: &receipts,
            },
            Statement {
                what: "outcome deliveries",
                head: "INSERT INTO outcome_deliveries (transfer_id, bank, decision, delivered) \
                       SELECT column1, column2, column3, 0 FROM (VALUES ",
                tail: ") AS v",
                width: 3,
                values: &deliveries,
            },
        ],
    )
    .await
}

/// A participation as stored: (coordinator, participants, status, reason, kind, description).
pub(super) type ParticipationRow = (String, String, String, Option<String>, String, String);

/// The participations recorded for `ids`, by transfer id.
pub(super) async fn participations(connection: &mut AnyConnection, ids: &[&str]) -> Result<HashMap<String, ParticipationRow>, LedgerError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String, String, String, Option<String>, String, String)> = lookup(
        connection,
        "SELECT p.transfer_id, p.coordinator, p.participants, p.status, p.reason, p.kind, p.description FROM (VALUES ",
        ") AS v JOIN participations p ON p.transfer_id = v.column1",
        1,
        ids,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, coordinator, participants, status, reason, kind, description)| {
            (id, (coordinator, participants, status, reason, kind, description))
        })
        .collect())
}

/// Customer accounts, by number: (kind, balance minus holds).
pub(super) async fn customer_accounts(
    connection: &mut AnyConnection,
    numbers: &[&str],
) -> Result<HashMap<String, (String, i64)>, LedgerError> {
    if numbers.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String, i64, i64)> = lookup(
        connection,
        "SELECT a.number, a.kind, a.balance_cents, a.held_cents FROM (VALUES ",
        ") AS v JOIN accounts a ON a.number = v.column1 WHERE a.kind IN ('individual', 'joint', 'company')",
        1,
        numbers,
    )
    .await?;
    Ok(rows.into_iter().map(|(number, kind, balance, held)| (number, (kind, balance - held))).collect())
}

/// The (account, document) pairs among `pairs` where the document holds the account and every
/// holder of the account has accepted it (what `ops::require_holder` accepts).
pub(super) async fn holders(connection: &mut AnyConnection, pairs: &[(String, String)]) -> Result<HashSet<(String, String)>, LedgerError> {
    if pairs.is_empty() {
        return Ok(HashSet::new());
    }
    let accounts: Vec<&str> = pairs.iter().map(|(account, _)| account.as_str()).collect::<HashSet<_>>().into_iter().collect();
    let rows: Vec<(String, String, i64)> = lookup(
        connection,
        "SELECT h.account, h.document, h.accepted FROM (VALUES ",
        ") AS v JOIN account_holders h ON h.account = v.column1",
        1,
        &accounts,
    )
    .await?;
    let pending: HashSet<&str> = rows.iter().filter(|(_, _, accepted)| *accepted == 0).map(|(account, _, _)| account.as_str()).collect();
    let held: HashSet<(&str, &str)> = rows.iter().map(|(account, document, _)| (account.as_str(), document.as_str())).collect();
    Ok(pairs
        .iter()
        .filter(|(account, document)| held.contains(&(account.as_str(), document.as_str())) && !pending.contains(account.as_str()))
        .cloned()
        .collect())
}

/// Makes sure a settlement account exists for each of `numbers` (`settlement:{peer}`).
pub(super) async fn ensure_settlement_accounts(connection: &mut AnyConnection, numbers: &[&str]) -> Result<(), LedgerError> {
    if numbers.is_empty() {
        return Ok(());
    }
    let found: Vec<(String,)> =
        lookup(connection, "SELECT a.number FROM (VALUES ", ") AS v JOIN accounts a ON a.number = v.column1", 1, numbers).await?;
    let found: HashSet<String> = found.into_iter().map(|(number,)| number).collect();
    let now = wall_clock_ms();
    let missing: Vec<Value> = numbers.iter().filter(|n| !found.contains(**n)).flat_map(|n| [text(n), Value::Int(now)]).collect();
    insert_all(
        connection,
        "settlement accounts",
        "INSERT INTO accounts (number, kind, created_at_ms) SELECT column1, 'settlement', column2 FROM (VALUES ",
        ") AS v",
        2,
        &missing,
    )
    .await
}

/// The rows a batch of yes votes writes, collected before one statement per table.
#[derive(Default)]
pub(super) struct VoteRows {
    /// 16 columns: see `write`.
    pub participations: Vec<Value>,
    /// transfer_id, credited, position, bank, account, amount_cents.
    pub payers: Vec<Value>,
    /// transfer_id, position, account, amount_cents.
    pub legs: Vec<Value>,
    /// Holds: (hold id, account, amount, transfer id).
    /// (id, account, amount, transfer, initiator: None for a refund's).
    pub holds: Vec<(String, String, i64, String, Option<String>)>,
    /// Consent uses: (transfer id, position, consent, amount).
    pub consent_uses: Vec<(String, i64, String, i64)>,
}

impl VoteRows {
    /// Writes every row: participations, payers and legs, then the holds (each account's
    /// available balance must cover what the batch holds on it) and the consents' uses (each
    /// consent's total must cover them), all or an error.
    pub(super) async fn write(&self, connection: &mut AnyConnection) -> Result<(), LedgerError> {
        let mut per_account: BTreeMap<&str, i64> = BTreeMap::new();
        for (_, account, amount, _, _) in &self.holds {
            let total = per_account.entry(account.as_str()).or_insert(0);
            *total = total.checked_add(*amount).ok_or(LedgerError::Overflow)?;
        }
        let held: Vec<Value> = per_account.iter().flat_map(|(account, amount)| [text(account), Value::Int(*amount)]).collect();
        let now = wall_clock_ms();
        let holds: Vec<Value> = self
            .holds
            .iter()
            .flat_map(|(id, account, amount, transfer, initiator)| {
                [text(id), text(account), Value::Int(*amount), text(transfer), Value::Int(now), Value::MaybeText(initiator.clone())]
            })
            .collect();
        let mut per_consent: BTreeMap<&str, i64> = BTreeMap::new();
        for (_, _, consent, amount) in &self.consent_uses {
            let total = per_consent.entry(consent.as_str()).or_insert(0);
            *total = total.checked_add(*amount).ok_or(LedgerError::Overflow)?;
        }
        let used: Vec<Value> = per_consent.iter().flat_map(|(consent, amount)| [text(consent), Value::Int(*amount)]).collect();
        let uses: Vec<Value> = self
            .consent_uses
            .iter()
            .flat_map(|(transfer, position, consent, amount)| [text(transfer), Value::Int(*position), text(consent), Value::Int(*amount)])
            .collect();
        // An account whose available balance does not cover what the batch holds on it, or a
        // consent whose total does not cover its uses, is not updated: one row short, and the
        // whole vote fails.
        write_all_checked(
            connection,
            &[
                Statement {
                    what: "participations",
                    head: "INSERT INTO participations (transfer_id, coordinator, kind, initiated_by, description, participants, status, \
                           reason, order_epoch, order_seq, order_position, created_at_ms, resolved_at_ms, refund_of, payer_bank, \
                           payer_account) VALUES ",
                    tail: "",
                    width: 16,
                    values: &self.participations,
                },
                Statement {
                    what: "participation payers",
                    head: "INSERT INTO participation_payers (transfer_id, credited, position, bank, account, amount_cents) VALUES ",
                    tail: "",
                    width: 6,
                    values: &self.payers,
                },
                Statement {
                    what: "participation legs",
                    head: "INSERT INTO participation_legs (transfer_id, position, account, amount_cents) VALUES ",
                    tail: "",
                    width: 4,
                    values: &self.legs,
                },
                Statement {
                    what: "holds within each account's available balance",
                    head: "UPDATE accounts SET held_cents = held_cents + v.column2 FROM (VALUES ",
                    tail: ") AS v WHERE accounts.number = v.column1 AND accounts.balance_cents - accounts.held_cents >= v.column2",
                    width: 2,
                    values: &held,
                },
                Statement {
                    what: "holds",
                    head: "INSERT INTO holds (id, account, amount_cents, transfer_id, status, created_at_ms, initiated_by) \
                           SELECT column1, column2, column3, column4, 'held', column5, column6 FROM (VALUES ",
                    tail: ") AS v",
                    width: 6,
                    values: &holds,
                },
                Statement {
                    what: "consents used within their totals",
                    head: "UPDATE consents SET used_cents = used_cents + v.column2 FROM (VALUES ",
                    tail: ") AS v WHERE consents.id = v.column1 AND consents.revoked_at_ms IS NULL \
                           AND consents.used_cents + v.column2 <= consents.max_total_cents",
                    width: 2,
                    values: &used,
                },
                Statement {
                    what: "consent uses",
                    head: "INSERT INTO consent_uses (transfer_id, position, consent_id, amount_cents, status) \
                           SELECT column1, column2, column3, column4, 'held' FROM (VALUES ",
                    tail: ") AS v",
                    width: 4,
                    values: &uses,
                },
            ],
        )
        .await
    }
}

/// Resolves prepared participations: releases their holds and consents' uses (given back on
/// an abort), posts each committed one's legs as one journal entry (an account's available
/// balance never below zero, a balance never past i64), and records each status.
/// `resolved`: (transfer id, commit, kind, description), each id once.
pub(super) async fn resolve(connection: &mut AnyConnection, resolved: &[(String, bool, String, String)]) -> Result<(), LedgerError> {
    if resolved.is_empty() {
        return Ok(());
    }
    let now = wall_clock_ms();
    let ids: Vec<&str> = resolved.iter().map(|(id, ..)| id.as_str()).collect();
    let committed: Vec<&str> = resolved.iter().filter(|(_, commit, ..)| *commit).map(|(id, ..)| id.as_str()).collect();
    let aborted: Vec<&str> = resolved.iter().filter(|(_, commit, ..)| !*commit).map(|(id, ..)| id.as_str()).collect();

    // Holds: released on the account, then marked posted or released.
    let holds: Vec<(String, String, i64)> = lookup(
        connection,
        "SELECT h.id, h.account, h.amount_cents FROM (VALUES ",
        ") AS v JOIN holds h ON h.transfer_id = v.column1 WHERE h.status = 'held'",
        1,
        &ids,
    )
    .await?;
    let holds: BTreeMap<String, (String, i64)> = holds.into_iter().map(|(id, account, amount)| (id, (account, amount))).collect();
    let mut released: BTreeMap<&str, i64> = BTreeMap::new();
    for (account, amount) in holds.values() {
        let total = released.entry(account.as_str()).or_insert(0);
        *total = total.checked_add(*amount).ok_or(LedgerError::Overflow)?;
    }
    let values: Vec<Value> = released.iter().flat_map(|(account, amount)| [text(account), Value::Int(*amount)]).collect();
    let changed = write_rows(
        connection,
        "UPDATE accounts SET held_cents = held_cents - v.column2 FROM (VALUES ",
        ") AS v WHERE accounts.number = v.column1",
        2,
        &values,
    )
    .await?;
    expect_rows("holds released", changed, released.len())?;
    for (ids, status) in [(&committed, "posted"), (&aborted, "released")] {
        let values: Vec<Value> = ids.iter().map(|id| text(id)).collect();
        let head = format!("UPDATE holds SET status = '{status}', resolved_at_ms = {now} FROM (VALUES ");
        write_rows(connection, &head, ") AS v WHERE holds.transfer_id = v.column1 AND holds.status = 'held'", 1, &values).await?;
    }

    post_committed(connection, resolved, &committed, now).await?;

    // Consents: an abort gives back what its uses took; every use is then posted or released.
    if !aborted.is_empty() {
        let uses: Vec<(String, i64, String, i64)> = lookup(
            connection,
            "SELECT u.transfer_id, u.position, u.consent_id, u.amount_cents FROM (VALUES ",
            ") AS v JOIN consent_uses u ON u.transfer_id = v.column1 WHERE u.status = 'held'",
            1,
            &aborted,
        )
        .await?;
        let uses: BTreeMap<(String, i64), (String, i64)> =
            uses.into_iter().map(|(transfer, position, consent, amount)| ((transfer, position), (consent, amount))).collect();
        let mut given_back: BTreeMap<&str, i64> = BTreeMap::new();
        for (consent, amount) in uses.values() {
            *given_back.entry(consent.as_str()).or_insert(0) += amount;
        }
        let values: Vec<Value> = given_back.iter().flat_map(|(consent, amount)| [text(consent), Value::Int(*amount)]).collect();
        let changed = write_rows(
            connection,
            "UPDATE consents SET used_cents = used_cents - v.column2 FROM (VALUES ",
            ") AS v WHERE consents.id = v.column1",
            2,
            &values,
        )
        .await?;
        expect_rows("consent uses given back", changed, given_back.len())?;
    }
    for (ids, use_status, status) in [(&committed, "posted", "committed"), (&aborted, "released", "aborted")] {
        let values: Vec<Value> = ids.iter().map(|id| text(id)).collect();
        let head = format!("UPDATE consent_uses SET status = '{use_status}' FROM (VALUES ");
        write_rows(connection, &head, ") AS v WHERE consent_uses.transfer_id = v.column1 AND consent_uses.status = 'held'", 1, &values)
            .await?;
        let head = format!("UPDATE participations SET status = '{status}', resolved_at_ms = {now} FROM (VALUES ");
        let changed = write_rows(connection, &head, ") AS v WHERE participations.transfer_id = v.column1", 1, &values).await?;
        expect_rows("participations resolved", changed, ids.len())?;
    }
    Ok(())
}

/// Posts the legs each committed participation recorded at prepare as one journal entry per
/// transfer, with the checks of `ops::post_entry`, and links the origin's transfer to it.
async fn post_committed(
    connection: &mut AnyConnection,
    resolved: &[(String, bool, String, String)],
    committed: &[&str],
    now: i64,
) -> Result<(), LedgerError> {
    if committed.is_empty() {
        return Ok(());
    }
    let legs: Vec<(String, i64, String, i64)> = lookup(
        connection,
        "SELECT p.transfer_id, p.position, p.account, p.amount_cents FROM (VALUES ",
        ") AS v JOIN participation_legs p ON p.transfer_id = v.column1",
        1,
        committed,
    )
    .await?;
    let mut by_transfer: HashMap<String, BTreeMap<i64, (String, i64)>> = HashMap::new();
    for (transfer, position, account, amount) in legs {
        by_transfer.entry(transfer).or_default().insert(position, (account, amount));
    }
    let numbers: Vec<&str> = by_transfer
        .values()
        .flat_map(|legs| legs.values().map(|(account, _)| account.as_str()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if numbers.is_empty() {
        return Ok(());
    }
    // number -> (kind, balance, held, leg count before, leg count now); read after the holds
    // above were released, in this transaction.
    let rows: Vec<(String, String, i64, i64, i64)> = lookup(
        connection,
        "SELECT a.number, a.kind, a.balance_cents, a.held_cents, a.leg_count FROM (VALUES ",
        ") AS v JOIN accounts a ON a.number = v.column1",
        1,
        &numbers,
    )
    .await?;
    let mut accounts: HashMap<String, (String, i64, i64, i64, i64)> =
        rows.into_iter().map(|(number, kind, balance, held, legs)| (number, (kind, balance, held, legs, legs))).collect();
    let (mut entries, mut leg_rows, mut linked) = (Vec::new(), Vec::new(), Vec::new());
    for (id, _, kind, description) in resolved.iter().filter(|(_, commit, ..)| *commit) {
        let Some(legs) = by_transfer.get(id) else { continue };
        let amounts: Vec<(&str, i64)> = legs.values().map(|(account, amount)| (account.as_str(), *amount)).collect();
        let total = ringbank_domain::money::checked_sum(amounts.iter().map(|(_, amount)| *amount)).ok_or(LedgerError::Overflow)?;
        if total != 0 || amounts.iter().any(|(_, amount)| *amount == 0 || *amount == i64::MIN) {
            return Err(LedgerError::Invariant(format!("entry {id} legs do not balance: {amounts:?}")));
        }
        entries.extend([text(id), text(kind), text(description), text(""), Value::Int(now)]);
        let entry_kind = kind;
        for (position, (account, amount)) in amounts.iter().enumerate() {
            let Some((kind, balance, held, _, count)) = accounts.get_mut(*account) else {
                return Err(LedgerError::AccountNotFound((*account).to_string()));
            };
            let after = balance.checked_add(*amount);
            let covered = matches!(kind.as_str(), "cash" | "settlement") || *amount >= 0 || *balance - *held >= -*amount;
            let Some(after) = after.filter(|_| covered) else {
                return Err(explain_refused_leg(connection, account, *amount).await);
            };
            *balance = after;
            *count += 1;
            leg_rows.extend([
                text(id),
                int(position),
                text(account),
                Value::Int(*amount),
                Value::Int(*count),
                Value::Int(after),
                text(entry_kind),
                text(description),
                Value::Int(now),
            ]);
        }
        linked.push(text(id));
    }
    let values: Vec<Value> = accounts
        .iter()
        .filter(|(_, (_, _, _, before, now))| now != before)
        .flat_map(|(number, (_, balance, _, before, now))| [text(number), Value::Int(*balance), Value::Int(*now), Value::Int(*before)])
        .collect();
    write_all_checked(
        connection,
        &[
            Statement {
                what: "entries",
                head: "INSERT INTO entries (id, kind, description, initiated_by, created_at_ms) VALUES ",
                tail: "",
                width: 5,
                values: &entries,
            },
            Statement {
                what: "legs",
                head: "INSERT INTO legs (entry_id, position, account, amount_cents, account_leg_number, balance_after_cents, kind, \
                       description, created_at_ms) VALUES ",
                tail: "",
                width: 9,
                values: &leg_rows,
            },
            Statement {
                what: "accounts posted (with the leg count read above)",
                head: "UPDATE accounts SET balance_cents = v.column2, leg_count = v.column3 FROM (VALUES ",
                tail: ") AS v WHERE accounts.number = v.column1 AND accounts.leg_count = v.column4",
                width: 4,
                values: &values,
            },
        ],
    )
    .await?;
    write_rows(
        connection,
        "UPDATE transfers SET entry_id = transfers.id FROM (VALUES ",
        ") AS v WHERE transfers.id = v.column1",
        1,
        &linked,
    )
    .await?;
    Ok(())
}

/// Tombstones: aborts of transfers never prepared here, so a late prepare votes no. `values`:
/// (transfer id, coordinator, now) per row.
pub(super) async fn tombstones(connection: &mut AnyConnection, values: &[Value]) -> Result<(), LedgerError> {
    insert_all(
        connection,
        "tombstones",
        "INSERT INTO participations (transfer_id, coordinator, kind, initiated_by, description, participants, status, reason, \
         order_epoch, order_seq, order_position, created_at_ms, resolved_at_ms) \
         SELECT column1, column2, 'transfer', '', '', '', 'aborted', 'aborted before it was prepared here', 0, 0, 0, column3, column3 \
         FROM (VALUES ",
        ") AS v",
        3,
        values,
    )
    .await
}
