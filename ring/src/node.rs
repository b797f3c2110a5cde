//! The node state machine: one phase at a time, inputs through `step`/`tick`/`want_token`/
//! `release`, outputs as an ordered list of actions. No I/O, no clock, no randomness.

use ringbank_domain::keys::Signature;

use crate::config::Config;
use crate::membership::{Approval, Membership, MembershipChange, MembershipError, SignedChange};
use crate::message::{Action, Message, PersistentState, Stamp, Status};
use crate::quorum::{Certificate, Confirmation, Keys};
use crate::{Millis, NodeId};

/// A set of members, by their index in `Node::ids` (the working membership's members, then the
/// member a joint change removes, then this node if it is in neither): bit `i` is `ids[i]`. Wide enough for
/// `MAX_MEMBERS` (checked at compile time below); every bit is made by `bit`, never by a bare shift.
type Mask = u128;

const _: () = assert!(crate::config::MAX_MEMBERS <= Mask::BITS as usize, "a Mask must hold a bit per member");

/// The mask of the member at `index` (an index into `Config::members`, so below `MAX_MEMBERS`).
fn bit(index: usize) -> Mask {
    assert!(index < Mask::BITS as usize, "member index {index} does not fit a mask");
    1 << index
}

/// Which bits of a candidate's epoch name the candidate, so that no two candidates ever
/// propose the same epoch and the higher epoch always wins.
const EPOCH_OWNER_BITS: u32 = 16;

/// The highest round an epoch can have (48 bits above the owner's 16).
const MAX_ROUND: u64 = (1 << (64 - EPOCH_OWNER_BITS)) - 1;

/// How many rounds an epoch may run ahead of the newest certified epoch a node knows. A message
/// about an epoch further ahead is dropped unread (no promise, no reply), and no candidate mints
/// one: an epoch jump is believed only as far as a quorum certificate vouches for its base. One
/// forged `Propose { epoch: 2^63 + 5 }` therefore changes nothing; a dishonest member can push
/// the epoch forward by at most this many rounds per certificate it obtains (each needing honest
/// confirmations). Honest candidates outbid each other by one round per failed election, so the
/// bound only bites after 4096 failed elections in a row without any grant.
pub const MAX_ROUNDS_AHEAD: u64 = 4096;

/// One member of the ring.
#[derive(Clone, Debug)]
pub struct Node {
    config: Config,
    keys: Keys,
    /// The membership this node counts quorums in and routes by: normally that of the claim it
    /// last confirmed (`durable.membership`); a holder that committed a change already uses the
    /// committed set, a holder passing a change the joint one, a candidate the one it adopted.
    view: Membership,
    /// The founding membership (version 0 of `Config::members`), which `None` on the wire
    /// means; None for a node added by a change (it drops such messages).
    founding: Option<Membership>,
    /// The membership this node was configured with (`Membership::configured`).
    configured: Membership,
    /// `view.union()`, then this node if it is not in it: what mask bits name.
    ids: Vec<NodeId>,
    /// The bits of `view.members`, and of `view.previous` while joint (0 otherwise).
    current_bits: Mask,
    previous_bits: Mask,
    my_index: usize,
    /// `(id, index in ids)` sorted by id: `index_of` is a binary search, not a scan
    /// (it runs for every message, every ring id in it, and every `next_deadline`).
    index_by_id: Vec<(NodeId, usize)>,
    /// A change `propose_membership` queued against the membership version given, put on the
    /// token at our next pass if we are still at that version (else dropped).
    pending_change: Option<(u64, MembershipChange, Vec<Approval>)>,
    /// The newest quorum certificate seen (verified), the base for epoch jumps; persisted with
    /// every other change.
    certified: Option<Certificate>,
    /// A mirror of the last state handed out in `Action::Persist`.
    durable: PersistentState,
    /// When (on our clock) we recorded `durable.last_confirmed`; lost on restart.
    confirm_time: Option<Millis>,
    phase: Phase,
    /// The driver has local work waiting: keep the token up to the lease when we get it.
    want: bool,
    /// Until then (our clock) the ring hurries: a member asked for the token (`Wake`), so an
    /// idle holder passes at once and nobody parks the token.
    hurry_until: Millis,
    /// Newest stamp seen in any token or claim.
    highest_seen: Stamp,
    /// Newest epoch seen in any message, so that a new candidate outbids all of them.
    max_epoch_seen: u64,
    /// The live ring of the newest token or claim seen.
    known_ring: Mask,
    /// The index (in `Config::members`) of the newest holder seen; the loss timer's stagger counts from it.
    last_holder: Option<usize>,
    /// Last time we saw the token move; the loss timer counts from here. It only grows (the
    /// clock is monotonic), so its value names the quiet period since that progress: `probed`
    /// and `early_suspect` count only while it is unchanged.
    last_progress: Millis,
    /// We sent a `Probe` to the last holder in the quiet period starting at `.0`, with `.1` the
    /// newest stamp seen then: at most one probe per holding seen (`Config::probe_after`).
    probed: Option<(Millis, Stamp)>,
    /// Until then (our clock) a `Parked` beat from the last holder for `highest_seen` counts as
    /// progress: `hold_max + idle_park` plus one retransmit after its claim reached us. Later
    /// beats are ignored, so a holder that keeps parking cannot hold off a regeneration.
    beats_until: Millis,
    /// When we last counted a `Parked` beat (0: never): a probe is due again after one.
    last_beat: Millis,
    /// The driver reported the probed last holder unreachable in the quiet period starting at
    /// `.0`: the loss timer fires at `.1` (the report's time plus our stagger) if that is earlier.
    early_suspect: Option<(Millis, Millis)>,
    next_join: Millis,
    /// When each member last asked to join the ring.
    join_requests: Vec<Option<Millis>>,
    last_now: Millis,
    /// `Status::membership_ahead_seen`.
    membership_ahead_seen: u64,
}

#[derive(Clone, Debug)]
enum Phase {
    Idle,
    /// We accepted a token and wait for a majority to confirm our claim.
    Claiming {
        stamp: Stamp,
        ring: Mask,
        lease_until: Millis,
        confirmed: Mask,
        /// The signed confirmations behind `confirmed`, ours first.
        confirmations: Vec<Confirmation>,
        next_retransmit: Millis,
    },
    /// A majority confirmed: the lease is ours until `lease_until`.
    Holding {
        stamp: Stamp,
        ring: Mask,
        lease_until: Millis,
        idle_until: Millis,
        certificate: Certificate,
        /// Local work wanted the token during this hold: it is not parked after it.
        worked: bool,
    },
    /// We stopped holding and hand `stamp` (the next sequence number) to `target`.
    Passing {
        stamp: Stamp,
        ring: Mask,
        target: NodeId,
        failures: u32,
        next_retry: Millis,
        /// The certificate of the stamp we held, sent with the token.
        proof: Option<Certificate>,
        /// Not sent yet: the token waits here after an idle hold until `next_retry` (or a wake).
        parked: bool,
        /// While parked: when we next tell every member that the token is parked here.
        beat_at: Millis,
    },
    /// The token looks lost: we gather promises for a new epoch.
    Candidate {
        epoch: u64,
        deadline: Millis,
        promised: Mask,
        /// The end of every lease the promisers reported (each stretched by the drift margin).
        wait_until: Millis,
        /// Set once a majority promised: when we may claim `(epoch, 1)`.
        ready_at: Option<Millis>,
        /// The newest confirmation among the promises counted (ours included), ordered by the
        /// committed version its membership implies, then by its version (a joint membership
        /// outranks the set before it), then by stamp (`Membership::report_rank`): `view` is the
        /// membership reported with it.
        best: (u64, u64, Stamp),
        next_retransmit: Millis,
    },
}

enum ConfirmOutcome {
    New,
    Repeat,
    Refused,
}

