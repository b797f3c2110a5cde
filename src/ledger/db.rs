//! Opening a bank's database: one SQLite file per bank, WAL with synchronous=FULL so that an
//! acknowledged commit survives kill -9 and power loss; migrations run at start-up.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::LedgerError;

/// The write pool has exactly one connection (SQLite has one writer anyway, and one
/// connection means no lock contention); the read pool serves queries concurrently.
pub struct Pools {
    pub write: SqlitePool,
    pub read: SqlitePool,
}

/// The database file of bank `id` inside `data_dir`.
pub fn database_path(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join(format!("bank-{id}.sqlite3"))
}

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .pragma("temp_store", "memory")
}

/// Opens (creating if needed) the database of bank `id`, runs the migrations, and checks the
/// file belongs to this bank.
pub async fn open_pools(data_dir: &Path, id: &str, read_connections: u32) -> Result<Pools, LedgerError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| LedgerError::Invariant(format!("cannot create {}: {e}", data_dir.display())))?;
    let path = database_path(data_dir, id);
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options(&path).create_if_missing(true))
        .await?;
    sqlx::migrate!("./migrations")
        .run(&write)
        .await
        .map_err(|e| LedgerError::Invariant(format!("migration failed: {e}")))?;
    claim_bank_id(&write, id).await?;
    let read = SqlitePoolOptions::new()
        .max_connections(read_connections.max(1))
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options(&path).read_only(true))
        .await?;
    Ok(Pools { write, read })
}

/// Opens an existing bank database read-only (for the offline audit).
pub async fn open_read_only(path: &Path) -> Result<SqlitePool, LedgerError> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .read_only(true)
        .busy_timeout(Duration::from_secs(10));
    Ok(SqlitePoolOptions::new().max_connections(1).connect_with(options).await?)
}

/// Records the bank id in a new database, and refuses to open another bank's database.
async fn claim_bank_id(pool: &SqlitePool, id: &str) -> Result<(), LedgerError> {
    let stored: Option<(String,)> = sqlx::query_as("SELECT value FROM bank_meta WHERE name = 'bank_id'")
        .fetch_optional(pool)
        .await?;
    match stored {
        Some((stored,)) if stored == id => Ok(()),
        Some((stored,)) => Err(LedgerError::Invariant(format!(
            "this database belongs to bank {stored:?}, not {id:?}"
        ))),
        None => {
            sqlx::query("INSERT INTO bank_meta (name, value) VALUES ('bank_id', $1)")
                .bind(id)
                .execute(pool)
                .await?;
            Ok(())
        }
    }
}
