//! Command line and configuration: one clap struct per command; every option has a --flag
//! and an environment variable; durations are humantime ("1500ms", "24h").

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ringbank_domain::SecretKey;
pub use ringbank_tools::args::{parse_peer, PeerArg};
use ringbank_tools::args::{BenchArgs, BenchRingArgs, ChaosArgs, FaultArgs, SeedArgs, UpConfig};

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
    /// Exit 0 if a URL answers 2xx within 3 s (the Docker HEALTHCHECK).
    Probe(ProbeArgs),
    /// Measure the ring: idle CPU, token passes per second, failover time over repeated kill -9.
    BenchRing(BenchRingArgs),
    /// Inject a fault into a running bank (admin secret required), or list active faults.
    Fault(FaultArgs),
    /// The ring's member list at a bank, and online membership changes ordered through it:
    /// add a bank started with `serve --join`, or remove one (admin secret required).
    Members(ringbank_tools::args::MembersArgs),
    /// Start a fresh local ring, drive a random load under a seeded fault schedule, then check
    /// every invariant; exits non-zero on any violation.
    Chaos(ChaosArgs),
    /// Create a bank's key pair in a new key file; prints the public key to register at the
    /// other members (as --peer ID=URL=ed25519:HEX).
    Keygen(KeygenArgs),
    /// Check a receipt (the JSON of a transfer's `receipt`, from a file or stdin) against the
    /// member list: exit 0 if the coordinator's signature is valid, 1 if not.
    Verify(VerifyArgs),
    /// Fill a new bank's database with synthetic history (customers, accounts, deposits and
    /// payments; 1M accounts and 10M journal entries by default) to measure a large ledger.
    Seed(SeedArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ServeConfig {
    /// This bank's id: letters, digits, '-' or '_', at most 32 characters.
    #[arg(long, env = "RINGBANK_ID")]
    pub id: String,
    /// Address to listen on; port 0 picks a free port (the chosen address is logged).
    #[arg(long, env = "RINGBANK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory holding this bank's database file (SQLite) and its ring state file.
    #[arg(long, env = "RINGBANK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Run the ledger on this database instead of a SQLite file in --data-dir, e.g.
    /// postgres://user:password@host/bank_a (one database per bank).
    #[arg(long, env = "RINGBANK_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
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
    /// A member bank of the ring, as ID=URL=ed25519:HEX (its public key, as `ringbank keygen`
    /// printed it); repeat for every bank, this one included.
    #[arg(long = "peer", env = "RINGBANK_PEERS", value_delimiter = ',', value_parser = parse_peer)]
    pub peers: Vec<PeerArg>,
    /// File holding this bank's secret key (`ringbank keygen` creates it); required with peers
    /// unless RINGBANK_SECRET_KEY is set. Its public key must be the one --peer lists for this bank.
    #[arg(long, env = "RINGBANK_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// This bank's secret key itself (`ed25519-secret:HEX`), instead of --key-file; give it in
    /// the environment, not on the command line.
    #[arg(long, env = "RINGBANK_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Join a running ring instead of founding one: the URL of a member to learn the ring from
    /// (its members and current membership). An operator then adds this bank with
    /// `ringbank admin ring add` at any member. Kept in --data-dir (`join-<id>.json`), so a
    /// restart does not ask again.
    #[arg(long, env = "RINGBANK_JOIN", conflicts_with = "peers", value_parser = parse_join_url)]
    pub join: Option<String>,
    /// A member that was down through two or more membership changes (it cannot follow them one
    /// by one): before its ring starts, read the membership now in force from this member, check
    /// it (signed, settled, this bank in it) and that a quorum of its other members report the
    /// same, and start from it. Nothing is changed when this bank is already current.
    #[arg(long, env = "RINGBANK_CATCH_UP", value_parser = parse_join_url)]
    pub catch_up: Option<String>,
    /// Silence after which the token is suspected lost [default: 1s, plus 150ms per bank above 5].
    #[arg(long, env = "RINGBANK_TOKEN_TIMEOUT", value_parser = humantime::parse_duration)]
    pub token_timeout: Option<Duration>,
    /// Lease: the longest the holder keeps the token.
    #[arg(long, env = "RINGBANK_HOLD_MAX", default_value = "200ms", value_parser = humantime::parse_duration)]
    pub hold_max: Duration,
    /// How long an idle holder keeps the token before passing it on (idle cost vs. latency).
    #[arg(long, env = "RINGBANK_IDLE_PAUSE", default_value = "150ms", value_parser = humantime::parse_duration)]
    pub idle_pause: Duration,
    /// After an idle hold, how long the token waits at its last holder before it is sent on
    /// (0s: never). An idle ring then passes it about every two seconds instead of several times
    /// per member each second; a bank with work wakes it (a `wake` message) and gets it within
    /// milliseconds. While it parks, the holder tells the members every four fifths of
    /// probe-after (a `parked` message, no disk write), so a long park is not taken for a lost
    /// token; members count those for at most hold-max + idle-park after its claim.
    #[arg(long, env = "RINGBANK_IDLE_PARK", default_value = "2s", value_parser = humantime::parse_duration)]
    pub idle_park: Duration,
    /// Silence after which a bank checks that the last holder's bank is still running (a `probe`
    /// message); if that bank's host refuses the connection (its process is gone), the token is
    /// suspected lost at once instead of after the whole token timeout [default: half the token
    /// timeout; 0s: never]. Must be below the token timeout and at least idle-pause.
    #[arg(long, env = "RINGBANK_PROBE_AFTER", value_parser = humantime::parse_duration)]
    pub probe_after: Option<Duration>,
    /// Longest interval between a Pix directory replica's checks with a peer for entries it
    /// missed (anti-entropy): every second while the directory changes, doubling up to this
    /// while it stays quiet (an idle bank's cost vs. how soon a replica that missed every
    /// repeat of a commit learns it).
    #[arg(long, env = "RINGBANK_ANTI_ENTROPY_MAX", default_value = "8s", value_parser = humantime::parse_duration)]
    pub anti_entropy_max: Duration,
    /// Interval between retransmissions of unacknowledged ring messages.
    #[arg(long, env = "RINGBANK_RETRANSMIT", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub retransmit: Duration,
    /// Unacknowledged sends of the token before its successor is skipped.
    #[arg(long, env = "RINGBANK_PASS_RETRIES", default_value_t = 3)]
    pub pass_retries: u32,
    /// Secret that operators present as a Bearer token on /admin endpoints; admin is off without it.
    #[arg(long, env = "RINGBANK_ADMIN_SECRET", hide_env_values = true)]
    pub admin_secret: Option<String>,
    /// A client must send a request's whole header within this long, and an idle kept-alive
    /// connection is closed after it (slow or silent clients cannot hold connections open).
    #[arg(long, env = "RINGBANK_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,
    /// Longest wait for the next piece of a request body; a body that stalls longer gets 408
    /// and the connection is closed.
    #[arg(long, env = "RINGBANK_BODY_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Duration,
    /// Most client connections open at once; further clients wait to be accepted.
    #[arg(long, env = "RINGBANK_CONNECTIONS_MAX", default_value_t = 1024)]
    pub connections_max: usize,
    /// Trust the X-Forwarded-Proto header as the scheme the client used (set it only behind a
    /// TLS proxy that overwrites that header): "https" there makes session cookies Secure.
    #[arg(long, env = "RINGBANK_TRUST_FORWARDED_PROTO")]
    pub trust_forwarded_proto: bool,
    /// The bank's local time zone: where pages show times, and where the night limit's
    /// 20:00-06:00 and the daily limit's midnight fall. An IANA name (the zone database is built
    /// in, daylight saving included), UTC, or a fixed offset like -03:00.
    #[arg(long, env = "RINGBANK_TIME_ZONE", default_value = "America/Sao_Paulo", value_parser = ringbank_domain::display::LocalZone::parse)]
    pub time_zone: ringbank_domain::display::LocalZone,
    /// A signed-in page session with no page visited for this long is signed out (the pages
    /// warn a minute before, or a third of it if shorter); between 10s and --session-ttl.
    #[arg(long, env = "RINGBANK_PAGE_IDLE_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration)]
    pub page_idle_timeout: Duration,
    /// How long a customer waits before a raised transfer limit applies (a lower one applies at once).
    #[arg(long, env = "RINGBANK_LIMIT_RAISE_DELAY", default_value = "24h", value_parser = humantime::parse_duration)]
    pub limit_raise_delay: Duration,
    /// How long after a transfer its receiver may refund it (90 days, as Pix).
    #[arg(long, env = "RINGBANK_REFUND_WINDOW", default_value = "90days", value_parser = humantime::parse_duration)]
    pub refund_window: Duration,
    /// How late a scheduled transfer may still be made when the bank was not running at its
    /// time (at most --idempotency-ttl); later it is recorded as missed.
    #[arg(long, env = "RINGBANK_SCHEDULE_CATCH_UP", default_value = "12h", value_parser = humantime::parse_duration)]
    pub schedule_catch_up: Duration,
    /// The city Pix codes (BR Codes) issued here name as the merchant's city (accents are
    /// removed and it is cut to 15 characters in the code).
    #[arg(long, env = "RINGBANK_PIX_CITY", default_value = "SAO PAULO")]
    pub pix_city: String,
    /// How long a Pix key portability claim on a key held here waits for its owner's
    /// confirmation before it expires (7 days, as Pix); between 1s and 30 days.
    #[arg(long, env = "RINGBANK_KEY_CLAIM_TTL", default_value = "7days", value_parser = humantime::parse_duration)]
    pub key_claim_ttl: Duration,
    /// Validate the configuration, print it (secrets hidden) and exit: 0 if valid, 2 if not.
    /// Binds nothing and opens no database.
    #[arg(long)]
    pub check_config: bool,
}

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// Data directory of the bank(s) to audit offline; every bank database in it is checked.
    #[arg(long, conflicts_with_all = ["peers", "database_url"], required_unless_present_any = ["peers", "database_url"])]
    pub data_dir: Option<PathBuf>,
    /// Audit one bank's database at this URL offline (e.g. a PostgreSQL bank).
    #[arg(long, conflicts_with = "peers")]
    pub database_url: Option<String>,
    /// Audit the live consortium instead: every member bank as ID=URL.
    #[arg(long = "peer", value_delimiter = ',', value_parser = parse_peer)]
    pub peers: Vec<PeerArg>,
    /// The banks' admin secret (for the live audit).
    #[arg(long, env = "RINGBANK_ADMIN_SECRET", hide_env_values = true)]
    pub admin_secret: Option<String>,
    /// Print the live audit's report as JSON too.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct KeygenArgs {
    /// Where to write the new key file (it must not exist; created readable by its owner only).
    #[arg(long, env = "RINGBANK_KEY_FILE")]
    pub key_file: PathBuf,
    /// The bank's id, to print its whole --peer entry.
    #[arg(long, requires = "url")]
    pub id: Option<String>,
    /// The bank's URL as the other members reach it, to print its whole --peer entry.
    #[arg(long, requires = "id")]
    pub url: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    /// The receipt's JSON file; "-" or nothing reads stdin.
    pub receipt: Option<PathBuf>,
    /// The member list, as the banks are configured: ID=URL=ed25519:HEX, every member.
    #[arg(long = "peer", env = "RINGBANK_PEERS", value_delimiter = ',', value_parser = parse_peer, required = true)]
    pub peers: Vec<PeerArg>,
}

