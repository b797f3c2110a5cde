//! The operator commands' command-line arguments (`ringbank up`, `bench`, `bench-ring`, `fault`,
//! `chaos`): one clap struct per command, flattened into the `ringbank` command line by the root
//! binary; every option keeps its --flag and environment variable; durations are humantime.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

#[derive(Args, Debug, Clone)]
pub struct FaultArgs {
    #[command(flatten)]
    pub target: AdminTarget,
    /// The `ringbank up` supervisor's control URL (for `restart`, since the bank may be dead).
    #[arg(long, env = "RINGBANK_SUPERVISOR", default_value = "http://127.0.0.1:8080")]
    pub supervisor: String,
    #[command(subcommand)]
    pub fault: FaultKind,
}

/// The bank an operator command talks to through its admin API.
#[derive(Args, Debug, Clone)]
pub struct AdminTarget {
    /// The bank: its URL, or its id resolved through --peer.
    #[arg(long)]
    pub bank: String,
    /// The bank's admin secret (sent as a Bearer token).
    #[arg(long, env = "RINGBANK_ADMIN_SECRET", hide_env_values = true)]
    pub admin_secret: Option<String>,
    /// Member banks as ID=URL, to resolve --bank given as an id.
    #[arg(long = "peer", env = "RINGBANK_PEERS", value_delimiter = ',', value_parser = parse_peer)]
    pub peers: Vec<PeerArg>,
}

/// `ringbank members`: the ring's member list at one bank, and changes ordered through it.
#[derive(Args, Debug, Clone)]
pub struct MembersArgs {
    #[command(flatten)]
    pub target: AdminTarget,
    #[command(subcommand)]
    pub action: MembersAction,
}

