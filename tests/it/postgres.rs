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

/// `ringbank bench --database-url` runs its ring on PostgreSQL, a schema per bank named by the
/// URL's `{bank}`, and its audit passes there; a URL without `{bank}` is refused before anything
/// starts.
#[tokio::test]
async fn bench_runs_its_ring_on_postgresql() {
    let Some(_server) = test_database_server() else { return };
    let data = tempfile::tempdir().unwrap();
    // The test database exists once a test bank's URL was made; the bench's own schemas go
    // beside that bank's, named like them (bank_PID_...) so that a later run drops them.
    let any = test_database_url("BENCHPROBE", data.path()).await.expect("a database URL");
    let mut base = reqwest::Url::parse(&any).unwrap();
    base.set_query(None);
    let mut connection = sqlx::PgConnection::connect(base.as_str()).await.expect("connect to the test database");
    let prefix = format!("bank_{}_bench", std::process::id());
    for id in ["a", "b"] {
        sqlx::query(&format!("CREATE SCHEMA {prefix}{id}")).execute(&mut connection).await.expect("create the bench schema");
    }
    let template = format!("{base}?options[search_path]={prefix}{{bank}}");
    let base_port = (28_000 + (std::process::id() % 400) * 10).to_string();
    let bench = |url: String| {
        let base_port = base_port.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"))
                .args(["bench", "--banks", "2", "--clients", "4", "--accounts", "2", "--duration", "2s", "--warmup", "1s"])
                .args(["--base-port", &base_port, "--database-url", &url])
                .kill_on_drop(true)
                .output()
                .await
                .expect("bench runs")
        }
    };
    let refused = bench(base.to_string()).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("{bank}"), "{}", String::from_utf8_lossy(&refused.stderr));

    let output = tokio::time::timeout(std::time::Duration::from_secs(120), bench(template)).await.expect("bench within 2 minutes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("2 bank(s)") && stdout.contains("PostgreSQL"), "{stdout}");
    assert!(stdout.contains("consortium audit       pass"), "{stdout}");
    let committed: u64 = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("committed"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a committed count");
    assert!(committed > 0, "{stdout}");
    // The ledger really is in PostgreSQL: bank A's schema holds its accounts.
    let (accounts,): (i64,) =
        sqlx::query_as(&format!("SELECT count(*) FROM {prefix}a.accounts")).fetch_one(&mut connection).await.expect("A's accounts");
    assert!(accounts >= 2, "{accounts} accounts in A's schema");
    let _ = connection.close().await;
}
