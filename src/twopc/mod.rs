//! Cross-bank transfers by two-phase commit: the coordinator's loops (batches under the token,
//! outcome delivery, in-doubt resolution) and the participant's side (fencing, validation,
//! votes, outcomes). Driven through `Cross`, a narrow handle built by the composition root:
//! the ledger, the ring handle, the signed peer client, faults and metrics, nothing else.

pub mod coordinator;
pub mod participant;
pub mod receipts;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use ringbank_twopc::BankId;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use coordinator::wait_final;
pub use participant::ParticipantError;

use crate::faults::Faults;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::peer::PeerClient;
use crate::ring_driver::RingHandle;

/// Finalized-transfer notices kept for slow waiters (they re-read the database on lag).
const FINALIZED_CAPACITY: usize = 4096;

/// Limits a participant applies to what it is asked to prepare.
#[derive(Clone, Copy, Debug)]
pub struct ParticipantLimits {
    pub max_legs: usize,
    pub max_amount_cents: i64,
}

/// What the two-phase commit needs, and the signals and counters it shares with the transport.
pub struct Cross {
    bank: String,
    pub ledger: Ledger,
    pub ring: RingHandle,
    /// Signed client to the other banks.
    pub peers: PeerClient,
    pub faults: Arc<Faults>,
    pub metrics: Arc<Metrics>,
    pub limits: ParticipantLimits,
    /// Member bank names by the core's `BankId` (their index in the member list).
    pub banks: Arc<Vec<String>>,
    /// The participant core's settings for this bank.
    pub participant_config: ringbank_twopc::ParticipantConfig,
    /// Ids of transfers that became final here (for `Prefer: wait`).
    pub finalized: broadcast::Sender<String>,
    /// Wakes the coordinator when a cross-bank transfer is submitted.
    pub coordinator_work: Notify,
    /// Wakes the outcome delivery loop when decisions were logged.
    pub delivery_work: Notify,
    /// Batches this bank coordinated, and the transfers in them.
    pub batches: AtomicU64,
    pub batched_transfers: AtomicU64,
    /// Where the coordinator's time goes, in microseconds summed over batches: waiting for the
    /// token, holding it, ordering + local prepare, remote prepares, logging decisions.
    pub phase_micros: [AtomicU64; 5],
}

impl Cross {
    pub fn new(
        bank: String,
        ledger: Ledger,
        ring: RingHandle,
        peers: PeerClient,
        faults: Arc<Faults>,
        metrics: Arc<Metrics>,
        limits: ParticipantLimits,
    ) -> Arc<Cross> {
        let banks = Arc::new(ring.members.ids());
        let member_count = BankId::try_from(banks.len()).unwrap_or(BankId::MAX);
        let participant_config = ringbank_twopc::ParticipantConfig {
            me: ring.members.me,
            members: (0..member_count).collect(),
            limits: ringbank_twopc::PrepareLimits {
                transfers_max: crate::protocol::BATCH_MAX,
                legs_max: limits.max_legs,
                amount_max_cents: limits.max_amount_cents,
                id_length_max: 64,
            },
            in_doubt_after: u64::try_from(coordinator::IN_DOUBT_AFTER.as_millis()).unwrap_or(u64::MAX),
            resolve_interval: u64::try_from(coordinator::RESOLVE_INTERVAL.as_millis()).unwrap_or(u64::MAX),
        };
        Arc::new(Cross {
            banks,
            participant_config,
            bank,
            ledger,
            ring,
            peers,
            faults,
            metrics,
            limits,
            finalized: broadcast::channel(FINALIZED_CAPACITY).0,
            coordinator_work: Notify::new(),
            delivery_work: Notify::new(),
            batches: AtomicU64::new(0),
            batched_transfers: AtomicU64::new(0),
            phase_micros: Default::default(),
        })
    }

    pub fn bank(&self) -> &str {
        &self.bank
    }

    /// Starts the coordinator, delivery and resolution loops.
    pub fn spawn(self: &Arc<Self>, tracker: &TaskTracker, shutdown: CancellationToken) {
        coordinator::spawn(self.clone(), tracker, shutdown);
    }
}
