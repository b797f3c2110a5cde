//! The ledger audit: every entry sums to zero, stored balances and holds equal what the legs
//! and holds tables say, no customer balance is negative, and all balances sum to zero.

use std::path::Path;

use sqlx::AnyPool;

use super::LedgerError;

pub use ringbank_wire::{AuditCheck, AuditReport};

/// At most this many offenders are listed per failed check.
const SHOWN_OFFENDERS: i64 = 10;

/// Each check is a query listing offenders; an empty result is a pass.
const CHECKS: &[(&str, &str)] = &[
    (
        "every entry's legs sum to zero",
        "SELECT entry_id || ': ' || CAST(SUM(amount_cents) AS TEXT) FROM legs GROUP BY entry_id HAVING SUM(amount_cents) <> 0 LIMIT $1",
    ),
    (
        "every entry has legs",
        "SELECT id FROM entries e WHERE NOT EXISTS (SELECT 1 FROM legs l WHERE l.entry_id = e.id) LIMIT $1",
    ),
    (
        "stored balances equal the sum of legs",
        "SELECT a.number || ': stored ' || CAST(a.balance_cents AS TEXT) || ', legs ' || CAST(COALESCE(SUM(l.amount_cents), 0) AS TEXT) \
         FROM accounts a LEFT JOIN legs l ON l.account = a.number \
         GROUP BY a.number, a.balance_cents HAVING a.balance_cents <> COALESCE(SUM(l.amount_cents), 0) LIMIT $1",
    ),
    (
        "leg counters equal the number of legs",
        "SELECT a.number FROM accounts a LEFT JOIN legs l ON l.account = a.number \
         GROUP BY a.number, a.leg_count HAVING a.leg_count <> COUNT(l.entry_id) LIMIT $1",
    ),
    (
        "no customer balance is negative",
        "SELECT number || ': ' || CAST(balance_cents AS TEXT) FROM accounts \
         WHERE kind IN ('individual', 'joint', 'company') AND balance_cents < 0 LIMIT $1",
    ),
    (
        "holds never exceed balances",
        "SELECT number FROM accounts WHERE kind IN ('individual', 'joint', 'company') AND held_cents > balance_cents LIMIT $1",
    ),
    (
        "stored holds equal the sum of open holds",
        "SELECT a.number || ': stored ' || CAST(a.held_cents AS TEXT) FROM accounts a \
         WHERE a.held_cents <> COALESCE((SELECT SUM(h.amount_cents) FROM holds h WHERE h.account = a.number AND h.status = 'held'), 0) LIMIT $1",
    ),
    (
        "all balances sum to zero",
        "SELECT 'total ' || CAST(SUM(balance_cents) AS TEXT) FROM accounts HAVING SUM(balance_cents) <> 0 LIMIT $1",
    ),
    (
        "every account's lines are numbered 1..n, once each",
        "SELECT account || ': ' || CAST(COUNT(*) AS TEXT) || ' lines, numbered ' || CAST(MIN(account_leg_number) AS TEXT) || '..' \
         || CAST(MAX(account_leg_number) AS TEXT) || ', ' || CAST(COUNT(DISTINCT account_leg_number) AS TEXT) || ' distinct' \
         FROM legs GROUP BY account \
         HAVING MIN(account_leg_number) <> 1 OR MAX(account_leg_number) <> COUNT(*) OR COUNT(DISTINCT account_leg_number) <> COUNT(*) LIMIT $1",
    ),
    (
        "every leg's copy of its entry agrees with the entry",
        "SELECT l.entry_id || ' #' || CAST(l.position AS TEXT) FROM legs l JOIN entries e ON e.id = l.entry_id \
         WHERE l.kind <> e.kind OR l.description <> e.description OR l.created_at_ms <> e.created_at_ms LIMIT $1",
    ),
    (
        "committed transfers have a journal entry",
        "SELECT id FROM transfers t WHERE status = 'committed' AND entry_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.id = t.entry_id) LIMIT $1",
    ),
];

/// Runs every check against a bank's database.
pub async fn audit(pool: &AnyPool) -> Result<AuditReport, LedgerError> {
    let mut checks = Vec::with_capacity(CHECKS.len());
    for (name, query) in CHECKS {
        let offenders: Vec<(String,)> = sqlx::query_as(query).bind(SHOWN_OFFENDERS).fetch_all(pool).await?;
        checks.push(AuditCheck {
            name: name.to_string(),
            passed: offenders.is_empty(),
            detail: offenders.into_iter().map(|(o,)| o).collect::<Vec<_>>().join("; "),
        });
    }
    let (bank,): (String,) = sqlx::query_as("SELECT value FROM bank_meta WHERE name = 'bank_id'").fetch_one(pool).await?;
    let (entries,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM entries").fetch_one(pool).await?;
    let (customer_money_cents,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(balance_cents), 0) AS BIGINT) FROM accounts WHERE kind IN ('individual', 'joint', 'company')",
    )
    .fetch_one(pool)
    .await?;
    let passed = checks.iter().all(|c| c.passed);
    Ok(AuditReport { bank, passed, checks, entries, customer_money_cents })
}

/// Audits every bank database file found in `data_dir` (offline; safe while banks run).
pub async fn audit_data_dir(data_dir: &Path) -> Result<Vec<AuditReport>, LedgerError> {
    let listing = std::fs::read_dir(data_dir).map_err(|e| LedgerError::Invariant(format!("cannot read {}: {e}", data_dir.display())))?;
    let mut paths: Vec<_> = listing
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("bank-") && name.ends_with(".sqlite3")
        })
        .collect();
    paths.sort();
    let mut reports = Vec::with_capacity(paths.len());
    for path in paths {
        let pool = super::db::open_for_audit(Ok(&path)).await?;
        reports.push(audit(&pool).await?);
        pool.close().await;
    }
    Ok(reports)
}

/// Audits the bank database at a database URL (e.g. a PostgreSQL bank).
pub async fn audit_database_url(url: &str) -> Result<AuditReport, LedgerError> {
    let pool = super::db::open_for_audit(Err(url)).await?;
    let report = audit(&pool).await;
    pool.close().await;
    report
}
