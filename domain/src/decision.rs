//! A coordinator's decision on one cross-bank transfer, signed with the coordinator's key: the
//! receipt (comprovante) of a committed transfer, and the proof a participant can forward so
//! that another participant accepts an outcome it did not hear from the coordinator itself.
//!
//! The signature covers a canonical text, one field per line, in the signing domain
//! `ringbank-decision-v1` (see `keys::SigningDomain`):
//!
//! ```text
//! transfer <id>
//! coordinator <bank>
//! decision <commit|abort>
//! kind <transfer|payment|settlement>
//! stamp <epoch> <seq> <position>
//! legs <count>
//! leg <bank> <account> <signed amount in centavos>     (one line per leg, in order)
//! ```
//!
//! Every field is a token of printable ASCII without spaces, so the text has exactly one
//! reading; `parse_canonical` accepts only what `canonical` writes.

use serde::{Deserialize, Serialize};

use crate::keys::{PublicKey, SecretKey, Signature, SigningDomain};

/// Longest token (an id, a bank, an account, a kind) the canonical text carries.
const TOKEN_MAX: usize = 128;
/// Most legs a decision carries (transfers have far fewer; this bounds parsing).
const LEGS_MAX: usize = 256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecisionError {
    #[error("the receipt is malformed: {0}")]
    Malformed(String),
    #[error("the coordinator {0:?} is not in the member list")]
    UnknownCoordinator(String),
    #[error("the signature is not {0}'s signature over this receipt (a field was changed, or another key signed it)")]
    BadSignature(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionWord {
    Commit,
    Abort,
}

impl DecisionWord {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionWord::Commit => "commit",
            DecisionWord::Abort => "abort",
        }
    }
}

/// A transfer's place in the global order: the holder's stamp and its position in the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStamp {
    pub epoch: u64,
    pub seq: u64,
    pub position: u32,
}

/// One leg: negative amounts are debits, positive ones credits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLeg {
    pub bank: String,
    pub account: String,
    pub amount_cents: i64,
}

/// What a coordinator decided about one transfer: the part that is signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferDecision {
    pub transfer_id: String,
    pub coordinator: String,
    pub decision: DecisionWord,
    pub kind: String,
    pub stamp: OrderStamp,
    pub legs: Vec<ReceiptLeg>,
}

/// A decision with its coordinator's signature: the JSON a receipt is shown and verified as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDecision {
    #[serde(flatten)]
    pub decision: TransferDecision,
    pub signature: Signature,
}

impl TransferDecision {
    /// The canonical text that is signed (module docs); refuses fields that are not tokens.
    pub fn canonical(&self) -> Result<String, DecisionError> {
        if self.legs.len() > LEGS_MAX {
            return Err(DecisionError::Malformed(format!("more than {LEGS_MAX} legs")));
        }
        let mut text = String::new();
        let mut line = |parts: &[&str]| -> Result<(), DecisionError> {
            let (name, fields) = parts.split_first().expect("a line has a name");
            text.push_str(name);
            for field in fields {
                check_token(name, field)?;
                text.push(' ');
                text.push_str(field);
            }
            text.push('\n');
            Ok(())
        };
        line(&["transfer", &self.transfer_id])?;
        line(&["coordinator", &self.coordinator])?;
        line(&["decision", self.decision.as_str()])?;
        line(&["kind", &self.kind])?;
        let OrderStamp { epoch, seq, position } = self.stamp;
        line(&["stamp", &epoch.to_string(), &seq.to_string(), &position.to_string()])?;
        line(&["legs", &self.legs.len().to_string()])?;
        for leg in &self.legs {
            line(&["leg", &leg.bank, &leg.account, &leg.amount_cents.to_string()])?;
        }
        Ok(text)
    }

    /// Reads back a canonical text; only exactly what `canonical` writes is accepted.
    pub fn parse_canonical(text: &str) -> Result<TransferDecision, DecisionError> {
        let malformed = |what: &str| DecisionError::Malformed(what.to_string());
        let mut lines = text.strip_suffix('\n').ok_or_else(|| malformed("no final newline"))?.split('\n');
        let mut field = |name: &str, count: usize| -> Result<Vec<String>, DecisionError> {
            let line = lines.next().ok_or_else(|| malformed(&format!("no {name} line")))?;
            let mut parts = line.split(' ');
            if parts.next() != Some(name) {
                return Err(malformed(&format!("expected the {name} line")));
            }
            let values: Vec<String> = parts.map(str::to_string).collect();
            if values.len() != count {
                return Err(malformed(&format!("the {name} line has {} fields, not {count}", values.len())));
            }
            Ok(values)
        };
        let number = |text: &str| text.parse::<u64>().map_err(|_| malformed("a number is not a number"));
        let transfer_id = field("transfer", 1)?.remove(0);
        let coordinator = field("coordinator", 1)?.remove(0);
        let decision = match field("decision", 1)?[0].as_str() {
            "commit" => DecisionWord::Commit,
            "abort" => DecisionWord::Abort,
            _ => return Err(malformed("the decision is neither commit nor abort")),
        };
        let kind = field("kind", 1)?.remove(0);
        let stamp = field("stamp", 3)?;
        let position = u32::try_from(number(&stamp[2])?).map_err(|_| malformed("the position is too large"))?;
        let stamp = OrderStamp { epoch: number(&stamp[0])?, seq: number(&stamp[1])?, position };
        let count = usize::try_from(number(&field("legs", 1)?[0])?).unwrap_or(usize::MAX);
        if count > LEGS_MAX {
            return Err(malformed("too many legs"));
        }
        let mut legs = Vec::with_capacity(count);
        for _ in 0..count {
            let mut leg = field("leg", 3)?;
            let amount_cents = leg[2].parse::<i64>().map_err(|_| malformed("a leg's amount is not a number"))?;
            let account = leg.remove(1);
            legs.push(ReceiptLeg { bank: leg.remove(0), account, amount_cents });
        }
        if lines.next().is_some() {
            return Err(malformed("text after the last leg"));
        }
        let decision = TransferDecision { transfer_id, coordinator, decision, kind, stamp, legs };
        if decision.canonical()? != text {
            return Err(malformed("not in canonical form"));
        }
        Ok(decision)
    }

