//! Transfer limits at the ledger (the rules are `ringbank_domain::limits`). They are checked
//! where the account's debits are serialized, so concurrent transfers cannot pass a limit
//! together: in the writer, for local transfers and payments (`ops::local_transfer`, and the
//! fast path in `batch`, which reads the same rows with `in_force`), and in the participant
//! core's vote for every cross-bank debit at this bank, the origin's own customers and debits
//! other banks ask for under a consent alike (`cross::prepare`, through `Accounts::limits`).
//!
//! A customer may also set limits of their own over every account they hold here
//! (`customer_limits`): a debit must fit its account's limits and its initiator's. What a
//! customer used is what the debits they initiated took (`initiated_by` on both tables below),
//! from any account; a joint account's debit counts for the holder who made it.
//!
//! What an account debited counts from two places: `limit_debits` (one row per local debit,
//! written with it) and `holds` (cross-bank debits, from the vote on; a released hold no longer
//! counts; nor does the hold of a refund, which limits do not apply to). Deposits and withdrawals
//! at the bank are not transfers and count for nothing.

use ringbank_domain::{LimitSetting, LimitUsage, LimitWindow, Limits};
use sqlx::AnyConnection;

use super::{Ledger, LedgerError, Outcome};
use crate::clock::wall_clock_ms;

/// Reads older than this are purged from `limit_debits` (longer than any day or night).
pub const KEEP_DEBITS_MS: i64 = 3 * 24 * 3_600_000;

/// Whose limits: an account's (any of its holders sets them), or a customer's own, over every
/// account they hold here (only they set them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitSubject {
    Account(String),
    Customer(String),
}

/// A customer's request to change an account's limits, or their own.
#[derive(Clone, Debug)]
pub struct SetLimits {
    pub caller: String,
    pub subject: LimitSubject,
    pub wanted: Limits,
    pub now_ms: i64,
    pub raise_delay_ms: i64,
}

/// An account's limits, or a customer's, as stored, for the customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitsView {
    pub subject: LimitSubject,
    pub setting: LimitSetting,
}

type SettingRow = (String, Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<i64>);

fn setting_of(row: &SettingRow) -> LimitSetting {
    let (_, per_transfer, daily, night, pending_per_transfer, pending_daily, pending_night, raise_at) = *row;
    let current = Limits { per_transfer_cents: per_transfer, daily_cents: daily, night_cents: night };
    let pending = raise_at
        .map(|at| (Limits { per_transfer_cents: pending_per_transfer, daily_cents: pending_daily, night_cents: pending_night }, at));
    LimitSetting { current, pending }
}

const SETTING_COLUMNS: &str = "account, per_transfer_cents, daily_cents, night_cents, pending_per_transfer_cents, \
     pending_daily_cents, pending_night_cents, raise_at_ms";

/// The stored setting of `account` (the defaults if it has none).
pub(super) async fn setting(connection: &mut AnyConnection, account: &str) -> Result<LimitSetting, LedgerError> {
    Ok(stored_setting(connection, account).await?)
}

/// As `setting`, with the database's own error (the writer's batch tells storage faults apart).
pub(super) async fn stored_setting(connection: &mut AnyConnection, account: &str) -> Result<LimitSetting, sqlx::Error> {
    let sql = format!("SELECT {SETTING_COLUMNS} FROM account_limits WHERE account = $1");
    let row: Option<SettingRow> = sqlx::query_as(&sql).bind(account).fetch_optional(&mut *connection).await?;
    Ok(row.as_ref().map(setting_of).unwrap_or_default())
}

/// What `account` debited in `window`'s day and night (local debits and cross-bank holds not
/// released).
pub(super) async fn usage(connection: &mut AnyConnection, account: &str, window: &LimitWindow) -> Result<LimitUsage, LedgerError> {
    Ok(debited(connection, account, window).await?)
}

/// As `usage`, with the database's own error (the writer's batch tells storage faults apart).
pub(super) async fn debited(connection: &mut AnyConnection, account: &str, window: &LimitWindow) -> Result<LimitUsage, sqlx::Error> {
    // A refund's hold counts for nobody (its initiator is not written either).
    debited_where(connection, "account", account, NOT_A_REFUND, window).await
}

