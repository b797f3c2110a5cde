//! The PostgreSQL backend. The whole suite runs against PostgreSQL when
//! RINGBANK_TEST_DATABASE_URL names a server (as .ci/run does); this module proves that the
//! banks then really keep their ledger there, and says so when the PostgreSQL run is skipped.

use std::io::Write;

use sqlx::Connection;

use crate::common::*;

#[tokio::test]
async fn postgres_backend_available() {
    let Some(_server) = test_database_server() else {
        let message = "skipped: RINGBANK_TEST_DATABASE_URL not set, the suite ran on SQLite only \
                       (set it to a PostgreSQL server URL, e.g. postgres://ringbank:ringbank@127.0.0.1/postgres, to run it on PostgreSQL)";
        // Straight to stderr: the test harness captures println!/eprintln!, and this line is
        // meant to be seen once in every run without PostgreSQL.
        let _ = writeln!(std::io::stderr(), "postgres_backend_available: {message}");
        let in_ci = std::env::var("CI").ok().as_deref() == Some("true");
        let sqlite_run = std::env::var("RINGBANK_TEST_DATABASE").ok().as_deref() == Some("sqlite");
        assert!(!in_ci || sqlite_run, "CI must run the suite on PostgreSQL too (or say RINGBANK_TEST_DATABASE=sqlite for its SQLite run)");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let bank = TestBank::start_in("PG", data.path(), |_| {}).await;
    let cpf = new_cpf();
    let token = bank.customer(&cpf, "Paula").await;
    let account = bank.open_account(&token, "individual", &[]).await;
    bank.deposit(&token, &account, 12_345).await;
    assert_eq!(bank.balance(&token, &account).await, (12_345, 12_345));
    bank.assert_audit_passes().await;

    // The money is in the PostgreSQL database, and no SQLite file was made.
    let url = test_database_url("PG", data.path()).await.expect("a database URL");
    let mut connection = sqlx::PgConnection::connect(&url).await.expect("connect to the bank's database");
    let (balance,): (i64,) = sqlx::query_as("SELECT balance_cents FROM accounts WHERE number = $1")
        .bind(&account)
        .fetch_one(&mut connection)
        .await
        .expect("the account row");
    assert_eq!(balance, 12_345);
    assert!(!ringbank::ledger::database_path(data.path(), "PG").exists(), "a PostgreSQL bank must not create a SQLite file");
}

#[tokio::test]
async fn offline_audit_reads_a_database_url() {
    let Some(_server) = test_database_server() else { return };
    let data = tempfile::tempdir().unwrap();
    let bank = TestBank::start_in("PGAUDIT", data.path(), |_| {}).await;
    let token = bank.customer(&new_cpf(), "Otto").await;
    let account = bank.open_account(&token, "individual", &[]).await;
    bank.deposit(&token, &account, 500).await;
    let url = test_database_url("PGAUDIT", data.path()).await.expect("a database URL");
    let output =
        tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank")).args(["audit", "--database-url", &url]).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("bank PGAUDIT: PASS"), "{stdout}");
}
