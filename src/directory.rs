//! The directory driver: the only owner of this bank's replica of the Pix key directory
//! (`ringbank_ring::directory::Replica`) and of the orderer it runs while it holds the token.
//! One task, one event queue: the HTTP layer only hands it messages, the service layer submits
//! operations and reads the replica (lookups never wait for the task).
//!
//! It carries out the pure core's actions in order: a `Persist` is committed by the ledger's
//! writer before any later action; sends go out through one queue per peer as signed
//! `POST /ring/v1/directory` calls (best effort: the core retransmits); messages to itself are
//! looped back. Operations are ordered only under a stamp this bank holds: with work waiting it
//! asks the ring for the token (`directory_want`), starts an `Orderer` for the stamp it is
//! granted, and gives the token back once everything it proposed is committed. Every second
//! it also fetches committed entries from the next peer, so a bank that was down catches up
//! even when nobody orders anything.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ringbank_ring::directory::{DirAction, DirMessage, Op, Orderer, Outcome, Pos, Replica};
use ringbank_ring::NodeId;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::faults::Faults;
use crate::ledger::{Job, Ledger};
use crate::peer::{MemberRegistry, PeerClient};
use crate::ring_driver::RingHandle;

const EVENT_QUEUE: usize = 4096;
const PEER_QUEUE: usize = 256;
const PEER_CONCURRENCY: usize = 16;
/// Retransmission of unanswered prepares, accepts and commits.
const RETRANSMIT: Duration = Duration::from_millis(50);
/// An orderer with nothing in flight repeats its last commit this many times, then falls
/// silent (a replica that missed it catches up through anti-entropy): an idle bank must not
/// broadcast a commit every `RETRANSMIT` forever.
const IDLE_COMMIT_REPEATS: u32 = 3;
/// How often a replica asks one peer for committed entries it may lack while the directory
/// changes; while it is quiet the interval doubles up to the bank's `--anti-entropy-max`.
const ANTI_ENTROPY: Duration = Duration::from_millis(1000);
/// At most this many operations wait for the token; more are refused (back-pressure).
const QUEUE_MAX: usize = 10_000;

/// The body of `POST /ring/v1/directory`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DirectoryEnvelope {
    pub message: DirMessage,
}

pub enum DirEvent {
    Message { from: NodeId, message: DirMessage },
    Submit { op: Op, reply: oneshot::Sender<(Pos, Outcome)> },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("the directory is busy; retry later")]
    Busy,
    #[error("the operation was not ordered within {0:?} (it may still be ordered later)")]
    Timeout(Duration),
    #[error("the directory is stopping")]
    Stopped,
}

/// Counters shown by the metrics and the status page.
#[derive(Default, Debug)]
pub struct DirectoryStats {
    pub holdings: std::sync::atomic::AtomicU64,
    pub ordered: std::sync::atomic::AtomicU64,
    pub messages_sent: std::sync::atomic::AtomicU64,
    pub persists: std::sync::atomic::AtomicU64,
}

/// Cheap handle: submit operations, read the replica.
#[derive(Clone)]
pub struct DirectoryHandle {
    events: mpsc::Sender<DirEvent>,
    replica: Arc<RwLock<Replica>>,
    pub stats: Arc<DirectoryStats>,
}

impl DirectoryHandle {
    /// Hands a peer's message to the driver; false if the queue is full (shed; retried).
    pub fn deliver(&self, from: NodeId, message: DirMessage) -> bool {
        self.events.try_send(DirEvent::Message { from, message }).is_ok()
    }

    /// Orders `op` and waits until this bank applied it (the same outcome every member gets).
    pub async fn submit(&self, op: Op, timeout: Duration) -> Result<(Pos, Outcome), SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.events.try_send(DirEvent::Submit { op, reply }).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => SubmitError::Busy,
            mpsc::error::TrySendError::Closed(_) => SubmitError::Stopped,
        })?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(_)) => Err(SubmitError::Stopped),
            Err(_) => Err(SubmitError::Timeout(timeout)),
        }
    }

    /// Reads the local replica (lookups, listings, the audit's digest).
    pub fn read<T>(&self, f: impl FnOnce(&Replica) -> T) -> T {
        f(&self.replica.read().expect("the replica lock is never poisoned"))
    }
}

