//! Scheduled transfers (agendamento) as stored: schedules and the runs of their occurrences.
//! The transfers themselves are posted like any other (`Job::Transfer`/`SubmitCross` under an
//! Idempotency-Key derived from the schedule and the occurrence); recording a run moves the
//! schedule to its next occurrence, once (the job does nothing if another already did).

use sqlx::AnyConnection;

use super::ops::require_holder;
use super::{Ledger, LedgerError, Outcome};
use crate::clock::wall_clock_ms;

/// A new schedule, validated by the service.
#[derive(Clone, Debug)]
pub struct NewSchedule {
    pub id: String,
    pub owner: String,
    pub repeat: String,
    pub first_local: String,
    pub from_account: String,
    pub to_bank: String,
    pub to_account: String,
    pub amount_cents: i64,
    pub description: String,
    pub occurrences_max: Option<i64>,
    pub first_at_ms: i64,
}

/// What became of one occurrence.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub schedule_id: String,
    pub occurrence: i64,
    pub due_at_ms: i64,
    /// committed, pending, failed or missed.
    pub status: String,
    pub transfer_id: Option<String>,
    pub reason: Option<String>,
    /// When the next occurrence is due; None: this was the last one.
    pub next_at_ms: Option<i64>,
}

#[derive(Clone, Debug)]
pub enum ScheduleJob {
    Create(NewSchedule),
    Cancel { id: String, owner: String },
    Record(RunRecord),
}

/// A schedule as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ScheduleRecord {
    pub id: String,
    pub owner: String,
    pub repeat: String,
    pub first_local: String,
    pub from_account: String,
    pub to_bank: String,
    pub to_account: String,
    pub amount_cents: i64,
    pub description: String,
    pub occurrences_max: Option<i64>,
    pub next_occurrence: i64,
    pub next_at_ms: Option<i64>,
    pub status: String,
    pub created_at_ms: i64,
}

/// One run of a schedule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunView {
    pub schedule_id: String,
    pub occurrence: i64,
    pub due_at_ms: i64,
    pub ran_at_ms: i64,
    pub status: String,
    pub transfer_id: Option<String>,
    pub reason: Option<String>,
}

const COLUMNS: &str = "id, owner, repeat_rule, first_local, from_account, to_bank, to_account, amount_cents, description, \
     occurrences_max, next_occurrence, next_at_ms, status, created_at_ms";

type Row = (String, String, String, String, String, String, String, i64, String, Option<i64>, i64, Option<i64>, String, i64);

fn record(row: Row) -> ScheduleRecord {
    let (
        id,
        owner,
        repeat,
        first_local,
        from_account,
        to_bank,
        to_account,
        amount_cents,
        description,
        occurrences_max,
        next_occurrence,
        next_at_ms,
        status,
        created_at_ms,
    ) = row;
    ScheduleRecord {
        id,
        owner,
        repeat,
        first_local,
        from_account,
        to_bank,
        to_account,
        amount_cents,
        description,
        occurrences_max,
        next_occurrence,
        next_at_ms,
        status,
        created_at_ms,
    }
}

async fn load(connection: &mut AnyConnection, id: &str) -> Result<Option<ScheduleRecord>, LedgerError> {
    let sql = format!("SELECT {COLUMNS} FROM schedules WHERE id = $1");
    let row: Option<Row> = sqlx::query_as(&sql).bind(id).fetch_optional(&mut *connection).await?;
    Ok(row.map(record))
}

