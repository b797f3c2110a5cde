//! The simulator's invariant checks: what every durable write and every message may claim, the
//! money rules after every event, and the liveness condition after the final heal.

use std::collections::{BTreeMap, BTreeSet};

use super::Disk;
use crate::{participants_of, BankId, CoordinatorState, CoordinatorWrite, Message, ParticipantWrite, ParticipationStatus, TransferId};

/// What the simulator knows globally, across crashes: every transfer's participants, every
/// logged decision, and the transfers whose coordinator crashed before deciding them.
pub(crate) struct Oracle {
    total_cents: i64,
    participants: BTreeMap<TransferId, (BankId, Vec<BankId>)>,
    decisions: BTreeMap<TransferId, bool>,
    presumed_abort: BTreeSet<TransferId>,
}

impl Oracle {
    pub fn new(total_cents: i64) -> Oracle {
        Oracle { total_cents, participants: BTreeMap::new(), decisions: BTreeMap::new(), presumed_abort: BTreeSet::new() }
    }

    /// A coordinator crashed: its ordered, undecided transfers must end aborted.
    pub fn crashed(&mut self, disk: &CoordinatorState) {
        for (id, record) in &disk.transfers {
            if record.order.is_some() && record.decision.is_none() {
                self.presumed_abort.insert(id.clone());
            }
        }
    }

    pub fn coordinator_write(&mut self, bank: BankId, write: &CoordinatorWrite, disks: &[&Disk]) -> Result<(), String> {
        let own = &disks[bank as usize].coordinator;
        match write {
            CoordinatorWrite::Submit(transfer) => {
                self.participants.insert(transfer.id.clone(), (bank, participants_of(bank, &transfer.legs)));
            }
            CoordinatorWrite::Order { ids, .. } => {
                for id in ids {
                    let record = own.transfers.get(id).ok_or_else(|| format!("b{bank} ordered unknown {id}"))?;
                    if record.order.is_some() || record.decision.is_some() {
                        return Err(format!("b{bank} ordered {id} twice"));
                    }
                }
            }
            CoordinatorWrite::Decide(decisions) | CoordinatorWrite::PresumeAbort(decisions) => {
                let presuming = matches!(write, CoordinatorWrite::PresumeAbort(_));
                for decision in decisions {
                    let id = &decision.id;
                    let record = own.transfers.get(id).ok_or_else(|| format!("b{bank} decided unknown {id}"))?;
                    if record.order.is_none() {
                        return Err(format!("b{bank} decided {id}, which was never ordered"));
                    }
                    if record.decision.is_some() {
                        continue; // a repeated decision changes nothing on disk
                    }
                    let (_, participants) = &self.participants[id];
                    if decision.participants != *participants {
                        return Err(format!("b{bank} decided {id} for {:?}, its participants are {participants:?}", decision.participants));
                    }
                    if presuming && decision.commit {
                        return Err(format!("presumed abort: restarted b{bank} committed {id}, which it never decided before crashing"));
                    }
                    if decision.commit && self.presumed_abort.contains(id) {
                        return Err(format!("presumed abort: b{bank} committed {id} after crashing with it undecided"));
                    }
                    self.check_decision(id, decision.commit, participants, disks)?;
                    self.decisions.insert(id.clone(), decision.commit);
                }
            }
            CoordinatorWrite::MarkDelivered { .. } | CoordinatorWrite::MarkRefused { .. } => {}
        }
        Ok(())
    }

    /// Committed only if every participant durably voted yes; atomicity against what any
    /// participant already applied.
    fn check_decision(&self, id: &TransferId, commit: bool, participants: &[BankId], disks: &[&Disk]) -> Result<(), String> {
        for bank in participants {
            let record = disks[*bank as usize].participant.participations.get(id);
            let voted_yes = record.is_some_and(|r| r.voted_yes == Some(true));
            let status = record.map(|r| r.status);
            if commit && !voted_yes {
                return Err(format!("commit of {id} without a durable yes vote from b{bank} ({record:?})"));
            }
            if commit && status == Some(ParticipationStatus::Aborted) {
                return Err(format!("atomicity: commit of {id} after b{bank} aborted it"));
            }
            if !commit && status == Some(ParticipationStatus::Committed) {
                return Err(format!("atomicity: abort of {id} after b{bank} committed it"));
            }
        }
        Ok(())
    }

