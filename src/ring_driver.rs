//! The ring driver: the only owner of the token-ring state machine (ringbank_ring::Node) and
//! its timers. One task, one event enum: HTTP handlers only send it events. It carries out the
//! node's actions in order: a Persist is fsynced to the ring state file before any later
//! action; sends go out through per-peer queues (best effort: the protocol retransmits);
//! grants and revocations are published on a watch channel for the code that needs the token.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringbank_domain::keys::{PublicKey, SecretKey};
use ringbank_ring::{Action, Certificate, Config as RingConfig, Ed25519Keyring, Keys, Message, Node, NodeId, Stamp};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::faults::Faults;
use crate::peer::{MemberRegistry, Members, PeerClient};
use crate::ring_clock::RingClock;
use crate::ring_state::StateFile;

/// Capacity of the driver's event queue; a full queue sheds ring messages (they are retried).
const EVENT_QUEUE: usize = 1024;
/// Messages waiting per peer before new ones are dropped.
const PEER_QUEUE: usize = 256;
/// Requests in flight per peer.
const PEER_CONCURRENCY: usize = 16;
/// Grants and regenerations remembered for status pages.
const HISTORY_MAX: usize = 32;
/// How often a bank more than one membership change behind repeats its warning (ring clock ms).
const BEHIND_WARNING_EVERY_MS: u64 = 60_000;

pub enum RingEvent {
    Message {
        from: NodeId,
        message: Message,
    },
    Want,
    Release,
    /// The Pix key directory wants the token (true) or is done with it (false). Kept apart
    /// from `Want`/`Release` (the coordinator's): the directory's release passes the token only
    /// if the coordinator does not want it; the coordinator's release passes it as before.
    DirectoryWant(bool),
    /// Fault injection: discard the token now if held here, else at the next grant.
    DropToken,
    /// Fault injection: the ring clock's rate changed; recompute the next wake-up.
    ClockChanged,
    /// A message to this member was refused at connect (its process is not running): the
    /// evidence a probe of a silent holder asks for (ringbank_ring::Node::unreachable).
    Unreachable(NodeId),
    /// Fault injection: send the last token message sent from here again after `after`.
    ReplayToken {
        after: Duration,
        replayed: tokio::sync::oneshot::Sender<bool>,
    },
}

/// The token as the rest of the bank sees it: held with this stamp until `lease_until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holding {
    pub stamp: Stamp,
    pub lease_until: Instant,
}

pub use ringbank_wire::{Regeneration, RingStatus};

/// This bank's signing key and every member's public key, by `NodeId` (the index in the sorted
/// member list): what signs this bank's confirmations and checks everyone's certificates.
#[derive(Clone, Debug)]
pub struct BankKeys {
    pub secret: SecretKey,
    pub publics: Vec<(NodeId, PublicKey)>,
}

impl BankKeys {
    /// This bank's own secret key and every member's public key from the member list (the
    /// configuration's `--peer ID=URL=ed25519:HEX`, checked at start by `ServeConfig::signing_key`).
    /// The founding members' keys: an added member's key comes with its change, in the ring's
    /// membership (`Keys::verify_member`).
    pub fn from_members(secret: SecretKey, members: &[crate::peer::Member]) -> BankKeys {
        BankKeys { secret, publics: members.iter().map(|member| (member.node, member.public_key)).collect() }
    }

    /// The keyring the ring and the participant check signatures with.
    pub fn keys(&self) -> Keys {
        Keys::new(Ed25519Keyring::new(self.secret.clone(), self.publics.clone()))
    }
}

#[derive(Clone)]
pub struct RingHandle {
    events: mpsc::Sender<RingEvent>,
    holding: watch::Receiver<Option<Holding>>,
    /// The quorum certificate of the newest grant here (presented with its prepares).
    certificate: watch::Receiver<Option<Arc<Certificate>>>,
    /// Checks certificates and confirmations.
    pub keys: Keys,
    /// Confirmations a certificate needs (the ring configuration's quorum).
    pub quorum: usize,
    status: watch::Receiver<RingStatus>,
    /// The member list, as the ring's membership changes it.
    pub registry: Arc<MemberRegistry>,
    /// The ring's membership as the driver last saw it (for a bank about to join).
    membership: watch::Receiver<Arc<ringbank_ring::Membership>>,
    /// Membership changes to propose (the admin API's).
    proposals: mpsc::Sender<Proposal>,
}