#[derive(Subcommand, Debug, Clone)]
pub enum MembersAction {
    /// Print the member list (version, members with node ids, URLs and keys).
    List,
    /// Add a bank already started with `ringbank serve --join`: NEW=URL=ed25519:HEX (its public
    /// key as `ringbank keygen` printed it). Needs the approvals of a quorum of the members,
    /// --bank's own included (`approve` at each of the others).
    Add {
        #[arg(value_parser = parse_peer)]
        bank: PeerArg,
        /// Another member's approval, as `approve` printed it (JSON); repeat for each.
        #[arg(long = "approval", value_parser = parse_approval)]
        approvals: Vec<serde_json::Value>,
    },
    /// Remove a member (refused while a transfer is in doubt at --bank or its position with
    /// --bank is not settled). Needs approvals as `add` does.
    Remove {
        id: String,
        #[arg(long = "approval", value_parser = parse_approval)]
        approvals: Vec<serde_json::Value>,
    },
    /// --bank's approval (its operator's) of the next change: prints JSON to give the operator
    /// of the member that orders it (`add`/`remove --approval`).
    Approve {
        #[command(subcommand)]
        change: ApproveChange,
    },
    /// --bank's position with each member (positive: --bank owes it; negative: it owes --bank)
    /// and the newest settlements --bank recorded.
    Positions,
    /// Record at --bank, the creditor, that member FROM paid it this much of reserves outside
    /// the ring: both positions go down by it (a two-phase commit under the token; refused if
    /// FROM does not owe that much). Waits up to 10 s for the outcome.
    Settle {
        /// The member that paid (the debtor).
        #[arg(long)]
        from: String,
        #[arg(long)]
        amount_cents: i64,
        /// How it paid (a wire's reference, say).
        #[arg(long)]
        reference: String,
        /// Sent as the Idempotency-Key header, so that a retry records the settlement once.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum ApproveChange {
    /// Adding NEW=URL=ed25519:HEX.
    Add {
        #[arg(value_parser = parse_peer)]
        bank: PeerArg,
    },
    /// Removing a member.
    Remove { id: String },
}

/// An approval as `ringbank members approve` printed it: a JSON object.
fn parse_approval(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) if value.is_object() => Ok(value),
        _ => Err("an approval is the JSON object `ringbank members approve` printed".to_string()),
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum FaultKind {
    /// The process exits at once, like kill -9.
    Crash,
    /// The process kills itself when it reaches a named protocol point.
    CrashAt { point: String },
    /// The whole process is frozen (SIGSTOP) for this long, then resumes with its old state.
    Pause {
        #[arg(value_parser = humantime::parse_duration)]
        duration: Duration,
    },
    /// The holder discards the token (now, or at its next grant); the ring must regenerate it.
    DropToken {
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
    },
    /// The last token this bank passed on is sent again later; receivers must refuse it.
    ReplayToken {
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        after: Duration,
    },
    /// Ring and 2PC traffic to and from these banks is dropped.
    Partition {
        #[arg(required = true)]
        banks: Vec<String>,
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
    },
    /// Every outgoing ring and 2PC message waits this long (plus up to --jitter).
    Delay {
        #[arg(value_parser = humantime::parse_duration)]
        delay: Duration,
        #[arg(long, value_parser = humantime::parse_duration)]
        jitter: Option<Duration>,
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
    },
    /// This share of outgoing ring and 2PC messages is dropped.
    Loss {
        #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
        percent: u8,
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
    },
    /// This share of outgoing ring and 2PC messages is sent twice.
    Duplicate {
        #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
        percent: u8,
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
    },
    /// The bank's ring clock runs at this rate (ms per real ms, 0.5 to 2: "1.05" is 5 % fast),
    /// then keeps real time again. Safe while every bank's rate is within 10 % of every other's.
    ClockRate {
        rate: ringbank_domain::ClockRate,
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
    },
    /// Lifts every fault at this bank.
    Heal,
    /// What is active at this bank, and until when.
    List,
    /// Restarts the bank through the `ringbank up` supervisor.
    Restart,
}

#[derive(Args, Debug, Clone)]
pub struct ChaosArgs {
    /// Banks in the fresh local ring.
    #[arg(long, default_value_t = 3)]
    pub banks: usize,
    /// How long the load and the faults run (then: heal, settle, audit).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Seed of the fault schedule and of the load's choices; the same seed, the same schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// First port of the local ring.
    #[arg(long, default_value_t = 19301)]
    pub base_port: u16,
    /// Data directory [default: a fresh directory under the system's temporary directory].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// A crashed bank is restarted after this long.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub restart_after: Duration,
    /// Concurrent load workers.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Spare banks that join the running ring during the run, each in its own slice of it, are
    /// killed once as members and removed again (0: the membership never changes; not with --attach).
    #[arg(long, default_value_t = 2)]
    pub spares: usize,
    /// Attach to running banks instead of starting a ring (ID=URL, every member); no crash faults.
    #[arg(long = "attach", value_delimiter = ',', value_parser = parse_peer)]
    pub attach: Vec<PeerArg>,
    /// Admin secret of the attached banks.
    #[arg(long, env = "RINGBANK_ADMIN_SECRET", hide_env_values = true)]
    pub admin_secret: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct UpConfig {
    /// How many bank processes to start.
    #[arg(long, env = "RINGBANK_BANKS", default_value_t = 3)]
    pub banks: usize,
    /// First port; bank i listens on base_port + i.
    #[arg(long, env = "RINGBANK_BASE_PORT", default_value_t = 8081)]
    pub base_port: u16,
    /// Directory holding every bank's database and ring state files.
    #[arg(long, env = "RINGBANK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Admin secret given to every bank [default: a fresh random one, printed at start].
    #[arg(long, env = "RINGBANK_ADMIN_SECRET", hide_env_values = true)]
    pub admin_secret: Option<String>,
    /// A bank that exits on its own (crash) is restarted after this long; 0 = never.
    #[arg(long, env = "RINGBANK_RESTART_AFTER", default_value = "2s", value_parser = humantime::parse_duration)]
    pub restart_after: Duration,
    /// The supervisor's control endpoint (`ringbank fault --bank X restart`) [default: base port - 1].
    #[arg(long, env = "RINGBANK_CONTROL_PORT")]
    pub control_port: Option<u16>,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Banks in the ring; a list (3,5,7) runs a scaling sweep. 1 = transfers inside one bank.
    #[arg(long, value_delimiter = ',', default_value = "3")]
    pub banks: Vec<usize>,
    /// Concurrent clients (closed loop), or the cap on requests in flight (open loop).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Open loop: submit this many transfers per second regardless of answers.
    #[arg(long)]
    pub rate: Option<u32>,
    /// How long to measure, after the warm-up.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Warm-up before measuring.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Accounts per bank the load is spread over.
    #[arg(long, default_value_t = 50)]
    pub accounts: usize,
    /// Percentage of transfers that touch another bank (the rest stay inside the origin).
    #[arg(long, default_value_t = 100)]
    pub cross_percent: u32,
    /// Percentage of cross-bank transfers with two debit legs at two banks.
    #[arg(long, default_value_t = 20)]
    pub multi_percent: u32,
    /// First port of the bank processes.
    #[arg(long, default_value_t = 19301)]
    pub base_port: u16,
    /// Print the report as JSON as well as a table.
    #[arg(long)]
    pub json: bool,
    /// Write SVG charts (throughput and latency over time; scaling for a sweep) to this directory.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Keep each bank's log (stderr; RUST_LOG applies) in DIR/bank-ID.log, appended to; the banks
    /// run silent otherwise.
    #[arg(long, value_name = "DIR")]
    pub logs: Option<PathBuf>,
    /// PostgreSQL instead of SQLite: a postgres:// URL in which `{bank}` stands for each bank's
    /// id (A, B, ...), naming a database (or a search_path schema) per bank that exists and is
    /// empty. One --banks value only (a sweep would reuse the databases).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Seed each bank with this many synthetic accounts (`ringbank seed`) and run the load
    /// twice, on empty ledgers and then on seeded ones, to compare (the performance issue's
    /// large ledger: 1000000). With --database-url, the seeded run only.
    #[arg(long, value_name = "ACCOUNTS")]
    pub seed_accounts: Option<u64>,
    /// Journal entries per seeded bank (with --seed-accounts).
    #[arg(long, value_name = "ENTRIES", default_value_t = 10_000_000)]
    pub seed_entries: u64,
}

#[derive(Args, Debug, Clone)]
pub struct BenchRingArgs {
    #[arg(long, default_value_t = 3)]
    pub banks: usize,
    /// How many times the holder is killed (and restarted).
    #[arg(long, default_value_t = 20)]
    pub kills: usize,
    /// How long to measure the idle ring.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub idle: Duration,
    /// How many times a bank of the idle ring gets work (one cross-bank transfer) and waits for
    /// the token.
    #[arg(long, default_value_t = 20)]
    pub wakes: usize,
    #[arg(long, default_value_t = 19101)]
    pub base_port: u16,
    #[arg(long)]
    pub json: bool,
}

/// One `--peer ID=URL[=ed25519:HEX]` (or `--attach ID=URL`): a member bank, and the public key
/// it signs with (required where requests are signed or signatures checked: `serve`, `verify`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerArg {
    pub id: String,
    pub url: String,
    pub public_key: Option<ringbank_domain::PublicKey>,
}

impl PeerArg {
    /// The entry as it is written on the command line.
    pub fn to_entry(&self) -> String {
        match &self.public_key {
            Some(key) => format!("{}={}={key}", self.id, self.url),
            None => format!("{}={}", self.id, self.url),
        }
    }
}

/// Parses `ID=URL` or `ID=URL=ed25519:HEX`: the id as the server's `--id` accepts it, the URL
/// http(s)://host[:port], the member's public key as `ringbank keygen` prints it.
pub fn parse_peer(text: &str) -> Result<PeerArg, String> {
    let (id, rest) = text.split_once('=').ok_or_else(|| format!("expected ID=URL=ed25519:HEX, got {text:?}"))?;
    let id_ok = !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(format!("--id must be 1 to 32 letters, digits, '-' or '_' (got {id:?})"));
    }
    let (url, public_key) = match rest.split_once('=') {
        Some((url, key)) => {
            let key = ringbank_domain::PublicKey::parse(key).map_err(|e| format!("bank {id}'s public key: {e}"))?;
            (url, Some(key))
        }
        None => (rest, None),
    };
    let url = url.trim_end_matches('/');
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(format!("bad URL {url:?}: expected http://host:port"));
    }
    Ok(PeerArg { id: id.to_string(), url: url.to_string(), public_key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_id_url_and_optionally_its_public_key() {
        let key = ringbank_domain::SecretKey::from_seed([1; 32]).public().to_string();
        let peer = parse_peer(&format!("A=http://127.0.0.1:8081/={key}")).unwrap();
        assert_eq!((peer.id.as_str(), peer.url.as_str()), ("A", "http://127.0.0.1:8081"));
        assert_eq!(peer.public_key.map(|k| k.to_string()), Some(key));
        assert_eq!(parse_peer(&peer.to_entry()), Ok(peer));
        assert_eq!(parse_peer("B=http://b:8080").unwrap().public_key, None);
        assert!(parse_peer("B=http://b:8080=ed25519:00").unwrap_err().contains("public key"));
        assert!(parse_peer("B=http://b:8080=secret").is_err());
        assert!(parse_peer("B b=http://b:8080").is_err());
    }
}

/// `ringbank seed`: synthetic history in a new bank's database, to measure the ledger at the
/// size of a real one without opening accounts over HTTP.
#[derive(Args, Debug, Clone)]
pub struct SeedArgs {
    /// The bank's id (its database is claimed for this id, as `serve` does).
    #[arg(long)]
    pub id: String,
    /// Directory holding the bank's SQLite file (as `serve --data-dir`).
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
    /// The bank's PostgreSQL database instead (as `serve --database-url`).
    #[arg(long, hide_env_values = true, env = "RINGBANK_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Synthetic customers, each with one individual account (an even number).
    #[arg(long, default_value_t = 1_000_000)]
    pub accounts: u64,
    /// Journal entries in all: one deposit per account, then payments between paired accounts
    /// (rounded down to whole rounds of one payment per pair).
    #[arg(long, default_value_t = 10_000_000)]
    pub entries: u64,
    /// Every synthetic customer's password.
    #[arg(long, default_value = SEED_PASSWORD)]
    pub password: String,
}

/// The synthetic customers `ringbank seed` makes: customer k's CPF completes the base
/// `SEED_DOCUMENT_BASE + k`, and it holds account `SEED_ACCOUNT_BASE + k`.
pub const SEED_DOCUMENT_BASE: u32 = 100_000_000;
pub const SEED_ACCOUNT_BASE: u64 = 10_000_000;
pub const SEED_PASSWORD: &str = "seed-password-123";