impl Node {
    /// Creates a node, fresh (`persisted` = None) or restarted from its persisted state.
    /// A (re)started node never holds the token. Panics if `config.validate()` fails.
    pub fn new(config: Config, keys: Keys, persisted: Option<PersistentState>, now: Millis) -> Node {
        if let Err(error) = config.validate() {
            panic!("invalid ring configuration: {error}");
        }
        let durable = persisted.unwrap_or_default();
        let confirmed = durable.last_confirmed.map_or(Stamp::ZERO, |(stamp, _)| stamp);
        let highest_seen = durable.highest_accepted.max(confirmed);
        let configured = Membership::configured(&config);
        let founding = config.membership.is_none().then(|| configured.clone());
        let view = durable.membership.clone().unwrap_or(configured);
        let ids = ids_for(&view, config.me);
        let my_index = ids.iter().position(|id| *id == config.me).expect("ids_for includes me");
        let index_by_id = index_by_id(&ids);
        let member_count = ids.len();
        let (current_bits, previous_bits) = view_bits(&view, &ids);
        Node {
            index_by_id,
            ids,
            current_bits,
            previous_bits,
            configured: Membership::configured(&config),
            view,
            founding,
            pending_change: None,
            keys,
            certified: durable.newest_certificate.clone(),
            my_index,
            confirm_time: None,
            phase: Phase::Idle,
            want: false,
            hurry_until: 0,
            highest_seen,
            max_epoch_seen: durable.promised_epoch.max(highest_seen.epoch),
            durable,
            known_ring: 0,
            last_holder: None,
            last_progress: now,
            probed: None,
            beats_until: 0,
            last_beat: 0,
            early_suspect: None,
            next_join: now,
            join_requests: vec![None; member_count],
            last_now: now,
            membership_ahead_seen: 0,
            config,
        }
    }

    /// Handles a message from member `from`.
    pub fn step(&mut self, from: NodeId, message: Message, now: Millis) -> Vec<Action> {
        if let Message::Probe { .. } = message {
            // Its only use is at the sender's transport (a refused connection): it changes
            // nothing here, not even the epoch we have seen, and it is not progress.
            return Vec::new();
        }
        let now = self.clock(now);
        let mut out = Vec::new();
        let from_index = self.index_of(from);
        if from_index == Some(self.my_index) {
            return out;
        }
        // Only members of our membership are heard, except a claim from a member of the
        // membership it carries (a member we have not learnt of yet: `on_claim` checks it).
        if from_index.is_none() && !matches!(message, Message::Claim { .. }) {
            return out;
        }
        if let Some(proof) = message.proof() {
            self.learn_certificate(proof);
        }
        if epoch_round(message.epoch()) > self.round_limit() {
            // An epoch further ahead than any certificate vouches for: dropped unread, so a forged
            // far-future epoch neither raises our promise nor outbids honest candidates.
            return out;
        }
        self.max_epoch_seen = self.max_epoch_seen.max(message.epoch());
        let known = from_index.unwrap_or(usize::MAX);
        match message {
            Message::Token { stamp, ring, proof, membership } => self.on_token(from, stamp, &ring, proof, membership, now, &mut out),
            Message::TokenAck { stamp } => self.on_token_ack(stamp, now),
            Message::Claim { stamp, holder, ring, membership, .. } => self.on_claim(from, stamp, holder, &ring, membership, now, &mut out),
            Message::Confirm { stamp, holder, signature } => self.on_confirm(from, known, stamp, holder, signature, now, &mut out),
            Message::Propose { epoch, .. } => self.on_propose(from, epoch, now, &mut out),
            Message::Promise { epoch, last_confirmed, lease_remaining, membership } => {
                let reported = last_confirmed.map_or(Stamp::ZERO, |(stamp, _)| stamp);
                self.on_promise(known, epoch, reported, membership, lease_remaining, now, &mut out)
            }
            Message::Reject { promised_epoch } => self.on_reject(promised_epoch, now, &mut out),
            Message::Join { .. } => self.join_requests[known] = Some(now),
            Message::Wake { .. } => self.on_wake(now, &mut out),
            Message::Probe { .. } => {}
            Message::Parked { stamp } => self.on_parked(known, stamp, now),
        }
        out
    }

    /// Fires whatever timers are due. Call it at `next_deadline()` (calling it early or late is harmless).
    pub fn tick(&mut self, now: Millis) -> Vec<Action> {
        let now = self.clock(now);
        let mut out = Vec::new();
        match self.phase.clone() {
            Phase::Idle => {
                let suspect = self.suspect_deadline();
                if now >= suspect + self.config.token_timeout / 2 {
                    // Called long after our own deadline: we were frozen (or starved), so we cannot
                    // tell whether the token moved meanwhile. Listen for a full timeout before
                    // disrupting a ring that may be healthy.
                    self.last_progress = now;
                } else if now >= suspect {
                    self.start_candidacy(now, &mut out);
                } else {
                    if let Some((at, holder)) = self.probe_due() {
                        if now >= at {
                            // Silent for probe_after: knock once at the last holder's door. Only a
                            // refused connection (its process is gone) makes the driver tell us
                            // (`unreachable`); an answer, a loss or silence changes nothing.
                            self.probed = Some((self.last_progress, self.highest_seen));
                            let to = self.ids[holder];
                            self.send(to, Message::Probe { epoch: self.durable.promised_epoch }, &mut out);
                        }
                    }
                    if !self.in_known_ring() && now >= self.next_join {
                        self.next_join = now + self.config.token_timeout / 2;
                        self.broadcast(Message::Join { epoch: self.durable.promised_epoch }, &mut out);
                    }
                }
            }
            Phase::Claiming { stamp, ring, lease_until, confirmed, confirmations, next_retransmit } => {
                if now >= lease_until {
                    // No majority in time: the token may be lost; the loss timer recovers it.
                    self.phase = Phase::Idle;
                } else if now >= next_retransmit {
                    let membership = self.wire_view();
                    let claim = Message::Claim {
                        stamp,
                        holder: self.config.me,
                        ring: self.ring_ids(ring),
                        proof: self.certified.clone(),
                        membership,
                    };
                    self.send_to_mask(!confirmed, claim, &mut out);
                    let next_retransmit = now + self.config.retransmit;
                    self.phase = Phase::Claiming { stamp, ring, lease_until, confirmed, confirmations, next_retransmit };
                }
            }
            Phase::Holding { lease_until, idle_until, .. } => {
                if now >= lease_until || (!self.want && now >= idle_until) {
                    self.pass_token(now, &mut out);
                }
            }
            Phase::Passing { next_retry, parked, beat_at, .. } => {
                if now >= next_retry {
                    self.retry_pass(now, &mut out);
                } else if parked && now >= beat_at {
                    self.park_beat(now, &mut out);
                }
            }
            Phase::Candidate { epoch, deadline, promised, wait_until, ready_at, best, next_retransmit } => {
                if let Some(ready_at) = ready_at {
                    if now >= ready_at {
                        self.start_epoch(now, &mut out);
                    }
                } else if now >= deadline {
                    // No majority answered: back off for a full timeout before trying again.
                    self.phase = Phase::Idle;
                    self.last_progress = now;
                } else if now >= next_retransmit {
                    self.send_to_mask(!promised, Message::Propose { epoch, proof: self.certified.clone() }, &mut out);
                    let next_retransmit = now + self.config.retransmit;
                    self.phase = Phase::Candidate { epoch, deadline, promised, wait_until, ready_at, best, next_retransmit };
                }
            }
        }
        // Still waiting for the token when the wake wears off: wake the ring again, or a member
        // with nothing to do would park the token while we wait.
        if self.waiting_unwoken(now) {
            self.wake(now, &mut out);
        }
        out
    }

    /// We want the token, do not hold or claim it, and no wake is in force.
    fn waiting_unwoken(&self, now: Millis) -> bool {
        self.want && now >= self.hurry_until && self.ids.len() > 1 && !matches!(self.phase, Phase::Holding { .. } | Phase::Claiming { .. })
    }

