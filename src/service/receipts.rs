//! Checking a receipt someone shows: the JSON of a transfer's `receipt` (or the whole transfer
//! view that carries it) against the member list's public keys. Used by `ringbank verify` and
//! the public verify page, so both say the same thing about the same text.

use ringbank_domain::{PublicKey, SignedDecision};

/// Most bytes of receipt text read (a receipt is well under a kilobyte per leg).
pub const RECEIPT_TEXT_MAX: usize = 64 * 1024;

/// The receipt in `text`, if its coordinator's signature is valid; otherwise why not.
pub fn check_receipt(text: &str, key_of: impl Fn(&str) -> Option<PublicKey>) -> Result<SignedDecision, String> {
    if text.len() > RECEIPT_TEXT_MAX {
        return Err(format!("the receipt is longer than {RECEIPT_TEXT_MAX} bytes"));
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("the receipt is not JSON: {e}"))?;
    // Either the receipt itself or a transfer view (GET /api/v1/transfers/{id}) carrying it.
    let value = match value.get("receipt") {
        Some(serde_json::Value::Null) => return Err("this transfer has no receipt (it is not committed)".to_string()),
        Some(receipt) => receipt.clone(),
        None => value,
    };
    let receipt: SignedDecision = serde_json::from_value(value).map_err(|e| format!("the receipt is malformed: {e}"))?;
    receipt.verify(key_of).map_err(|e| e.to_string())?;
    Ok(receipt)
}

/// One line describing a valid receipt.
pub fn describe(receipt: &SignedDecision) -> String {
    let decision = &receipt.decision;
    let legs: Vec<String> = decision
        .legs
        .iter()
        .map(|leg| format!("{} {} {}", leg.bank, leg.account, ringbank_domain::money::format_brl(leg.amount_cents)))
        .collect();
    format!(
        "transfer {} ({}) decided {} by coordinator {} at stamp epoch {} seq {} position {}; legs: {}",
        decision.transfer_id,
        decision.kind,
        decision.decision.as_str(),
        decision.coordinator,
        decision.stamp.epoch,
        decision.stamp.seq,
        decision.stamp.position,
        legs.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringbank_domain::{DecisionWord, OrderStamp, ReceiptLeg, SecretKey, TransferDecision};

    #[test]
    fn a_receipt_or_a_transfer_view_verifies_and_a_changed_one_does_not() {
        let key = SecretKey::from_seed([3; 32]);
        let signed = TransferDecision {
            transfer_id: "t1".into(),
            coordinator: "A".into(),
            decision: DecisionWord::Commit,
            kind: "transfer".into(),
            stamp: OrderStamp { epoch: 1, seq: 2, position: 0 },
            legs: vec![
                ReceiptLeg { bank: "B".into(), account: "1".into(), amount_cents: -5 },
                ReceiptLeg { bank: "A".into(), account: "2".into(), amount_cents: 5 },
            ],
        }
        .sign(&key)
        .unwrap();
        let members = |bank: &str| (bank == "A").then(|| key.public());
        let text = serde_json::to_string(&signed).unwrap();
        assert_eq!(check_receipt(&text, members), Ok(signed.clone()));
        let view = serde_json::json!({"id": "t1", "status": "committed", "receipt": signed}).to_string();
        assert!(check_receipt(&view, members).is_ok());
        let tampered = text.replace("-5", "-6");
        assert!(check_receipt(&tampered, members).unwrap_err().contains("signature"), "{tampered}");
        assert!(check_receipt("{", members).unwrap_err().contains("not JSON"));
        assert!(check_receipt(r#"{"receipt": null}"#, members).unwrap_err().contains("no receipt"));
        assert!(describe(&signed).contains("coordinator A"));
    }
}
