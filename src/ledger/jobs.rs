//! Runs one job inside the writer's transaction: replays a recorded Idempotency-Key, dispatches
//! to the local operations (`ops`) or the cross-bank ones (`cross`), and records the typed result
//! under the key in the same transaction.

use ringbank_domain::TransferStatus;
use sqlx::AnyConnection;

use super::{
    consent, cross, directory, key_claims, limits, ops, pix, refunds, schedules, IdempotencyRecord, Job, LedgerError, Outcome, Posted,
    RefusalKind,
};
use crate::clock::wall_clock_ms;

pub(super) async fn apply(
    connection: &mut AnyConnection,
    bank: &str,
    job: &Job,
    idempotency: Option<&IdempotencyRecord>,
) -> Result<Outcome, LedgerError> {
    if let Some(record) = idempotency {
        if let Some(replay) = replay_idempotent(connection, record).await? {
            return Ok(replay);
        }
    }
    let outcome = match job {
        Job::CreateCustomer { document, kind, name, password_hash } => {
            ops::create_customer(connection, document, *kind, name, password_hash).await?
        }
        Job::CreateSession { token_hash, document, expires_at_ms } => {
            sqlx::query("INSERT INTO sessions (token_hash, document, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4)")
                .bind(token_hash)
                .bind(document)
                .bind(wall_clock_ms())
                .bind(expires_at_ms)
                .execute(&mut *connection)
                .await?;
            Outcome::Done
        }
        Job::DeleteSession { token_hash } => {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&mut *connection).await?;
            Outcome::Done
        }
        Job::OpenAccount { caller, caller_is_person, kind, holders } => {
            ops::open_account(connection, bank, caller, *caller_is_person, *kind, holders).await?
        }
        Job::AcceptHolding { account, document } => ops::accept_holding(connection, bank, account, document).await?,
        Job::Deposit { id, caller, account, amount_cents } => {
            ops::require_holder(connection, account, caller).await?;
            let legs = [(account.as_str(), *amount_cents), (ops::CASH_ACCOUNT, -amount_cents)];
            ops::post_entry(connection, id, "deposit", "deposit", caller, &legs).await?;
            ops::posted(id)
        }
        Job::Withdraw { id, caller, account, amount_cents } => {
            ops::require_holder(connection, account, caller).await?;
            let legs = [(account.as_str(), -amount_cents), (ops::CASH_ACCOUNT, *amount_cents)];
            ops::post_entry(connection, id, "withdrawal", "withdrawal", caller, &legs).await?;
            ops::posted(id)
        }
        Job::Transfer(transfer) => ops::local_transfer(connection, transfer).await?,
        Job::SubmitCross(transfer) => cross::submit(connection, bank, transfer).await?,
        Job::SubmitSettlement(settlement) => cross::submit_settlement(connection, bank, settlement).await?,
        Job::OrderBatch { ids, stamp, first_position } => cross::order_batch(connection, ids, *stamp, *first_position).await?,
        Job::Prepare(prepare) => cross::prepare(connection, prepare).await?,
        Job::Decide { decisions, local } => {
            cross::decide(connection, decisions).await?;
            match local {
                Some(local) => cross::apply_local_outcomes(connection, bank, local).await?,
                None => Outcome::Done,
            }
        }
        Job::ApplyOutcomes(outcomes) => cross::apply_outcomes(connection, outcomes).await?,
        Job::MarkDelivered { bank: peer, ids } => cross::mark_delivered(connection, peer, ids, cross::DELIVERED).await?,
        Job::MarkRefused { bank: peer, ids } => cross::mark_delivered(connection, peer, ids, cross::REFUSED).await?,
        Job::Consent(job) => consent::apply(connection, job).await?,
        Job::Directory(write) => directory::apply(connection, write).await?,
        Job::SetLimits(job) => limits::set(connection, job).await?,
        Job::Refund(job) => refunds::refund(connection, bank, job).await?,
        Job::Schedule(job) => schedules::apply(connection, job).await?,
        Job::PixCharge(charge) => pix::create(connection, charge).await?,
        Job::KeyClaim(job) => key_claims::apply(connection, job).await?,
        Job::Purge { sessions_before_ms, idempotency_before_ms } => {
            sqlx::query("DELETE FROM sessions WHERE expires_at_ms < $1").bind(sessions_before_ms).execute(&mut *connection).await?;
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at_ms < $1")
                .bind(idempotency_before_ms)
                .execute(&mut *connection)
                .await?;
            sqlx::query("DELETE FROM limit_debits WHERE at_ms < $1")
                .bind(sessions_before_ms.saturating_sub(limits::KEEP_DEBITS_MS))
                .execute(&mut *connection)
                .await?;
            Outcome::Done
        }
    };
    // Paired with the service, which answers 201 for a committed and 202 for a pending
    // posting: a local movement commits here and now, a cross-bank one is only stored.
    if let Outcome::Posted(posted) = &outcome {
        if let Some(pending_expected) = job.posts_pending() {
            assert_eq!(posted.status == TransferStatus::Pending, pending_expected, "{job:?} posted as {:?}", posted.status);
        }
    }
    if let (Some(record), Outcome::Posted(posted)) = (idempotency, &outcome) {
        // status_code and response_body are the columns of the first schema, no longer read.
        sqlx::query(
            "INSERT INTO idempotency_keys \
             (document, idem_key, request_hash, status_code, response_body, result_id, result_status, created_at_ms) \
             VALUES ($1, $2, $3, 0, '', $4, $5, $6)",
        )
        .bind(&record.document)
        .bind(&record.key)
        .bind(&record.request_hash)
        .bind(&posted.id)
        .bind(posted.status.as_str())
        .bind(wall_clock_ms())
        .execute(&mut *connection)
        .await?;
    }
    Ok(outcome)
}

