//! The shape of a prepare, checked by the participant before anything is fenced or voted (moved
//! from src/http/bank.rs `validate_prepare`), and how a coordinator derives each bank's share of
//! a transfer (participants and settlement legs, from src/ledger/cross.rs `settlement_legs`).

use std::collections::BTreeMap;

use ringbank_domain::transfer::check_amount;
use ringbank_domain::TransferLimits;

use crate::{BankId, Prepare, Refusal, SettlementLeg, TransferLeg};

/// Limits a participant enforces on a prepare; a limit that is hit refuses the whole prepare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrepareLimits {
    /// Most transfers in one prepare or outcome message (`BATCH_MAX`).
    pub transfers_max: usize,
    /// Most customer legs of one transfer at one bank (`config.max_legs`).
    pub legs_max: usize,
    /// Largest amount of one leg (`config.max_amount_cents`).
    pub amount_max_cents: i64,
    /// Longest transfer id.
    pub id_length_max: usize,
}

impl Default for PrepareLimits {
    fn default() -> PrepareLimits {
        PrepareLimits { transfers_max: 1024, legs_max: 16, amount_max_cents: 1_000_000_000_000, id_length_max: 64 }
    }
}

/// The payers named to a credited bank: members' accounts, positive amounts, each for an account
/// this transfer credits here, and adding up to each such credit exactly (or none at all).
fn check_payers(item: &crate::PrepareItem, limits: &PrepareLimits, members: &[BankId]) -> Result<(), Refusal> {
    if item.payers.is_empty() {
        return Ok(());
    }
    let malformed = || Refusal::Malformed(format!("transfer {} names a malformed payer", item.id));
    // Leg-order matching names fewer payers than the transfer has legs (debits + credits - 1).
    if item.payers.len() > limits.legs_max.saturating_mul(2) {
        return Err(Refusal::LimitExceeded(format!("transfer {} names too many payers", item.id)));
    }
    let mut credited: BTreeMap<&str, i64> = BTreeMap::new();
    for leg in item.legs.iter().filter(|leg| leg.amount_cents > 0) {
        *credited.entry(leg.account.as_str()).or_default() += leg.amount_cents;
    }
    let mut funded: BTreeMap<&str, i64> = BTreeMap::new();
    for payer in &item.payers {
        let well_formed = members.contains(&payer.bank)
            && !payer.account.is_empty()
            && payer.account.len() <= limits.id_length_max
            && payer.amount_cents > 0
            && payer.amount_cents <= limits.amount_max_cents.saturating_mul(limits.legs_max as i64)
            && credited.contains_key(payer.credited.as_str());
        if !well_formed {
            return Err(malformed());
        }
        let sum = funded.entry(payer.credited.as_str()).or_default();
        *sum = sum.checked_add(payer.amount_cents).ok_or_else(malformed)?;
    }
    if funded != credited {
        return Err(Refusal::Malformed(format!("transfer {}: its payers do not add up to its credits here", item.id)));
    }
    Ok(())
}

