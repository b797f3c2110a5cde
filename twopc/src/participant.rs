//! The participant as a pure state machine: fencing and validation of a prepare, durable votes
//! with holds, tombstones, outcomes applied exactly once, and in-doubt resolution (ask the
//! coordinator, then the other participants; never abort on its own).

use std::collections::BTreeMap;

use crate::deliberate_bug::{self, DeliberateBug};
use crate::validate::{validate_prepare, PrepareLimits};
use crate::{
    Account, BankId, CrashPoint, Keys, Knowledge, Message, Millis, OutcomeItem, Prepare, PrepareItem, Refusal, Stamp, TransferId,
    TransferKind, Vote, RESERVES_ACCOUNT,
};

/// What the participant asks of its ledger while it votes. The driver answers from inside the
/// transaction that will store the vote, so nothing changes in between.
pub trait Accounts {
    /// Balance minus holds of a customer account at this bank, before this prepare's holds; `None`
    /// if there is no such account.
    fn available_cents(&self, account: &str) -> Option<i64>;

    /// The ledger's other checks of one leg (a debit's account is held by `initiated_by`, a
    /// payment credits a company account). An error is a "no" vote with that reason.
    fn check_leg(&self, item: &PrepareItem, account: &str, amount_cents: i64) -> Result<(), String> {
        let _ = (item, account, amount_cents);
        Ok(())
    }

    /// A consent granted at this bank, by its id; `None` if there is no such consent.
    fn consent(&self, id: &str) -> Option<ConsentView> {
        let _ = id;
        None
    }

    /// The transfer limits of a customer account at this bank and what it already debited in
    /// their periods (before this prepare); `None` if no limit applies to its debits now.
    fn limits(&self, account: &str) -> Option<AccountLimits> {
        let _ = account;
        None
    }

    /// The limits the customer `document` set over every account they hold at this bank, and
    /// what the debits they initiated here used (before this prepare); `None` if none applies.
    fn customer_limits(&self, document: &str) -> Option<AccountLimits> {
        let _ = document;
        None
    }

    /// This bank's position with `peer` (its settlement account for that bank) before this
    /// prepare, for a settlement's vote; `None` (read as zero) if there is no such account.
    fn position(&self, peer: BankId) -> Option<Position> {
        let _ = peer;
        None
    }
}

/// A bank's position with a peer bank as the ledger sees it while it votes. Every balance is a
/// liability: positive, this bank owes the peer; negative, the peer owes this bank. The pending
/// sums are the settlement postings of yes votes not resolved yet, by direction, so a settlement
/// is checked against the position whichever of them commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub balance_cents: i64,
    /// The sum of the pending postings that lower the balance (zero or negative).
    pub pending_down_cents: i64,
    /// The sum of the pending postings that raise it (zero or positive).
    pub pending_up_cents: i64,
}

impl Position {
    /// Adds a pending posting of `amount_cents` (a vote given earlier in the same prepare).
    fn add_pending(&mut self, amount_cents: i64) {
        if amount_cents < 0 {
            self.pending_down_cents = self.pending_down_cents.saturating_add(amount_cents);
        } else {
            self.pending_up_cents = self.pending_up_cents.saturating_add(amount_cents);
        }
    }
}

/// A customer account's limits as the ledger sees them while it votes: the limits in force,
/// the periods of the moment (computed by the ledger from its clock and the bank's time zone,
/// so the core reads no clock), and what earlier debits used of them. Every debit of the
/// account is checked, whichever bank asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountLimits {
    pub limits: ringbank_domain::Limits,
    pub window: ringbank_domain::LimitWindow,
    pub used: ringbank_domain::LimitUsage,
}

/// A consent as the ledger sees it while it votes: a customer of this bank allowed `grantee` to
/// debit `account` here, within limits, until it expires or is revoked (Open Finance Brasil's
/// payment-initiation consent). The ledger computes `expired` from its own clock and `usable`
/// from the account (the granting customer still holds it, every co-holder accepted it), so the
/// core reads no clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentView {
    pub grantee: BankId,
    pub account: String,
    pub per_transfer_max_cents: i64,
    pub total_max_cents: i64,
    /// What yes votes of prepared or committed transfers already use of `total_max_cents`.
    pub used_cents: i64,
    pub revoked: bool,
    pub expired: bool,
    pub usable: bool,
}

