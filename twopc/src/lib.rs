//! ringbank's cross-bank two-phase commit as pure state machines: a coordinator and a participant.
//!
//! A cross-bank transfer is started by its origin bank, the coordinator. While the origin holds
//! the ring's token with stamp `(epoch, token_seq)` it gives a batch of pending transfers their
//! place in the consortium-wide order, durably (`stamp`, `position`), and only then sends a
//! PREPARE with that stamp to every participant (every bank with a leg, and itself). A
//! participant fences the prepare (a stamp older than the newest it accepted, or an epoch below
//! its ring promise, is refused whole without changing anything), checks its shape, and votes on
//! each transfer: yes places holds on the debits (and remembers the credits and settlement legs
//! to post), no records the reason. The votes are durable before they are answered. The
//! coordinator logs a decision durably, commit only if every participant voted yes before the
//! vote deadline (the end of the lease), abort otherwise, and then delivers it to every
//! participant until each one acknowledges. A participant applies an outcome exactly once: commit
//! posts, abort releases the holds; an abort for a transfer it never prepared leaves a tombstone
//! that makes a late prepare vote no. A yes-voter that hears nothing asks the coordinator, then
//! the other participants; it never aborts on its own. A coordinator that restarts with ordered
//! transfers it never decided aborts them (presumed abort): their prepares may be out, but no
//! commit can have been sent, because a commit is sent only after its decision is durable.
//!
//! Invariants (checked by the simulator after every step, and asserted on both sides of each
//! hand-off in the cores):
//! - Atomicity: no transfer is committed at one participant and aborted at another; every
//!   participant's outcome is the coordinator's durable decision.
//! - A transfer is committed only if every participant durably voted yes.
//! - Presumed abort: an ordered transfer without a logged decision when its coordinator crashed
//!   ends aborted.
//! - Decisions are final; a participant's newest accepted stamp never goes back.
//! - Money: the sum of all balances is constant, no customer balance goes below its holds, and
//!   every hold is resolved exactly once.
//! - Liveness once faults stop: every transfer is decided and every participant applies it.
//!
//! The crate does no I/O and reads no clock. The driver feeds events with an explicit `now` (its
//! own monotonic clock, in milliseconds) and carries out the returned actions in order. Every
//! `Persist` must be durable before any later action of the same list is carried out; a failed
//! `Persist` stops the bank (it restarts from what is on disk). See README.md.

mod coordinator;
mod deliberate_bug;
mod message;
mod participant;
pub mod reason;
pub mod sim;
mod validate;

pub use coordinator::{
    AbortReason, CoordinatedTransfer, Coordinator, CoordinatorAction, CoordinatorConfig, CoordinatorState, CoordinatorWrite, Decision,
};
pub use message::{
    answer_query, Account, CrashPoint, Knowledge, Leg, Message, OutcomeItem, Payer, PendingTransfer, Prepare, PrepareItem, Refusal,
    SettlementLeg, TransferId, TransferKind, TransferLeg, Vote, RESERVES_ACCOUNT, SETTLEMENT_INITIATOR,
};
pub use participant::{
    check_certificate, AccountLimits, Accounts, ConsentUse, ConsentView, Hold, Participant, ParticipantAction, ParticipantConfig,
    ParticipantState, ParticipantWrite, Participation, ParticipationStatus, Position, Posting, VoteRecord,
};
pub use ringbank_ring::{Certificate, Keys, Stamp};
pub use validate::{participants_of, payers_of, settlement_legs, validate_prepare, PrepareLimits};

/// A configured member bank; the driver maps bank names to these, as for the ring's `NodeId`.
pub type BankId = u16;

/// Milliseconds on one bank's monotonic clock (arbitrary origin), or a duration.
pub type Millis = u64;
