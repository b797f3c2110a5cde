//! Cross-bank transfers, coordinator side, and in-doubt resolution. Three loops per bank:
//! - the coordinator: while the origin has pending transfers it asks for the token; holding
//!   it, it runs batches (order durably, PREPARE every participant with the fencing stamp,
//!   collect votes, log decisions durably) until the lease nears its end, then passes it on;
//! - delivery: sends every logged decision to every participant until acknowledged;
//! - resolution: a participant that voted yes and heard nothing asks the coordinator, then
//!   the other participants, what became of the transfer; it never aborts on its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringbank_ring::Stamp;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Cross;
use crate::clock::wall_clock_ms;
use crate::ledger::cross::{settlement_legs, Decision, PendingTransfer};
use crate::ledger::Job;
use crate::protocol::{
    OutcomeRequest, OutcomeResponse, PrepareItem, PrepareRequest, PrepareResponse, QueryRequest, QueryResponse, RefusedOutcome, Vote,
    WireLeg, BATCH_MAX,
};

/// Transfers per batch.
const BATCH_SIZE: usize = 512;
/// A batch is started only with at least this much lease left.
const LEASE_MARGIN: Duration = Duration::from_millis(100);
/// How long to wait for the token before re-checking for work.
const TOKEN_WAIT: Duration = Duration::from_secs(2);
const RECHECK_INTERVAL: Duration = Duration::from_millis(500);
const DELIVERY_INTERVAL: Duration = Duration::from_millis(300);
pub(super) const RESOLVE_INTERVAL: Duration = Duration::from_secs(1);
/// A yes vote is in doubt once it is this old without an outcome.
pub(super) const IN_DOUBT_AFTER: Duration = Duration::from_secs(2);

pub fn spawn(cross: Arc<Cross>, tracker: &TaskTracker, shutdown: CancellationToken) {
    tracker.spawn(coordinate(cross.clone(), shutdown.clone()));
    tracker.spawn(deliver(cross.clone(), shutdown.clone()));
    tracker.spawn(resolve(cross, shutdown));
}

async fn coordinate(cross: Arc<Cross>, shutdown: CancellationToken) {
    // Transfers whose prepares may have gone out before a crash: presumed abort. Retried until
    // it is logged: until then their participants stay in doubt with their holds.
    let mut backoff = RetryBackoff::new();
    loop {
        match cross.ledger.submit(Job::PresumeAbort, None).await {
            Ok(_) => break,
            Err(error) => tracing::error!(bank = %cross.bank(), %error, "presumed abort at start-up failed; retrying"),
        }
        if !backoff.wait(&shutdown).await {
            return;
        }
    }
    cross.delivery_work.notify_one();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = cross.coordinator_work.notified() => {}
            () = tokio::time::sleep(RECHECK_INTERVAL) => {}
        }
        match cross.ledger.has_unordered_pending().await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(error) => {
                tracing::warn!(%error, "cannot read pending transfers");
                continue;
            }
        }
        cross.ring.want_token().await;
        let waited = Instant::now();
        let holding = tokio::select! {
            () = shutdown.cancelled() => return,
            holding = crate::ring_driver::wait_for_grant(&cross.ring, TOKEN_WAIT) => holding,
        };
        let Some(holding) = holding else { continue };
        add_micros(&cross, Phase::TokenWait, waited);
        let held = Instant::now();
        cross.faults.crash_point(ringbank_domain::CrashPoint::WhileHolding);
        // Phase one of every batch runs under the token: order, prepare, collect votes. The
        // decisions need no token: they are logged once it has been passed on.
        let mut position = 0u32;
        let mut prepared = Vec::new();
        while holding.lease_until.saturating_duration_since(Instant::now()) > LEASE_MARGIN {
            let batch = match cross.ledger.pending_batch(BATCH_SIZE).await {
                Ok(batch) if !batch.is_empty() => batch,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot read pending transfers");
                    break;
                }
            };
            let count = batch.len() as u32;
            if let Some(phase_one) = prepare_batch(&cross, holding.stamp, position, holding.lease_until, batch).await {
                prepared.push(phase_one);
            }
            position += count;
        }
        cross.ring.release().await;
        add_micros(&cross, Phase::Hold, held);
        cross.faults.crash_point(ringbank_domain::CrashPoint::AfterVotes);
        if !prepared.is_empty() {
            let deciding = Instant::now();
            if !decide(&cross, holding.stamp, prepared, &shutdown).await {
                return;
            }
            add_micros(&cross, Phase::Decide, deciding);
        }
    }
}