/// What the rows of `limit_debits` and the holds not released whose `column` is `key` took in
/// `window`'s day and night (`holds_filter`: more conditions on the holds).
async fn debited_where(
    connection: &mut AnyConnection,
    column: &str,
    key: &str,
    holds_filter: &str,
    window: &LimitWindow,
) -> Result<LimitUsage, sqlx::Error> {
    let night = window.night_start_ms.unwrap_or(i64::MAX);
    let mut usage = LimitUsage::default();
    for sql in [
        format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN at_ms >= $2 THEN amount_cents ELSE 0 END), 0) AS BIGINT), \
                    CAST(COALESCE(SUM(CASE WHEN at_ms >= $3 THEN amount_cents ELSE 0 END), 0) AS BIGINT) \
             FROM limit_debits WHERE {column} = $1 AND at_ms >= $4"
        ),
        format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN created_at_ms >= $2 THEN amount_cents ELSE 0 END), 0) AS BIGINT), \
                    CAST(COALESCE(SUM(CASE WHEN created_at_ms >= $3 THEN amount_cents ELSE 0 END), 0) AS BIGINT) \
             FROM holds WHERE {column} = $1 AND created_at_ms >= $4 AND status <> 'released' {holds_filter}"
        ),
    ] {
        let (today, tonight): (i64, i64) = sqlx::query_as(&sql)
            .bind(key)
            .bind(window.day_start_ms)
            .bind(night)
            .bind(window.earliest_ms())
            .fetch_one(&mut *connection)
            .await?;
        usage =
            LimitUsage { today_cents: usage.today_cents.saturating_add(today), tonight_cents: usage.tonight_cents.saturating_add(tonight) };
    }
    Ok(usage)
}

const CUSTOMER_COLUMNS: &str = "document, per_transfer_cents, daily_cents, night_cents, pending_per_transfer_cents, \
     pending_daily_cents, pending_night_cents, raise_at_ms";

/// A customer's own stored setting (no limit at all if they set none).
pub(super) async fn stored_customer_setting(connection: &mut AnyConnection, document: &str) -> Result<LimitSetting, sqlx::Error> {
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customer_limits WHERE document = $1");
    let row: Option<SettingRow> = sqlx::query_as(&sql).bind(document).fetch_optional(&mut *connection).await?;
    Ok(row.as_ref().map(setting_of).unwrap_or(LimitSetting::with(Limits::NONE)))
}

/// What the debits `document` initiated here took in `window`'s day and night, from any
/// account (local debits and cross-bank holds not released; refunds are not written with an
/// initiator).
pub(super) async fn customer_debited(
    connection: &mut AnyConnection,
    document: &str,
    window: &LimitWindow,
) -> Result<LimitUsage, sqlx::Error> {
    debited_where(connection, "initiated_by", document, "", window).await
}

/// The customer's own limits in force in `window` and what they used of them; `None` when
/// none applies.
pub(super) async fn customer_in_force(
    connection: &mut AnyConnection,
    document: &str,
    window: &LimitWindow,
) -> Result<Option<(Limits, LimitUsage)>, sqlx::Error> {
    let limits = stored_customer_setting(connection, document).await?.effective(window.now_ms);
    if !limits.any_applies(window) {
        return Ok(None);
    }
    Ok(Some((limits, customer_debited(connection, document, window).await?)))
}

/// The limits in force on `account` in `window` and what it used of them; `None` when no limit
/// applies (nothing else is read then).
pub(super) async fn in_force(
    connection: &mut AnyConnection,
    account: &str,
    window: &LimitWindow,
) -> Result<Option<(Limits, LimitUsage)>, LedgerError> {
    let limits = setting(connection, account).await?.effective(window.now_ms);
    if !limits.any_applies(window) {
        return Ok(None);
    }
    Ok(Some((limits, usage(connection, account, window).await?)))
}

/// Whose limits a many-key read (`in_force_many`) is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    /// Accounts, by number: their stored setting or the defaults; a refund's hold counts for none.
    Account,
    /// Customers' own limits, by document: none unless they set some; their usage is what the
    /// debits they initiated took (`initiated_by`, which a refund's hold does not carry).
    Customer,
}

impl Owner {
    fn settings_head(self) -> String {
        match self {
            Owner::Account => format!("SELECT {SETTING_COLUMNS} FROM account_limits WHERE account IN (VALUES "),
            Owner::Customer => format!("SELECT {CUSTOMER_COLUMNS} FROM customer_limits WHERE document IN (VALUES "),
        }
    }

