//! A deterministic simulator of the two-phase commit: N banks, each both coordinator and
//! participant, on an in-memory network with seeded loss, duplication, delay (reordering) and
//! partitions; crashes at any action boundary and at the named crash points, restarts from the
//! durable state only; an abstract token that grants increasing stamps one holder at a time.
//! Every durable write and every message is checked by `check.rs` as it happens; `run_seed` ends with a liveness check
//! after the final heal. Only the simulator uses randomness.

mod byzantine;
mod check;
mod ledger;
#[cfg(test)]
mod self_test;
mod workload;

use std::collections::BinaryHeap;

use crate::{
    answer_query, BankId, Coordinator, CoordinatorAction, CoordinatorConfig, CoordinatorState, CoordinatorWrite, CrashPoint, Message,
    Millis, Participant, ParticipantAction, ParticipantConfig, ParticipantState, ParticipantWrite, Stamp, TransferId,
};
use check::Oracle;
use ledger::SimLedger;

/// The simulators share one PRNG (splitmix64), so a seed means the same stream in both.
pub use ringbank_ring::sim::Rng;

/// What one simulated run did.
#[derive(Clone, Debug, Default)]
pub struct SimStats {
    pub seed: u64,
    pub banks: usize,
    pub events: u64,
    pub messages: u64,
    pub transfers: u64,
    /// Settlements submitted, and committed (`TransferKind::Settlement`).
    pub settlements: u64,
    pub settlements_committed: u64,
    pub committed: u64,
    pub aborted: u64,
    pub presumed_aborts: u64,
    pub crashes: u64,
    pub pauses: u64,
    pub stale_refusals: u64,
    /// Forged, garbled or replayed messages the Byzantine bank injected (0 without one).
    pub forged: u64,
    /// The Byzantine bank, if the seed has one.
    pub byzantine: Option<BankId>,
    /// 1 if the seed has a Byzantine bank (summed over seeds by the test).
    pub byzantine_seeds: u64,
    pub sim_ms: Millis,
}

/// The ids of settlements in the simulation start with this.
const SETTLEMENT_ID_PREFIX: &str = "st";

/// The one-line command that replays a seed with a full trace.
pub fn replay_command(seed: u64) -> String {
    format!("TWOPC_SEED={seed} cargo test -p ringbank-twopc --release sim_replay -- --nocapture")
}

/// Runs one randomized scenario (chaos, final heal, liveness). Returns the first violated
/// property, or a panic of a core's assertion, with the replay command.
pub fn run_seed(seed: u64, trace: bool) -> Result<SimStats, String> {
    let outcome = std::panic::catch_unwind(|| {
        let mut sim = Sim::new(seed, trace);
        let result = sim.run_scenario();
        sim.stats.sim_ms = sim.now;
        sim.stats.forged = sim.adversary.as_ref().map_or(0, |a| a.forged);
        (result, sim.stats.clone(), sim.now)
    });
    match outcome {
        Ok((Ok(()), stats, _)) => Ok(stats),
        Ok((Err(message), stats, now)) => Err(format!(
            "2PC simulation failed: seed {seed}, {} banks (Byzantine: {:?}), t={now} ms: {message}\nreplay: {}",
            stats.banks,
            stats.byzantine,
            replay_command(seed)
        )),
        Err(panic) => {
            let text = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(format!("2PC simulation failed: seed {seed}: assertion: {}\nreplay: {}", text.unwrap_or_default(), replay_command(seed)))
        }
    }
}

/// Messages in flight: the ring simulator's envelope, ordered by delivery time then sending order.
type Envelope = ringbank_ring::sim::Envelope<Message>;

/// What survives a crash.
#[derive(Clone, Debug)]
struct Disk {
    coordinator: CoordinatorState,
    participant: ParticipantState,
    ledger: SimLedger,
}

/// One simulated bank: its two cores (absent while crashed) and its disk.
struct SimBank {
    coordinator: Option<Coordinator>,
    participant: Option<Participant>,
    disk: Disk,
    /// Local monotonic clock = global time + offset (a new origin after each restart).
    offset: Millis,
    restart_at: Option<Millis>,
    /// A frozen process (SIGSTOP): no timers, messages wait or are lost; its clock runs on.
    paused_until: Option<Millis>,
    crash_mid_step: bool,
    ring_promised_epoch: u64,
}

/// Every action of either core, in one list, for the simulated driver.
enum Step {
    PersistCoordinator(CoordinatorWrite),
    PersistParticipant(ParticipantWrite),
    Send(BankId, Message),
    CrashPoint(CrashPoint),
    Decided(TransferId, bool),
    Final(TransferId, bool),
}