/// What one yes vote uses of a consent: added to its `used_cents` with the vote, given back if
/// the transfer aborts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConsentUse {
    pub consent: String,
    pub amount_cents: i64,
}

/// Settings of one bank's participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantConfig {
    pub me: BankId,
    /// Every configured member bank.
    pub members: Vec<BankId>,
    pub limits: PrepareLimits,
    /// A yes vote is in doubt once it is this old without an outcome (`IN_DOUBT_AFTER`).
    pub in_doubt_after: Millis,
    /// How often transfers in doubt are asked about (`RESOLVE_INTERVAL`).
    pub resolve_interval: Millis,
    /// Signatures a stamp's certificate needs; 0 means a majority of `members` (the ring's
    /// `Config::quorum`, which must be the same number).
    pub quorum: usize,
}

impl ParticipantConfig {
    pub fn with_defaults(me: BankId, members: Vec<BankId>) -> ParticipantConfig {
        ParticipantConfig { me, members, limits: PrepareLimits::default(), in_doubt_after: 2_000, resolve_interval: 1_000, quorum: 0 }
    }

    /// The number of distinct member signatures a certificate needs.
    pub fn quorum(&self) -> usize {
        self.quorum.max(self.members.len() / 2 + 1)
    }
}

/// Money held on a debited customer account until the outcome (a positive amount).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Hold {
    pub account: String,
    pub amount_cents: i64,
}

/// One leg to post on commit (customer legs and settlement legs; they sum to zero).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Posting {
    pub account: Account,
    pub amount_cents: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ParticipationStatus {
    /// Voted yes, outcome unknown: holds placed, nothing posted.
    Prepared,
    Committed,
    Aborted,
}

/// A participant's durable record of one transfer (table `participations` and its legs).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Participation {
    pub coordinator: BankId,
    pub participants: Vec<BankId>,
    /// The vote given: `None` for a tombstone (an abort arrived before any prepare).
    pub voted_yes: Option<bool>,
    pub reason: Option<String>,
    pub status: ParticipationStatus,
    pub holds: Vec<Hold>,
    pub postings: Vec<Posting>,
    /// What a yes vote uses of consents (debits asked by another bank); released on abort.
    pub consent_uses: Vec<ConsentUse>,
}

/// Everything the participant must find again after a restart.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ParticipantState {
    /// The newest stamp of a prepare this bank accepted (table `fencing`).
    pub newest_stamp: Stamp,
    pub participations: BTreeMap<TransferId, Participation>,
}

/// A new vote, stored with its holds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VoteRecord {
    pub id: TransferId,
    pub participation: Participation,
}

/// A durable write of the participant's side (one ledger transaction each).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ParticipantWrite {
    /// `Job::Prepare`: raise the fencing stamp, store each new vote and place its holds.
    Prepare { stamp: Stamp, votes: Vec<VoteRecord> },
    /// `Job::ApplyOutcomes`: resolve prepared transfers (commit posts, abort releases the holds)
    /// and leave tombstones for aborts of transfers never prepared here.
    Apply { coordinator: BankId, resolved: Vec<OutcomeItem>, tombstones: Vec<TransferId> },
}

/// What the driver must do, in order. A `Persist` is durable before any later action runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParticipantAction {
    Persist(ParticipantWrite),
    Send {
        to: BankId,
        message: Message,
    },
    CrashPoint(CrashPoint),
    /// The transfer is final here now: wake whoever waits for it (`state.finalized`).
    Final {
        id: TransferId,
        commit: bool,
    },
}