    pub fn participant_write(&mut self, bank: BankId, write: &ParticipantWrite, disks: &[&Disk]) -> Result<(), String> {
        let own = &disks[bank as usize].participant;
        match write {
            ParticipantWrite::Prepare { stamp, votes } => {
                if *stamp < own.newest_stamp {
                    return Err(format!("fencing: b{bank} accepted a prepare stamped {stamp} after one stamped {}", own.newest_stamp));
                }
                for vote in votes {
                    if own.participations.contains_key(&vote.id) {
                        return Err(format!("b{bank} voted twice on {}", vote.id));
                    }
                    if self.decisions.get(&vote.id) == Some(&true) {
                        return Err(format!("b{bank} gave a first vote on {} after it was committed", vote.id));
                    }
                }
            }
            ParticipantWrite::Apply { resolved, tombstones, .. } => {
                for outcome in resolved {
                    match self.decisions.get(&outcome.id) {
                        Some(commit) if *commit == outcome.commit => {}
                        None if !outcome.commit && self.abort_is_forced(&outcome.id, disks) => {}
                        other => {
                            return Err(format!(
                                "atomicity: b{bank} applied commit={} to {} but the coordinator's decision is {other:?}",
                                outcome.commit, outcome.id
                            ))
                        }
                    }
                }
                for id in tombstones {
                    if self.decisions.get(id) != Some(&false) {
                        return Err(format!("b{bank} left a tombstone for {id} whose decision is {:?}", self.decisions.get(id)));
                    }
                }
            }
        }
        Ok(())
    }

    /// What a message claims must already be durable at its sender.
    pub fn send(&self, bank: BankId, message: &Message, disks: &[&Disk]) -> Result<(), String> {
        let disk = disks[bank as usize];
        match message {
            Message::Votes { votes, .. } => {
                for vote in votes {
                    let record = disk.participant.participations.get(&vote.id);
                    let durable_yes = record.is_some_and(|r| r.voted_yes == Some(true) && r.status != ParticipationStatus::Aborted);
                    if record.is_none() || (vote.yes && !durable_yes) {
                        return Err(format!("vote durable before the answer: b{bank} sent {vote:?} with {record:?} on disk"));
                    }
                }
            }
            Message::Outcome { outcomes, .. } => {
                for outcome in outcomes {
                    let durable = disk.coordinator.transfers.get(&outcome.id).and_then(|t| t.decision);
                    if durable != Some(outcome.commit) {
                        return Err(format!("decision durable before delivery: b{bank} sent {outcome:?} with {durable:?} on disk"));
                    }
                }
            }
            Message::Known { known, .. } => {
                for outcome in known {
                    // A participant that voted no may answer "abort" before the coordinator has
                    // decided: no commit can ever be decided without its yes.
                    let undecided = !self.decisions.contains_key(&outcome.id);
                    if undecided && !outcome.commit && self.abort_is_forced(&outcome.id, disks) {
                        continue;
                    }
                    if self.decisions.get(&outcome.id) != Some(&outcome.commit) {
                        return Err(format!("b{bank} answered {outcome:?}, the decision is {:?}", self.decisions.get(&outcome.id)));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A participant durably voted no: the coordinator can only abort, so any bank may apply or
    /// report the abort before the decision is logged (an in-doubt participant learns it that way).
    fn abort_is_forced(&self, id: &TransferId, disks: &[&Disk]) -> bool {
        let Some((_, participants)) = self.participants.get(id) else { return false };
        participants.iter().any(|bank| disks[*bank as usize].participant.participations.get(id).is_some_and(|r| r.voted_yes == Some(false)))
    }

    /// A coordinator's `Decided` or a participant's `Final` must match the logged decision.
    pub fn decided(&self, id: &TransferId, commit: bool, disks: &[&Disk]) -> Result<(), String> {
        match self.decisions.get(id) {
            Some(decision) if *decision == commit => Ok(()),
            None if !commit && self.abort_is_forced(id, disks) => Ok(()),
            other => Err(format!("{id} reported final with commit={commit}, the decision is {other:?}")),
        }
    }

    /// Money, after every write that moves it (at `bank`): the consortium's total never
    /// changes, and the bank's holds match its open votes.
    pub fn check_money(&self, bank: BankId, disks: &[&Disk]) -> Result<(), String> {
        let total: i64 = disks.iter().map(|disk| disk.ledger.total_cents()).sum();
        if total != self.total_cents {
            return Err(format!("money: the consortium holds {total} centavos, it started with {}", self.total_cents));
        }
        let disk = disks[bank as usize];
        disk.ledger.check(bank, &disk.participant)
    }

    /// Liveness: every transfer decided, every participant at the decision, everything
    /// delivered, no hold left.
    pub fn all_settled(&self, disks: &[&Disk]) -> Result<(), String> {
        for (id, (origin, participants)) in &self.participants {
            let record = &disks[*origin as usize].coordinator.transfers[id];
            let Some(commit) = record.decision else { return Err(format!("{id} is not decided at b{origin}")) };
            if !record.undelivered.is_empty() {
                return Err(format!("{id}'s outcome is not delivered to {:?}", record.undelivered));
            }
            let expected = if commit { ParticipationStatus::Committed } else { ParticipationStatus::Aborted };
            for bank in participants {
                let status = disks[*bank as usize].participant.participations.get(id).map(|r| r.status);
                if status != Some(expected) {
                    return Err(format!("b{bank} has {id} as {status:?}; the decision is commit={commit}"));
                }
            }
        }
        for (bank, disk) in disks.iter().enumerate() {
            if let Some((name, _)) = disk.ledger.accounts.iter().find(|(_, b)| b.held_cents != 0) {
                return Err(format!("b{bank} still holds money on {name}"));
            }
        }
        Ok(())
    }
}
