//! What happens to the simulated consortium: the abstract token and its batches, new transfers,
//! and random faults (crashes, crashes part-way through a step, partitions, a worse network).

use super::ledger::{consent_name, customer_name};
use super::{Sim, Step, CUSTOMERS_PER_BANK, SETTLEMENT_ID_PREFIX};
use crate::{
    BankId, Certificate, Keys, PendingTransfer, Stamp, TransferId, TransferKind, TransferLeg, RESERVES_ACCOUNT, SETTLEMENT_INITIATOR,
};

/// The ring's certificate for a grant: every bank's signed confirmation (a quorum and more;
/// the simulator's abstract token stands for a ring that got them).
pub(super) fn certify(keys: &[Keys], stamp: Stamp, holder: BankId) -> Certificate {
    let confirmations = keys
        .iter()
        .enumerate()
        .map(|(bank, keys)| ringbank_ring::Confirmation { by: bank as BankId, signature: keys.sign_confirm(stamp, holder) })
        .collect();
    Certificate { stamp, holder, confirmations, membership: None }
}

impl Sim {
    /// The abstract ring: one holder at a time, stamps strictly increasing, occasionally a new
    /// epoch that some banks promise at once. After the heal every bank gets turns in order.
    pub(super) fn grant_token(&mut self) -> Result<(), String> {
        let count = self.banks.len();
        let index = if self.faults {
            self.rng.below(count as u64) as usize
        } else {
            self.next_round_robin = (self.next_round_robin + 1) % count;
            self.next_round_robin
        };
        if self.faults && self.rng.chance(15) {
            // A new epoch as the ring mints them: a higher round, the candidate's id below.
            let round = ringbank_ring::epoch_round(self.stamp.epoch) + 1;
            self.stamp = Stamp::new((round << 16) | index as u64, 1);
            for bank in 0..count {
                if self.rng.chance(60) {
                    self.banks[bank].ring_promised_epoch = self.stamp.epoch;
                }
            }
        } else {
            self.stamp = Stamp::new(self.stamp.epoch, self.stamp.seq + 1);
        }
        let lease_ms = self.rng.range(30, 200);
        self.holder = Some((index, self.now + lease_ms));
        self.oracle.granted(self.stamp, index as BankId);
        if let Some(adversary) = self.adversary.as_mut().filter(|a| a.bank == index) {
            adversary.certificates.push(certify(&self.keys, self.stamp, index as BankId));
        }
        self.banks[index].ring_promised_epoch = self.stamp.epoch;
        let local = self.local_now(index);
        let stamp = self.stamp;
        if self.banks[index].paused_until.is_some() {
            return Ok(()); // a frozen bank cannot claim the token: the lease is wasted
        }
        let Some(coordinator) = self.banks[index].coordinator.as_mut() else { return Ok(()) };
        let batch = coordinator.state().unordered(self.rng.range(1, 8) as usize);
        if batch.is_empty() {
            return Ok(());
        }
        let certificate = Some(certify(&self.keys, stamp, index as BankId));
        let coordinator = self.banks[index].coordinator.as_mut().expect("checked above");
        let steps = coordinator.start_batch(stamp, certificate, 0, batch, local + lease_ms, local).into_iter().map(Step::from).collect();
        self.carry_out(index, &format!("GRANT {stamp} for {lease_ms} ms, start batch"), steps)
    }

    pub(super) fn submit_random_transfer(&mut self) -> Result<(), String> {
        let count = self.banks.len() as u64;
        let origin = self.rng.below(count) as usize;
        if self.banks[origin].coordinator.is_none() || self.banks[origin].paused_until.is_some() {
            return Ok(());
        }
        self.next_transfer += 1;
        let id = TransferId(format!("t{}", self.next_transfer));
        let mut legs = Vec::new();
        let mut total = 0i64;
        for _ in 0..self.rng.range(1, 2) {
            let amount = self.rng.range(1, 4_000) as i64;
            total += amount;
            legs.push(self.random_leg(-amount));
        }
        let credits = self.rng.range(1, 2) as i64;
        for credit in 0..credits {
            let amount = if credit == credits - 1 { total - (total / credits) * (credits - 1) } else { total / credits };
            legs.push(self.random_leg(amount));
        }
        if legs.iter().all(|leg| leg.bank == origin as BankId) {
            let other = (origin as u64 + 1 + self.rng.below(count - 1)) % count;
            legs[0].bank = other as BankId;
        }
        legs.retain(|leg| leg.amount_cents != 0);
        for leg in legs.iter_mut().filter(|leg| leg.amount_cents < 0 && leg.bank != origin as BankId) {
            leg.consent = self.random_consent(leg.bank, origin as BankId, &leg.account);
        }
        if legs.len() < 2 {
            return Ok(());
        }
        let transfer = PendingTransfer {
            id,
            kind: TransferKind::Transfer,
            initiated_by: String::new(),
            description: String::new(),
            legs,
            refund_of: None,
        };
        self.stats.transfers += 1;
        let coordinator = self.banks[origin].coordinator.as_mut().expect("checked above");
        let steps = coordinator.submit(transfer).into_iter().map(Step::from).collect();
        self.carry_out(origin, "submit", steps)
    }

