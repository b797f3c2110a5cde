//! The coordinator (origin bank) as a pure state machine: order a batch durably, prepare every
//! participant, count votes until the vote deadline, log decisions durably, deliver them until
//! acknowledged; on start, presume abort for every ordered transfer that was never decided.

use std::collections::{BTreeMap, BTreeSet};

use crate::deliberate_bug::{self, DeliberateBug};
use crate::validate::{participants_of, payers_of, settlement_legs};
use crate::{
    BankId, Certificate, CrashPoint, Knowledge, Leg, Message, Millis, OutcomeItem, PendingTransfer, Prepare, PrepareItem, Stamp,
    TransferId, Vote,
};

/// Settings of one bank's coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordinatorConfig {
    pub me: BankId,
    /// Retransmission interval of undelivered outcomes (`DELIVERY_INTERVAL`).
    pub delivery_interval: Millis,
    /// Most transfers in one batch, prepare or outcome message (`BATCH_MAX`).
    pub transfers_max: usize,
}

impl CoordinatorConfig {
    pub fn with_defaults(me: BankId) -> CoordinatorConfig {
        CoordinatorConfig { me, delivery_interval: 300, transfers_max: 1024 }
    }
}

/// Why a transfer was aborted. Typed, so that a driver can name the banks its own way.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AbortReason {
    /// A participant voted no, for this reason (None: it gave none).
    VotedNo { bank: BankId, reason: Option<String> },
    /// A participant's vote was not counted: no answer before the vote deadline, or a refusal
    /// of the whole prepare.
    NoVote { bank: BankId },
    /// The coordinator restarted with the transfer ordered and undecided.
    PresumedAbort,
}

impl AbortReason {
    /// The reason in words, with `name` naming each bank.
    pub fn describe(&self, name: impl Fn(BankId) -> String) -> String {
        match self {
            AbortReason::VotedNo { bank, reason } => format!("bank {}: {}", name(*bank), reason.as_deref().unwrap_or("refused")),
            AbortReason::NoVote { bank } => format!("bank {} did not answer in time", name(*bank)),
            AbortReason::PresumedAbort => "the origin bank restarted before deciding; aborted (presumed abort)".to_string(),
        }
    }
}

impl std::fmt::Display for AbortReason {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.describe(|bank| bank.to_string()))
    }
}

/// A decision as it is logged (`Job::Decide`): final once durable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Decision {
    pub id: TransferId,
    pub commit: bool,
    pub reason: Option<AbortReason>,
    /// Every bank that must be told (each one is owed a delivery until it acknowledges).
    pub participants: Vec<BankId>,
}

/// One transfer this bank originated, as its ledger keeps it (table `transfers` and
/// `outcome_deliveries`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CoordinatedTransfer {
    pub transfer: PendingTransfer,
    /// Submission order, for `unordered` (oldest first).
    pub submitted: u64,
    /// Its place in the global order, once ordered: prepares may be out from then on.
    pub order: Option<(Stamp, u32)>,
    /// The logged decision: commit if true.
    pub decision: Option<bool>,
    /// Why it aborted (None after a restart: the ledger keeps the reason in words).
    pub reason: Option<AbortReason>,
    /// Participants that have not acknowledged the decision yet.
    pub undelivered: BTreeSet<BankId>,
}

/// Everything the coordinator must find again after a restart.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CoordinatorState {
    pub transfers: BTreeMap<TransferId, CoordinatedTransfer>,
    pub submitted: u64,
}

/// A durable write of the coordinator's side (one ledger job each).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CoordinatorWrite {
    /// `Job::SubmitCross`: a new pending transfer (written by the service layer through `submit`).
    Submit(PendingTransfer),
    /// `Job::OrderBatch`: each transfer gets `(stamp, first_position + index)` if still unordered.
    Order { stamp: Stamp, first_position: u32, ids: Vec<TransferId> },
    /// `Job::Decide`: decisions of a batch, with a delivery owed to every participant.
    Decide(Vec<Decision>),
    /// `Job::PresumeAbort`: aborts of ordered, undecided transfers at start-up.
    PresumeAbort(Vec<Decision>),
    /// `Job::MarkDelivered`: `bank` acknowledged these outcomes.
    MarkDelivered { bank: BankId, ids: Vec<TransferId> },
    /// `Job::MarkRefused`: `bank` refused these outcomes as breaking the protocol (it changed
    /// nothing); delivering them again cannot help, so they are no longer owed.
    MarkRefused { bank: BankId, ids: Vec<TransferId> },
}

