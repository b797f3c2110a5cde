//! In-doubt resolution, the participant's side: a transfer this bank voted yes on and heard
//! nothing of for `IN_DOUBT_AFTER` is asked about, every `RESOLVE_INTERVAL`, first of its
//! coordinator, then of the other participants (one may have learned it already); each answer is
//! applied through the participant core (`participant::learned`) as coming from the bank that
//! gave it, so only the coordinator's answer, or a proven one, is taken. It never aborts on its own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Cross;
use crate::clock::wall_clock_ms;
use crate::protocol::{QueryRequest, QueryResponse, BATCH_MAX};

pub(super) const RESOLVE_INTERVAL: Duration = Duration::from_secs(1);
/// A yes vote is in doubt once it is this old without an outcome.
pub(super) const IN_DOUBT_AFTER: Duration = Duration::from_secs(2);

pub(super) async fn resolve(cross: Arc<Cross>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RESOLVE_INTERVAL) => {}
        }
        let before = wall_clock_ms() - i64::try_from(IN_DOUBT_AFTER.as_millis()).unwrap_or(0);
        let doubts = match cross.ledger.in_doubt(before, BATCH_MAX).await {
            Ok(doubts) if !doubts.is_empty() => doubts,
            Ok(_) => continue,
            Err(error) => {
                tracing::warn!(%error, "cannot read in-doubt transfers");
                continue;
            }
        };
        for (id, coordinator, _) in &doubts {
            tracing::info!(bank = %cross.bank(), transfer_id = %id, %coordinator, "transfer in doubt: asking its coordinator");
        }
        let mut by_coordinator: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
        for (id, coordinator, participants) in doubts {
            by_coordinator.entry(coordinator).or_default().push((id, participants));
        }
        for (coordinator, transfers) in by_coordinator {
            let ids: Vec<String> = transfers.iter().map(|(id, _)| id.clone()).collect();
            // Each answer is applied as coming from the bank that gave it: the participant core
            // takes an outcome only from the transfer's coordinator, or with a proof of it.
            let mut answers = vec![(coordinator.clone(), ask(&cross, &coordinator, &coordinator, ids.clone()).await)];
            // Still unknown: ask the other participants (one may have learned it already).
            let mut others: Vec<String> = transfers.iter().flat_map(|(_, p)| p.clone()).collect();
            others.sort();
            others.dedup();
            for other in others.iter().filter(|b| **b != coordinator && **b != cross.bank()) {
                let missing: Vec<String> =
                    ids.iter().filter(|id| !answers.iter().any(|(_, known)| known.iter().any(|k| &k.id == *id))).cloned().collect();
                if missing.is_empty() {
                    break;
                }
                answers.push((other.clone(), ask(&cross, other, &coordinator, missing).await));
            }
            for (from, known) in answers.into_iter().filter(|(_, known)| !known.is_empty()) {
                if let Err(error) = super::participant::learned(&cross, &from, &coordinator, known).await {
                    tracing::warn!(%error, "applying learned outcomes failed");
                }
            }
        }
    }
}

async fn ask(cross: &Arc<Cross>, bank: &str, coordinator: &str, ids: Vec<String>) -> Vec<crate::protocol::OutcomeItem> {
    if bank == cross.bank() || cross.faults.is_partitioned(bank) {
        return Vec::new();
    }
    let members = cross.ring.members();
    let Some(url) = members.node_of(bank).and_then(|n| members.url_of(n)).map(str::to_string) else {
        return Vec::new();
    };
    let request = QueryRequest { coordinator: coordinator.to_string(), ids };
    match cross.peers.call::<_, QueryResponse>(&url, "/bank/v1/query", &request).await {
        Ok(response) => response.known,
        Err(error) => {
            tracing::debug!(%error, %bank, "outcome query failed");
            Vec::new()
        }
    }
}
