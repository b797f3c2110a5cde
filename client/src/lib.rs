//! A typed client of one bank's HTTP API over reqwest: `BankClient` for the customer API
//! (/api/v1), `AdminClient` for the operator API (/admin/v1, the ring status, readiness).
//! Every call returns a wire type or a `ClientError` that carries the problem+json the bank
//! answered, so callers (the operator tools, the integration tests) assert on problem types
//! instead of parsing JSON by hand.

mod admin; // AdminClient: audit, consortium summary, faults, stats, ring status, wait_ready
mod bank; // BankClient: customers, sessions, accounts, statements, money movements, transfers
mod error; // ClientError: transport failures and problem+json answers

pub use admin::{wait_ready, AdminClient, Fault, Ready};
pub use bank::{BankClient, MoneyReply, PostOptions};
pub use error::ClientError;
pub use ringbank_wire as wire;