/// What the driver must do, in order. A `Persist` is durable before any later action runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoordinatorAction {
    Persist(CoordinatorWrite),
    /// Best effort: loss, delay, duplication and reordering are tolerated.
    Send {
        to: BankId,
        message: Message,
    },
    /// A named point where fault injection may kill the bank.
    CrashPoint(CrashPoint),
    /// The decision is durable: wake whoever waits for this transfer (`state.finalized`).
    Decided {
        id: TransferId,
        commit: bool,
    },
}

impl CoordinatorState {
    /// Stores a new pending transfer (`Job::SubmitCross`; the service layer does it, not the core).
    pub fn submit(&mut self, transfer: PendingTransfer) {
        assert!(!self.transfers.contains_key(&transfer.id), "transfer {} submitted twice", transfer.id);
        self.submitted += 1;
        let record = CoordinatedTransfer {
            transfer,
            submitted: self.submitted,
            order: None,
            decision: None,
            reason: None,
            undelivered: BTreeSet::new(),
        };
        self.transfers.insert(record.transfer.id.clone(), record);
    }

    /// Pending transfers not yet in any batch, oldest first (`Ledger::pending_batch`).
    pub fn unordered(&self, limit: usize) -> Vec<PendingTransfer> {
        let mut pending: Vec<&CoordinatedTransfer> =
            self.transfers.values().filter(|t| t.order.is_none() && t.decision.is_none()).collect();
        pending.sort_by_key(|t| t.submitted);
        pending.into_iter().take(limit).map(|t| t.transfer.clone()).collect()
    }

    /// Applies a write exactly as the ledger does (the core keeps its own copy the same way).
    pub fn apply(&mut self, write: &CoordinatorWrite) {
        match write {
            CoordinatorWrite::Submit(transfer) => {
                if !self.transfers.contains_key(&transfer.id) {
                    self.submit(transfer.clone());
                }
            }
            CoordinatorWrite::Order { stamp, first_position, ids } => {
                for (offset, id) in ids.iter().enumerate() {
                    let record = self.transfers.get_mut(id).expect("only submitted transfers are ordered");
                    if record.order.is_none() && record.decision.is_none() {
                        record.order = Some((*stamp, first_position + offset as u32));
                    }
                }
            }
            CoordinatorWrite::Decide(decisions) | CoordinatorWrite::PresumeAbort(decisions) => {
                for decision in decisions {
                    let record = self.transfers.get_mut(&decision.id).expect("only submitted transfers are decided");
                    if record.decision.is_some() {
                        continue; // decisions are final
                    }
                    record.decision = Some(decision.commit);
                    record.reason = decision.reason.clone();
                    record.undelivered = decision.participants.iter().copied().collect();
                }
            }
            CoordinatorWrite::MarkDelivered { bank, ids } | CoordinatorWrite::MarkRefused { bank, ids } => {
                for id in ids {
                    if let Some(record) = self.transfers.get_mut(id) {
                        record.undelivered.remove(bank);
                    }
                }
            }
        }
    }
}

/// A batch between its prepares and its decision. Votes live only in memory: a coordinator that
/// crashes before deciding presumes abort when it starts again.
#[derive(Clone, Debug)]
struct Batch {
    stamp: Stamp,
    vote_deadline: Millis,
    participants_of: BTreeMap<TransferId, Vec<BankId>>,
    banks: BTreeSet<BankId>,
    answered: BTreeSet<BankId>,
    votes: BTreeMap<(TransferId, BankId), Vote>,
    /// The driver said no further answer will come (`votes_closed`): decide now.
    closed: bool,
}

/// One bank's coordinator.
#[derive(Clone, Debug)]
pub struct Coordinator {
    config: CoordinatorConfig,
    state: CoordinatorState,
    batches: Vec<Batch>,
    next_delivery_at: Millis,
    /// Some decision is not acknowledged by every participant yet.
    owes_delivery: bool,
}

