//! Opening a bank's database, through sqlx's `Any` driver so that the same queries run on
//! either backend:
//!
//! - SQLite (the default): one file per bank in the data directory, WAL with synchronous=FULL
//!   so that an acknowledged commit survives kill -9 and power loss;
//! - PostgreSQL (`--database-url postgres://...`): one database per bank on a server.
//!
//! Migrations run at start-up; they are written in SQL both backends accept.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Executor};

use super::LedgerError;

/// The write pool has exactly one connection: the writer task is the only writer (group
/// commit), and on SQLite one connection means no lock contention. The read pool serves
/// queries concurrently.
pub struct Pools {
    pub write: AnyPool,
    pub read: AnyPool,
}

/// Where a bank's ledger lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// `bank-<id>.sqlite3` inside this directory.
    SqliteDir(PathBuf),
    /// A `postgres://` (or `sqlite:`) URL.
    Url(String),
}

impl DatabaseLocation {
    /// The URL (when given) wins over the data directory.
    pub fn new(database_url: Option<&str>, data_dir: &Path) -> DatabaseLocation {
        match database_url {
            Some(url) if !url.trim().is_empty() => DatabaseLocation::Url(url.trim().to_string()),
            _ => DatabaseLocation::SqliteDir(data_dir.to_path_buf()),
        }
    }
}

/// Why the database cannot take work now, in words a client may read (the cause itself is
/// logged). See `storage_fault`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageFault {
    /// The disk under the database is full.
    DiskFull,
    /// The disk failed a read, a write or a sync.
    DiskFailed,
    /// The database server cannot be reached (down, restarting, or out of connections).
    ServerUnreachable,
}

impl std::fmt::Display for StorageFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StorageFault::DiskFull => "its disk is full",
            StorageFault::DiskFailed => "its disk failed",
            StorageFault::ServerUnreachable => "its database server cannot be reached",
        })
    }
}

/// The storage fault behind `error`, if it is one: SQLite's SQLITE_FULL and SQLITE_IOERR
/// (with every extended code), PostgreSQL's connection exceptions (class 08), insufficient
/// resources (53, with 53100 disk full), shutdowns (57P01-57P03) and system errors (58), a
/// connection that broke, and a pool that could not get a connection in time.
pub fn storage_fault(error: &sqlx::Error) -> Option<StorageFault> {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => Some(StorageFault::ServerUnreachable),
        sqlx::Error::Database(database) => {
            if database.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite's code is the extended result code; its low byte is the primary one.
                let primary = database.code().and_then(|code| code.parse::<i32>().ok()).map(|code| code & 0xff);
                return match primary {
                    Some(SQLITE_FULL) => Some(StorageFault::DiskFull),
                    Some(SQLITE_IOERR) => Some(StorageFault::DiskFailed),
                    _ => None,
                };
            }
            let postgres = database.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
            match postgres.code() {
                "53100" => Some(StorageFault::DiskFull),
                "57P01" | "57P02" | "57P03" => Some(StorageFault::ServerUnreachable),
                code if code.starts_with("08") || code.starts_with("53") => Some(StorageFault::ServerUnreachable),
                code if code.starts_with("58") => Some(StorageFault::DiskFailed),
                _ => None,
            }
        }
        _ => None,
    }
}

/// SQLite's primary result codes for a failed I/O and a full disk (sqlite3.h).
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;

/// Whether `url` names a backend this build supports.
pub fn is_supported_url(url: &str) -> bool {
    ["postgres://", "postgresql://", "sqlite:"].iter().any(|scheme| url.starts_with(scheme))
}

/// The URL with its password replaced by `***`, for logs and `--check-config`.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// The database file of bank `id` inside `data_dir`.
pub fn database_path(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join(format!("bank-{id}.sqlite3"))
}

/// A `sqlite:` URL for a file path (percent-encoding what the URL syntax would misread).
fn sqlite_url(path: &Path, mode: &str) -> String {
    let mut encoded = String::new();
    for c in path.display().to_string().chars() {
        match c {
            '%' | '?' | '#' | ' ' => encoded.push_str(&format!("%{:02X}", c as u32)),
            c => encoded.push(c),
        }
    }
    format!("sqlite://{encoded}?mode={mode}")
}

fn install_drivers() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(sqlx::any::install_default_drivers);
}