/// The simulated consortium.
pub struct Sim {
    rng: Rng,
    now: Millis,
    banks: Vec<SimBank>,
    queue: BinaryHeap<Envelope>,
    order: u64,
    side: Vec<u8>,
    partition_heal_at: Option<Millis>,
    drop_percent: u64,
    duplicate_percent: u64,
    long_delay_percent: u64,
    crash_point_percent: u64,
    faults: bool,
    next_fault: Millis,
    fault_gap_max: Millis,
    next_submit: Millis,
    submit_gap_max: Millis,
    /// The abstract token: the newest stamp granted, its holder and when its lease ends.
    stamp: Stamp,
    holder: Option<(usize, Millis)>,
    next_grant: Millis,
    next_round_robin: usize,
    next_transfer: u64,
    /// Each bank's keyring, by `BankId` (a stand-in for Ed25519, see `ringbank_ring::SimKeyring`).
    keys: Vec<crate::Keys>,
    /// The one Byzantine bank and what it keeps for its attacks (most seeds have one).
    adversary: Option<byzantine::Adversary>,
    oracle: Oracle,
    trace: bool,
    pub stats: SimStats,
}

const CUSTOMERS_PER_BANK: u64 = 4;
const OPENING_BALANCE_CENTS: i64 = 5_000;

impl Sim {
    pub fn new(seed: u64, trace: bool) -> Sim {
        let mut rng = Rng::new(seed ^ 0x20C0_FFEE);
        let count = rng.range(3, 5) as usize;
        let mut banks = Vec::new();
        for bank in 0..count {
            let ledger = SimLedger::new(bank as BankId, count, CUSTOMERS_PER_BANK, OPENING_BALANCE_CENTS);
            let disk = Disk { coordinator: CoordinatorState::default(), participant: ParticipantState::default(), ledger };
            banks.push(SimBank {
                coordinator: None,
                participant: None,
                disk,
                offset: rng.below(1_000_000),
                restart_at: None,
                paused_until: None,
                crash_mid_step: false,
                ring_promised_epoch: 0,
            });
        }
        let totals = banks.iter().map(|b| b.disk.ledger.total_cents()).collect();
        let adversary = rng.chance(75).then(|| {
            let bank = rng.below(count as u64) as usize;
            byzantine::Adversary::new(bank, [10, 40, 150][rng.below(3) as usize], [0, 20, 50][rng.below(3) as usize])
        });
        let byzantine = adversary.as_ref().map(|a| a.bank as BankId);
        let mut sim = Sim {
            drop_percent: rng.below(20),
            duplicate_percent: rng.below(10),
            long_delay_percent: rng.below(6),
            crash_point_percent: [0, 2, 10, 30][rng.below(4) as usize],
            fault_gap_max: [150, 400, 1_000][rng.below(3) as usize],
            submit_gap_max: [40, 150, 400][rng.below(3) as usize],
            rng,
            now: 0,
            queue: BinaryHeap::new(),
            order: 0,
            side: vec![0; count],
            partition_heal_at: None,
            faults: true,
            next_fault: 0,
            next_submit: 0,
            stamp: Stamp::new(1 << 16, 0),
            keys: (0..count as BankId)
                .map(|me| crate::Keys::new(ringbank_ring::SimKeyring::new(me, &(0..count as BankId).collect::<Vec<_>>(), seed)))
                .collect(),
            holder: None,
            next_grant: 0,
            next_round_robin: 0,
            next_transfer: 0,
            oracle: Oracle::new(totals, byzantine),
            adversary,
            trace,
            stats: SimStats { seed, banks: count, byzantine, byzantine_seeds: u64::from(byzantine.is_some()), ..SimStats::default() },
            banks,
        };
        for index in 0..count {
            sim.restart(index).expect("a fresh bank starts cleanly");
        }
        sim
    }

    fn members(&self) -> Vec<BankId> {
        (0..self.banks.len() as BankId).collect()
    }

    fn local_now(&self, index: usize) -> Millis {
        self.now + self.banks[index].offset
    }

    fn run_scenario(&mut self) -> Result<(), String> {
        let chaos_ms = self.rng.range(1_000, 4_000);
        self.run_until(chaos_ms)?;
        self.final_heal()?;
        let give_up = self.now + 30_000;
        while self.now < give_up {
            let next = self.now + 250;
            self.run_until(next)?;
            if self.oracle.all_settled(&disks(&self.banks)).is_ok() {
                return Ok(());
            }
        }
        self.oracle.all_settled(&disks(&self.banks)).map_err(|problem| format!("liveness: 30 s after the final heal: {problem}"))
    }