#[derive(Clone, Copy)]
enum Phase {
    TokenWait = 0,
    Hold = 1,
    OrderAndLocalPrepare = 2,
    RemotePrepare = 3,
    Decide = 4,
}

fn add_micros(cross: &Cross, phase: Phase, since: Instant) {
    let micros = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
    cross.phase_micros[phase as usize].fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
}

/// A batch after phase one: its transfers, their participants, and the votes received.
struct PreparedBatch {
    batch: Vec<PendingTransfer>,
    /// The position of the batch's first transfer under the stamp (the receipts name it).
    first_position: u32,
    participants_of: HashMap<String, Vec<String>>,
    votes: HashMap<(String, String), Vote>,
}

/// Phase one of a batch: its place in the global order is recorded durably in the same
/// commit as the local participant's votes, then every other participant gets its PREPARE
/// (concurrently); returns the votes. None if the batch could not even be ordered.
async fn prepare_batch(
    cross: &Arc<Cross>,
    stamp: Stamp,
    first_position: u32,
    lease_until: Instant,
    batch: Vec<PendingTransfer>,
) -> Option<PreparedBatch> {
    let me = cross.bank().to_string();
    cross.batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    cross.batched_transfers.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let ids: Vec<String> = batch.iter().map(|t| t.id.clone()).collect();
    let mut requests: BTreeMap<String, PrepareRequest> = BTreeMap::new();
    let mut participants_of: HashMap<String, Vec<String>> = HashMap::new();
    for (offset, transfer) in batch.iter().enumerate() {
        let mut nets: BTreeMap<String, i64> = BTreeMap::new();
        nets.insert(me.clone(), 0);
        for (bank, _, amount) in &transfer.legs {
            *nets.entry(bank.clone()).or_insert(0) += amount;
        }
        let participants: Vec<String> = nets.keys().cloned().collect();
        let nets: Vec<(String, i64)> = nets.into_iter().collect();
        let settlement: HashMap<String, Vec<crate::protocol::SettlementLeg>> = settlement_legs(&me, &nets).into_iter().collect();
        for bank in &participants {
            let legs = transfer
                .legs
                .iter()
                .filter(|(b, _, _)| b == bank)
                .map(|(_, account, amount)| WireLeg { account: account.clone(), amount_cents: *amount })
                .collect();
            let item = PrepareItem {
                id: transfer.id.clone(),
                kind: transfer.kind.clone(),
                initiated_by: transfer.initiated_by.clone(),
                description: transfer.description.clone(),
                position: first_position + offset as u32,
                participants: participants.clone(),
                legs,
                settlement: settlement.get(bank).cloned().unwrap_or_default(),
            };
            requests
                .entry(bank.clone())
                .or_insert_with(|| PrepareRequest { coordinator: me.clone(), stamp, transfers: Vec::new() })
                .transfers
                .push(item);
        }
        participants_of.insert(transfer.id.clone(), participants);
    }
    // The batch's place in the global order is durable before any prepare is sent. Then the
    // remote prepares are handed to the network, the crash point `after-prepare-sent` passes,
    // and only then does the local participant vote (concurrently with the remote ones).
    let started = Instant::now();
    if let Err(error) = cross.ledger.submit(Job::OrderBatch { ids, stamp }, None).await {
        tracing::error!(%error, "cannot order a batch; it stays pending");
        return None;
    }
    let ordered = started.elapsed();
    let local = requests.remove(&me);
    let remote_started = Instant::now();
    let remote = tokio::spawn(collect_votes(cross.clone(), requests, lease_until));
    tokio::task::yield_now().await;
    cross.faults.crash_point(ringbank_domain::CrashPoint::AfterPrepareSent);
    let local_started = Instant::now();
    let local_votes = match local {
        Some(request) => Some(super::participant::prepare(cross, &me, request).await),
        None => None,
    };
    let local_prepared = local_started.elapsed();
    let micros = u64::try_from((ordered + local_prepared).as_micros()).unwrap_or(u64::MAX);
    cross.phase_micros[Phase::OrderAndLocalPrepare as usize].fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
    let mut votes = match remote.await {
        Ok(votes) => votes,
        Err(error) => {
            tracing::error!(%error, "collecting remote votes failed; the batch aborts");
            HashMap::new()
        }
    };
    add_micros(cross, Phase::RemotePrepare, remote_started);
    cross.metrics.prepare_seconds.observe_duration(started.elapsed());
    match local_votes {
        Some(Ok(PrepareResponse { votes: local_votes })) => {
            for vote in local_votes {
                votes.insert((me.clone(), vote.id.clone()), vote);
            }
        }
        Some(Err(error)) => tracing::warn!(%error, "local prepare failed"),
        None => {}
    }
    Some(PreparedBatch { batch, first_position, participants_of, votes })
}