#[derive(Args, Debug, Clone)]
pub struct ProbeArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
    pub url: String,
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
    #[error("--peer lists bank {0:?} twice")]
    DuplicatePeer(String),
    #[error("--peer must list this bank ({0}) too, with its own URL")]
    SelfNotInPeers(String),
    #[error("at most {max} banks may form a ring (got {0})", max = ringbank_ring::MAX_MEMBERS)]
    TooManyPeers(usize),
    #[error(
        "bank {0} has no key: a bank with --peer needs its own key, --key-file PATH (env RINGBANK_KEY_FILE) \
         or RINGBANK_SECRET_KEY; create one with `ringbank keygen --key-file PATH`"
    )]
    MissingKey(String),
    #[error("give this bank's key once: --key-file or RINGBANK_SECRET_KEY, not both")]
    TwoKeys,
    #[error("cannot read the key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("the key in {source_name} is malformed: {reason}")]
    BadKey { source_name: String, reason: String },
    #[error("--peer {0}=URL has no public key: write every member as ID=URL=ed25519:HEX")]
    MissingPeerKey(String),
    #[error(
        "this bank's key does not match the member list: --peer lists {id} with {listed}, but the key in \
         {source_name} is {actual}; use this bank's own key file, or register its public key at every member"
    )]
    KeyMismatch { id: String, listed: String, actual: String, source_name: String },
    #[error("--database-url must start with postgres:// or sqlite: (got {0})")]
    BadDatabaseUrl(String),
    #[error("{0}")]
    BadServeLimit(String),
    #[error("ring timing: {0}")]
    RingTiming(String),
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
        if self.page_idle_timeout < Duration::from_secs(10) || self.page_idle_timeout > self.session_ttl {
            let shown = humantime::format_duration(self.page_idle_timeout).to_string();
            return Err(ConfigError::BadServeLimit(format!("--page-idle-timeout must be between 10s and --session-ttl (got {shown})")));
        }
        if self.key_claim_ttl < Duration::from_secs(1) || self.key_claim_ttl > Duration::from_secs(30 * 86400) {
            let shown = humantime::format_duration(self.key_claim_ttl).to_string();
            return Err(ConfigError::BadServeLimit(format!("--key-claim-ttl must be between 1s and 30days (got {shown})")));
        }
        if let Some(url) = self.database_url.as_deref().filter(|u| !u.trim().is_empty()) {
            if !crate::ledger::is_supported_url(url.trim()) {
                return Err(ConfigError::BadDatabaseUrl(crate::ledger::redact_url(url)));
            }
        }
        for (name, timeout) in [("--header-read-timeout", self.header_read_timeout), ("--body-read-timeout", self.body_read_timeout)] {
            if timeout < Duration::from_millis(100) || timeout > Duration::from_secs(600) {
                return Err(ConfigError::BadServeLimit(format!("{name} must be between 100ms and 10m")));
            }
        }
        if self.limit_raise_delay > Duration::from_secs(30 * 86400) {
            return Err(ConfigError::BadServeLimit("--limit-raise-delay must be at most 30 days".into()));
        }
        if self.refund_window < Duration::from_millis(100) || self.refund_window > Duration::from_secs(3650 * 86400) {
            return Err(ConfigError::BadServeLimit("--refund-window must be between 100ms and 10 years".into()));
        }
        if self.schedule_catch_up > self.idempotency_ttl {
            return Err(ConfigError::BadServeLimit(
                "--schedule-catch-up must be at most --idempotency-ttl (a late run relies on the key of a first try)".into(),
            ));
        }
        if !(1..=1_000_000).contains(&self.connections_max) {
            return Err(ConfigError::BadServeLimit(format!(
                "--connections-max must be between 1 and 1000000 (got {})",
                self.connections_max
            )));
        }
        if self.admin_secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(ConfigError::WeakAdminSecret);
        }
        let mut ids: Vec<&str> = self.peers.iter().map(|p| p.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(ConfigError::DuplicatePeer(pair[0].to_string()));
        }
        if !self.peers.is_empty() && !ids.contains(&self.id.as_str()) {
            return Err(ConfigError::SelfNotInPeers(self.id.clone()));
        }
        if self.peers.len() > ringbank_ring::MAX_MEMBERS {
            return Err(ConfigError::TooManyPeers(self.peers.len()));
        }
        if ringbank_domain::brcode::fit_text(&self.pix_city, ringbank_domain::brcode::MERCHANT_CITY_MAX_CHARS).is_empty() {
            return Err(ConfigError::BadServeLimit("--pix-city must have letters or digits (accents are removed)".into()));
        }
        self.signing_key()?;
        self.ring_config(0).validate().map_err(|e| ConfigError::RingTiming(e.to_string()))?;
        Ok(())
    }

    /// This bank's secret key, read from --key-file or RINGBANK_SECRET_KEY and checked against the
    /// member list: with peers, the key is required, every member must have a public key, and
    /// this bank's must be the key's. None only for a bank without peers (a ring of one).
    pub fn signing_key(&self) -> Result<Option<SecretKey>, ConfigError> {
        let (text, source_name) = match (&self.key_file, &self.secret_key) {
            (Some(_), Some(_)) => return Err(ConfigError::TwoKeys),
            (Some(path), None) => {
                let shown = path.display().to_string();
                let text =
                    std::fs::read_to_string(path).map_err(|e| ConfigError::KeyFile { path: shown.clone(), reason: e.to_string() })?;
                (Some(text), format!("key file {shown}"))
            }
            (None, Some(text)) => (Some(text.clone()), "RINGBANK_SECRET_KEY".to_string()),
            (None, None) => (None, String::new()),
        };
        let key = text
            .map(|text| SecretKey::parse_key_file(&text))
            .transpose()
            .map_err(|e| ConfigError::BadKey { source_name: source_name.clone(), reason: e.to_string() })?;
        if self.peers.is_empty() && self.join.is_none() {
            return Ok(key);
        }
        let key = key.ok_or_else(|| ConfigError::MissingKey(self.id.clone()))?;
        if self.peers.is_empty() {
            return Ok(Some(key)); // joining (--join): the ring's members are learnt at start
        }
        for peer in &self.peers {
            let listed = peer.public_key.ok_or_else(|| ConfigError::MissingPeerKey(peer.id.clone()))?;
            if peer.id == self.id && listed != key.public() {
                return Err(ConfigError::KeyMismatch {
                    id: peer.id.clone(),
                    listed: listed.to_string(),
                    actual: key.public().to_string(),
                    source_name,
                });
            }
        }
        Ok(Some(key))
    }

    /// The ring protocol's configuration for this bank, `me` being its index among members.
    pub fn ring_config(&self, me: u16) -> ringbank_ring::Config {
        let members = self.peers.len().max(1);
        self.ring_config_with(me, (0..members as u16).collect(), None)
    }

    /// The ring protocol's configuration for a bank about to be added as node `me` to a ring
    /// working with `membership` (`--join`).
    pub fn ring_config_joining(&self, me: u16, membership: ringbank_ring::Membership) -> ringbank_ring::Config {
        self.ring_config_with(me, membership.members.clone(), Some(membership))
    }

    fn ring_config_with(&self, me: u16, members: Vec<u16>, membership: Option<ringbank_ring::Membership>) -> ringbank_ring::Config {
        let count = members.len().max(1) + usize::from(membership.is_some());
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let token_timeout = self.token_timeout.map(ms).unwrap_or_else(|| ringbank_ring::Config::recommended_token_timeout(count));
        let mut config = ringbank_ring::Config::with_defaults(me, members);
        config.membership = membership;
        config.token_timeout = token_timeout;
        config.hold_max = ms(self.hold_max);
        config.idle_pause = ms(self.idle_pause);
        config.idle_park = ms(self.idle_park);
        config.probe_after = self.probe_after.map_or(token_timeout / 2, ms);
        config.retransmit = ms(self.retransmit);
        config.pass_retries = self.pass_retries;
        config
    }

    /// A configuration for tests and tools: a bank on a free loopback port.
    pub fn for_test(id: &str, data_dir: PathBuf) -> ServeConfig {
        ServeConfig {
            id: id.to_string(),
            listen: "127.0.0.1:0".parse().expect("valid address"),
            data_dir,
            database_url: None,
            max_amount_cents: 100_000_000,
            max_legs: 16,
            session_ttl: Duration::from_secs(3600),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            commit_batch_max: 512,
            peers: Vec::new(),
            key_file: None,
            secret_key: None,
            join: None,
            catch_up: None,
            token_timeout: None,
            hold_max: Duration::from_millis(200),
            idle_pause: Duration::from_millis(150),
            idle_park: Duration::from_secs(2),
            probe_after: None,
            anti_entropy_max: Duration::from_secs(8),
            retransmit: Duration::from_millis(100),
            pass_retries: 3,
            admin_secret: Some("test-admin-secret-0123456789".to_string()),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            connections_max: 1024,
            trust_forwarded_proto: false,
            // Tests and tools run where it is midday now (a fixed offset), so that the night
            // limit (R$ 1.000,00 by default, 20:00-06:00 local) never depends on when they run;
            // a test of the night or of Brasília's time sets its own zone.
            time_zone: ringbank_domain::display::LocalZone::fixed(midday_now()),
            page_idle_timeout: Duration::from_secs(600),
            limit_raise_delay: Duration::from_secs(24 * 3600),
            refund_window: Duration::from_secs(90 * 24 * 3600),
            schedule_catch_up: Duration::from_secs(12 * 3600),
            pix_city: "SAO PAULO".to_string(),
            key_claim_ttl: Duration::from_secs(7 * 24 * 3600),
            check_config: false,
        }
    }

    /// The effective configuration, as `--check-config` prints it: every value, defaults
    /// applied, secrets shown only as set or not, and the database URL without its password.
    pub fn effective(&self) -> serde_json::Value {
        let ms = |d: Duration| humantime::format_duration(d).to_string();
        let ring = self.ring_config(0);
        let secret = |s: &Option<String>| if s.is_some() { "(set)" } else { "(not set)" };
        let database = match self.database_url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(url) => crate::ledger::redact_url(url.trim()),
            None => format!("sqlite file {}", crate::ledger::database_path(&self.data_dir, &self.id).display()),
        };
        serde_json::json!({
            "id": self.id,
            "listen": self.listen.to_string(),
            "data_dir": self.data_dir.display().to_string(),
            "database": database,
            "max_amount_cents": self.max_amount_cents,
            "max_legs": self.max_legs,
            "session_ttl": ms(self.session_ttl),
            "idempotency_ttl": ms(self.idempotency_ttl),
            "commit_batch_max": self.commit_batch_max,
            "peers": self.peers.iter().map(PeerArg::to_entry).collect::<Vec<_>>(),
            "key_file": self.key_file.as_ref().map(|p| p.display().to_string()),
            "secret_key": secret(&self.secret_key),
            "public_key": match self.signing_key() {
                Ok(Some(key)) => key.public().to_string(),
                Ok(None) => "(none: a ring of one draws a throwaway key at start)".to_string(),
                Err(error) => format!("(invalid: {error})"),
            },
            "token_timeout_ms": ring.token_timeout,
            "hold_max": ms(self.hold_max),
            "idle_pause": ms(self.idle_pause),
            "idle_park": ms(self.idle_park),
            "probe_after_ms": ring.probe_after,
            "anti_entropy_max": ms(self.anti_entropy_max),
            "retransmit": ms(self.retransmit),
            "pass_retries": self.pass_retries,
            "admin_secret": secret(&self.admin_secret),
            "header_read_timeout": ms(self.header_read_timeout),
            "body_read_timeout": ms(self.body_read_timeout),
            "connections_max": self.connections_max,
            "trust_forwarded_proto": self.trust_forwarded_proto,
            "time_zone": self.time_zone.name(),
            "page_idle_timeout": ms(self.page_idle_timeout),
            "limit_raise_delay": ms(self.limit_raise_delay),
            "refund_window": ms(self.refund_window),
            "schedule_catch_up": ms(self.schedule_catch_up),
            "pix_city": self.pix_city,
            "key_claim_ttl": ms(self.key_claim_ttl),
        })
    }
}

/// The whole-hour UTC offset whose local time is nearest to 12:00 now.
pub fn midday_now() -> ringbank_domain::UtcOffset {
    offset_with_local_hour(crate::clock::wall_clock_ms(), 12)
}

/// The whole-hour UTC offset (within -12:00..+12:00) at which `now_ms` is local hour `hour`,
/// to the hour.
pub fn offset_with_local_hour(now_ms: i64, hour: i64) -> ringbank_domain::UtcOffset {
    let utc_hour = now_ms.div_euclid(3_600_000).rem_euclid(24);
    let offset = (hour - utc_hour + 36).rem_euclid(24) - 12;
    ringbank_domain::UtcOffset::from_minutes(i32::try_from(offset * 60).unwrap_or(0)).unwrap_or(ringbank_domain::UtcOffset::UTC)
}

pub fn validate_bank_id(id: &str) -> Result<(), ConfigError> {
    let ok = !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::BadId(id.to_string()))
    }
}

/// A member's URL for --join: http(s)://host[:port], without a trailing slash.
fn parse_join_url(text: &str) -> Result<String, String> {
    parse_peer(&format!("join={text}")).map(|peer| peer.url)
}
