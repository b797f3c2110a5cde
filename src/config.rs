//! Command line and configuration: one clap struct per command; every option has a --flag
//! and an environment variable; durations are humantime ("1500ms", "24h").

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "ringbank", version, about = "Instant payments between banks with no central bank")]
pub struct Cli {
    /// Log format: "text" or "json".
    #[arg(long, env = "RINGBANK_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one bank server.
    Serve(ServeConfig),
    /// Start a local consortium of bank processes on loopback and stop them on Ctrl-C.
    Up(UpConfig),
    /// Check a bank's ledger invariants from its data directory; exits non-zero on a violation.
    Audit(AuditArgs),
    /// Measure local (inside one bank) transfer throughput against a fresh bank.
    Bench(BenchArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ServeConfig {
    /// This bank's id: letters, digits, '-' or '_', at most 32 characters.
    #[arg(long, env = "RINGBANK_ID")]
    pub id: String,
    /// Address to listen on; port 0 picks a free port (the chosen address is logged).
    #[arg(long, env = "RINGBANK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory holding this bank's database file.
    #[arg(long, env = "RINGBANK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Largest amount one operation (or one leg) may move, in centavos.
    #[arg(long, env = "RINGBANK_MAX_AMOUNT_CENTS", default_value_t = 100_000_000)]
    pub max_amount_cents: i64,
    /// Most legs (debits plus credits) one transfer may have.
    #[arg(long, env = "RINGBANK_MAX_LEGS", default_value_t = 16)]
    pub max_legs: usize,
    /// How long a customer's API session token stays valid.
    #[arg(long, env = "RINGBANK_SESSION_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub session_ttl: Duration,
    /// How long Idempotency-Key outcomes are kept (at least 24h is promised).
    #[arg(long, env = "RINGBANK_IDEMPOTENCY_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub idempotency_ttl: Duration,
    /// Most write operations committed together in one database transaction (group commit).
    #[arg(long, env = "RINGBANK_COMMIT_BATCH_MAX", default_value_t = 512)]
    pub commit_batch_max: usize,
    /// Secret that operators present as a Bearer token on /admin endpoints; admin is off without it.
    #[arg(long, env = "RINGBANK_ADMIN_SECRET", hide_env_values = true)]
    pub admin_secret: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct UpConfig {
    /// How many bank processes to start.
    #[arg(long, env = "RINGBANK_BANKS", default_value_t = 1)]
    pub banks: usize,
    /// First port; bank i listens on base_port + i.
    #[arg(long, env = "RINGBANK_BASE_PORT", default_value_t = 8081)]
    pub base_port: u16,
    /// Directory under which each bank keeps its own data directory.
    #[arg(long, env = "RINGBANK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// Data directory of the bank(s) to audit; every bank database found in it is checked.
    #[arg(long, env = "RINGBANK_DATA_DIR")]
    pub data_dir: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// How long to measure, after the warm-up.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Warm-up before measuring.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Accounts the load is spread over.
    #[arg(long, default_value_t = 200)]
    pub accounts: usize,
    /// Print the report as JSON as well as a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--id must be 1 to 32 letters, digits, '-' or '_' (got {0:?})")]
    BadId(String),
    #[error("--max-amount-cents must be positive (got {0})")]
    BadMaxAmount(i64),
    #[error("--max-legs must be between 2 and 64 (got {0})")]
    BadMaxLegs(usize),
    #[error("--commit-batch-max must be between 1 and 10000 (got {0})")]
    BadBatch(usize),
    #[error("--idempotency-ttl must be at least 24h (got {0})")]
    IdempotencyTooShort(String),
    #[error("--session-ttl must be between 1 minute and 30 days (got {0})")]
    BadSessionTtl(String),
    #[error("--admin-secret must be at least 16 characters")]
    WeakAdminSecret,
}

impl ServeConfig {
    /// Checks every value before anything starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_bank_id(&self.id)?;
        if self.max_amount_cents <= 0 {
            return Err(ConfigError::BadMaxAmount(self.max_amount_cents));
        }
        if !(2..=64).contains(&self.max_legs) {
            return Err(ConfigError::BadMaxLegs(self.max_legs));
        }
        if !(1..=10_000).contains(&self.commit_batch_max) {
            return Err(ConfigError::BadBatch(self.commit_batch_max));
        }
        if self.idempotency_ttl < Duration::from_secs(24 * 3600) {
            let shown = humantime::format_duration(self.idempotency_ttl).to_string();
            return Err(ConfigError::IdempotencyTooShort(shown));
        }
        if self.session_ttl < Duration::from_secs(60) || self.session_ttl > Duration::from_secs(30 * 86400) {
            let shown = humantime::format_duration(self.session_ttl).to_string();
            return Err(ConfigError::BadSessionTtl(shown));
        }
        if self.admin_secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(ConfigError::WeakAdminSecret);
        }
        Ok(())
    }

    /// A configuration for tests and tools: a bank on a free loopback port.
    pub fn for_test(id: &str, data_dir: PathBuf) -> ServeConfig {
        ServeConfig {
            id: id.to_string(),
            listen: "127.0.0.1:0".parse().expect("valid address"),
            data_dir,
            max_amount_cents: 100_000_000,
            max_legs: 16,
            session_ttl: Duration::from_secs(3600),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            commit_batch_max: 512,
            admin_secret: Some("test-admin-secret-0123456789".to_string()),
        }
    }
}

pub fn validate_bank_id(id: &str) -> Result<(), ConfigError> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::BadId(id.to_string()))
    }
}
