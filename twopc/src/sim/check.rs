//! The simulator's invariant checks: what every durable write and every message may claim, the
//! money rules after every event, and the liveness condition after the final heal.
//!
//! With a Byzantine bank in the run, the checks are about honest banks only: the Byzantine bank's
//! own books and the transfers it coordinates may be anything (it can lie about them), but at an
//! honest bank there is no debit without its own yes vote and hold (and a covering consent unless
//! initiated there), its fence advances only on a stamp the ring certified for the prepare's
//! coordinator, its books balance, and the transfers honest banks coordinate stay atomic among
//! their honest participants.

use std::collections::{BTreeMap, BTreeSet};

use super::Disk;
use crate::{
    participants_of, BankId, CoordinatorState, CoordinatorWrite, Message, ParticipantWrite, Participation, ParticipationStatus, Stamp,
    TransferId,
};

/// What the simulator knows globally, across crashes: every transfer's participants, every
/// logged decision, and the transfers whose coordinator crashed before deciding them.
pub(crate) struct Oracle {
    /// Each bank's books at the start: postings balance at every bank, so this never changes.
    totals: Vec<i64>,
    byzantine: Option<BankId>,
    /// Every stamp the ring granted, with its holder (what a valid certificate can prove).
    certified: BTreeMap<Stamp, BankId>,
    participants: BTreeMap<TransferId, (BankId, Vec<BankId>)>,
    decisions: BTreeMap<TransferId, bool>,
    presumed_abort: BTreeSet<TransferId>,
}

impl Oracle {
    pub fn new(totals: Vec<i64>, byzantine: Option<BankId>) -> Oracle {
        Oracle {
            totals,
            byzantine,
            certified: BTreeMap::new(),
            participants: BTreeMap::new(),
            decisions: BTreeMap::new(),
            presumed_abort: BTreeSet::new(),
        }
    }

    /// The ring granted `stamp` to `holder` (with a certificate).
    pub fn granted(&mut self, stamp: Stamp, holder: BankId) {
        self.certified.insert(stamp, holder);
    }

    /// Who the ring granted `stamp` to.
    pub fn holder_of(&self, stamp: Stamp) -> Option<BankId> {
        self.certified.get(&stamp).copied()
    }

    pub fn is_byzantine(&self, bank: BankId) -> bool {
        self.byzantine == Some(bank)
    }

    /// The origin of a transfer the simulator submitted, if any.
    fn origin(&self, id: &TransferId) -> Option<BankId> {
        self.participants.get(id).map(|(origin, _)| *origin)
    }

