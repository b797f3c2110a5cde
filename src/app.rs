//! Building and running one bank: `App::build` opens the database, starts the writer and
//! binds the listener (port 0 works; `address()` tells the port); `run_until_stopped` serves
//! until the cancellation token fires, then drains the writer and returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::wall_clock_ms;
use crate::config::{ConfigError, ServeConfig};
use crate::faults::Faults;
use crate::http::server::ServeLimits;
use crate::http::AppState;
use crate::ledger::{self, Job, LedgerError};
use crate::metrics::Metrics;
use crate::peer::auth::Verifier;
use crate::peer::{Member, MemberRegistry, Members, PeerClient};
use crate::ring_driver::{RingHandle, RingOptions, RingStartError};
use crate::service::Services;
use crate::twopc::{Cross, ParticipantLimits};
use ringbank_domain::SecretKey;

/// How often expired sessions and idempotency records are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);
/// Read connections per bank.
const READ_CONNECTIONS: u32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot open the database: {0}")]
    Database(#[from] LedgerError),
    #[error("cannot start the ring: {0}")]
    Ring(#[from] RingStartError),
    #[error("cannot join the ring: {0}")]
    Join(String),
    #[error("--catch-up: {0}")]
    CatchUp(String),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
}

pub struct App {
    listener: TcpListener,
    address: SocketAddr,
    state: Arc<AppState>,
    tracker: TaskTracker,
    /// Stops the background tasks (writer, purge) once the server has stopped.
    background: CancellationToken,
}

impl App {
    pub async fn build(config: ServeConfig) -> Result<App, StartError> {
        config.validate()?;
        // The data directory holds the ring state file, and the database file on SQLite.
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| LedgerError::Invariant(format!("cannot create {}: {e}", config.data_dir.display())))?;
        let location = ledger::DatabaseLocation::new(config.database_url.as_deref(), &config.data_dir);
        let pools = ledger::open_pools(&location, &config.id, READ_CONNECTIONS).await?;
        let tracker = TaskTracker::new();
        let background = CancellationToken::new();
        let ledger =
            ledger::spawn_writer(config.id.clone(), pools.write, pools.read, config.commit_batch_max, &tracker, background.clone());
        let listener = TcpListener::bind(config.listen).await.map_err(|source| StartError::Bind { address: config.listen, source })?;
        let address = listener.local_addr().map_err(|source| StartError::Bind { address: config.listen, source })?;
        let faults = Arc::new(Faults::new(&config.id));
        let key = config.signing_key()?.unwrap_or_else(|| {
            // A ring of one sends nothing to other banks; its key only signs its own receipts.
            tracing::info!(bank = %config.id, "no key configured (no peers): using a throwaway key");
            SecretKey::from_seed(rand::random())
        });
        let ring = start_ring(&config, address, &key, faults.clone(), &tracker, background.clone()).await?;
        let metrics = Arc::new(Metrics::default());
        let peers = PeerClient::new(&config.id, key.clone()).with_faults(faults.clone());
        let limits =
            ParticipantLimits { max_legs: config.max_legs, max_amount_cents: config.max_amount_cents, time_zone: config.time_zone.clone() };
        let directory = crate::directory::start(
            ledger.clone(),
            ring.clone(),
            peers.clone(),
            faults.clone(),
            config.anti_entropy_max,
            &tracker,
            background.clone(),
        )
        .await?;
        let pix = Arc::new(crate::service::keys::PixKeys::new(
            config.id.clone(),
            ledger.clone(),
            directory,
            peers.clone(),
            ring.registry.clone(),
            config.key_claim_ttl,
        ));
        let cross = Cross::new(config.id.clone(), ledger.clone(), ring.clone(), peers, faults, metrics.clone(), limits);
        let registry = ring.registry.clone();
        let ring_verifier = Verifier::with_lookup(move |bank| registry.get().public_key_of(bank));
        let services = Services::new(config, ledger, cross.clone(), pix.clone());
        tracker.spawn(purge_loop(services.clone(), background.clone()));
        tracker.spawn(schedule_loop(services.clone(), background.clone()));
        tracker.spawn(crate::ring_driver::observe_ring(ring, metrics, background.clone()));
        cross.spawn(&tracker, background.clone());
        let state = AppState::new(services, ring_verifier, pix);
        Ok(App { listener, address, state, tracker, background })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests finish and the
    /// writer commit what it accepted.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) {
        let routes = crate::http::routes(self.state.clone());
        tracing::info!(bank = %self.state.bank(), address = %self.address, "serving");
        let config = &self.state.config;
        let limits = ServeLimits {
            header_read_timeout: config.header_read_timeout,
            body_read_timeout: config.body_read_timeout,
            connections_max: config.connections_max,
        };
        crate::http::server::serve(self.listener, routes, limits, shutdown).await;
        self.background.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        tracing::info!(bank = %self.state.bank(), "stopped");
    }
}