    fn unset(self) -> LimitSetting {
        match self {
            Owner::Account => LimitSetting::default(),
            Owner::Customer => LimitSetting::with(Limits::NONE),
        }
    }

    fn usage_column(self) -> &'static str {
        match self {
            Owner::Account => "account",
            Owner::Customer => "initiated_by",
        }
    }

    fn holds_filter(self) -> &'static str {
        match self {
            Owner::Account => NOT_A_REFUND,
            Owner::Customer => "",
        }
    }
}

/// Holds of refunds count for no account's limits.
const NOT_A_REFUND: &str = "AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.id = holds.transfer_id AND t.refund_of IS NOT NULL)";

/// As `in_force` (or `customer_in_force`) for several accounts (or customers) at once: a
/// participant's vote on a whole prepare, in three statements whatever their number: the
/// settings, then what those that have a limit in force debited and hold. Keys with no limit
/// in force are left out.
pub(super) async fn in_force_many(
    connection: &mut AnyConnection,
    owner: Owner,
    keys: &[&str],
    window: &LimitWindow,
) -> Result<std::collections::HashMap<String, (Limits, LimitUsage)>, LedgerError> {
    use std::collections::HashMap;
    let mut found = HashMap::new();
    if keys.is_empty() {
        return Ok(found);
    }
    let rows: Vec<SettingRow> = super::rows::lookup(connection, &owner.settings_head(), ")", 1, keys).await?;
    let stored: HashMap<String, LimitSetting> = rows.iter().map(|row| (row.0.clone(), setting_of(row))).collect();
    let mut applying: Vec<&str> = Vec::new();
    for key in keys {
        let limits = stored.get(*key).copied().unwrap_or_else(|| owner.unset()).effective(window.now_ms);
        if limits.any_applies(window) {
            found.insert((*key).to_string(), (limits, LimitUsage::default()));
            applying.push(key);
        }
    }
    if applying.is_empty() {
        return Ok(found);
    }
    let (day, night, earliest) = (window.day_start_ms, window.night_start_ms.unwrap_or(i64::MAX), window.earliest_ms());
    let (column, holds_filter) = (owner.usage_column(), owner.holds_filter());
    let local = format!(
        "SELECT {column}, CAST(COALESCE(SUM(CASE WHEN at_ms >= {day} THEN amount_cents ELSE 0 END), 0) AS BIGINT), \
                CAST(COALESCE(SUM(CASE WHEN at_ms >= {night} THEN amount_cents ELSE 0 END), 0) AS BIGINT) \
         FROM limit_debits WHERE at_ms >= {earliest} AND {column} IN (VALUES "
    );
    let held = format!(
        "SELECT {column}, CAST(COALESCE(SUM(CASE WHEN created_at_ms >= {day} THEN amount_cents ELSE 0 END), 0) AS BIGINT), \
                CAST(COALESCE(SUM(CASE WHEN created_at_ms >= {night} THEN amount_cents ELSE 0 END), 0) AS BIGINT) \
         FROM holds WHERE created_at_ms >= {earliest} AND status <> 'released' {holds_filter} AND {column} IN (VALUES "
    );
    let tail = format!(") GROUP BY {column}");
    for head in [local, held] {
        // One row per key (IN ignores the repeated keys a lookup pads with).
        let rows: Vec<(String, i64, i64)> = super::rows::lookup(connection, &head, &tail, 1, &applying).await?;
        for (key, today, tonight) in rows {
            if let Some((_, used)) = found.get_mut(&key) {
                *used = LimitUsage {
                    today_cents: used.today_cents.saturating_add(today),
                    tonight_cents: used.tonight_cents.saturating_add(tonight),
                };
            }
        }
    }
    Ok(found)
}

/// Checks the local debits `(account, amount)` of one transfer against their accounts' limits
/// (each account appears once: a transfer names an account once), then their sum against the
/// initiator's own limits.
pub(super) async fn check_local(
    connection: &mut AnyConnection,
    debits: &[(&str, i64)],
    initiator: &str,
    window: &LimitWindow,
) -> Result<(), LedgerError> {
    for (account, amount) in debits {
        if let Some((limits, used)) = in_force(connection, account, window).await? {
            ringbank_domain::limits::check(account, &limits, window, used, *amount).map_err(LedgerError::LimitExceeded)?;
        }
    }
    let total = debits.iter().map(|(_, amount)| *amount).fold(0, i64::saturating_add);
    if total > 0 {
        if let Some((limits, used)) = customer_in_force(connection, initiator, window).await? {
            ringbank_domain::limits::check_customer(initiator, &limits, window, used, total).map_err(LedgerError::LimitExceeded)?;
        }
    }
    Ok(())
}

