//! Read-only queries for the ring monitor: the most recent cross-bank transfers this bank
//! took part in, as coordinator (table transfers, rows with an origin) or as participant
//! (table participations). They run on the ledger's read pool.

use serde::Serialize;

use super::Ledger;

/// One cross-bank transfer as the monitor lists it.
#[derive(Clone, Debug, Serialize)]
pub struct CrossTransfer {
    pub id: String,
    /// "coordinator" (it started here) or "participant".
    pub role: &'static str,
    pub coordinator: String,
    pub status: String,
    pub reason: Option<String>,
    /// What the transfer moves (credits), known where it started.
    pub amount_cents: Option<i64>,
    pub created_at_ms: i64,
}

/// How many of the newest rows of each table are looked at: the monitor polls every second,
/// so its queries must not scan a large ledger. (Rows are read newest first through the
/// created_at_ms indexes.)
const SCAN_ROWS: i64 = 5000;

/// Transfers prepared here whose outcome is not known yet (uses index participations_status).
pub async fn in_doubt_count(ledger: &Ledger) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM participations WHERE status = 'prepared'").fetch_one(ledger.read_pool()).await?;
    Ok(count)
}

/// The `limit` newest cross-bank transfers seen at this bank, newest first (among the last
/// SCAN_ROWS transfers and participations).
pub async fn recent_cross_transfers(ledger: &Ledger, limit: u32) -> Result<Vec<CrossTransfer>, sqlx::Error> {
    let limit = i64::from(limit);
    let started: Vec<(String, String, Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT t.id, t.status, t.reason, t.created_at_ms, \
                (SELECT CAST(COALESCE(SUM(l.amount_cents), 0) AS BIGINT) FROM transfer_legs l WHERE l.transfer_id = t.id AND l.side = 'credit') \
         FROM (SELECT id, status, reason, created_at_ms, origin FROM transfers ORDER BY created_at_ms DESC LIMIT $1) t \
         WHERE t.origin IS NOT NULL ORDER BY t.created_at_ms DESC, t.id LIMIT $2",
    )
    .bind(SCAN_ROWS)
    .bind(limit)
    .fetch_all(ledger.read_pool())
    .await?;
    let joined: Vec<(String, String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT transfer_id, coordinator, status, reason, created_at_ms \
         FROM (SELECT * FROM participations ORDER BY created_at_ms DESC LIMIT $1) recent \
         WHERE coordinator <> $2 ORDER BY created_at_ms DESC, transfer_id LIMIT $3",
    )
    .bind(SCAN_ROWS)
    .bind(ledger.bank())
    .bind(limit)
    .fetch_all(ledger.read_pool())
    .await?;
    let mut all: Vec<CrossTransfer> = started
        .into_iter()
        .map(|(id, status, reason, created_at_ms, amount)| CrossTransfer {
            id,
            role: "coordinator",
            coordinator: ledger.bank().to_string(),
            status,
            reason,
            amount_cents: Some(amount),
            created_at_ms,
        })
        .chain(joined.into_iter().map(|(id, coordinator, status, reason, created_at_ms)| CrossTransfer {
            id,
            role: "participant",
            coordinator,
            status: if status == "prepared" { "in-doubt".to_string() } else { status },
            reason,
            amount_cents: None,
            created_at_ms,
        }))
        .collect();
    all.sort_by(|a, b| b.created_at_ms.cmp(&a.created_at_ms).then_with(|| a.id.cmp(&b.id)));
    all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(all)
}