    /// Ends every fault: all banks up, no partition, a clean network, no new transfers.
    fn final_heal(&mut self) -> Result<(), String> {
        self.trace_line("FINAL HEAL".to_string());
        self.faults = false;
        self.side = vec![0; self.banks.len()];
        self.partition_heal_at = None;
        self.drop_percent = 0;
        self.duplicate_percent = 0;
        self.long_delay_percent = 0;
        self.crash_point_percent = 0;
        for index in 0..self.banks.len() {
            self.banks[index].crash_mid_step = false;
            self.banks[index].paused_until = None;
            if self.banks[index].coordinator.is_none() {
                self.restart(index)?;
            }
        }
        Ok(())
    }

    fn run_until(&mut self, until: Millis) -> Result<(), String> {
        let mut same_instant = 0u32;
        loop {
            let next = self.next_event_time();
            if next > until {
                self.now = self.now.max(until);
                return Ok(());
            }
            same_instant = if next == self.now { same_instant + 1 } else { 0 };
            if same_instant > 10_000 {
                return Err(format!("livelock: more than 10000 events at t={next}"));
            }
            self.now = next;
            self.process_next()?;
            self.stats.events += 1;
        }
    }

    fn next_event_time(&self) -> Millis {
        let mut next = self.next_grant.max(self.holder.map_or(0, |(_, until)| until));
        if let Some(envelope) = self.queue.peek() {
            next = next.min(envelope.at);
        }
        if let Some(at) = self.partition_heal_at {
            next = next.min(at);
        }
        if self.faults {
            next = next.min(self.next_fault).min(self.next_submit);
            if let Some(adversary) = &self.adversary {
                next = next.min(adversary.next_attack);
            }
        }
        for bank in &self.banks {
            if let Some(at) = bank.restart_at {
                next = next.min(at);
            }
            if let Some(at) = bank.paused_until {
                next = next.min(at);
                continue;
            }
            let coordinator = bank.coordinator.as_ref().and_then(Coordinator::next_deadline);
            let participant = bank.participant.as_ref().and_then(Participant::next_deadline);
            for deadline in [coordinator, participant].into_iter().flatten() {
                next = next.min(deadline.saturating_sub(bank.offset));
            }
        }
        next.max(self.now)
    }

    /// Handles one event due now: controls first, then a delivery, then the token, then timers.
    fn process_next(&mut self) -> Result<(), String> {
        let now = self.now;
        if self.partition_heal_at.is_some_and(|at| at <= now) {
            self.side = vec![0; self.banks.len()];
            self.partition_heal_at = None;
            self.trace_line("HEAL partition".to_string());
            return Ok(());
        }
        for index in 0..self.banks.len() {
            if self.banks[index].restart_at.is_some_and(|at| at <= now) {
                return self.restart(index);
            }
            if self.banks[index].paused_until.is_some_and(|at| at <= now) {
                self.banks[index].paused_until = None;
                self.trace_line(format!("b{index} RESUME"));
                return Ok(());
            }
        }
        if self.faults && self.next_fault <= now {
            return self.random_fault();
        }
        if self.faults && self.adversary.as_ref().is_some_and(|a| a.next_attack <= now) {
            return self.attack();
        }
        if self.faults && self.next_submit <= now {
            self.next_submit = now + self.rng.range(1, self.submit_gap_max);
            if self.rng.chance(10) {
                return self.submit_random_settlement();
            }
            return self.submit_random_transfer();
        }
        if self.queue.peek().is_some_and(|envelope| envelope.at <= now) {
            let envelope = self.queue.pop().expect("peeked");
            return self.deliver(envelope);
        }
        if self.holder.is_some_and(|(_, until)| until <= now) {
            self.holder = None;
            self.next_grant = now + self.rng.range(1, 60);
            return Ok(());
        }
        if self.holder.is_none() && self.next_grant <= now {
            return self.grant_token();
        }
        for index in 0..self.banks.len() {
            let local = self.local_now(index);
            let bank = &mut self.banks[index];
            if bank.paused_until.is_some() {
                continue;
            }
            if let Some(coordinator) = bank.coordinator.as_mut().filter(|c| c.next_deadline().is_some_and(|d| d <= local)) {
                let steps = coordinator.tick(local).into_iter().map(Step::from).collect();
                return self.carry_out(index, "tick coordinator", steps);
            }
            if let Some(participant) = bank.participant.as_mut().filter(|p| p.next_deadline().is_some_and(|d| d <= local)) {
                let steps = participant.tick(local).into_iter().map(Step::from).collect();
                return self.carry_out(index, "tick participant", steps);
            }
        }
        Ok(())
    }

