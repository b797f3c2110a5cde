//! The customer use cases: sign-up and sessions, accounts, deposits, withdrawals, transfers and
//! payments with their idempotency, validated once and posted through the ledger (and, for
//! transfers that touch other banks, handed to the two-phase commit). Shared by the JSON API
//! and the web pages, so both check exactly the same things. Knows nothing of HTTP: errors are
//! `ServiceError`, mapped to problem+json once by the transport.

pub mod consents;
mod error;
pub mod key_claims;
pub mod keys;
pub mod limiter;
pub mod limits;
pub mod operations;
pub mod pix;
pub mod receipts;
pub mod refunds;
pub mod schedules;
mod sessions;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

pub use error::ServiceError;
use limiter::Throttle;
pub use sessions::{hash_password, hash_token, Caller, InFlightGuard};

use ringbank_domain::TransferLimits;

use crate::config::ServeConfig;
use crate::ledger::Ledger;
use crate::twopc::Cross;

/// The sign-in throttle forgets everything past this many keys rather than grow without bound.
const SIGN_IN_TRACKED_MAX: usize = 100_000;

/// What the use cases need: the bank's configuration, its ledger, the cross-bank handle, and
/// the in-memory state of sessions, sign-in failures and requests in flight.
pub struct Services {
    pub config: ServeConfig,
    pub ledger: Ledger,
    pub cross: Arc<Cross>,
    /// The Pix key directory (this bank's replica, registrations, lookups).
    pub pix_keys: Arc<keys::PixKeys>,
    in_flight: Mutex<HashSet<(String, String)>>,
    /// Sessions already checked: token hash -> (caller, expiry in ms).
    sessions: Mutex<HashMap<String, (Caller, i64)>>,
    sign_in_failures: Throttle,
}

impl Services {
    pub fn new(config: ServeConfig, ledger: Ledger, cross: Arc<Cross>, pix_keys: Arc<keys::PixKeys>) -> Arc<Services> {
        Arc::new(Services {
            config,
            ledger,
            cross,
            pix_keys,
            in_flight: Mutex::new(HashSet::new()),
            sessions: Mutex::new(HashMap::new()),
            sign_in_failures: Throttle::new(SIGN_IN_TRACKED_MAX),
        })
    }

    pub fn bank(&self) -> &str {
        &self.config.id
    }

    /// The limits every transfer and amount must respect at this bank.
    pub fn transfer_limits(&self) -> TransferLimits {
        TransferLimits { max_legs: self.config.max_legs, max_amount_cents: self.config.max_amount_cents }
    }

    /// The periods of the customers' transfer limits at `now_ms` in this bank's time zone.
    pub fn limit_window(&self, now_ms: i64) -> ringbank_domain::LimitWindow {
        ringbank_domain::LimitWindow::at(now_ms, self.config.time_zone.offset_at(now_ms))
    }
}
