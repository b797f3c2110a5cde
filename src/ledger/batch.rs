//! The writer's fast path for local money movements (deposits, withdrawals, transfers and
//! payments with every leg at this bank). The writer is the only writer, so it keeps the
//! accounts these touch in memory (`AccountCache`): a batch of such jobs is validated there, one
//! job after the other with exactly the rules and refusals of `ops`, and persisted with a number
//! of statements that does not grow with the batch (one multi-row INSERT per table, one
//! multi-row UPDATE of the accounts touched), inside the writer's one transaction. The cache changes only after
//! that transaction commits.
//!
//! The UPDATE names each account's leg count and holds as the cache saw them, so a cache that
//! disagrees with the database updates fewer rows than it should: the batch is then refused
//! whole (the writer rolls it back and runs it again job by job) rather than written wrong.

use std::collections::{HashMap, HashSet};

use sqlx::AnyConnection;

use super::jobs::{self, StoredKey};
use super::ops::{posted, CASH_ACCOUNT};
use super::rows::{lookup, text, write_together, Statement, Value};
use super::{limits, Command, IdempotencyRecord, Job, LedgerError, Leg, Outcome, TransferKind};
use crate::clock::wall_clock_ms;
use ringbank_domain::{LimitSetting, LimitUsage, LimitWindow, Limits};

/// Accounts kept in memory at most; past this the cache starts again empty.
const CACHE_ACCOUNTS_MAX: usize = 65_536;

/// Whether the fast path runs this job.
pub(super) fn is_local_money(job: &Job) -> bool {
    matches!(job, Job::Deposit { .. } | Job::Withdraw { .. } | Job::Transfer(_) | Job::SubmitCross(_))
}

/// Whether the database may hold account state (balances, holds, holders) this job did not
/// change: every job that may change it empties the cache when it runs outside the fast path.
pub(super) fn leaves_accounts_alone(job: &Job) -> bool {
    matches!(
        job,
        Job::CreateCustomer { .. }
            | Job::CreateSession { .. }
            | Job::DeleteSession { .. }
            | Job::SubmitCross(_)
            | Job::MarkDelivered { .. }
            | Job::MarkRefused { .. }
            | Job::Purge { .. }
            | Job::Directory(_)
            | Job::Schedule(_)
            | Job::KeyClaim(_)
    )
}

/// An account as the database holds it after the last commit.
#[derive(Clone, Debug)]
struct CachedAccount {
    kind: String,
    balance_cents: i64,
    held_cents: i64,
    leg_count: i64,
    /// Every holder, accepted or not.
    holders: Vec<String>,
    /// Some holder has not accepted the account yet: it moves no money.
    pending: bool,
}

impl CachedAccount {
    fn is_customer(&self) -> bool {
        matches!(self.kind.as_str(), "individual" | "joint" | "company")
    }
}

/// The accounts the writer knows, exactly as committed, with their transfer-limit settings and
/// what each debited in a window: summing a day's debits per account and batch was the largest
/// cost of a busy bank, growing with every transfer of the day (profiled).
///
/// Limits live here under the same rule as balances: whatever writes them outside the fast
/// path (setting limits, holds placed or released by cross-bank jobs, which count against
/// limits) empties the cache (`leaves_accounts_alone`).
#[derive(Default)]
pub(super) struct AccountCache {
    accounts: HashMap<String, CachedAccount>,
    limit_settings: HashMap<String, LimitSetting>,
    /// Per window `(day start, night start)`, what each account debited in it.
    limit_usage: HashMap<WindowKey, HashMap<String, LimitUsage>>,
}

/// Windows whose usage is kept at most (a batch has one or two; older ones are never asked
/// for again).
const CACHE_WINDOWS_MAX: usize = 4;

impl AccountCache {
    pub(super) fn clear(&mut self) {
        self.accounts.clear();
        self.limit_settings.clear();
        self.limit_usage.clear();
    }