/// Loads the replica from the ledger and starts the driver.
pub async fn start(
    ledger: Ledger,
    ring: RingHandle,
    client: PeerClient,
    faults: Arc<Faults>,
    anti_entropy_max: Duration,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<DirectoryHandle, crate::ledger::LedgerError> {
    let state = ledger.load_directory().await?;
    let replica = Arc::new(RwLock::new(Replica::new(state)));
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let registry = ring.registry.clone();
    let outboxes = Outboxes { open: HashMap::new(), client, faults, tracker: tracker.clone(), shutdown: shutdown.clone() };
    let stats = Arc::new(DirectoryStats::default());
    let handle = DirectoryHandle { events: events_tx.clone(), replica: replica.clone(), stats: stats.clone() };
    let driver = Driver {
        me: registry.me(),
        registry,
        ledger,
        ring,
        replica,
        orderer: None,
        queued: Vec::new(),
        proposed: Vec::new(),
        waiting: HashMap::new(),
        outboxes,
        loopback: events_tx,
        stats,
        next_peer: 0,
        fetch_every: ANTI_ENTROPY,
        fetch_max: anti_entropy_max.max(ANTI_ENTROPY),
        committed_at_fetch: None,
        next_fetch: tokio::time::Instant::now() + ANTI_ENTROPY,
        wanting: false,
        idle_repeats: 0,
    };
    tracker.spawn(driver.run(events_rx, shutdown));
    Ok(handle)
}

struct Driver {
    me: NodeId,
    /// The member list (it changes with the ring's membership).
    registry: Arc<MemberRegistry>,
    ledger: Ledger,
    ring: RingHandle,
    replica: Arc<RwLock<Replica>>,
    orderer: Option<Orderer>,
    /// Operations waiting for a stamp.
    queued: Vec<Op>,
    /// Operations handed to an orderer and not yet applied here (handed again to the next
    /// orderer if this one is superseded; a repeat is harmless: every operation is conditional,
    /// so a second copy is refused when applied).
    proposed: Vec<Op>,
    waiting: HashMap<String, oneshot::Sender<(Pos, Outcome)>>,
    outboxes: Outboxes,
    loopback: mpsc::Sender<DirEvent>,
    stats: Arc<DirectoryStats>,
    next_peer: usize,
    /// The interval to the next anti-entropy fetch: `ANTI_ENTROPY` while the replica's commit
    /// point moves, doubling up to `fetch_max` while it stays where it was at the last fetch.
    fetch_every: Duration,
    fetch_max: Duration,
    committed_at_fetch: Option<Pos>,
    next_fetch: tokio::time::Instant,
    wanting: bool,
    /// Retransmissions since the orderer last had something in flight (see IDLE_COMMIT_REPEATS).
    idle_repeats: u32,
}

impl Driver {
    async fn run(mut self, mut events: mpsc::Receiver<DirEvent>, shutdown: CancellationToken) {
        let mut retransmit = tokio::time::interval(RETRANSMIT);
        retransmit.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut holding = self.ring.subscribe_holding();
        // A restarted bank first asks everyone for what it missed.
        let peers: Vec<NodeId> = self.registry.get().nodes().into_iter().filter(|p| *p != self.me).collect();
        let catch_up = self.replica.read().expect("lock").catch_up(&peers);
        if !self.execute(catch_up).await {
            return;
        }
        loop {
            let ok = tokio::select! {
                () = shutdown.cancelled() => return,
                event = events.recv() => match event {
                    None => return,
                    Some(DirEvent::Message { from, message }) => {
                        if !matches!(message, DirMessage::Fetch { .. } | DirMessage::Entries { .. }) {
                            self.ordering_seen();
                        }
                        self.on_message(from, message).await
                    }
                    Some(DirEvent::Submit { op, reply }) => {
                        self.ordering_seen();
                        if self.queued.len() >= QUEUE_MAX {
                            drop(reply);
                            true
                        } else {
                            if let Some(id) = op.id() {
                                self.waiting.insert(id.to_string(), reply);
                            }
                            self.queued.push(op);
                            self.order().await
                        }
                    }
                },
                changed = holding.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.order().await
                }
                _ = retransmit.tick(), if self.retransmit_due() => self.on_retransmit().await,
                () = tokio::time::sleep_until(self.next_fetch) => {
                    let ok = self.on_anti_entropy().await;
                    self.next_fetch = tokio::time::Instant::now() + self.fetch_every;
                    ok
                }
            };
            if !ok {
                tracing::error!("the directory replica could not be persisted; the directory driver stops");
                return;
            }
        }
    }

    /// The directory is being ordered (a message of an ordering round came, or an operation was
    /// submitted here): anti-entropy goes back to its base rate, the next fetch within
    /// `ANTI_ENTROPY`, so that a replica that misses a commit asks for it soon. Fetches and
    /// their answers do not count, or the banks' own anti-entropy would keep it from backing off.
    fn ordering_seen(&mut self) {
        self.fetch_every = ANTI_ENTROPY;
        self.next_fetch = self.next_fetch.min(tokio::time::Instant::now() + ANTI_ENTROPY);
    }

    async fn on_message(&mut self, from: NodeId, message: DirMessage) -> bool {
        let actions = match message {
            DirMessage::Promise { .. } | DirMessage::Accepted { .. } | DirMessage::Refuse { .. } => match &mut self.orderer {
                Some(orderer) => orderer.step(from, message),
                None => Vec::new(),
            },
            message => self.replica.write().expect("lock").step(from, message),
        };
        if !self.execute(actions).await {
            return false;
        }
        if self.orderer.as_ref().is_some_and(|o| o.superseded()) {
            // A newer stamp took over: what this one proposed is ordered again under the next.
            self.orderer = None;
            self.requeue_proposed();
        }
        self.order().await
    }

    /// With work waiting: start (or feed) an orderer under the stamp held now, or ask for the
    /// token. With nothing left to do: give the token back.
    async fn order(&mut self) -> bool {
        let committed = self.replica.read().expect("lock").committed();
        if self.orderer.as_ref().is_some_and(|o| o.needs_new_round() && committed >= o.committed()) {
            // A round limited by a truncated promise has committed what it knew: the next
            // round, under the same stamp, takes the operations still waiting (in `proposed`).
            if let Some(orderer) = self.orderer.as_mut() {
                orderer.take_queued();
            }
            self.orderer = None;
        }
        let held = self.ring.holding();
        let pending = !self.queued.is_empty() || !self.proposed.is_empty();
        let busy = pending || self.orderer.as_ref().is_some_and(|o| !o.idle());
        match held {
            Some(holding) if busy => {
                if self.orderer.as_ref().map(|o| o.stamp()) != Some(holding.stamp) {
                    let from = self.replica.read().expect("lock").committed();
                    let current = self.registry.get();
                    let (orderer, actions) = Orderer::new(holding.stamp, current.nodes(), current.quorum, from);
                    self.stats.holdings.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // Operations an earlier orderer proposed but that are not applied yet go again.
                    self.requeue_proposed();
                    self.orderer = Some(orderer);
                    if !self.execute(actions).await {
                        return false;
                    }
                }
                if !self.queued.is_empty() {
                    let ops = std::mem::take(&mut self.queued);
                    self.proposed.extend(ops.iter().cloned());
                    let actions = self.orderer.as_mut().expect("set above").propose(ops);
                    if !self.execute(actions).await {
                        return false;
                    }
                }
            }
            Some(_) => {
                if self.wanting {
                    self.wanting = false;
                    self.ring.directory_want(false).await;
                }
            }
            None if pending => {
                if !self.wanting {
                    self.wanting = true;
                    self.ring.directory_want(true).await;
                }
            }
            None => {}
        }
        true
    }

    /// Operations an earlier orderer proposed and that are not applied yet go first again.
    fn requeue_proposed(&mut self) {
        let mut again = std::mem::take(&mut self.proposed);
        again.append(&mut self.queued);
        self.queued = again;
    }

    /// Whether the retransmission timer has anything to do: work waiting, or an orderer with
    /// something in flight or a commit still to repeat. An idle bank's timer sleeps.
    fn retransmit_due(&self) -> bool {
        let pending = !self.queued.is_empty() || !self.proposed.is_empty();
        pending || self.orderer.as_ref().is_some_and(|o| !o.idle() || self.idle_repeats < IDLE_COMMIT_REPEATS)
    }

    async fn on_retransmit(&mut self) -> bool {
        if let Some(orderer) = &self.orderer {
            if orderer.idle() {
                self.idle_repeats = self.idle_repeats.saturating_add(1);
            } else {
                self.idle_repeats = 0;
            }
            let actions = if self.idle_repeats <= IDLE_COMMIT_REPEATS { orderer.retransmit() } else { Vec::new() };
            if !self.execute(actions).await {
                return false;
            }
        }
        if (!self.queued.is_empty() || !self.proposed.is_empty()) && self.ring.holding().is_none() {
            // The coordinator's release may have cleared our wish: ask again.
            self.wanting = true;
            self.ring.directory_want(true).await;
        }
        self.order().await
    }

    async fn on_anti_entropy(&mut self) -> bool {
        let peers: Vec<NodeId> = self.registry.get().nodes().into_iter().filter(|p| *p != self.me).collect();
        if peers.is_empty() {
            return true;
        }
        let committed = self.replica.read().expect("lock").committed();
        // A quiet directory is checked less and less often (an idle bank's cost); any commit
        // seen here, ordered or fetched, brings the interval back to ANTI_ENTROPY.
        self.fetch_every = next_fetch_interval(self.fetch_every, self.fetch_max, self.committed_at_fetch != Some(committed));
        self.committed_at_fetch = Some(committed);
        self.next_peer = (self.next_peer + 1) % peers.len();
        let from = self.replica.read().expect("lock").committed();
        self.send(peers[self.next_peer], DirMessage::Fetch { from });
        true
    }

    /// Carries out actions in order; false if a write failed (the driver must stop).
    async fn execute(&mut self, actions: Vec<DirAction>) -> bool {
        for action in actions {
            match action {
                DirAction::Persist(write) => {
                    self.stats.persists.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if let Err(error) = self.ledger.submit(Job::Directory(write), None).await {
                        tracing::error!(%error, "persisting the directory replica failed");
                        return false;
                    }
                }
                DirAction::Send { to, message } => self.send(to, message),
                DirAction::Applied { pos, op, outcome } => {
                    if let Some(id) = op.id() {
                        self.proposed.retain(|p| p.id() != Some(id));
                        if let Some(reply) = self.waiting.remove(id) {
                            self.stats.ordered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let _ = reply.send((pos, outcome.clone()));
                        }
                    }
                    tracing::debug!(pos, ?op, ?outcome, "directory entry applied");
                }
            }
        }
        true
    }

    fn send(&mut self, to: NodeId, message: DirMessage) {
        self.stats.messages_sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if to == self.me {
            // Looped back through the queue, so one step's actions finish before the next step.
            let loopback = self.loopback.clone();
            let me = self.me;
            tokio::spawn(async move {
                let _ = loopback.send(DirEvent::Message { from: me, message }).await;
            });
            return;
        }
        if let Some(outbox) = self.outboxes.to(to, &self.registry) {
            let _ = outbox.try_send(message);
        }
    }
}

