//! ringbank's domain types: values that cannot hold a bad value once parsed, shared by the bank
//! server, the wire types, the typed client and the operator tools. No I/O, no SQL, no JSON
//! beyond serde derives on the types themselves.

pub mod brcode; // BR Code (Pix copia e cola): EMV TLV payloads with their CRC, built and parsed
pub mod clock_rate; // the clock-rate fault's rate: a decimal in parts per million, 0.5 to 2
pub mod crash_point; // named points where an injected crash kills the bank
pub mod decision; // a coordinator's signed decision on a cross-bank transfer (receipts)
pub mod display; // masked documents and names, local time in a bank's zone
pub mod document; // CPF and CNPJ validation and formatting
pub mod ids; // account numbers, bank ids, Idempotency-Keys
pub mod keys; // per-bank Ed25519 keys and signatures, in their text forms
pub mod kinds; // account kinds, customer kinds, transfer states and kinds
pub mod limits; // transfer limits: per transfer, per day, at night; the local-time window
pub mod money; // centavos: formatting, parsing, checked sums
pub mod password; // the password policy: length, common and trivial ones, personal data
pub mod pix_key; // Pix keys: CPF, CNPJ, e-mail, phone, random; canonical forms, masks, limits
pub mod refund; // refunds of transfers with several payers: who paid whom, and the pro rata split
pub mod schedule; // scheduled transfers: when each occurrence (once, weekly, monthly) is due
pub mod transfer; // NewTransfer::parse: the one check of a transfer's shape

pub use clock_rate::{ClockRate, ClockRateError};
pub use crash_point::CrashPoint;
pub use decision::{DecisionError, DecisionWord, OrderStamp, ReceiptLeg, SignedDecision, TransferDecision};
pub use document::Document;
pub use ids::{AccountNumber, BankId, IdError, IdempotencyKey};
pub use keys::{KeyError, PublicKey, SecretKey, Signature, SigningDomain};
pub use kinds::{AccountKind, CustomerKind, TransferKind, TransferStatus, UnknownValue};
pub use limits::{LimitKind, LimitRefusal, LimitSetting, LimitUsage, LimitWindow, Limits, UtcOffset};
pub use pix_key::{PixKey, PixKeyError, PixKeyKind};
pub use transfer::{NewLeg, NewTransfer, RawLeg, TransferError, TransferLimits};