/// A membership change for the driver to queue on the node, with where to send the answer.
pub struct Proposal {
    pub change: ringbank_ring::MembershipChange,
    /// Other members' approvals (`RingHandle::approve` at each of them).
    pub approvals: Vec<ringbank_ring::Approval>,
    pub answer: tokio::sync::oneshot::Sender<Result<u64, ringbank_ring::MembershipError>>,
}

impl RingHandle {
    /// The current member list.
    pub fn members(&self) -> Arc<Members> {
        self.registry.get()
    }

    /// The ring's membership as this bank works with it.
    pub fn membership(&self) -> Arc<ringbank_ring::Membership> {
        self.membership.borrow().clone()
    }

    /// Queues a membership change on this bank's node, to be ordered by the token at its next
    /// pass; answers the version the change would create, or why it was refused at once.
    pub async fn propose(
        &self,
        change: ringbank_ring::MembershipChange,
        approvals: Vec<ringbank_ring::Approval>,
    ) -> Result<u64, ProposeError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.proposals.send(Proposal { change, approvals, answer }).await.map_err(|_| ProposeError::Stopped)?;
        answered.await.map_err(|_| ProposeError::Stopped)?.map_err(ProposeError::Refused)
    }

    /// This bank's approval of `change` as the next change of the membership it works with
    /// (its operator's decision, given to the operator of the member that will order it): the
    /// version it would create and this bank's signature over it. Refused while a change is
    /// not committed, and for a change that does not apply.
    pub fn approve(
        &self,
        change: &ringbank_ring::MembershipChange,
    ) -> Result<(u64, ringbank_ring::Approval), ringbank_ring::MembershipError> {
        let membership = self.membership();
        membership.check_change(change)?;
        let me = self.members().me;
        if !membership.is_member(me) {
            return Err(ringbank_ring::MembershipError::ProposerNotAMember(me));
        }
        let version = membership.version + 1;
        let signature = self.keys.keyring().sign(&ringbank_ring::approval_bytes(version, change));
        Ok((version, ringbank_ring::Approval { by: me, signature }))
    }

    /// Hands a message from a peer to the driver; false if the queue is full (shed).
    pub fn deliver(&self, from: NodeId, message: Message) -> bool {
        self.events.try_send(RingEvent::Message { from, message }).is_ok()
    }

    pub async fn want_token(&self) {
        let _ = self.events.send(RingEvent::Want).await;
    }

    pub async fn release(&self) {
        let _ = self.events.send(RingEvent::Release).await;
    }

    /// The directory's wish for the token (see `RingEvent::DirectoryWant`).
    pub async fn directory_want(&self, want: bool) {
        let _ = self.events.send(RingEvent::DirectoryWant(want)).await;
    }

    /// Fault injection (the fault itself is armed and counted in Faults by the caller).
    pub async fn drop_token(&self) {
        let _ = self.events.send(RingEvent::DropToken).await;
    }

    /// Fault injection: the ring clock's rate was changed (in `Faults`); the driver wakes up to
    /// sleep until its next deadline at the new rate.
    pub async fn clock_changed(&self) {
        let _ = self.events.send(RingEvent::ClockChanged).await;
    }

    /// Fault injection: re-sends the last token this bank passed on, `after` from now; false
    /// if this bank has not passed a token on yet.
    pub async fn replay_token(&self, after: Duration) -> bool {
        let (replayed, answer) = tokio::sync::oneshot::channel();
        let _ = self.events.send(RingEvent::ReplayToken { after, replayed }).await;
        answer.await.unwrap_or(false)
    }

    /// The token, if this bank holds a live lease right now.
    pub fn holding(&self) -> Option<Holding> {
        let holding = *self.holding.borrow();
        holding.filter(|h| h.lease_until > Instant::now())
    }

    /// The certificate of this bank's grant of `stamp`, if that is the newest grant here.
    pub fn certificate(&self, stamp: Stamp) -> Option<Arc<Certificate>> {
        self.certificate.borrow().clone().filter(|certificate| certificate.stamp == stamp)
    }

    pub fn subscribe_holding(&self) -> watch::Receiver<Option<Holding>> {
        self.holding.clone()
    }

    pub fn status(&self) -> RingStatus {
        // The holding watch is written at the grant, before the driver publishes the rest of
        // the status: read it second, so that it is never older than the status it amends.
        let status = self.status.borrow().clone();
        merge_status(status, *self.holding.borrow(), Instant::now())
    }
}

