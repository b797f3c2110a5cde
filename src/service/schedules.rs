//! Scheduled transfers (agendamento): a customer schedules a transfer from their account here
//! for a local date and time, once or weekly or monthly; cancels it until it runs. The
//! bank's scheduler (`run_due`, called by app.rs every second) makes each due occurrence as a
//! normal transfer (limits, funds and consents checked as for any other) under an
//! Idempotency-Key derived from the schedule id and the occurrence, then records the run, which
//! moves the schedule on. A crash between the two makes the next try replay the first outcome
//! under that key: each occurrence is made at most once, and made as long as the bank is back
//! within the catch-up window (`--schedule-catch-up`, at most the keys' retention); later it is
//! recorded as missed. A refusal (insufficient funds, a limit) is the run's outcome: failed,
//! with its reason, shown on the dashboard.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use ringbank_domain::schedule::{occurrence_at, LocalDateTime, Repeat};
use ringbank_domain::{CrashPoint, RawLeg};

use super::operations::{check_amount, clean_text, post_money, transfer_job, validate_legs, PaymentTarget, TransferRequest};
use super::{Caller, ServiceError, Services};
use crate::clock::{new_id, wall_clock_ms};
use crate::ledger::schedules::{NewSchedule, RunRecord, RunView, ScheduleJob, ScheduleRecord};
use crate::ledger::{Job, LedgerError, Outcome};

/// Longest time ahead a schedule may start.
const AHEAD_MAX_MS: i64 = 366 * 24 * 3_600_000;
/// Most occurrences of a repeating schedule.
pub const OCCURRENCES_MAX: i64 = 520;
/// Schedules run per scheduler pass at most.
const PASS_MAX: i64 = 200;

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewScheduleRequest {
    pub from_account: String,
    pub to: PaymentTarget,
    pub amount_cents: i64,
    #[serde(default)]
    pub description: String,
    /// Local date and time of the first occurrence, "2026-12-05T09:00" (the bank's time zone).
    pub first_at: String,
    /// "once" (default), "weekly" or "monthly".
    #[serde(default)]
    pub repeat: Option<String>,
    /// How many occurrences in all (repeating schedules; none: until cancelled).
    #[serde(default)]
    pub occurrences: Option<i64>,
}

/// A schedule as the API shows it.
#[derive(Serialize, Clone, Debug)]
pub struct ScheduleBody {
    #[serde(flatten)]
    pub schedule: ScheduleRecord,
    /// When the next occurrence is due (RFC 3339), while active.
    pub next_at: Option<String>,
    pub runs: Vec<RunView>,
}

pub fn rfc3339(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(time).to_string()
}

pub fn body(schedule: ScheduleRecord, runs: Vec<RunView>) -> ScheduleBody {
    let next_at = schedule.next_at_ms.filter(|_| schedule.status == "active").map(rfc3339);
    let runs = runs.into_iter().filter(|r| r.schedule_id == schedule.id).collect();
    ScheduleBody { schedule, next_at, runs }
}

