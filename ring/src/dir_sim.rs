//! A deterministic simulation of the directory's ordering ([`crate::directory`]): 3 to 7
//! members, holders taking fresh stamps (sometimes a new epoch, as after a regeneration) while
//! older holders keep going (stale holders, lost tokens), message loss, duplication, long delays
//! (reordering), one-way link cuts, crashes with restart from exactly what was persisted, and
//! crashes in the middle of carrying out a step's actions.
//!
//! Checked after every event: **agreement** (a log position is committed with one value at every
//! member that commits it, and committed positions never change, across restarts), every
//! member's directory equals the reference directory built from the agreed log up to its
//! committed length (so a key names at most one account at every position, and every member
//! answers the same for the same position), and an operation id takes at most one position.
//! After the final heal: every member converges to the same committed log and directory.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use crate::directory::{DirAction, DirMessage, Directory, Op, Orderer, Outcome, Owner, Pos, Replica, ReplicaState};
use crate::sim::{Envelope, Rng};
use crate::{Millis, NodeId, Stamp};

/// What one run did.
#[derive(Clone, Debug, Default)]
pub struct DirSimStats {
    pub seed: u64,
    pub nodes: usize,
    pub events: u64,
    pub messages: u64,
    pub holders: u64,
    pub crashes: u64,
    /// Positions committed (the agreed log's length at the end).
    pub committed: u64,
    /// Registrations refused because another bank's registration of the key came first.
    pub key_taken: u64,
    /// Holders that a newer stamp superseded while they still had work.
    pub superseded: u64,
    /// New rounds under the same stamp after a truncated promise.
    pub new_rounds: u64,
    pub sim_ms: Millis,
}

pub fn dir_replay_command(seed: u64) -> String {
    format!("DIR_SEED={seed} cargo test -p ringbank-ring --release dir_sim_replay -- --nocapture")
}

struct Member {
    replica: Replica,
    disk: ReplicaState,
    orderer: Option<Orderer>,
    down_until: Option<Millis>,
}

struct Sim {
    rng: Rng,
    trace: bool,
    now: Millis,
    order: u64,
    members: Vec<Member>,
    quorum: usize,
    queue: BinaryHeap<Envelope<DirMessage>>,
    loss: u64,
    cut: BTreeSet<(usize, usize)>,
    heal_at: Option<Millis>,
    next_stamp: Stamp,
    op_counter: u64,
    /// The agreed log: position -> (value, outcome), and the reference digests after each.
    chosen: Vec<(Op, Outcome)>,
    reference: Directory,
    digests: Vec<u64>,
    ids: BTreeMap<String, Pos>,
    stats: DirSimStats,
    /// Self-test: every orderer skips recovery.
    bug: bool,
    /// Entries per message at every replica (small in half the seeds: truncated promises,
    /// chunked accepts, multi-round catch-ups).
    cap: usize,
}

/// Runs one seed; returns the first violated property with its replay command.
pub fn run_dir_seed(seed: u64, trace: bool) -> Result<DirSimStats, String> {
    run_dir_seed_with(seed, trace, false)
}

/// Runs one seed; with `deliberate_bug` every orderer skips recovery (the checks must catch it).
pub fn run_dir_seed_with(seed: u64, trace: bool, deliberate_bug: bool) -> Result<DirSimStats, String> {
    let mut rng = Rng::new(seed ^ 0xD1C7_0000_5EED);
    let nodes = 3 + rng.below(5) as usize;
    let chaos_ms = rng.range(2_000, 8_000);
    let loss = rng.below(21);
    let cap = if rng.chance(50) { rng.range(1, 6) as usize } else { crate::directory::MAX_ENTRIES };
    let mut sim = Sim {
        rng,
        trace,
        now: 0,
        order: 0,
        members: (0..nodes)
            .map(|_| Member {
                replica: Replica::new(ReplicaState::default()).with_message_cap(cap),
                disk: ReplicaState::default(),
                orderer: None,
                down_until: None,
            })
            .collect(),
        quorum: nodes / 2 + 1,
        queue: BinaryHeap::new(),
        loss,
        cut: BTreeSet::new(),
        heal_at: None,
        next_stamp: Stamp::new(1, 0),
        op_counter: 0,
        chosen: Vec::new(),
        reference: Directory::default(),
        digests: vec![Directory::default().digest()],
        ids: BTreeMap::new(),
        stats: DirSimStats { seed, nodes, ..DirSimStats::default() },
        bug: deliberate_bug,
        cap,
    };
    let result = sim.run(chaos_ms);
    sim.stats.sim_ms = sim.now;
    sim.stats.committed = sim.chosen.len() as u64;
    result.map(|()| sim.stats.clone()).map_err(|message| {
        format!(
            "directory simulation failed: seed {seed}, {nodes} nodes, loss {loss}%, t={} ms: {message}\nreplay: {}",
            sim.now,
            dir_replay_command(seed)
        )
    })
}

