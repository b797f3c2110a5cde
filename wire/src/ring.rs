//! GET /ring/v1/status (public): the ring as one bank sees it.

use serde::{Deserialize, Serialize};

use crate::admin::ActiveFault;

/// The contract shape of GET /ring/v1/status, plus a few extra fields.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct RingStatus {
    pub bank: String,
    pub epoch: u64,
    pub token_seq: u64,
    pub holding: bool,
    pub state: String,
    pub members: Vec<String>,
    pub ring: Vec<String>,
    pub promised_epoch: u64,
    pub last_holder: Option<String>,
    pub lease_remaining_ms: u64,
    /// Times this bank was granted the token since it started.
    pub grants: u64,
    /// Epoch changes this bank has seen since it started, newest last.
    pub regenerations: Vec<Regeneration>,
    /// Messages sent and received since start.
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Ring state writes (each one `fdatasync` of a slot file).
    pub persists: u64,
    /// Tokens received with a stamp older than the newest known here (ignored).
    pub stale_tokens_ignored: u64,
    /// Ring messages another member's host refused at connect (its process was not running);
    /// one answering a probe of a silent holder starts a candidacy early.
    #[serde(default)]
    pub connections_refused: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Regeneration {
    pub epoch: u64,
    /// Milliseconds since this bank started (its monotonic clock).
    pub seen_at_ms: u64,
    /// How long no token was seen before this epoch's first grant here, if it was granted here.
    pub gap_ms: Option<u64>,
}

/// The whole body of GET /ring/v1/status: the ring status and the faults in force.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct RingStatusView {
    #[serde(flatten)]
    pub status: RingStatus,
    #[serde(default)]
    pub active_faults: Vec<ActiveFault>,
    #[serde(default)]
    pub faults_injected: u64,
}
