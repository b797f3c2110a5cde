//! The writer task: the only code that writes the database. It takes commands from a bounded
//! channel, runs as many as are waiting (up to a batch limit) inside ONE transaction with a
//! savepoint per command, commits once (one fsync for the whole batch: group commit), and only
//! then answers every command. A command is acknowledged only after its commit is durable.
//!
//! Local money movements skip the per-command statements: the batch's other commands run
//! first, each under its savepoint, then every local money movement of the batch is validated
//! against the writer's in-memory accounts and written with a few multi-row statements
//! (`batch`). Should that part fail before the commit, the transaction is rolled back and the
//! whole batch runs again command by command, so one bad command still poisons nothing else.
//!
//! A storage fault (a full or failing disk, a database server that is down) fails the batch
//! without that second run: every command of it is answered `LedgerError::Unavailable`, the
//! in-memory accounts are dropped, and the next batch tries the database again, so the bank
//! takes work again as soon as the disk has room or the server is back.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::metrics::WriterStats;

use super::batch::{self, AccountCache};
use super::db::storage_fault;
use super::{jobs, Command, Ledger, LedgerError, Outcome};

/// Capacity of the writer's queue: callers wait (back-pressure) when it is full.
const QUEUE_CAPACITY: usize = 4096;

/// How long a batch waits for the writer's connection. The writer is the pool's only user,
/// so this bounds nothing but (re)connecting: while a database server is down, each batch is
/// refused as unavailable after this long instead of holding every queued command for the
/// pool's own 30 s.
const CONNECTION_WAIT: Duration = Duration::from_secs(5);

