//! The coordinator's driver: runs the pure `ringbank_twopc::Coordinator` for the cross-bank
//! transfers this bank originates. One task owns the core. At start it recovers the core's state
//! from the ledger (ordered and undecided transfers, which the core presumes aborted; decisions
//! still owed to some participant). Then it feeds the core events: the token granted (a batch
//! per `pending_batch` read, under the token's stamp, votes counted until the lease ends), the
//! answers to the prepares once the token is passed on (`votes_closed`: decisions are logged
//! outside the token), acknowledgements and refusals of outcomes, and the core's own deadline
//! (retransmission). It carries out the core's actions in order: `Persist` as ledger jobs, each
//! durable before the next action (the order before any prepare, a decision before any
//! outcome), `Send` through the signed peer client or this bank's own participant, `CrashPoint`
//! through faults. A failed write restarts the core from the ledger, as a restarted bank would.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringbank_domain::CrashPoint;
use ringbank_twopc::{
    BankId, CoordinatedTransfer, Coordinator, CoordinatorAction, CoordinatorConfig, CoordinatorState, CoordinatorWrite, Decision, Message,
    Millis, PendingTransfer, Prepare, Stamp, TransferId, TransferKind, TransferLeg, Vote,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::batch_size::{BatchSize, BatchTook};
use super::{participant, Cross};
use crate::ledger::{cross as rows, Job, LedgerError, Outcome};
use crate::protocol::{self as wire, BATCH_MAX};
use crate::ring_driver::Holding;

/// Transfers per batch: at most, at first and at least (`BatchSize` moves between them).
const BATCH_SIZE: usize = 512;
const BATCH_SIZE_START: usize = 64;
const BATCH_SIZE_MIN: usize = 16;
/// A prepare's bytes besides its transfers and certificate: the coordinator's name, the stamp,
/// keys and brackets (with room to spare).
const ENVELOPE_BYTES: usize = 512;
/// A batch is started only with at least this much lease left.
const LEASE_MARGIN: Duration = Duration::from_millis(100);
/// How long to wait for the token before re-checking for work.
const TOKEN_WAIT: Duration = Duration::from_secs(2);
const RECHECK_INTERVAL: Duration = Duration::from_millis(500);
const DELIVERY_INTERVAL: Duration = Duration::from_millis(300);
/// Answers of outcome deliveries waiting for the driver.
const ANSWERS_MAX: usize = 256;

/// The driver's task: recovers the core, then serves its events until shutdown.
pub async fn run(cross: Arc<Cross>, shutdown: CancellationToken) {
    let (answers, mut answered) = mpsc::channel(ANSWERS_MAX);
    let Some(mut driver) = Driver::start(cross.clone(), answers, &shutdown).await else { return };
    let mut recheck = tokio::time::interval(RECHECK_INTERVAL);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut grant: Option<Pin<Box<dyn Future<Output = Option<Holding>> + Send>>> = None;
    let mut waited = Instant::now();
    loop {
        let wake = driver.next_wake();
        let running = tokio::select! {
            () = shutdown.cancelled() => false,
            Some(report) = answered.recv() => driver.delivered(report, &shutdown).await,
            () = tokio::time::sleep_until(wake) => {
                let actions = driver.core.tick(driver.now());
                driver.carry_out_or_restart(actions, &shutdown).await
            }
            () = cross.coordinator_work.notified(), if grant.is_none() => {
                (grant, waited) = (driver.want_token().await, Instant::now());
                true
            }
            _ = recheck.tick(), if grant.is_none() => {
                (grant, waited) = (driver.want_token().await, Instant::now());
                true
            }
            holding = async { grant.as_mut().expect("guarded by the condition").await }, if grant.is_some() => {
                grant = None;
                match holding {
                    Some(holding) => {
                        add_micros(&cross, Phase::TokenWait, waited);
                        driver.hold(holding, &shutdown).await
                    }
                    None => true,
                }
            }
        };
        if !running {
            return;
        }
    }
}

#[derive(Clone, Copy)]
enum Phase {
    TokenWait = 0,
    Hold = 1,
    OrderAndLocalPrepare = 2,
    RemotePrepare = 3,
    Decide = 4,
}

fn add_micros(cross: &Cross, phase: Phase, since: Instant) {
    let micros = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
    cross.phase_micros[phase as usize].fetch_add(micros, Ordering::Relaxed);
}

/// What an outcome delivery task reports to the driver.
enum Delivered {
    Answer {
        bank: BankId,
        answer: wire::OutcomeResponse,
    },
    /// The task ended (every message answered, or one failed).
    Done {
        bank: BankId,
    },
}

/// The prepares one action list handed over: the remote calls under way, and this bank's own
/// prepare, which runs once the list is carried out (after `after-prepare-sent`).
#[derive(Default)]
struct Prepares {
    remote: Vec<JoinHandle<Option<(BankId, Message, Millis)>>>,
    local: Option<wire::PrepareRequest>,
}

/// A `Persist` was not made durable: the core must restart from the ledger.
struct PersistFailed;

struct Driver {
    cross: Arc<Cross>,
    core: Coordinator,
    /// Origin of the core's clock (milliseconds on the monotonic clock).
    epoch: Instant,
    /// The lease of the token while it is held: no prepare leaves after it.
    lease_until: Option<Instant>,
    answers: mpsc::Sender<Delivered>,
    /// Banks with an outcome delivery under way, and those owed one that was held back meanwhile.
    delivering: BTreeSet<BankId>,
    held_back: BTreeSet<BankId>,
    /// How many pending transfers the next batch asks for.
    batch_size: BatchSize,
}

impl Driver {
    /// Recovers the core from the ledger (retried until it is durable); None on shutdown.
    async fn start(cross: Arc<Cross>, answers: mpsc::Sender<Delivered>, shutdown: &CancellationToken) -> Option<Driver> {
        let (core, _) = Coordinator::start(config(&cross), CoordinatorState::default(), 0);
        let mut driver = Driver {
            cross,
            core,
            epoch: Instant::now(),
            lease_until: None,
            answers,
            delivering: BTreeSet::new(),
            held_back: BTreeSet::new(),
            batch_size: BatchSize::new(BATCH_SIZE_MIN, BATCH_SIZE_START, BATCH_SIZE),
        };
        driver.cross.metrics.cross_batch_size.store(BATCH_SIZE_START as u64, Ordering::Relaxed);
        driver.recover(shutdown, false).await.then_some(driver)
    }

    /// Restarts the core from what the ledger holds, as a restarted bank would (presumed abort,
    /// deliveries still owed); retried with a backoff until its writes are durable. False on
    /// shutdown.
    async fn recover(&mut self, shutdown: &CancellationToken, wait_first: bool) -> bool {
        let mut backoff = RetryBackoff::new();
        if wait_first && !backoff.wait(shutdown).await {
            return false;
        }
        loop {
            match recovered_state(&self.cross).await {
                Ok(state) => {
                    let (core, actions) = Coordinator::start(config(&self.cross), state, self.now());
                    self.core = core;
                    if self.carry_out(actions).await.is_ok() {
                        return true;
                    }
                }
                Err(error) => tracing::error!(bank = %self.cross.bank(), %error, "cannot read the coordinator's state; retrying"),
            }
            if !backoff.wait(shutdown).await {
                return false;
            }
        }
    }

    fn now(&self) -> Millis {
        self.millis_at(Instant::now())
    }

    fn millis_at(&self, instant: Instant) -> Millis {
        u64::try_from(instant.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn next_wake(&self) -> tokio::time::Instant {
        let at = self.core.next_deadline().map_or(self.now() + 3_600_000, |deadline| deadline);
        tokio::time::Instant::from_std(self.epoch + Duration::from_millis(at))
    }

    fn name(&self, bank: BankId) -> String {
        self.cross.banks().get(usize::from(bank)).cloned().unwrap_or_default()
    }

    /// Asks the ring for the token if a pending transfer waits for a batch.
    async fn want_token(&self) -> Option<Pin<Box<dyn Future<Output = Option<Holding>> + Send>>> {
        match self.cross.ledger.has_unordered_pending().await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(error) => {
                tracing::warn!(%error, "cannot read pending transfers");
                return None;
            }
        }
        self.cross.ring.want_token().await;
        let ring = self.cross.ring.clone();
        Some(Box::pin(async move { crate::ring_driver::wait_for_grant(&ring, TOKEN_WAIT).await }))
    }

    /// Holding the token: batches (order, prepare, votes) until the lease nears its end, then
    /// the token is passed on and the batches are decided. False on shutdown.
    async fn hold(&mut self, holding: Holding, shutdown: &CancellationToken) -> bool {
        let held = Instant::now();
        self.cross.faults.crash_point(CrashPoint::WhileHolding);
        self.lease_until = Some(holding.lease_until);
        let vote_deadline = self.millis_at(holding.lease_until);
        let (mut position, mut answers, mut failed) = (0u32, Vec::new(), false);
        while holding.lease_until.saturating_duration_since(Instant::now()) > LEASE_MARGIN {
            let started = Instant::now();
            let left = holding.lease_until.saturating_duration_since(started);
            let asked = self.batch_size.get();
            let transfers = match self.cross.ledger.pending_batch(asked).await {
                Ok(batch) => batch.into_iter().filter_map(|row| core_transfer(&self.cross, row)).collect::<Vec<_>>(),
                Err(error) => {
                    tracing::warn!(%error, "cannot read pending transfers");
                    break;
                }
            };
            if transfers.is_empty() {
                break;
            }
            let read = transfers.len();
            // The grant's quorum certificate, presented once per batch with every prepare.
            let certificate = self.cross.ring.certificate(holding.stamp).map(|certificate| (*certificate).clone());
            // As many as fit in every participant's prepare; the rest go in the next batch.
            let transfers = self.fitting(transfers, certificate.as_ref());
            let count = u32::try_from(transfers.len()).expect("a batch is small");
            self.cross.batches.fetch_add(1, Ordering::Relaxed);
            self.cross.batched_transfers.fetch_add(u64::from(count), Ordering::Relaxed);
            for transfer in &transfers {
                self.core.adopt(transfer.clone());
            }
            // The phases count from here, as before; the batch size counts from the read.
            let prepared = Instant::now();
            let actions = self.core.start_batch(holding.stamp, certificate, position, transfers, vote_deadline, self.now());
            position += count;
            match self.carry_out(actions).await {
                Ok(prepares) => {
                    let got = self.collect(prepares, holding.stamp, prepared).await;
                    let start = self.millis_at(started);
                    let slowest = got.iter().map(|(_, _, arrived)| Duration::from_millis(arrived.saturating_sub(start))).max();
                    self.batch_size.observe(BatchTook { asked, read, slowest, left });
                    self.cross.metrics.cross_batch_size.store(self.batch_size.get() as u64, Ordering::Relaxed);
                    answers.extend(got);
                }
                Err(PersistFailed) => {
                    failed = true;
                    break;
                }
            }
        }
        self.lease_until = None;
        self.cross.ring.release().await;
        add_micros(&self.cross, Phase::Hold, held);
        if failed {
            return self.recover(shutdown, true).await;
        }
        let actions = self.core.votes_closed(holding.stamp, answers, self.now());
        self.carry_out_or_restart(actions, shutdown).await
    }

    /// Runs this bank's own prepare (the remote ones are under way) and gathers every answer
    /// with its arrival time. A bank that failed to answer simply has none.
    async fn collect(&self, prepares: Prepares, stamp: Stamp, started: Instant) -> Vec<(BankId, Message, Millis)> {
        let mut answers = Vec::new();
        if let Some(request) = prepares.local {
            match participant::prepare(&self.cross, self.cross.bank(), request).await {
                Ok(response) => answers.push((self.core.me(), votes(stamp, response), self.now())),
                Err(error) => tracing::warn!(%error, "local prepare failed"),
            }
        }
        add_micros(&self.cross, Phase::OrderAndLocalPrepare, started);
        let remote_started = Instant::now();
        for call in prepares.remote {
            match call.await {
                Ok(answer) => answers.extend(answer),
                Err(error) => tracing::error!(%error, "a prepare call failed; its transfers will abort"),
            }
        }
        add_micros(&self.cross, Phase::RemotePrepare, remote_started);
        self.cross.metrics.prepare_seconds.observe_duration(started.elapsed());
        answers
    }

    /// An outcome delivery answered or ended: acknowledgements and refusals go to the core.
    async fn delivered(&mut self, report: Delivered, shutdown: &CancellationToken) -> bool {
        let actions = match report {
            Delivered::Answer { bank, answer } => {
                for wire::RefusedOutcome { id, reason } in &answer.refused {
                    tracing::error!(bank = %self.cross.bank(), peer = %self.name(bank), transfer_id = %id, %reason, "participant refused an outcome; no longer delivered");
                }
                let ids = answer.final_ids.into_iter().map(TransferId).collect();
                let mut actions = self.core.step(bank, Message::Final { ids }, self.now());
                actions.extend(self.core.outcomes_refused(bank, answer.refused.into_iter().map(|r| TransferId(r.id)).collect()));
                actions
            }
            Delivered::Done { bank } => {
                self.delivering.remove(&bank);
                if self.held_back.remove(&bank) {
                    self.core.redeliver(bank)
                } else {
                    Vec::new()
                }
            }
        };
        let running = self.carry_out_or_restart(actions, shutdown).await;
        self.core.prune_delivered();
        running
    }

    async fn carry_out_or_restart(&mut self, actions: Vec<CoordinatorAction>, shutdown: &CancellationToken) -> bool {
        match self.carry_out(actions).await {
            Ok(_) => true,
            Err(PersistFailed) => self.recover(shutdown, true).await,
        }
    }

    /// Carries out the core's actions in order. Outcome sends are handed over together at the
    /// end of the list (one task per bank; the core puts no crash point after them).
    async fn carry_out(&mut self, actions: Vec<CoordinatorAction>) -> Result<Prepares, PersistFailed> {
        let mut prepares = Prepares::default();
        let mut outcomes: BTreeMap<BankId, Vec<wire::OutcomeRequest>> = BTreeMap::new();
        for action in actions {
            match action {
                CoordinatorAction::Persist(write) => self.persist(write).await?,
                CoordinatorAction::Send { to, message: Message::Prepare(prepare) } => {
                    let request = prepare_request(prepare, |bank| self.name(bank));
                    if to == self.core.me() {
                        prepares.local = Some(request);
                    } else {
                        prepares.remote.push(self.send_prepare(to, request));
                    }
                }
                CoordinatorAction::Send { to, message: Message::Outcome { outcomes: items, .. } } => {
                    // Only what is still owed: this bank's own outcomes are applied with the decision.
                    let owed: Vec<wire::OutcomeItem> = items
                        .into_iter()
                        .filter(|item| self.core.state().transfers.get(&item.id).is_some_and(|t| t.undelivered.contains(&to)))
                        .map(|item| wire::OutcomeItem { id: item.id.0, commit: item.commit })
                        .collect();
                    if !owed.is_empty() {
                        outcomes
                            .entry(to)
                            .or_default()
                            .push(wire::OutcomeRequest { coordinator: self.cross.bank().to_string(), outcomes: owed });
                    }
                }
                CoordinatorAction::Send { to, message } => {
                    tracing::error!(to, kind = message.kind(), "the coordinator core sent an unexpected message")
                }
                CoordinatorAction::CrashPoint(point) => {
                    // Lets the calls just handed over get going first.
                    tokio::task::yield_now().await;
                    self.cross.faults.crash_point(point);
                }
                CoordinatorAction::Decided { id, .. } => {
                    self.cross.finalized.send(id.0);
                }
            }
        }
        for (bank, requests) in outcomes {
            self.deliver(bank, requests);
        }
        Ok(prepares)
    }

    /// Makes one write of the core durable, as a ledger job.
    async fn persist(&mut self, write: CoordinatorWrite) -> Result<(), PersistFailed> {
        let names = |ids: Vec<TransferId>| ids.into_iter().map(|id| id.0).collect();
        let result = match write {
            CoordinatorWrite::Order { stamp, first_position, ids } => {
                self.cross.ledger.submit(Job::OrderBatch { ids: names(ids), stamp, first_position }, None).await.map(drop)
            }
            CoordinatorWrite::Decide(decisions) | CoordinatorWrite::PresumeAbort(decisions) => self.log_decisions(decisions).await,
            CoordinatorWrite::MarkDelivered { bank, ids } => {
                self.cross.ledger.submit(Job::MarkDelivered { bank: self.name(bank), ids: names(ids) }, None).await.map(drop)
            }
            CoordinatorWrite::MarkRefused { bank, ids } => {
                self.cross.ledger.submit(Job::MarkRefused { bank: self.name(bank), ids: names(ids) }, None).await.map(drop)
            }
            CoordinatorWrite::Submit(transfer) => Err(LedgerError::Invariant(format!("the coordinator core submitted {}", transfer.id))),
        };
        result.map_err(|error| {
            tracing::error!(bank = %self.cross.bank(), %error, "a write of the coordinator failed; restarting it from the ledger");
            PersistFailed
        })
    }

    /// Logs decisions; this bank's own participant applies its outcomes in the same transaction,
    /// so the decision is durable exactly when the origin's legs are booked (and delivered here).
    async fn log_decisions(&mut self, decisions: Vec<Decision>) -> Result<(), LedgerError> {
        let me = self.core.me();
        let own: Vec<wire::OutcomeItem> = decisions
            .iter()
            .filter(|d| d.participants.contains(&me))
            .map(|d| wire::OutcomeItem { id: d.id.0.clone(), commit: d.commit })
            .collect();
        let local = (!own.is_empty()).then(|| participant::own_outcomes(&self.cross, own));
        let logged: Vec<rows::Decision> = decisions
            .iter()
            .map(|d| rows::Decision {
                id: d.id.0.clone(),
                commit: d.commit,
                reason: d.reason.as_ref().map(|reason| reason.describe(|bank| self.name(bank))),
                participants: d.participants.iter().map(|bank| self.name(*bank)).collect(),
                receipt: self.receipt(d),
            })
            .collect();
        let started = Instant::now();
        let outcome = self.cross.ledger.submit(Job::Decide { decisions: logged.clone(), local }, None).await?;
        self.cross.metrics.decide_seconds.observe_duration(started.elapsed());
        add_micros(&self.cross, Phase::Decide, started);
        if let Outcome::Applied { final_ids, .. } = outcome {
            self.core.delivered_durably(me, final_ids.into_iter().map(TransferId).collect());
        }
        let committed = logged.iter().filter(|d| d.commit).count();
        tracing::info!(bank = %self.cross.bank(), transfers = logged.len(), committed, "batch decided");
        for decision in logged.iter().filter(|d| !d.commit) {
            let reason = decision.reason.as_deref().unwrap_or("");
            tracing::info!(bank = %self.cross.bank(), transfer_id = %decision.id, reason, "transfer aborted");
        }
        Ok(())
    }

    /// The coordinator's signature over a decision (the transfer's receipt), made as it is
    /// logged; None for a transfer the core has no order for (it was never prepared).
    fn receipt(&self, decision: &Decision) -> Option<ringbank_domain::SignedDecision> {
        let coordinated = self.core.state().transfers.get(&decision.id)?;
        let (stamp, position) = coordinated.order?;
        let legs = coordinated
            .transfer
            .legs
            .iter()
            .map(|leg| ringbank_domain::ReceiptLeg {
                bank: self.name(leg.bank),
                account: leg.account.clone(),
                amount_cents: leg.amount_cents,
            })
            .collect();
        let transfer = super::receipts::DecidedTransfer { id: &decision.id.0, kind: kind_text(coordinated.transfer.kind), legs };
        super::receipts::sign_decision(self.cross.peers.signing_key(), self.cross.bank(), transfer, stamp, position, decision.commit)
    }

    /// The longest prefix of `transfers` whose prepare fits in `wire::BODY_MAX_BYTES` at every
    /// participant (at least one transfer): a batch that does not fit would be refused whole
    /// (413) and every transfer in it aborted. Each transfer is counted at each participant by the
    /// size of its item there (`prepare_item_sizes`), the envelope and certificate once.
    fn fitting(&self, mut transfers: Vec<PendingTransfer>, certificate: Option<&ringbank_ring::Certificate>) -> Vec<PendingTransfer> {
        let envelope = ENVELOPE_BYTES + certificate.map_or(0, |c| serde_json::to_vec(c).map_or(usize::MAX / 4, |bytes| bytes.len()));
        let budget = usize::try_from(wire::BODY_MAX_BYTES).unwrap_or(usize::MAX).saturating_sub(envelope);
        let mut used: BTreeMap<BankId, usize> = BTreeMap::new();
        let mut keep = 0;
        for transfer in &transfers {
            let bounds = prepare_item_sizes(self.core.me(), transfer, |bank| self.name(bank));
            if keep > 0 && bounds.iter().any(|(bank, bound)| used.get(bank).copied().unwrap_or(0) + bound > budget) {
                break;
            }
            for (bank, bound) in bounds {
                *used.entry(bank).or_default() += bound;
            }
            keep += 1;
        }
        if keep < transfers.len() {
            self.cross.batches_trimmed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(kept = keep, left = transfers.len() - keep, "batch trimmed to fit the prepare body limit");
        }
        transfers.truncate(keep);
        transfers
    }

    /// Hands a prepare to the network; the answer is awaited by `collect`. Nothing is sent once
    /// the lease is over, and a vote after it is worthless (the next holder's stamp fences this
    /// one off), so the wait ends with the lease.
    fn send_prepare(&self, to: BankId, request: wire::PrepareRequest) -> JoinHandle<Option<(BankId, Message, Millis)>> {
        let (cross, epoch, name) = (self.cross.clone(), self.epoch, self.name(to));
        let lease_until = self.lease_until.unwrap_or_else(Instant::now);
        tokio::spawn(async move {
            if Instant::now() >= lease_until || cross.faults.is_partitioned(&name) {
                return None;
            }
            let url = cross.ring.members().url_of(to)?.to_string();
            let limit = lease_until.saturating_duration_since(Instant::now());
            let call = cross.peers.call::<_, wire::PrepareResponse>(&url, "/bank/v1/prepare", &request);
            let error = match tokio::time::timeout(limit, call).await {
                Ok(Ok(response)) => {
                    let arrived = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
                    return Some((to, votes(request.stamp, response), arrived));
                }
                Ok(Err(error)) => error.to_string(),
                Err(_) => "no vote before the lease ended".to_string(),
            };
            let stamp = request.stamp;
            tracing::warn!(bank = %cross.bank(), peer = %name, epoch = stamp.epoch, seq = stamp.seq, %error, "prepare failed; its transfers will abort");
            None
        })
    }

    /// Delivers outcomes to one bank in a task of their own, one delivery per bank at a time:
    /// what is owed meanwhile is sent again when it ends (`redeliver`).
    fn deliver(&mut self, bank: BankId, requests: Vec<wire::OutcomeRequest>) {
        if !self.delivering.insert(bank) {
            self.held_back.insert(bank);
            return;
        }
        let (cross, answers, name) = (self.cross.clone(), self.answers.clone(), self.name(bank));
        tokio::spawn(async move {
            for request in requests {
                let started = Instant::now();
                let Some(answer) = deliver_to(&cross, &name, request).await else { break };
                cross.metrics.deliver_seconds.observe_duration(started.elapsed());
                if answers.send(Delivered::Answer { bank, answer }).await.is_err() {
                    return;
                }
            }
            let _ = answers.send(Delivered::Done { bank }).await;
        });
    }
}

fn config(cross: &Cross) -> CoordinatorConfig {
    let delivery_interval = u64::try_from(DELIVERY_INTERVAL.as_millis()).unwrap_or(u64::MAX);
    CoordinatorConfig { me: cross.ring.members().me, delivery_interval, transfers_max: BATCH_MAX }
}

fn kind_text(kind: TransferKind) -> &'static str {
    match kind {
        TransferKind::Transfer => "transfer",
        TransferKind::Payment => "payment",
        TransferKind::Settlement => "settlement",
    }
}

fn votes(stamp: Stamp, response: wire::PrepareResponse) -> Message {
    let votes = response.votes.into_iter().map(|v| Vote { id: TransferId(v.id), yes: v.yes, reason: v.reason }).collect();
    Message::Votes { stamp, votes }
}

/// A transfer as the ledger stores it, in the core's terms; None (logged) if a leg names a bank
/// that is no longer a member.
/// The one place a prepare request is built: the core's prepare with bank names.
fn prepare_request(prepare: Prepare, name: impl Fn(BankId) -> String) -> wire::PrepareRequest {
    let transfers = prepare
        .transfers
        .into_iter()
        .map(|item| wire::PrepareItem {
            id: item.id.0,
            kind: kind_text(item.kind).to_string(),
            initiated_by: item.initiated_by,
            description: item.description,
            position: item.position,
            participants: item.participants.iter().map(|bank| name(*bank)).collect(),
            legs: item
                .legs
                .into_iter()
                .map(|leg| wire::WireLeg { account: leg.account, amount_cents: leg.amount_cents, consent: leg.consent })
                .collect(),
            settlement: item
                .settlement
                .into_iter()
                .map(|leg| wire::SettlementLeg { bank: name(leg.bank), amount_cents: leg.amount_cents })
                .collect(),
            refund_of: item.refund_of.map(|id| id.0),
            payers: item
                .payers
                .into_iter()
                .map(|payer| wire::WirePayer {
                    bank: name(payer.bank),
                    account: payer.account,
                    amount_cents: payer.amount_cents,
                    credited: payer.credited,
                })
                .collect(),
        })
        .collect();
    wire::PrepareRequest { coordinator: name(prepare.coordinator), stamp: prepare.stamp, certificate: prepare.certificate, transfers }
}

/// For each participant of `transfer` coordinated by `me`, the JSON bytes of its item in that
/// participant's prepare (`wire::PrepareItem`, built as the core builds it, at the largest
/// position): what `fitting` counts against the body limit.
fn prepare_item_sizes(me: BankId, transfer: &PendingTransfer, name: impl Fn(BankId) -> String) -> BTreeMap<BankId, usize> {
    let participants = ringbank_twopc::participants_of(me, &transfer.legs);
    let mut settlement = ringbank_twopc::settlement_legs(me, &transfer.legs);
    let payers = ringbank_twopc::payers_of(&transfer.legs);
    let names: Vec<String> = participants.iter().map(|bank| name(*bank)).collect();
    participants
        .iter()
        .map(|bank| {
            let item = wire::PrepareItem {
                id: transfer.id.0.clone(),
                kind: kind_text(transfer.kind).to_string(),
                initiated_by: transfer.initiated_by.clone(),
                description: transfer.description.clone(),
                position: u32::MAX,
                participants: names.clone(),
                legs: transfer
                    .legs
                    .iter()
                    .filter(|leg| leg.bank == *bank)
                    .map(|leg| wire::WireLeg { account: leg.account.clone(), amount_cents: leg.amount_cents, consent: leg.consent.clone() })
                    .collect(),
                settlement: settlement
                    .remove(bank)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|leg| wire::SettlementLeg { bank: name(leg.bank), amount_cents: leg.amount_cents })
                    .collect(),
                refund_of: transfer.refund_of.as_ref().map(|id| id.0.clone()),
                payers: payers
                    .iter()
                    .filter(|(credited_bank, _)| credited_bank == bank)
                    .map(|(_, payer)| wire::WirePayer {
                        bank: name(payer.bank),
                        account: payer.account.clone(),
                        amount_cents: payer.amount_cents,
                        credited: payer.credited.clone(),
                    })
                    .collect(),
            };
            (*bank, serde_json::to_vec(&item).map_or(usize::MAX / 4, |bytes| bytes.len()))
        })
        .collect()
}

