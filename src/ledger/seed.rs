//! Synthetic history for a new bank, to measure the ledger at the size the performance issue
//! names (1M accounts, 10M journal entries) without opening a million accounts over HTTP.
//!
//! The history is consistent by construction, so the audit passes on it and the bank carries on
//! from it as from any other: customer k (a person, document `cpf_from_base(document_base + k)`)
//! holds individual account `account_base + k`, opened with a deposit of `DEPOSIT_CENTS`; then,
//! round after round, the two accounts of each pair (2m, 2m + 1) pay each other the pair's amount
//! in turn (2m pays in even rounds, 2m + 1 in odd ones), so every balance is known in closed form:
//! after an even round 2m holds D - a and 2m + 1 holds D + a, after an odd one both hold D. Every
//! entry has its legs, line numbers and running balances, and every transfer its request rows
//! (transfers, transfer_legs), as the writer would have stored them; ids are time-ordered and older
//! than any the bank makes (`tr_00...`, `dp_00...`), and the history spreads over the 30 days
//! before the seeding.
//!
//! All of it is one transaction: a seeding that fails leaves the database as it was. Only a new
//! bank (no customer, no entry) may be seeded. The big tables are filled by INSERT ... SELECT from
//! two small temporary tables (rounds, pairs), in the order of their primary keys; the rest is
//! multi-row inserts from here. Portable SQL: the same statements run on SQLite and PostgreSQL.

use std::time::Instant;

use sqlx::{AnyConnection, Executor};

use super::db::{open_pools, DatabaseLocation};
use super::rows::{bind, text, write_rows, Value};
use super::LedgerError;

/// Each synthetic account's opening deposit, in centavos (R$ 1,000.00).
pub const DEPOSIT_CENTS: i64 = 100_000;
/// History spreads over this many milliseconds before the seeding (30 days).
const HISTORY_MS: i64 = 30 * 24 * 3600 * 1000;
/// Rows generated here per multi-row insert batch (bounded memory).
const CHUNK: u64 = 20_000;
/// Ids are `tr_00` / `dp_00` and this plus the entry's number: fixed width, so their order is
/// their number's order, and older than any `new_id` (whose hex millisecond starts `01`).
const ID_NUMBER_BASE: i64 = 100_000_000_000;
/// Account numbers have 8 digits.
const ACCOUNT_NUMBER_MAX: u64 = 99_999_999;

/// What to seed: `accounts` accounts (an even number, paired) and `rounds` payments per pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedPlan {
    pub accounts: u64,
    pub rounds: u64,
    /// Customer k's CPF is `cpf_from_base(document_base + k)`.
    pub document_base: u32,
    /// Customer k's account number is `account_base + k`.
    pub account_base: u64,
}

impl SeedPlan {
    /// The plan with `accounts` accounts and as many rounds as fit in `entries` journal entries
    /// (one deposit per account, then one entry per pair per round).
    pub fn new(accounts: u64, entries: u64, document_base: u32, account_base: u64) -> Result<SeedPlan, String> {
        if accounts < 2 || accounts % 2 != 0 {
            return Err(format!("--accounts must be an even number of at least 2 (got {accounts})"));
        }
        if entries < accounts {
            return Err(format!("--entries must be at least --accounts ({accounts}): each account opens with a deposit (got {entries})"));
        }
        if account_base < 10_000_000 || account_base + accounts - 1 > ACCOUNT_NUMBER_MAX {
            return Err(format!(
                "account numbers {account_base}.. must have 8 digits: at most {} accounts from there",
                ACCOUNT_NUMBER_MAX.saturating_sub(account_base) + 1
            ));
        }
        if u64::from(document_base) + accounts > 999_999_999 {
            return Err(format!("documents from base {document_base}: too many accounts ({accounts})"));
        }
        let rounds = (entries - accounts) / (accounts / 2);
        if rounds > i32::MAX as u64 {
            return Err("too many rounds".into());
        }
        Ok(SeedPlan { accounts, rounds, document_base, account_base })
    }

    /// Journal entries the plan writes.
    pub fn entries(&self) -> u64 {
        self.accounts + self.rounds * (self.accounts / 2)
    }

    /// Customer k's document.
    pub fn document(&self, k: u64) -> String {
        ringbank_domain::document::cpf_from_base(self.document_base + k as u32)
    }

    /// Customer k's account.
    pub fn account(&self, k: u64) -> String {
        (self.account_base + k).to_string()
    }