/// The published status amended with the live holding: `holding`, `epoch` and `token_seq` are
/// reported together from the grant (the status published before it may still carry the
/// previous stamp), so a reader never sees holding=true beside another grant's stamp.
fn merge_status(mut status: RingStatus, holding: Option<Holding>, now: Instant) -> RingStatus {
    let live = holding.filter(|h| h.lease_until > now);
    status.holding = live.is_some();
    status.lease_remaining_ms = live.map_or(0, |h| h.lease_until.saturating_duration_since(now).as_millis() as u64);
    if let Some(live) = live {
        status.epoch = live.stamp.epoch;
        status.token_seq = live.stamp.seq;
    }
    status
}

#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error("{0}")]
    Refused(ringbank_ring::MembershipError),
    #[error("the ring driver has stopped")]
    Stopped,
}

/// The ring's timing options, already validated by ringbank_ring::Config::validate.
pub struct RingOptions {
    pub config: RingConfig,
    pub keys: Keys,
    /// Where the ring state is kept: `<state_file>.a` and `.b` (crate::ring_state); earlier
    /// versions' `<state_file>.json` is read once if neither exists.
    pub state_file: PathBuf,
}

pub use crate::ring_state::StateError as RingStartError;

/// The ring state files of `options` (and the earlier versions' `<state_file>.json`).
fn open_state(options: &RingOptions) -> Result<(StateFile, Option<ringbank_ring::PersistentState>), RingStartError> {
    let legacy = PathBuf::from(format!("{}.json", options.state_file.display()));
    StateFile::open(&options.state_file, &legacy)
}

/// `serve --catch-up`: the membership this bank's ring would start with (its persisted one,
/// else the configured one).
pub fn starting_membership(options: &RingOptions) -> Result<ringbank_ring::Membership, RingStartError> {
    let (_, persisted) = open_state(options)?;
    Ok(persisted.and_then(|state| state.membership).unwrap_or_else(|| ringbank_ring::Membership::configured(&options.config)))
}

/// `serve --catch-up`: persists `membership` (newer, settled, confirmed by a quorum of its
/// members) as the one this bank's ring starts with; its promise, confirmations and certificate
/// stay as they were.
pub fn adopt_membership(options: &RingOptions, membership: ringbank_ring::Membership) -> Result<(), RingStartError> {
    let (mut file, persisted) = open_state(options)?;
    let mut state = persisted.unwrap_or_default();
    state.membership = Some(membership);
    file.write(&state).map_err(|source| RingStartError::Write { path: options.state_file.display().to_string(), source })
}