    /// Takes in what a committed batch changed.
    pub(super) fn apply(&mut self, changes: Changes) {
        if self.accounts.len() + changes.accounts.len() > CACHE_ACCOUNTS_MAX
            || self.limit_settings.len() + changes.limit_settings.len() > CACHE_ACCOUNTS_MAX
        {
            self.clear();
        }
        self.accounts.extend(changes.accounts);
        self.limit_settings.extend(changes.limit_settings);
        if !changes.limits.is_empty() {
            // The batch's debits were counted only in its own windows: a window it did not
            // touch (a request from before midnight or the night's start, say, still to come)
            // would be read again from the database.
            self.limit_usage.retain(|window, _| changes.limits.contains_key(window));
        }
        for (window, accounts) in changes.limits {
            if !self.limit_usage.contains_key(&window) && self.limit_usage.len() >= CACHE_WINDOWS_MAX {
                self.limit_usage.clear();
            }
            let usage = self.limit_usage.entry(window).or_default();
            if usage.len() + accounts.len() > CACHE_ACCOUNTS_MAX {
                usage.clear();
            }
            for (account, state) in accounts {
                // Usage is counted only while some limit applies: where none did, what the
                // batch debited was written but not counted here, so the cache forgets it.
                match state {
                    Some((_, used)) => usage.insert(account, used),
                    None => usage.remove(&account),
                };
            }
        }
    }
}

/// What a batch changed, for the cache once its transaction commits.
pub(super) struct Changes {
    accounts: HashMap<String, CachedAccount>,
    /// Limit settings read from the database by this batch.
    limit_settings: HashMap<String, LimitSetting>,
    /// The usage of every account whose limits the batch looked at, as the batch left it.
    limits: LimitsByWindow,
}

/// Runs `commands` (all local money movements) inside the open transaction. Returns one
/// result per command, in order, and the account changes to apply once committed. An error
/// means the transaction must be rolled back.
pub(super) async fn run(
    connection: &mut AnyConnection,
    bank: &str,
    cache: &AccountCache,
    commands: &[&Command],
) -> Result<(Vec<Result<Outcome, LedgerError>>, Changes), sqlx::Error> {
    let keys = load_keys(connection, commands).await?;
    let accounts = load_accounts(connection, cache, commands).await?;
    // What the UPDATE expects to find: the leg count and holds each account had before.
    let before: HashMap<String, (i64, i64)> =
        accounts.iter().filter_map(|(number, a)| a.as_ref().map(|a| (number.clone(), (a.leg_count, a.held_cents)))).collect();
    let (limits, limit_settings) = load_limits(connection, bank, cache, commands).await?;
    let mut batch = Batch { bank, accounts, rows: Rows::default(), keys, limits, now_ms: wall_clock_ms() };
    let mut results = Vec::with_capacity(commands.len());
    for command in commands {
        results.push(batch.run_one(command));
    }
    let updates = account_updates(&batch.accounts, &before, &batch.rows.touched)?;
    batch.rows.write(connection, &updates).await?;
    // Only the accounts written go back to the cache (the others were read and are unchanged).
    let touched: HashSet<&String> = batch.rows.touched.iter().collect();
    let accounts = batch
        .accounts
        .iter()
        .filter(|(number, _)| touched.contains(number))
        .filter_map(|(number, account)| account.clone().map(|a| (number.clone(), a)))
        .collect();
    Ok((results, Changes { accounts, limit_settings, limits: batch.limits }))
}

/// The stored idempotency records of the batch's keys.
async fn load_keys(connection: &mut AnyConnection, commands: &[&Command]) -> Result<HashMap<(String, String), StoredKey>, sqlx::Error> {
    let wanted: Vec<&str> =
        commands.iter().filter_map(|c| c.idempotency.as_ref()).flat_map(|r| [r.document.as_str(), r.key.as_str()]).collect();
    type Row = (String, String, String, Option<String>, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Row> = lookup(
        connection,
        "SELECT k.document, k.idem_key, k.request_hash, k.result_id, k.result_status, k.refusal_kind, k.refusal_detail \
         FROM (VALUES ",
        ") AS v JOIN idempotency_keys k ON k.document = v.column1 AND k.idem_key = v.column2",
        2,
        &wanted,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|(document, key, request_hash, result_id, result_status, refusal_kind, refusal_detail)| {
            ((document, key), StoredKey { request_hash, result_id, result_status, refusal_kind, refusal_detail })
        })
        .collect())
}