impl Sim {
    fn run(&mut self, chaos_ms: Millis) -> Result<(), String> {
        let mut next_tick = 0;
        let mut next_retransmit = 100;
        while self.now < chaos_ms {
            let next_message = self.queue.peek().map_or(Millis::MAX, |e| e.at);
            let at = next_message.min(next_tick).min(next_retransmit);
            self.now = at;
            self.stats.events += 1;
            if next_message == at {
                let envelope = self.queue.pop().expect("peeked");
                self.deliver(envelope)?;
            } else if next_retransmit == at {
                next_retransmit = at + 100;
                self.retransmit_all()?;
            } else {
                next_tick = at + self.rng.range(2, 60);
                self.chaos_event()?;
            }
            self.restart_due()?;
        }
        self.final_heal()
    }

    fn log(&self, text: impl FnOnce() -> String) {
        if self.trace {
            println!("[{:>6}] {}", self.now, text());
        }
    }

    fn up(&self, i: usize) -> bool {
        self.members[i].down_until.is_none()
    }

    fn chaos_event(&mut self) -> Result<(), String> {
        if self.heal_at.is_some_and(|t| t <= self.now) {
            self.cut.clear();
            self.heal_at = None;
        }
        let n = self.members.len();
        let node = self.rng.below(n as u64) as usize;
        let roll = self.rng.below(100);
        if roll < 12 {
            // A new holding: a fresh stamp, sometimes in a new epoch (a regeneration).
            if !self.up(node) {
                return Ok(());
            }
            self.next_stamp = if self.rng.chance(25) {
                Stamp::new(self.next_stamp.epoch + 1, 1)
            } else {
                Stamp::new(self.next_stamp.epoch, self.next_stamp.seq + 1)
            };
            let stamp = self.next_stamp;
            self.stats.holders += 1;
            if let Some(old) = &self.members[node].orderer {
                if !old.idle() {
                    self.stats.superseded += 1;
                }
            }
            let members: Vec<NodeId> = (0..n as NodeId).collect();
            let (mut orderer, actions) = Orderer::new(stamp, members, self.quorum, self.members[node].replica.committed());
            if self.bug {
                orderer = orderer.with_deliberate_bug();
            }
            self.log(|| format!("node {node} holds {stamp:?} from {}", orderer.committed()));
            self.members[node].orderer = Some(orderer);
            let ops = self.random_ops(node);
            let mut more = self.members[node].orderer.as_mut().expect("set").propose(ops);
            let mut all = actions;
            all.append(&mut more);
            self.execute(node, all)?;
        } else if roll < 40 {
            if !self.up(node) || self.members[node].orderer.is_none() {
                return Ok(());
            }
            let ops = self.random_ops(node);
            let actions = self.members[node].orderer.as_mut().expect("checked").propose(ops);
            self.execute(node, actions)?;
        } else if roll < 44 {
            if !self.up(node) {
                return Ok(());
            }
            let for_ms = self.rng.range(20, 800);
            self.crash(node, for_ms);
        } else if roll < 47 && self.cut.is_empty() {
            for a in 0..n {
                for b in 0..n {
                    if a != b && self.rng.chance(30) {
                        self.cut.insert((a, b));
                    }
                }
            }
            self.heal_at = Some(self.now + self.rng.range(50, 1_500));
        }
        Ok(())
    }

