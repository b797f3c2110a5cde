//! Wire types of the bank-to-bank two-phase commit (/bank/v1): prepare, outcome, query.

use ringbank_ring::{Certificate, Stamp};
use serde::{Deserialize, Serialize};

/// Most transfers in one prepare or outcome request.
pub const BATCH_MAX: usize = 1024;

/// Largest request body a bank accepts, in bytes (every endpoint: `http::reply::BODY_LIMIT_BYTES`
/// is this), so the largest prepare a coordinator may send.
pub const BODY_MAX_BYTES: u64 = 64 * 1024;

/// PREPARE: the coordinator (origin bank) asks a participant to vote on a batch, stamped with
/// the token it holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepareRequest {
    pub coordinator: String,
    pub stamp: Stamp,
    /// The ring's quorum certificate that the coordinator holds `stamp` (once per batch); a
    /// participant refuses a prepare without a valid one and changes nothing.
    #[serde(default)]
    pub certificate: Option<Certificate>,
    pub transfers: Vec<PrepareItem>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepareItem {
    pub id: String,
    /// "transfer" or "payment" (a payment's credits must go to company accounts).
    pub kind: String,
    /// The document of the customer, as authenticated by the coordinator: every debit here
    /// must be on an account this customer holds.
    pub initiated_by: String,
    pub description: String,
    /// Place in the batch: with the stamp, the transfer's place in the consortium-wide order.
    pub position: u32,
    /// Every bank taking part, for asking one another about an outcome.
    pub participants: Vec<String>,
    /// Customer legs at this bank, signed: negative debits, positive credits.
    pub legs: Vec<WireLeg>,
    /// Settlement legs against peer banks that balance this bank's customer legs.
    pub settlement: Vec<SettlementLeg>,
    /// A refund (devolução): the id of the transfer it returns. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_of: Option<String>,
    /// To a bank the transfer credits: who paid each of its credits there (bank, account and
    /// amount, matched in leg order), so a receiver's bank can refund it. Absent to a bank only
    /// debited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payers: Vec<WirePayer>,
}

/// `amount_cents` of the credit to `credited` (an account at the receiving bank) came from
/// `account` at `bank`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WirePayer {
    pub bank: String,
    pub account: String,
    pub amount_cents: i64,
    pub credited: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WireLeg {
    pub account: String,
    pub amount_cents: i64,
    /// A debit the coordinator asks of another bank: the id of the consent the account's holder
    /// granted the coordinator there. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SettlementLeg {
    pub bank: String,
    pub amount_cents: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Vote {
    pub id: String,
    pub yes: bool,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PrepareResponse {
    pub votes: Vec<Vote>,
}

/// COMMIT / ABORT, retried until acknowledged; applying one twice changes nothing.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    pub coordinator: String,
    pub outcomes: Vec<OutcomeItem>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OutcomeItem {
    pub id: String,
    pub commit: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutcomeResponse {
    /// The transfers that are final here now (applied now or before).
    pub final_ids: Vec<String>,
    /// Outcomes the participant refused because they break the protocol (a commit of a transfer
    /// it never prepared, the opposite of an outcome it applied, a sender that is not the
    /// transfer's coordinator): nothing was changed; delivering them again cannot help.
    #[serde(default)]
    pub refused: Vec<RefusedOutcome>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefusedOutcome {
    pub id: String,
    pub reason: String,
}

/// A participant in doubt asks what became of transfers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// The coordinator of these transfers (a coordinator with no record presumes abort).
    pub coordinator: String,
    pub ids: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QueryResponse {
    /// Only the transfers whose outcome this bank knows.
    pub known: Vec<OutcomeItem>,
}