impl ParticipantState {
    /// Applies a write exactly as the ledger does (the core keeps its own copy the same way).
    pub fn apply(&mut self, write: &ParticipantWrite) {
        match write {
            ParticipantWrite::Prepare { stamp, votes } => {
                assert!(*stamp >= self.newest_stamp || deliberate_bug::active(DeliberateBug::NoFencing), "fencing went back");
                self.newest_stamp = self.newest_stamp.max(*stamp);
                for vote in votes {
                    let previous = self.participations.insert(vote.id.clone(), vote.participation.clone());
                    assert!(previous.is_none(), "a vote on {} overwrote an earlier record", vote.id);
                }
            }
            ParticipantWrite::Apply { coordinator, resolved, tombstones } => {
                for outcome in resolved {
                    let record = self.participations.get_mut(&outcome.id).expect("only a recorded transfer is resolved");
                    assert_eq!(record.status, ParticipationStatus::Prepared, "transfer {} resolved twice", outcome.id);
                    record.status = if outcome.commit { ParticipationStatus::Committed } else { ParticipationStatus::Aborted };
                }
                for id in tombstones {
                    let tombstone = Participation {
                        coordinator: *coordinator,
                        participants: Vec::new(),
                        voted_yes: None,
                        reason: Some("aborted before it was prepared here".to_string()),
                        status: ParticipationStatus::Aborted,
                        holds: Vec::new(),
                        postings: Vec::new(),
                        consent_uses: Vec::new(),
                    };
                    let previous = self.participations.insert(id.clone(), tombstone);
                    assert!(previous.is_none(), "a tombstone for {id} overwrote a record");
                }
            }
        }
    }
}

/// One bank's participant.
#[derive(Clone, Debug)]
pub struct Participant {
    config: ParticipantConfig,
    /// Checks the certificates of prepares.
    keys: Keys,
    state: ParticipantState,
    /// When each open yes vote was given (memory only: after a restart they are in doubt at once).
    voted_at: BTreeMap<TransferId, Millis>,
    next_resolve_at: Millis,
}

impl Participant {
    /// Starts from the durable state. A restarted participant never decides anything by itself:
    /// its open yes votes are in doubt at once and it asks about them.
    pub fn start(config: ParticipantConfig, keys: Keys, recovered: ParticipantState, now: Millis) -> Participant {
        let in_doubt_since = now.saturating_sub(config.in_doubt_after);
        let voted_at = recovered
            .participations
            .iter()
            .filter(|(_, record)| record.status == ParticipationStatus::Prepared)
            .map(|(id, _)| (id.clone(), in_doubt_since))
            .collect();
        Participant { config, keys, state: recovered, voted_at, next_resolve_at: now }
    }

    pub fn state(&self) -> &ParticipantState {
        &self.state
    }

    /// What this bank knows as a participant of `id`.
    pub fn knowledge(&self, id: &TransferId) -> Knowledge {
        match self.state.participations.get(id).map(|record| record.status) {
            Some(ParticipationStatus::Committed) => Knowledge::Known(true),
            Some(ParticipationStatus::Aborted) => Knowledge::Known(false),
            Some(ParticipationStatus::Prepared) => Knowledge::Undecided,
            None => Knowledge::NoRecord,
        }
    }

