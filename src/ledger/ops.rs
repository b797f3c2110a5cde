//! The write operations, each run inside the writer's transaction under its own savepoint.
//! Every money movement is one journal entry whose legs sum to zero; a customer account's
//! balance minus its holds never goes below zero (checked in the same UPDATE that moves it).

use sqlx::AnyConnection;

use super::queries;
use crate::clock::wall_clock_ms;
use ringbank_domain::TransferStatus;

use super::CustomerKind;

use super::{AccountKind, LedgerError, Leg, LocalTransfer, Outcome, Posted};

pub(super) const CASH_ACCOUNT: &str = "cash";
/// Attempts at drawing a free random account number before giving up.
const ACCOUNT_NUMBER_ATTEMPTS: usize = 16;

pub(super) async fn create_customer(
    connection: &mut AnyConnection,
    document: &str,
    kind: CustomerKind,
    name: &str,
    password_hash: &str,
) -> Result<Outcome, LedgerError> {
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT document FROM customers WHERE document = $1").bind(document).fetch_optional(&mut *connection).await?;
    if exists.is_some() {
        return Err(LedgerError::CustomerExists);
    }
    sqlx::query("INSERT INTO customers (document, kind, name, password_hash, created_at_ms) VALUES ($1, $2, $3, $4, $5)")
        .bind(document)
        .bind(kind.as_str())
        .bind(name)
        .bind(password_hash)
        .bind(wall_clock_ms())
        .execute(&mut *connection)
        .await?;
    Ok(Outcome::Done)
}

pub(super) async fn open_account(
    connection: &mut AnyConnection,
    bank: &str,
    caller: &str,
    caller_is_person: bool,
    kind: AccountKind,
    holders: &[String],
) -> Result<Outcome, LedgerError> {
    debug_assert!(holders.iter().any(|h| h == caller), "the caller is always a holder");
    match kind {
        AccountKind::Individual | AccountKind::Company => {
            if holders.len() != 1 {
                return Err(LedgerError::InvalidAccountKind(format!("an {} account has exactly one holder, the caller", kind.as_str())));
            }
            if caller_is_person != (kind == AccountKind::Individual) {
                return Err(LedgerError::InvalidAccountKind(if caller_is_person {
                    "a company account belongs to a company customer (CNPJ)".to_string()
                } else {
                    "individual and joint accounts belong to persons (CPF)".to_string()
                }));
            }
        }
        AccountKind::Joint => {
            if holders.len() < 2 {
                return Err(LedgerError::InvalidAccountKind("a joint account has two or more holders".into()));
            }
        }
    }
    for holder in holders {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT kind FROM customers WHERE document = $1").bind(holder).fetch_optional(&mut *connection).await?;
        match row {
            None => return Err(LedgerError::UnknownCustomer(holder.clone())),
            Some((customer_kind,)) if kind == AccountKind::Joint && customer_kind != CustomerKind::Person.as_str() => {
                return Err(LedgerError::InvalidAccountKind(format!("joint accounts are held by persons; {holder} is a company")));
            }
            Some(_) => {}
        }
    }
    if kind == AccountKind::Individual {
        let existing: Option<(String,)> = sqlx::query_as("SELECT number FROM accounts WHERE individual_document = $1")
            .bind(caller)
            .fetch_optional(&mut *connection)
            .await?;
        if existing.is_some() {
            return Err(LedgerError::IndividualAccountExists);
        }
    }
    let number = free_account_number(connection).await?;
    let individual_document = (kind == AccountKind::Individual).then_some(caller);
    sqlx::query("INSERT INTO accounts (number, kind, individual_document, created_at_ms) VALUES ($1, $2, $3, $4)")
        .bind(&number)
        .bind(kind.as_str())
        .bind(individual_document)
        .bind(wall_clock_ms())
        .execute(&mut *connection)
        .await?;
    // The caller consents by opening the account; every other holder accepts later.
    for holder in holders {
        sqlx::query("INSERT INTO account_holders (account, document, accepted) VALUES ($1, $2, $3)")
            .bind(&number)
            .bind(holder)
            .bind(i64::from(holder == caller))
            .execute(&mut *connection)
            .await?;
    }
    let view = queries::account_view(&mut *connection, bank, &number)
        .await?
        .ok_or_else(|| LedgerError::Invariant("account vanished after insert".into()))?;
    Ok(Outcome::Account(view))
}