    /// Asks every member to hurry the token (at most once per token timeout from here).
    fn wake(&mut self, now: Millis, out: &mut Vec<Action>) {
        self.hurry_until = now + self.config.token_timeout;
        self.broadcast(Message::Wake { epoch: self.durable.promised_epoch }, out);
    }

    /// Local work is waiting: when we hold the token, keep it until `release` or the lease ends.
    /// The wish stays until `release` is called.
    pub fn want_token(&mut self, now: Millis) -> Vec<Action> {
        let now = self.clock(now);
        let mut out = Vec::new();
        let wanted = std::mem::replace(&mut self.want, true);
        if let Phase::Holding { worked, .. } = &mut self.phase {
            *worked = true;
        }
        // A token parked here after an idle hold goes round now and comes back.
        self.unpark(now, &mut out);
        if !wanted && self.waiting_unwoken(now) {
            // The ring may be idling (pauses, parks): ask everyone to hurry the token here. At
            // most once per token timeout, and not again while a wake is in force (`tick` wakes
            // it again if we still wait when it wears off).
            self.wake(now, &mut out);
        }
        out
    }

    /// Queues a membership change (one member added or removed) to be ordered by the token: at
    /// our next pass we sign it and hand the token on under the joint membership (the old set's
    /// quorum and the new set's must confirm the next claim); once such a claim is granted the
    /// change is committed and the new set alone counts. Refused while a change is queued here
    /// or not known committed, by a node that is not a member, or if the change does not apply
    /// (`Membership::check_change`), or without the approvals of a quorum of the current set
    /// (`approvals`, signed over `approval_bytes` for the next version; this node's own counts
    /// through its signature on the change); dropped at the pass if the membership moved on to another
    /// version meanwhile (a change that came first). Returns the actions of a wake (the token hurries here), if
    /// we do not hold. The change is done when `status()` shows its version, not joint; a change
    /// lost with a token or a restart is not retried: propose it again.
    pub fn propose_membership(
        &mut self,
        change: MembershipChange,
        approvals: Vec<Approval>,
        now: Millis,
    ) -> Result<Vec<Action>, MembershipError> {
        let now = self.clock(now);
        if self.pending_change.is_some() {
            return Err(MembershipError::ChangeInFlight { version: self.view.version });
        }
        if !self.view.is_member(self.config.me) {
            return Err(MembershipError::ProposerNotAMember(self.config.me));
        }
        self.view.check_change(&change)?;
        let approved = self.view.approvals_of(&change, self.config.me, &approvals, &self.keys);
        let needed = self.view.approvals_needed(self.view.members.len());
        if approved < needed {
            return Err(MembershipError::NotApproved { approved, needed });
        }
        self.pending_change = Some((self.view.version, change, approvals));
        let mut out = Vec::new();
        let holds = matches!(self.phase, Phase::Holding { .. } | Phase::Claiming { .. });
        if !holds && now >= self.hurry_until && self.ids.len() > 1 {
            self.wake(now, &mut out);
        }
        Ok(out)
    }

    /// The membership this node works with (see `Status::membership_version`).
    pub fn membership(&self) -> &Membership {
        &self.view
    }

    /// Local work is done: if we hold the token, pass it on now.
    pub fn release(&mut self, now: Millis) -> Vec<Action> {
        let now = self.clock(now);
        self.want = false;
        let mut out = Vec::new();
        if matches!(self.phase, Phase::Holding { .. }) {
            self.pass_token(now, &mut out);
        }
        out
    }

    /// The driver could not deliver a message to `peer` because its process is not running
    /// (the connection was refused: nobody listens at its address). Call it for refusals only,
    /// never for timeouts, resets of a live connection or partitions: silence proves nothing.
    ///
    /// It counts only as the answer to our `Probe`: if we are idle, `peer` is the last holder we
    /// know, we probed it and have seen no progress since, the loss timer is moved up to
    /// `now + stagger` (the same rank-based stagger as the loss timer's, so the dead holder's
    /// successor tries first), and the actions of that timer are returned if it is due now.
    /// Otherwise it changes nothing and returns nothing. Becoming a candidate early is always
    /// safe (a candidate needs a quorum of durable promises and waits out their leases); a
    /// wrong report costs one needless regeneration at most.
    pub fn unreachable(&mut self, peer: NodeId, now: Millis) -> Vec<Action> {
        let Some(index) = self.index_of(peer) else { return Vec::new() };
        let probed_now = self.probed == Some((self.last_progress, self.highest_seen));
        if !matches!(self.phase, Phase::Idle) || index == self.my_index || self.last_holder != Some(index) || !probed_now {
            return Vec::new();
        }
        let now = self.clock(now);
        let at = now + self.stagger();
        let at = match self.early_suspect {
            Some((period, earlier)) if period == self.last_progress => earlier.min(at),
            _ => at,
        };
        self.early_suspect = Some((self.last_progress, at));
        self.tick(now)
    }

    /// The latest time at which the driver must call `tick` next.
    pub fn next_deadline(&self) -> Option<Millis> {
        let deadline = match &self.phase {
            Phase::Idle => {
                let mut deadline = self.suspect_deadline();
                if !self.in_known_ring() {
                    deadline = deadline.min(self.next_join);
                }
                if let Some((probe_at, _)) = self.probe_due() {
                    deadline = deadline.min(probe_at);
                }
                deadline
            }
            Phase::Claiming { lease_until, next_retransmit, .. } => (*lease_until).min(*next_retransmit),
            Phase::Holding { lease_until, idle_until, .. } => {
                if self.want {
                    *lease_until
                } else {
                    (*lease_until).min(*idle_until)
                }
            }
            Phase::Passing { next_retry, parked: true, beat_at, .. } if beat_at < next_retry => *beat_at,
            Phase::Passing { next_retry, .. } => *next_retry,
            Phase::Candidate { ready_at: Some(ready_at), .. } => *ready_at,
            Phase::Candidate { deadline, next_retransmit, .. } => (*deadline).min(*next_retransmit),
        };
        if self.want && self.ids.len() > 1 && !matches!(self.phase, Phase::Holding { .. } | Phase::Claiming { .. }) {
            return Some(deadline.min(self.hurry_until));
        }
        Some(deadline)
    }

    /// The stamp and lease end of the token we hold, if the lease is live at `now`.
    pub fn holding(&self, now: Millis) -> Option<(Stamp, Millis)> {
        match &self.phase {
            Phase::Holding { stamp, lease_until, .. } if now < *lease_until => Some((*stamp, *lease_until)),
            _ => None,
        }
    }

    /// The quorum certificate of the token we hold, if the lease is live at `now`.
    pub fn certificate(&self, now: Millis) -> Option<&Certificate> {
        match &self.phase {
            Phase::Holding { lease_until, certificate, .. } if now < *lease_until => Some(certificate),
            _ => None,
        }
    }

    /// The newest certified stamp this node has seen (its own grants included).
    pub fn newest_certified(&self) -> Option<Stamp> {
        self.certified.as_ref().map(|certificate| certificate.stamp)
    }

    pub fn status(&self, now: Millis) -> Status {
        let holding = self.holding(now);
        Status {
            me: self.config.me,
            epoch: self.highest_seen.epoch,
            seq: self.highest_seen.seq,
            holding: holding.is_some(),
            lease_until: holding.map(|(_, until)| until),
            state: self.state_name(),
            live_ring: self.ring_ids(self.known_ring),
            promised_epoch: self.durable.promised_epoch,
            last_holder: self.last_holder.map(|index| self.ids[index]),
            membership_version: self.view.version,
            members: self.view.members.clone(),
            membership_joint: self.view.is_joint(),
            member: self.view.is_member(self.config.me),
            pending_change: self.pending_change.as_ref().map(|(_, change, _)| change.clone()),
            membership_ahead_seen: self.membership_ahead_seen,
        }
    }