    /// A PREPARE from `from`. `ring_promised_epoch` is this bank's ring promise
    /// (`ring.status().promised_epoch`). Refusals change nothing; votes are durable before the answer.
    pub fn on_prepare(
        &mut self,
        from: BankId,
        prepare: Prepare,
        ring_promised_epoch: u64,
        accounts: &impl Accounts,
        now: Millis,
    ) -> Vec<ParticipantAction> {
        let stamp = prepare.stamp;
        let refuse = |refusal: Refusal| vec![ParticipantAction::Send { to: from, message: Message::Refused { stamp, refusal } }];
        if from != prepare.coordinator {
            return refuse(Refusal::NotTheCoordinator { from, coordinator: prepare.coordinator });
        }
        if let Err(refusal) = check_certificate(&prepare, &self.config, &self.keys) {
            if !deliberate_bug::active(DeliberateBug::NoCertificateCheck) {
                return refuse(refusal);
            }
        }
        if stamp.epoch < ring_promised_epoch {
            return refuse(Refusal::BelowRingPromise { got: stamp, promised_epoch: ring_promised_epoch });
        }
        if let Err(refusal) = validate_prepare(&prepare, &self.config.limits, self.config.me, &self.config.members) {
            return refuse(refusal);
        }
        let mut actions = vec![ParticipantAction::CrashPoint(CrashPoint::OnPrepare)];
        if stamp < self.state.newest_stamp && !deliberate_bug::active(DeliberateBug::NoFencing) {
            actions.extend(refuse(Refusal::StaleStamp { got: stamp, newest: self.state.newest_stamp }));
            return actions;
        }
        let mut votes = Vec::with_capacity(prepare.transfers.len());
        let mut new_votes: Vec<VoteRecord> = Vec::new();
        let mut tally = Tally::default();
        for item in &prepare.transfers {
            let existing = self
                .state
                .participations
                .get(&item.id)
                .or_else(|| new_votes.iter().find(|vote| vote.id == item.id).map(|vote| &vote.participation));
            if let Some(record) = existing {
                // A repeated prepare gets the vote already given; a tombstone makes it a no. An id
                // another bank took first here is a no: that record's yes (and holds) are for its
                // transfer, and this coordinator's outcome would never be applied to it.
                let (yes, reason) = if record.coordinator != prepare.coordinator {
                    (false, Some(format!("transfer id {} is already used here by bank {}", item.id, record.coordinator)))
                } else {
                    (record.status != ParticipationStatus::Aborted, record.reason.clone())
                };
                votes.push(Vote { id: item.id.clone(), yes, reason });
                continue;
            }
            let participation = vote_on(self.config.me, prepare.coordinator, item, accounts, &mut tally);
            let yes = participation.voted_yes == Some(true);
            votes.push(Vote { id: item.id.clone(), yes, reason: participation.reason.clone() });
            new_votes.push(VoteRecord { id: item.id.clone(), participation });
        }
        let write = ParticipantWrite::Prepare { stamp, votes: new_votes };
        self.state.apply(&write);
        actions.push(ParticipantAction::Persist(write));
        for vote in votes.iter().filter(|vote| vote.yes) {
            // Paired with the coordinator, which commits only on yes votes: each is durable.
            let record = &self.state.participations[&vote.id];
            assert!(record.voted_yes == Some(true) && record.status != ParticipationStatus::Aborted, "yes vote on {} not durable", vote.id);
            self.voted_at.entry(vote.id.clone()).or_insert(now);
        }
        actions.push(ParticipantAction::Send { to: from, message: Message::Votes { stamp, votes } });
        actions
    }

    /// Outcomes delivered by their coordinator: applied (or found applied), then acknowledged.
    pub fn on_outcome(&mut self, from: BankId, coordinator: BankId, outcomes: Vec<OutcomeItem>) -> Vec<ParticipantAction> {
        let from_coordinator = from == coordinator || deliberate_bug::active(DeliberateBug::OutcomesFromAnyone);
        if !from_coordinator || outcomes.len() > self.config.limits.transfers_max {
            return Vec::new(); // only the coordinator delivers its outcomes, a batch at a time
        }
        let mut actions = vec![ParticipantAction::CrashPoint(CrashPoint::OnCommit)];
        // Only a transfer's own coordinator settles it. A record of another coordinator under the
        // same id means this bank voted no on (or never saw) this coordinator's transfer: nothing
        // to apply, but final here all the same, so it is acknowledged.
        let ids: Vec<TransferId> = outcomes.iter().map(|outcome| outcome.id.clone()).collect();
        let own = |outcome: &OutcomeItem| self.state.participations.get(&outcome.id).is_none_or(|r| r.coordinator == coordinator);
        let outcomes: Vec<OutcomeItem> = outcomes.into_iter().filter(own).collect();
        self.apply_outcomes(coordinator, outcomes, &mut actions);
        actions.push(ParticipantAction::Send { to: from, message: Message::Final { ids } });
        actions
    }

    /// An answer from bank `from` to one of our queries: outcomes of transfers in doubt here are
    /// applied, but only as the protocol allows: the answer of the transfer's coordinator
    /// (recorded at prepare), or an outcome `proven` to be the coordinator's decision (its
    /// signature over the decision, checked by the driver's hook). Another participant's word
    /// alone could split the transfer, so it is ignored.
    pub fn on_known(
        &mut self,
        from: BankId,
        coordinator: BankId,
        known: Vec<OutcomeItem>,
        proven: impl Fn(&OutcomeItem) -> bool,
    ) -> Vec<ParticipantAction> {
        let in_doubt: Vec<OutcomeItem> = known
            .into_iter()
            .filter(|outcome| {
                self.state
                    .participations
                    .get(&outcome.id)
                    .is_some_and(|r| r.status == ParticipationStatus::Prepared && r.coordinator == coordinator)
                    && (from == coordinator || proven(outcome))
            })
            .collect();
        let mut actions = Vec::new();
        self.apply_outcomes(coordinator, in_doubt, &mut actions);
        actions
    }

