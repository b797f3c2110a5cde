//! The bank's ledger: customers, accounts, a double-entry journal, holds, sessions and
//! idempotency records, in one SQL database (SQLite or PostgreSQL, see `db`). All SQL of the project lives under this module.
//!
//! Writes go through one writer task (see `writer`), which commits many operations in one
//! database transaction (group commit) with a savepoint per operation, so one operation's
//! failure never touches another's. Reads go straight to a pool of read connections.

pub mod audit;
mod batch;
pub mod consent;
pub mod cross;
mod cross_rows;
mod db;
pub mod directory;
mod jobs;
pub mod key_claims;
pub mod limits;
pub mod monitor;
mod ops;
pub mod pix;
mod queries;
mod recipient;
pub mod refunds;
mod rows;
pub mod schedules;
pub mod seed;
mod statement;
#[cfg(test)]
mod statement_lines_tests;
mod writer;

use std::sync::Arc;

pub use ringbank_domain::{AccountKind, CustomerKind, TransferKind, TransferStatus};
use serde::Serialize;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

pub use audit::{AuditCheck, AuditReport};
pub use db::{database_path, is_supported_url, open_pools, redact_url, DatabaseLocation, Pools, StorageFault};
pub use queries::{AccountView, CustomerRecord, StatementLine, StatementPage, TransferRecord};
pub use recipient::Recipient;
pub use statement::{StatementFilter, StatementRow};
pub use writer::{spawn_writer, WriterStats};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("a customer with this document already exists at this bank")]
    CustomerExists,
    #[error("this CPF already holds an individual account at this bank (a person may hold any number of joint accounts)")]
    IndividualAccountExists,
    #[error("{0} is not a customer of this bank")]
    UnknownCustomer(String),
    #[error("account {0} not found")]
    AccountNotFound(String),
    #[error("account {0} waits for every co-holder to accept it; until then it moves no money")]
    AccountPending(String),
    #[error("transfer {0} not found")]
    TransferNotFound(String),
    #[error("consent {0} not found")]
    ConsentNotFound(String),
    #[error("the consent code is unknown, expired, already used or for another bank")]
    ConsentCodeInvalid,
    #[error("account {account} has {available_cents} centavos available; {requested_cents} requested")]
    InsufficientFunds { account: String, available_cents: i64, requested_cents: i64 },
    #[error("account {0} is not a company account; payments go to company accounts")]
    NotACompanyAccount(String),
    #[error("{0}")]
    InvalidAccountKind(String),
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("stale stamp {got}: this bank already accepted a prepare stamped {newest}")]
    StaleStamp { got: String, newest: String },
    #[error("the amount would overflow an account's balance")]
    Overflow,
    /// A debit past one of the account's transfer limits: which one and what is left.
    #[error("{0}")]
    LimitExceeded(ringbank_domain::LimitRefusal),
    #[error("{0}")]
    InvalidLimits(String),
    /// A refund the original does not allow (nothing credited here, too old, more than is left).
    #[error("{0}")]
    RefundRefused(String),
    #[error("schedule {0} not found")]
    ScheduleNotFound(String),
    /// An interbank settlement the position does not cover.
    #[error("{0}")]
    SettlementRefused(String),
    /// A Pix key portability claim while the key has another one pending.
    #[error("{0}")]
    KeyClaimPending(String),
    /// A decision about a portability claim that is no longer pending.
    #[error("{0}")]
    KeyClaimClosed(String),
    /// A refusal recorded under an Idempotency-Key, given again to a repeat of the request.
    #[error("{detail}")]
    Refused { kind: RefusalKind, detail: String },
    /// The database cannot take work now (a full or failing disk, an unreachable server): an
    /// operating condition to wait out, not a bug. Nothing of the request was acknowledged;
    /// if the fault came at the commit itself, the request may still have taken effect, which
    /// a repeat under the same Idempotency-Key (or a read) tells.
    #[error("the bank's ledger is unavailable ({0}); the request was not completed: retry later, with the same Idempotency-Key")]
    Unavailable(StorageFault),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("the ledger is shutting down")]
    Stopped,
    #[error("ledger invariant violated: {0}")]
    Invariant(String),
}

impl From<sqlx::Error> for LedgerError {
    fn from(error: sqlx::Error) -> LedgerError {
        match db::storage_fault(&error) {
            Some(fault) => LedgerError::Unavailable(fault),
            None => LedgerError::Database(error),
        }
    }
}

/// The refusals of a money movement that are final for its request (the same request would be
/// refused the same way now), hence recorded under its Idempotency-Key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    InsufficientFunds,
    AccountNotFound,
    NotACompanyAccount,
    InvalidAccountKind,
    UnknownCustomer,
    Overflow,
    LimitExceeded,
    RefundRefused,
}

