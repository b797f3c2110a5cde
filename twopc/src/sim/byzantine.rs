//! One Byzantine member bank. Its own cores run the honest protocol (so it coordinates and takes
//! part in transfers like any bank), but it also lies: it flips the votes, outcomes and answers it
//! sends (equivocation: each recipient may hear something else), and it injects forged, garbled
//! and replayed messages under its own name (the transport authenticates the sender, so it cannot
//! speak as another bank). It is omniscient: it knows every transfer id in the consortium and
//! every message it ever received. Only honest banks' books are checked (`check.rs`).

use ringbank_ring::Confirmation;

use super::ledger::{consent_name, customer_name, settlement_name};
use super::{Envelope, Sim, CUSTOMERS_PER_BANK};
use crate::{BankId, Certificate, Leg, Message, OutcomeItem, Prepare, PrepareItem, SettlementLeg, Stamp, TransferId, TransferKind, Vote};

/// The most messages the Byzantine bank remembers to replay.
const REPLAY_MAX: usize = 64;

/// What the Byzantine bank keeps for its attacks.
#[derive(Default)]
pub(super) struct Adversary {
    /// The Byzantine bank's index.
    pub bank: usize,
    /// Messages it received (honest ones, with genuine certificates), to replay.
    pub received: Vec<Message>,
    /// Every certificate it has seen (its own grants' too).
    pub certificates: Vec<Certificate>,
    pub next_attack: u64,
    pub attack_gap_max: u64,
    /// Percent of its outgoing votes, outcomes and answers it flips.
    pub lie_percent: u64,
    pub forged: u64,
    fresh: u64,
}

impl Adversary {
    pub fn new(bank: usize, attack_gap_max: u64, lie_percent: u64) -> Adversary {
        Adversary { bank, attack_gap_max, lie_percent, ..Adversary::default() }
    }

    /// Remembers a message delivered to the Byzantine bank.
    pub fn heard(&mut self, message: &Message) {
        if let Message::Prepare(Prepare { certificate: Some(certificate), .. }) = message {
            self.certificates.push(certificate.clone());
            if self.certificates.len() > REPLAY_MAX {
                self.certificates.remove(0);
            }
        }
        self.received.push(message.clone());
        if self.received.len() > REPLAY_MAX {
            self.received.remove(0);
        }
    }
}

impl Sim {
    fn byzantine_bank(&self) -> Option<usize> {
        self.adversary.as_ref().map(|adversary| adversary.bank)
    }

    /// Equivocation: what the Byzantine bank's honest core sends, flipped at random per copy.
    pub(super) fn lie(&mut self, from: usize, message: Message) -> Message {
        let Some(adversary) = self.adversary.as_ref().filter(|a| a.bank == from && self.faults) else { return message };
        let percent = adversary.lie_percent;
        match message {
            Message::Votes { stamp, votes } => {
                let votes = votes.into_iter().map(|vote| Vote { yes: vote.yes || self.rng.chance(percent), ..vote }).collect();
                Message::Votes { stamp, votes }
            }
            Message::Outcome { coordinator, outcomes } => {
                let outcomes = outcomes.into_iter().map(|o| OutcomeItem { commit: o.commit != self.rng.chance(percent), ..o }).collect();
                Message::Outcome { coordinator, outcomes }
            }
            Message::Known { coordinator, known } => {
                let known = known.into_iter().map(|o| OutcomeItem { commit: o.commit != self.rng.chance(percent), ..o }).collect();
                Message::Known { coordinator, known }
            }
            other => other,
        }
    }