/// Records a local transfer's debits, counted against later transfers' limits.
pub(super) async fn record_local(
    connection: &mut AnyConnection,
    transfer_id: &str,
    debits: &[(&str, i64)],
    initiator: &str,
    at_ms: i64,
) -> Result<(), LedgerError> {
    for (account, amount) in debits {
        sqlx::query("INSERT INTO limit_debits (account, transfer_id, amount_cents, at_ms, initiated_by) VALUES ($1, $2, $3, $4, $5)")
            .bind(*account)
            .bind(transfer_id)
            .bind(*amount)
            .bind(at_ms)
            .bind(initiator)
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// Stores a customer's change of an account's limits, or of their own: lowerings at once,
/// raises after the delay.
pub(super) async fn set(connection: &mut AnyConnection, job: &SetLimits) -> Result<Outcome, LedgerError> {
    job.wanted.check_shape().map_err(LedgerError::InvalidLimits)?;
    let (table, key_column, key, old) = match &job.subject {
        LimitSubject::Account(account) => {
            let held: Option<(String,)> = sqlx::query_as("SELECT account FROM account_holders WHERE account = $1 AND document = $2")
                .bind(account)
                .bind(&job.caller)
                .fetch_optional(&mut *connection)
                .await?;
            held.ok_or_else(|| LedgerError::AccountNotFound(account.clone()))?;
            ("account_limits", "account", account, setting(connection, account).await?)
        }
        // Only the customer changes their own limits.
        LimitSubject::Customer(document) if *document == job.caller => {
            ("customer_limits", "document", document, stored_customer_setting(connection, document).await?)
        }
        LimitSubject::Customer(document) => return Err(LedgerError::UnknownCustomer(document.clone())),
    };
    let new = old.change(job.wanted, job.now_ms, job.raise_delay_ms);
    let pending = new.pending.map(|(limits, _)| limits).unwrap_or(Limits::NONE);
    sqlx::query(&format!("DELETE FROM {table} WHERE {key_column} = $1")).bind(key).execute(&mut *connection).await?;
    sqlx::query(&format!(
        "INSERT INTO {table} ({key_column}, per_transfer_cents, daily_cents, night_cents, pending_per_transfer_cents, \
         pending_daily_cents, pending_night_cents, raise_at_ms, updated_by, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(key)
    .bind(new.current.per_transfer_cents)
    .bind(new.current.daily_cents)
    .bind(new.current.night_cents)
    .bind(pending.per_transfer_cents)
    .bind(pending.daily_cents)
    .bind(pending.night_cents)
    .bind(new.pending.map(|(_, at)| at))
    .bind(&job.caller)
    .bind(wall_clock_ms())
    .execute(&mut *connection)
    .await?;
    Ok(Outcome::Limits(LimitsView { subject: job.subject.clone(), setting: new }))
}

impl Ledger {
    /// The limits setting of an account `document` holds (None: not held by them).
    pub async fn limits_for(&self, account: &str, document: &str) -> Result<Option<LimitsView>, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        let held: Option<(String,)> = sqlx::query_as("SELECT account FROM account_holders WHERE account = $1 AND document = $2")
            .bind(account)
            .bind(document)
            .fetch_optional(&mut *connection)
            .await?;
        if held.is_none() {
            return Ok(None);
        }
        Ok(Some(LimitsView { subject: LimitSubject::Account(account.to_string()), setting: setting(&mut connection, account).await? }))
    }

    /// A customer's own limits setting (no limit at all if they set none).
    pub async fn customer_limits(&self, document: &str) -> Result<LimitsView, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        let setting = stored_customer_setting(&mut connection, document).await?;
        Ok(LimitsView { subject: LimitSubject::Customer(document.to_string()), setting })
    }

    /// What the debits a customer initiated took in `window`'s day and night, from any account.
    pub async fn customer_usage(&self, document: &str, window: &LimitWindow) -> Result<LimitUsage, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        Ok(customer_debited(&mut connection, document, window).await?)
    }

    /// What an account debited in `window`'s day and night.
    pub async fn limit_usage(&self, account: &str, window: &LimitWindow) -> Result<LimitUsage, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        usage(&mut connection, account, window).await
    }
}
