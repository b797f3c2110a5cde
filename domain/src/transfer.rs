//! A transfer as a customer asks for it, parsed once: every leg names a member bank and an
//! account number, every amount is positive and within the bank's limit, no account appears
//! twice, debits and credits balance. The JSON API and the web form both build a
//! `NewTransfer` through `NewTransfer::parse`; nothing downstream re-checks the shape.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountNumber, BankId};
use crate::money::checked_sum;

/// Limits that a transfer must respect, from the bank's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferLimits {
    /// Debits plus credits.
    pub max_legs: usize,
    /// Largest amount one operation moves, in centavos.
    pub max_amount_cents: i64,
}

/// Why a transfer (or an amount) was refused, with the field to fix in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("{0}")]
    InvalidField(String),
    #[error("{0}")]
    InvalidAmount(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Unbalanced(String),
    #[error("bank {0:?} is not a member of this consortium")]
    UnknownBank(String),
}

/// A positive amount of centavos no larger than the limit; `field` names it in the error.
pub fn check_amount(field: &str, amount_cents: i64, limits: TransferLimits) -> Result<i64, TransferError> {
    if amount_cents <= 0 {
        return Err(TransferError::InvalidAmount(format!("{field} must be a positive number of centavos (got {amount_cents})")));
    }
    let max = limits.max_amount_cents;
    if amount_cents > max {
        return Err(TransferError::LimitExceeded(format!("{field} is {amount_cents} centavos; one operation moves at most {max}")));
    }
    Ok(amount_cents)
}

/// One leg as it arrives (JSON body or form), before parsing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLeg {
    pub bank: String,
    pub account: String,
    pub amount_cents: i64,
    /// A debit at another bank: the id of the consent the account's holder granted there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

/// Longest consent id.
pub const CONSENT_ID_MAX_CHARS: usize = 64;

/// One parsed leg: a member bank, an account number there, a positive amount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLeg {
    pub bank: BankId,
    pub account: AccountNumber,
    pub amount_cents: i64,
    /// Only on debits.
    pub consent: Option<String>,
}

/// A transfer whose shape is known to be right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTransfer {
    pub debits: Vec<NewLeg>,
    pub credits: Vec<NewLeg>,
    /// The total moved (debits = credits).
    pub total_cents: i64,
}

impl NewTransfer {
    /// Parses the legs of a transfer. `is_member` tells whether a bank id belongs to the
    /// consortium (this bank included).
    pub fn parse(
        debits: &[RawLeg],
        credits: &[RawLeg],
        limits: TransferLimits,
        is_member: impl Fn(&str) -> bool,
    ) -> Result<NewTransfer, TransferError> {
        if debits.is_empty() || credits.is_empty() {
            return Err(TransferError::InvalidField("a transfer needs at least one debit and one credit".into()));
        }
        let max_legs = limits.max_legs;
        if debits.len() + credits.len() > max_legs {
            return Err(TransferError::LimitExceeded(format!("a transfer has at most {max_legs} legs (debits plus credits)")));
        }
        let parse_side = |side: &str, legs: &[RawLeg]| -> Result<Vec<NewLeg>, TransferError> {
            legs.iter().enumerate().map(|(index, leg)| parse_leg(&format!("{side}[{index}]"), leg, limits, &is_member)).collect()
        };
        let debits = parse_side("debits", debits)?;
        let credits = parse_side("credits", credits)?;
        if let Some(index) = credits.iter().position(|leg| leg.consent.is_some()) {
            return Err(TransferError::InvalidField(format!("credits[{index}].consent: a consent covers a debit, not a credit")));
        }
        let mut seen: Vec<(&BankId, &AccountNumber)> = Vec::with_capacity(debits.len() + credits.len());
        for leg in debits.iter().chain(credits.iter()) {
            if seen.contains(&(&leg.bank, &leg.account)) {
                return Err(TransferError::InvalidField(format!(
                    "account {} at bank {} appears in more than one leg",
                    leg.account, leg.bank
                )));
            }
            seen.push((&leg.bank, &leg.account));
        }
        let total_debits = checked_sum(debits.iter().map(|l| l.amount_cents));
        let total_credits = checked_sum(credits.iter().map(|l| l.amount_cents));
        match (total_debits, total_credits) {
            (Some(d), Some(c)) if d == c => {
                let total_cents = check_amount("the transfer's total", d, limits)?;
                Ok(NewTransfer { debits, credits, total_cents })
            }
            (Some(d), Some(c)) => Err(TransferError::Unbalanced(format!("debits sum to {d} centavos but credits to {c}"))),
            _ => Err(TransferError::InvalidAmount("the amounts overflow".into())),
        }
    }

