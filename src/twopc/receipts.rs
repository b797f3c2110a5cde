//! The coordinator's signature over its decision on a transfer: the receipt of a committed
//! transfer (and a signed abort, the same encoding with its word), made where the decision is
//! logged (`coordinator.rs`, `log_decisions`) and stored with it. The encoding and the
//! verification are `ringbank_domain::decision` (`TransferDecision::sign`, `SignedDecision::verify`).

use ringbank_domain::{DecisionWord, OrderStamp, ReceiptLeg, SecretKey, SignedDecision, TransferDecision};
use ringbank_ring::Stamp;

/// What is signed about one transfer: its id, kind and legs (bank, account, signed amount).
pub struct DecidedTransfer<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub legs: Vec<ReceiptLeg>,
}

/// Signs this coordinator's decision on `transfer`, ordered at `stamp` and `position`. None
/// (and an error logged) only for a transfer whose fields cannot be encoded, which the checks at
/// submission rule out; the decision itself never depends on it.
pub fn sign_decision(
    key: &SecretKey,
    coordinator: &str,
    transfer: DecidedTransfer<'_>,
    stamp: Stamp,
    position: u32,
    commit: bool,
) -> Option<SignedDecision> {
    let decision = TransferDecision {
        transfer_id: transfer.id.to_string(),
        coordinator: coordinator.to_string(),
        decision: if commit { DecisionWord::Commit } else { DecisionWord::Abort },
        kind: transfer.kind.to_string(),
        stamp: OrderStamp { epoch: stamp.epoch, seq: stamp.seq, position },
        legs: transfer.legs,
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

    fn transfer() -> DecidedTransfer<'static> {
        DecidedTransfer {
            id: "tr_7",
            kind: "transfer",
            legs: vec![
                ReceiptLeg { bank: "A".into(), account: "10000001".into(), amount_cents: -2_500 },
                ReceiptLeg { bank: "B".into(), account: "20000002".into(), amount_cents: 2_500 },
            ],
        }
    }

    #[test]
    fn the_signed_decision_names_the_transfer_its_order_and_its_word() {
        let key = SecretKey::from_seed([1; 32]);
        let signed = sign_decision(&key, "A", transfer(), Stamp::new(3, 9), 41, true).expect("signed");
        assert_eq!(signed.decision.stamp, OrderStamp { epoch: 3, seq: 9, position: 41 });
        assert_eq!(signed.decision.decision, DecisionWord::Commit);
        assert_eq!(signed.decision.legs[0], ReceiptLeg { bank: "A".into(), account: "10000001".into(), amount_cents: -2_500 });
        assert_eq!(signed.verify(|bank| (bank == "A").then(|| key.public())), Ok(()));
        let abort = sign_decision(&key, "A", transfer(), Stamp::new(3, 9), 41, false).expect("signed");
        assert_eq!(abort.decision.decision, DecisionWord::Abort);
        assert!(abort.verify(|bank| (bank == "A").then(|| key.public())).is_ok());
        let unencodable = DecidedTransfer { id: "has space", ..transfer() };
        assert!(sign_decision(&key, "A", unencodable, Stamp::new(3, 9), 41, true).is_none());
    }
}