    /// One forged, garbled or replayed message from the Byzantine bank to an honest bank.
    pub(super) fn attack(&mut self) -> Result<(), String> {
        let Some(byzantine) = self.byzantine_bank() else { return Ok(()) };
        let gap = self.adversary.as_ref().map_or(100, |a| a.attack_gap_max);
        let next = self.now + self.rng.range(1, gap);
        let count = self.banks.len() as u64;
        let to = (byzantine as u64 + 1 + self.rng.below(count - 1)) % count;
        let message = match self.rng.below(10) {
            0..=3 => Message::Prepare(self.forged_prepare(to as BankId)),
            4 => {
                let coordinator = self.some_bank();
                let outcomes = (0..self.rng.range(1, 3)).map(|_| OutcomeItem { id: self.some_id(), commit: self.rng.chance(50) }).collect();
                Message::Outcome { coordinator, outcomes }
            }
            5 => {
                let coordinator = self.some_bank();
                let known = (0..self.rng.range(1, 3)).map(|_| OutcomeItem { id: self.some_id(), commit: self.rng.chance(50) }).collect();
                Message::Known { coordinator, known }
            }
            6 => {
                let stamp = self.some_stamp();
                let votes =
                    (0..self.rng.range(1, 3)).map(|_| Vote { id: self.some_id(), yes: self.rng.chance(70), reason: None }).collect();
                Message::Votes { stamp, votes }
            }
            7 => match self.rng.below(3) {
                0 => Message::Final { ids: vec![self.some_id()] },
                1 => Message::Query { coordinator: self.some_bank(), ids: vec![self.some_id()] },
                _ => Message::Refused { stamp: self.some_stamp(), refusal: crate::Refusal::Malformed("forged".to_string()) },
            },
            _ => {
                let adversary = self.adversary.as_ref().expect("checked above");
                if adversary.received.is_empty() {
                    Message::Final { ids: Vec::new() }
                } else {
                    adversary.received[self.rng.below(adversary.received.len() as u64) as usize].clone()
                }
            }
        };
        let adversary = self.adversary.as_mut().expect("checked above");
        adversary.next_attack = next;
        adversary.forged += 1;
        self.trace_line(format!("b{byzantine} FORGES to b{to}: {message:?}"));
        self.order += 1;
        let latency = self.rng.range(0, 5);
        self.queue.push(Envelope { at: self.now + latency, order: self.order, from: byzantine, to: to as usize, message });
        Ok(())
    }

    fn some_bank(&mut self) -> BankId {
        self.rng.below(self.banks.len() as u64 + 1) as BankId
    }

    /// A transfer id: mostly a real one of any bank (the adversary knows them all), or a new one.
    fn some_id(&mut self) -> TransferId {
        if self.next_transfer > 0 && self.rng.chance(80) {
            // Ids of transfers submitted lately are the likeliest to be in flight.
            let back = self.rng.below(self.next_transfer.min(20));
            return TransferId(format!("t{}", self.next_transfer - back));
        }
        let adversary = self.adversary.as_mut().expect("only with an adversary");
        adversary.fresh += 1;
        TransferId(format!("z{}", adversary.fresh))
    }

    /// The current stamp, one next to it, an old one, or an impossible one.
    fn some_stamp(&mut self) -> Stamp {
        match self.rng.below(6) {
            0 => Stamp::new((1 << 63) + 5, 1),
            1 => Stamp::new(self.stamp.epoch, self.stamp.seq + 1 + self.rng.below(3)),
            2 => Stamp::new(self.stamp.epoch + (1 << 16) * self.rng.range(1, 5000), 1),
            3 => Stamp::new(self.stamp.epoch, self.stamp.seq.saturating_sub(self.rng.below(4))),
            4 => Stamp::new(self.rng.next_u64(), self.rng.next_u64()),
            _ => self.stamp,
        }
    }

    /// A prepare under the Byzantine bank's name (or naming another coordinator), with a forged,
    /// absent, far-future, replayed or mismatched certificate, and garbled transfers.
    fn forged_prepare(&mut self, to: BankId) -> Prepare {
        let byzantine = self.byzantine_bank().expect("only with an adversary") as BankId;
        let coordinator = if self.rng.chance(85) { byzantine } else { self.some_bank() };
        let (stamp, certificate) = match self.rng.below(7) {
            0 => (self.some_stamp(), None),
            1 => {
                // Signed by the Byzantine bank itself, the other signatures made up.
                let stamp = self.some_stamp();
                (stamp, Some(self.forged_certificate(stamp, coordinator, true)))
            }
            2 => {
                // Only its own signature, repeated to look like a quorum.
                let stamp = self.some_stamp();
                let mut certificate = self.forged_certificate(stamp, coordinator, false);
                let own = certificate.confirmations[0].clone();
                certificate.confirmations = vec![own; self.banks.len()];
                (stamp, Some(certificate))
            }
            3 | 4 => {
                // A genuine certificate it saw or got: replayed, for its own stamp or another's.
                let certificates = &self.adversary.as_ref().expect("checked above").certificates;
                match certificates.len() {
                    0 => (self.stamp, None),
                    n => {
                        let certificate = certificates[self.rng.below(n as u64) as usize].clone();
                        let stamp = if self.rng.chance(70) { certificate.stamp } else { self.some_stamp() };
                        (stamp, Some(certificate))
                    }
                }
            }
            5 => {
                // The newest grant's genuine certificate (it saw it go by) with its stamp or holder edited.
                let stamp = self.some_stamp();
                let holder = self.oracle.holder_of(self.stamp).unwrap_or(byzantine);
                let mut certificate = super::workload::certify(&self.keys, self.stamp, holder);
                if self.rng.chance(50) {
                    certificate.stamp = stamp;
                } else {
                    certificate.holder = coordinator;
                }
                (stamp, Some(certificate))
            }
            _ => {
                let stamp = self.some_stamp();
                (stamp, Some(self.forged_certificate(stamp, coordinator, true)))
            }
        };
        let transfers = (0..self.rng.range(1, 3)).map(|_| self.garbled_item(to, coordinator)).collect();
        Prepare { coordinator, stamp, certificate, transfers }
    }

