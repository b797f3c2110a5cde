//! Closed sets of values the bank stores as text: kinds of account and customer, and the
//! states of a transfer. Parsing them once means no code compares raw strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An unknown name for one of the closed sets below.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {what}; expected one of: {expected}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! closed_set {
    ($name:ident, $what:literal, $( $variant:ident => $text:literal ),+ $(,)?) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(text: &str) -> Result<$name, UnknownValue> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue { what: $what, value: text.to_string(), expected: concat!($($text, " "),+) }),
                }
            }
        }
    };
}

/// The kind of a customer account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// One person's account; one per CPF per bank.
    Individual,
    /// Held by two or more persons.
    Joint,
    /// A company's account (CNPJ).
    Company,
}
closed_set!(AccountKind, "account kind", Individual => "individual", Joint => "joint", Company => "company");

/// Whether a customer is a person (CPF) or a company (CNPJ).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CustomerKind {
    Person,
    Company,
}
closed_set!(CustomerKind, "customer kind", Person => "person", Company => "company");

/// Where a transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferStatus {
    /// Stored at the origin, waiting for the two-phase commit.
    Pending,
    Committed,
    Aborted,
}
closed_set!(TransferStatus, "transfer status", Pending => "pending", Committed => "committed", Aborted => "aborted");

impl TransferStatus {
    pub fn is_final(self) -> bool {
        self != TransferStatus::Pending
    }
}

/// What kind of money movement a transfer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferKind {
    Transfer,
    /// To a company account, with a reference.
    Payment,
}
closed_set!(TransferKind, "transfer kind", Transfer => "transfer", Payment => "payment");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_and_others_are_refused() {
        for kind in AccountKind::ALL {
            assert_eq!(kind.as_str().parse::<AccountKind>(), Ok(*kind));
        }
        for status in TransferStatus::ALL {
            assert_eq!(status.as_str().parse::<TransferStatus>(), Ok(*status));
        }
        let error = "savings".parse::<AccountKind>().unwrap_err();
        assert!(error.to_string().contains("individual joint company"), "{error}");
        assert!("Person".parse::<CustomerKind>().is_err());
        assert!(!TransferStatus::Pending.is_final() && TransferStatus::Aborted.is_final());
    }
}