/// Starts the writer task on `write` and returns the ledger handle.
pub fn spawn_writer(
    bank: String,
    write: AnyPool,
    read: AnyPool,
    batch_max: usize,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Ledger {
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let (urgent_sender, urgent) = mpsc::channel(QUEUE_CAPACITY);
    let stats = Arc::new(WriterStats::default());
    tracker.spawn(run(bank.clone(), write, Queues { urgent, normal: receiver }, batch_max, stats.clone(), shutdown));
    Ledger::new(bank, sender, urgent_sender, read, stats)
}

struct Queues {
    urgent: mpsc::Receiver<Command>,
    normal: mpsc::Receiver<Command>,
}

async fn run(bank: String, pool: AnyPool, mut queues: Queues, batch_max: usize, stats: Arc<WriterStats>, shutdown: CancellationToken) {
    let mut batch: Vec<Command> = Vec::with_capacity(batch_max);
    let mut cache = AccountCache::default();
    loop {
        let first = tokio::select! {
            biased;
            command = queues.urgent.recv() => command,
            command = queues.normal.recv() => command,
            () = shutdown.cancelled() => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        // Urgent work first, then whatever else is waiting, within the batch limit.
        while batch.len() < batch_max {
            match queues.urgent.try_recv().or_else(|_| queues.normal.try_recv()) {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        stats.batch_size.observe(batch.len() as f64);
        commit_batch(&bank, &pool, &mut cache, &stats, &mut batch).await;
        stats.commit_seconds.observe_duration(started.elapsed());
        stats.commits.fetch_add(1, Ordering::Relaxed);
    }
    // Drain what was already queued so no accepted request is left without an answer.
    queues.urgent.close();
    queues.normal.close();
    while queues.urgent.recv_many(&mut batch, batch_max).await > 0 {
        commit_batch(&bank, &pool, &mut cache, &stats, &mut batch).await;
    }
    while queues.normal.recv_many(&mut batch, batch_max).await > 0 {
        commit_batch(&bank, &pool, &mut cache, &stats, &mut batch).await;
    }
    pool.close().await;
}

async fn commit_batch(bank: &str, pool: &AnyPool, cache: &mut AccountCache, stats: &WriterStats, batch: &mut Vec<Command>) {
    let commands: Vec<Command> = std::mem::take(batch);
    let outcome = match run_batch(bank, pool, cache, &commands).await {
        Ok(results) => Ok(results),
        Err(Failure::BeforeCommit(error)) if storage_fault(&error).is_some() => {
            // The same fault would fail every command of a second run.
            cache.clear();
            Err(error)
        }
        Err(Failure::BeforeCommit(error)) => {
            stats.batch_retries.fetch_add(1, Ordering::Relaxed);
            // Nothing was committed: run the batch again command by command, so that a bad
            // command fails alone.
            tracing::warn!(%error, commands = commands.len(), "batch failed before its commit; running it again command by command");
            cache.clear();
            run_in_transaction(bank, pool, &commands).await
        }
        Err(Failure::Commit(error)) => {
            cache.clear();
            Err(error)
        }
    };
    match outcome {
        Ok(results) => {
            // Paired with Ledger::submit, which waits for exactly one reply per command.
            assert_eq!(results.len(), commands.len(), "the writer answers every command of a batch exactly once");
            for (command, result) in commands.into_iter().zip(results) {
                let _ = command.reply.send(result);
            }
        }
        Err(error) => {
            let fault = storage_fault(&error);
            tracing::error!(%error, commands = commands.len(), "group commit failed; every command in it failed");
            for command in commands {
                let failed = match fault {
                    Some(fault) => LedgerError::Unavailable(fault),
                    None => LedgerError::Database(sqlx::Error::Protocol("group commit failed".to_string())),
                };
                let _ = command.reply.send(Err(failed));
            }
        }
    }
}

/// Why a batch did not commit: before the COMMIT nothing is written and the batch may run
/// again; a failed COMMIT is reported as is.
enum Failure {
    BeforeCommit(sqlx::Error),
    Commit(sqlx::Error),
}

/// Runs the batch in one transaction: every command that is not a local money movement under
/// its own savepoint, then the local money movements together in memory (`batch::run`).
/// Returns per-command results, in order, once the transaction is committed.
async fn run_batch(
    bank: &str,
    pool: &AnyPool,
    cache: &mut AccountCache,
    commands: &[Command],
) -> Result<Vec<Result<Outcome, LedgerError>>, Failure> {
    let mut connection = connection(pool).await.map_err(Failure::BeforeCommit)?;
    sqlx::query(begin_statement(&connection)).execute(&mut *connection).await.map_err(Failure::BeforeCommit)?;
    let changes = match run_batch_statements(&mut connection, bank, cache, commands).await {
        Ok(done) => done,
        Err(error) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
            return Err(Failure::BeforeCommit(error));
        }
    };
    if let Err(error) = sqlx::query("COMMIT").execute(&mut *connection).await {
        let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
        return Err(Failure::Commit(error));
    }
    let (results, changes) = changes;
    if let Some(changes) = changes {
        cache.apply(changes);
    }
    Ok(results)
}

type BatchDone = (Vec<Result<Outcome, LedgerError>>, Option<batch::Changes>);

async fn run_batch_statements(
    connection: &mut AnyConnection,
    bank: &str,
    cache: &mut AccountCache,
    commands: &[Command],
) -> Result<BatchDone, sqlx::Error> {
    let mut results: Vec<Option<Result<Outcome, LedgerError>>> = commands.iter().map(|_| None).collect();
    let mut local = Vec::new();
    for (index, command) in commands.iter().enumerate() {
        if batch::is_local_money(&command.job) {
            local.push(index);
            continue;
        }
        results[index] = Some(apply_one(connection, bank, command).await?);
        if !batch::leaves_accounts_alone(&command.job) {
            // The database moved under the cache (holds, postings, holders): read it again.
            cache.clear();
        }
    }
    let mut changes = None;
    if !local.is_empty() {
        let local_commands: Vec<&Command> = local.iter().map(|index| &commands[*index]).collect();
        let (local_results, local_changes) = batch::run(connection, bank, cache, &local_commands).await?;
        assert_eq!(local_results.len(), local.len(), "the fast path answers each of its commands once");
        for (index, result) in local.into_iter().zip(local_results) {
            results[index] = Some(result);
        }
        changes = Some(local_changes);
    }
    let results = results.into_iter().map(|r| r.expect("every command of the batch has run")).collect();
    Ok((results, changes))
}

/// The writer's connection, or `PoolTimedOut` after `CONNECTION_WAIT`.
async fn connection(pool: &AnyPool) -> Result<PoolConnection<Any>, sqlx::Error> {
    tokio::time::timeout(CONNECTION_WAIT, pool.acquire()).await.unwrap_or(Err(sqlx::Error::PoolTimedOut))
}

/// SQLite: take the write lock at BEGIN, not at the first write. PostgreSQL has row locks
/// and one writer connection; a plain BEGIN is enough.
fn begin_statement(connection: &AnyConnection) -> &'static str {
    if connection.backend_name() == "SQLite" {
        "BEGIN IMMEDIATE"
    } else {
        "BEGIN"
    }
}

/// Runs every command under its own savepoint in one transaction. Returns per-command results
/// once the transaction is committed; an error means nothing was committed.
async fn run_in_transaction(bank: &str, pool: &AnyPool, commands: &[Command]) -> Result<Vec<Result<Outcome, LedgerError>>, sqlx::Error> {
    let mut connection = connection(pool).await?;
    sqlx::query(begin_statement(&connection)).execute(&mut *connection).await?;
    let results = match apply_all(&mut connection, bank, commands).await {
        Ok(results) => results,
        Err(error) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
            return Err(error);
        }
    };
    if let Err(error) = sqlx::query("COMMIT").execute(&mut *connection).await {
        let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
        return Err(error);
    }
    Ok(results)
}

async fn apply_all(
    connection: &mut AnyConnection,
    bank: &str,
    commands: &[Command],
) -> Result<Vec<Result<Outcome, LedgerError>>, sqlx::Error> {
    let mut results = Vec::with_capacity(commands.len());
    for command in commands {
        results.push(apply_one(connection, bank, command).await?);
    }
    Ok(results)
}

/// Runs one command under its own savepoint. A database error inside one command poisons
/// nothing else, but it is unexpected: it is that command's result only.
async fn apply_one(connection: &mut AnyConnection, bank: &str, command: &Command) -> Result<Result<Outcome, LedgerError>, sqlx::Error> {
    sqlx::query("SAVEPOINT op").execute(&mut *connection).await?;
    let result = jobs::apply(connection, bank, &command.job, command.idempotency.as_ref()).await;
    if let Err(error) = &result {
        sqlx::query("ROLLBACK TO SAVEPOINT op").execute(&mut *connection).await?;
        // A final refusal is the request's answer: a repeat with its key gets it again.
        if let (Some(kind), Some(record)) = (error.refusal(), command.idempotency.as_ref()) {
            jobs::record_refusal(connection, record, kind, &error.to_string()).await?;
        }
    }
    sqlx::query("RELEASE SAVEPOINT op").execute(&mut *connection).await?;
    Ok(result)
}