    /// The coordinator signs its decision. THE function that signs a decision (commit or abort).
    pub fn sign(self, coordinator_key: &SecretKey) -> Result<SignedDecision, DecisionError> {
        let signature = coordinator_key.sign_in(SigningDomain::DECISION, self.canonical()?.as_bytes());
        Ok(SignedDecision { decision: self, signature })
    }
}

impl SignedDecision {
    /// Checks the signature with the coordinator's public key, found by bank id in
    /// `member_key` (the member list). THE function that verifies a decision.
    pub fn verify(&self, member_key: impl Fn(&str) -> Option<PublicKey>) -> Result<(), DecisionError> {
        let coordinator = &self.decision.coordinator;
        let key = member_key(coordinator).ok_or_else(|| DecisionError::UnknownCoordinator(coordinator.clone()))?;
        let text = self.decision.canonical()?;
        key.verify_in(SigningDomain::DECISION, text.as_bytes(), &self.signature)
            .map_err(|_| DecisionError::BadSignature(coordinator.clone()))
    }
}

fn check_token(name: &str, field: &str) -> Result<(), DecisionError> {
    let printable = field.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if field.is_empty() || field.len() > TOKEN_MAX || !printable {
        return Err(DecisionError::Malformed(format!("the {name} field must be 1 to {TOKEN_MAX} printable characters without spaces")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision() -> TransferDecision {
        TransferDecision {
            transfer_id: "0b6f1c1e-2f4e-4a40-9a57-3c1d3a0f7e11".into(),
            coordinator: "A".into(),
            decision: DecisionWord::Commit,
            kind: "transfer".into(),
            stamp: OrderStamp { epoch: 3, seq: 17, position: 2 },
            legs: vec![
                ReceiptLeg { bank: "B".into(), account: "0001-5".into(), amount_cents: -1500 },
                ReceiptLeg { bank: "A".into(), account: "0002-3".into(), amount_cents: 1500 },
            ],
        }
    }

    #[test]
    fn the_canonical_text_is_stable_and_reads_back() {
        let text = decision().canonical().unwrap();
        assert_eq!(
            text,
            "transfer 0b6f1c1e-2f4e-4a40-9a57-3c1d3a0f7e11\ncoordinator A\ndecision commit\nkind transfer\nstamp 3 17 2\nlegs 2\n\
             leg B 0001-5 -1500\nleg A 0002-3 1500\n"
        );
        assert_eq!(TransferDecision::parse_canonical(&text), Ok(decision()));
        for bad in
            [text.replace("stamp 3", "stamp 03"), text.replace("legs 2", "legs 3"), text.trim_end().to_string(), format!("{text}x\n")]
        {
            assert!(TransferDecision::parse_canonical(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fields_that_could_make_the_text_ambiguous_are_refused() {
        for change in [
            |d: &mut TransferDecision| d.transfer_id = "a b".into(),
            |d: &mut TransferDecision| d.legs[0].account = "x\nleg".into(),
            |d: &mut TransferDecision| d.kind = String::new(),
        ] {
            let mut changed = decision();
            change(&mut changed);
            assert!(matches!(changed.canonical(), Err(DecisionError::Malformed(_))));
        }
    }

    #[test]
    fn a_signed_decision_verifies_and_any_change_breaks_it() {
        let key = SecretKey::from_seed([5; 32]);
        let other = SecretKey::from_seed([6; 32]);
        let members = |bank: &str| match bank {
            "A" => Some(key.public()),
            "B" => Some(other.public()),
            _ => None,
        };
        let signed = decision().sign(&key).unwrap();
        assert_eq!(signed.verify(members), Ok(()));
        let changes: [fn(&mut SignedDecision); 6] = [
            |s| s.decision.legs[0].amount_cents = -1499,
            |s| s.decision.legs[1].account = "0009-9".into(),
            |s| s.decision.stamp.position = 3,
            |s| s.decision.decision = DecisionWord::Abort,
            |s| s.decision.coordinator = "B".into(),
            |s| s.decision.legs.reverse(),
        ];
        for change in changes {
            let mut tampered = signed.clone();
            change(&mut tampered);
            assert!(matches!(tampered.verify(members), Err(DecisionError::BadSignature(_))), "{tampered:?}");
        }
        let mut stranger = signed.clone();
        stranger.decision.coordinator = "Z".into();
        assert_eq!(stranger.verify(members), Err(DecisionError::UnknownCoordinator("Z".into())));
        let forged = decision().sign(&other).unwrap();
        assert_eq!(forged.verify(members), Err(DecisionError::BadSignature("A".into())));
    }

    #[test]
    fn an_abort_is_signed_with_the_same_encoding_and_its_word() {
        let key = SecretKey::from_seed([5; 32]);
        let abort = TransferDecision { decision: DecisionWord::Abort, ..decision() }.sign(&key).unwrap();
        assert!(abort.decision.canonical().unwrap().contains("decision abort\n"));
        assert_eq!(abort.verify(|_| Some(key.public())), Ok(()));
        let commit = decision().sign(&key).unwrap();
        assert_ne!(abort.signature, commit.signature);
    }
}