    /// The state as last handed out for persisting.
    pub fn persistent_state(&self) -> &PersistentState {
        &self.durable
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn state_name(&self) -> &'static str {
        match self.phase {
            Phase::Idle => "idle",
            Phase::Claiming { .. } => "claiming",
            Phase::Holding { .. } => "holding",
            Phase::Passing { .. } => "passing",
            Phase::Candidate { .. } => "candidate",
        }
    }
}

// Message handlers.
impl Node {
    #[allow(clippy::too_many_arguments)]
    fn on_token(
        &mut self,
        from: NodeId,
        stamp: Stamp,
        ring: &[NodeId],
        proof: Option<Certificate>,
        membership: Option<Membership>,
        now: Millis,
        out: &mut Vec<Action>,
    ) {
        if stamp.epoch < self.durable.promised_epoch {
            self.send(from, Message::Reject { promised_epoch: self.durable.promised_epoch }, out);
            return;
        }
        let confirmed = self.durable.last_confirmed.map_or(Stamp::ZERO, |(stamp, _)| stamp);
        if stamp <= self.durable.highest_accepted || stamp <= confirmed {
            // A duplicate, or a token overtaken by a newer one: the passer can stop retrying.
            self.send(from, Message::TokenAck { stamp }, out);
            return;
        }
        // Only the holder of the stamp just before may hand this one on: the token must come with
        // the passer's own certificate for it. Otherwise a dishonest member could mint the next
        // stamp (or a new epoch's first) and hand it to an honest member, who would claim it while
        // the real holder's lease still runs (found by the ring simulator with a Byzantine member).
        // The token's membership is the passer's (or, committed or with one change more, the
        // one its certificate was claimed under), and one we may adopt.
        let Some(view) = self.resolve(&membership) else { return };
        let proven = proof.as_ref().is_some_and(|proof| {
            proof.holder == from
                && proof.stamp.epoch == stamp.epoch
                && proof.stamp.seq.checked_add(1) == Some(stamp.seq)
                && self.believe_certificate(proof)
                && self.resolve(&proof.membership).is_some_and(|under| under.may_adopt(view, &self.keys))
        });
        if !proven || !self.may_adopt(view) {
            let ahead = self.ahead_of_us(from, view);
            self.membership_ahead_seen = self.membership_ahead_seen.max(ahead);
            return;
        }
        let view = view.clone();
        self.accept_token(stamp, ring.to_vec(), view, now, Some(from), out);
    }