    fn crash(&mut self, index: usize) {
        self.trace_line(format!("b{index} CRASH"));
        self.oracle.crashed(&self.banks[index].disk.coordinator);
        let bank = &mut self.banks[index];
        bank.coordinator = None;
        bank.participant = None;
        bank.crash_mid_step = false;
        bank.paused_until = None;
        if self.holder.is_some_and(|(holder, _)| holder == index) {
            self.holder = None;
            self.next_grant = self.now + self.rng.range(1, 60);
        }
        self.stats.crashes += 1;
    }

    /// Starts a bank from exactly its disk, with a new clock origin.
    fn restart(&mut self, index: usize) -> Result<(), String> {
        let offset = self.rng.below(1_000_000);
        let members = self.members();
        let keys = self.keys[index].clone();
        let bank = &mut self.banks[index];
        bank.offset = offset;
        bank.restart_at = None;
        let local = self.now + offset;
        let me = index as BankId;
        let (coordinator, actions) = Coordinator::start(CoordinatorConfig::with_defaults(me), bank.disk.coordinator.clone(), local);
        bank.coordinator = Some(coordinator);
        bank.participant =
            Some(Participant::start(ParticipantConfig::with_defaults(me, members), keys, bank.disk.participant.clone(), local));
        let steps: Vec<Step> = actions.into_iter().map(Step::from).collect();
        self.stats.presumed_aborts += steps.iter().filter(|s| matches!(s, Step::Decided(..))).count() as u64;
        self.carry_out(index, "RESTART", steps)
    }

    fn deliver(&mut self, envelope: Envelope) -> Result<(), String> {
        let Envelope { from, to, message, .. } = envelope;
        if self.banks[to].coordinator.is_none() || (from != to && self.side[from] != self.side[to]) {
            return Ok(());
        }
        if let Some(resume) = self.banks[to].paused_until {
            // A frozen process: the message waits in the socket buffer, or is lost.
            if self.rng.chance(50) {
                self.order += 1;
                self.queue.push(Envelope { at: resume + self.rng.range(0, 5), order: self.order, from, to, message });
            }
            return Ok(());
        }
        if let Some(adversary) = self.adversary.as_mut().filter(|a| a.bank == to) {
            adversary.heard(&message);
        }
        let local = self.local_now(to);
        let from_id = from as BankId;
        let label = if self.trace { format!("b{to} <- b{from} {message:?}") } else { String::new() };
        let bank = &mut self.banks[to];
        let coordinator = bank.coordinator.as_mut().expect("checked above");
        let participant = bank.participant.as_mut().expect("up together");
        let steps: Vec<Step> = match message {
            Message::Prepare(prepare) => {
                let actions = participant.on_prepare(from_id, prepare, bank.ring_promised_epoch, &bank.disk.ledger, local);
                actions.into_iter().map(Step::from).collect()
            }
            Message::Outcome { coordinator: origin, outcomes } => {
                participant.on_outcome(from_id, origin, outcomes).into_iter().map(Step::from).collect()
            }
            Message::Known { coordinator: origin, known } => {
                // No signed decisions in the simulator: only the coordinator's own answer counts.
                participant.on_known(from_id, origin, known, |_| false).into_iter().map(Step::from).collect()
            }
            Message::Query { coordinator: origin, ids } => {
                vec![Step::Send(from_id, answer_query(coordinator, participant, from_id, origin, &ids))]
            }
            message @ (Message::Votes { .. } | Message::Refused { .. } | Message::Final { .. }) => {
                if matches!(message, Message::Refused { refusal: crate::Refusal::StaleStamp { .. }, .. }) {
                    self.stats.stale_refusals += 1;
                }
                coordinator.step(from_id, message, local).into_iter().map(Step::from).collect()
            }
        };
        self.carry_out(to, &label, steps)
    }