pub(super) async fn apply(connection: &mut AnyConnection, job: &ScheduleJob) -> Result<Outcome, LedgerError> {
    match job {
        ScheduleJob::Create(new) => {
            require_holder(connection, &new.from_account, &new.owner).await?;
            sqlx::query(
                "INSERT INTO schedules (id, owner, repeat_rule, first_local, from_account, to_bank, to_account, amount_cents, \
                 description, occurrences_max, next_occurrence, next_at_ms, status, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, 'active', $12)",
            )
            .bind(&new.id)
            .bind(&new.owner)
            .bind(&new.repeat)
            .bind(&new.first_local)
            .bind(&new.from_account)
            .bind(&new.to_bank)
            .bind(&new.to_account)
            .bind(new.amount_cents)
            .bind(&new.description)
            .bind(new.occurrences_max)
            .bind(new.first_at_ms)
            .bind(wall_clock_ms())
            .execute(&mut *connection)
            .await?;
            let stored = load(connection, &new.id).await?.ok_or_else(|| LedgerError::Invariant("schedule vanished".into()))?;
            Ok(Outcome::Schedule(stored))
        }
        ScheduleJob::Cancel { id, owner } => {
            let found =
                load(connection, id).await?.filter(|s| &s.owner == owner).ok_or_else(|| LedgerError::ScheduleNotFound(id.clone()))?;
            if found.status == "active" {
                sqlx::query("UPDATE schedules SET status = 'cancelled', cancelled_at_ms = $1, next_at_ms = NULL WHERE id = $2 AND status = 'active'")
                    .bind(wall_clock_ms())
                    .bind(id)
                    .execute(&mut *connection)
                    .await?;
            }
            let stored = load(connection, id).await?.ok_or_else(|| LedgerError::ScheduleNotFound(id.clone()))?;
            Ok(Outcome::Schedule(stored))
        }
        ScheduleJob::Record(run) => {
            // Only the occurrence the schedule is at moves it on (a repeat changes nothing); a
            // schedule cancelled meanwhile keeps the run (its transfer was made) and stays cancelled.
            let moved = sqlx::query(
                "UPDATE schedules SET next_occurrence = next_occurrence + 1, next_at_ms = $1, \
                 status = CASE WHEN status = 'active' AND $2 = 1 THEN 'finished' ELSE status END \
                 WHERE id = $3 AND next_occurrence = $4",
            )
            .bind(run.next_at_ms)
            .bind(i64::from(run.next_at_ms.is_none()))
            .bind(&run.schedule_id)
            .bind(run.occurrence)
            .execute(&mut *connection)
            .await?;
            if moved.rows_affected() == 1 {
                sqlx::query(
                    "INSERT INTO schedule_runs (schedule_id, occurrence, due_at_ms, ran_at_ms, status, transfer_id, reason) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&run.schedule_id)
                .bind(run.occurrence)
                .bind(run.due_at_ms)
                .bind(wall_clock_ms())
                .bind(&run.status)
                .bind(&run.transfer_id)
                .bind(&run.reason)
                .execute(&mut *connection)
                .await?;
            }
            Ok(Outcome::Done)
        }
    }
}

impl Ledger {
    /// Active schedules whose next occurrence is due at `now_ms`, soonest first.
    pub async fn due_schedules(&self, now_ms: i64, limit: i64) -> Result<Vec<ScheduleRecord>, LedgerError> {
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE status = 'active' AND next_at_ms <= $1 ORDER BY next_at_ms, id LIMIT $2");
        let rows: Vec<Row> = sqlx::query_as(&sql).bind(now_ms).bind(limit).fetch_all(self.read_pool()).await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// A customer's schedules, newest first, and the runs of them (newest first, at most
    /// `runs_limit`), read from one snapshot: a run recorded and its schedule moved on are one
    /// commit, and a reader never sees the one without the other (PostgreSQL's default READ
    /// COMMITTED would give each SELECT its own snapshot).
    pub async fn schedules_with_runs(&self, owner: &str, runs_limit: i64) -> Result<(Vec<ScheduleRecord>, Vec<RunView>), LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        let begin = if connection.backend_name() == "SQLite" { "BEGIN" } else { "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" };
        sqlx::query(begin).execute(&mut *connection).await?;
        let read = async {
            let sql = format!("SELECT {COLUMNS} FROM schedules WHERE owner = $1 ORDER BY created_at_ms DESC, id DESC LIMIT 200");
            let rows: Vec<Row> = sqlx::query_as(&sql).bind(owner).fetch_all(&mut *connection).await?;
            let runs = runs_of(&mut connection, owner, runs_limit).await?;
            Ok::<_, LedgerError>((rows.into_iter().map(record).collect(), runs))
        }
        .await;
        // Read-only: ending it either way changes nothing.
        let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
        read
    }

    /// One schedule of `owner` (None: not theirs or none).
    pub async fn schedule_of(&self, id: &str, owner: &str) -> Result<Option<ScheduleRecord>, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        Ok(load(&mut connection, id).await?.filter(|s| s.owner == owner))
    }

    /// The runs of a customer's schedules, newest first (at most `limit`).
    pub async fn schedule_runs_of(&self, owner: &str, limit: i64) -> Result<Vec<RunView>, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        runs_of(&mut connection, owner, limit).await
    }
}

async fn runs_of(connection: &mut AnyConnection, owner: &str, limit: i64) -> Result<Vec<RunView>, LedgerError> {
    type RunRow = (String, i64, i64, i64, String, Option<String>, Option<String>);
    let rows: Vec<RunRow> = sqlx::query_as(
        "SELECT r.schedule_id, r.occurrence, r.due_at_ms, r.ran_at_ms, r.status, r.transfer_id, r.reason \
             FROM schedule_runs r JOIN schedules s ON s.id = r.schedule_id WHERE s.owner = $1 \
             ORDER BY r.ran_at_ms DESC, r.schedule_id, r.occurrence DESC LIMIT $2",
    )
    .bind(owner)
    .bind(limit)
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(schedule_id, occurrence, due_at_ms, ran_at_ms, status, transfer_id, reason)| RunView {
            schedule_id,
            occurrence,
            due_at_ms,
            ran_at_ms,
            status,
            transfer_id,
            reason,
        })
        .collect())
}