    /// In-doubt resolution: every yes vote older than `in_doubt_after` is asked about, of its
    /// coordinator and of every other participant, each `resolve_interval`.
    pub fn tick(&mut self, now: Millis) -> Vec<ParticipantAction> {
        let mut actions = Vec::new();
        if now < self.next_resolve_at {
            return actions;
        }
        self.next_resolve_at = now + self.config.resolve_interval;
        let doubts: Vec<TransferId> =
            self.voted_at.iter().filter(|(_, at)| **at + self.config.in_doubt_after <= now).map(|(id, _)| id.clone()).collect();
        if deliberate_bug::active(DeliberateBug::ParticipantAbortsOnItsOwn) {
            for id in doubts {
                let coordinator = self.state.participations[&id].coordinator;
                self.apply_outcomes(coordinator, vec![OutcomeItem { id, commit: false }], &mut actions);
            }
            return actions;
        }
        let mut asks: BTreeMap<(BankId, BankId), Vec<TransferId>> = BTreeMap::new();
        for id in doubts {
            let record = &self.state.participations[&id];
            let askable = std::iter::once(record.coordinator).chain(record.participants.iter().copied());
            for bank in askable.filter(|bank| *bank != self.config.me) {
                asks.entry((bank, record.coordinator)).or_default().push(id.clone());
            }
        }
        for ((bank, coordinator), mut ids) in asks {
            ids.sort();
            ids.dedup();
            for chunk in ids.chunks(self.config.limits.transfers_max) {
                actions.push(ParticipantAction::Send { to: bank, message: Message::Query { coordinator, ids: chunk.to_vec() } });
            }
        }
        actions
    }

    /// When `tick` should be called next.
    pub fn next_deadline(&self) -> Option<Millis> {
        let oldest = self.voted_at.values().min()?;
        Some(self.next_resolve_at.max(oldest + self.config.in_doubt_after))
    }

    /// Applies outcomes exactly once. What an honest coordinator never sends is ignored, not
    /// applied (a dishonest member may send it, and must not stop this bank): a commit of a
    /// transfer never prepared or voted no here, and the opposite of an outcome already applied.
    /// The simulator checks that honest coordinators never send these.
    fn apply_outcomes(&mut self, coordinator: BankId, outcomes: Vec<OutcomeItem>, actions: &mut Vec<ParticipantAction>) {
        let (mut resolved, mut tombstones) = (Vec::new(), Vec::new());
        for outcome in outcomes {
            let status = self.state.participations.get(&outcome.id).map(|record| (record.status, record.voted_yes));
            match status {
                None if outcome.commit => {} // a commit of a transfer never prepared here
                None => {
                    if !tombstones.contains(&outcome.id) {
                        tombstones.push(outcome.id);
                    }
                }
                Some((ParticipationStatus::Prepared, voted_yes)) => {
                    assert_eq!(voted_yes, Some(true), "a prepared record of {} without a yes vote", outcome.id);
                    // The first outcome of a batch wins; a contradicting twin in it is ignored.
                    if !resolved.iter().any(|r: &OutcomeItem| r.id == outcome.id) && !tombstones.contains(&outcome.id) {
                        resolved.push(outcome);
                    }
                }
                Some(_) => {} // final here already: a repeat, or a contradiction that is ignored
            }
        }
        if resolved.is_empty() && tombstones.is_empty() {
            return;
        }
        let write = ParticipantWrite::Apply { coordinator, resolved: resolved.clone(), tombstones: tombstones.clone() };
        self.state.apply(&write);
        actions.push(ParticipantAction::Persist(write));
        for outcome in resolved {
            self.voted_at.remove(&outcome.id);
            actions.push(ParticipantAction::Final { id: outcome.id, commit: outcome.commit });
        }
        for id in tombstones {
            actions.push(ParticipantAction::Final { id, commit: false });
        }
    }
}

