//! Cross-bank transfers by two-phase commit, driven by the pure cores of `ringbank_twopc`: the
//! coordinator's driver (batches under the token, decisions, outcome delivery), the
//! participant's side (fencing, validation, votes, outcomes) and in-doubt resolution. Driven through `Cross`, a narrow handle built by the composition root:
//! the ledger, the ring handle, the signed peer client, faults and metrics, nothing else.

mod batch_size;
pub mod coordinator;
pub mod participant;
pub mod receipts;
mod resolve;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use participant::ParticipantError;

use crate::faults::Faults;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::peer::PeerClient;
use crate::ring_driver::RingHandle;

/// Finalized-transfer notices kept for slow waiters (they re-read the database on lag).

/// Limits a participant applies to what it is asked to prepare.
#[derive(Clone, Debug)]
pub struct ParticipantLimits {
    pub max_legs: usize,
    pub max_amount_cents: i64,
    /// The bank's local time, for the customers' transfer limits (day and night).
    pub time_zone: ringbank_domain::display::LocalZone,
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
    /// The participant core's settings for this bank, less the member list (`participant_config`).
    participant_template: ringbank_twopc::ParticipantConfig,
    /// Ids of transfers that became final here (for `Prefer: wait`).
    pub finalized: Finalized,
    /// Wakes the coordinator when a cross-bank transfer is submitted.
    pub coordinator_work: Notify,
    /// Batches this bank coordinated, and the transfers in them.
    pub batches: AtomicU64,
    pub batched_transfers: AtomicU64,
    /// Batches cut short to fit every participant's prepare in the body limit.
    pub batches_trimmed: AtomicU64,
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
        let participant_template = ringbank_twopc::ParticipantConfig {
            me: ring.registry.me(),
            members: Vec::new(),
            limits: ringbank_twopc::PrepareLimits {
                transfers_max: crate::protocol::BATCH_MAX,
                legs_max: limits.max_legs,
                amount_max_cents: limits.max_amount_cents,
                id_length_max: 64,
            },
            in_doubt_after: u64::try_from(resolve::IN_DOUBT_AFTER.as_millis()).unwrap_or(u64::MAX),
            resolve_interval: u64::try_from(resolve::RESOLVE_INTERVAL.as_millis()).unwrap_or(u64::MAX),
            // The ring's quorum: the certificates a prepare presents are the ring's.
            quorum: ring.quorum,
        };
        Arc::new(Cross {
            participant_template,
            bank,
            ledger,
            ring,
            peers,
            faults,
            metrics,
            limits,
            finalized: Finalized::default(),
            coordinator_work: Notify::new(),
            batches: AtomicU64::new(0),
            batched_transfers: AtomicU64::new(0),
            batches_trimmed: AtomicU64::new(0),
            phase_micros: Default::default(),
        })
    }

    /// Every bank that ever was a member, by the core's `BankId` (its ring node id): what the
    /// ledger's records name.
    pub fn banks(&self) -> Arc<Vec<String>> {
        self.ring.members().names()
    }

    /// The participant core's settings for this bank with the member list as it is now: the
    /// current members (both sets while a change is joint) and their quorum.
    pub fn participant_config(&self) -> ringbank_twopc::ParticipantConfig {
        let members = self.ring.members();
        ringbank_twopc::ParticipantConfig { members: members.nodes(), quorum: members.quorum, ..self.participant_template.clone() }
    }

    pub fn bank(&self) -> &str {
        &self.bank
    }

    /// Starts the coordinator's driver and the in-doubt resolution loop.
    pub fn spawn(self: &Arc<Self>, tracker: &TaskTracker, shutdown: CancellationToken) {
        tracker.spawn(coordinator::run(self.clone(), shutdown.clone()));
        tracker.spawn(resolve::resolve(self.clone(), shutdown));
    }
}

/// Who waits for which transfer to become final here (`Prefer: wait`): each waiter is woken by
/// its own transfer only. (A broadcast of every final id woke every waiter for each one: with
/// hundreds of clients waiting, most of a busy bank's wake-ups.)
#[derive(Default)]
pub struct Finalized {
    waiters: std::sync::Mutex<std::collections::HashMap<String, Vec<oneshot::Sender<()>>>>,
}