    /// A certificate for (stamp, holder): the Byzantine bank's genuine signature, and the others
    /// made up (it has no other bank's key).
    fn forged_certificate(&mut self, stamp: Stamp, holder: BankId, others: bool) -> Certificate {
        let byzantine = self.byzantine_bank().expect("only with an adversary");
        let mut confirmations = vec![Confirmation { by: byzantine as BankId, signature: self.keys[byzantine].sign_confirm(stamp, holder) }];
        if others {
            for bank in (0..self.banks.len()).filter(|bank| *bank != byzantine) {
                let mut bytes = [0u8; 64];
                for chunk in bytes.chunks_exact_mut(8) {
                    chunk.copy_from_slice(&self.rng.next_u64().to_be_bytes());
                }
                confirmations.push(Confirmation { by: bank as BankId, signature: ringbank_domain::keys::Signature::from_bytes(bytes) });
            }
        }
        Certificate { stamp, holder, confirmations, membership: None }
    }

    /// A transfer as the Byzantine coordinator describes it to `to`: debits with or without a
    /// consent (its own, another bank's, another account's, made up), amounts negative,
    /// overflowing or zero, unknown accounts, settlement that does or does not balance, and ids
    /// that collide with other banks' transfers.
    fn garbled_item(&mut self, to: BankId, coordinator: BankId) -> PrepareItem {
        let id = self.some_id();
        let mut legs = Vec::new();
        let mut sum = 0i64;
        for _ in 0..self.rng.range(1, 2) {
            let index = self.rng.below(CUSTOMERS_PER_BANK);
            let account = match self.rng.below(10) {
                0 => "missing".to_string(),
                1 => settlement_name(coordinator),
                _ => customer_name(index),
            };
            let amount_cents = match self.rng.below(12) {
                0 => i64::MIN,
                1 => i64::MAX,
                2 => 0,
                3 => -i64::MAX,
                4 => -1_000_000_000_001,
                5 | 6 => self.rng.range(1, 6_000) as i64,
                _ => -(self.rng.range(1, 6_000) as i64),
            };
            let other = (to + 1) % self.banks.len() as BankId;
            let consent = match self.rng.below(8) {
                0 => None,
                1 => Some(consent_name(to, other, index)),
                2 => Some(consent_name(to, coordinator, (index + 1) % CUSTOMERS_PER_BANK)),
                3 => Some("forged".to_string()),
                4 => Some(String::new()),
                _ => Some(consent_name(to, coordinator, index)),
            };
            sum = sum.wrapping_add(amount_cents);
            legs.push(Leg { account, amount_cents, consent });
        }
        let settlement = match self.rng.below(4) {
            0 => Vec::new(),
            1 => vec![SettlementLeg { bank: to, amount_cents: sum.wrapping_neg() }],
            _ => vec![SettlementLeg { bank: coordinator, amount_cents: sum.wrapping_neg() }],
        };
        let mut participants = vec![to, coordinator];
        if self.rng.chance(20) {
            participants.retain(|bank| *bank != coordinator);
        }
        participants.sort();
        participants.dedup();
        PrepareItem {
            id,
            kind: TransferKind::Transfer,
            initiated_by: if self.rng.chance(50) { String::new() } else { "someone".to_string() },
            description: String::new(),
            position: self.rng.below(4) as u32,
            participants,
            legs,
            settlement,
            // A forged refund link: a refund's debit asked by another bank must get a no.
            refund_of: self.rng.chance(10).then(|| TransferId("tr_original".to_string())),
            payers: Vec::new(),
        }
    }
}