/// The accounts the batch names: from the cache, or read (None: no such account).
async fn load_accounts(
    connection: &mut AnyConnection,
    cache: &AccountCache,
    commands: &[&Command],
) -> Result<HashMap<String, Option<CachedAccount>>, sqlx::Error> {
    let mut accounts = HashMap::new();
    let (mut missing, mut seen): (Vec<&str>, HashSet<&str>) = (Vec::new(), HashSet::new());
    for number in commands.iter().flat_map(|c| account_numbers(&c.job)) {
        if !seen.insert(number) {
            continue;
        }
        match cache.accounts.get(number) {
            Some(cached) => {
                accounts.insert(number.to_string(), Some(cached.clone()));
            }
            None => missing.push(number),
        }
    }
    if missing.is_empty() {
        return Ok(accounts);
    }
    let rows: Vec<(String, String, i64, i64, i64)> = lookup(
        connection,
        "SELECT a.number, a.kind, a.balance_cents, a.held_cents, a.leg_count FROM (VALUES ",
        ") AS v JOIN accounts a ON a.number = v.column1",
        1,
        &missing,
    )
    .await?;
    let holders: Vec<(String, String, i64)> = lookup(
        connection,
        "SELECT h.account, h.document, h.accepted FROM (VALUES ",
        ") AS v JOIN account_holders h ON h.account = v.column1",
        1,
        &missing,
    )
    .await?;
    for number in missing {
        accounts.insert(number.to_string(), None);
    }
    for (number, kind, balance_cents, held_cents, leg_count) in rows {
        let account = CachedAccount { kind, balance_cents, held_cents, leg_count, holders: Vec::new(), pending: false };
        accounts.insert(number, Some(account));
    }
    for (number, document, accepted) in holders {
        if let Some(Some(account)) = accounts.get_mut(&number) {
            if !account.holders.contains(&document) {
                account.holders.push(document);
                account.pending |= accepted == 0;
            }
        }
    }
    Ok(accounts)
}

/// The transfer limits in force on the accounts the batch's transfers debit, and what each
/// debited already, per window of the batch (one, unless the batch straddles a local midnight
/// or the night's start or end): from the cache where it knows them, else read (as
/// `limits::in_force` reads them). Also returns the settings it read.
async fn load_limits(
    connection: &mut AnyConnection,
    bank: &str,
    cache: &AccountCache,
    commands: &[&Command],
) -> Result<(LimitsByWindow, HashMap<String, LimitSetting>), sqlx::Error> {
    let mut by_window: LimitsByWindow = HashMap::new();
    let mut read_settings: HashMap<String, LimitSetting> = HashMap::new();
    for command in commands {
        let (Job::Transfer(transfer) | Job::SubmitCross(transfer)) = &command.job else { continue };
        let Some(window) = &transfer.limit_window else { continue };
        let key = (window.day_start_ms, window.night_start_ms);
        for debit in transfer.debits.iter().filter(|leg| leg.bank == bank) {
            if by_window.get(&key).is_some_and(|known| known.contains_key(&debit.account)) {
                continue;
            }
            let setting = match cache.limit_settings.get(&debit.account).or_else(|| read_settings.get(&debit.account)) {
                Some(setting) => *setting,
                None => {
                    let setting = limits::stored_setting(connection, &debit.account).await?;
                    read_settings.insert(debit.account.clone(), setting);
                    setting
                }
            };
            let in_force = setting.effective(window.now_ms);
            let state = if in_force.any_applies(window) {
                let used = match cache.limit_usage.get(&key).and_then(|usage| usage.get(&debit.account)) {
                    Some(used) => *used,
                    None => limits::debited(connection, &debit.account, window).await?,
                };
                Some((in_force, used))
            } else {
                None
            };
            by_window.entry(key).or_default().insert(debit.account.clone(), state);
        }
        // The initiator's own limits, under a key no account number takes.
        let customer = customer_key(&transfer.initiated_by);
        if by_window.get(&key).is_some_and(|known| known.contains_key(&customer)) || !transfer.debits.iter().any(|leg| leg.bank == bank) {
            continue;
        }
        let setting = match cache.limit_settings.get(&customer).or_else(|| read_settings.get(&customer)) {
            Some(setting) => *setting,
            None => {
                let setting = limits::stored_customer_setting(connection, &transfer.initiated_by).await?;
                read_settings.insert(customer.clone(), setting);
                setting
            }
        };
        let in_force = setting.effective(window.now_ms);
        let state = if in_force.any_applies(window) {
            let used = match cache.limit_usage.get(&key).and_then(|usage| usage.get(&customer)) {
                Some(used) => *used,
                None => limits::customer_debited(connection, &transfer.initiated_by, window).await?,
            };
            Some((in_force, used))
        } else {
            None
        };
        by_window.entry(key).or_default().insert(customer, state);
    }
    Ok((by_window, read_settings))
}