impl Finalized {
    /// A receiver that resolves once `id` is reported final (registered before reading the
    /// transfer, so a report between the read and the wait is not missed).
    pub fn watch(&self, id: &str) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        self.lock().entry(id.to_string()).or_default().push(sender);
        receiver
    }

    /// Reports `id` final here: wakes whoever waits for it.
    pub fn send(&self, id: String) {
        let waiters = self.lock().remove(&id);
        for waiter in waiters.into_iter().flatten() {
            let _ = waiter.send(());
        }
    }

    /// Forgets the waiters of `id` that gave up.
    fn forget(&self, id: &str) {
        let mut waiters = self.lock();
        if let Some(list) = waiters.get_mut(id) {
            list.retain(|waiter| !waiter.is_closed());
            if list.is_empty() {
                waiters.remove(id);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Vec<oneshot::Sender<()>>>> {
        self.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A wait for a transfer registered before the transfer was posted (`Prefer: wait`), so it
/// cannot miss the transfer becoming final: `wait_final_from` need not read the transfer before
/// it is reported final. Dropped unused (the posting failed), it is forgotten.
pub struct EarlyWatch<'a> {
    finalized: &'a Finalized,
    id: String,
    receiver: Option<oneshot::Receiver<()>>,
}

impl<'a> EarlyWatch<'a> {
    pub fn new(finalized: &'a Finalized, id: &str) -> Self {
        EarlyWatch { finalized, id: id.to_string(), receiver: Some(finalized.watch(id)) }
    }
}

impl Drop for EarlyWatch<'_> {
    fn drop(&mut self) {
        self.receiver.take();
        self.finalized.forget(&self.id);
    }
}

/// Waits up to `timeout` for a transfer to become final here, and answers it as read once
/// final (the caller shows it without reading it again); None if it did not become final in
/// time or could not be read.
pub async fn wait_final(cross: &Cross, id: &str, document: &str, timeout: Duration) -> Option<crate::ledger::TransferRecord> {
    wait_final_from(cross, id, document, timeout, None).await
}

/// `wait_final`, from a watch registered before `id` was posted when `early` is one for `id`:
/// then the first read is the one after the transfer was reported final (a pending transfer
/// read at once would only be read again; that read was 3 % of a bank's CPU under cross-bank
/// load).
pub async fn wait_final_from(
    cross: &Cross,
    id: &str,
    document: &str,
    timeout: Duration,
    early: Option<EarlyWatch<'_>>,
) -> Option<crate::ledger::TransferRecord> {
    let deadline = tokio::time::Instant::now() + timeout;
    if let Some(mut early) = early.filter(|early| early.id == id) {
        let notice = early.receiver.take().expect("an early watch is used once");
        if tokio::time::timeout_at(deadline, notice).await.is_err() {
            return None;
        }
    }
    loop {
        let notice = cross.finalized.watch(id);
        match cross.ledger.transfer_for(id, document).await {
            Ok(Some(view)) if view.status.is_final() => {
                drop(notice);
                cross.finalized.forget(id);
                return Some(view);
            }
            Ok(_) => {}
            Err(_) => {
                drop(notice);
                cross.finalized.forget(id);
                return None;
            }
        }
        if tokio::time::timeout_at(deadline, notice).await.is_err() {
            cross.finalized.forget(id);
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Finalized;

    #[test]
    fn an_early_watch_is_woken_like_any_and_forgotten_when_dropped_unused() {
        let finalized = Finalized::default();
        let unused = super::EarlyWatch::new(&finalized, "t1");
        let mut used = super::EarlyWatch::new(&finalized, "t2");
        assert_eq!(finalized.lock().len(), 2);
        drop(unused);
        assert!(!finalized.lock().contains_key("t1"), "a posting that failed leaves no waiter behind");
        finalized.send("t2".to_string());
        assert_eq!(used.receiver.take().expect("not used yet").try_recv(), Ok(()));
        drop(used);
        assert!(finalized.lock().is_empty());
    }

    #[test]
    fn a_waiter_is_woken_by_its_own_transfer_only_and_none_is_kept_once_gone() {
        let finalized = Finalized::default();
        let (mut mine, mut other) = (finalized.watch("t1"), finalized.watch("t2"));
        finalized.send("t1".to_string());
        assert_eq!(mine.try_recv(), Ok(()));
        assert!(other.try_recv().is_err(), "t2 is not final yet");
        assert!(!finalized.lock().contains_key("t1"), "woken waiters are dropped");
        // A waiter that gave up is forgotten; one still waiting is kept.
        let still = finalized.watch("t2");
        drop(other);
        finalized.forget("t2");
        assert_eq!(finalized.lock().get("t2").map(Vec::len), Some(1));
        drop(still);
        finalized.forget("t2");
        assert!(finalized.lock().is_empty());
        // A report nobody waits for keeps nothing.
        finalized.send("t3".to_string());
        assert!(finalized.lock().is_empty());
    }
}
