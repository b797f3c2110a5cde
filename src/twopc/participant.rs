//! The participant's side of two-phase commit: who may prepare or decide, fencing against
//! stale stamps, validation of what it is asked to book, durable votes, and outcomes applied
//! idempotently. The transport (the /bank/v1 routes) only authenticates the sending bank and
//! parses the body; every rule is here.

use ringbank_domain::CrashPoint;

use super::Cross;
use crate::ledger::{Job, LedgerError, Outcome};
use crate::protocol::{OutcomeRequest, OutcomeResponse, PrepareRequest, PrepareResponse, QueryRequest, QueryResponse, BATCH_MAX};

/// Why a participant refused a request; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ParticipantError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Unbalanced(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// PREPARE from bank `from`: fence, validate, vote durably.
pub async fn prepare(cross: &Cross, from: &str, request: PrepareRequest) -> Result<PrepareResponse, ParticipantError> {
    if from != request.coordinator {
        return Err(ParticipantError::Forbidden(format!("bank {from} cannot prepare for coordinator {}", request.coordinator)));
    }
    // Fencing: a stamp older than this bank's ring promise is refused outright (the ledger
    // also refuses stamps older than the newest prepare it accepted).
    let promised = cross.ring.status().promised_epoch;
    if request.stamp.epoch < promised {
        return Err(LedgerError::StaleStamp { got: request.stamp.to_string(), newest: format!("epoch {promised}") }.into());
    }
    validate_prepare(cross, &request)?;
    cross.faults.crash_point(CrashPoint::OnPrepare);
    match cross.ledger.submit(Job::Prepare(request), None).await? {
        Outcome::Votes(votes) => Ok(PrepareResponse { votes }),
        other => Err(LedgerError::Invariant(format!("prepare answered {other:?}")).into()),
    }
}

/// The participant checks what it is asked to book before voting: bounded sizes, its own
/// customer accounts by number, member banks for settlement, legs that sum to zero.
fn validate_prepare(cross: &Cross, request: &PrepareRequest) -> Result<(), ParticipantError> {
    if request.transfers.len() > BATCH_MAX {
        return Err(ParticipantError::LimitExceeded(format!("at most {BATCH_MAX} transfers per prepare")));
    }
    let members = &cross.ring.members;
    for item in &request.transfers {
        if item.legs.len() > cross.limits.max_legs || item.settlement.len() > members.list.len() {
            return Err(ParticipantError::LimitExceeded(format!("transfer {} has too many legs", item.id)));
        }
        if !matches!(item.kind.as_str(), "transfer" | "payment") || item.id.is_empty() || item.id.len() > 64 {
            return Err(ParticipantError::Malformed(format!("transfer {:?} is malformed", item.id)));
        }
        let mut total: i64 = 0;
        let overflow = || ParticipantError::Malformed(format!("transfer {} overflows", item.id));
        for leg in &item.legs {
            if leg.account.parse::<ringbank_domain::AccountNumber>().is_err()
                || leg.amount_cents == 0
                || leg.amount_cents.unsigned_abs() > cross.limits.max_amount_cents.unsigned_abs()
            {
                return Err(ParticipantError::Malformed(format!("transfer {} has a malformed leg", item.id)));
            }
            total = total.checked_add(leg.amount_cents).ok_or_else(overflow)?;
        }
        for leg in &item.settlement {
            if members.node_of(&leg.bank).is_none() || leg.bank == cross.bank() || leg.amount_cents == 0 {
                return Err(ParticipantError::Malformed(format!("transfer {} has a malformed settlement leg", item.id)));
            }
            total = total.checked_add(leg.amount_cents).ok_or_else(overflow)?;
        }
        if total != 0 || (item.legs.is_empty() && item.settlement.is_empty()) {
            return Err(ParticipantError::Unbalanced(format!("transfer {} does not balance at this bank", item.id)));
        }
    }
    Ok(())
}

/// COMMIT/ABORT from bank `from`: only the coordinator delivers its outcomes.
pub async fn outcome(cross: &Cross, from: &str, request: OutcomeRequest) -> Result<OutcomeResponse, ParticipantError> {
    if from != request.coordinator || request.outcomes.len() > BATCH_MAX {
        return Err(ParticipantError::Forbidden("only the coordinator delivers its outcomes, at most a batch at a time".into()));
    }
    cross.faults.crash_point(CrashPoint::OnCommit);
    let job = Job::ApplyOutcomes { coordinator: request.coordinator, outcomes: request.outcomes };
    match cross.ledger.submit(job, None).await? {
        Outcome::Final(final_ids) => {
            for id in &final_ids {
                let _ = cross.finalized.send(id.clone());
            }
            Ok(OutcomeResponse { final_ids })
        }
        other => Err(LedgerError::Invariant(format!("outcome answered {other:?}")).into()),
    }
}

/// What became of some transfers, as this bank knows it (as their coordinator or a participant).
pub async fn query(cross: &Cross, request: QueryRequest) -> Result<QueryResponse, ParticipantError> {
    if request.ids.len() > BATCH_MAX {
        return Err(ParticipantError::LimitExceeded(format!("at most {BATCH_MAX} ids per query")));
    }
    let as_coordinator = request.coordinator == cross.bank();
    let known = cross.ledger.known_outcomes(&request.ids, as_coordinator).await?;
    Ok(QueryResponse { known })
}