/// The key of a customer's own limits among the accounts' in `LimitsByWindow` and the cache
/// (an account number has no space).
fn customer_key(document: &str) -> String {
    format!("customer {document}")
}

/// A limit window: `(day start, night start)`.
type WindowKey = (i64, Option<i64>);

/// Per window: per account, the limits in force and their usage (`None`: no limit applies).
type LimitsByWindow = HashMap<WindowKey, HashMap<String, Option<(Limits, LimitUsage)>>>;

/// The accounts a local money movement names.
fn account_numbers(job: &Job) -> Vec<&str> {
    match job {
        Job::Deposit { account, .. } | Job::Withdraw { account, .. } => vec![account.as_str(), CASH_ACCOUNT],
        // A cross-bank transfer's legs at other banks may name a number that is also an account
        // here: reading it too is harmless (only the legs at this bank are checked).
        Job::Transfer(transfer) | Job::SubmitCross(transfer) => {
            transfer.debits.iter().chain(&transfer.credits).map(|leg| leg.account.as_str()).collect()
        }
        _ => Vec::new(),
    }
}

/// The rows of `ACCOUNTS_UPDATE`: the new balance and leg count of every account touched, and
/// the leg count and holds the batch started from.
fn account_updates(
    accounts: &HashMap<String, Option<CachedAccount>>,
    before: &HashMap<String, (i64, i64)>,
    touched: &[String],
) -> Result<Vec<Value>, sqlx::Error> {
    let mut values = Vec::with_capacity(touched.len() * 5);
    for number in touched {
        let (Some(Some(after)), Some((leg_count_before, held_before))) = (accounts.get(number), before.get(number)) else {
            return Err(sqlx::Error::Protocol(format!("account {number} was posted to but never read")));
        };
        values.extend([
            text(number),
            Value::Int(after.balance_cents),
            Value::Int(after.leg_count),
            Value::Int(*leg_count_before),
            Value::Int(*held_before),
        ]);
    }
    Ok(values)
}

/// Writes each account's new balance and leg count where the account still has the leg count
/// and holds the batch started from: an account the cache got wrong is not updated, and the
/// batch fails for the row it did not write.
const ACCOUNTS_UPDATE: (&str, &str) = (
    "UPDATE accounts SET balance_cents = v.column2, leg_count = v.column3 FROM (VALUES ",
    ") AS v WHERE accounts.number = v.column1 AND accounts.leg_count = v.column4 AND accounts.held_cents = v.column5",
);

/// A batch being validated: the accounts it touches (None: not in the database) as the jobs
/// so far left them, and the rows to write.
struct Batch<'a> {
    /// This bank: a cross-bank transfer's legs here are checked, the others are not.
    bank: &'a str,
    accounts: HashMap<String, Option<CachedAccount>>,
    rows: Rows,
    /// Idempotency records: stored before the batch, or recorded by a job of this batch.
    keys: HashMap<(String, String), StoredKey>,
    /// Transfer limits and what the accounts debited, as the batch's transfers so far left them.
    limits: LimitsByWindow,
    now_ms: i64,
}