/// The decision on one transfer: commit only if it has participants and every one of them
/// voted yes (a transfer without participants has no vote to count, and cannot commit).
fn decision_on(id: &str, participants: Vec<String>, votes: &HashMap<(String, String), Vote>) -> Decision {
    let mut reason = participants.is_empty().then(|| "the transfer has no participants; it cannot commit".to_string());
    for bank in &participants {
        if reason.is_some() {
            break;
        }
        match votes.get(&(bank.clone(), id.to_string())) {
            Some(Vote { yes: true, .. }) => {}
            Some(Vote { reason: why, .. }) => reason = Some(format!("bank {bank}: {}", why.clone().unwrap_or_else(|| "refused".into()))),
            None => reason = Some(format!("bank {bank} did not answer in time")),
        }
    }
    Decision { id: id.to_string(), commit: reason.is_none(), reason, participants, receipt: None }
}

/// Logs the decisions of prepared batches (durably, before anyone is told): commit only if
/// every participant voted yes. A failed log is retried until it is durable (its participants
/// stay in doubt with their holds until then); false if the bank shut down first.
async fn decide(cross: &Arc<Cross>, stamp: Stamp, prepared: Vec<PreparedBatch>, shutdown: &CancellationToken) -> bool {
    let me = cross.bank().to_string();
    let mut decisions: Vec<Decision> = Vec::new();
    for PreparedBatch { batch, first_position, mut participants_of, votes } in prepared {
        for (offset, transfer) in batch.iter().enumerate() {
            let participants = participants_of.remove(&transfer.id).unwrap_or_default();
            let mut decision = decision_on(&transfer.id, participants, &votes);
            let position = first_position + offset as u32;
            let key = cross.peers.signing_key();
            decision.receipt = super::receipts::sign_decision(key, &me, transfer, stamp, position, decision.commit);
            decisions.push(decision);
        }
    }
    let committed = decisions.iter().filter(|d| d.commit).count();
    // This bank's own participant applies its outcomes in the same transaction: the decision is
    // durable exactly when the origin's legs are booked (no window where the transfer reads
    // committed at the origin but its legs there are not posted yet).
    let own: Vec<crate::protocol::OutcomeItem> = decisions
        .iter()
        .filter(|d| d.participants.iter().any(|bank| *bank == me))
        .map(|d| crate::protocol::OutcomeItem { id: d.id.clone(), commit: d.commit })
        .collect();
    let mut backoff = RetryBackoff::new();
    loop {
        let decide_started = std::time::Instant::now();
        let local = (!own.is_empty()).then(|| super::participant::own_outcomes(cross, own.clone()));
        match cross.ledger.submit(Job::Decide { decisions: decisions.clone(), local }, None).await {
            Ok(_) => {
                cross.metrics.decide_seconds.observe_duration(decide_started.elapsed());
                break;
            }
            Err(error) => tracing::error!(
                bank = %me,
                epoch = stamp.epoch,
                seq = stamp.seq,
                transfers = decisions.len(),
                %error,
                "cannot log decisions; retrying"
            ),
        }
        if !backoff.wait(shutdown).await {
            return false;
        }
    }
    tracing::info!(bank = %me, epoch = stamp.epoch, seq = stamp.seq, transfers = decisions.len(), committed, "batch decided");
    for decision in decisions.iter().filter(|d| !d.commit) {
        let reason = decision.reason.as_deref().unwrap_or("");
        tracing::info!(bank = %me, epoch = stamp.epoch, transfer_id = %decision.id, reason, "transfer aborted");
    }
    cross.faults.crash_point(ringbank_domain::CrashPoint::AfterDecisionLogged);
    for decision in &decisions {
        let _ = cross.finalized.send(decision.id.clone());
    }
    cross.delivery_work.notify_one();
    true
}