/// Loads the persisted ring state (a restarted bank never holds a token) and starts the driver.
pub fn start(
    options: RingOptions,
    registry: Arc<MemberRegistry>,
    client: PeerClient,
    faults: Arc<Faults>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<RingHandle, RingStartError> {
    let (state_file, persisted) = open_state(&options)?;
    let clock = faults.ring_clock();
    let keys = options.keys.clone();
    let quorum = options.config.quorum();
    let node = Node::new(options.config, options.keys, persisted, clock.now_ms());
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (holding_tx, holding_rx) = watch::channel(None);
    let (certificate_tx, certificate_rx) = watch::channel(None);
    let (status_tx, status_rx) = watch::channel(RingStatus::default());
    registry.apply(node.membership());
    let (membership_tx, membership_rx) = watch::channel(Arc::new(node.membership().clone()));
    let (proposals_tx, proposals_rx) = mpsc::channel(16);
    let outboxes = Outboxes {
        open: std::collections::HashMap::new(),
        client,
        faults: faults.clone(),
        events: events_tx.clone(),
        tracker: tracker.clone(),
        shutdown: shutdown.clone(),
    };
    let driver = Driver {
        node,
        keys: keys.clone(),
        clock,
        registry: registry.clone(),
        membership: membership_tx,
        state_file: Some(state_file),
        outboxes,
        holding: holding_tx,
        certificate: certificate_tx,
        status: status_tx,
        grants: 0,
        regenerations: Vec::new(),
        last_epoch: 0,
        last_grant_at: None,
        last_progress_at: None,
        last_seq_seen: 0,
        behind_warned_at: None,
        last_state: "idle",
        last_ring_len: 0,
        claimed: (0, 0),
        sent: 0,
        received: 0,
        persists: 0,
        refusals: 0,
        faults,
        last_token_sent: None,
        drop_now: false,
        stale_tokens: 0,
        coordinator_wants: false,
    };
    tracker.spawn(driver.run(events_rx, proposals_rx, shutdown));
    Ok(RingHandle {
        events: events_tx,
        holding: holding_rx,
        certificate: certificate_rx,
        keys,
        quorum,
        status: status_rx,
        registry,
        membership: membership_rx,
        proposals: proposals_tx,
    })
}

struct Driver {
    node: Node,
    keys: Keys,
    /// The node's `now`: monotonic ms at the rate of the clock-rate fault (1 without it).
    clock: Arc<RingClock>,
    registry: Arc<MemberRegistry>,
    membership: watch::Sender<Arc<ringbank_ring::Membership>>,
    /// Taken by a write in progress (on a blocking thread) and given back after it.
    state_file: Option<StateFile>,
    outboxes: Outboxes,
    holding: watch::Sender<Option<Holding>>,
    certificate: watch::Sender<Option<Arc<Certificate>>>,
    status: watch::Sender<RingStatus>,
    grants: u64,
    regenerations: Vec<Regeneration>,
    last_epoch: u64,
    last_grant_at: Option<u64>,
    /// When the token last moved (a new token_seq) in `last_epoch`, as seen here: a new
    /// epoch's "time without a token" (gap_ms) counts from it.
    last_progress_at: Option<u64>,
    last_seq_seen: u64,
    /// When this bank last warned that it is more than one membership change behind.
    behind_warned_at: Option<u64>,
    /// The node's state and live ring as last published, to log why the ring changes course.
    last_state: &'static str,
    last_ring_len: usize,
    /// The (epoch, seq) of our claim in progress, when the state became "claiming".
    claimed: (u64, u64),
    sent: u64,
    received: u64,
    persists: u64,
    /// Messages refused at connect by a member's host (see RingEvent::Unreachable).
    refusals: u64,
    faults: Arc<Faults>,
    /// The last Token message sent, kept for the replay-token fault.
    last_token_sent: Option<(NodeId, Message)>,
    /// Set when a grant must be discarded (drop-token fault) once the actions are carried out.
    drop_now: bool,
    stale_tokens: u64,
    /// The coordinator asked for the token and has not released it since.
    coordinator_wants: bool,
}

impl Driver {
    fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    fn members(&self) -> Arc<Members> {
        self.registry.get()
    }

    async fn run(mut self, mut events: mpsc::Receiver<RingEvent>, mut proposals: mpsc::Receiver<Proposal>, shutdown: CancellationToken) {
        self.publish();
        loop {
            let deadline = self.node.next_deadline().map(|ms| self.clock.instant_at(ms));
            let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(1)).into());
            let actions = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(proposal) = proposals.recv() => {
                    let version = self.node.membership().version + 1;
                    match self.node.propose_membership(proposal.change.clone(), proposal.approvals, self.now()) {
                        Ok(actions) => {
                            tracing::info!(bank = self.registry.my_id(), change = ?proposal.change, version, "membership change queued: it goes with the token at this bank's next pass");
                            let _ = proposal.answer.send(Ok(version));
                            actions
                        }
                        Err(error) => {
                            let _ = proposal.answer.send(Err(error));
                            Vec::new()
                        }
                    }
                }
                event = events.recv() => match event {
                    None => break,
                    Some(RingEvent::Message { from, message }) => {
                        self.received += 1;
                        self.count_stale_token(&message);
                        self.node.step(from, message, self.now())
                    }
                    Some(RingEvent::Want) => {
                        self.coordinator_wants = true;
                        self.node.want_token(self.now())
                    }
                    Some(RingEvent::Release) => {
                        self.coordinator_wants = false;
                        self.node.release(self.now())
                    }
                    Some(RingEvent::DirectoryWant(true)) => self.node.want_token(self.now()),
                    Some(RingEvent::DirectoryWant(false)) if self.coordinator_wants => Vec::new(),
                    Some(RingEvent::DirectoryWant(false)) => self.node.release(self.now()),
                    Some(RingEvent::DropToken) => {
                        self.drop_now = self.node.holding(self.now()).is_some();
                        Vec::new()
                    }
                    Some(RingEvent::ClockChanged) => Vec::new(),
                    Some(RingEvent::Unreachable(peer)) => {
                        self.refusals += 1;
                        let actions = self.node.unreachable(peer, self.now());
                        if !actions.is_empty() {
                            tracing::info!(bank = self.registry.my_id(), peer = self.members().id_of(peer).unwrap_or("?"), "the silent holder's bank refused a connection: suspecting the token lost now");
                        }
                        actions
                    }
                    Some(RingEvent::ReplayToken { after, replayed }) => {
                        let _ = replayed.send(self.replay_token(after));
                        Vec::new()
                    }
                },
                () = sleep => self.node.tick(self.now()),
            };
            if !self.execute(actions).await {
                tracing::error!(bank = self.registry.my_id(), "the ring state could not be persisted; this bank leaves the ring");
                break;
            }
            if std::mem::take(&mut self.drop_now) && !self.discard_token().await {
                break;
            }
            self.publish();
        }
        // Stopping: hand the token on rather than let it expire, if we hold it.
        if self.node.holding(self.now()).is_some() {
            let actions = self.node.release(self.now());
            let _ = self.execute(actions).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.holding.send_replace(None);
    }

    /// Carries out actions in order. Returns false if persisting failed (the node must stop).
    async fn execute(&mut self, actions: Vec<Action>) -> bool {
        for action in actions {
            match action {
                Action::Persist(state) => {
                    self.persists += 1;
                    let Some(mut file) = self.state_file.take() else { return false };
                    let written = tokio::task::spawn_blocking(move || file.write(&state).map(|()| file)).await;
                    match written {
                        Ok(Ok(file)) => self.state_file = Some(file),
                        Ok(Err(error)) => {
                            tracing::error!(bank = self.registry.my_id(), %error, "persisting the ring state failed");
                            return false;
                        }
                        Err(error) => {
                            tracing::error!(bank = self.registry.my_id(), %error, "persist task failed");
                            return false;
                        }
                    }
                }
                Action::Send { to, message } => self.send(to, message),
                Action::Grant { stamp, .. } if self.faults.take_drop_token() => {
                    tracing::warn!(bank = self.registry.my_id(), epoch = stamp.epoch, seq = stamp.seq, "fault: token discarded at grant");
                    self.drop_now = true;
                }
                Action::Grant { stamp, lease_until, certificate } => {
                    // The certificate first: whoever sees the grant finds its certificate.
                    self.certificate.send_replace(Some(Arc::new(certificate)));
                    self.on_grant(stamp, lease_until)
                }
                Action::Revoke { stamp } => {
                    tracing::debug!(epoch = stamp.epoch, seq = stamp.seq, "token revoked");
                    self.holding.send_replace(None);
                }
            }
        }
        true
    }

    fn send(&mut self, to: NodeId, message: Message) {
        self.sent += 1;
        if matches!(message, Message::Token { .. }) {
            self.last_token_sent = Some((to, message.clone()));
        }
        if let Some(outbox) = self.outboxes.to(to, &self.registry) {
            // A full queue drops the message: the protocol retransmits what matters.
            let _ = outbox.try_send(message);
        }
    }

    /// The drop-token fault: the state machine forgets everything it holds in memory, as
    /// after a restart (it is rebuilt from its durable state, which is written again), so no
    /// token leaves this bank and the ring has to regenerate one.
    async fn discard_token(&mut self) -> bool {
        self.faults.take_drop_token();
        self.holding.send_replace(None);
        let durable = self.node.persistent_state().clone();
        self.node = Node::new(self.node.config().clone(), self.keys.clone(), Some(durable.clone()), self.now());
        tracing::warn!(bank = self.registry.my_id(), "fault: token dropped; the ring must regenerate it");
        self.execute(vec![Action::Persist(durable)]).await
    }

    /// The replay-token fault: the last token sent goes out again after `after`; a receiver
    /// has accepted something newer since, so it must refuse it.
    fn replay_token(&self, after: Duration) -> bool {
        let Some((to, message)) = self.last_token_sent.clone() else {
            tracing::warn!(bank = self.registry.my_id(), "fault: replay-token, but no token was sent from here yet");
            return false;
        };
        let Some(outbox) = self.outboxes.open.get(&to).cloned() else { return false };
        let bank = self.registry.my_id().to_string();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            tracing::warn!(%bank, message = ?message, "fault: replaying an old token");
            let _ = outbox.send(message).await;
        });
        true
    }

    /// Counts tokens older than the newest stamp known here (replays, late retransmissions):
    /// the state machine ignores them; the count shows that it did.
    fn count_stale_token(&mut self, message: &Message) {
        if let Message::Token { stamp, .. } = message {
            let status = self.node.status(self.now());
            if *stamp < Stamp::new(status.epoch, status.seq) {
                self.stale_tokens += 1;
            }
        }
    }

    fn on_grant(&mut self, stamp: Stamp, lease_until: u64) {
        let now = self.now();
        self.grants += 1;
        if stamp.epoch != self.last_epoch {
            let gap_ms = self.last_progress_at.or(self.last_grant_at).map(|at| now.saturating_sub(at));
            if self.last_epoch != 0 {
                tracing::info!(bank = self.registry.my_id(), epoch = stamp.epoch, gap_ms, "new epoch: token regenerated");
            }
            self.push_regeneration(Regeneration { epoch: stamp.epoch, seen_at_ms: now, gap_ms });
            self.last_epoch = stamp.epoch;
        }
        self.last_progress_at = Some(now);
        self.last_seq_seen = stamp.seq;
        self.last_grant_at = Some(now);
        // The real instant at which this bank's clock (at its rate) reaches the lease end.
        let lease_until = self.clock.instant_at(lease_until);
        tracing::debug!(epoch = stamp.epoch, seq = stamp.seq, "token granted");
        self.holding.send_replace(Some(Holding { stamp, lease_until }));
    }

    fn push_regeneration(&mut self, regeneration: Regeneration) {
        if self.regenerations.len() >= HISTORY_MAX {
            self.regenerations.remove(0);
        }
        self.regenerations.push(regeneration);
    }

    /// Logs the turns that lead to a regeneration, so that one seen under load can be
    /// explained: a candidacy (with how long the token had been silent here), a claim that
    /// lapsed without a quorum of confirmations, a live ring that lost a member (a successor
    /// skipped after `pass_retries` unacknowledged sends).
    fn log_course(&mut self, status: &ringbank_ring::Status, now: u64) {
        let (from, to) = (self.last_state, status.state);
        let silent_ms = self.last_progress_at.map(|at| now.saturating_sub(at));
        let bank = self.registry.my_id();
        if from != to {
            match (from, to) {
                (_, "candidate") if silent_ms.is_none() => {
                    tracing::info!(bank, "no token seen yet: standing as candidate for the first epoch")
                }
                (_, "candidate") => {
                    tracing::warn!(bank, ?silent_ms, last_holder = ?status.last_holder.and_then(|n| self.members().id_of(n).map(str::to_string)), "suspecting the token lost: standing as candidate for a new epoch")
                }
                ("claiming", "idle") if (status.epoch, status.seq) == self.claimed => tracing::warn!(
                    bank,
                    epoch = status.epoch,
                    seq = status.seq,
                    "claim lapsed without a quorum of confirmations within the lease; the loss timer will recover the token"
                ),
                (_, "claiming") => {
                    self.claimed = (status.epoch, status.seq);
                    tracing::trace!(bank, from, to, "ring state");
                }
                _ => tracing::trace!(bank, from, to, "ring state"),
            }
            self.last_state = to;
        }
        let ring_len = status.live_ring.len();
        if ring_len < self.last_ring_len {
            let members = self.members();
            let ring: Vec<&str> = status.live_ring.iter().filter_map(|n| members.id_of(*n)).collect();
            tracing::info!(
                bank,
                ?ring,
                epoch = status.epoch,
                seq = status.seq,
                "the live ring lost a member (a successor skipped or left out)"
            );
        }
        self.last_ring_len = ring_len;
    }

    /// Hands the node's membership to the member list when it moved (a change went on the
    /// token, committed, or was adopted from a peer).
    fn follow_membership(&mut self) {
        let view = self.node.membership();
        let current = self.registry.get();
        let seen = self.membership.borrow().clone();
        if view.version == current.version && view.is_joint() == current.joint && *seen == *view {
            return;
        }
        let view = view.clone();
        if self.registry.apply(&view) {
            let members = self.members();
            tracing::info!(bank = self.registry.my_id(), version = view.version, joint = view.is_joint(), members = ?members.ids(), "membership changed");
        }
        self.membership.send_replace(Arc::new(view));
    }

    /// A member more than one membership change behind cannot follow the ring by itself: say so
    /// to the operator (once a minute), with what to do.
    fn warn_if_behind(&mut self, status: &ringbank_ring::Status, now: u64) {
        if status.membership_ahead_seen <= status.membership_version + 1 {
            return;
        }
        if self.behind_warned_at.is_some_and(|at| now.saturating_sub(at) < BEHIND_WARNING_EVERY_MS) {
            return;
        }
        self.behind_warned_at = Some(now);
        tracing::warn!(
            bank = self.registry.my_id(),
            version = status.membership_version,
            seen = status.membership_ahead_seen,
            "members work with membership version {} and this bank with {}: it missed several changes and cannot follow them; restart it with --catch-up <a member's URL>",
            status.membership_ahead_seen,
            status.membership_version
        );
    }

    fn publish(&mut self) {
        let now = self.now();
        let status = self.node.status(now);
        if status.epoch > self.last_epoch && self.last_epoch != 0 && !status.holding {
            // A newer epoch, learned through someone else's token or while regenerating: note it
            // once, with the time since the token last moved in the old epoch as seen here.
            let gap_ms = self.last_progress_at.map(|at| now.saturating_sub(at));
            self.push_regeneration(Regeneration { epoch: status.epoch, seen_at_ms: now, gap_ms });
            self.last_epoch = status.epoch;
            self.last_progress_at = Some(now);
            self.last_seq_seen = status.seq;
        } else if status.epoch == self.last_epoch && status.seq != self.last_seq_seen {
            self.last_progress_at = Some(now);
            self.last_seq_seen = status.seq;
        }
        self.log_course(&status, now);
        self.warn_if_behind(&status, now);
        self.follow_membership();
        let members = self.members();
        let name = |node: &NodeId| members.id_of(*node).unwrap_or("?").to_string();
        let ring_status = RingStatus {
            bank: self.registry.my_id().to_string(),
            epoch: status.epoch,
            token_seq: status.seq,
            holding: status.holding,
            state: status.state.to_string(),
            members: members.ids(),
            ring: status.live_ring.iter().map(name).collect(),
            promised_epoch: status.promised_epoch,
            last_holder: status.last_holder.as_ref().map(name),
            lease_remaining_ms: status.lease_until.map_or(0, |until| until.saturating_sub(now)),
            grants: self.grants,
            regenerations: self.regenerations.clone(),
            messages_sent: self.sent,
            messages_received: self.received,
            persists: self.persists,
            stale_tokens_ignored: self.stale_tokens,
            connections_refused: self.refusals,
        };
        self.status.send_replace(ring_status);
    }
}