    /// A random bank records that another paid it reserves: mostly within what its own books say
    /// the other owes it (what an operator would record), sometimes more (the votes refuse it).
    pub(super) fn submit_random_settlement(&mut self) -> Result<(), String> {
        let count = self.banks.len() as u64;
        let creditor = self.rng.below(count) as usize;
        if self.banks[creditor].coordinator.is_none() || self.banks[creditor].paused_until.is_some() {
            return Ok(());
        }
        let debtor = ((creditor as u64 + 1 + self.rng.below(count - 1)) % count) as BankId;
        let owed = self.banks[creditor].disk.ledger.position_with(debtor).balance_cents.saturating_neg();
        let amount = if owed > 0 && self.rng.chance(80) { self.rng.range(1, owed as u64) as i64 } else { self.rng.range(1, 4_000) as i64 };
        self.next_transfer += 1;
        let reserves =
            |bank: BankId, amount_cents: i64| TransferLeg { bank, account: RESERVES_ACCOUNT.to_string(), amount_cents, consent: None };
        let transfer = PendingTransfer {
            id: TransferId(format!("{SETTLEMENT_ID_PREFIX}{}", self.next_transfer)),
            kind: TransferKind::Settlement,
            initiated_by: SETTLEMENT_INITIATOR.to_string(),
            description: String::new(),
            legs: vec![reserves(creditor as BankId, -amount), reserves(debtor, amount)],
            refund_of: None,
        };
        self.stats.transfers += 1;
        self.stats.settlements += 1;
        let coordinator = self.banks[creditor].coordinator.as_mut().expect("checked above");
        let steps = coordinator.submit(transfer).into_iter().map(Step::from).collect();
        self.carry_out(creditor, "submit settlement", steps)
    }

    fn random_leg(&mut self, amount_cents: i64) -> TransferLeg {
        let bank = self.rng.below(self.banks.len() as u64) as BankId;
        let account = if self.rng.chance(3) { "missing".to_string() } else { customer_name(self.rng.below(CUSTOMERS_PER_BANK)) };
        TransferLeg { bank, account, amount_cents, consent: None }
    }

    /// The consent a debit at `bank` asked by `origin` carries: mostly the right one (which may
    /// be revoked, expired or used up), sometimes none, another account's, or another bank's.
    fn random_consent(&mut self, bank: BankId, origin: BankId, account: &str) -> Option<String> {
        let index = (0..CUSTOMERS_PER_BANK).find(|i| customer_name(*i) == account).unwrap_or(0);
        let other_bank = (0..self.banks.len() as BankId).find(|b| *b != bank && *b != origin);
        match self.rng.below(20) {
            0 => None,
            1 => Some(consent_name(bank, origin, (index + 1) % CUSTOMERS_PER_BANK)),
            2 => other_bank.map(|other| consent_name(bank, other, index)),
            3 => Some("forged".to_string()),
            _ => Some(consent_name(bank, origin, index)),
        }
    }

    pub(super) fn random_fault(&mut self) -> Result<(), String> {
        let count = self.banks.len() as u64;
        let index = self.rng.below(count) as usize;
        self.next_fault = self.now + self.rng.range(10, self.fault_gap_max);
        match self.rng.below(100) {
            0..=14 if self.banks[index].coordinator.is_some() => {
                self.crash(index);
                self.banks[index].restart_at = Some(self.now + self.rng.range(20, 3_000));
            }
            15..=24 if self.banks[index].coordinator.is_some() => self.banks[index].crash_mid_step = true,
            25..=34 if self.partition_heal_at.is_none() => {
                self.side = (0..count).map(|_| self.rng.below(2) as u8).collect();
                self.partition_heal_at = Some(self.now + self.rng.range(100, 2_500));
                self.trace_line(format!("PARTITION {:?}", self.side));
            }
            45..=51 if self.banks[index].coordinator.is_some() && self.banks[index].paused_until.is_none() => {
                let resume = self.now + self.rng.range(300, 4_000);
                self.banks[index].paused_until = Some(resume);
                self.stats.pauses += 1;
                self.trace_line(format!("b{index} PAUSE until {resume}"));
            }
            35..=44 => {
                self.drop_percent = self.rng.below(30);
                self.duplicate_percent = self.rng.below(15);
                self.long_delay_percent = self.rng.below(8);
            }
            _ => {}
        }
        Ok(())
    }
}