/// Validates and stores a schedule; its first occurrence must be in the future (within a year).
pub async fn create(state: &Services, caller: &Caller, request: &NewScheduleRequest) -> Result<ScheduleRecord, ServiceError> {
    check_amount(state, "amount_cents", request.amount_cents)?;
    let description = clean_text("description", &request.description, 0, super::operations::DESCRIPTION_MAX_CHARS)?;
    let debit =
        RawLeg { bank: state.bank().to_string(), account: request.from_account.clone(), amount_cents: request.amount_cents, consent: None };
    let credit =
        RawLeg { bank: request.to.bank.clone(), account: request.to.account.clone(), amount_cents: request.amount_cents, consent: None };
    let (debits, credits) = validate_legs(state, &[debit], &[credit])?;
    let repeat_text = request.repeat.as_deref().unwrap_or("once");
    let repeat = Repeat::parse(repeat_text)
        .ok_or_else(|| ServiceError::InvalidField(format!("repeat must be once, weekly or monthly (got {repeat_text:?})")))?;
    let occurrences_max = match (repeat, request.occurrences) {
        (_, Some(n)) if !(1..=OCCURRENCES_MAX).contains(&n) => {
            return Err(ServiceError::InvalidField(format!("occurrences must be between 1 and {OCCURRENCES_MAX}")))
        }
        (Repeat::Once, Some(n)) if n != 1 => return Err(ServiceError::InvalidField("a schedule to run once has one occurrence".into())),
        (Repeat::Once, _) => Some(1),
        (_, n) => n,
    };
    let first = LocalDateTime::parse(&request.first_at).map_err(|e| ServiceError::InvalidField(format!("first_at: {e}")))?;
    let now = wall_clock_ms();
    // The zone's offset now: exact where it has no daylight saving (America/Sao_Paulo since 2019).
    let offset = state.config.time_zone.offset_at(now);
    let first_at_ms = first.to_ms(offset);
    if first_at_ms <= now {
        return Err(ServiceError::InvalidField(format!("first_at {first} ({}) is not in the future", state.config.time_zone.name())));
    }
    if first_at_ms > now + AHEAD_MAX_MS {
        return Err(ServiceError::InvalidField("first_at is more than a year ahead".into()));
    }
    let job = Job::Schedule(ScheduleJob::Create(NewSchedule {
        id: new_id("sc"),
        owner: caller.document.clone(),
        repeat: repeat.as_str().to_string(),
        first_local: first.to_string(),
        from_account: debits[0].account.clone(),
        to_bank: credits[0].bank.clone(),
        to_account: credits[0].account.clone(),
        amount_cents: request.amount_cents,
        description,
        occurrences_max,
        first_at_ms,
    }));
    match state.ledger.submit(job, None).await? {
        Outcome::Schedule(record) => Ok(record),
        other => Err(ServiceError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

/// Cancels a schedule of the caller (cancelling twice is the same as once); occurrences that ran stay.
pub async fn cancel(state: &Services, caller: &Caller, id: &str) -> Result<ScheduleRecord, ServiceError> {
    let job = Job::Schedule(ScheduleJob::Cancel { id: id.trim().to_string(), owner: caller.document.clone() });
    match state.ledger.submit(job, None).await? {
        Outcome::Schedule(record) => Ok(record),
        other => Err(ServiceError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

/// The caller's schedules with their runs.
pub async fn list(state: &Services, caller: &Caller) -> Result<Vec<ScheduleBody>, ServiceError> {
    let (schedules, runs) = state.ledger.schedules_with_runs(&caller.document, 1_000).await?;
    Ok(schedules.into_iter().map(|s| body(s, runs.clone())).collect())
}

/// Runs of the caller's schedules that failed or were missed in the last `days` days (the
/// dashboard's notices).
pub async fn recent_failures(state: &Services, caller: &Caller, days: i64) -> Result<Vec<RunView>, ServiceError> {
    let since = wall_clock_ms() - days * 24 * 3_600_000;
    let runs = state.ledger.schedule_runs_of(&caller.document, 50).await?;
    Ok(runs.into_iter().filter(|r| r.ran_at_ms >= since && (r.status == "failed" || r.status == "missed")).collect())
}

/// Makes every due occurrence (one per schedule per pass; a schedule with several overdue
/// occurrences gets the next one on the next pass). Returns how many runs were recorded.
pub async fn run_due(state: &Arc<Services>) -> Result<usize, ServiceError> {
    let now = wall_clock_ms();
    let due = state.ledger.due_schedules(now, PASS_MAX).await?;
    let mut recorded = 0;
    for schedule in due {
        match run_one(state, &schedule, now).await {
            Ok(true) => recorded += 1,
            Ok(false) => {}
            Err(error) => tracing::warn!(schedule = %schedule.id, %error, "scheduled transfer not run yet; retrying on the next pass"),
        }
    }
    Ok(recorded)
}

/// Whether an error from posting a scheduled transfer is its final answer (the run failed) or
/// trouble worth another try (the run waits).
fn is_final(error: &ServiceError) -> bool {
    match error {
        ServiceError::Ledger(error) => {
            error.refusal().is_some() || matches!(error, LedgerError::Refused { .. } | LedgerError::AccountPending(_))
        }
        ServiceError::InvalidField(_)
        | ServiceError::InvalidDocument(_)
        | ServiceError::InvalidAmount(_)
        | ServiceError::LimitExceeded(_)
        | ServiceError::Unbalanced(_)
        | ServiceError::UnknownBank(_) => true,
        _ => false,
    }
}

async fn run_one(state: &Arc<Services>, schedule: &ScheduleRecord, now: i64) -> Result<bool, ServiceError> {
    let Some(due_at_ms) = schedule.next_at_ms else { return Ok(false) };
    let invalid = |what: &str| ServiceError::Internal(format!("schedule {} has an invalid {what}", schedule.id));
    let repeat = Repeat::parse(&schedule.repeat).ok_or_else(|| invalid("repeat rule"))?;
    let first = LocalDateTime::parse(&schedule.first_local).map_err(|_| invalid("first date"))?;
    let occurrence = schedule.next_occurrence;
    let following = occurrence + 1;
    let next_at_ms = if schedule.occurrences_max.is_some_and(|max| following >= max) {
        None
    } else {
        u32::try_from(following).ok().and_then(|n| occurrence_at(first, repeat, n, state.config.time_zone.offset_at(wall_clock_ms())))
    };
    let catch_up_ms = i64::try_from(state.config.schedule_catch_up.as_millis()).unwrap_or(i64::MAX);
    let mut run = RunRecord {
        schedule_id: schedule.id.clone(),
        occurrence,
        due_at_ms,
        status: String::new(),
        transfer_id: None,
        reason: None,
        next_at_ms,
    };
    if now.saturating_sub(due_at_ms) > catch_up_ms {
        run.status = "missed".into();
        run.reason = Some(format!(
            "the bank was not running when it was due ({}) nor within the catch-up window of {} after; it was not made",
            rfc3339(due_at_ms),
            humantime::format_duration(state.config.schedule_catch_up)
        ));
    } else {
        let caller = Caller { document: schedule.owner.clone(), person: schedule.owner.len() == 11, name: String::new() };
        let request = TransferRequest {
            debits: vec![RawLeg {
                bank: state.bank().to_string(),
                account: schedule.from_account.clone(),
                amount_cents: schedule.amount_cents,
                consent: None,
            }],
            credits: vec![RawLeg {
                bank: schedule.to_bank.clone(),
                account: schedule.to_account.clone(),
                amount_cents: schedule.amount_cents,
                consent: None,
            }],
            description: schedule.description.clone(),
        };
        let key = format!("schedule:{}:{occurrence}", schedule.id);
        let canonical = serde_json::to_string(&request).unwrap_or_default();
        let posted = match transfer_job(state, &caller, &request) {
            Ok(job) => post_money(state, &caller, "transfers", job, &canonical, Some(key)).await,
            Err(error) => Err(error),
        };
        match posted {
            Ok(posted) => {
                state.cross.faults.crash_point(CrashPoint::AfterScheduledTransfer);
                run.status = posted.status.as_str().to_string();
                run.transfer_id = Some(posted.id);
            }
            Err(error) if is_final(&error) => {
                run.status = "failed".into();
                run.reason = Some(error.to_string());
            }
            Err(error) => return Err(error),
        }
    }
    state.ledger.submit(Job::Schedule(ScheduleJob::Record(run)), None).await?;
    Ok(true)
}