impl Coordinator {
    /// Starts from the durable state (`CoordinatorState::default()` the first time). Every
    /// ordered transfer without a decision is aborted first (presumed abort): its prepares may be
    /// out, its votes are lost, and no commit of it can have been sent.
    pub fn start(config: CoordinatorConfig, recovered: CoordinatorState, now: Millis) -> (Coordinator, Vec<CoordinatorAction>) {
        let owes_delivery = recovered.transfers.values().any(|t| !t.undelivered.is_empty());
        let mut coordinator = Coordinator { config, state: recovered, batches: Vec::new(), next_delivery_at: now, owes_delivery };
        let presumed_commit = deliberate_bug::active(DeliberateBug::PresumedCommit);
        let decisions: Vec<Decision> = coordinator
            .state
            .transfers
            .values()
            .filter(|t| t.order.is_some() && t.decision.is_none())
            .map(|t| Decision {
                id: t.transfer.id.clone(),
                commit: presumed_commit,
                reason: Some(AbortReason::PresumedAbort),
                participants: participants_of(coordinator.config.me, &t.transfer.legs),
            })
            .collect();
        let mut actions = Vec::new();
        if !decisions.is_empty() {
            coordinator.persist(CoordinatorWrite::PresumeAbort(decisions.clone()), &mut actions);
            actions.extend(decisions.iter().map(|d| CoordinatorAction::Decided { id: d.id.clone(), commit: d.commit }));
            coordinator.deliver(now, &mut actions);
        }
        (coordinator, actions)
    }

    pub fn me(&self) -> BankId {
        self.config.me
    }

    pub fn state(&self) -> &CoordinatorState {
        &self.state
    }

    /// What this bank knows as the coordinator of `id`.
    pub fn knowledge(&self, id: &TransferId) -> Knowledge {
        match self.state.transfers.get(id) {
            Some(record) => record.decision.map_or(Knowledge::Undecided, Knowledge::Known),
            None => Knowledge::NoRecord,
        }
    }

    /// A customer asked for a cross-bank transfer originating here: store it as pending.
    pub fn submit(&mut self, transfer: PendingTransfer) -> Vec<CoordinatorAction> {
        assert!(!transfer.legs.is_empty() && transfer.legs.iter().all(|leg| leg.amount_cents != 0), "transfer {} has no legs", transfer.id);
        let total: i64 = transfer.legs.iter().map(|leg| leg.amount_cents).sum();
        assert_eq!(total, 0, "transfer {} does not balance", transfer.id);
        let mut actions = Vec::new();
        self.persist(CoordinatorWrite::Submit(transfer), &mut actions);
        actions
    }

