//! What the transport's handlers share: the use cases (`Services`), the cross-bank handle, the
//! ring handle, the bank-to-bank signature verifier, faults and metrics. Built by the
//! composition root (crate::app); handlers take only what they use from it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::ServeConfig;
use crate::faults::Faults;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::peer::auth::Verifier;
use crate::peer::PeerClient;
use crate::ring_driver::RingHandle;
use crate::service::limiter::Throttle;
use crate::service::Services;
use crate::twopc::Cross;

/// Client addresses the admin-secret throttle remembers at most.
const ADMIN_GUESSES_TRACKED_MAX: usize = 10_000;

pub struct AppState {
    pub config: ServeConfig,
    pub ledger: Ledger,
    pub ring: RingHandle,
    /// Checks bank-to-bank signatures; None for a bank alone in its ring (nobody to talk to).
    pub ring_verifier: Verifier,
    pub faults: Arc<Faults>,
    /// Signed client to the other banks.
    pub peers: PeerClient,
    pub metrics: Arc<Metrics>,
    pub cross: Arc<Cross>,
    pub services: Arc<Services>,
    /// Wrong admin secrets (Bearer on /admin/v1 and /ring, the monitor's sign-in form).
    pub admin_guesses: Throttle,
    pub monitor: MonitorCaches,
    /// The web consent round trip in progress, per session (see web/consents.rs).
    pub consent_links: ConsentLinks,
    /// Pix keys: registration, lookups, the directory's replica (service::keys).
    pub pix: Arc<crate::service::keys::PixKeys>,
    /// When each page session last asked for a page (idle sign-out, see web/idle.rs).
    pub page_activity: crate::http::web::PageActivity,
}

/// "Use an account at another bank" in progress: for each session (keyed by a hash of its
/// token) the `state` value sent along to the other bank and which bank it went to. Kept in
/// memory: a restart only makes the customer start the round trip again.
#[derive(Default)]
pub struct ConsentLinks {
    pending: Mutex<HashMap<String, PendingLink>>,
}

/// One round trip in progress.
#[derive(Clone, Debug)]
pub struct PendingLink {
    pub state: String,
    pub bank: String,
    pub started: Instant,
}

/// Round trips remembered at most (the oldest are dropped first).
const CONSENT_LINKS_MAX: usize = 10_000;
/// How long a round trip may take before its `state` is forgotten.
pub const CONSENT_LINK_TTL: Duration = Duration::from_secs(10 * 60);

impl ConsentLinks {
    /// Remembers a new round trip for `session_key` (replacing any earlier one of that session).
    pub fn start(&self, session_key: &str, link: PendingLink) {
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.retain(|_, l| l.started.elapsed() < CONSENT_LINK_TTL);
        if pending.len() >= CONSENT_LINKS_MAX {
            if let Some(oldest) = pending.iter().min_by_key(|(_, l)| l.started).map(|(k, _)| k.clone()) {
                pending.remove(&oldest);
            }
        }
        pending.insert(session_key.to_string(), link);
    }

    /// Takes (and forgets: single use) the round trip of `session_key`, if it is still fresh.
    pub fn take(&self, session_key: &str) -> Option<PendingLink> {
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.remove(session_key).filter(|l| l.started.elapsed() < CONSENT_LINK_TTL)
    }
}

/// What the ring monitor keeps between snapshots.
pub struct MonitorCaches {
    /// Reads the other members' public status.
    pub http: reqwest::Client,
    /// Recent (time, epoch, token_seq) samples per bank, for the rotation rate.
    pub samples: Mutex<HashMap<String, VecDeque<(Instant, u64, u64)>>>,
}

/// How long the monitor waits for a member's status.
const MONITOR_STATUS_TIMEOUT: Duration = Duration::from_millis(400);

impl AppState {
    pub fn new(services: Arc<Services>, ring_verifier: Verifier, pix: Arc<crate::service::keys::PixKeys>) -> Arc<AppState> {
        let cross = services.cross.clone();
        Arc::new(AppState {
            config: services.config.clone(),
            ledger: services.ledger.clone(),
            ring: cross.ring.clone(),
            ring_verifier,
            faults: cross.faults.clone(),
            peers: cross.peers.clone(),
            metrics: cross.metrics.clone(),
            cross,
            services,
            admin_guesses: Throttle::new(ADMIN_GUESSES_TRACKED_MAX),
            monitor: MonitorCaches {
                http: reqwest::Client::builder()
                    .timeout(MONITOR_STATUS_TIMEOUT)
                    .connect_timeout(Duration::from_millis(200))
                    .build()
                    .expect("reqwest client builds"),
                samples: Mutex::new(HashMap::new()),
            },
            consent_links: ConsentLinks::default(),
            pix,
            page_activity: crate::http::web::PageActivity::default(),
        })
    }

    pub fn bank(&self) -> &str {
        &self.config.id
    }
}
