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