/// The interval to the next anti-entropy fetch after one made `current` after the previous:
/// back to `ANTI_ENTROPY` if the replica's commit point moved in between, otherwise doubled, up
/// to `max`.
fn next_fetch_interval(current: Duration, max: Duration, moved: bool) -> Duration {
    if moved {
        ANTI_ENTROPY
    } else {
        current.saturating_mul(2).min(max).max(ANTI_ENTROPY)
    }
}

/// One queue and one sending task per peer, so a slow or dead peer delays no one else; opened
/// at a member's first message (a member added by a ring membership change gets its queue then).
struct Outboxes {
    open: HashMap<NodeId, mpsc::Sender<DirMessage>>,
    client: PeerClient,
    faults: Arc<Faults>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Outboxes {
    fn to(&mut self, to: NodeId, registry: &MemberRegistry) -> Option<&mpsc::Sender<DirMessage>> {
        if !self.open.contains_key(&to) {
            let member = registry.get().member(to)?.clone();
            let (sender, receiver) = mpsc::channel::<DirMessage>(PEER_QUEUE);
            let (client, url) = (self.client.clone(), member.url.clone());
            let send = move |message: DirMessage| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let started = Instant::now();
                    let body = serde_json::to_vec(&DirectoryEnvelope { message }).unwrap_or_default();
                    if let Err(error) = client.post(&url, "/ring/v1/directory", body).await {
                        tracing::trace!(%error, %url, elapsed = ?started.elapsed(), "directory message not delivered");
                    }
                }
            };
            let (faults, shutdown) = (self.faults.clone(), self.shutdown.clone());
            self.tracker.spawn(crate::peer::drain_to_peer(member, receiver, faults, PEER_CONCURRENCY, shutdown, send));
            self.open.insert(to, sender);
        }
        self.open.get(&to)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{next_fetch_interval, ANTI_ENTROPY};

    #[test]
    fn a_quiet_directory_is_fetched_less_and_less_often_and_a_commit_brings_it_back() {
        let max = Duration::from_secs(8);
        let mut every = ANTI_ENTROPY;
        let mut seen = Vec::new();
        for _ in 0..6 {
            every = next_fetch_interval(every, max, false);
            seen.push(every.as_secs());
        }
        assert_eq!(seen, [2, 4, 8, 8, 8, 8]);
        assert_eq!(next_fetch_interval(max, max, true), ANTI_ENTROPY);
        // A maximum of one second (or less) keeps the fixed one-second fetch of before.
        assert_eq!(next_fetch_interval(ANTI_ENTROPY, Duration::from_secs(1), false), ANTI_ENTROPY);
        assert_eq!(next_fetch_interval(ANTI_ENTROPY, Duration::ZERO, false), ANTI_ENTROPY);
    }
}