/// The certificate rule: a prepare's stamp counts only if a quorum of distinct configured members
/// signed that its coordinator holds exactly that stamp. Checked before the fence is compared, so
/// an uncertified or impossible stamp is refused without changing anything.
pub fn check_certificate(prepare: &Prepare, config: &ParticipantConfig, keys: &Keys) -> Result<(), Refusal> {
    let Some(certificate) = &prepare.certificate else {
        return Err(Refusal::Uncertified(format!("stamp {} comes without a certificate", prepare.stamp)));
    };
    if certificate.stamp != prepare.stamp || certificate.holder != prepare.coordinator {
        return Err(Refusal::Uncertified(format!(
            "the certificate is for {} held by {}, not {} held by {}",
            certificate.stamp, certificate.holder, prepare.stamp, prepare.coordinator
        )));
    }
    certificate
        .verify(&config.members, config.quorum(), keys)
        .map_err(|error| Refusal::Uncertified(format!("certificate refused: {error}")))
}

/// What the yes votes given so far in one prepare use (they are not in the ledger yet): holds
/// by account, consents by id, debits by initiator, and settlement postings by peer bank.
#[derive(Default)]
struct Tally {
    held: BTreeMap<String, i64>,
    consented: BTreeMap<String, i64>,
    initiated: BTreeMap<String, i64>,
    positions: BTreeMap<BankId, Position>,
}

/// Votes on one new transfer: yes places a hold on every debit, with the available balance
/// reduced by holds placed earlier in the same prepare; any failed check is a no with its reason.
/// A debit asked by this bank itself (its own customer, authenticated here) is checked by the
/// ledger (`check_leg`: the initiator holds the account); a debit asked by another bank must be
/// covered by a consent this bank's customer granted to that bank (`check_consent`). A
/// settlement, or anything touching the reserves account, is voted on by `check_settlement`.
fn vote_on(me: BankId, coordinator: BankId, item: &PrepareItem, accounts: &impl Accounts, tally: &mut Tally) -> Participation {
    let participation = vote_on_legs(me, coordinator, item, accounts, tally);
    if participation.voted_yes == Some(true) {
        for leg in &item.settlement {
            tally.positions.entry(leg.bank).or_default().add_pending(leg.amount_cents);
        }
    }
    participation
}