    /// The driver holds the token with `stamp` and read these pending transfers: order them
    /// durably at `first_position` onwards, then prepare every participant. Votes count until
    /// `vote_deadline` (the lease's end: a later vote is fenced off by the next holder anyway).
    pub fn start_batch(
        &mut self,
        stamp: Stamp,
        certificate: Option<Certificate>,
        first_position: u32,
        transfers: Vec<PendingTransfer>,
        vote_deadline: Millis,
        now: Millis,
    ) -> Vec<CoordinatorAction> {
        assert!(!transfers.is_empty() && transfers.len() <= self.config.transfers_max, "a batch holds 1 to transfers_max transfers");
        let me = self.config.me;
        let mut actions = Vec::new();
        for transfer in &transfers {
            let record = self.state.transfers.get(&transfer.id);
            assert!(
                record.is_some_and(|r| r.order.is_none() && r.decision.is_none()),
                "transfer {} is not pending and unordered",
                transfer.id
            );
        }
        let ids: Vec<TransferId> = transfers.iter().map(|t| t.id.clone()).collect();
        self.persist(CoordinatorWrite::Order { stamp, first_position, ids }, &mut actions);
        let mut prepares: BTreeMap<BankId, Prepare> = BTreeMap::new();
        let mut participants_by_transfer = BTreeMap::new();
        for (offset, transfer) in transfers.iter().enumerate() {
            let participants = participants_of(me, &transfer.legs);
            let mut settlement = settlement_legs(me, &transfer.legs);
            let payers = payers_of(&transfer.legs);
            for bank in &participants {
                let legs = transfer
                    .legs
                    .iter()
                    .filter(|leg| leg.bank == *bank)
                    .map(|leg| Leg { account: leg.account.clone(), amount_cents: leg.amount_cents, consent: leg.consent.clone() })
                    .collect();
                let item = PrepareItem {
                    id: transfer.id.clone(),
                    kind: transfer.kind,
                    initiated_by: transfer.initiated_by.clone(),
                    description: transfer.description.clone(),
                    position: first_position + offset as u32,
                    participants: participants.clone(),
                    legs,
                    settlement: settlement.remove(bank).unwrap_or_default(),
                    refund_of: transfer.refund_of.clone(),
                    payers: payers.iter().filter(|(credited_bank, _)| credited_bank == bank).map(|(_, payer)| payer.clone()).collect(),
                };
                prepares
                    .entry(*bank)
                    .or_insert_with(|| Prepare { coordinator: me, stamp, certificate: certificate.clone(), transfers: Vec::new() })
                    .transfers
                    .push(item);
            }
            participants_by_transfer.insert(transfer.id.clone(), participants);
        }
        // Persist-before-send, asserted on the sending side: every prepared transfer is ordered.
        for transfer in &transfers {
            assert!(self.state.transfers[&transfer.id].order.is_some(), "a prepare left before its order was durable");
        }
        let banks: BTreeSet<BankId> = prepares.keys().copied().collect();
        for (bank, prepare) in prepares {
            actions.push(CoordinatorAction::Send { to: bank, message: Message::Prepare(prepare) });
        }
        actions.push(CoordinatorAction::CrashPoint(CrashPoint::AfterPrepareSent));
        self.batches.push(Batch {
            stamp,
            vote_deadline,
            participants_of: participants_by_transfer,
            banks,
            answered: BTreeSet::new(),
            votes: BTreeMap::new(),
            closed: false,
        });
        if vote_deadline <= now {
            self.decide_due(now, &mut actions);
        }
        actions
    }

    /// A message from bank `from`: votes, a refused prepare, or an acknowledgement of outcomes.
    pub fn step(&mut self, from: BankId, message: Message, now: Millis) -> Vec<CoordinatorAction> {
        let mut actions = Vec::new();
        match message {
            Message::Votes { .. } | Message::Refused { .. } => {
                self.count(from, message, now);
                self.decide_due(now, &mut actions);
            }
            Message::Final { ids } => self.acknowledged(from, ids, &mut actions),
            _ => {}
        }
        actions
    }

    /// The driver's end of the vote for every batch of `stamp`: counts `answers` (each a `Votes`
    /// or `Refused` from a bank, with the time it arrived), then decides those batches at once,
    /// in one `Persist(Decide)`; a vote that did not come is missing (abort). For a driver that
    /// knows no further answer can come (its prepare calls ended with the lease) and decides
    /// after passing the token on. Deciding early only ever turns a commit into an abort.
    pub fn votes_closed(&mut self, stamp: Stamp, answers: Vec<(BankId, Message, Millis)>, now: Millis) -> Vec<CoordinatorAction> {
        for (from, message, arrived) in answers {
            assert!(
                matches!(&message, Message::Votes { stamp: s, .. } | Message::Refused { stamp: s, .. } if *s == stamp),
                "not an answer to {stamp}"
            );
            self.count(from, message, arrived);
        }
        for batch in self.batches.iter_mut().filter(|b| b.stamp == stamp) {
            batch.closed = true;
        }
        let mut actions = Vec::new();
        self.decide_due(now, &mut actions);
        actions
    }

    /// `bank` refused these outcomes (they break the protocol there; nothing changed): they are
    /// no longer owed to it, and kept apart (`MarkRefused`) for an operator to look at.
    pub fn outcomes_refused(&mut self, bank: BankId, ids: Vec<TransferId>) -> Vec<CoordinatorAction> {
        let ids: Vec<TransferId> =
            ids.into_iter().filter(|id| self.state.transfers.get(id).is_some_and(|t| t.undelivered.contains(&bank))).collect();
        let mut actions = Vec::new();
        if !ids.is_empty() {
            self.persist(CoordinatorWrite::MarkRefused { bank, ids }, &mut actions);
        }
        actions
    }

