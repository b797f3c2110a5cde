//! The participant's side of two-phase commit, run by the pure core (ringbank_twopc): who may
//! prepare or decide, fencing against stale stamps and the ring promise, validation of what it is
//! asked to book, durable votes, and outcomes applied exactly once. This module maps the wire
//! (bank names) to the core (`BankId`, the index in the member list), applies the core's checks
//! that need no ledger before the crash point `on-prepare`, and hands the rest to the ledger's
//! writer, which runs `Participant::on_prepare` / `on_outcome` / `on_known` inside the transaction
//! that stores their writes. The transport (the /bank/v1 routes) only authenticates the sending
//! bank and parses the body.

use ringbank_domain::CrashPoint;
use ringbank_twopc::{
    answer_query, BankId, CoordinatedTransfer, Coordinator, CoordinatorConfig, CoordinatorState, Leg, Message, Participant,
    ParticipantState, Participation, ParticipationStatus, Payer, PendingTransfer, Prepare, PrepareItem, Refusal, SettlementLeg, TransferId,
    TransferKind,
};

use super::Cross;
use crate::ledger::cross::{OutcomeJob, PrepareJob};
use crate::ledger::{Job, LedgerError, Outcome};
use crate::protocol::{
    OutcomeItem, OutcomeRequest, OutcomeResponse, PrepareRequest, PrepareResponse, QueryRequest, QueryResponse, RefusedOutcome, BATCH_MAX,
};