/// Per-connection settings SQLite does not keep in the file (journal_mode=WAL is persistent,
/// and set once by the writer).
async fn configure_sqlite(connection: &mut AnyConnection, writer: bool) -> Result<(), sqlx::Error> {
    if connection.backend_name() != "SQLite" {
        return Ok(());
    }
    if writer {
        connection.execute("PRAGMA journal_mode = WAL").await?;
    }
    connection.execute("PRAGMA synchronous = FULL").await?;
    connection.execute("PRAGMA foreign_keys = ON").await?;
    connection.execute("PRAGMA busy_timeout = 10000").await?;
    connection.execute("PRAGMA temp_store = memory").await?;
    Ok(())
}

/// Read connections kept open on a database server, so that requests do not wait for a new
/// connection (a PostgreSQL connection costs a process and a SCRAM exchange).
const SERVER_READ_CONNECTIONS_MIN: u32 = 2;

async fn connect(url: &str, connections: u32, writer: bool) -> Result<AnyPool, sqlx::Error> {
    install_drivers();
    let server = !url.starts_with("sqlite:");
    let min_connections = match (writer, server) {
        (true, _) => 1,
        (false, true) => SERVER_READ_CONNECTIONS_MIN.min(connections),
        (false, false) => 0,
    };
    AnyPoolOptions::new()
        .max_connections(connections)
        .min_connections(min_connections)
        .acquire_timeout(Duration::from_secs(30))
        // A SQLite file cannot drop a connection the way a server can, and sqlx's check before
        // each acquire is a round trip to the connection's thread (a ping): 3 % of a busy
        // bank's CPU, profiled. A server's connections are still checked.
        .test_before_acquire(server)
        .after_connect(move |connection, _| Box::pin(async move { configure_sqlite(connection, writer).await }))
        .connect(url)
        .await
}

/// Opens (creating if needed) the database of bank `id`, runs the migrations, and checks the
/// database belongs to this bank.
pub async fn open_pools(location: &DatabaseLocation, id: &str, read_connections: u32) -> Result<Pools, LedgerError> {
    let (write_url, read_url) = match location {
        DatabaseLocation::SqliteDir(data_dir) => {
            std::fs::create_dir_all(data_dir).map_err(|e| LedgerError::Invariant(format!("cannot create {}: {e}", data_dir.display())))?;
            let path = database_path(data_dir, id);
            (sqlite_url(&path, "rwc"), sqlite_url(&path, "ro"))
        }
        DatabaseLocation::Url(url) => (url.clone(), url.clone()),
    };
    let write = connect(&write_url, 1, true).await?;
    sqlx::migrate!("./migrations").run(&write).await.map_err(|e| LedgerError::Invariant(format!("migration failed: {e}")))?;
    claim_bank_id(&write, id).await?;
    let read = connect(&read_url, read_connections.max(1), false).await?;
    Ok(Pools { write, read })
}

/// Opens an existing bank database for the offline audit: a SQLite file (read-only) or a
/// database URL.
pub async fn open_for_audit(file_or_url: Result<&Path, &str>) -> Result<AnyPool, LedgerError> {
    let url = match file_or_url {
        Ok(path) => sqlite_url(path, "ro"),
        Err(url) => url.to_string(),
    };
    Ok(connect(&url, 1, false).await?)
}

/// Records the bank id in a new database, and refuses to open another bank's database.
async fn claim_bank_id(pool: &AnyPool, id: &str) -> Result<(), LedgerError> {
    let stored: Option<(String,)> = sqlx::query_as("SELECT value FROM bank_meta WHERE name = 'bank_id'").fetch_optional(pool).await?;
    match stored {
        Some((stored,)) if stored == id => Ok(()),
        Some((stored,)) => Err(LedgerError::Invariant(format!("this database belongs to bank {stored:?}, not {id:?}"))),
        None => {
            sqlx::query("INSERT INTO bank_meta (name, value) VALUES ($1, $2)").bind("bank_id").bind(id).execute(pool).await?;
            Ok(())
        }
    }
}

/// A read-write pool on a SQLite file, with no migration run (tests that build an older schema).
#[cfg(test)]
pub(super) async fn sqlite_file_for_tests(path: &Path) -> AnyPool {
    connect(&sqlite_url(path, "rwc"), 1, true).await.expect("open a SQLite file")
}