    fn random_ops(&mut self, node: usize) -> Vec<Op> {
        let n = self.members.len() as u64;
        (0..self.rng.range(1, 4))
            .map(|_| {
                self.op_counter += 1;
                let id = format!("{node}-{}", self.op_counter);
                let key = format!("k{}@x.com", self.rng.below(8));
                let account = format!("{}", self.rng.below(2));
                let bank = format!("B{node}");
                let owner = Owner {
                    bank: bank.clone(),
                    account: account.clone(),
                    account_kind: "checking".into(),
                    name: format!("Holder {node}/{account}"),
                    masked_document: "***.444.777-**".into(),
                };
                match self.rng.below(4) {
                    0 | 1 => Op::Register { id, key, key_kind: "email".into(), owner, limit: 3 },
                    2 => Op::Delete { id, key, bank, account },
                    _ => Op::Move {
                        id,
                        key,
                        from_bank: format!("B{}", self.rng.below(n)),
                        from_account: format!("{}", self.rng.below(2)),
                        to: owner,
                        limit: 3,
                    },
                }
            })
            .collect()
    }

    fn crash(&mut self, node: usize, for_ms: Millis) {
        self.stats.crashes += 1;
        self.log(|| format!("node {node} crashes for {for_ms} ms"));
        let member = &mut self.members[node];
        member.down_until = Some(self.now + for_ms);
        member.orderer = None;
    }

    fn restart_due(&mut self) -> Result<(), String> {
        for node in 0..self.members.len() {
            if self.members[node].down_until.is_some_and(|t| t <= self.now) {
                self.restart(node)?;
            }
        }
        Ok(())
    }

    fn restart(&mut self, node: usize) -> Result<(), String> {
        self.log(|| format!("node {node} restarts"));
        let member = &mut self.members[node];
        member.down_until = None;
        member.replica = Replica::new(member.disk.clone()).with_message_cap(self.cap);
        // A crash between persisting a commit and carrying out its `Applied` actions leaves
        // positions committed on disk that no `Applied` reported: they count as committed here.
        let log: Vec<(Pos, Op)> = self.members[node].replica.committed_log().map(|(p, s)| (p, s.op.clone())).collect();
        for (pos, op) in log {
            if pos as usize <= self.chosen.len() {
                if self.chosen[(pos - 1) as usize].0 != op {
                    return Err(format!(
                        "node {node} restarted with {op:?} committed at {pos}; agreed {:?}",
                        self.chosen[(pos - 1) as usize].0
                    ));
                }
            } else {
                let outcome = self.reference.clone().apply(&op);
                self.record(node, pos, op, outcome)?;
            }
        }
        self.check_member(node)?;
        let peers: Vec<NodeId> = (0..self.members.len() as NodeId).filter(|p| *p as usize != node).collect();
        let actions = self.members[node].replica.catch_up(&peers);
        self.execute(node, actions)
    }

    fn retransmit_all(&mut self) -> Result<(), String> {
        for node in 0..self.members.len() {
            if let Some(orderer) = &self.members[node].orderer {
                let actions = orderer.retransmit();
                self.execute(node, actions)?;
            }
            self.next_round(node)?;
        }
        Ok(())
    }

    fn deliver(&mut self, envelope: Envelope<DirMessage>) -> Result<(), String> {
        let (from, to) = (envelope.from, envelope.to);
        if !self.up(to) || self.cut.contains(&(from, to)) {
            return Ok(());
        }
        let message = envelope.message;
        self.log(|| format!("{from} -> {to} {message:?}"));
        let actions = match message {
            DirMessage::Promise { .. } | DirMessage::Accepted { .. } | DirMessage::Refuse { .. } => match &mut self.members[to].orderer {
                Some(orderer) => orderer.step(from as NodeId, message),
                None => Vec::new(),
            },
            _ => self.members[to].replica.step(from as NodeId, message),
        };
        self.execute(to, actions)?;
        self.next_round(to)?;
        self.check_member(to)
    }

    /// A holder whose round was limited by a truncated promise and has committed all it could
    /// starts a new round under the same stamp (as the bank's driver does).
    fn next_round(&mut self, node: usize) -> Result<(), String> {
        if !self.up(node) {
            return Ok(());
        }
        let committed = self.members[node].replica.committed();
        let Some(orderer) = self.members[node].orderer.as_mut() else { return Ok(()) };
        if !orderer.needs_new_round() || committed < orderer.committed() {
            return Ok(());
        }
        let queued = orderer.take_queued();
        let (stamp, n) = (orderer.stamp(), self.members.len());
        let (mut orderer, mut actions) = Orderer::new(stamp, (0..n as NodeId).collect(), self.quorum, committed);
        if self.bug {
            orderer = orderer.with_deliberate_bug();
        }
        actions.extend(orderer.propose(queued));
        self.stats.new_rounds += 1;
        self.log(|| format!("node {node} starts a new round under {stamp:?} from {committed}"));
        self.members[node].orderer = Some(orderer);
        self.execute(node, actions)
    }