/// Draws random 8-digit account numbers until one is free.
async fn free_account_number(connection: &mut AnyConnection) -> Result<String, LedgerError> {
    for _ in 0..ACCOUNT_NUMBER_ATTEMPTS {
        let candidate = format!("{}", rand::random::<u32>() % 90_000_000 + 10_000_000);
        let taken: Option<(String,)> =
            sqlx::query_as("SELECT number FROM accounts WHERE number = $1").bind(&candidate).fetch_optional(&mut *connection).await?;
        if taken.is_none() {
            return Ok(candidate);
        }
    }
    Err(LedgerError::Invariant("no free account number found".into()))
}

/// Fails with AccountNotFound unless `account` is a customer account held by `document`
/// (an account the caller does not hold looks exactly like one that does not exist), and with
/// AccountPending while a co-holder has not accepted it (it moves no money until then).
pub(super) async fn require_holder(connection: &mut AnyConnection, account: &str, document: &str) -> Result<(), LedgerError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT account FROM account_holders WHERE account = $1 AND document = $2")
        .bind(account)
        .bind(document)
        .fetch_optional(&mut *connection)
        .await?;
    row.ok_or_else(|| LedgerError::AccountNotFound(account.to_string()))?;
    require_consented(connection, account).await
}

/// The kind of a customer account that may move money, or AccountNotFound, or AccountPending.
pub(super) async fn customer_account_kind(connection: &mut AnyConnection, account: &str) -> Result<AccountKind, LedgerError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT kind FROM accounts WHERE number = $1 AND kind IN ('individual', 'joint', 'company')")
            .bind(account)
            .fetch_optional(&mut *connection)
            .await?;
    let (kind,) = row.ok_or_else(|| LedgerError::AccountNotFound(account.to_string()))?;
    let kind = kind.parse().map_err(|e| LedgerError::Invariant(format!("account {account}: {e}")))?;
    require_consented(connection, account).await?;
    Ok(kind)
}

/// AccountPending while a holder of `account` has not accepted it.
async fn require_consented(connection: &mut AnyConnection, account: &str) -> Result<(), LedgerError> {
    let pending: Option<(String,)> = sqlx::query_as("SELECT document FROM account_holders WHERE account = $1 AND accepted = 0 LIMIT 1")
        .bind(account)
        .fetch_optional(&mut *connection)
        .await?;
    match pending {
        Some(_) => Err(LedgerError::AccountPending(account.to_string())),
        None => Ok(()),
    }
}

/// A named co-holder accepts a joint account (accepting twice is the same as once).
pub(super) async fn accept_holding(
    connection: &mut AnyConnection,
    bank: &str,
    account: &str,
    document: &str,
) -> Result<Outcome, LedgerError> {
    let updated = sqlx::query("UPDATE account_holders SET accepted = 1 WHERE account = $1 AND document = $2")
        .bind(account)
        .bind(document)
        .execute(&mut *connection)
        .await?;
    if updated.rows_affected() == 0 {
        return Err(LedgerError::AccountNotFound(account.to_string()));
    }
    let view =
        queries::account_view(&mut *connection, bank, account).await?.ok_or_else(|| LedgerError::AccountNotFound(account.to_string()))?;
    Ok(Outcome::Account(view))
}

pub(super) async fn local_transfer(connection: &mut AnyConnection, transfer: &LocalTransfer) -> Result<Outcome, LedgerError> {
    for debit in &transfer.debits {
        require_holder(connection, &debit.account, &transfer.initiated_by).await?;
    }
    for credit in &transfer.credits {
        let kind = customer_account_kind(connection, &credit.account).await?;
        if transfer.kind == super::TransferKind::Payment && kind != AccountKind::Company {
            return Err(LedgerError::NotACompanyAccount(credit.account.clone()));
        }
    }
    let limited: Vec<(&str, i64)> = transfer.debits.iter().map(|leg| (leg.account.as_str(), leg.amount_cents)).collect();
    if let Some(window) = &transfer.limit_window {
        super::limits::check_local(connection, &limited, &transfer.initiated_by, window).await?;
    }
    let entry_id = transfer.id.as_str();
    let legs: Vec<(&str, i64)> = transfer
        .debits
        .iter()
        .map(|leg| (leg.account.as_str(), -leg.amount_cents))
        .chain(transfer.credits.iter().map(|leg| (leg.account.as_str(), leg.amount_cents)))
        .collect();
    post_entry(connection, entry_id, transfer.kind.as_str(), &transfer.description, &transfer.initiated_by, &legs).await?;
    sqlx::query(
        "INSERT INTO transfers (id, kind, initiated_by, description, status, reason, entry_id, created_at_ms) \
         VALUES ($1, $2, $3, $4, 'committed', NULL, $5, $6)",
    )
    .bind(&transfer.id)
    .bind(transfer.kind.as_str())
    .bind(&transfer.initiated_by)
    .bind(&transfer.description)
    .bind(entry_id)
    .bind(wall_clock_ms())
    .execute(&mut *connection)
    .await?;
    let sides = transfer.debits.iter().map(|leg| ("debit", leg)).chain(transfer.credits.iter().map(|leg| ("credit", leg)));
    for (position, (side, leg)) in sides.enumerate() {
        insert_transfer_leg(connection, &transfer.id, position, side, leg).await?;
    }
    if transfer.limit_window.is_some() {
        super::limits::record_local(connection, &transfer.id, &limited, &transfer.initiated_by, wall_clock_ms()).await?;
    }
    Ok(posted(&transfer.id))
}