    /// What pair m pays in each round, in centavos (1.00 to 9.99).
    fn amount(m: u64) -> i64 {
        100 + (m % 900) as i64
    }

    /// Account k's balance after the plan.
    pub fn final_balance(&self, k: u64) -> i64 {
        if self.rounds % 2 == 0 {
            return DEPOSIT_CENTS;
        }
        let amount = Self::amount(k / 2);
        if k % 2 == 0 {
            DEPOSIT_CENTS - amount
        } else {
            DEPOSIT_CENTS + amount
        }
    }
}

/// What a seeding wrote.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub accounts: u64,
    pub entries: u64,
    pub legs: u64,
    pub seconds: f64,
}

/// Seeds bank `bank`'s new database at `location` (creating it and running the migrations).
/// `password_hash` is every synthetic customer's stored password hash.
pub async fn seed(location: &DatabaseLocation, bank: &str, plan: SeedPlan, password_hash: &str) -> Result<SeedReport, LedgerError> {
    let started = Instant::now();
    let pools = open_pools(location, bank, 1).await?;
    // The write connection alone: SQLite changes the journal mode only with no other open.
    pools.read.close().await;
    let mut connection = pools.write.acquire().await?;
    let sqlite = connection.backend_name() == "SQLite";
    let (customers,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM customers").fetch_one(&mut *connection).await?;
    let (entries,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM entries").fetch_one(&mut *connection).await?;
    if customers != 0 || entries != 0 {
        return Err(LedgerError::Invariant(format!(
            "bank {bank}'s database already has {customers} customers and {entries} entries: only a new bank is seeded"
        )));
    }
    if sqlite {
        // One big transaction: a rollback journal writes new pages once (WAL would write them
        // twice, log then checkpoint). Foreign keys hold by construction (the audit checks).
        connection.execute("PRAGMA journal_mode = DELETE").await?;
        connection.execute("PRAGMA foreign_keys = OFF").await?;
        connection.execute("PRAGMA cache_size = -1048576").await?;
    }
    let result = fill(&mut connection, bank, plan, password_hash).await;
    if sqlite {
        connection.execute("PRAGMA foreign_keys = ON").await?;
        connection.execute("PRAGMA journal_mode = WAL").await?;
    }
    result?;
    drop(connection);
    pools.write.close().await;
    let entries = plan.entries();
    Ok(SeedReport { accounts: plan.accounts, entries, legs: 2 * entries, seconds: started.elapsed().as_secs_f64() })
}

async fn fill(connection: &mut AnyConnection, bank: &str, plan: SeedPlan, password_hash: &str) -> Result<(), LedgerError> {
    let now = crate::clock::wall_clock_ms();
    let start = now - HISTORY_MS;
    let step = (HISTORY_MS / i64::try_from(plan.entries()).unwrap_or(i64::MAX)).max(1);
    let n = plan.accounts;
    let half = n / 2;
    let int = |v: u64| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
    connection.execute("BEGIN").await?;
    let outcome = async {
        // Customers, accounts, holders, and the opening deposits with their legs.
        let mut k = 0;
        while k < n {
            let end = (k + CHUNK).min(n);
            let (mut customers, mut accounts, mut holders, mut entries, mut legs) = (vec![], vec![], vec![], vec![], vec![]);
            for k in k..end {
                let document = plan.document(k);
                let account = plan.account(k);
                let id = format!("dp_00{}", ID_NUMBER_BASE + k as i64);
                let at = start + k as i64 * step;
                customers.extend([
                    text(&document),
                    text("person"),
                    Value::Text(format!("Seed Customer {k}")),
                    text(password_hash),
                    Value::Int(start),
                ]);
                accounts.extend([
                    text(&account),
                    text("individual"),
                    text(&document),
                    Value::Int(plan.final_balance(k)),
                    int(plan.rounds + 1),
                    Value::Int(start),
                ]);
                holders.extend([text(&account), text(&document)]);
                entries.extend([text(&id), text("deposit"), text("deposit"), text(&document), Value::Int(at)]);
                legs.extend([
                    text(&id),
                    Value::Int(0),
                    text(&account),
                    Value::Int(DEPOSIT_CENTS),
                    Value::Int(1),
                    Value::Int(DEPOSIT_CENTS),
                    text("deposit"),
                    text("deposit"),
                    Value::Int(at),
                ]);
                let cash_line = k as i64 + 1;
                legs.extend([
                    text(&id),
                    Value::Int(1),
                    text("cash"),
                    Value::Int(-DEPOSIT_CENTS),
                    Value::Int(cash_line),
                    Value::Int(-DEPOSIT_CENTS * cash_line),
                    text("deposit"),
                    text("deposit"),
                    Value::Int(at),
                ]);
            }
            write_rows(connection, "INSERT INTO customers (document, kind, name, password_hash, created_at_ms) VALUES ", "", 5, &customers)
                .await?;
            write_rows(
                connection,
                "INSERT INTO accounts (number, kind, individual_document, balance_cents, leg_count, created_at_ms) VALUES ",
                "",
                6,
                &accounts,
            )
            .await?;
            write_rows(connection, "INSERT INTO account_holders (account, document) VALUES ", "", 2, &holders).await?;
            write_rows(connection, "INSERT INTO entries (id, kind, description, initiated_by, created_at_ms) VALUES ", "", 5, &entries)
                .await?;
            write_rows(
                connection,
                "INSERT INTO legs (entry_id, position, account, amount_cents, account_leg_number, balance_after_cents, kind, \
                 description, created_at_ms) VALUES ",
                "",
                9,
                &legs,
            )
            .await?;
            k = end;
        }
        let cash = sqlx::query("UPDATE accounts SET balance_cents = $1, leg_count = $2 WHERE number = 'cash' AND leg_count = 0")
            .bind(-DEPOSIT_CENTS * n as i64)
            .bind(n as i64)
            .execute(&mut *connection)
            .await?;
        if cash.rows_affected() != 1 {
            return Err(LedgerError::Invariant("the cash account is missing or already has lines".into()));
        }
        if plan.rounds == 0 {
            return Ok(());
        }
        // The rounds of payments, generated in the database from two small tables.
        connection.execute("CREATE TEMPORARY TABLE seed_rounds (i INTEGER PRIMARY KEY)").await?;
        connection
            .execute(
                "CREATE TEMPORARY TABLE seed_pairs (m INTEGER PRIMARY KEY, a0 TEXT NOT NULL, d0 TEXT NOT NULL, \
                 a1 TEXT NOT NULL, d1 TEXT NOT NULL, amount BIGINT NOT NULL)",
            )
            .await?;
        let rounds: Vec<Value> = (0..plan.rounds).map(int).collect();
        write_rows(connection, "INSERT INTO seed_rounds (i) VALUES ", "", 1, &rounds).await?;
        let mut m = 0;
        while m < half {
            let end = (m + CHUNK).min(half);
            let mut pairs = Vec::new();
            for m in m..end {
                pairs.extend([
                    int(m),
                    text(&plan.account(2 * m)),
                    text(&plan.document(2 * m)),
                    text(&plan.account(2 * m + 1)),
                    text(&plan.document(2 * m + 1)),
                    Value::Int(SeedPlan::amount(m)),
                ]);
            }
            write_rows(connection, "INSERT INTO seed_pairs (m, a0, d0, a1, d1, amount) VALUES ", "", 6, &pairs).await?;
            m = end;
        }
        // Entry g = n + i * half + m is pair m's payment in round i ($1 = the id number of the
        // first, $2 = half). No ORDER BY: a CROSS JOIN keeps its tables' order as the loops'
        // order on SQLite (rounds outside, pairs inside, both by primary key), which is the order
        // of the ids; a sort of tens of millions of rows would only cost.
        let first = ID_NUMBER_BASE + n as i64;
        let id = "'tr_00' || CAST($1 + r.i * $2 + p.m AS TEXT)";
        let payer = "CASE WHEN r.i % 2 = 0 THEN p.a0 ELSE p.a1 END";
        let payee = "CASE WHEN r.i % 2 = 0 THEN p.a1 ELSE p.a0 END";
        let payer_document = "CASE WHEN r.i % 2 = 0 THEN p.d0 ELSE p.d1 END";
        let at = "$3 + ($1 - $4 + r.i * $2 + p.m) * $5";
        let leg_at = "$4 + ($1 - $5 + r.i * $2 + p.m) * $6";
        let rounds_pairs = "FROM seed_rounds r CROSS JOIN seed_pairs p";
        let sides = "CROSS JOIN (SELECT 0 AS position UNION ALL SELECT 1 AS position) s";
        let (pairs, legs) = (plan.rounds * half, 2 * plan.rounds * half);
        let (first, half) = (Value::Int(first), Value::Int(half as i64));
        let times = [Value::Int(start), Value::Int(ID_NUMBER_BASE), Value::Int(step)];
        let mut with_times = vec![first.clone(), half.clone()];
        with_times.extend(times);
        generate(
            connection,
            &format!(
                "INSERT INTO entries (id, kind, description, initiated_by, created_at_ms) \
                 SELECT {id}, 'transfer', 'seed payment', {payer_document}, {at} {rounds_pairs}"
            ),
            &with_times,
            (pairs, "entries"),
        )
        .await?;
        generate(
            connection,
            &format!(
                "INSERT INTO legs (entry_id, position, account, amount_cents, account_leg_number, balance_after_cents, kind, \
                 description, created_at_ms) \
                 SELECT {id}, s.position, CASE WHEN s.position = 0 THEN {payer} ELSE {payee} END, \
                 CASE WHEN s.position = 0 THEN -p.amount ELSE p.amount END, r.i + 2, \
                 CASE WHEN r.i % 2 = 1 THEN $3 WHEN s.position = 0 THEN $3 - p.amount ELSE $3 + p.amount END, \
                 'transfer', 'seed payment', {leg_at} {rounds_pairs} {sides}"
            ),
            &[first.clone(), half.clone(), Value::Int(DEPOSIT_CENTS), Value::Int(start), Value::Int(ID_NUMBER_BASE), Value::Int(step)],
            (legs, "legs"),
        )
        .await?;
        generate(
            connection,
            &format!(
                "INSERT INTO transfers (id, kind, initiated_by, description, status, reason, entry_id, created_at_ms) \
                 SELECT {id}, 'transfer', {payer_document}, 'seed payment', 'committed', NULL, {id}, {at} {rounds_pairs}"
            ),
            &with_times,
            (pairs, "transfers"),
        )
        .await?;
        generate(
            connection,
            &format!(
                "INSERT INTO transfer_legs (transfer_id, position, side, bank, account, amount_cents) \
                 SELECT {id}, s.position, CASE WHEN s.position = 0 THEN 'debit' ELSE 'credit' END, $3, \
                 CASE WHEN s.position = 0 THEN {payer} ELSE {payee} END, p.amount {rounds_pairs} {sides}"
            ),
            &[first, half, text(bank)],
            (legs, "transfer legs"),
        )
        .await?;
        connection.execute("DROP TABLE seed_rounds").await?;
        connection.execute("DROP TABLE seed_pairs").await?;
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => {
            connection.execute("COMMIT").await?;
            Ok(())
        }
        Err(error) => {
            let _ = connection.execute("ROLLBACK").await;
            Err(error)
        }
    }
}

/// Runs one INSERT ... SELECT with `binds`; fails unless it wrote the `due` rows.
async fn generate(connection: &mut AnyConnection, sql: &str, binds: &[Value], (due, what): (u64, &str)) -> Result<(), LedgerError> {
    let mut query = sqlx::query(sql);
    for value in binds {
        query = bind(query, value);
    }
    let written = query.execute(&mut *connection).await?.rows_affected();
    if written == due {
        Ok(())
    } else {
        Err(LedgerError::Invariant(format!("seeding wrote {written} {what} rows where {due} were due")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_pairs_its_accounts_and_rounds_its_entries_down() {
        let plan = SeedPlan::new(1_000_000, 10_000_000, 100_000_000, 10_000_000).expect("the issue's size");
        assert_eq!((plan.rounds, plan.entries()), (18, 10_000_000));
        assert_eq!(SeedPlan::new(10, 64, 100_000_000, 10_000_000).map(|p| (p.rounds, p.entries())), Ok((10, 60)));
        assert_eq!(plan.account(999_999), "10999999");
        assert!(ringbank_domain::document::Document::parse(&plan.document(999_999)).is_ok());
        // An even number of rounds leaves every balance where the deposit put it.
        assert!((0..10).all(|k| plan.final_balance(k) == DEPOSIT_CENTS));
        for bad in [(0, 10), (3, 10), (10, 9)] {
            assert!(SeedPlan::new(bad.0, bad.1, 100_000_000, 10_000_000).is_err(), "{bad:?}");
        }
        assert!(SeedPlan::new(90_000_002, 100_000_000, 100_000_000, 10_000_000).is_err(), "account numbers have 8 digits");
    }
}