    fn on_token_ack(&mut self, stamp: Stamp, now: Millis) {
        if let Phase::Passing { stamp: passing, .. } = self.phase {
            if stamp >= passing {
                self.phase = Phase::Idle;
                self.last_progress = now;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_claim(
        &mut self,
        from: NodeId,
        stamp: Stamp,
        holder: NodeId,
        ring: &[NodeId],
        membership: Option<Membership>,
        now: Millis,
        out: &mut Vec<Action>,
    ) {
        if holder != from {
            return;
        }
        // The claim counts in the membership it carries: its sender must be in it, and we must
        // be able to adopt it (at most one change from ours, well formed, signed).
        let Some(view) = self.resolve(&membership) else { return };
        let counted = view.members.contains(&from) || view.previous.as_ref().is_some_and(|previous| previous.contains(&from));
        if !counted || !self.may_adopt(view) {
            let ahead = self.ahead_of_us(from, view);
            self.membership_ahead_seen = self.membership_ahead_seen.max(ahead);
            return;
        }
        let view = view.clone();
        if stamp.epoch < self.durable.promised_epoch {
            self.send(from, Message::Reject { promised_epoch: self.durable.promised_epoch }, out);
            return;
        }
        // A claim for a newer stamp means the token moved past whatever we were doing with it.
        let overtaken = match self.phase {
            Phase::Claiming { stamp: mine, .. } | Phase::Holding { stamp: mine, .. } => mine < stamp,
            Phase::Passing { stamp: mine, .. } => mine <= stamp,
            _ => false,
        };
        if overtaken {
            self.stop_activity(out);
            self.last_progress = now;
        }
        let repeat_of_other = self.durable.last_confirmed == Some((stamp, holder)) && self.durable_view() != view;
        if repeat_of_other {
            return; // the same claim again must carry the same membership
        }
        match self.record_confirmation(stamp, holder, now) {
            ConfirmOutcome::New => {
                // Adopted with the confirmation, durably: the membership we report in promises
                // is always that of the claim we last confirmed.
                self.store_view(&view);
                self.install_view(view.clone());
                self.raise_promise(stamp.epoch, out);
                self.persist(out);
                let signature = self.keys.sign_confirm_in(stamp, holder, Some(&view));
                self.send(from, Message::Confirm { stamp, holder, signature }, out);
            }
            ConfirmOutcome::Repeat => {
                let signature = self.keys.sign_confirm_in(stamp, holder, Some(&view));
                self.send(from, Message::Confirm { stamp, holder, signature }, out);
            }
            ConfirmOutcome::Refused => {}
        }
        if stamp > self.highest_seen {
            self.highest_seen = stamp;
            self.last_progress = now;
            self.known_ring = self.mask_of(ring);
            self.last_holder = self.index_of(holder);
            self.beats_until = now + self.config.hold_max + self.config.idle_park + self.config.retransmit;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_confirm(
        &mut self,
        from: NodeId,
        from_index: usize,
        stamp: Stamp,
        holder: NodeId,
        signature: Signature,
        now: Millis,
        out: &mut Vec<Action>,
    ) {
        if holder != self.config.me {
            return;
        }
        let wanted = from_index < self.ids.len()
            && matches!(&self.phase, Phase::Claiming { stamp: mine, confirmed, .. } if *mine == stamp && *confirmed & bit(from_index) == 0);
        // A confirmation counts only with the confirmer's valid signature over (stamp, us): the
        // certificate we assemble from them must convince every participant on its own.
        if !wanted || !self.keys.verify_confirm_in(from, stamp, holder, Some(&self.view), &signature) {
            return;
        }
        if let Phase::Claiming { confirmed, confirmations, .. } = &mut self.phase {
            *confirmed |= bit(from_index);
            confirmations.push(Confirmation { by: from, signature });
            let confirmed = *confirmed;
            if self.is_quorum(confirmed) {
                self.become_holder(now, out);
            }
        }
    }

    fn on_propose(&mut self, from: NodeId, epoch: u64, now: Millis, out: &mut Vec<Action>) {
        if !self.view.is_member(from) {
            // A member a change removes (or removed) may not start an epoch, nor disturb ours: it
            // would end every claim of the ring it left with a promise it can never use.
            return;
        }
        let promised = self.durable.promised_epoch;
        if epoch > promised {
            self.raise_promise(epoch, out);
            self.persist(out);
            self.send_promise(from, epoch, now, out);
            // Give the candidate time to finish before suspecting anything ourselves.
            self.last_progress = now;
        } else if epoch == promised && epoch_owner(epoch) == from {
            self.send_promise(from, epoch, now, out);
        } else {
            self.send(from, Message::Reject { promised_epoch: promised }, out);
        }
    }

    /// A promise counts in our membership; one reporting a newer confirmation than any counted
    /// so far brings the membership of that confirmation, which we adopt (and then need a quorum
    /// of it, both sets while joint), or, if we may not adopt it, we give up this candidacy.
    #[allow(clippy::too_many_arguments)]
    fn on_promise(
        &mut self,
        from_index: usize,
        epoch: u64,
        reported: Stamp,
        membership: Option<Membership>,
        lease_remaining: Millis,
        now: Millis,
        out: &mut Vec<Action>,
    ) {
        // The promiser already stretched its lease by the drift margin (`lease_remaining`).
        let margin_wait = now.saturating_add(lease_remaining);
        let Phase::Candidate { epoch: mine, promised, ready_at, best, .. } = &self.phase else {
            return;
        };
        if *mine != epoch || from_index >= self.ids.len() || *promised & bit(from_index) != 0 {
            return;
        }
        let from = self.ids[from_index];
        let Some(view) = self.resolve(&membership) else { return };
        let (committed, version) = view.report_rank();
        let key = (committed, version, reported);
        if ready_at.is_none() && key > *best && *view != self.view {
            if !self.may_adopt(view) {
                // A membership we cannot follow (too far ahead, or one that would undo what we
                // know committed): this promise is not counted. Safe: the argument only needs
                // the counted promises and the membership of the newest of them.
                return;
            }
            if !view.is_member(self.config.me) {
                // The newest membership no longer has us: we were removed.
                self.phase = Phase::Idle;
                self.last_progress = now;
                return;
            }
            self.install_view(view.clone());
        }
        // `install_view` may have moved the promiser's bit: look it up again.
        let Some(from_bit) = self.index_of(from).map(bit) else { return };
        let Phase::Candidate { promised, wait_until, ready_at, best, .. } = &mut self.phase else { return };
        *promised |= from_bit;
        if ready_at.is_none() {
            *best = (*best).max(key);
            *wait_until = (*wait_until).max(margin_wait);
            let promised = *promised;
            if self.is_quorum(promised) {
                if let Phase::Candidate { ready_at, wait_until, .. } = &mut self.phase {
                    *ready_at = Some(*wait_until);
                }
            }
        }
        if matches!(self.phase, Phase::Candidate { ready_at: Some(at), .. } if now >= at) {
            self.start_epoch(now, out);
        }
    }

    fn on_reject(&mut self, promised_epoch: u64, now: Millis, out: &mut Vec<Action>) {
        let Some(epoch) = self.activity_epoch() else { return };
        if epoch < promised_epoch {
            // Some member promised a newer epoch: whatever we do in the old one is finished.
            let was_candidate = matches!(self.phase, Phase::Candidate { .. });
            self.stop_activity(out);
            if was_candidate {
                self.last_progress = now;
            }
        }
    }
}

// Transitions.
impl Node {
    /// Takes a token (from a pass, our own pass to ourselves, or a new epoch): records it and
    /// our own confirmation durably, then claims it from every member.
    /// `view` is the membership the claim counts in (adopted and stored with our own
    /// confirmation); `ring` the live ring, by id.
    fn accept_token(
        &mut self,
        stamp: Stamp,
        ring: Vec<NodeId>,
        view: Membership,
        now: Millis,
        ack_to: Option<NodeId>,
        out: &mut Vec<Action>,
    ) {
        self.stop_activity(out);
        let confirmed = self.durable.last_confirmed.map_or(Stamp::ZERO, |(stamp, _)| stamp);
        if stamp.epoch < self.durable.promised_epoch || stamp <= self.durable.highest_accepted || stamp <= confirmed {
            return;
        }
        if !view.is_member(self.config.me) {
            return; // a member removed by the change takes no token under it
        }
        self.install_view(view);
        let view = self.view.clone();
        self.store_view(&view);
        let ring = (self.mask_of(&ring) | self.my_bit()) & self.current_mask();
        self.durable.highest_accepted = stamp;
        let outcome = self.record_confirmation(stamp, self.config.me, now);
        assert!(matches!(outcome, ConfirmOutcome::New), "accepting {stamp}: our own confirmation must be new");
        self.raise_promise(stamp.epoch, out);
        let sends_before = out.iter().filter(|a| matches!(a, Action::Send { .. })).count();
        self.persist(out);
        // Persist before send: the acceptance is durable before anyone hears of it (paired with
        // the driver, which fsyncs each Persist before carrying out the actions after it).
        debug_assert!(matches!(out.last(), Some(Action::Persist(p)) if p.highest_accepted == stamp));
        debug_assert_eq!(out.iter().filter(|a| matches!(a, Action::Send { .. })).count(), sends_before);
        if let Some(to) = ack_to {
            self.send(to, Message::TokenAck { stamp }, out);
        }
        self.highest_seen = self.highest_seen.max(stamp);
        self.known_ring = ring;
        self.last_holder = Some(self.my_index);
        self.last_progress = now;
        let membership = self.wire_view();
        let claim = Message::Claim { stamp, holder: self.config.me, ring: self.ring_ids(ring), proof: self.certified.clone(), membership };
        self.broadcast(claim, out);
        let own = Confirmation { by: self.config.me, signature: self.keys.sign_confirm_in(stamp, self.config.me, Some(&view)) };
        self.phase = Phase::Claiming {
            stamp,
            ring,
            lease_until: now + self.config.hold_max,
            confirmed: self.my_bit(),
            confirmations: vec![own],
            next_retransmit: now + self.config.retransmit,
        };
        if self.is_quorum(self.my_bit()) {
            self.become_holder(now, out);
        }
    }

    fn become_holder(&mut self, now: Millis, out: &mut Vec<Action>) {
        let Phase::Claiming { stamp, ring, lease_until, confirmed, ref confirmations, .. } = self.phase else { return };
        // Paired with the confirmers' side (record_confirmation refuses a second holder for one
        // stamp): holding needs a quorum of the configured members, ourselves included, and a
        // lease no longer than hold_max from the claim.
        assert!(self.is_quorum(confirmed), "holding {stamp} without a quorum");
        assert_eq!(confirmations.len(), confirmed.count_ones() as usize, "a confirmation without its signature");
        let certificate = Certificate { stamp, holder: self.config.me, confirmations: confirmations.clone(), membership: self.wire_view() };
        assert!(confirmed & self.my_bit() != 0, "holding {stamp} without our own durable confirmation");
        assert_eq!(self.durable.last_confirmed, Some((stamp, self.config.me)), "holding {stamp} not confirmed durably here");
        assert!(stamp.epoch >= self.durable.promised_epoch, "holding {stamp} below our promise");
        self.last_progress = now;
        if now >= lease_until {
            self.phase = Phase::Idle;
            return;
        }
        if self.certified.as_ref().is_none_or(|known| known.stamp < stamp) {
            self.certified = Some(certificate.clone());
        }
        if self.view.is_joint() {
            // A quorum of the old set and of the new one confirmed: the change is committed.
            // From our next pass on, the new set alone counts (the token carries it).
            self.install_view(self.view.committed());
        }
        let idle_until = if now < self.hurry_until { now } else { now + self.config.idle_pause };
        self.phase = Phase::Holding { stamp, ring, lease_until, idle_until, certificate: certificate.clone(), worked: self.want };
        out.push(Action::Grant { stamp, lease_until, certificate });
    }

    /// Stops holding and hands the next sequence number to the successor, taking in joiners.
    fn pass_token(&mut self, now: Millis, out: &mut Vec<Action>) {
        if !matches!(self.phase, Phase::Holding { .. }) {
            return;
        }
        self.order_pending_change();
        let Phase::Holding { stamp, ring, ref certificate, worked, .. } = self.phase else { return };
        let proof = Some(certificate.clone());
        // After an idle hold, and unless someone asked for the token, it waits here a while.
        let park = !worked && !self.want && now >= self.hurry_until && self.config.idle_park > 0;
        out.push(Action::Revoke { stamp });
        self.phase = Phase::Idle;
        let mut ring = ring | self.my_bit();
        let join_horizon = now.saturating_sub(2 * self.config.token_timeout);
        for (index, request) in self.join_requests.iter_mut().enumerate() {
            if let Some(at) = request.take() {
                if at >= join_horizon {
                    ring |= bit(index);
                }
            }
        }
        let ring = ring & self.current_mask();
        self.last_progress = now;
        let next = Stamp::new(stamp.epoch, stamp.seq + 1);
        // Paired with accept_token at the successor, which takes only stamps above its highest
        // accepted one: what we pass is above everything we accepted ourselves.
        assert!(next > self.durable.highest_accepted, "passing {next} not above our own {}", self.durable.highest_accepted);
        self.pass_to_successor(next, ring, proof, park, now, out);
    }

    fn pass_to_successor(&mut self, stamp: Stamp, ring: Mask, proof: Option<Certificate>, park: bool, now: Millis, out: &mut Vec<Action>) {
        match self.successor(ring) {
            // We are the only live member left: claim the token ourselves (it still needs a majority).
            None => {
                let ring = self.ring_ids(ring);
                self.accept_token(stamp, ring, self.view.clone(), now, None, out)
            }
            Some(target) if park => {
                let next_retry = now + self.config.idle_park;
                // The members last heard of us at our claim, about an idle pause ago. A park
                // that ends before anyone would probe (or suspect) us needs no beats.
                let beat_at = if self.config.park_needs_beats() {
                    now + self.config.park_beat().saturating_sub(self.config.idle_pause)
                } else {
                    Millis::MAX
                };
                self.phase = Phase::Passing { stamp, ring, target, failures: 0, next_retry, proof, parked: true, beat_at };
            }
            Some(target) => {
                let token = Message::Token { stamp, ring: self.ring_ids(ring), proof: proof.clone(), membership: self.wire_view() };
                self.send(target, token, out);
                let next_retry = now + self.config.retransmit;
                self.phase = Phase::Passing { stamp, ring, target, failures: 0, next_retry, proof, parked: false, beat_at: 0 };
            }
        }
    }

    fn retry_pass(&mut self, now: Millis, out: &mut Vec<Action>) {
        let Phase::Passing { stamp, ring, target, failures, ref proof, parked, .. } = self.phase else { return };
        let proof = proof.clone();
        if parked {
            // The park is over: the first send.
            return self.pass_to_successor(stamp, ring, proof, false, now, out);
        }
        let failures = failures + 1;
        if failures >= self.config.pass_retries {
            // The successor looks dead: skip it, with the same stamp.
            let ring = ring & !self.bit_of(target);
            self.pass_to_successor(stamp, ring, proof, false, now, out);
        } else {
            let token = Message::Token { stamp, ring: self.ring_ids(ring), proof: proof.clone(), membership: self.wire_view() };
            self.send(target, token, out);
            let next_retry = now + self.config.retransmit;
            self.phase = Phase::Passing { stamp, ring, target, failures, next_retry, proof, parked: false, beat_at: 0 };
        }
    }

    /// A parked token is sent on now.
    fn unpark(&mut self, now: Millis, out: &mut Vec<Action>) {
        if matches!(self.phase, Phase::Passing { parked: true, .. }) {
            self.retry_pass(now, out);
        }
    }

    /// A member has work: hurry the token to it. An idle holder passes it now, a parked one
    /// sends it now, and until the wake wears off nobody pauses idly or parks.
    fn on_wake(&mut self, now: Millis, out: &mut Vec<Action>) {
        self.hurry_until = self.hurry_until.max(now + self.config.token_timeout);
        match self.phase {
            Phase::Holding { worked: false, .. } if !self.want => self.pass_token(now, out),
            Phase::Passing { parked: true, .. } => self.unpark(now, out),
            _ => {}
        }
    }

    /// The last holder parks the token it held at `stamp`: progress, if it is the holder we
    /// know, of the newest stamp we saw, within the window its claim opened (`beats_until`).
    fn on_parked(&mut self, from_index: usize, stamp: Stamp, now: Millis) {
        if self.last_holder == Some(from_index) && stamp == self.highest_seen && now <= self.beats_until {
            self.last_progress = self.last_progress.max(now);
            self.last_beat = self.last_progress;
        }
    }

    /// Parked here: tell every member the token is not lost, and when to tell them again.
    fn park_beat(&mut self, now: Millis, out: &mut Vec<Action>) {
        let next = now + self.config.park_beat();
        let Phase::Passing { parked: true, ref proof, ref mut beat_at, .. } = self.phase else { return };
        *beat_at = next;
        if let Some(held) = proof.as_ref().map(|proof| proof.stamp) {
            self.broadcast(Message::Parked { stamp: held }, out);
        }
    }

    fn start_candidacy(&mut self, now: Millis, out: &mut Vec<Action>) {
        // A candidate starts from the membership of its own last confirmation (what it reports
        // itself) and adopts newer ones from the promises. A node that is not a member of it
        // (removed) never proposes.
        self.install_view(self.durable_view());
        if !self.view.is_member(self.config.me) {
            self.last_progress = now;
            return;
        }
        let highest = self.max_epoch_seen.max(self.durable.promised_epoch);
        let round = epoch_round(highest) + 1;
        if round > self.round_limit() {
            // No certificate vouches for an epoch that far ahead: the others would drop the
            // proposal. Wait for a grant (its certificate moves the base) instead.
            self.last_progress = now;
            return;
        }
        let epoch = (round << EPOCH_OWNER_BITS) | u64::from(self.config.me);
        self.durable.promised_epoch = epoch;
        self.max_epoch_seen = epoch;
        self.persist(out);
        self.broadcast(Message::Propose { epoch, proof: self.certified.clone() }, out);
        let wait_until = now + self.lease_remaining(now);
        let ready_at = if self.is_quorum(self.my_bit()) { Some(wait_until) } else { None };
        self.phase = Phase::Candidate {
            epoch,
            deadline: now + self.config.token_timeout,
            promised: self.my_bit(),
            wait_until,
            ready_at,
            best: {
                let (committed, version) = self.view.report_rank();
                (committed, version, self.durable.last_confirmed.map_or(Stamp::ZERO, |(stamp, _)| stamp))
            },
            next_retransmit: now + self.config.retransmit,
        };
        if matches!(ready_at, Some(at) if now >= at) {
            self.start_epoch(now, out);
        }
    }

    /// A majority promised and every lease they reported has ended: claim `(epoch, 1)`.
    fn start_epoch(&mut self, now: Millis, out: &mut Vec<Action>) {
        let Phase::Candidate { epoch, promised, .. } = self.phase else { return };
        self.phase = Phase::Idle;
        let ring = self.ring_ids(promised);
        self.accept_token(Stamp::new(epoch, 1), ring, self.view.clone(), now, None, out);
    }

    /// Promises `epoch` (the caller persists) and abandons anything about an older epoch.
    fn raise_promise(&mut self, epoch: u64, out: &mut Vec<Action>) {
        if epoch <= self.durable.promised_epoch {
            return;
        }
        self.durable.promised_epoch = epoch;
        self.max_epoch_seen = self.max_epoch_seen.max(epoch);
        if matches!(self.activity_epoch(), Some(current) if current < epoch) {
            self.stop_activity(out);
        }
    }

    fn stop_activity(&mut self, out: &mut Vec<Action>) {
        if let Phase::Holding { stamp, .. } = self.phase {
            out.push(Action::Revoke { stamp });
        }
        self.phase = Phase::Idle;
    }

    fn record_confirmation(&mut self, stamp: Stamp, holder: NodeId, now: Millis) -> ConfirmOutcome {
        match self.durable.last_confirmed {
            Some((confirmed, _)) if stamp < confirmed => ConfirmOutcome::Refused,
            Some((confirmed, confirmed_holder)) if stamp == confirmed => {
                if confirmed_holder == holder {
                    self.confirm_time = Some(now);
                    ConfirmOutcome::Repeat
                } else {
                    ConfirmOutcome::Refused
                }
            }
            _ => {
                self.durable.last_confirmed = Some((stamp, holder));
                self.confirm_time = Some(now);
                ConfirmOutcome::New
            }
        }
    }
}

// Small helpers.
impl Node {
    /// Adopts a certificate newer than the newest we know, if it verifies.
    fn learn_certificate(&mut self, proof: &Certificate) {
        if self.certified.as_ref().is_some_and(|known| known.stamp >= proof.stamp) {
            return; // nothing to learn: no signature checked
        }
        if self.believe_certificate(proof) {
            self.certified = Some(proof.clone());
        }
    }

    /// A certificate is believed if it was claimed under a membership we could adopt (ours, or
    /// one change away) and has a quorum of it (of both sets while joint) with valid signatures.
    fn believe_certificate(&self, proof: &Certificate) -> bool {
        self.resolve(&proof.membership).is_some_and(|under| self.may_adopt(under) && proof.verify_in(under, &self.keys).is_ok())
    }

    /// A membership from the wire: `None` is the founding one (if we know it).
    /// The version of `view`, a membership `from` sent that we could not adopt, if it is well
    /// formed, has `from` in it and is more than one change ahead of ours (else 0): for
    /// `Status::membership_ahead_seen`. Checked (a signature) only when newer than any seen.
    fn ahead_of_us(&self, from: NodeId, view: &Membership) -> u64 {
        let member = view.members.contains(&from) || view.previous.as_ref().is_some_and(|previous| previous.contains(&from));
        let ahead = member && view.version > self.view.version + 1 && view.version > self.membership_ahead_seen;
        if ahead && view.is_well_formed(&self.keys) {
            view.version
        } else {
            0
        }
    }

    fn resolve<'a>(&'a self, membership: &'a Option<Membership>) -> Option<&'a Membership> {
        membership.as_ref().or(self.founding.as_ref())
    }

    /// Our working membership for the wire: `None` while it is the founding one, so a ring that
    /// never changed sends what it always sent.
    fn wire_view(&self) -> Option<Membership> {
        (!self.view.is_founding()).then(|| self.view.clone())
    }

    /// The membership of our last confirmation (what a `Promise` reports).
    fn durable_view(&self) -> Membership {
        self.durable.membership.clone().unwrap_or_else(|| self.configured.clone())
    }

    /// Records `view` as the membership of the confirmation being made (the caller persists).
    fn store_view(&mut self, view: &Membership) {
        self.durable.membership = (*view != self.configured).then(|| view.clone());
    }

    /// One change away from our working or durable membership, not undoing what the working one
    /// knows committed (`Membership::keeps`), nor the membership our newest certificate proves
    /// committed (`Membership::respects`): the holder of a grant under a joint membership passes
    /// its certificate on with the token and its claims, so every member learns the commit.
    fn may_adopt(&self, view: &Membership) -> bool {
        let durable = self.durable.membership.as_ref().unwrap_or(&self.configured);
        let floor = self.certified.as_ref().and_then(|certificate| self.resolve(&certificate.membership)).map(Membership::proven_committed);
        (self.view.may_adopt(view, &self.keys) || durable.may_adopt(view, &self.keys))
            && self.view.keeps(view)
            && floor.is_none_or(|floor| view.respects(&floor))
    }

    /// True if the members in `mask` are a quorum of the working membership (both sets while joint).
    fn is_quorum(&self, mask: Mask) -> bool {
        let enough = |set: Mask| (mask & set).count_ones() as usize >= self.view.quorum_of(set.count_ones() as usize);
        enough(self.current_bits) && (self.previous_bits == 0 || enough(self.previous_bits))
    }

    /// The current members of the working membership (not the one a joint change removes).
    fn current_mask(&self) -> Mask {
        self.current_bits
    }

    /// At a pass: a queued change that still applies is signed and the working membership
    /// becomes the joint one, which the token carries. Only when the working membership is
    /// committed (not joint): one change at a time.
    fn order_pending_change(&mut self) {
        let Some((version, change, approvals)) = self.pending_change.take() else { return };
        if version != self.view.version || self.view.check_change(&change).is_err() || !self.view.is_member(self.config.me) {
            // Another change came first: this one was decided against a membership that is gone,
            // so it is dropped (status shows no pending change) rather than applied on top.
            return;
        }
        let version = self.view.version + 1;
        let signature = self.keys.keyring().sign(&crate::membership::change_bytes(version, &change, self.config.me));
        let signed = SignedChange { version, change, proposer: self.config.me, signature, approvals };
        self.install_view(self.view.apply(signed));
    }

    /// Makes `view` the working membership: mask bits are renumbered (ring, confirmations,
    /// promises, join requests, the last holder) by id.
    fn install_view(&mut self, view: Membership) {
        if view == self.view {
            return;
        }
        let old = std::mem::replace(&mut self.ids, ids_for(&view, self.config.me));
        self.index_by_id = index_by_id(&self.ids);
        self.my_index = self.index_of(self.config.me).expect("ids_for includes me");
        (self.current_bits, self.previous_bits) = view_bits(&view, &self.ids);
        self.view = view;
        let remap = |node: &Node, mask: Mask| -> Mask {
            old.iter().enumerate().filter(|(index, _)| mask & bit(*index) != 0).fold(0, |acc, (_, id)| acc | node.bit_of(*id))
        };
        let mut phase = self.phase.clone();
        match &mut phase {
            Phase::Idle => {}
            Phase::Claiming { ring, confirmed, .. } => {
                *ring = remap(self, *ring);
                *confirmed = remap(self, *confirmed);
            }
            Phase::Holding { ring, .. } | Phase::Passing { ring, .. } => *ring = remap(self, *ring),
            Phase::Candidate { promised, .. } => *promised = remap(self, *promised),
        }
        self.phase = phase;
        self.known_ring = remap(self, self.known_ring);
        self.last_holder = self.last_holder.and_then(|index| self.index_of(old[index]));
        let mut requests = vec![None; self.ids.len()];
        for (index, request) in self.join_requests.iter().enumerate() {
            if let Some(at) = self.index_of(old[index]) {
                requests[at] = *request;
            }
        }
        self.join_requests = requests;
    }

    /// The highest epoch round this node believes or mints: `MAX_ROUNDS_AHEAD` past the newest
    /// certified one.
    fn round_limit(&self) -> u64 {
        let base = self.certified.as_ref().map_or(0, |certificate| epoch_round(certificate.stamp.epoch));
        base.saturating_add(MAX_ROUNDS_AHEAD).min(MAX_ROUND)
    }

    fn clock(&mut self, now: Millis) -> Millis {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    fn activity_epoch(&self) -> Option<u64> {
        match &self.phase {
            Phase::Idle => None,
            Phase::Claiming { stamp, .. } | Phase::Holding { stamp, .. } | Phase::Passing { stamp, .. } => Some(stamp.epoch),
            Phase::Candidate { epoch, .. } => Some(*epoch),
        }
    }

    /// How long the lease of our newest confirmation may still run, on our clock, stretched by
    /// the drift margin: `hold_max × (1 + margin)` from the confirmation. The stretch is applied
    /// here, to the whole lease, not by the candidate to what remains of it: a member whose clock
    /// runs faster than the holder's would otherwise count the lease out early and report 0
    /// while the holder still holds (ring/README.md, "Clock rates"). After a restart we no
    /// longer know when we confirmed, so we assume a whole (stretched) lease.
    fn lease_remaining(&self, now: Millis) -> Millis {
        let lease = self.config.with_drift_margin(self.config.hold_max);
        match (self.durable.last_confirmed, self.confirm_time) {
            (None, _) => 0,
            (Some(_), None) => lease,
            (Some(_), Some(at)) => (at + lease).saturating_sub(now),
        }
    }

    fn send_promise(&self, to: NodeId, epoch: u64, now: Millis, out: &mut Vec<Action>) {
        let view = self.durable_view();
        let membership = (!view.is_founding()).then_some(view);
        let message =
            Message::Promise { epoch, last_confirmed: self.durable.last_confirmed, lease_remaining: self.lease_remaining(now), membership };
        self.send(to, message, out);
    }

    /// The loss timer, staggered by our distance from the last holder so that its successor
    /// tries first and candidates rarely duel; earlier if the probed last holder was reported
    /// unreachable since the last progress (`unreachable`).
    fn suspect_deadline(&self) -> Millis {
        // A member that has seen no claim since it started (restarted, or new) does not know whom
        // to hear beats from: a parked token would look lost to it. It waits out a whole park
        // more before it suspects, by which time a healthy ring has claimed again.
        let unknown_holder =
            if self.last_holder.is_none() && self.config.park_needs_beats() { self.config.idle_pause + self.config.idle_park } else { 0 };
        let deadline = self.last_progress + self.config.token_timeout + unknown_holder + self.stagger();
        match self.early_suspect {
            Some((period, at)) if period == self.last_progress => deadline.min(at),
            _ => deadline,
        }
    }

    /// `rank × token_timeout / 2n`, rank being our distance from the last holder (0: its successor).
    fn stagger(&self) -> Millis {
        let n = self.ids.len();
        let after = self.last_holder.unwrap_or(n - 1);
        let rank = (self.my_index + n - after - 1) % n;
        rank as Millis * self.config.token_timeout / (2 * n as Millis)
    }

    /// When to probe, and whom (an index into `Config::members`): idle, probing on, a last
    /// holder other than us, and not probed yet for the newest holding seen, or since its last
    /// `Parked` beat.
    fn probe_due(&self) -> Option<(Millis, usize)> {
        if self.config.probe_after == 0 || !matches!(self.phase, Phase::Idle) {
            return None;
        }
        let holder = self.last_holder.filter(|holder| *holder != self.my_index)?;
        if self.probed.is_some_and(|(at, stamp)| stamp == self.highest_seen && at >= self.last_beat) {
            return None;
        }
        Some((self.last_progress + self.config.probe_after, holder))
    }

    fn in_known_ring(&self) -> bool {
        self.known_ring & self.my_bit() != 0
    }

    /// The next live current member after us in ring order (a member a joint change removes is
    /// never a successor).
    fn successor(&self, ring: Mask) -> Option<NodeId> {
        let n = self.ids.len();
        let ring = ring & self.current_mask();
        (1..n).map(|step| (self.my_index + step) % n).find(|index| ring & bit(*index) != 0).map(|index| self.ids[index])
    }

    fn persist(&mut self, out: &mut Vec<Action>) {
        self.durable.newest_certificate = self.certified.clone();
        out.push(Action::Persist(self.durable.clone()));
    }

    fn send(&self, to: NodeId, message: Message, out: &mut Vec<Action>) {
        out.push(Action::Send { to, message });
    }

    fn broadcast(&self, message: Message, out: &mut Vec<Action>) {
        self.send_to_mask(Mask::MAX, message, out);
    }

    fn send_to_mask(&self, mask: Mask, message: Message, out: &mut Vec<Action>) {
        for (index, id) in self.ids.iter().enumerate() {
            if index != self.my_index && mask & bit(index) != 0 {
                self.send(*id, message.clone(), out);
            }
        }
    }

    fn index_of(&self, id: NodeId) -> Option<usize> {
        self.index_by_id.binary_search_by_key(&id, |(member, _)| *member).ok().map(|at| self.index_by_id[at].1)
    }

    fn my_bit(&self) -> Mask {
        bit(self.my_index)
    }

    fn bit_of(&self, id: NodeId) -> Mask {
        self.index_of(id).map_or(0, bit)
    }

    fn mask_of(&self, ids: &[NodeId]) -> Mask {
        ids.iter().fold(0, |mask, id| mask | self.bit_of(*id))
    }

    fn ring_ids(&self, ring: Mask) -> Vec<NodeId> {
        let members = self.ids.iter().enumerate();
        members.filter(|(index, _)| ring & bit(*index) != 0).map(|(_, id)| *id).collect()
    }
}

/// What mask bits name for a node with membership `view`: its members in ring order, then the
/// member a joint change removes, then `me` if it is in neither.
fn ids_for(view: &Membership, me: NodeId) -> Vec<NodeId> {
    let mut ids = view.union();
    if !ids.contains(&me) {
        ids.push(me);
    }
    assert!(ids.len() <= Mask::BITS as usize, "{} ids do not fit a mask", ids.len());
    ids
}

/// The bits (over `ids`) of the current members and, while joint, of the previous ones.
fn view_bits(view: &Membership, ids: &[NodeId]) -> (Mask, Mask) {
    let bits =
        |set: &[NodeId]| set.iter().filter_map(|id| ids.iter().position(|other| other == id)).fold(0, |mask, index| mask | bit(index));
    (bits(&view.members), view.previous.as_deref().map_or(0, bits))
}

fn index_by_id(ids: &[NodeId]) -> Vec<(NodeId, usize)> {
    let mut index: Vec<(NodeId, usize)> = ids.iter().enumerate().map(|(index, id)| (*id, index)).collect();
    index.sort_unstable();
    index
}

/// The round of an epoch (the bits above the candidate's id): candidates outbid by rounds.
pub fn epoch_round(epoch: u64) -> u64 {
    epoch >> EPOCH_OWNER_BITS
}

/// The candidate that proposed `epoch`.
pub fn epoch_owner(epoch: u64) -> NodeId {
    (epoch & ((1 << EPOCH_OWNER_BITS) - 1)) as NodeId
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MAX_MEMBERS;
    use crate::quorum::SimKeyring;

    fn hundred() -> Vec<NodeId> {
        (0..100).map(|index| 1000 + index as NodeId).collect()
    }

    #[test]
    fn a_hundred_member_config_validates_and_the_limit_is_128() {
        let members = hundred();
        assert_eq!(Config::with_defaults(members[99], members.clone()).validate(), Ok(()));
        let most: Vec<NodeId> = (0..MAX_MEMBERS as NodeId).collect();
        assert_eq!(MAX_MEMBERS, 128);
        assert_eq!(Config::with_defaults(127, most.clone()).validate(), Ok(()));
        let too_many: Vec<NodeId> = (0..=MAX_MEMBERS as NodeId).collect();
        assert_eq!(Config::with_defaults(0, too_many).validate(), Err(crate::ConfigError::TooManyMembers(129)));
    }

    #[test]
    fn members_with_index_64_and_above_are_in_the_ring_mask() {
        let members = hundred();
        let node =
            Node::new(Config::with_defaults(members[99], members.clone()), Keys::new(SimKeyring::new(members[99], &members, 1)), None, 0);
        assert_eq!(node.my_bit(), 1u128 << 99);
        // Indexes on both sides of the old 64-bit limit survive a round trip through a mask.
        let ids = vec![members[0], members[63], members[64], members[70], members[99]];
        let ring = node.mask_of(&ids);
        assert_eq!(ring.count_ones(), 5);
        assert_ne!(ring & bit(64), 0);
        assert_ne!(ring & bit(99), 0);
        assert_eq!(node.ring_ids(ring), ids);
        // The successor walks past index 63 and wraps after 99.
        assert_eq!(node.successor(ring), Some(members[0]));
        assert_eq!(node.successor(bit(64) | bit(99)), Some(members[64]));
        assert_eq!(node.successor(bit(99)), None);
        assert_eq!(node.bit_of(members[64]), 1u128 << 64);
        // The id -> index lookup (a binary search) agrees with the member list, in any order.
        let shuffled: Vec<NodeId> = (0..100).map(|index| ((index * 37) % 100) as NodeId).collect();
        let other = Node::new(Config::with_defaults(5, shuffled.clone()), Keys::new(SimKeyring::new(5, &shuffled, 1)), None, 0);
        for (index, id) in shuffled.iter().enumerate() {
            assert_eq!(other.index_of(*id), Some(index));
        }
        assert_eq!(other.index_of(100), None);
        // A broadcast reaches all 99 others, the members above index 63 included.
        let mut out = Vec::new();
        node.broadcast(Message::Join { epoch: 0 }, &mut out);
        let sent: Vec<NodeId> =
            out.iter().filter_map(|action| if let Action::Send { to, .. } = action { Some(*to) } else { None }).collect();
        assert_eq!(sent, members[..99].to_vec());
        // And a set of 51 confirmations (a majority of 100), half of them above index 63, counts as 51.
        let confirmed = (49..100).fold(0, |mask, index| mask | bit(index));
        assert_eq!(confirmed.count_ones() as usize, node.config.quorum());
    }

    #[test]
    #[should_panic(expected = "does not fit a mask")]
    fn a_bit_beyond_the_mask_panics_instead_of_wrapping() {
        bit(Mask::BITS as usize);
    }
}