/// Why a participant refused a request; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ParticipantError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Malformed(String),
    /// Kept for the transport's mapping; the core reports a transfer that does not balance as
    /// `Malformed`.
    #[error("{0}")]
    Unbalanced(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<Refusal> for ParticipantError {
    fn from(refusal: Refusal) -> ParticipantError {
        match refusal {
            Refusal::NotTheCoordinator { from, coordinator } => {
                ParticipantError::Forbidden(format!("bank {from} cannot prepare for coordinator {coordinator}"))
            }
            Refusal::BelowRingPromise { got, promised_epoch } => {
                LedgerError::StaleStamp { got: got.to_string(), newest: format!("epoch {promised_epoch}") }.into()
            }
            Refusal::StaleStamp { got, newest } => LedgerError::StaleStamp { got: got.to_string(), newest: newest.to_string() }.into(),
            Refusal::Uncertified(message) => ParticipantError::Forbidden(message),
            Refusal::LimitExceeded(message) => ParticipantError::LimitExceeded(message),
            Refusal::Malformed(message) => ParticipantError::Malformed(message),
        }
    }
}

/// The core's id of a member bank (its index in the configured member list).
pub fn bank_id(cross: &Cross, name: &str) -> Option<BankId> {
    cross.ring.members().node_of(name)
}

fn member(cross: &Cross, name: &str, what: &str) -> Result<BankId, ParticipantError> {
    bank_id(cross, name).ok_or_else(|| ParticipantError::Malformed(format!("{what} names {name:?}, which is not a member bank")))
}

/// A wire prepare in the core's terms. What the core cannot represent (an unknown kind, a bank
/// that is not a member, an account number that does not parse) is malformed.
pub fn core_prepare(cross: &Cross, request: PrepareRequest) -> Result<Prepare, ParticipantError> {
    if request.transfers.len() > BATCH_MAX {
        return Err(ParticipantError::LimitExceeded(format!("at most {BATCH_MAX} transfers per prepare")));
    }
    let coordinator = bank_id(cross, &request.coordinator)
        .ok_or_else(|| ParticipantError::Forbidden(format!("{} is not a member", request.coordinator)))?;
    let mut transfers = Vec::with_capacity(request.transfers.len());
    for item in request.transfers {
        let kind = match item.kind.as_str() {
            "transfer" => TransferKind::Transfer,
            "payment" => TransferKind::Payment,
            "settlement" => TransferKind::Settlement,
            _ => return Err(ParticipantError::Malformed(format!("transfer {:?} is malformed", item.id))),
        };
        // Customer account numbers, and the reserves account in a settlement (which the core
        // votes on by its own rules).
        let account_ok = |account: &str| {
            account.parse::<ringbank_domain::AccountNumber>().is_ok()
                || (kind == TransferKind::Settlement && account == ringbank_twopc::RESERVES_ACCOUNT)
        };
        if !item.legs.iter().all(|leg| account_ok(&leg.account)) {
            return Err(ParticipantError::Malformed(format!("transfer {} has a malformed leg", item.id)));
        }
        let participants = item.participants.iter().map(|bank| member(cross, bank, "a participant")).collect::<Result<Vec<_>, _>>()?;
        let settlement = item
            .settlement
            .iter()
            .map(|leg| Ok(SettlementLeg { bank: member(cross, &leg.bank, "a settlement leg")?, amount_cents: leg.amount_cents }))
            .collect::<Result<Vec<_>, ParticipantError>>()?;
        let numbers = |payer: &crate::protocol::WirePayer| account_ok(&payer.account) && account_ok(&payer.credited);
        if !item.payers.iter().all(numbers) {
            return Err(ParticipantError::Malformed(format!("transfer {} names a malformed payer", item.id)));
        }
        let payers = item
            .payers
            .into_iter()
            .map(|payer| {
                Ok(Payer {
                    bank: member(cross, &payer.bank, "a payer")?,
                    account: payer.account,
                    amount_cents: payer.amount_cents,
                    credited: payer.credited,
                })
            })
            .collect::<Result<Vec<_>, ParticipantError>>()?;
        transfers.push(PrepareItem {
            refund_of: item.refund_of.map(TransferId),
            payers,
            id: TransferId(item.id),
            kind,
            initiated_by: item.initiated_by,
            description: item.description,
            position: item.position,
            participants,
            legs: item
                .legs
                .into_iter()
                .map(|leg| Leg { account: leg.account, amount_cents: leg.amount_cents, consent: leg.consent })
                .collect(),
            settlement,
        });
    }
    Ok(Prepare { coordinator, stamp: request.stamp, certificate: request.certificate, transfers })
}

/// PREPARE from bank `from` (this bank itself for its own batches): the core's checks that need
/// no ledger (sender is the coordinator, ring promise, validation), the crash point `on-prepare`,
/// then `Participant::on_prepare` in the writer's transaction (stale stamp, votes, holds).
pub async fn prepare(cross: &Cross, from: &str, request: PrepareRequest) -> Result<PrepareResponse, ParticipantError> {
    let from = bank_id(cross, from).ok_or_else(|| ParticipantError::Forbidden(format!("{from} is not a member")))?;
    let prepare = core_prepare(cross, request)?;
    if from != prepare.coordinator {
        return Err(Refusal::NotTheCoordinator { from, coordinator: prepare.coordinator }.into());
    }
    // The certificate, once per batch, before anything else is looked at (the core checks it
    // again in the writer's transaction, where the fence is compared).
    ringbank_twopc::check_certificate(&prepare, &cross.participant_config(), &cross.ring.keys)?;
    let ring_promised_epoch = cross.ring.status().promised_epoch;
    if prepare.stamp.epoch < ring_promised_epoch {
        return Err(Refusal::BelowRingPromise { got: prepare.stamp, promised_epoch: ring_promised_epoch }.into());
    }
    let config = &cross.participant_config();
    ringbank_twopc::validate_prepare(&prepare, &config.limits, config.me, &config.members)?;
    cross.faults.crash_point(CrashPoint::OnPrepare);
    let job = PrepareJob {
        from,
        prepare,
        ring_promised_epoch,
        config: config.clone(),
        keys: cross.ring.keys.clone(),
        banks: cross.banks(),
        limit_window: {
            let now = crate::clock::wall_clock_ms();
            ringbank_domain::LimitWindow::at(now, cross.limits.time_zone.offset_at(now))
        },
    };
    match cross.ledger.submit(Job::Prepare(job), None).await? {
        Outcome::Votes(votes) => Ok(PrepareResponse { votes }),
        Outcome::Refused(refusal) => Err(refusal.into()),
        other => Err(LedgerError::Invariant(format!("prepare answered {other:?}")).into()),
    }
}

/// COMMIT/ABORT from bank `from`: only the coordinator delivers its outcomes (and only the
/// coordinator recorded at prepare settles a transfer: the core's rule, in the ledger job).
pub async fn outcome(cross: &Cross, from: &str, request: OutcomeRequest) -> Result<OutcomeResponse, ParticipantError> {
    if from != request.coordinator || request.outcomes.len() > BATCH_MAX {
        return Err(ParticipantError::Forbidden("only the coordinator delivers its outcomes, at most a batch at a time".into()));
    }
    let coordinator = member(cross, &request.coordinator, "the outcome")?;
    // Only a batch that commits something: a late abort of an earlier transfer (redelivered
    // after this bank restarted) must not set off a crash point armed for the next commit.
    if request.outcomes.iter().any(|outcome| outcome.commit) {
        cross.faults.crash_point(CrashPoint::OnCommit);
    }
    let (final_ids, refused) = apply(cross, coordinator, coordinator, request.outcomes, false).await?;
    let refused = refused.into_iter().map(|(id, reason)| RefusedOutcome { id, reason }).collect();
    Ok(OutcomeResponse { final_ids, refused })
}

/// Outcomes of `coordinator`'s transfers learned in answers to our queries (from the coordinator
/// or another participant): applied to the transfers in doubt here (`Participant::on_known`).
/// Returns the ids that became final here.
pub async fn learned(cross: &Cross, from: &str, coordinator: &str, known: Vec<OutcomeItem>) -> Result<Vec<String>, ParticipantError> {
    let from = member(cross, from, "the answer")?;
    let coordinator = member(cross, coordinator, "the answer")?;
    Ok(apply(cross, from, coordinator, known, true).await?.0)
}

/// The outcomes of this bank's own decisions at its own participant, for the ledger to apply in
/// the transaction that logs the decisions (`Job::Decide`).
pub fn own_outcomes(cross: &Cross, outcomes: Vec<OutcomeItem>) -> OutcomeJob {
    let me = cross.ring.registry.me();
    let outcomes = outcomes.into_iter().map(|o| ringbank_twopc::OutcomeItem { id: TransferId(o.id), commit: o.commit }).collect();
    OutcomeJob {
        from: me,
        coordinator: me,
        outcomes,
        learned: false,
        config: cross.participant_config(),
        keys: cross.ring.keys.clone(),
        banks: cross.banks(),
    }
}

async fn apply(
    cross: &Cross,
    from: BankId,
    coordinator: BankId,
    outcomes: Vec<OutcomeItem>,
    learned: bool,
) -> Result<(Vec<String>, Vec<(String, String)>), ParticipantError> {
    let outcomes = outcomes.into_iter().map(|o| ringbank_twopc::OutcomeItem { id: TransferId(o.id), commit: o.commit }).collect();
    let job = OutcomeJob {
        from,
        coordinator,
        outcomes,
        learned,
        config: cross.participant_config(),
        keys: cross.ring.keys.clone(),
        banks: cross.banks(),
    };
    match cross.ledger.submit(Job::ApplyOutcomes(job), None).await? {
        Outcome::Applied { final_ids, refused } => {
            for id in &final_ids {
                cross.finalized.send(id.clone());
            }
            Ok((final_ids, refused))
        }
        other => Err(LedgerError::Invariant(format!("outcome answered {other:?}")).into()),
    }
}

/// What became of some transfers, asked by bank `from`, as this bank knows it (as their
/// coordinator or a participant), answered by the core's `answer_query` over the ledger's records
/// of exactly these transfers, which also keeps a transfer from a bank that took no part in it
/// (not its coordinator, nor a participant recorded here). A transfer of ours we still have a
/// record of is never answered as "no record" (which presumes abort): the coordinator's state
/// holds every one of them, decided or not.
pub async fn query(cross: &Cross, from: &str, request: QueryRequest) -> Result<QueryResponse, ParticipantError> {
    if request.ids.len() > BATCH_MAX {
        return Err(ParticipantError::LimitExceeded(format!("at most {BATCH_MAX} ids per query")));
    }
    let asker = member(cross, from, "the query")?;
    let query_coordinator = member(cross, &request.coordinator, "the query")?;
    let records = cross.ledger.outcome_records(&request.ids).await?;
    let me = cross.ring.registry.me();
    let (mut coordinator_state, mut participant_state) = (CoordinatorState::default(), ParticipantState::default());
    let banks = |names: &[String]| names.iter().filter_map(|name| bank_id(cross, name)).collect::<Vec<BankId>>();
    for record in records {
        let id = TransferId(record.id);
        if let Some(status) = record.as_origin {
            let decision = match status.as_str() {
                "committed" => Some(true),
                "aborted" => Some(false),
                _ => None,
            };
            // Amounts and order are not needed to answer, only which banks the legs are at (who
            // may ask); `order: None` keeps `start` from presuming anything about an undecided
            // transfer.
            let legs = banks(&record.origin_banks)
                .into_iter()
                .map(|bank| ringbank_twopc::TransferLeg { bank, account: String::new(), amount_cents: 0, consent: None })
                .collect();
            let transfer = PendingTransfer {
                id: id.clone(),
                kind: TransferKind::Transfer,
                initiated_by: String::new(),
                description: String::new(),
                legs,
                refund_of: None,
            };
            let record =
                CoordinatedTransfer { transfer, submitted: 0, order: None, decision, reason: None, undelivered: Default::default() };
            coordinator_state.transfers.insert(id.clone(), record);
        }
        if let Some(status) = record.as_participant {
            // Recorded with its coordinator: a record of another coordinator than the one asked
            // about is not answered for it.
            let Some(coordinator) = record.coordinator.as_deref().and_then(|name| bank_id(cross, name)) else { continue };
            let participation = Participation {
                coordinator,
                participants: banks(&record.participants),
                voted_yes: Some(status != ParticipationStatus::Aborted),
                reason: None,
                status,
                holds: Vec::new(),
                postings: Vec::new(),
                consent_uses: Vec::new(),
            };
            participant_state.participations.insert(id, participation);
        }
    }
    let config = CoordinatorConfig { me, delivery_interval: 0, transfers_max: BATCH_MAX };
    let (coordinator, presumed) = Coordinator::start(config, coordinator_state, 0);
    debug_assert!(presumed.is_empty(), "answering a query decided something");
    let participant = Participant::start(cross.participant_config(), cross.ring.keys.clone(), participant_state, 0);
    let ids: Vec<TransferId> = request.ids.into_iter().map(TransferId).collect();
    match answer_query(&coordinator, &participant, asker, query_coordinator, &ids) {
        Message::Known { known, .. } => {
            Ok(QueryResponse { known: known.into_iter().map(|k| OutcomeItem { id: k.id.0, commit: k.commit }).collect() })
        }
        other => Err(LedgerError::Invariant(format!("a query answered {}", other.kind())).into()),
    }
}