    /// `bank` acknowledged these outcomes and the driver has already stored it (the origin's
    /// own outcomes are applied and marked delivered in the transaction that logs the
    /// decision): the in-memory state catches up, nothing is written.
    pub fn delivered_durably(&mut self, bank: BankId, ids: Vec<TransferId>) {
        for id in &ids {
            assert!(self.state.transfers.get(id).is_some_and(|t| t.decision.is_some()), "{id} acknowledged before it was decided");
        }
        self.state.apply(&CoordinatorWrite::MarkDelivered { bank, ids });
        self.owes_delivery = self.state.transfers.values().any(|t| !t.undelivered.is_empty());
    }

    /// A pending transfer the service layer already stored durably (`Job::SubmitCross`), read
    /// back by the driver to put it in a batch: the in-memory state learns it, nothing is
    /// written. Known transfers are left as they are.
    pub fn adopt(&mut self, transfer: PendingTransfer) {
        self.state.apply(&CoordinatorWrite::Submit(transfer));
    }

    /// Sends `bank` every outcome still owed to it, now (a driver that holds back a delivery
    /// while an earlier one to the same bank is under way).
    pub fn redeliver(&mut self, bank: BankId) -> Vec<CoordinatorAction> {
        let mut actions = Vec::new();
        self.send_outcomes(Some(bank), &mut actions);
        actions
    }

    /// Forgets decided transfers every participant acknowledged; returns how many. For a driver
    /// that answers queries from its ledger: `knowledge` reports a forgotten one as `NoRecord`.
    pub fn prune_delivered(&mut self) -> usize {
        let before = self.state.transfers.len();
        self.state.transfers.retain(|_, t| t.decision.is_none() || !t.undelivered.is_empty());
        before - self.state.transfers.len()
    }

    /// Counts one answer to a prepare: votes arrived before the deadline, or a refusal.
    fn count(&mut self, from: BankId, message: Message, arrived: Millis) {
        match message {
            Message::Votes { stamp, votes } => {
                for batch in self.batches.iter_mut().filter(|b| b.stamp == stamp && arrived < b.vote_deadline) {
                    let mut answered = false;
                    for vote in &votes {
                        if batch.participants_of.get(&vote.id).is_some_and(|banks| banks.contains(&from)) {
                            batch.votes.insert((vote.id.clone(), from), vote.clone());
                            answered = true;
                        }
                    }
                    if answered {
                        batch.answered.insert(from);
                    }
                }
            }
            Message::Refused { stamp, .. } => {
                for batch in self.batches.iter_mut().filter(|b| b.stamp == stamp && b.banks.contains(&from)) {
                    batch.answered.insert(from);
                }
            }
            _ => {}
        }
    }

    /// Decides batches whose vote deadline passed and retransmits undelivered outcomes.
    pub fn tick(&mut self, now: Millis) -> Vec<CoordinatorAction> {
        let mut actions = Vec::new();
        self.decide_due(now, &mut actions);
        if now >= self.next_delivery_at && deliberate_bug::active(DeliberateBug::NoRetransmission) {
            self.next_delivery_at = now + self.config.delivery_interval;
        } else if now >= self.next_delivery_at {
            self.deliver(now, &mut actions);
        }
        actions
    }

    /// When `tick` should be called next.
    pub fn next_deadline(&self) -> Option<Millis> {
        let batches = self.batches.iter().map(|b| b.vote_deadline).min();
        let delivery = self.owes_delivery.then_some(self.next_delivery_at);
        [batches, delivery].into_iter().flatten().min()
    }

    fn persist(&mut self, write: CoordinatorWrite, actions: &mut Vec<CoordinatorAction>) {
        self.state.apply(&write);
        if !matches!(write, CoordinatorWrite::Submit(_) | CoordinatorWrite::Order { .. }) {
            self.owes_delivery = self.state.transfers.values().any(|t| !t.undelivered.is_empty());
        }
        actions.push(CoordinatorAction::Persist(write));
    }