impl Batch<'_> {
    fn run_one(&mut self, command: &Command) -> Result<Outcome, LedgerError> {
        if let Some(record) = &command.idempotency {
            let stored = self.keys.get(&(record.document.clone(), record.key.clone())).cloned();
            if let Some(replay) = jobs::replay_of(record, stored)? {
                return Ok(replay);
            }
        }
        let result = self.post(&command.job);
        if let Some(record) = &command.idempotency {
            match &result {
                Ok(Outcome::Posted(posted)) => self.record_key(record, Some((posted.id.clone(), posted.status.as_str().to_string())), None),
                Err(error) => {
                    if let Some(kind) = error.refusal() {
                        self.record_key(record, None, Some((kind.as_str().to_string(), error.to_string())));
                    }
                }
                Ok(_) => {}
            }
        }
        result
    }

    /// Validates one job against the accounts as the batch left them and, if it is accepted,
    /// applies it to them and queues its rows. A refused job changes nothing.
    fn post(&mut self, job: &Job) -> Result<Outcome, LedgerError> {
        let id = match job {
            Job::Deposit { id, caller, account, amount_cents } => {
                self.require_holder(account, caller)?;
                let legs = [(account.as_str(), *amount_cents), (CASH_ACCOUNT, -amount_cents)];
                self.post_entry(id, "deposit", "deposit", caller, &legs)?;
                id
            }
            Job::Withdraw { id, caller, account, amount_cents } => {
                self.require_holder(account, caller)?;
                let legs = [(account.as_str(), -amount_cents), (CASH_ACCOUNT, *amount_cents)];
                self.post_entry(id, "withdrawal", "withdrawal", caller, &legs)?;
                id
            }
            Job::Transfer(transfer) => {
                for debit in &transfer.debits {
                    self.require_holder(&debit.account, &transfer.initiated_by)?;
                }
                for credit in &transfer.credits {
                    let account = self.customer_account(&credit.account)?;
                    if transfer.kind == TransferKind::Payment && account.kind != "company" {
                        return Err(LedgerError::NotACompanyAccount(credit.account.clone()));
                    }
                }
                if let Some(window) = &transfer.limit_window {
                    self.check_limits(transfer, window)?;
                }
                let legs: Vec<(&str, i64)> = transfer
                    .debits
                    .iter()
                    .map(|leg| (leg.account.as_str(), -leg.amount_cents))
                    .chain(transfer.credits.iter().map(|leg| (leg.account.as_str(), leg.amount_cents)))
                    .collect();
                self.post_entry(&transfer.id, transfer.kind.as_str(), &transfer.description, &transfer.initiated_by, &legs)?;
                self.rows.transfer(transfer, self.now_ms);
                if transfer.limit_window.is_some() {
                    self.count_limits(transfer);
                }
                &transfer.id
            }
            Job::SubmitCross(transfer) => return self.submit_cross(transfer),
            other => return Err(LedgerError::Invariant(format!("{other:?} is not a local money movement"))),
        };
        Ok(posted(id))
    }

    /// As `cross::submit`: a transfer with legs at other banks is stored as pending once its
    /// legs here pass (the debits' holders and limits, the credits' accounts); nothing moves
    /// until the two-phase commit decides it. The limits are checked again in the vote, where
    /// this bank's debits are serialized.
    fn submit_cross(&mut self, transfer: &super::LocalTransfer) -> Result<Outcome, LedgerError> {
        for debit in transfer.debits.iter().filter(|leg| leg.bank == self.bank) {
            self.require_holder(&debit.account, &transfer.initiated_by)?;
        }
        if let Some(window) = &transfer.limit_window {
            self.check_limits(transfer, window)?;
        }
        for credit in transfer.credits.iter().filter(|leg| leg.bank == self.bank) {
            let account = self.customer_account(&credit.account)?;
            if transfer.kind == TransferKind::Payment && account.kind != "company" {
                return Err(LedgerError::NotACompanyAccount(credit.account.clone()));
            }
        }
        self.rows.pending_transfer(transfer, self.bank, self.now_ms);
        Ok(Outcome::Posted(super::Posted { id: transfer.id.clone(), status: ringbank_domain::TransferStatus::Pending }))
    }

    /// As `limits::check_local`, against the usage the batch's earlier transfers left (the
    /// debits at this bank).
    fn check_limits(&self, transfer: &super::LocalTransfer, window: &LimitWindow) -> Result<(), LedgerError> {
        let known = self.limits.get(&(window.day_start_ms, window.night_start_ms));
        for debit in transfer.debits.iter().filter(|leg| leg.bank == self.bank) {
            let Some(Some((limits, used))) = known.and_then(|known| known.get(&debit.account)) else { continue };
            ringbank_domain::limits::check(&debit.account, limits, window, *used, debit.amount_cents)
                .map_err(LedgerError::LimitExceeded)?;
        }
        let total = transfer.debits.iter().filter(|leg| leg.bank == self.bank).map(|leg| leg.amount_cents).fold(0, i64::saturating_add);
        if let Some(Some((limits, used))) = known.and_then(|known| known.get(&customer_key(&transfer.initiated_by))) {
            ringbank_domain::limits::check_customer(&transfer.initiated_by, limits, window, *used, total)
                .map_err(LedgerError::LimitExceeded)?;
        }
        Ok(())
    }

    /// A posted transfer's debits count against the limits of every window of the batch (in
    /// one that does not cover it this only refuses more, never less) and are written.
    fn count_limits(&mut self, transfer: &super::LocalTransfer) {
        let customer = customer_key(&transfer.initiated_by);
        for debit in &transfer.debits {
            for known in self.limits.values_mut() {
                for key in [&debit.account, &customer] {
                    if let Some(Some((_, used))) = known.get_mut(key) {
                        *used = used.add(debit.amount_cents);
                    }
                }
            }
            self.rows.limit_debits.extend([
                text(&debit.account),
                text(&transfer.id),
                Value::Int(debit.amount_cents),
                Value::Int(self.now_ms),
                text(&transfer.initiated_by),
            ]);
        }
    }

    /// As `ops::require_holder`: not found unless `document` holds this customer account,
    /// pending while a holder has not accepted it.
    fn require_holder(&self, account: &str, document: &str) -> Result<(), LedgerError> {
        let found = self.accounts.get(account).and_then(Option::as_ref).filter(|a| a.holders.iter().any(|h| h == document));
        match found {
            None => Err(LedgerError::AccountNotFound(account.to_string())),
            Some(found) if found.pending => Err(LedgerError::AccountPending(account.to_string())),
            Some(_) => Ok(()),
        }
    }

    /// As `ops::customer_account_kind`.
    fn customer_account(&self, account: &str) -> Result<&CachedAccount, LedgerError> {
        match self.accounts.get(account).and_then(Option::as_ref).filter(|a| a.is_customer()) {
            None => Err(LedgerError::AccountNotFound(account.to_string())),
            Some(found) if found.pending => Err(LedgerError::AccountPending(account.to_string())),
            Some(found) => Ok(found),
        }
    }

    /// As `ops::post_entry`: every leg is checked against the balances the earlier legs left,
    /// and only if all pass are the accounts changed and the rows queued.
    fn post_entry(
        &mut self,
        entry_id: &str,
        kind: &str,
        description: &str,
        initiated_by: &str,
        legs: &[(&str, i64)],
    ) -> Result<(), LedgerError> {
        let total = ringbank_domain::money::checked_sum(legs.iter().map(|(_, amount)| *amount)).ok_or(LedgerError::Overflow)?;
        if total != 0 || legs.iter().any(|(_, amount)| *amount == 0 || *amount == i64::MIN) {
            return Err(LedgerError::Invariant(format!("entry {entry_id} legs do not balance: {legs:?}")));
        }
        // The legs of one entry may name an account twice: work on copies, in leg order.
        let mut after: Vec<(&str, CachedAccount)> = Vec::with_capacity(legs.len());
        let mut posted_legs = Vec::with_capacity(legs.len());
        for (account, amount) in legs {
            let current = match after.iter().rev().find(|(number, _)| number == account) {
                Some((_, state)) => Some(state.clone()),
                None => self.accounts.get(*account).cloned().flatten(),
            };
            let Some(mut state) = current else { return Err(LedgerError::AccountNotFound(account.to_string())) };
            post_leg(&mut state, account, *amount)?;
            posted_legs.push((*account, *amount, state.leg_count, state.balance_cents));
            after.push((account, state));
        }
        for (account, state) in after {
            self.accounts.insert(account.to_string(), Some(state));
        }
        self.rows.entry(entry_id, kind, description, initiated_by, &posted_legs, self.now_ms);
        Ok(())
    }

    fn record_key(&mut self, record: &IdempotencyRecord, result: Option<(String, String)>, refusal: Option<(String, String)>) {
        let stored = StoredKey {
            request_hash: record.request_hash.clone(),
            result_id: result.as_ref().map(|(id, _)| id.clone()),
            result_status: result.map(|(_, status)| status),
            refusal_kind: refusal.as_ref().map(|(kind, _)| kind.clone()),
            refusal_detail: refusal.map(|(_, detail)| detail),
        };
        self.rows.key(record, &stored, self.now_ms);
        self.keys.insert((record.document.clone(), record.key.clone()), stored);
    }
}