/// Waits between retries of a durable write that failed: 100 ms doubling up to 5 s.
struct RetryBackoff {
    next: Duration,
}

impl RetryBackoff {
    fn new() -> RetryBackoff {
        RetryBackoff { next: Duration::from_millis(100) }
    }

    /// False if the bank is shutting down.
    async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let wait = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(5));
        tokio::select! {
            () = shutdown.cancelled() => false,
            () = tokio::time::sleep(wait) => true,
        }
    }
}

/// Sends every other participant its prepare, concurrently; returns the votes by (bank,
/// transfer id). A bank that fails to answer simply has no votes. Nothing is sent once the
/// lease is over.
async fn collect_votes(
    cross: Arc<Cross>,
    requests: BTreeMap<String, PrepareRequest>,
    lease_until: Instant,
) -> HashMap<(String, String), Vote> {
    let mut votes = HashMap::new();
    let mut remote = Vec::new();
    for (bank, request) in requests {
        if Instant::now() >= lease_until {
            continue;
        }
        let Some(url) = cross.ring.members.node_of(&bank).and_then(|n| cross.ring.members.url_of(n)).map(str::to_string) else {
            continue;
        };
        if cross.faults.is_partitioned(&bank) {
            continue;
        }
        let (cross, request) = (cross.clone(), request);
        // A vote that arrives after the lease is worthless (the next holder's stamp fences this
        // one off), so the wait ends with the lease.
        let limit = lease_until.saturating_duration_since(Instant::now());
        remote.push(async move {
            let call = cross.peers.call::<_, PrepareResponse>(&url, "/bank/v1/prepare", &request);
            let answer = match tokio::time::timeout(limit, call).await {
                Ok(answer) => answer.map_err(|e| e.to_string()),
                Err(_) => Err("no vote before the lease ended".to_string()),
            };
            (bank, request.stamp, answer)
        });
    }
    let me = cross.bank();
    let answers = futures_util::future::join_all(remote).await;
    for (bank, stamp, answer) in answers {
        match answer {
            Ok(response) => {
                for vote in response.votes {
                    votes.insert((bank.clone(), vote.id.clone()), vote);
                }
            }
            Err(error) => {
                tracing::warn!(bank = %me, peer = %bank, epoch = stamp.epoch, seq = stamp.seq, %error, "prepare failed; its transfers will abort")
            }
        }
    }
    votes
}

async fn deliver(cross: Arc<Cross>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = cross.delivery_work.notified() => {}
            () = tokio::time::sleep(DELIVERY_INTERVAL) => {}
        }
        let groups = match cross.ledger.undelivered(8 * BATCH_MAX).await {
            Ok(groups) => groups,
            Err(error) => {
                tracing::warn!(%error, "cannot read undelivered outcomes");
                continue;
            }
        };
        let mut remote_delivered = false;
        for (bank, items) in groups {
            for chunk in items.chunks(BATCH_MAX) {
                let deliver_started = std::time::Instant::now();
                let delivered = deliver_to(&cross, &bank, chunk.to_vec()).await;
                if delivered.is_some() {
                    cross.metrics.deliver_seconds.observe_duration(deliver_started.elapsed());
                }
                if let Some(OutcomeResponse { final_ids: ids, refused }) = delivered {
                    if bank != cross.bank() && !ids.is_empty() {
                        remote_delivered = true;
                    }
                    if let Err(error) = cross.ledger.submit(Job::MarkDelivered { bank: bank.clone(), ids }, None).await {
                        tracing::warn!(%error, "cannot mark outcomes delivered");
                    }
                    if !refused.is_empty() {
                        for RefusedOutcome { id, reason } in &refused {
                            tracing::error!(bank = %cross.bank(), peer = %bank, transfer_id = %id, %reason, "participant refused an outcome; no longer delivered");
                        }
                        let ids = refused.into_iter().map(|r| r.id).collect();
                        if let Err(error) = cross.ledger.submit(Job::MarkRefused { bank: bank.clone(), ids }, None).await {
                            tracing::warn!(%error, "cannot mark outcomes refused");
                        }
                    }
                    if remote_delivered {
                        cross.faults.crash_point(ringbank_domain::CrashPoint::AfterCommitSent);
                    }
                }
            }
        }
    }
}