fn vote_on_legs(me: BankId, coordinator: BankId, item: &PrepareItem, accounts: &impl Accounts, tally: &mut Tally) -> Participation {
    let mut participation = Participation {
        coordinator,
        participants: item.participants.clone(),
        voted_yes: Some(false),
        reason: None,
        status: ParticipationStatus::Aborted,
        holds: Vec::new(),
        postings: Vec::new(),
        consent_uses: Vec::new(),
    };
    let settlement = item.kind == TransferKind::Settlement || item.legs.iter().any(|leg| leg.account == RESERVES_ACCOUNT);
    if settlement {
        if let Err(reason) = check_settlement(me, coordinator, item, accounts, &tally.positions) {
            participation.reason = Some(reason);
            return participation;
        }
        participation.postings = postings(item);
        participation.voted_yes = Some(true);
        participation.status = ParticipationStatus::Prepared;
        return participation;
    }
    let Tally { held: held_here, consented: consented_here, initiated: initiated_here, .. } = tally;
    let mut holds: Vec<Hold> = Vec::new();
    let mut uses: Vec<ConsentUse> = Vec::new();
    let asked_by_another_bank = coordinator != me && !deliberate_bug::active(DeliberateBug::NoConsentCheck);
    for leg in &item.legs {
        let debit = leg.amount_cents < 0;
        // A bank without a consent learns nothing about the account, not even that it exists.
        let authorised = if debit && asked_by_another_bank {
            check_consent(coordinator, leg, accounts, consented_here, &uses).map(|used| uses.push(used))
        } else if leg.consent.is_some() && !deliberate_bug::active(DeliberateBug::NoConsentCheck) {
            Err("a consent is only for a debit asked by another bank".to_string())
        } else {
            Ok(())
        };
        // A refund debits only accounts at its own origin, which checked what is left to refund.
        let authorised = authorised.and_then(|()| match &item.refund_of {
            Some(original) if debit && coordinator != me => {
                Err(format!("refund of {original}: a refund debits only accounts at the bank that asks for it"))
            }
            _ => Ok(()),
        });
        let checked = authorised.and_then(|()| match accounts.available_cents(&leg.account) {
            None => Err(crate::reason::Problem::AccountNotFound { account: leg.account.clone() }.describe()),
            Some(_) if debit && asked_by_another_bank => Ok(()),
            Some(_) => accounts.check_leg(item, &leg.account, leg.amount_cents),
        });
        let checked = checked.and_then(|()| {
            let available = accounts.available_cents(&leg.account).unwrap_or(0);
            let already = held_here.get(&leg.account).copied().unwrap_or(0)
                + holds.iter().filter(|h| h.account == leg.account).map(|h| h.amount_cents).sum::<i64>();
            let wanted = leg.amount_cents.checked_neg().unwrap_or(i64::MAX);
            if debit && available - already < wanted {
                return Err(crate::reason::Problem::InsufficientFunds {
                    account: leg.account.clone(),
                    available_cents: available - already,
                    requested_cents: wanted,
                }
                .describe());
            }
            // The limits count every debit of the account: earlier votes (in `used`) and this
            // prepare's holds so far.
            // Returning money received is not a transfer the limits apply to (as at one bank); a
            // refund's debit is this bank's own (checked above).
            let own_refund = item.refund_of.is_some() && coordinator == me;
            match accounts.limits(&leg.account) {
                Some(view) if debit && !own_refund && !deliberate_bug::active(DeliberateBug::NoLimitCheck) => {
                    ringbank_domain::limits::check(&leg.account, &view.limits, &view.window, view.used.add(already), wanted)
                        .map_err(|refusal| refusal.to_string())
                }
                _ => Ok(()),
            }
        });
        if let Err(reason) = checked {
            participation.reason = Some(reason);
            return participation;
        }
        if debit {
            holds.push(Hold { account: leg.account.clone(), amount_cents: -leg.amount_cents });
        }
    }
    // The customer's own limits, over every account they hold here: what this transfer debits
    // here in all, with what their earlier votes (of this prepare too) used. Not for a refund
    // at its own origin, as above.
    let debited: i64 = holds.iter().map(|h| h.amount_cents).fold(0, i64::saturating_add);
    let own_refund = item.refund_of.is_some() && coordinator == me;
    if debited > 0 && !own_refund && !deliberate_bug::active(DeliberateBug::NoLimitCheck) {
        if let Some(view) = accounts.customer_limits(&item.initiated_by) {
            let already = initiated_here.get(&item.initiated_by).copied().unwrap_or(0);
            if let Err(refusal) =
                ringbank_domain::limits::check_customer(&item.initiated_by, &view.limits, &view.window, view.used.add(already), debited)
            {
                participation.reason = Some(refusal.to_string());
                return participation;
            }
        }
        *initiated_here.entry(item.initiated_by.clone()).or_insert(0) += debited;
    }
    for hold in &holds {
        *held_here.entry(hold.account.clone()).or_insert(0) += hold.amount_cents;
    }
    for used in &uses {
        *consented_here.entry(used.consent.clone()).or_insert(0) += used.amount_cents;
    }
    participation.postings = postings(item);
    participation.holds = holds;
    participation.consent_uses = uses;
    participation.voted_yes = Some(true);
    participation.status = ParticipationStatus::Prepared;
    participation
}

/// What a yes vote posts on commit: the item's legs here and the settlement legs that balance them.
fn postings(item: &PrepareItem) -> Vec<Posting> {
    let customer = item.legs.iter().map(|leg| Posting { account: Account::Customer(leg.account.clone()), amount_cents: leg.amount_cents });
    let settlement = item.settlement.iter().map(|leg| Posting { account: Account::Settlement(leg.bank), amount_cents: leg.amount_cents });
    customer.chain(settlement).collect()
}