fn core_transfer(cross: &Cross, row: rows::PendingTransfer) -> Option<PendingTransfer> {
    // A settlement is stored as a transfer of `SETTLEMENT_INITIATOR` (src/ledger/cross.rs).
    let kind = if row.kind == kind_text(TransferKind::Payment) {
        TransferKind::Payment
    } else if row.initiated_by == ringbank_twopc::SETTLEMENT_INITIATOR {
        TransferKind::Settlement
    } else {
        TransferKind::Transfer
    };
    let consents = &row.consents;
    let legs = row
        .legs
        .iter()
        .map(|(bank, account, amount_cents)| {
            let consent = consents.get(&(bank.clone(), account.clone())).cloned();
            Some(TransferLeg { bank: cross.ring.members().node_of(bank)?, account: account.clone(), amount_cents: *amount_cents, consent })
        })
        .collect::<Option<Vec<_>>>();
    let Some(legs) = legs else {
        tracing::error!(bank = %cross.bank(), transfer_id = %row.id, "a leg names a bank that is not a member; the transfer is left as it is");
        return None;
    };
    Some(PendingTransfer {
        id: TransferId(row.id),
        kind,
        initiated_by: row.initiated_by,
        description: row.description,
        legs,
        refund_of: row.refund_of.map(TransferId),
    })
}