impl RefusalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalKind::InsufficientFunds => "insufficient_funds",
            RefusalKind::AccountNotFound => "account_not_found",
            RefusalKind::NotACompanyAccount => "not_a_company_account",
            RefusalKind::InvalidAccountKind => "invalid_account_kind",
            RefusalKind::UnknownCustomer => "unknown_customer",
            RefusalKind::Overflow => "overflow",
            RefusalKind::LimitExceeded => "limit_exceeded",
            RefusalKind::RefundRefused => "refund_refused",
        }
    }

    pub fn parse(text: &str) -> Option<RefusalKind> {
        use RefusalKind::*;
        [
            InsufficientFunds,
            AccountNotFound,
            NotACompanyAccount,
            InvalidAccountKind,
            UnknownCustomer,
            Overflow,
            LimitExceeded,
            RefundRefused,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

impl LedgerError {
    /// The kind of refusal to record under an Idempotency-Key; None for errors that are not a
    /// final answer to the request (database trouble, a reused key, a refusal already recorded).
    pub fn refusal(&self) -> Option<RefusalKind> {
        Some(match self {
            LedgerError::InsufficientFunds { .. } => RefusalKind::InsufficientFunds,
            LedgerError::AccountNotFound(_) => RefusalKind::AccountNotFound,
            LedgerError::NotACompanyAccount(_) => RefusalKind::NotACompanyAccount,
            LedgerError::InvalidAccountKind(_) => RefusalKind::InvalidAccountKind,
            LedgerError::UnknownCustomer(_) => RefusalKind::UnknownCustomer,
            LedgerError::Overflow => RefusalKind::Overflow,
            LedgerError::LimitExceeded(_) => RefusalKind::LimitExceeded,
            LedgerError::RefundRefused(_) => RefusalKind::RefundRefused,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Leg {
    pub bank: String,
    pub account: String,
    pub amount_cents: i64,
    /// A debit at another bank: the consent its customer granted this bank there (not shown).
    #[serde(default, skip_serializing)]
    pub consent: Option<String>,
}

/// A transfer between accounts of this bank, already validated for shape (sums, limits).
#[derive(Clone, Debug)]
pub struct LocalTransfer {
    pub id: String,
    pub kind: TransferKind,
    pub initiated_by: String,
    pub description: String,
    pub debits: Vec<Leg>,
    pub credits: Vec<Leg>,
    /// The periods of the debits' transfer limits (`ringbank_domain::limits`), computed by the
    /// service from the bank's clock and time zone; `None` only for movements no limit applies
    /// to (a refund of money received).
    pub limit_window: Option<ringbank_domain::LimitWindow>,
}

/// One write the writer task performs atomically.
#[derive(Clone, Debug)]
pub enum Job {
    CreateCustomer {
        document: String,
        kind: CustomerKind,
        name: String,
        password_hash: String,
    },
    CreateSession {
        token_hash: String,
        document: String,
        expires_at_ms: i64,
    },
    DeleteSession {
        token_hash: String,
    },
    /// A co-holder named when a joint account was opened accepts it.
    AcceptHolding {
        account: String,
        document: String,
    },
    OpenAccount {
        caller: String,
        caller_is_person: bool,
        kind: AccountKind,
        holders: Vec<String>,
    },
    Deposit {
        id: String,
        caller: String,
        account: String,
        amount_cents: i64,
    },
    Withdraw {
        id: String,
        caller: String,
        account: String,
        amount_cents: i64,
    },
    Transfer(LocalTransfer),
    /// A transfer with legs at other banks: stored as pending for the coordinator.
    SubmitCross(LocalTransfer),
    /// An interbank settlement this bank coordinates as the creditor (`cross::Settlement`):
    /// stored as pending for the coordinator, like a cross-bank transfer.
    SubmitSettlement(cross::Settlement),
    /// Gives each still-unordered transfer its place `(stamp, first_position + index)`.
    OrderBatch {
        ids: Vec<String>,
        stamp: ringbank_ring::Stamp,
        first_position: u32,
    },
    /// A participant votes on a prepare through the two-phase-commit core, in one transaction.
    Prepare(cross::PrepareJob),
    /// The coordinator's decisions (presumed aborts too), and with them (same transaction) the
    /// outcomes at this bank's own participant: a decision is durable if and only if its local
    /// outcome is applied.
    Decide {
        decisions: Vec<cross::Decision>,
        local: Option<cross::OutcomeJob>,
    },
    /// A participant applies outcomes through the core (delivered by the coordinator, or learned).
    ApplyOutcomes(cross::OutcomeJob),
    MarkDelivered {
        bank: String,
        ids: Vec<String>,
    },
    /// The participant `bank` refused these outcomes (a protocol violation, logged loudly):
    /// delivering them again cannot help, so they are kept apart and no longer retried.
    MarkRefused {
        bank: String,
        ids: Vec<String>,
    },
    /// Grant, revoke or redeem a consent, or link one brought from another bank.
    Consent(consent::ConsentJob),
    /// The Pix key directory's replica: a promise, accepted slots, a committed length.
    Directory(ringbank_ring::directory::Write),
    /// A holder changes an account's transfer limits.
    SetLimits(limits::SetLimits),
    /// The receiver of a transfer returns (part of) it.
    Refund(refunds::RefundJob),
    /// Create or cancel a scheduled transfer, or record the run of one of its occurrences.
    Schedule(schedules::ScheduleJob),
    /// A company account's new Pix charge (the creator must hold the account).
    PixCharge(pix::ChargeRecord),
    /// Open or decide a Pix key portability claim (either bank's side of it).
    KeyClaim(key_claims::KeyClaimJob),
    Purge {
        sessions_before_ms: i64,
        idempotency_before_ms: i64,
    },
}

impl Job {
    /// Whether a money movement this job posts comes back pending (stored for the two-phase
    /// commit): always for a cross-bank transfer, never for a local one; a refund is either,
    /// as the original came from this bank or another. None: it may be either.
    /// The id a cross-bank transfer will be stored under (known before it is posted).
    pub fn cross_transfer_id(&self) -> Option<&str> {
        match self {
            Job::SubmitCross(transfer) => Some(&transfer.id),
            _ => None,
        }
    }

    pub fn posts_pending(&self) -> Option<bool> {
        match self {
            Job::SubmitCross(_) | Job::SubmitSettlement(_) => Some(true),
            Job::Refund(_) => None,
            _ => Some(false),
        }
    }
}

/// What a successful job produced.
#[derive(Clone, Debug)]
pub enum Outcome {
    Done,
    Account(AccountView),
    /// A money movement was committed here, or stored as pending for the two-phase commit;
    /// a repeat with the same Idempotency-Key gets the same value back.
    Posted(Posted),
    Votes(Vec<crate::protocol::Vote>),
    /// A prepare refused whole by the participant core; nothing was written.
    Refused(ringbank_twopc::Refusal),
    /// Outcomes applied at this participant: the ids final here, and the outcomes refused
    /// (id, why) because they break the protocol (nothing was changed for them).
    Applied {
        final_ids: Vec<String>,
        refused: Vec<(String, String)>,
    },
    Consent(consent::ConsentRecord),
    Limits(limits::LimitsView),
    Schedule(schedules::ScheduleRecord),
}

/// What posting a money movement produced, as recorded under its Idempotency-Key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub id: String,
    /// Committed (all legs here) or pending (legs at other banks).
    pub status: TransferStatus,
}

/// Where an Idempotency-Key's outcome is recorded, atomically with the operation.
#[derive(Clone, Debug)]
pub struct IdempotencyRecord {
    pub document: String,
    pub key: String,
    pub request_hash: String,
}

pub(crate) struct Command {
    pub job: Job,
    pub idempotency: Option<IdempotencyRecord>,
    pub reply: oneshot::Sender<Result<Outcome, LedgerError>>,
}

/// Cheap handle to the ledger: a channel to the writer task and a read pool.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    bank: String,
    writer: mpsc::Sender<Command>,
    /// Jobs of the two-phase commit's critical section (ordering, prepares): the writer takes
    /// them before anything else, since the token is held while they wait.
    urgent: mpsc::Sender<Command>,
    read: AnyPool,
    stats: Arc<WriterStats>,
}

impl Ledger {
    pub(crate) fn new(
        bank: String,
        writer: mpsc::Sender<Command>,
        urgent: mpsc::Sender<Command>,
        read: AnyPool,
        stats: Arc<WriterStats>,
    ) -> Ledger {
        Ledger { inner: Arc::new(Inner { bank, writer, urgent, read, stats }) }
    }

    /// Transactions committed by the writer since start (each one fsync of the WAL on SQLite).
    pub fn commits(&self) -> u64 {
        self.inner.stats.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Batch sizes and commit times of the writer task.
    pub fn writer_stats(&self) -> &WriterStats {
        &self.inner.stats
    }

    /// Commands accepted but not yet taken by the writer.
    pub fn queue_depth(&self) -> usize {
        let pending = |queue: &mpsc::Sender<Command>| queue.max_capacity() - queue.capacity();
        pending(&self.inner.writer) + pending(&self.inner.urgent)
    }

    pub fn bank(&self) -> &str {
        &self.inner.bank
    }

    pub fn read_pool(&self) -> &AnyPool {
        &self.inner.read
    }

    /// Runs a job in the writer task and waits until it is durably committed (or failed).
    pub async fn submit(&self, job: Job, idempotency: Option<IdempotencyRecord>) -> Result<Outcome, LedgerError> {
        let (reply, receive) = oneshot::channel();
        let urgent = matches!(job, Job::OrderBatch { .. } | Job::Prepare(_) | Job::Directory(_));
        let command = Command { job, idempotency, reply };
        let queue = if urgent { &self.inner.urgent } else { &self.inner.writer };
        queue.send(command).await.map_err(|_| LedgerError::Stopped)?;
        receive.await.map_err(|_| LedgerError::Stopped)?
    }
}
