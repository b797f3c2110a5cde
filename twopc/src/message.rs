//! The values that cross a bank boundary (messages, transfers, legs, votes, outcomes) and the
//! answer to "what became of these transfers?", which needs both sides of a bank.

use crate::{BankId, Certificate, Coordinator, Participant, Stamp};

/// A transfer's id, chosen by its origin bank (random, so unique across the consortium).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TransferId(pub String);

impl std::fmt::Display for TransferId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A payment's credits must go to company accounts; the ledger checks that (`Accounts::check_leg`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TransferKind {
    Transfer,
    Payment,
    /// An interbank settlement: two banks record that the debtor paid the creditor reserves
    /// outside the ring, so the debtor's position with the creditor goes down by that amount. The
    /// creditor coordinates it (a bank can only give up a claim of its own); each bank books one
    /// leg on its reserves account (`RESERVES_ACCOUNT`) and the settlement leg that balances it,
    /// and votes yes only if the position, with every transfer in doubt counted against it, still
    /// covers the amount (`Accounts::position`). No other kind touches the reserves account.
    Settlement,
}

/// The account a bank keeps its reserves on (the other side of deposits and withdrawals; its
/// balance is negative when the bank holds reserves, as every balance is a liability). Only a
/// settlement (`TransferKind::Settlement`) books a cross-bank leg on it.
pub const RESERVES_ACCOUNT: &str = "cash";

/// Who a settlement is initiated by (`PendingTransfer::initiated_by`): the creditor bank's
/// operator, not a customer (no customer document looks like it).
pub const SETTLEMENT_INITIATOR: &str = "interbank-settlement";

/// One customer leg of a transfer as its origin stores it, signed: negative debits, positive credits.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TransferLeg {
    pub bank: BankId,
    pub account: String,
    pub amount_cents: i64,
    /// For a debit at another bank than the origin: the consent its customer granted the origin
    /// there (Open Finance's payment-initiation consent). `None` everywhere else.
    pub consent: Option<String>,
}

/// A transfer the origin stored as pending (`Job::SubmitCross`), as `pending_batch` reads it.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PendingTransfer {
    pub id: TransferId,
    pub kind: TransferKind,
    /// The document of the customer, as authenticated by the origin.
    pub initiated_by: String,
    pub description: String,
    pub legs: Vec<TransferLeg>,
    /// A refund (devolução): the transfer it returns, stored by the origin (the bank of the
    /// account refunded from, which checked it).
    pub refund_of: Option<TransferId>,
}

/// A customer leg at the receiving bank, signed.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Leg {
    pub account: String,
    pub amount_cents: i64,
    /// The consent that covers a debit the coordinator asks of another bank (see `ConsentView`).
    pub consent: Option<String>,
}

/// A leg on the receiving bank's settlement account for a peer bank, signed.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SettlementLeg {
    pub bank: BankId,
    pub amount_cents: i64,
}

/// An account a participant posts to: a customer's, or its settlement account for a peer.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Account {
    Customer(String),
    Settlement(BankId),
}

/// One transfer of a PREPARE, as the receiving participant sees it.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PrepareItem {
    pub id: TransferId,
    pub kind: TransferKind,
    pub initiated_by: String,
    pub description: String,
    /// Place in the batch: with the stamp, the transfer's place in the consortium-wide order.
    pub position: u32,
    /// Every bank taking part (the origin included), for asking one another about an outcome.
    pub participants: Vec<BankId>,
    /// Customer legs at the receiving bank.
    pub legs: Vec<Leg>,
    /// Settlement legs that balance the receiving bank's customer legs.
    pub settlement: Vec<SettlementLeg>,
    /// A refund: the transfer it returns. The receiving bank credits only an account that
    /// transfer debited there, and debits for it only when it is the coordinator.
    pub refund_of: Option<TransferId>,
    /// To a bank the transfer credits: who paid each of its credits there (what a receiver's
    /// bank needs to refund it, as a Pix message names its payer), by the leg-order rule of
    /// `ringbank_domain::refund::funding`. Empty to a bank it only debits.
    pub payers: Vec<Payer>,
}

/// `amount_cents` of the credit to `credited` (an account at the receiving bank) came from
/// `account` at `bank`. A credit's payers add up to it.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Payer {
    pub bank: BankId,
    pub account: String,
    pub amount_cents: i64,
    pub credited: String,
}

/// PREPARE: the coordinator asks a participant to vote on a batch, stamped with its token.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Prepare {
    pub coordinator: BankId,
    pub stamp: Stamp,
    /// The ring's quorum certificate that `coordinator` holds `stamp`, once per batch: a
    /// participant advances its fence only on a certified stamp.
    pub certificate: Option<Certificate>,
    pub transfers: Vec<PrepareItem>,
}

/// A participant's vote on one transfer.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Vote {
    pub id: TransferId,
    pub yes: bool,
    pub reason: Option<String>,
}

/// A decided outcome: commit or abort.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OutcomeItem {
    pub id: TransferId,
    pub commit: bool,
}

