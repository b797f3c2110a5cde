//! The simulator's abstract ledger of one bank: customer and settlement balances, holds, and
//! the effect of the participant's durable writes on them, with money checks.

use std::collections::BTreeMap;

use crate::{Account, Accounts, BankId, ParticipantState, ParticipantWrite, TransferId};

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
}

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
}

impl SimLedger {
    pub fn new(customers: u64, opening_cents: i64) -> SimLedger {
        let accounts =
            (0..customers).map(|index| (customer_name(index), Balance { balance_cents: opening_cents, held_cents: 0 })).collect();
        SimLedger { accounts, holds: BTreeMap::new() }
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
        for (name, balance) in &self.accounts {
            if name.starts_with("settlement:") {
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
}