pub(super) async fn insert_transfer_leg(
    connection: &mut AnyConnection,
    id: &str,
    position: usize,
    side: &str,
    leg: &Leg,
) -> Result<(), LedgerError> {
    sqlx::query("INSERT INTO transfer_legs (transfer_id, position, side, bank, account, amount_cents) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(side)
        .bind(&leg.bank)
        .bind(&leg.account)
        .bind(leg.amount_cents)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Writes one journal entry and posts its legs. The legs must sum to zero.
pub(super) async fn post_entry(
    connection: &mut AnyConnection,
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
    let now_ms = wall_clock_ms();
    sqlx::query("INSERT INTO entries (id, kind, description, initiated_by, created_at_ms) VALUES ($1, $2, $3, $4, $5)")
        .bind(entry_id)
        .bind(kind)
        .bind(description)
        .bind(initiated_by)
        .bind(now_ms)
        .execute(&mut *connection)
        .await?;
    let entry = EntryCopy { id: entry_id, kind, description, created_at_ms: now_ms };
    for (position, (account, amount)) in legs.iter().enumerate() {
        post_leg(connection, &entry, position, account, *amount).await?;
    }
    Ok(())
}

/// What a leg copies from its entry (migrations/20261202000058_statement_lines.sql).
struct EntryCopy<'a> {
    id: &'a str,
    kind: &'a str,
    description: &'a str,
    created_at_ms: i64,
}

/// Moves `amount` (signed: + credit, - debit) on one account, refusing to take a customer
/// account's available balance below zero or any balance past i64's range.
async fn post_leg(
    connection: &mut AnyConnection,
    entry: &EntryCopy<'_>,
    position: usize,
    account: &str,
    amount: i64,
) -> Result<(), LedgerError> {
    // Bounds computed here so the SQL never evaluates an expression that could overflow.
    let (lowest_before, highest_before) = if amount > 0 { (i64::MIN, i64::MAX - amount) } else { (i64::MIN - amount, i64::MAX) };
    let updated: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE accounts SET balance_cents = balance_cents + $1, leg_count = leg_count + 1 \
         WHERE number = $2 AND balance_cents BETWEEN $3 AND $4 \
           AND (kind IN ('cash', 'settlement') OR balance_cents - held_cents >= $5) \
         RETURNING balance_cents, leg_count",
    )
    .bind(amount)
    .bind(account)
    .bind(lowest_before)
    .bind(highest_before)
    .bind(-amount)
    .fetch_optional(&mut *connection)
    .await?;
    let Some((balance_after, leg_number)) = updated else {
        return Err(explain_refused_leg(connection, account, amount).await);
    };
    sqlx::query(
        "INSERT INTO legs (entry_id, position, account, amount_cents, account_leg_number, balance_after_cents, kind, description, \
         created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(entry.id)
    .bind(i64::try_from(position).unwrap_or(i64::MAX))
    .bind(account)
    .bind(amount)
    .bind(leg_number)
    .bind(balance_after)
    .bind(entry.kind)
    .bind(entry.description)
    .bind(entry.created_at_ms)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

pub(super) async fn explain_refused_leg(connection: &mut AnyConnection, account: &str, amount: i64) -> LedgerError {
    let row: Result<Option<(i64, i64)>, sqlx::Error> = sqlx::query_as("SELECT balance_cents, held_cents FROM accounts WHERE number = $1")
        .bind(account)
        .fetch_optional(&mut *connection)
        .await;
    match row {
        Err(error) => LedgerError::Database(error),
        Ok(None) => LedgerError::AccountNotFound(account.to_string()),
        Ok(Some((balance, held))) if amount < 0 && balance - held < -amount => {
            LedgerError::InsufficientFunds { account: account.to_string(), available_cents: balance - held, requested_cents: -amount }
        }
        Ok(Some(_)) => LedgerError::Overflow,
    }
}

/// A money movement committed here.
pub(super) fn posted(id: &str) -> Outcome {
    Outcome::Posted(Posted { id: id.to_string(), status: TransferStatus::Committed })
}