    /// True when every leg is at `bank` (the transfer commits there at once).
    pub fn is_local_to(&self, bank: &str) -> bool {
        self.debits.iter().chain(&self.credits).all(|leg| leg.bank.as_str() == bank)
    }
}

fn parse_leg(field: &str, leg: &RawLeg, limits: TransferLimits, is_member: &impl Fn(&str) -> bool) -> Result<NewLeg, TransferError> {
    let amount_cents = check_amount(&format!("{field}.amount_cents"), leg.amount_cents, limits)?;
    let account = AccountNumber::parse(leg.account.trim())
        .map_err(|_| TransferError::InvalidField(format!("{field}.account must be an account number (1 to 20 digits)")))?;
    let bank = BankId::parse(&leg.bank).map_err(|e| TransferError::InvalidField(format!("{field}.bank: {e}")))?;
    if !is_member(bank.as_str()) {
        return Err(TransferError::UnknownBank(leg.bank.clone()));
    }
    let well_formed = |id: &str| {
        (1..=CONSENT_ID_MAX_CHARS).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if leg.consent.as_deref().is_some_and(|id| !well_formed(id)) {
        return Err(TransferError::InvalidField(format!(
            "{field}.consent must be a consent id (1 to {CONSENT_ID_MAX_CHARS} letters, digits, '_' or '-')"
        )));
    }
    Ok(NewLeg { bank, account, amount_cents, consent: leg.consent.clone() })
}

/// Cleans a free-text field (names, descriptions, references), for the API and the pages
/// alike: normalised to NFC, trimmed of blanks and invisible characters at both ends, refused
/// when it has control characters, bidirectional controls (which make a statement line read
/// differently from what it is) or nothing visible, and its length checked in characters.
pub fn clean_text(field: &str, text: &str, min_chars: usize, max_chars: usize) -> Result<String, TransferError> {
    use unicode_normalization::UnicodeNormalization;
    let normalized: String = text.nfc().collect();
    let trimmed = normalized.trim_matches(|c: char| c.is_whitespace() || is_invisible(c));
    if trimmed.chars().any(char::is_control) {
        return Err(TransferError::InvalidField(format!("{field} must not contain control characters")));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(TransferError::InvalidField(format!(
            "{field} must not contain bidirectional control characters (U+202A-202E, U+2066-2069, U+200E, U+200F, U+061C)"
        )));
    }
    if min_chars > 0 && !trimmed.chars().any(|c| !c.is_whitespace() && !is_invisible(c)) {
        return Err(TransferError::InvalidField(format!("{field} must contain visible characters")));
    }
    let chars = trimmed.chars().count();
    if chars < min_chars || chars > max_chars {
        return Err(TransferError::InvalidField(format!("{field} must have {min_chars} to {max_chars} characters")));
    }
    Ok(trimmed.to_string())
}

/// Characters that change the direction text is shown in.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Characters that show nothing on their own: format characters (zero-width space and joiners,
/// word joiner, soft hyphen, byte order mark, tags), variation selectors and blank fillers.
fn is_invisible(c: char) -> bool {
    is_bidi_control(c)
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'..='\u{2064}'
                | '\u{206A}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E007F}'
                | '\u{E0100}'..='\u{E01EF}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: TransferLimits = TransferLimits { max_legs: 4, max_amount_cents: 10_000 };

    fn leg(bank: &str, account: &str, amount_cents: i64) -> RawLeg {
        RawLeg { bank: bank.into(), account: account.into(), amount_cents, consent: None }
    }

    fn members(bank: &str) -> bool {
        matches!(bank, "A" | "B")
    }

    #[test]
    fn a_balanced_transfer_parses_and_knows_where_it_runs() {
        let transfer = NewTransfer::parse(&[leg("A", " 1 ", 300)], &[leg("B", "2", 300)], LIMITS, members).expect("valid");
        assert_eq!(transfer.total_cents, 300);
        assert_eq!(transfer.debits[0].account.as_str(), "1");
        assert!(!transfer.is_local_to("A"));
        let local = NewTransfer::parse(&[leg("A", "1", 5)], &[leg("A", "2", 5)], LIMITS, members).expect("valid");
        assert!(local.is_local_to("A"));
    }

    #[test]
    fn every_bad_shape_is_refused_with_its_kind() {
        let parse = |d: &[RawLeg], c: &[RawLeg]| NewTransfer::parse(d, c, LIMITS, members).unwrap_err();
        assert!(matches!(parse(&[], &[leg("A", "2", 1)]), TransferError::InvalidField(_)));
        assert!(matches!(parse(&[leg("A", "1", 0)], &[leg("A", "2", 0)]), TransferError::InvalidAmount(_)));
        assert!(matches!(parse(&[leg("A", "1", 10_001)], &[leg("A", "2", 10_001)]), TransferError::LimitExceeded(_)));
        assert!(matches!(parse(&[leg("A", "1", 5)], &[leg("A", "2", 6)]), TransferError::Unbalanced(_)));
        assert!(matches!(parse(&[leg("A", "1", 5)], &[leg("Z", "2", 5)]), TransferError::UnknownBank(_)));
        assert!(matches!(parse(&[leg("A", "1", 5)], &[leg("a b", "2", 5)]), TransferError::InvalidField(_)));
        assert!(matches!(parse(&[leg("A", "x1", 5)], &[leg("A", "2", 5)]), TransferError::InvalidField(_)));
        assert!(matches!(parse(&[leg("A", "1", 5)], &[leg("A", "1", 5)]), TransferError::InvalidField(_)));
        let five = vec![leg("A", "1", 1), leg("A", "3", 1), leg("A", "4", 1), leg("A", "5", 1)];
        assert!(matches!(parse(&five, &[leg("A", "2", 4)]), TransferError::LimitExceeded(_)));
        // Two legs within the limit whose sum is above it.
        assert!(matches!(parse(&[leg("A", "1", 6_000), leg("A", "3", 6_000)], &[leg("B", "2", 12_000)]), TransferError::LimitExceeded(_)));
    }

    #[test]
    fn text_fields_are_trimmed_and_bounded() {
        assert_eq!(clean_text("d", "  rent ", 0, 10), Ok("rent".into()));
        assert!(clean_text("d", "a\u{0007}b", 0, 10).is_err());
        assert!(clean_text("d", "", 1, 10).is_err());
        assert!(clean_text("name", "\u{200B}", 1, 10).is_err(), "a lone zero-width space");
        assert!(clean_text("name", " \u{200B}\u{2060}\u{FEFF} ", 1, 10).is_err());
        assert!(clean_text("d", "pay \u{202E}321", 0, 20).is_err(), "right-to-left override");
        assert!(clean_text("d", "a\u{2066}b", 0, 20).is_err());
        assert_eq!(clean_text("name", "Jose\u{0301}", 1, 10), Ok("Jos\u{e9}".into()), "NFC");
        assert_eq!(clean_text("name", "\u{200B}Ana\u{200B}", 1, 10), Ok("Ana".into()));
    }
}
