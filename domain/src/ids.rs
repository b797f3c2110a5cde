//! Identifiers that cannot hold a bad value once parsed: account numbers, bank ids and
//! Idempotency-Keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("an account number is 1 to 20 digits")]
    AccountNumber,
    #[error("a bank id is 1 to 32 letters, digits, '-' or '_'")]
    BankId,
    #[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
    IdempotencyKey,
}

macro_rules! string_newtype {
    ($name:ident, $valid:expr, $error:expr) => {
        impl $name {
            /// Parses `text` as it is (no trimming): callers trim free-form input first.
            pub fn parse(text: &str) -> Result<$name, IdError> {
                let valid: fn(&str) -> bool = $valid;
                if valid(text) {
                    Ok($name(text.to_string()))
                } else {
                    Err($error)
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<$name, IdError> {
                $name::parse(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An account number at one bank: 1 to 20 ASCII digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountNumber(String);
string_newtype!(AccountNumber, |t| (1..=20).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()), IdError::AccountNumber);

/// A bank's id in the consortium: 1 to 32 ASCII letters, digits, '-' or '_'.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BankId(String);
string_newtype!(
    BankId,
    |t| !t.is_empty() && t.len() <= 32 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
    IdError::BankId
);

/// A client's Idempotency-Key: 1 to 255 visible ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);
string_newtype!(IdempotencyKey, |t| !t.is_empty() && t.len() <= 255 && t.bytes().all(|b| b.is_ascii_graphic()), IdError::IdempotencyKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_numbers_are_one_to_twenty_digits() {
        assert!(AccountNumber::parse("12345678").is_ok());
        assert!(AccountNumber::parse(&"9".repeat(20)).is_ok());
        for bad in ["", "12a4", " 123", "1-2", &"9".repeat(21), "١٢٣"] {
            assert_eq!(AccountNumber::parse(bad), Err(IdError::AccountNumber), "{bad:?}");
        }
    }

    #[test]
    fn bank_ids_and_keys_refuse_what_they_must() {
        assert!(BankId::parse("bank-A_1").is_ok());
        for bad in ["", "a b", "á", &"x".repeat(33)] {
            assert!(BankId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(IdempotencyKey::parse("order-17/retry").is_ok());
        for bad in ["", "has space", "tab\t", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_parses_through_the_same_rules() {
        let ok: AccountNumber = serde_json_like("\"0042\"");
        assert_eq!(ok.as_str(), "0042");
    }

    /// A tiny deserializer check without serde_json: a str deserializer.
    fn serde_json_like(quoted: &str) -> AccountNumber {
        use serde::de::value::{Error, StrDeserializer};
        use serde::de::IntoDeserializer;
        let inner = quoted.trim_matches('"');
        let deserializer: StrDeserializer<'_, Error> = inner.into_deserializer();
        AccountNumber::deserialize(deserializer).expect("valid")
    }
}