/// Checks what a participant is asked to book before it votes: bounded sizes, plausible ids,
/// non-zero amounts within the limit, settlement only with other member banks, and legs that sum
/// to zero at this bank. Account-level checks (exists, holder, funds) are the ledger's, through
/// `Accounts`, and give a "no" vote instead of a refusal.
pub fn validate_prepare(prepare: &Prepare, limits: &PrepareLimits, me: BankId, members: &[BankId]) -> Result<(), Refusal> {
    if prepare.transfers.len() > limits.transfers_max {
        return Err(Refusal::LimitExceeded(format!("at most {} transfers per prepare", limits.transfers_max)));
    }
    for item in &prepare.transfers {
        if item.legs.len() > limits.legs_max || item.settlement.len() > members.len() {
            return Err(Refusal::LimitExceeded(format!("transfer {} has too many legs", item.id)));
        }
        if item.id.0.is_empty() || item.id.0.len() > limits.id_length_max {
            return Err(Refusal::Malformed(format!("transfer {:?} is malformed", item.id.0)));
        }
        if item.refund_of.as_ref().is_some_and(|id| id.0.is_empty() || id.0.len() > limits.id_length_max) {
            return Err(Refusal::Malformed(format!("transfer {} names a malformed original", item.id)));
        }
        check_payers(item, limits, members)?;
        if !item.participants.contains(&me) || !item.participants.contains(&prepare.coordinator) {
            return Err(Refusal::Malformed(format!("transfer {} does not name this bank and its coordinator", item.id)));
        }
        let mut total: i64 = 0;
        for leg in &item.legs {
            // The same amount rule as every customer operation (a debit leg is negative here).
            let magnitude = leg.amount_cents.checked_abs().unwrap_or(0);
            let amount_limits = TransferLimits { max_legs: limits.legs_max, max_amount_cents: limits.amount_max_cents };
            if check_amount("leg", magnitude, amount_limits).is_err() {
                return Err(Refusal::Malformed(format!("transfer {} has a malformed leg", item.id)));
            }
            // A consent covers a debit only, and is an id, not a document.
            if leg.consent.as_ref().is_some_and(|id| leg.amount_cents > 0 || id.is_empty() || id.len() > limits.id_length_max) {
                return Err(Refusal::Malformed(format!("transfer {} has a malformed consent", item.id)));
            }
            total = total.checked_add(leg.amount_cents).ok_or_else(|| Refusal::Malformed(format!("transfer {} overflows", item.id)))?;
        }
        for leg in &item.settlement {
            if !members.contains(&leg.bank) || leg.bank == me || leg.amount_cents == 0 {
                return Err(Refusal::Malformed(format!("transfer {} has a malformed settlement leg", item.id)));
            }
            total = total.checked_add(leg.amount_cents).ok_or_else(|| Refusal::Malformed(format!("transfer {} overflows", item.id)))?;
        }
        // The origin may have nothing to book (every other bank's legs net to zero); anyone else
        // was named a participant because it has legs.
        let nothing_to_book = item.legs.is_empty() && item.settlement.is_empty() && me != prepare.coordinator;
        if total != 0 || nothing_to_book {
            return Err(Refusal::Malformed(format!("transfer {} does not balance at this bank", item.id)));
        }
    }
    Ok(())
}

/// Who paid each credit of a transfer, as `(credited bank, payer)`: debits and credits summed
/// per account (in leg order) and matched by `ringbank_domain::refund::funding`. The coordinator
/// names a credited bank its own rows; the origin's bank recomputes them from its legs.
pub fn payers_of(legs: &[TransferLeg]) -> Vec<(BankId, crate::Payer)> {
    let mut debits: Vec<(BankId, &str, i64)> = Vec::new();
    let mut credits: Vec<(BankId, &str, i64)> = Vec::new();
    for leg in legs {
        let side = if leg.amount_cents < 0 { &mut debits } else { &mut credits };
        match side.iter_mut().find(|(bank, account, _)| *bank == leg.bank && *account == leg.account) {
            Some(entry) => entry.2 = entry.2.saturating_add(leg.amount_cents.saturating_abs()),
            None => side.push((leg.bank, leg.account.as_str(), leg.amount_cents.saturating_abs())),
        }
    }
    let paid: Vec<i64> = debits.iter().map(|(_, _, cents)| *cents).collect();
    let received: Vec<i64> = credits.iter().map(|(_, _, cents)| *cents).collect();
    ringbank_domain::refund::funding(&paid, &received)
        .into_iter()
        .map(|(receiver, payer, amount_cents)| {
            let (credited_bank, credited, _) = credits[receiver];
            let (bank, account, _) = debits[payer];
            (credited_bank, crate::Payer { bank, account: account.to_string(), amount_cents, credited: credited.to_string() })
        })
        .collect()
}

/// Every bank taking part in a transfer: the banks of its legs and the origin, in id order.
pub fn participants_of(origin: BankId, legs: &[TransferLeg]) -> Vec<BankId> {
    let mut banks: Vec<BankId> = legs.iter().map(|leg| leg.bank).chain(std::iter::once(origin)).collect();
    banks.sort_unstable();
    banks.dedup();
    banks
}

/// Per-bank settlement legs so that every participant's entry sums to zero: every bank other than
/// the origin settles its net with the origin; the origin settles with each of them.
pub fn settlement_legs(origin: BankId, legs: &[TransferLeg]) -> BTreeMap<BankId, Vec<SettlementLeg>> {
    let mut nets: BTreeMap<BankId, i64> = BTreeMap::new();
    for leg in legs {
        let net = nets.entry(leg.bank).or_insert(0);
        *net = net.checked_add(leg.amount_cents).expect("a transfer's legs were validated against overflow at submission");
    }
    let mut out: BTreeMap<BankId, Vec<SettlementLeg>> = BTreeMap::new();
    for (bank, net) in nets {
        if bank == origin || net == 0 {
            continue;
        }
        out.entry(origin).or_default().push(SettlementLeg { bank, amount_cents: net });
        out.entry(bank).or_default().push(SettlementLeg { bank: origin, amount_cents: -net });
    }
    out
}