/// A settlement between its coordinator (the creditor) and one other bank (the debtor): each
/// books exactly one leg, on its reserves account, balanced by one settlement leg with the other
/// bank. The creditor's reserves leg is a debit (reserves received: its balance, negative for
/// reserves held, goes down) and its claim goes down; the debtor's is a credit and its debt goes
/// down. Neither position may go past zero, even if every settlement posting in doubt with that
/// bank in the same direction commits: a settlement only records what was owed being paid. The
/// reserves account takes part in nothing else.
fn check_settlement(
    me: BankId,
    coordinator: BankId,
    item: &PrepareItem,
    accounts: &impl Accounts,
    voted_here: &BTreeMap<BankId, Position>,
) -> Result<(), String> {
    if item.kind != TransferKind::Settlement {
        return Err(format!("the reserves account ({RESERVES_ACCOUNT}) takes part only in an interbank settlement"));
    }
    let shape = "a settlement books one leg on the reserves account at each of its two banks";
    let ([leg], [settle], [_, _]) = (item.legs.as_slice(), item.settlement.as_slice(), item.participants.as_slice()) else {
        return Err(shape.to_string());
    };
    if leg.account != RESERVES_ACCOUNT || leg.consent.is_some() || item.refund_of.is_some() {
        return Err(shape.to_string());
    }
    let creditor = me == coordinator;
    if creditor != (leg.amount_cents < 0) {
        return Err("a settlement is recorded by the bank it pays (its coordinator), whose reserves leg is the debit".to_string());
    }
    let peer = settle.bank;
    if !creditor && peer != coordinator {
        return Err("a settlement's debtor settles with its coordinator only".to_string());
    }
    let mut position = accounts.position(peer).unwrap_or_default();
    let earlier = voted_here.get(&peer).copied().unwrap_or_default();
    position.pending_down_cents = position.pending_down_cents.saturating_add(earlier.pending_down_cents);
    position.pending_up_cents = position.pending_up_cents.saturating_add(earlier.pending_up_cents);
    let amount = settle.amount_cents;
    let brl = ringbank_domain::money::format_brl;
    if creditor {
        // The claim on the peer (a negative balance), less what pending postings may give back.
        let owed = position.balance_cents.saturating_add(position.pending_up_cents).saturating_neg().max(0);
        if amount > owed {
            return Err(format!(
                "bank {peer} owes this bank {} (transfers in doubt counted against it); a settlement of {} would exceed it",
                brl(owed),
                brl(amount)
            ));
        }
    } else {
        let owed = position.balance_cents.saturating_add(position.pending_down_cents).max(0);
        if -amount > owed {
            return Err(format!(
                "this bank owes bank {peer} {} (transfers in doubt counted against it); a settlement of {} would exceed it",
                brl(owed),
                brl(-amount)
            ));
        }
    }
    Ok(())
}

/// A debit that `coordinator` asks of this bank: it must name a consent granted to exactly that
/// bank for exactly that account, not revoked or expired, with the amount within the limit per
/// transfer and, with what earlier votes (of this prepare too) used, within the total.
fn check_consent(
    coordinator: BankId,
    leg: &crate::Leg,
    accounts: &impl Accounts,
    consented_here: &BTreeMap<String, i64>,
    uses: &[ConsentUse],
) -> Result<ConsentUse, String> {
    let account = &leg.account;
    let Some(id) = &leg.consent else {
        return Err(format!("no consent: the holder of account {account} did not allow bank {coordinator} to debit it"));
    };
    let refuse = |why: &str| Err(format!("consent {id} {why}"));
    let Some(consent) = accounts.consent(id) else { return refuse("does not exist at this bank") };
    let amount = leg.amount_cents.checked_neg().unwrap_or(i64::MAX);
    let used = consented_here.get(id).copied().unwrap_or(0)
        + uses.iter().filter(|u| &u.consent == id).map(|u| u.amount_cents).sum::<i64>()
        + consent.used_cents;
    if consent.grantee != coordinator {
        return refuse("was not granted to the bank asking");
    }
    if &consent.account != account {
        return refuse(&format!("does not cover account {account}"));
    }
    if consent.revoked {
        return refuse("was revoked");
    }
    if consent.expired {
        return refuse("has expired");
    }
    if !consent.usable {
        return refuse("no longer applies: its customer does not hold the account, or a co-holder has not accepted it");
    }
    if amount > consent.per_transfer_max_cents {
        return refuse(&format!("allows at most {} centavos per transfer; {amount} requested", consent.per_transfer_max_cents));
    }
    if used.checked_add(amount).is_none_or(|total| total > consent.total_max_cents) {
        let left = consent.total_max_cents.saturating_sub(used).max(0);
        return refuse(&format!("has {left} centavos left of its total of {}; {amount} requested", consent.total_max_cents));
    }
    Ok(ConsentUse { consent: id.clone(), amount_cents: amount })
}