    /// Carries out one core's actions in order, as a driver would, checking each one. A bank
    /// marked `crash_mid_step`, or one reaching a crash point, dies part-way through, keeping only
    /// what it had persisted so far.
    fn carry_out(&mut self, index: usize, label: &str, steps: Vec<Step>) -> Result<(), String> {
        if self.trace {
            self.trace_line(format!("{label} -> {}", describe(&steps)));
        }
        let crash_at = if self.banks[index].crash_mid_step { Some(self.rng.below(steps.len() as u64 + 1) as usize) } else { None };
        for (position, step) in steps.into_iter().enumerate() {
            if crash_at == Some(position) {
                return self.crash_with_restart(index);
            }
            match step {
                Step::PersistCoordinator(write) => {
                    self.oracle.coordinator_write(index as BankId, &write, &disks(&self.banks))?;
                    self.banks[index].disk.coordinator.apply(&write);
                }
                Step::PersistParticipant(write) => {
                    self.oracle.participant_write(index as BankId, &write, &disks(&self.banks))?;
                    let disk = &mut self.banks[index].disk;
                    disk.ledger.apply(index as BankId, &disk.participant, &write)?;
                    disk.participant.apply(&write);
                    // Money moves only here, so this is where the money rules are checked.
                    self.oracle.check_money(index as BankId, &disks(&self.banks))?;
                }
                Step::Send(to, message) => {
                    self.oracle.send(index as BankId, &message, &disks(&self.banks))?;
                    self.send(index, to as usize, message);
                }
                Step::CrashPoint(point) => {
                    if self.rng.chance(self.crash_point_percent) {
                        self.trace_line(format!("b{index} crash at {}", point.as_str()));
                        return self.crash_with_restart(index);
                    }
                }
                Step::Decided(id, commit) => {
                    if commit {
                        self.stats.committed += 1;
                        self.stats.settlements_committed += u64::from(id.0.starts_with(SETTLEMENT_ID_PREFIX));
                    } else {
                        self.stats.aborted += 1;
                    }
                    self.oracle.decided(index as BankId, index as BankId, &id, commit, &disks(&self.banks))?;
                }
                Step::Final(id, commit) => {
                    let records = &self.banks[index].disk.participant.participations;
                    let coordinator = records.get(&id).map_or(index as BankId, |record| record.coordinator);
                    self.oracle.decided(index as BankId, coordinator, &id, commit, &disks(&self.banks))?
                }
            }
        }
        if crash_at.is_some() {
            return self.crash_with_restart(index);
        }
        Ok(())
    }

    fn crash_with_restart(&mut self, index: usize) -> Result<(), String> {
        self.crash(index);
        self.banks[index].restart_at = Some(self.now + self.rng.range(10, 2_000));
        Ok(())
    }

    /// A message on the wire; one to the bank itself is a local call (never lost, no partition).
    fn send(&mut self, from: usize, to: usize, message: Message) {
        self.stats.messages += 1;
        let local = from == to;
        if !local && self.rng.chance(self.drop_percent) {
            return;
        }
        let copies = if !local && self.rng.chance(self.duplicate_percent) { 2 } else { 1 };
        for _ in 0..copies {
            let message = if local { message.clone() } else { self.lie(from, message.clone()) };
            let latency = if local {
                self.rng.range(0, 1)
            } else if self.rng.chance(self.long_delay_percent) {
                self.rng.range(50, 1_500)
            } else {
                self.rng.range(1, 5)
            };
            self.order += 1;
            self.queue.push(Envelope { at: self.now + latency, order: self.order, from, to, message });
        }
    }

    fn trace_line(&self, line: String) {
        if self.trace {
            println!("t={:>6} {line}", self.now);
        }
    }
}

fn disks(banks: &[SimBank]) -> Vec<&Disk> {
    banks.iter().map(|bank| &bank.disk).collect()
}

impl From<CoordinatorAction> for Step {
    fn from(action: CoordinatorAction) -> Step {
        match action {
            CoordinatorAction::Persist(write) => Step::PersistCoordinator(write),
            CoordinatorAction::Send { to, message } => Step::Send(to, message),
            CoordinatorAction::CrashPoint(point) => Step::CrashPoint(point),
            CoordinatorAction::Decided { id, commit } => Step::Decided(id, commit),
        }
    }
}

impl From<ParticipantAction> for Step {
    fn from(action: ParticipantAction) -> Step {
        match action {
            ParticipantAction::Persist(write) => Step::PersistParticipant(write),
            ParticipantAction::Send { to, message } => Step::Send(to, message),
            ParticipantAction::CrashPoint(point) => Step::CrashPoint(point),
            ParticipantAction::Final { id, commit } => Step::Final(id, commit),
        }
    }
}

fn describe(steps: &[Step]) -> String {
    let parts: Vec<String> = steps
        .iter()
        .map(|step| match step {
            Step::PersistCoordinator(write) => format!("persist {write:?}"),
            Step::PersistParticipant(write) => format!("persist {write:?}"),
            Step::Send(to, message) => format!("send b{to} {message:?}"),
            Step::CrashPoint(point) => format!("crash point {}", point.as_str()),
            Step::Decided(id, commit) => format!("DECIDED {id} commit={commit}"),
            Step::Final(id, commit) => format!("FINAL {id} commit={commit}"),
        })
        .collect();
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join("; ")
    }
}
