//! The statement-lines migration (migrations/20261202000058_statement_lines.sql) on a bank that
//! had history before it, the query plan of statement pages after it, and the audit checks that
//! guard what the migration moved from the schema to the writer: the legs' copies of their
//! entries, and line numbers used once per account.

use sqlx::AnyPool;

use super::{audit, db, queries, statement};

/// The first migration that copies an entry's kind, description and time into its legs.
const STATEMENT_LINES_MIGRATION: &str = "20261202000058";

async fn plan_of(pool: &AnyPool, query: &str) -> String {
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {query}")).fetch_all(pool).await.unwrap();
    rows.into_iter().map(|(.., detail)| detail).collect::<Vec<_>>().join("; ")
}

/// A bank upgraded from before the statement-lines migration gets its legs' copies from their
/// entries; statement pages read legs_statement alone; the audit notices a copy that
/// disagrees with its entry, and a line number used twice on an account.
#[tokio::test]
async fn legs_carry_their_entry_and_statement_pages_read_one_index() {
    let dir = tempfile::tempdir().unwrap();
    let earlier = dir.path().join("earlier-migrations");
    std::fs::create_dir(&earlier).unwrap();
    for file in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap() {
        let file = file.unwrap();
        if file.file_name().to_string_lossy().as_ref() < STATEMENT_LINES_MIGRATION {
            std::fs::copy(file.path(), earlier.join(file.file_name())).unwrap();
        }
    }
    let pool = db::sqlite_file_for_tests(&db::database_path(dir.path(), "A")).await;
    sqlx::migrate::Migrator::new(earlier.as_path()).await.unwrap().run(&pool).await.unwrap();
    // A bank's history as it was written before: an entry and its legs, nothing copied.
    for statement in [
        "INSERT INTO bank_meta (name, value) VALUES ('bank_id', 'A')",
        "INSERT INTO accounts (number, kind, created_at_ms) VALUES ('settlement-B', 'settlement', 0)",
        "INSERT INTO entries (id, kind, description, initiated_by, created_at_ms) VALUES ('e1', 'deposit', 'opening float', '', 1234)",
        "INSERT INTO legs (entry_id, position, account, amount_cents, account_leg_number, balance_after_cents) VALUES \
         ('e1', 0, 'cash', -500, 1, -500), ('e1', 1, 'settlement-B', 500, 1, 500)",
        "UPDATE accounts SET balance_cents = -500, leg_count = 1 WHERE number = 'cash'",
        "UPDATE accounts SET balance_cents = 500, leg_count = 1 WHERE number = 'settlement-B'",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    sqlx::migrate!("./migrations").run(&pool).await.unwrap();

    let copies: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT kind, description, created_at_ms FROM legs ORDER BY position").fetch_all(&pool).await.unwrap();
    assert_eq!(copies, vec![("deposit".to_string(), "opening float".to_string(), 1234); 2]);
    let page: Vec<(String, String, String, i64, i64, i64, i64)> =
        sqlx::query_as(queries::STATEMENT_PAGE).bind("settlement-B").bind(i64::MAX).bind(10_i64).fetch_all(&pool).await.unwrap();
    assert_eq!(page, vec![("e1".into(), "deposit".into(), "opening float".into(), 500, 500, 1, 1234)]);
    for query in [queries::STATEMENT_PAGE, statement::STATEMENT_LINES] {
        let plan = plan_of(&pool, query).await;
        assert!(plan.contains("USING COVERING INDEX legs_statement"), "{query}: {plan}");
    }
    let report = audit::audit(&pool).await.unwrap();
    assert!(report.passed, "{report:?}");

    // A copy that disagrees with its entry is an audit failure that names the leg.
    sqlx::query("UPDATE legs SET description = 'rewritten' WHERE position = 1").execute(&pool).await.unwrap();
    let report = audit::audit(&pool).await.unwrap();
    let failed: Vec<_> = report.checks.iter().filter(|c| !c.passed).map(|c| (c.name.as_str(), c.detail.as_str())).collect();
    assert_eq!(failed, vec![("every leg's copy of its entry agrees with the entry", "e1 #1")]);
    sqlx::query("UPDATE legs SET description = 'opening float' WHERE position = 1").execute(&pool).await.unwrap();

    // Nothing in the schema stops a second line 1 on an account (legs_statement is not unique):
    // the writer never writes one (it numbers lines from the account's leg_count, guarded), and
    // the audit finds it.
    for statement in [
        "INSERT INTO entries (id, kind, description, initiated_by, created_at_ms) VALUES ('e2', 'deposit', 'again', '', 1235)",
        "INSERT INTO legs (entry_id, position, account, amount_cents, account_leg_number, balance_after_cents, kind, description, \
         created_at_ms) VALUES ('e2', 0, 'cash', -1, 2, -501, 'deposit', 'again', 1235), \
         ('e2', 1, 'settlement-B', 1, 1, 501, 'deposit', 'again', 1235)",
        "UPDATE accounts SET balance_cents = -501, leg_count = 2 WHERE number = 'cash'",
        "UPDATE accounts SET balance_cents = 501, leg_count = 2 WHERE number = 'settlement-B'",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let report = audit::audit(&pool).await.unwrap();
    let failed: Vec<_> = report.checks.iter().filter(|c| !c.passed).map(|c| (c.name.as_str(), c.detail.as_str())).collect();
    assert_eq!(failed, vec![("every account's lines are numbered 1..n, once each", "settlement-B: 2 lines, numbered 1..1, 1 distinct")]);
}