/// Delivers outcomes to one bank (this one through the local participant); returns its answer.
async fn deliver_to(cross: &Arc<Cross>, bank: &str, outcomes: Vec<crate::protocol::OutcomeItem>) -> Option<OutcomeResponse> {
    let me = cross.bank().to_string();
    let request = OutcomeRequest { coordinator: me.clone(), outcomes };
    if bank == me {
        return match super::participant::outcome(cross, &me, request).await {
            Ok(response) => Some(response),
            Err(error) => {
                tracing::warn!(%error, "applying outcomes locally failed");
                None
            }
        };
    }
    if cross.faults.is_partitioned(bank) {
        return None;
    }
    let url = cross.ring.members.node_of(bank).and_then(|n| cross.ring.members.url_of(n))?.to_string();
    match cross.peers.call::<_, OutcomeResponse>(&url, "/bank/v1/outcome", &request).await {
        Ok(response) => Some(response),
        Err(error) => {
            tracing::debug!(%error, %bank, "outcome not delivered; will retry");
            None
        }
    }
}

async fn resolve(cross: Arc<Cross>, shutdown: CancellationToken) {
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
            let mut known = ask(&cross, &coordinator, &coordinator, ids.clone()).await;
            // Still unknown: ask the other participants (one may have learned it already).
            let mut others: Vec<String> = transfers.iter().flat_map(|(_, p)| p.clone()).collect();
            others.sort();
            others.dedup();
            for other in others.iter().filter(|b| **b != coordinator && **b != cross.bank()) {
                let missing: Vec<String> = ids.iter().filter(|id| !known.iter().any(|k| &k.id == *id)).cloned().collect();
                if missing.is_empty() {
                    break;
                }
                known.extend(ask(&cross, other, &coordinator, missing).await);
            }
            if known.is_empty() {
                continue;
            }
            if let Err(error) = super::participant::learned(&cross, &coordinator, known).await {
                tracing::warn!(%error, "applying learned outcomes failed");
            }
        }
    }
}

async fn ask(cross: &Arc<Cross>, bank: &str, coordinator: &str, ids: Vec<String>) -> Vec<crate::protocol::OutcomeItem> {
    if bank == cross.bank() || cross.faults.is_partitioned(bank) {
        return Vec::new();
    }
    let Some(url) = cross.ring.members.node_of(bank).and_then(|n| cross.ring.members.url_of(n)).map(str::to_string) else {
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

/// Waits up to `timeout` for a transfer to become final here; true if it did.
pub async fn wait_final(cross: &Cross, id: &str, document: &str, timeout: Duration) -> bool {
    let mut notices = cross.finalized.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match cross.ledger.transfer_for(id, document).await {
            Ok(Some(view)) if view.status.is_final() => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        // Wait for a notice about this id (or any lag), then re-read.
        loop {
            match tokio::time::timeout_at(deadline, notices.recv()).await {
                Err(_) => return false,
                Ok(Ok(notice)) if notice != id => continue,
                Ok(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(id: &str, yes: bool) -> Vote {
        Vote { id: id.to_string(), yes, reason: (!yes).then(|| "no funds".to_string()) }
    }

    #[test]
    fn a_transfer_without_participants_cannot_commit() {
        let decision = decision_on("t1", Vec::new(), &HashMap::new());
        assert!(!decision.commit);
        assert!(decision.reason.unwrap().contains("no participants"));
    }

    #[test]
    fn commit_only_if_every_participant_voted_yes() {
        let banks = vec!["A".to_string(), "B".to_string()];
        let mut votes = HashMap::new();
        votes.insert(("A".to_string(), "t1".to_string()), vote("t1", true));
        let missing = decision_on("t1", banks.clone(), &votes);
        assert!(!missing.commit && missing.reason.unwrap().contains("bank B did not answer"));
        votes.insert(("B".to_string(), "t1".to_string()), vote("t1", false));
        let refused = decision_on("t1", banks.clone(), &votes);
        assert!(!refused.commit && refused.reason.unwrap().contains("bank B: no funds"));
        votes.insert(("B".to_string(), "t1".to_string()), vote("t1", true));
        assert!(decision_on("t1", banks, &votes).commit);
    }
}