/// One queue and one sending task per peer, so a slow or dead peer delays no one else; opened
/// at a member's first message (a member added by a change gets its queue then).
struct Outboxes {
    open: std::collections::HashMap<NodeId, mpsc::Sender<Message>>,
    client: PeerClient,
    faults: Arc<Faults>,
    events: mpsc::Sender<RingEvent>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Outboxes {
    /// The queue to member `to`, opened if need be; None for this bank or a bank the member list
    /// does not know.
    fn to(&mut self, to: NodeId, registry: &MemberRegistry) -> Option<&mpsc::Sender<Message>> {
        if to == registry.me() {
            return None;
        }
        if !self.open.contains_key(&to) {
            let member = registry.get().member(to)?.clone();
            let (sender, receiver) = mpsc::channel(PEER_QUEUE);
            let (client, faults, events, shutdown) = (self.client.clone(), self.faults.clone(), self.events.clone(), self.shutdown.clone());
            self.tracker.spawn(peer_sender(member, to, receiver, client, faults, events, shutdown));
            self.open.insert(to, sender);
        }
        self.open.get(&to)
    }
}

async fn peer_sender(
    member: crate::peer::Member,
    node: NodeId,
    receiver: mpsc::Receiver<Message>,
    client: PeerClient,
    faults: Arc<Faults>,
    events: mpsc::Sender<RingEvent>,
    shutdown: CancellationToken,
) {
    let url = member.url.clone();
    crate::peer::drain_to_peer(member, receiver, faults, PEER_CONCURRENCY, shutdown, move |message: Message| {
        let (client, url, events) = (client.clone(), url.clone(), events.clone());
        async move {
            let path = format!("/ring/v1/{}", message.kind());
            let body = serde_json::to_vec(&message).unwrap_or_default();
            if let Err(error) = client.post(&url, &path, body).await {
                tracing::trace!(%error, %url, "ring message not delivered");
                if error.connection_refused() {
                    // Shed if the driver is busy: a probe is sent once per silence, and the
                    // token timeout still covers a missed report.
                    let _ = events.try_send(RingEvent::Unreachable(node));
                }
            }
        }
    })
    .await
}

/// Asks the driver for nothing: returns once a grant is visible or the timeout passes.
pub async fn wait_for_grant(handle: &RingHandle, timeout: Duration) -> Option<Holding> {
    let mut receiver = handle.subscribe_holding();
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(holding) = handle.holding() {
            return Some(holding);
        }
        let remaining = deadline.checked_duration_since(Instant::now())?;
        if tokio::time::timeout(remaining, receiver.changed()).await.is_err() {
            return None;
        }
    }
}

