//! The simulator's abstract ledger of one bank: customer and settlement balances, holds, and
//! the effect of the participant's durable writes on them, with money checks.

use std::collections::BTreeMap;

use crate::{
    Account, Accounts, BankId, ConsentView, ParticipantState, ParticipantWrite, ParticipationStatus, Position, TransferId, RESERVES_ACCOUNT,
};

/// Where a transfer's holds are at one bank: resolved exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HoldState {
    Held,
    Posted,
    Released,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Balance {
    pub balance_cents: i64,
    pub held_cents: i64,
}

/// One bank's balances; part of its disk.
#[derive(Clone, Debug, Default)]
pub(crate) struct SimLedger {
    pub accounts: BTreeMap<String, Balance>,
    pub holds: BTreeMap<TransferId, HoldState>,
    /// Consents this bank's customers granted to other banks, by id.
    pub consents: BTreeMap<String, SimConsent>,
    /// The settlement postings of yes votes not resolved yet: (peer, amount) by transfer.
    pub pending: BTreeMap<TransferId, Vec<(BankId, i64)>>,
}

/// A consent at the account's bank, with what yes votes use of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SimConsent {
    pub grantee: BankId,
    pub account: String,
    pub per_transfer_max_cents: i64,
    pub total_max_cents: i64,
    pub used_cents: i64,
    pub revoked: bool,
    pub expired: bool,
}

/// The id of the consent bank `bank`'s customer `index` granted to `grantee`.
pub(crate) fn consent_name(bank: BankId, grantee: BankId, index: u64) -> String {
    format!("c{bank}.{grantee}.{index}")
}

/// Consent limits in the simulation: small enough that the total is often used up.
const CONSENT_PER_TRANSFER_MAX_CENTS: i64 = 3_000;
const CONSENT_TOTAL_MAX_CENTS: i64 = 6_000;

pub(crate) fn settlement_name(bank: BankId) -> String {
    format!("settlement:{bank}")
}

pub(crate) fn customer_name(index: u64) -> String {
    format!("acct{index}")
}

impl Accounts for SimLedger {
    fn available_cents(&self, account: &str) -> Option<i64> {
        if account.starts_with("settlement:") {
            return None;
        }
        self.accounts.get(account).map(|b| b.balance_cents - b.held_cents)
    }

    fn consent(&self, id: &str) -> Option<ConsentView> {
        self.consents.get(id).map(|c| ConsentView {
            grantee: c.grantee,
            account: c.account.clone(),
            per_transfer_max_cents: c.per_transfer_max_cents,
            total_max_cents: c.total_max_cents,
            used_cents: c.used_cents,
            revoked: c.revoked,
            expired: c.expired,
            usable: true,
        })
    }

    fn position(&self, peer: BankId) -> Option<Position> {
        Some(self.position_with(peer))
    }
}

impl SimLedger {
    /// Every customer of `bank` grants every other bank a consent on their account; the last
    /// customer's consents are revoked and the one before's have expired.
    pub fn new(bank: BankId, banks: usize, customers: u64, opening_cents: i64) -> SimLedger {
        let accounts =
            (0..customers).map(|index| (customer_name(index), Balance { balance_cents: opening_cents, held_cents: 0 })).collect();
        let mut consents = BTreeMap::new();
        for grantee in (0..banks as BankId).filter(|g| *g != bank) {
            for index in 0..customers {
                let consent = SimConsent {
                    grantee,
                    account: customer_name(index),
                    per_transfer_max_cents: CONSENT_PER_TRANSFER_MAX_CENTS,
                    total_max_cents: CONSENT_TOTAL_MAX_CENTS,
                    used_cents: 0,
                    revoked: index + 1 == customers,
                    expired: index + 2 == customers,
                };
                consents.insert(consent_name(bank, grantee, index), consent);
            }
        }
        SimLedger { accounts, holds: BTreeMap::new(), consents, pending: BTreeMap::new() }
    }