/// As `ops::post_leg`: moves `amount` on one account, refusing to take a customer account's
/// available balance below zero or any balance past i64's range.
fn post_leg(account: &mut CachedAccount, number: &str, amount: i64) -> Result<(), LedgerError> {
    let available = i128::from(account.balance_cents) - i128::from(account.held_cents);
    let covered = !account.is_customer() || available >= -i128::from(amount);
    match account.balance_cents.checked_add(amount) {
        Some(balance) if covered => {
            account.balance_cents = balance;
            account.leg_count += 1;
            Ok(())
        }
        _ if amount < 0 && available < -i128::from(amount) => Err(LedgerError::InsufficientFunds {
            account: number.to_string(),
            available_cents: i64::try_from(available).unwrap_or(i64::MIN),
            requested_cents: -amount,
        }),
        _ => Err(LedgerError::Overflow),
    }
}

/// The rows a batch writes, column by column in the order of each table's INSERT.
#[derive(Default)]
struct Rows {
    entries: Vec<Value>,
    legs: Vec<Value>,
    transfers: Vec<Value>,
    transfer_legs: Vec<Value>,
    /// Cross-bank transfers stored as pending, and their legs (with the consent a debit carries).
    pending_transfers: Vec<Value>,
    pending_legs: Vec<Value>,
    keys: Vec<Value>,
    limit_debits: Vec<Value>,
    /// Accounts whose balance changed, in the order they were first touched.
    touched: Vec<String>,
}

