//! The coordinator's signature over its decision on a transfer: the receipt of a committed
//! transfer (and a signed abort, the same encoding with its word), made where the decision is
//! logged and stored with it. The encoding and the verification are
//! `ringbank_domain::decision` (`TransferDecision::sign`, `SignedDecision::verify`).

use ringbank_domain::{DecisionWord, OrderStamp, ReceiptLeg, SecretKey, SignedDecision, TransferDecision};
use ringbank_ring::Stamp;

use crate::ledger::cross::PendingTransfer;

/// Signs this coordinator's decision on `transfer`, ordered at `stamp` and `position`. None
/// (and an error logged) only for a transfer whose fields cannot be encoded, which the checks at
/// submission rule out; the decision itself never depends on it.
pub fn sign_decision(
    key: &SecretKey,
    coordinator: &str,
    transfer: &PendingTransfer,
    stamp: Stamp,
    position: u32,
    commit: bool,
) -> Option<SignedDecision> {
    let decision = TransferDecision {
        transfer_id: transfer.id.clone(),
        coordinator: coordinator.to_string(),
        decision: if commit { DecisionWord::Commit } else { DecisionWord::Abort },
        kind: transfer.kind.clone(),
        stamp: OrderStamp { epoch: stamp.epoch, seq: stamp.seq, position },
        legs: transfer
            .legs
            .iter()
            .map(|(bank, account, amount_cents)| ReceiptLeg { bank: bank.clone(), account: account.clone(), amount_cents: *amount_cents })
            .collect(),
    };
    match decision.sign(key) {
        Ok(signed) => Some(signed),
        Err(error) => {
            tracing::error!(transfer_id = %transfer.id, %error, "cannot sign the decision; it is logged without a receipt");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(index: usize) -> PendingTransfer {
        PendingTransfer {
            id: format!("tr_{index:032}"),
            kind: "transfer".into(),
            initiated_by: "12345678909".into(),
            description: String::new(),
            legs: vec![("A".into(), "10000001".into(), -2_500), ("B".into(), "20000002".into(), 2_500)],
        }
    }

    #[test]
    fn the_signed_decision_names_the_transfer_its_order_and_its_word() {
        let key = SecretKey::from_seed([1; 32]);
        let signed = sign_decision(&key, "A", &transfer(7), Stamp::new(3, 9), 41, true).expect("signed");
        assert_eq!(signed.decision.stamp, OrderStamp { epoch: 3, seq: 9, position: 41 });
        assert_eq!(signed.decision.decision, DecisionWord::Commit);
        assert_eq!(signed.decision.legs[0], ReceiptLeg { bank: "A".into(), account: "10000001".into(), amount_cents: -2_500 });
        assert_eq!(signed.verify(|bank| (bank == "A").then(|| key.public())), Ok(()));
        let abort = sign_decision(&key, "A", &transfer(7), Stamp::new(3, 9), 41, false).expect("signed");
        assert_eq!(abort.decision.decision, DecisionWord::Abort);
        assert!(abort.verify(|bank| (bank == "A").then(|| key.public())).is_ok());
    }
}