    /// This bank's position with `peer`: its settlement account's balance and the pending
    /// settlement postings, by direction (what `Accounts::position` reports to a vote).
    pub fn position_with(&self, peer: BankId) -> Position {
        let postings = self.pending.values().flatten().filter(|(bank, _)| *bank == peer).map(|(_, amount)| *amount);
        let (down, up) = postings.fold((0, 0), |(down, up), amount| if amount < 0 { (down + amount, up) } else { (down, up + amount) });
        let balance_cents = self.accounts.get(&settlement_name(peer)).map_or(0, |b| b.balance_cents);
        Position { balance_cents, pending_down_cents: down, pending_up_cents: up }
    }

    pub fn total_cents(&self) -> i64 {
        self.accounts.values().map(|b| b.balance_cents).sum()
    }

    /// Carries out the ledger side of a participant's write, reading the participations as they
    /// were before it. Returns a violated money rule, if any.
    pub fn apply(&mut self, bank: BankId, before: &ParticipantState, write: &ParticipantWrite) -> Result<(), String> {
        match write {
            ParticipantWrite::Prepare { votes, .. } => {
                for vote in votes.iter().filter(|vote| vote.participation.voted_yes == Some(true)) {
                    if self.holds.insert(vote.id.clone(), HoldState::Held).is_some() {
                        return Err(format!("b{bank}: holds of {} placed twice", vote.id));
                    }
                    self.check_settlement_vote(bank, &vote.id, &vote.participation.postings)?;
                    let settlement_postings = vote.participation.postings.iter().filter_map(|posting| match posting.account {
                        Account::Settlement(peer) => Some((peer, posting.amount_cents)),
                        Account::Customer(_) => None,
                    });
                    self.pending.insert(vote.id.clone(), settlement_postings.collect());
                    for used in &vote.participation.consent_uses {
                        let consent =
                            self.consents.get_mut(&used.consent).ok_or_else(|| format!("b{bank}: use of unknown {}", used.consent))?;
                        consent.used_cents += used.amount_cents;
                        if consent.used_cents > consent.total_max_cents {
                            return Err(format!("b{bank}: {} used beyond the total of consent {}", vote.id, used.consent));
                        }
                    }
                    for hold in &vote.participation.holds {
                        let account =
                            self.accounts.get_mut(&hold.account).ok_or_else(|| format!("b{bank}: hold on unknown {}", hold.account))?;
                        account.held_cents += hold.amount_cents;
                        if account.balance_cents - account.held_cents < 0 {
                            return Err(format!("b{bank}: hold of {} on {} exceeds the available balance", vote.id, hold.account));
                        }
                    }
                }
            }
            ParticipantWrite::Apply { resolved, .. } => {
                for outcome in resolved {
                    let record =
                        before.participations.get(&outcome.id).ok_or_else(|| format!("b{bank}: resolved unknown {}", outcome.id))?;
                    self.pending.remove(&outcome.id);
                    let state = self.holds.get_mut(&outcome.id);
                    match state {
                        Some(state) if *state == HoldState::Held => {
                            *state = if outcome.commit { HoldState::Posted } else { HoldState::Released };
                        }
                        other => return Err(format!("b{bank}: holds of {} resolved again (state {other:?})", outcome.id)),
                    }
                    for hold in &record.holds {
                        let account = self.accounts.get_mut(&hold.account).expect("held accounts exist");
                        account.held_cents -= hold.amount_cents;
                    }
                    if !outcome.commit {
                        for used in &record.consent_uses {
                            self.consents.get_mut(&used.consent).expect("used consents exist").used_cents -= used.amount_cents;
                        }
                    }
                    if outcome.commit {
                        for posting in &record.postings {
                            let name = match &posting.account {
                                Account::Customer(name) => name.clone(),
                                Account::Settlement(peer) => settlement_name(*peer),
                            };
                            self.accounts.entry(name).or_default().balance_cents += posting.amount_cents;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A yes vote that books on the reserves account is a settlement that takes the position with
    /// its peer toward zero and not past it, even if every pending posting with that peer in the
    /// same direction (earlier votes of the same prepare included) commits.
    fn check_settlement_vote(&self, bank: BankId, id: &TransferId, postings: &[crate::Posting]) -> Result<(), String> {
        if !postings.iter().any(|p| p.account == Account::Customer(RESERVES_ACCOUNT.to_string())) {
            return Ok(());
        }
        for posting in postings {
            let Account::Settlement(peer) = posting.account else { continue };
            let position = self.position_with(peer);
            let amount = posting.amount_cents;
            let within = if amount < 0 {
                position.balance_cents + position.pending_down_cents + amount >= 0
            } else {
                position.balance_cents + position.pending_up_cents + amount <= 0
            };
            if !within {
                return Err(format!("b{bank}: settlement {id} of {amount} takes the position with b{peer} past zero: {position:?}"));
            }
        }
        Ok(())
    }

    /// No customer balance below zero or below its holds; holds equal the open votes' holds.
    pub fn check(&self, bank: BankId, participant: &ParticipantState) -> Result<(), String> {
        let mut open: BTreeMap<&str, i64> = BTreeMap::new();
        for (id, record) in &participant.participations {
            if record.status == crate::ParticipationStatus::Prepared {
                if self.holds.get(id) != Some(&HoldState::Held) {
                    return Err(format!("b{bank}: {id} is prepared but its holds are {:?}", self.holds.get(id)));
                }
                for hold in &record.holds {
                    *open.entry(hold.account.as_str()).or_insert(0) += hold.amount_cents;
                }
            }
        }
        self.check_consents(bank, participant)?;
        for (name, balance) in &self.accounts {
            if name.starts_with("settlement:") || name == RESERVES_ACCOUNT {
                continue;
            }
            if balance.balance_cents < 0 || balance.held_cents < 0 || balance.balance_cents < balance.held_cents {
                return Err(format!("b{bank}: account {name} has balance {} and holds {}", balance.balance_cents, balance.held_cents));
            }
            let expected = open.get(name.as_str()).copied().unwrap_or(0);
            if balance.held_cents != expected {
                return Err(format!("b{bank}: account {name} holds {} but its open votes hold {expected}", balance.held_cents));
            }
        }
        Ok(())
    }

    /// No debit here without a consent covering it unless it was initiated here: every hold of
    /// a live (prepared or committed) vote asked by another bank is covered by a use of a
    /// consent granted to that bank for that account, amount for amount, within the consent's
    /// limits; and each consent's use is what the live votes use of it.
    fn check_consents(&self, bank: BankId, participant: &ParticipantState) -> Result<(), String> {
        let mut live_uses: BTreeMap<&str, i64> = BTreeMap::new();
        for (id, record) in &participant.participations {
            let live = matches!(record.status, ParticipationStatus::Prepared | ParticipationStatus::Committed);
            if !live || record.voted_yes != Some(true) {
                continue;
            }
            for used in &record.consent_uses {
                *live_uses.entry(used.consent.as_str()).or_insert(0) += used.amount_cents;
            }
            if record.coordinator == bank {
                continue;
            }
            for hold in &record.holds {
                let covered = record.consent_uses.iter().any(|used| {
                    self.consents.get(&used.consent).is_some_and(|c| {
                        c.grantee == record.coordinator
                            && c.account == hold.account
                            && !c.revoked
                            && !c.expired
                            && used.amount_cents == hold.amount_cents
                            && used.amount_cents <= c.per_transfer_max_cents
                    })
                });
                if !covered {
                    return Err(format!("b{bank}: {id} debits {} for b{} without a consent covering it", hold.account, record.coordinator));
                }
            }
        }
        for (name, consent) in &self.consents {
            let expected = live_uses.get(name.as_str()).copied().unwrap_or(0);
            if consent.used_cents != expected || consent.used_cents > consent.total_max_cents {
                return Err(format!("b{bank}: consent {name} records {} used, its live votes use {expected}", consent.used_cents));
            }
        }
        Ok(())
    }
}