impl Rows {
    fn entry(&mut self, id: &str, kind: &str, description: &str, initiated_by: &str, legs: &[(&str, i64, i64, i64)], now_ms: i64) {
        self.entries.extend([text(id), text(kind), text(description), text(initiated_by), Value::Int(now_ms)]);
        for (position, (account, amount, leg_number, balance_after)) in legs.iter().enumerate() {
            let position = i64::try_from(position).unwrap_or(i64::MAX);
            self.legs.extend([
                text(id),
                Value::Int(position),
                text(account),
                Value::Int(*amount),
                Value::Int(*leg_number),
                Value::Int(*balance_after),
                text(kind),
                text(description),
                Value::Int(now_ms),
            ]);
            if !self.touched.iter().any(|t| t == account) {
                self.touched.push(account.to_string());
            }
        }
    }

    fn transfer(&mut self, transfer: &super::LocalTransfer, now_ms: i64) {
        self.transfers.extend([
            text(&transfer.id),
            text(transfer.kind.as_str()),
            text(&transfer.initiated_by),
            text(&transfer.description),
            text(&transfer.id),
            Value::Int(now_ms),
        ]);
        for (_, _, row) in leg_rows(transfer) {
            self.transfer_legs.extend(row);
        }
    }

    fn pending_transfer(&mut self, transfer: &super::LocalTransfer, bank: &str, now_ms: i64) {
        self.pending_transfers.extend([
            text(&transfer.id),
            text(transfer.kind.as_str()),
            text(&transfer.initiated_by),
            text(&transfer.description),
            Value::Int(now_ms),
            text(bank),
        ]);
        for (side, leg, row) in leg_rows(transfer) {
            self.pending_legs.extend(row);
            self.pending_legs.push(Value::MaybeText(if side == "debit" { leg.consent.clone() } else { None }));
        }
    }