    /// Decides every batch that has all its answers, was closed, or whose deadline passed, in
    /// one durable write: commit only if every participant voted yes.
    fn decide_due(&mut self, now: Millis, actions: &mut Vec<CoordinatorAction>) {
        let (due, waiting): (Vec<Batch>, Vec<Batch>) =
            std::mem::take(&mut self.batches).into_iter().partition(|b| b.closed || now >= b.vote_deadline || b.answered == b.banks);
        self.batches = waiting;
        if due.is_empty() {
            return;
        }
        let missing_is_yes = deliberate_bug::active(DeliberateBug::CoordinatorCommitsOnMissingVote);
        let mut decisions = Vec::new();
        for batch in due {
            for (id, participants) in &batch.participants_of {
                let mut reason = None;
                for bank in participants {
                    match batch.votes.get(&(id.clone(), *bank)) {
                        Some(Vote { yes: true, .. }) => {}
                        Some(Vote { reason: why, .. }) => {
                            reason = Some(AbortReason::VotedNo { bank: *bank, reason: why.clone() });
                            break;
                        }
                        None if missing_is_yes => {}
                        None => {
                            reason = Some(AbortReason::NoVote { bank: *bank });
                            break;
                        }
                    }
                }
                let commit = reason.is_none();
                // Paired with the participant's assertion that it commits only what it voted yes on.
                let every_vote_yes = participants.iter().all(|bank| batch.votes.get(&(id.clone(), *bank)).is_some_and(|v| v.yes));
                assert!(!commit || every_vote_yes || missing_is_yes, "deciding commit of {id} without every yes vote");
                assert!(!participants.is_empty(), "transfer {id} has no participants");
                decisions.push(Decision { id: id.clone(), commit, reason, participants: participants.clone() });
            }
        }
        actions.push(CoordinatorAction::CrashPoint(CrashPoint::AfterVotes));
        self.persist(CoordinatorWrite::Decide(decisions.clone()), actions);
        actions.push(CoordinatorAction::CrashPoint(CrashPoint::AfterDecisionLogged));
        for decision in &decisions {
            let durable = self.state.transfers[&decision.id].decision;
            actions.push(CoordinatorAction::Decided { id: decision.id.clone(), commit: durable.expect("just logged") });
        }
        self.deliver(now, actions);
    }

    /// Sends every undelivered outcome to its bank, at most `transfers_max` per message.
    fn deliver(&mut self, now: Millis, actions: &mut Vec<CoordinatorAction>) {
        self.send_outcomes(None, actions);
        self.next_delivery_at = now + self.config.delivery_interval;
    }

    /// Sends the undelivered outcomes of one bank, or of every bank.
    fn send_outcomes(&self, only: Option<BankId>, actions: &mut Vec<CoordinatorAction>) {
        let mut by_bank: BTreeMap<BankId, Vec<OutcomeItem>> = BTreeMap::new();
        for (id, record) in &self.state.transfers {
            for bank in record.undelivered.iter().filter(|bank| only.is_none_or(|only| only == **bank)) {
                // Persist-before-send: only a durable decision is ever delivered.
                let commit = record.decision.expect("only decided transfers are owed a delivery");
                by_bank.entry(*bank).or_default().push(OutcomeItem { id: id.clone(), commit });
            }
        }
        for (bank, outcomes) in by_bank {
            for chunk in outcomes.chunks(self.config.transfers_max) {
                let message = Message::Outcome { coordinator: self.config.me, outcomes: chunk.to_vec() };
                actions.push(CoordinatorAction::Send { to: bank, message });
            }
        }
    }

    fn acknowledged(&mut self, from: BankId, ids: Vec<TransferId>, actions: &mut Vec<CoordinatorAction>) {
        let ids: Vec<TransferId> =
            ids.into_iter().filter(|id| self.state.transfers.get(id).is_some_and(|t| t.undelivered.contains(&from))).collect();
        if ids.is_empty() {
            return;
        }
        self.persist(CoordinatorWrite::MarkDelivered { bank: from, ids }, actions);
        if from != self.config.me {
            actions.push(CoordinatorAction::CrashPoint(CrashPoint::AfterCommitSent));
        }
    }
}