/// Watches the ring handle's holding state and records hold and rotation times until
/// `shutdown`.
pub async fn observe_ring(ring: RingHandle, metrics: std::sync::Arc<crate::metrics::Metrics>, shutdown: CancellationToken) {
    let mut holding = ring.subscribe_holding();
    let mut held_since: Option<(Instant, Holding)> = None;
    let mut last_grant: Option<Instant> = None;
    let mut last_epoch = 0;
    loop {
        tokio::select! {
            changed = holding.changed() => if changed.is_err() { return },
            () = shutdown.cancelled() => return,
        }
        let now = Instant::now();
        let current = *holding.borrow_and_update();
        let same_grant = matches!((&held_since, &current), (Some((_, before)), Some(after)) if before.stamp == after.stamp);
        if same_grant {
            continue;
        }
        if let Some((since, _)) = held_since.take() {
            metrics.token_hold_seconds.observe_duration(now - since);
        }
        if let Some(grant) = current {
            if grant.stamp.epoch > last_epoch {
                if last_epoch != 0 {
                    metrics.regenerations.inc();
                }
                last_epoch = grant.stamp.epoch;
            }
            if let Some(previous) = last_grant {
                metrics.token_rotation_seconds.observe_duration(now - previous);
            }
            last_grant = Some(now);
            held_since = Some((now, grant));
        }
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    fn published(epoch: u64, seq: u64, holding: bool) -> RingStatus {
        RingStatus { epoch, token_seq: seq, holding, ..RingStatus::default() }
    }

    #[test]
    fn a_live_grant_reports_its_own_stamp_even_before_the_status_is_published() {
        let now = Instant::now();
        let grant = Holding { stamp: Stamp::new(4, 17), lease_until: now + Duration::from_millis(300) };
        // The driver has set the holding watch for (4, 17) but still publishes (3, 16).
        let status = merge_status(published(3, 16, false), Some(grant), now);
        assert!(status.holding);
        assert_eq!((status.epoch, status.token_seq), (4, 17));
        assert_eq!(status.lease_remaining_ms, 300);
    }

    #[test]
    fn an_expired_or_revoked_grant_is_not_holding_and_keeps_the_published_stamp() {
        let now = Instant::now();
        let expired = Holding { stamp: Stamp::new(4, 17), lease_until: now };
        for holding in [Some(expired), None] {
            let status = merge_status(published(4, 18, true), holding, now);
            assert!(!status.holding);
            assert_eq!((status.epoch, status.token_seq), (4, 18));
            assert_eq!(status.lease_remaining_ms, 0);
        }
    }
}