    /// Carries out a step's actions; sometimes the process dies part-way (only what was
    /// persisted before survives; the in-memory replica is rebuilt from disk at restart).
    fn execute(&mut self, node: usize, actions: Vec<DirAction>) -> Result<(), String> {
        for action in actions {
            if self.rng.chance(1) && self.rng.chance(20) {
                let for_ms = self.rng.range(20, 400);
                self.crash(node, for_ms);
                return Ok(());
            }
            match action {
                DirAction::Persist(write) => self.members[node].disk.apply_write(&write),
                DirAction::Send { to, message } => self.send(node, to as usize, message),
                DirAction::Applied { pos, op, outcome } => self.record(node, pos, op, outcome)?,
            }
        }
        Ok(())
    }

    fn send(&mut self, from: usize, to: usize, message: DirMessage) {
        self.stats.messages += 1;
        if self.rng.chance(self.loss) {
            return;
        }
        let copies = if self.rng.chance(5) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = if self.rng.chance(3) { self.rng.range(50, 1_500) } else { self.rng.range(1, 5) };
            self.order += 1;
            self.queue.push(Envelope { at: self.now + delay, order: self.order, from, to, message: message.clone() });
        }
    }

    /// Agreement: the first member to commit a position fixes its value; every other commit of
    /// that position must carry the same value and outcome.
    fn record(&mut self, node: usize, pos: Pos, op: Op, outcome: Outcome) -> Result<(), String> {
        let index = (pos - 1) as usize;
        if index < self.chosen.len() {
            if self.chosen[index] != (op.clone(), outcome.clone()) {
                return Err(format!(
                    "node {node} committed {op:?} -> {outcome:?} at {pos}, but {:?} was committed there",
                    self.chosen[index]
                ));
            }
            return Ok(());
        }
        if index != self.chosen.len() {
            return Err(format!("node {node} committed position {pos} with the agreed log at {}", self.chosen.len()));
        }
        let expected = self.reference.apply(&op);
        if expected != outcome {
            return Err(format!("node {node} applied {op:?} as {outcome:?}; the agreed log gives {expected:?}"));
        }
        if let Some(id) = op.id() {
            if let Some(earlier) = self.ids.insert(id.to_string(), pos) {
                return Err(format!("operation {id} committed at positions {earlier} and {pos}"));
            }
        }
        if matches!(outcome, Outcome::KeyTaken { .. }) {
            self.stats.key_taken += 1;
        }
        self.log(|| format!("position {pos} committed first by node {node}: {op:?} -> {outcome:?}"));
        self.chosen.push((op, outcome));
        self.digests.push(self.reference.digest());
        Ok(())
    }

    /// A member's committed log is a prefix of the agreed log, and its directory (in memory and
    /// as rebuilt from its disk) is the reference directory at its committed length.
    fn check_member(&self, node: usize) -> Result<(), String> {
        let member = &self.members[node];
        if !self.up(node) {
            return Ok(());
        }
        let committed = member.replica.committed();
        if committed as usize > self.chosen.len() {
            return Err(format!("node {node} committed {committed} positions; only {} are agreed", self.chosen.len()));
        }
        for (pos, slot) in member.replica.committed_log().skip(committed.saturating_sub(4) as usize) {
            if slot.op != self.chosen[(pos - 1) as usize].0 {
                return Err(format!("node {node} holds {:?} committed at {pos}; agreed {:?}", slot.op, self.chosen[(pos - 1) as usize].0));
            }
        }
        if member.replica.directory().digest() != self.digests[committed as usize] {
            return Err(format!("node {node}'s directory at {committed} differs from the agreed one"));
        }
        if member.disk.committed > committed {
            return Err(format!("node {node} persisted committed {} ahead of memory {committed}", member.disk.committed));
        }
        Ok(())
    }

    /// Every member comes back, the network heals, one more holder orders an operation; every
    /// member must then converge to the same committed log and directory.
    fn final_heal(&mut self) -> Result<(), String> {
        self.cut.clear();
        self.heal_at = None;
        self.loss = 0;
        for node in 0..self.members.len() {
            if !self.up(node) {
                self.restart(node)?;
            }
        }
        let n = self.members.len();
        let node = self.rng.below(n as u64) as usize;
        self.next_stamp = Stamp::new(self.next_stamp.epoch + 1, 1);
        let (orderer, actions) =
            Orderer::new(self.next_stamp, (0..n as NodeId).collect(), self.quorum, self.members[node].replica.committed());
        for member in &mut self.members {
            member.orderer = None;
        }
        self.members[node].orderer = Some(orderer);
        let ops = self.random_ops(node);
        let mut all = actions;
        all.extend(self.members[node].orderer.as_mut().expect("set").propose(ops));
        self.stats.holders += 1;
        let deadline = self.now + 10_000;
        let mut next_retransmit = self.now + 100;
        loop {
            // No more crashes from here on: execute without the crash roll.
            for action in std::mem::take(&mut all) {
                self.final_action(node, action)?;
            }
            let orderer = self.members[node].orderer.as_ref().expect("set");
            let target = orderer.last_proposed();
            let converged = orderer.idle() && self.members.iter().all(|m| m.replica.committed() == target);
            if converged {
                let digest = self.members[0].replica.directory().digest();
                if self
                    .members
                    .iter()
                    .any(|m| m.replica.directory().digest() != digest || m.replica.committed_log().count() as Pos != target)
                {
                    return Err("members converged to different directories".into());
                }
                return Ok(());
            }
            if self.now > deadline {
                let lengths: Vec<Pos> = self.members.iter().map(|m| m.replica.committed()).collect();
                return Err(format!("no convergence within 10 s after the heal: committed {lengths:?}, target {target}"));
            }
            let next_message = self.queue.peek().map_or(Millis::MAX, |e| e.at);
            if next_message <= next_retransmit {
                let envelope = self.queue.pop().expect("peeked");
                self.now = envelope.at;
                let (from, to, message) = (envelope.from, envelope.to, envelope.message);
                let actions = match message {
                    DirMessage::Promise { .. } | DirMessage::Accepted { .. } | DirMessage::Refuse { .. } => {
                        self.members[to].orderer.as_mut().map(|o| o.step(from as NodeId, message)).unwrap_or_default()
                    }
                    _ => self.members[to].replica.step(from as NodeId, message),
                };
                for action in actions {
                    self.final_action(to, action)?;
                }
                self.final_next_round(to)?;
                self.check_member(to)?;
            } else {
                self.now = next_retransmit;
                next_retransmit += 100;
                all = self.members[node].orderer.as_ref().expect("set").retransmit();
            }
        }
    }

    /// `next_round` without the crash roll (the final phase has no crashes).
    fn final_next_round(&mut self, node: usize) -> Result<(), String> {
        let committed = self.members[node].replica.committed();
        let Some(orderer) = self.members[node].orderer.as_mut() else { return Ok(()) };
        if !orderer.needs_new_round() || committed < orderer.committed() {
            return Ok(());
        }
        let queued = orderer.take_queued();
        let (stamp, n) = (orderer.stamp(), self.members.len());
        let (mut orderer, mut actions) = Orderer::new(stamp, (0..n as NodeId).collect(), self.quorum, committed);
        actions.extend(orderer.propose(queued));
        self.members[node].orderer = Some(orderer);
        for action in actions {
            self.final_action(node, action)?;
        }
        Ok(())
    }

    fn final_action(&mut self, node: usize, action: DirAction) -> Result<(), String> {
        match action {
            DirAction::Persist(write) => self.members[node].disk.apply_write(&write),
            DirAction::Send { to, message } => self.send(node, to as usize, message),
            DirAction::Applied { pos, op, outcome } => self.record(node, pos, op, outcome)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checks_catch_an_orderer_that_skips_recovery() {
        let caught = (1..=200).find(|seed| run_dir_seed_with(*seed, false, true).is_err());
        assert!(caught.is_some(), "no seed caught the deliberate bug");
    }

    #[test]
    fn a_few_seeds_pass() {
        for seed in 1..=30 {
            let stats = run_dir_seed(seed, false).unwrap();
            assert!(stats.committed > 0, "seed {seed} committed nothing");
        }
    }
}