/// Why a participant refused a whole PREPARE without voting (an HTTP 4xx today). The
/// coordinator counts every transfer of it as "no vote".
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Refusal {
    /// Older than the newest prepare this participant accepted.
    StaleStamp { got: Stamp, newest: Stamp },
    /// The stamp's epoch is below this bank's ring promise.
    BelowRingPromise { got: Stamp, promised_epoch: u64 },
    /// The sender is not the coordinator it names.
    NotTheCoordinator { from: BankId, coordinator: BankId },
    /// No certificate, or one that does not prove the coordinator holds the stamp (wrong stamp
    /// or holder, too few or duplicate signers, a forged signature, an impossible epoch).
    Uncertified(String),
    /// A limit (transfers per prepare, legs per transfer) was exceeded.
    LimitExceeded(String),
    /// A transfer is malformed or does not balance at this bank.
    Malformed(String),
}

/// Every message of the protocol. Each one is safe to deliver twice, late or out of order.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Message {
    /// Coordinator -> participant (POST /bank/v1/prepare).
    Prepare(Prepare),
    /// Participant -> coordinator: the answer to a prepare, every vote durable.
    Votes { stamp: Stamp, votes: Vec<Vote> },
    /// Participant -> coordinator: the prepare was refused whole; nothing changed.
    Refused { stamp: Stamp, refusal: Refusal },
    /// Coordinator -> participant: decided outcomes, retried until acknowledged (POST /bank/v1/outcome).
    Outcome { coordinator: BankId, outcomes: Vec<OutcomeItem> },
    /// Participant -> coordinator: these transfers are final here (applied now or before).
    Final { ids: Vec<TransferId> },
    /// A participant in doubt asks what became of transfers of `coordinator` (POST /bank/v1/query).
    Query { coordinator: BankId, ids: Vec<TransferId> },
    /// The answer to a query: only the outcomes the answering bank knows.
    Known { coordinator: BankId, known: Vec<OutcomeItem> },
}

impl Message {
    /// A short name for logs and traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Prepare(_) => "prepare",
            Message::Votes { .. } => "votes",
            Message::Refused { .. } => "refused",
            Message::Outcome { .. } => "outcome",
            Message::Final { .. } => "final",
            Message::Query { .. } => "query",
            Message::Known { .. } => "known",
        }
    }
}

/// The named protocol points where the bank's fault injection may kill it: the domain's one
/// enum, so the core and `ringbank fault crash-at` name the same points.
pub use ringbank_domain::CrashPoint;

/// What one side of a bank knows of a transfer's outcome.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Knowledge {
    /// Decided (coordinator) or applied (participant): commit if true.
    Known(bool),
    /// Recorded here but not decided or not applied yet.
    Undecided,
    /// No record here.
    NoRecord,
}

/// Answers a `Query` by bank `asker` from what this bank knows as coordinator and as participant,
/// like `Ledger::known_outcomes`: a decision or an applied outcome is reported; a coordinator with
/// no record at all of its own transfer presumes abort; anything else is left out. Only the banks
/// that took part in a transfer learn what became of it: a transfer recorded here is left out
/// unless `asker` is its coordinator or one of its participants as recorded here.
pub fn answer_query(
    coordinator: &Coordinator,
    participant: &Participant,
    asker: BankId,
    query_coordinator: BankId,
    ids: &[TransferId],
) -> Message {
    let as_coordinator = query_coordinator == coordinator.me();
    let mut known = Vec::new();
    for id in ids.iter().filter(|id| may_learn(coordinator, participant, asker, query_coordinator, id)) {
        // Only a record of the coordinator asked about: another bank may have used the same id.
        let of_that_coordinator = participant.state().participations.get(id).is_none_or(|r| r.coordinator == query_coordinator);
        let as_participant = if of_that_coordinator { participant.knowledge(id) } else { Knowledge::NoRecord };
        let coordinator_knowledge = if as_coordinator { coordinator.knowledge(id) } else { Knowledge::NoRecord };
        let commit = match (coordinator_knowledge, as_participant) {
            (Knowledge::Known(commit), _) => Some(commit),
            (Knowledge::Undecided, _) => None,
            (Knowledge::NoRecord, Knowledge::Known(commit)) => Some(commit),
            (Knowledge::NoRecord, _) if as_coordinator => Some(false),
            (Knowledge::NoRecord, _) => None,
        };
        if let Some(commit) = commit {
            known.push(OutcomeItem { id: id.clone(), commit });
        }
    }
    Message::Known { coordinator: query_coordinator, known }
}

/// Whether bank `asker` took part in transfer `id` of `query_coordinator`, as far as this bank
/// recorded it (a transfer with no record of that coordinator here reveals nothing, and is
/// answered as unknown or presumed aborted).
fn may_learn(coordinator: &Coordinator, participant: &Participant, asker: BankId, query_coordinator: BankId, id: &TransferId) -> bool {
    let ours = coordinator
        .state()
        .transfers
        .get(id)
        .filter(|_| query_coordinator == coordinator.me())
        .map(|t| crate::validate::participants_of(coordinator.me(), &t.transfer.legs).contains(&asker));
    let theirs = participant
        .state()
        .participations
        .get(id)
        .filter(|r| r.coordinator == query_coordinator)
        .map(|r| r.coordinator == asker || r.participants.contains(&asker));
    match (ours, theirs) {
        (None, None) => true,
        (ours, theirs) => ours == Some(true) || theirs == Some(true),
    }
}