/// Starts the ring driver. Without --peer the bank is a ring of one (itself); with --join it
/// learns the ring from a member (or from what it kept of that at its first start).
async fn start_ring(
    config: &ServeConfig,
    address: SocketAddr,
    key: &SecretKey,
    faults: Arc<Faults>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<RingHandle, StartError> {
    let client = PeerClient::new(&config.id, key.clone()).with_faults(faults.clone());
    let state_file = config.data_dir.join(format!("ring-{}", config.id));
    if let Some(join) = &config.join {
        let document = match crate::peer::join::load(&config.data_dir, &config.id).map_err(StartError::Join)? {
            Some(kept) => kept,
            None => {
                let fetched = crate::peer::join::fetch(join).await.map_err(StartError::Join)?;
                fetched.check_joinable(&config.id).map_err(StartError::Join)?;
                crate::peer::join::store(&config.data_dir, &config.id, &fetched).map_err(StartError::Join)?;
                fetched
            }
        };
        let founding = document.founding_members().map_err(StartError::Join)?;
        let me = document.next_node;
        let registry = MemberRegistry::joining(founding.clone(), me, &config.id, &format!("http://{address}"), key.public());
        tracing::info!(bank = %config.id, node = me, version = document.membership.version, "joining the ring: waiting for a member to add this bank");
        let ring_config = config.ring_config_joining(me, document.membership.clone());
        ring_config.validate().map_err(|e| StartError::Join(format!("the ring's membership: {e}")))?;
        let keys = crate::ring_driver::BankKeys::from_members(key.clone(), &founding).keys();
        let options = RingOptions { config: ring_config, keys, state_file };
        catch_up(config, &options, me, &founding).await?;
        return Ok(crate::ring_driver::start(options, Arc::new(registry), client, faults, tracker, shutdown)?);
    }
    let list: Vec<Member> = if config.peers.is_empty() {
        vec![Member { id: config.id.clone(), url: format!("http://{address}"), public_key: key.public(), node: 0 }]
    } else {
        let mut list = Vec::with_capacity(config.peers.len());
        for peer in &config.peers {
            // signing_key() has checked that every member has its public key.
            let public_key = peer.public_key.ok_or_else(|| ConfigError::MissingPeerKey(peer.id.clone()))?;
            list.push(Member { id: peer.id.clone(), url: peer.url.clone(), public_key, node: 0 });
        }
        list
    };
    let members = Members::new(list, &config.id).ok_or_else(|| ConfigError::SelfNotInPeers(config.id.clone()))?;
    let ring_config = config.ring_config(members.me);
    let keys = crate::ring_driver::BankKeys::from_members(key.clone(), &members.list).keys();
    let options = RingOptions { config: ring_config, keys, state_file };
    catch_up(config, &options, members.me, &members.list).await?;
    Ok(crate::ring_driver::start(options, Arc::new(MemberRegistry::founding(members)), client, faults, tracker, shutdown)?)
}

/// `serve --catch-up URL`: a member down through two or more membership changes starts from
/// the membership now in force, once a quorum of its members confirm it (`peer::join::catch_up`).
async fn catch_up(config: &ServeConfig, options: &RingOptions, me: ringbank_ring::NodeId, founding: &[Member]) -> Result<(), StartError> {
    let Some(url) = &config.catch_up else { return Ok(()) };
    let current = crate::ring_driver::starting_membership(options)?;
    match crate::peer::join::catch_up(url, me, &current, founding, &options.keys).await.map_err(StartError::CatchUp)? {
        None => tracing::info!(version = current.version, "--catch-up: this bank's membership is current; nothing to do"),
        Some(newer) => {
            tracing::warn!(
                from = current.version,
                to = newer.version,
                "--catch-up: starting from the membership a quorum of members confirmed"
            );
            crate::ring_driver::adopt_membership(options, newer)?;
        }
    }
    Ok(())
}

/// Makes the scheduled transfers that are due, every second (service::schedules::run_due).
async fn schedule_loop(state: Arc<Services>, stop: CancellationToken) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = stop.cancelled() => return,
        }
        if let Err(error) = crate::service::schedules::run_due(&state).await {
            tracing::warn!(%error, "scheduled transfers: pass failed; retrying");
        }
    }
}

async fn purge_loop(state: Arc<Services>, stop: CancellationToken) {
    let mut interval = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = stop.cancelled() => return,
        }
        let now = wall_clock_ms();
        let keep_ms = i64::try_from(state.config.idempotency_ttl.as_millis()).unwrap_or(i64::MAX);
        let job = Job::Purge { sessions_before_ms: now, idempotency_before_ms: now.saturating_sub(keep_ms) };
        if let Err(error) = state.ledger.submit(job, None).await {
            tracing::warn!(%error, "purge of expired sessions and idempotency keys failed");
        }
    }
}