    fn key(&mut self, record: &IdempotencyRecord, stored: &StoredKey, now_ms: i64) {
        self.keys.extend([
            text(&record.document),
            text(&record.key),
            text(&record.request_hash),
            Value::MaybeText(stored.result_id.clone()),
            Value::MaybeText(stored.result_status.clone()),
            Value::MaybeText(stored.refusal_kind.clone()),
            Value::MaybeText(stored.refusal_detail.clone()),
            Value::Int(now_ms),
        ]);
    }

    /// Inserts every row, then updates the accounts (`updates`, from the batch's final state),
    /// all in one round trip on SQLite (`write_together`).
    async fn write(&self, connection: &mut AnyConnection, updates: &[Value]) -> Result<(), sqlx::Error> {
        // Journal entries before their legs and transfers (foreign keys), transfers before
        // their legs.
        let statements: [(&str, &str, usize, &[Value]); 8] = [
            ("INSERT INTO entries (id, kind, description, initiated_by, created_at_ms) VALUES ", "", 5, &self.entries),
            (
                "INSERT INTO legs (entry_id, position, account, amount_cents, account_leg_number, balance_after_cents, kind, \
                 description, created_at_ms) VALUES ",
                "",
                9,
                &self.legs,
            ),
            (
                "INSERT INTO transfers (id, kind, initiated_by, description, status, reason, entry_id, created_at_ms) \
                 SELECT column1, column2, column3, column4, 'committed', NULL, column5, column6 FROM (VALUES ",
                ") AS v",
                6,
                &self.transfers,
            ),
            ("INSERT INTO transfer_legs (transfer_id, position, side, bank, account, amount_cents) VALUES ", "", 6, &self.transfer_legs),
            (
                "INSERT INTO transfers (id, kind, initiated_by, description, status, reason, entry_id, created_at_ms, origin) \
                 SELECT column1, column2, column3, column4, 'pending', NULL, NULL, column5, column6 FROM (VALUES ",
                ") AS v",
                6,
                &self.pending_transfers,
            ),
            (
                "INSERT INTO transfer_legs (transfer_id, position, side, bank, account, amount_cents, consent) VALUES ",
                "",
                7,
                &self.pending_legs,
            ),
            (
                "INSERT INTO idempotency_keys (document, idem_key, request_hash, result_id, result_status, refusal_kind, \
                 refusal_detail, created_at_ms, status_code, response_body) \
                 SELECT column1, column2, column3, column4, column5, column6, column7, column8, 0, '' FROM (VALUES ",
                ") AS v",
                8,
                &self.keys,
            ),
            ("INSERT INTO limit_debits (account, transfer_id, amount_cents, at_ms, initiated_by) VALUES ", "", 5, &self.limit_debits),
        ];
        let mut all: Vec<Statement<'_>> = statements
            .into_iter()
            .map(|(head, tail, width, values)| Statement {
                what: head.split_whitespace().nth(2).unwrap_or(head),
                head,
                tail,
                width,
                values,
            })
            .collect();
        all.push(Statement {
            what: "accounts (their leg count and holds as the writer's cache has them)",
            head: ACCOUNTS_UPDATE.0,
            tail: ACCOUNTS_UPDATE.1,
            width: 5,
            values: updates,
        });
        Ok(write_together(connection, &all).await?)
    }
}

/// A transfer's legs, debits first, each with its side and the columns `transfer_legs` and
/// `pending_legs` share: transfer id, position, side, bank, account, amount.
fn leg_rows(transfer: &super::LocalTransfer) -> impl Iterator<Item = (&'static str, &Leg, [Value; 6])> + '_ {
    let sides = transfer.debits.iter().map(|leg| ("debit", leg)).chain(transfer.credits.iter().map(|leg| ("credit", leg)));
    sides.enumerate().map(|(position, (side, leg))| {
        let row = [
            text(&transfer.id),
            Value::Int(i64::try_from(position).unwrap_or(i64::MAX)),
            text(side),
            text(&leg.bank),
            text(&leg.account),
            Value::Int(leg.amount_cents),
        ];
        (side, leg, row)
    })
}