/// The core's state as the ledger holds it: ordered and undecided transfers, and decided ones
/// some participant has not acknowledged yet.
async fn recovered_state(cross: &Cross) -> Result<CoordinatorState, LedgerError> {
    let mut state = CoordinatorState::default();
    for record in cross.ledger.coordinator_records().await? {
        let Some(transfer) = core_transfer(cross, record.transfer) else { continue };
        state.submitted += 1;
        let undelivered = record.undelivered.iter().filter_map(|bank| cross.ring.members().node_of(bank)).collect();
        let coordinated = CoordinatedTransfer {
            transfer,
            submitted: state.submitted,
            order: record.order,
            decision: record.decision,
            reason: None,
            undelivered,
        };
        state.transfers.insert(coordinated.transfer.id.clone(), coordinated);
    }
    Ok(state)
}

/// Delivers outcomes to one bank (this one through the local participant); returns its answer.
async fn deliver_to(cross: &Cross, bank: &str, request: wire::OutcomeRequest) -> Option<wire::OutcomeResponse> {
    if bank == cross.bank() {
        return match participant::outcome(cross, bank, request).await {
            Ok(response) => Some(response),
            Err(error) => {
                tracing::warn!(%error, "applying outcomes locally failed");
                None
            }
        };
    }
    if cross.faults.is_partitioned(bank) {
        return None;
    }
    let members = cross.ring.members();
    let url = members.node_of(bank).and_then(|n| members.url_of(n))?.to_string();
    match cross.peers.call::<_, wire::OutcomeResponse>(&url, "/bank/v1/outcome", &request).await {
        Ok(response) => Some(response),
        Err(error) => {
            tracing::debug!(%error, %bank, "outcome not delivered; will retry");
            None
        }
    }
}