/// Records a refusal under the request's Idempotency-Key (after the refused job was rolled
/// back to its savepoint), so that a repeat gets the same refusal.
pub(super) async fn record_refusal(
    connection: &mut AnyConnection,
    record: &IdempotencyRecord,
    kind: RefusalKind,
    detail: &str,
) -> Result<(), sqlx::Error> {
    // status_code and response_body are the columns of the first schema, no longer read.
    sqlx::query(
        "INSERT INTO idempotency_keys \
         (document, idem_key, request_hash, status_code, response_body, refusal_kind, refusal_detail, created_at_ms) \
         VALUES ($1, $2, $3, 0, '', $4, $5, $6)",
    )
    .bind(&record.document)
    .bind(&record.key)
    .bind(&record.request_hash)
    .bind(kind.as_str())
    .bind(detail)
    .bind(wall_clock_ms())
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// An idempotency record as stored: the request's hash and its result or refusal.
#[derive(Clone, Debug)]
pub(super) struct StoredKey {
    pub request_hash: String,
    pub result_id: Option<String>,
    pub result_status: Option<String>,
    pub refusal_kind: Option<String>,
    pub refusal_detail: Option<String>,
}

/// The stored outcome of an earlier request with this key (a result, or a refusal given again
/// as `LedgerError::Refused`), or an error if the key was used for a different request.
async fn replay_idempotent(connection: &mut AnyConnection, record: &IdempotencyRecord) -> Result<Option<Outcome>, LedgerError> {
    type Row = (String, Option<String>, Option<String>, Option<String>, Option<String>);
    let stored: Option<Row> = sqlx::query_as(
        "SELECT request_hash, result_id, result_status, refusal_kind, refusal_detail FROM idempotency_keys WHERE document = $1 AND idem_key = $2",
    )
    .bind(&record.document)
    .bind(&record.key)
    .fetch_optional(&mut *connection)
    .await?;
    let stored = stored.map(|(request_hash, result_id, result_status, refusal_kind, refusal_detail)| StoredKey {
        request_hash,
        result_id,
        result_status,
        refusal_kind,
        refusal_detail,
    });
    replay_of(record, stored)
}

/// What a request with `record`'s key gets given what is stored under the key (None: nothing,
/// run the request).
pub(super) fn replay_of(record: &IdempotencyRecord, stored: Option<StoredKey>) -> Result<Option<Outcome>, LedgerError> {
    let Some(stored) = stored else { return Ok(None) };
    if stored.request_hash != record.request_hash {
        return Err(LedgerError::IdempotencyKeyReused);
    }
    match stored {
        StoredKey { refusal_kind: Some(kind), refusal_detail: detail, .. } => {
            let kind = RefusalKind::parse(&kind).ok_or_else(|| LedgerError::Invariant(format!("unknown refusal kind {kind:?}")))?;
            Err(LedgerError::Refused { kind, detail: detail.unwrap_or_default() })
        }
        StoredKey { result_id: Some(id), result_status: Some(status), .. } => {
            let status = status.parse().map_err(|e| LedgerError::Invariant(format!("idempotency record {id}: {e}")))?;
            Ok(Some(Outcome::Posted(Posted { id, status })))
        }
        _ => Err(LedgerError::Invariant(format!("idempotency record {:?} has neither a result nor a refusal", record.key))),
    }
}