    /// `bank`'s record of `id` as a participant of its origin's transfer (not a record of a
    /// transfer the Byzantine bank prepared under the same id).
    fn record<'a>(&self, bank: BankId, id: &TransferId, disks: &[&'a Disk]) -> Option<&'a Participation> {
        let origin = self.origin(id)?;
        disks[bank as usize].participant.participations.get(id).filter(|r| r.coordinator == origin)
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
                    if self.is_byzantine(bank) {
                        // Its decisions bind nobody: it may tell each participant something else.
                        self.decisions.insert(id.clone(), decision.commit);
                        continue;
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
        for bank in participants.iter().filter(|bank| !self.is_byzantine(**bank)) {
            let record = self.record(*bank, id, disks);
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
        if self.is_byzantine(bank) {
            return Ok(());
        }
        let own = &disks[bank as usize].participant;
        match write {
            ParticipantWrite::Prepare { stamp, votes } => {
                if *stamp < own.newest_stamp {
                    return Err(format!("fencing: b{bank} accepted a prepare stamped {stamp} after one stamped {}", own.newest_stamp));
                }
                // The fence (and every vote) moves only on a stamp certified for its coordinator.
                let Some(holder) = self.certified.get(stamp) else {
                    return Err(format!("fence: b{bank} accepted a prepare stamped {stamp}, which the ring never certified"));
                };
                for vote in votes {
                    if vote.participation.coordinator != *holder {
                        return Err(format!(
                            "fence: b{bank} voted on {} of b{} under stamp {stamp}, which the ring certified for b{holder}",
                            vote.id, vote.participation.coordinator
                        ));
                    }
                    if own.participations.contains_key(&vote.id) {
                        return Err(format!("b{bank} voted twice on {}", vote.id));
                    }
                    let coordinator = vote.participation.coordinator;
                    let same_coordinator = self.origin(&vote.id) == Some(coordinator) && !self.is_byzantine(coordinator);
                    if same_coordinator && self.decisions.get(&vote.id) == Some(&true) {
                        return Err(format!("b{bank} gave a first vote on {} after it was committed", vote.id));
                    }
                }
            }
            ParticipantWrite::Apply { resolved, tombstones, coordinator } => {
                for outcome in resolved {
                    let record = own.participations.get(&outcome.id).ok_or_else(|| format!("b{bank} resolved unknown {}", outcome.id))?;
                    // No debit (no posting at all) without this bank's own durable yes vote.
                    if outcome.commit && (record.voted_yes != Some(true) || record.status != ParticipationStatus::Prepared) {
                        return Err(format!("b{bank} committed {} without its own open yes vote ({record:?})", outcome.id));
                    }
                    if self.is_byzantine(record.coordinator) || self.origin(&outcome.id) != Some(record.coordinator) {
                        continue; // a transfer of the Byzantine bank: it decides what it likes
                    }
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
                for id in tombstones.iter().filter(|_| !self.is_byzantine(*coordinator)) {
                    if self.decisions.get(id) != Some(&false) {
                        return Err(format!("atomicity: b{bank} left a tombstone for {id} whose decision is {:?}", self.decisions.get(id)));
                    }
                }
            }
        }
        Ok(())
    }

    /// What a message claims must already be durable at its sender.
    pub fn send(&self, bank: BankId, message: &Message, disks: &[&Disk]) -> Result<(), String> {
        if self.is_byzantine(bank) {
            return Ok(());
        }
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
            Message::Known { known, coordinator } => {
                let honest = !self.is_byzantine(*coordinator);
                for outcome in known.iter().filter(|o| honest && self.origin(&o.id) == Some(*coordinator)) {
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
    /// An id the Byzantine bank took first at a participant (a prepare of its own under that id)
    /// gets a no from there too.
    fn abort_is_forced(&self, id: &TransferId, disks: &[&Disk]) -> bool {
        let Some((origin, participants)) = self.participants.get(id) else { return false };
        participants.iter().any(|bank| {
            disks[*bank as usize].participant.participations.get(id).is_some_and(|r| r.voted_yes == Some(false) || r.coordinator != *origin)
        })
    }

    /// A coordinator's `Decided` or a participant's `Final` at `bank`, of a transfer of
    /// `coordinator`, must match the logged decision (unless the Byzantine bank is either).
    pub fn decided(&self, bank: BankId, coordinator: BankId, id: &TransferId, commit: bool, disks: &[&Disk]) -> Result<(), String> {
        if self.is_byzantine(bank) || self.is_byzantine(coordinator) || self.origin(id) != Some(coordinator) {
            return Ok(());
        }
        match self.decisions.get(id) {
            Some(decision) if *decision == commit => Ok(()),
            None if !commit && self.abort_is_forced(id, disks) => Ok(()),
            other => Err(format!("{id} reported final with commit={commit}, the decision is {other:?}")),
        }
    }

    /// Money, after every write that moves it (at an honest `bank`): its books (customer and
    /// settlement accounts) still sum to what they started with, and its holds match its open votes.
    pub fn check_money(&self, bank: BankId, disks: &[&Disk]) -> Result<(), String> {
        if self.is_byzantine(bank) {
            return Ok(());
        }
        let disk = disks[bank as usize];
        let total = disk.ledger.total_cents();
        if total != self.totals[bank as usize] {
            return Err(format!("money: b{bank}'s books hold {total} centavos, they started with {}", self.totals[bank as usize]));
        }
        disk.ledger.check(bank, &disk.participant)
    }

    /// Liveness: every transfer decided, every participant at the decision, everything
    /// delivered, no hold left.
    pub fn all_settled(&self, disks: &[&Disk]) -> Result<(), String> {
        for (id, (origin, participants)) in self.participants.iter().filter(|(_, (origin, _))| !self.is_byzantine(*origin)) {
            let record = &disks[*origin as usize].coordinator.transfers[id];
            let Some(commit) = record.decision else { return Err(format!("{id} is not decided at b{origin}")) };
            if record.undelivered.iter().any(|bank| !self.is_byzantine(*bank)) {
                return Err(format!("{id}'s outcome is not delivered to {:?}", record.undelivered));
            }
            let expected = if commit { ParticipationStatus::Committed } else { ParticipationStatus::Aborted };
            for bank in participants.iter().filter(|bank| !self.is_byzantine(**bank)) {
                let any = disks[*bank as usize].participant.participations.get(id);
                if any.is_some_and(|r| r.coordinator != *origin) {
                    continue; // the Byzantine bank took the id there first: that bank voted no
                }
                let status = any.map(|r| r.status);
                if status != Some(expected) {
                    return Err(format!("b{bank} has {id} as {status:?}; the decision is commit={commit}"));
                }
            }
        }
        // A Byzantine coordinator may never decide a transfer an honest bank voted yes on (its
        // own, or one it forged under a stamp it held, with a consent granted to it): those holds
        // stay, within the consent (README.md, "Known limits"). Every other hold is gone.
        for (bank, disk) in disks.iter().enumerate().filter(|(bank, _)| !self.is_byzantine(*bank as BankId)) {
            let mut blocked: BTreeMap<&str, i64> = BTreeMap::new();
            let open = disk.participant.participations.values().filter(|r| r.status == ParticipationStatus::Prepared);
            for record in open.filter(|r| self.is_byzantine(r.coordinator)) {
                for hold in &record.holds {
                    *blocked.entry(hold.account.as_str()).or_insert(0) += hold.amount_cents;
                }
            }
            let left = disk.ledger.accounts.iter().find(|(name, b)| b.held_cents != blocked.get(name.as_str()).copied().unwrap_or(0));
            if let Some((name, _)) = left {
                return Err(format!("b{bank} still holds money on {name}"));
            }
        }
        Ok(())
    }
}
