//! The customer API under /api/v1: what a client sends and what the bank answers. Requests are
//! what the client serializes (the server parses its own, stricter, request types); responses
//! the server serializes are defined here once and used by both sides.

use serde::{Deserialize, Serialize};

/// POST /api/v1/customers
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCustomer {
    pub document: String,
    pub name: String,
    pub password: String,
}

/// 201 answer to POST /api/v1/customers (the document without punctuation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerCreated {
    pub document: String,
    pub name: String,
}

/// POST /api/v1/sessions
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub document: String,
    pub password: String,
}

/// 200 answer to POST /api/v1/sessions; `token` goes in `Authorization: Bearer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub token: String,
    /// RFC 3339, seconds.
    pub expires_at: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    Individual,
    Joint,
    Company,
}

/// POST /api/v1/accounts: `holders` are the other holders of a joint account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccount {
    pub kind: AccountKind,
    #[serde(default)]
    pub holders: Vec<String>,
}

/// An account as the API shows it. `available_cents` is the balance minus holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountView {
    pub bank: String,
    pub number: String,
    pub kind: String,
    pub holders: Vec<String>,
    /// Holders who have not accepted the (joint) account yet; while any, it moves no money.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_holders: Vec<String>,
    pub balance_cents: i64,
    pub available_cents: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatementLine {
    pub entry_id: String,
    pub kind: String,
    pub description: String,
    pub amount_cents: i64,
    pub balance_after_cents: i64,
    pub line: i64,
    pub created_at: String,
}

/// GET /api/v1/accounts/{number}/statement: newest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatementPage {
    pub account: String,
    pub entries: Vec<StatementLine>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// POST /api/v1/deposits and /api/v1/withdrawals
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashRequest {
    pub account: String,
    pub amount_cents: i64,
}

/// One debit or credit of a transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    pub bank: String,
    pub account: String,
    pub amount_cents: i64,
    /// A debit at another bank than the one asked: the id of the consent the account's holder
    /// granted the asked bank there (POST /api/v1/consents at the account's bank).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

impl Leg {
    pub fn new(bank: &str, account: &str, amount_cents: i64) -> Leg {
        Leg { bank: bank.to_string(), account: account.to_string(), amount_cents, consent: None }
    }

    /// A debit at another bank, under the consent `consent`.
    pub fn consented(bank: &str, account: &str, amount_cents: i64, consent: &str) -> Leg {
        Leg { consent: Some(consent.to_string()), ..Leg::new(bank, account, amount_cents) }
    }
}

/// POST /api/v1/consents, at the bank where the account is: allows `grantee` to debit it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewConsent {
    pub grantee: String,
    pub account: String,
    pub max_per_transfer_cents: i64,
    pub max_total_cents: i64,
    pub valid_for_seconds: i64,
}

/// A consent as its grantor sees it. `status` is active, revoked or expired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentView {
    pub id: String,
    pub bank: String,
    pub grantee: String,
    pub account: String,
    pub max_per_transfer_cents: i64,
    pub max_total_cents: i64,
    pub used_cents: i64,
    pub status: String,
    pub expires_at: String,
    pub created_at: String,
}

/// POST /api/v1/transfers
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTransfer {
    pub debits: Vec<Leg>,
    pub credits: Vec<Leg>,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentTarget {
    pub bank: String,
    pub account: String,
}

/// POST /api/v1/payments: to a company account, at any bank.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPayment {
    pub from_account: String,
    pub to: PaymentTarget,
    pub amount_cents: i64,
    #[serde(default)]
    pub reference: String,
}

/// 201 (committed) or 202 (pending) answer to a money POST: {id, status}.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    pub id: String,
    pub status: String,
}

/// GET /api/v1/transfers/{id}, and the 200 answer to a transfer under `Prefer: wait`.
/// `status` is pending, committed or aborted; `reason` says why it aborted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferView {
    pub id: String,
    #[serde(default)]
    pub kind: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub debits: Vec<Leg>,
    #[serde(default)]
    pub credits: Vec<Leg>,
    #[serde(default)]
    pub created_at: String,
    /// The coordinator's signed decision (cross-bank transfers): check it with `ringbank verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ringbank_domain::SignedDecision>,
}