/// Waits between retries of a durable write that failed: 100 ms doubling up to 5 s.
struct RetryBackoff {
    next: Duration,
}

impl RetryBackoff {
    fn new() -> RetryBackoff {
        RetryBackoff { next: Duration::from_millis(100) }
    }

    /// False if the bank is shutting down.
    async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let wait = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(5));
        tokio::select! {
            () = shutdown.cancelled() => false,
            () = tokio::time::sleep(wait) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bank names as long as a member's id may reasonably be, with characters JSON escapes.
    fn name(bank: BankId) -> String {
        format!("bank-{bank}-of-the-consortium-with-a-long-name")
    }

    /// Transfers of every shape: many legs over several banks, consents, refunds, descriptions at
    /// the 140-character limit in multi-byte and escaped characters.
    fn transfers() -> Vec<PendingTransfer> {
        let descriptions = [String::new(), "é".repeat(140), "\"\\".repeat(70), "\u{1F600}".repeat(140), "\u{7}".repeat(140)];
        let mut out = Vec::new();
        for (n, description) in descriptions.iter().enumerate() {
            for legs in [2usize, 3, 8, 40] {
                let mut list = Vec::new();
                for k in 0..legs {
                    let bank = BankId::try_from(k % 5).unwrap();
                    let debit = k < legs / 2;
                    let amount = if debit { -((k as i64 + 1) * 100) } else { 0 };
                    list.push(TransferLeg {
                        bank,
                        account: format!("{:08}", 10_000_000 + k * 7919),
                        amount_cents: amount,
                        consent: (debit && bank != 0).then(|| format!("cs_{:024x}", k * 1_000_003)),
                    });
                }
                let debited: i64 = list.iter().map(|leg| -leg.amount_cents).sum();
                let credits = list.iter().filter(|leg| leg.amount_cents == 0).count() as i64;
                for (index, leg) in list.iter_mut().filter(|leg| leg.amount_cents == 0).enumerate() {
                    leg.amount_cents = debited / credits + if (index as i64) < debited % credits { 1 } else { 0 };
                }
                out.push(PendingTransfer {
                    id: TransferId(format!("tr_{n}_{legs}_0123456789abcdef01234567")),
                    kind: if n % 2 == 0 { TransferKind::Transfer } else { TransferKind::Payment },
                    initiated_by: "11144477735".to_string(),
                    description: description.clone(),
                    legs: list,
                    refund_of: (n == 1).then(|| TransferId("tr_0123456789abcdef01234567".to_string())),
                });
            }
        }
        out
    }

    #[test]
    fn the_size_counted_is_each_participants_prepare_item() {
        let transfers = transfers();
        let (mut core, _) = Coordinator::start(CoordinatorConfig::with_defaults(0), CoordinatorState::default(), 0);
        for transfer in &transfers {
            core.submit(transfer.clone());
        }
        let bounds: BTreeMap<String, BTreeMap<BankId, usize>> =
            transfers.iter().map(|transfer| (transfer.id.0.clone(), prepare_item_sizes(0, transfer, name))).collect();
        let actions = core.start_batch(Stamp::new(1, 1), None, 4_000_000_000, transfers, 1_000, 0);
        let mut items = 0;
        for action in actions {
            let CoordinatorAction::Send { to, message: Message::Prepare(prepare) } = action else { continue };
            for item in prepare_request(prepare, name).transfers {
                let bytes = serde_json::to_vec(&item).unwrap().len();
                let bound = bounds[&item.id][&to];
                // The same item but for the position's digits (counted at their most).
                assert!(bytes <= bound && bound <= bytes + 10, "{} at bank {to}: {bytes} bytes, counted {bound}", item.id);
                items += 1;
            }
        }
        assert!(items > 40, "{items} items checked");
    }
}
