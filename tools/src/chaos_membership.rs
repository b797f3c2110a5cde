//! Membership changes in a chaos run (issue 16): spare banks, outside the founding member list,
//! join the running ring and leave it again while the load and the fault schedule go on. Each
//! spare is started with `serve --join` through a founding member, an operator's addition is
//! asked of a member (the next one when a member does not answer or refuses), the spare is
//! killed once while it is a member (the supervisor brings it back), then its removal is asked
//! the same way and, once the ring no longer lists it, the process is stopped for good. The plan
//! is drawn from the seed, on a stream of its own (the other faults keep their schedule).
//! While a spare is a member it carries customers' money, and it settles before it leaves
//! (`chaos_settle`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringbank_client::{AdminClient, BankClient, Fault};
use serde::Serialize;

use crate::chaos_settle::{self, Banks, Trail};
use crate::consortium_audit::Invariant;
use crate::local_ring::bank_id;
use crate::supervisor::Supervisor;

type Rng = ringbank_ring::sim::Rng;

/// A join or a leave is given up (and reported as not done) after this long.
const CHANGE_LIMIT: Duration = Duration::from_secs(60);
/// After a member accepts a proposal, how long its effect is waited for before asking again.
const TAKES_EFFECT_LIMIT: Duration = Duration::from_secs(15);
const RETRY_PAUSE: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(200);
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// Start the spare with --join through `via`, and ask `via` to add it.
    Join,
    /// kill -9 of the spare while it is a member (restarted by the supervisor).
    Crash,
    /// Ask `via` to remove the spare; stop it once removed.
    Leave,
}

/// One scheduled membership change, at `at_ms` after the load starts.
#[derive(Clone, Debug, Serialize)]
pub struct ScheduledChange {
    pub at_ms: u64,
    /// The spare's index (after the founding members).
    pub bank: usize,
    pub kind: ChangeKind,
    /// The founding member asked first.
    pub via: usize,
}

/// What became of one scheduled change.
#[derive(Clone, Debug, Serialize)]
pub struct ChangeOutcome {
    pub at_ms: u64,
    pub bank: String,
    pub kind: ChangeKind,
    /// The member whose proposal took effect (or the last one asked).
    pub via: String,
    pub done: bool,
    /// From the first request to the ring listing the change (joins and leaves).
    pub took_ms: u64,
    pub detail: String,
    /// Cash the spare's money trail deposited (acknowledged), for the chaos run's money check.
    pub cash_cents: i64,
}

/// The plan: each spare gets an equal slice of the run; it joins early in its slice, is killed
/// in the middle, and leaves in the second half.
pub fn schedule(seed: u64, founding: usize, spares: usize, duration: Duration) -> Vec<ScheduledChange> {
    let mut rng = Rng::new(seed ^ 0x4D45_4D42_4552_5331);
    let start = 1500u64;
    let end = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).saturating_sub(3000);
    if spares == 0 || founding == 0 || end <= start {
        return Vec::new();
    }
    let slot = (end - start) / spares as u64;
    let mut out = Vec::new();
    for k in 0..spares {
        let base = start + slot * k as u64;
        let bank = founding + k;
        let at = |rng: &mut Rng, sixth: u64| base + slot * sixth / 6 + rng.below(slot / 6 + 1);
        let via = |rng: &mut Rng| rng.below(founding as u64) as usize;
        let (join_at, join_via) = (at(&mut rng, 0), via(&mut rng));
        let (crash_at, crash_via) = (at(&mut rng, 2), via(&mut rng));
        let (leave_at, leave_via) = (at(&mut rng, 4), via(&mut rng));
        out.push(ScheduledChange { at_ms: join_at, bank, kind: ChangeKind::Join, via: join_via });
        out.push(ScheduledChange { at_ms: crash_at, bank, kind: ChangeKind::Crash, via: crash_via });
        out.push(ScheduledChange { at_ms: leave_at, bank, kind: ChangeKind::Leave, via: leave_via });
    }
    out.sort_by_key(|change| change.at_ms);
    out
}

/// Carries out the plan in order (each change waits for the one before); `admins` has every
/// bank, founding members and spares, in the supervisor's order.
pub async fn run(
    plan: Vec<ScheduledChange>,
    started: Instant,
    admins: Vec<AdminClient>,
    supervisor: Arc<Supervisor>,
) -> Vec<ChangeOutcome> {
    let founding = supervisor.founding;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
    let clients: Vec<BankClient> = supervisor.urls.iter().map(|url| BankClient::with_http(http.clone(), url)).collect();
    let banks = Banks { ids: &supervisor.ids, clients: &clients, admins: &admins };
    let mut trails: std::collections::BTreeMap<usize, Option<Trail>> = std::collections::BTreeMap::new();
    let mut outcomes = Vec::new();
    for change in plan {
        tokio::time::sleep_until((started + Duration::from_millis(change.at_ms)).into()).await;
        let began = Instant::now();
        let id = bank_id(change.bank);
        let mut cash_cents = 0;
        let (done, via, detail) = match change.kind {
            ChangeKind::Join => {
                let (done, via, detail) = join(&change, &admins, &supervisor).await;
                if !done {
                    (done, via, detail)
                } else {
                    // The spare carries money while it is a member (settled before it leaves).
                    let (x, y) = (via, (via + 1) % founding);
                    let carried = chaos_settle::carry(&banks, change.bank, x, y, Instant::now() + CHANGE_LIMIT).await;
                    trails.insert(change.bank, carried.trail);
                    cash_cents = carried.deposited_cents;
                    let summary = carried.result.unwrap_or_else(|error| format!("money NOT carried: {error}"));
                    (done, via, format!("{detail}; {summary}"))
                }
            }
            ChangeKind::Crash => {
                let member = is_member(&admins[..founding], &id).await == Some(true);
                if !member {
                    (false, change.via, format!("{id} is not a member: not killed"))
                } else {
                    match admins[change.bank].inject(&Fault::Crash).await {
                        Ok(()) => (true, change.via, format!("{id} killed; the supervisor restarts it")),
                        Err(error) => (false, change.via, error.to_string()),
                    }
                }
            }
            ChangeKind::Leave => match trails.get(&change.bank) {
                // A spare that never joined has nothing to settle (and is not a member).
                None => leave(&change, &admins, &supervisor).await,
                Some(trail) => {
                    let deadline = Instant::now() + CHANGE_LIMIT;
                    let settled = chaos_settle::settle_up(&banks, trail.as_ref(), change.bank, deadline).await;
                    let settled = settled.unwrap_or_else(|error| format!("NOT settled: {error}"));
                    let (done, via, detail) = leave(&change, &admins, &supervisor).await;
                    (done, via, format!("settled first: {settled}; {detail}"))
                }
            },
        };
        let took_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
        let outcome =
            ChangeOutcome { at_ms: change.at_ms, bank: id, kind: change.kind, via: bank_id(via), done, took_ms, detail, cash_cents };
        println!(
            "chaos: membership {:?} of bank {} via {}: {} after {} ms ({})",
            outcome.kind,
            outcome.bank,
            outcome.via,
            if outcome.done { "done" } else { "NOT done" },
            outcome.took_ms,
            outcome.detail
        );
        outcomes.push(outcome);
    }
    outcomes
}

async fn join(change: &ScheduledChange, admins: &[AdminClient], supervisor: &Supervisor) -> (bool, usize, String) {
    let founding = supervisor.founding;
    let index = change.bank;
    let (id, url, key) = (bank_id(index), supervisor.urls[index].clone(), supervisor.public_keys[index].clone());
    if let Err(error) = supervisor.start_joining(index, &supervisor.urls[change.via]).await {
        return (false, change.via, format!("cannot start {id}: {error}"));
    }
    let deadline = Instant::now() + CHANGE_LIMIT;
    // It answers once it has read the ring from the member it joins through.
    while admins[index].ring_status_within(STATUS_TIMEOUT).await.is_err() {
        if Instant::now() > deadline {
            return (false, change.via, format!("{id} never answered after its start"));
        }
        tokio::time::sleep(POLL).await;
    }
    let mut last = String::new();
    let mut via = change.via;
    let mut refusals = Vec::new();
    while Instant::now() < deadline {
        let approvals = approvals(&admins[..founding], via, &id, Some((&url, &key))).await;
        match admins[via].add_member(&id, &url, &key, &approvals).await {
            Ok(answer) => last = format!("proposed: {answer}"),
            // Refused: perhaps an earlier proposal of ours took effect meanwhile (the id is then
            // used); the membership says.
            Err(error) => last = error.to_string(),
        }
        if wait_for_membership(&admins[..founding], &id, true, TAKES_EFFECT_LIMIT.min(deadline - Instant::now())).await {
            return (true, via, with_earlier(last, &refusals));
        }
        refusals.push(format!("{}: {last}", bank_id(via)));
        via = (via + 1) % founding;
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    (false, via, format!("not listed after {} s: {last}", CHANGE_LIMIT.as_secs()))
}

async fn leave(change: &ScheduledChange, admins: &[AdminClient], supervisor: &Supervisor) -> (bool, usize, String) {
    let founding = supervisor.founding;
    let id = bank_id(change.bank);
    let deadline = Instant::now() + CHANGE_LIMIT;
    let mut last = String::new();
    let mut via = change.via;
    let mut refusals = Vec::new();
    while Instant::now() < deadline {
        let approvals = approvals(&admins[..founding], via, &id, None).await;
        match admins[via].remove_member(&id, &approvals).await {
            Ok(answer) => last = format!("proposed: {answer}"),
            // 422: not a member (any more); 409: refused for now (a transfer in doubt).
            Err(error) => last = error.to_string(),
        }
        if wait_for_membership(&admins[..founding], &id, false, TAKES_EFFECT_LIMIT.min(deadline - Instant::now())).await {
            supervisor.retire(change.bank).await;
            return (true, via, with_earlier(format!("{last}; stopped once removed"), &refusals));
        }
        refusals.push(format!("{}: {last}", bank_id(via)));
        via = (via + 1) % founding;
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    (false, via, format!("still listed after {} s: {last}", CHANGE_LIMIT.as_secs()))
}

/// The approvals of the change (adding `id` at `add`'s URL and key, or removing it) by every
/// founding member other than `via` that gives one now (a member down or refusing is skipped:
/// `via` is refused if too few approve, and the next member is tried).
async fn approvals(admins: &[AdminClient], via: usize, id: &str, add: Option<(&str, &str)>) -> Vec<serde_json::Value> {
    let mut approvals = Vec::new();
    for (index, admin) in admins.iter().enumerate().filter(|(index, _)| *index != via) {
        match tokio::time::timeout(STATUS_TIMEOUT, admin.approve_member(id, add)).await {
            Ok(Ok(approval)) => approvals.push(approval),
            Ok(Err(error)) => tracing::debug!(member = %bank_id(index), %error, "no approval"),
            Err(_) => tracing::debug!(member = %bank_id(index), "no approval in time"),
        }
    }
    approvals
}

/// The last answer, and the earlier attempts that did not take effect (member: answer).
fn with_earlier(last: String, earlier: &[String]) -> String {
    if earlier.is_empty() {
        last
    } else {
        format!("{last}; after {} attempt(s) without effect: {}", earlier.len(), earlier.join(" | "))
    }
}

/// Whether `id` is a member of a settled (not joint) membership, as the first founding member
/// that answers says; None when none answers or the membership is joint.
async fn is_member(founding: &[AdminClient], id: &str) -> Option<bool> {
    for admin in founding {
        let Ok(Ok(view)) = tokio::time::timeout(STATUS_TIMEOUT, admin.ring_members()).await else { continue };
        if view["joint"].as_bool() != Some(false) {
            return None;
        }
        let members = view["members"].as_array().map(Vec::as_slice).unwrap_or_default();
        return Some(members.iter().any(|m| m["bank"].as_str() == Some(id)));
    }
    None
}

/// Waits up to `limit` until a founding member reports a settled membership with `id` in it
/// (`present`) or without it.
async fn wait_for_membership(founding: &[AdminClient], id: &str, present: bool, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if is_member(founding, id).await == Some(present) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// After healing: every running bank that is a member must report the same settled
/// membership, no bank removed in the run may be in it, and each member must be running.
/// Returns the members' indices (to audit) and the invariant.
pub async fn agreement(admins: &[AdminClient], supervisor: &Supervisor, deadline: Instant) -> (Vec<usize>, Invariant) {
    let ids = &supervisor.ids;
    loop {
        let mut problems = Vec::new();
        let mut views = Vec::new();
        for (index, admin) in admins.iter().enumerate() {
            if !supervisor.active(index) {
                continue;
            }
            match tokio::time::timeout(STATUS_TIMEOUT * 4, admin.ring_members()).await {
                Ok(Ok(view)) => {
                    let mut members: Vec<String> = view["members"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|m| m["bank"].as_str().map(str::to_string))
                        .collect();
                    members.sort();
                    views.push((index, view["version"].as_u64(), view["joint"].as_bool(), members));
                }
                Ok(Err(error)) => problems.push(format!("bank {}: {error}", ids[index])),
                Err(_) => problems.push(format!("bank {} did not answer", ids[index])),
            }
        }
        let first = views.first().map(|(_, version, _, members)| (*version, members.clone()));
        for (index, version, joint, members) in &views {
            let is_member = members.contains(&ids[*index]);
            if !is_member && *index < supervisor.founding {
                problems.push(format!("founding member {} is not in its own membership {members:?}", ids[*index]));
            }
            if !is_member {
                continue; // a spare whose addition never took effect: its view is its own
            }
            if *joint != Some(false) {
                problems.push(format!("bank {} is still in a joint membership", ids[*index]));
            }
            if first.as_ref() != Some(&(*version, members.clone())) {
                problems.push(format!("bank {} reports version {version:?} {members:?}, bank {} {first:?}", ids[*index], ids[views[0].0]));
            }
        }
        let listed: Vec<usize> = first
            .as_ref()
            .map(|(_, members)| members.iter().filter_map(|m| ids.iter().position(|id| id == m)).collect())
            .unwrap_or_default();
        for &index in &listed {
            if !supervisor.active(index) {
                problems.push(format!("bank {} is listed but was stopped (removed) or never started", ids[index]));
            }
        }
        if problems.is_empty() || Instant::now() > deadline {
            let members = if listed.is_empty() { (0..supervisor.founding).collect() } else { listed };
            let invariant = Invariant {
                name: "the members agree on one settled membership, of running banks only".to_string(),
                passed: problems.is_empty(),
                detail: problems.into_iter().take(10).collect::<Vec<_>>().join("; "),
            };
            return (members, invariant);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every scheduled join and leave took effect (a kill of a spare that never became a member is
/// not counted against the run: its join already is).
pub fn took_effect(outcomes: &[ChangeOutcome]) -> Invariant {
    let problems: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.done && o.kind != ChangeKind::Crash)
        .map(|o| format!("{:?} of {} at +{} ms: {}", o.kind, o.bank, o.at_ms, o.detail))
        .collect();
    Invariant {
        name: "every scheduled membership change (join, leave) took effect".to_string(),
        passed: problems.is_empty(),
        detail: problems.into_iter().take(10).collect::<Vec<_>>().join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_spare_joins_is_killed_and_leaves_in_its_own_slice() {
        let plan = schedule(5, 3, 2, Duration::from_secs(600));
        assert_eq!(plan.len(), 6);
        for spare in [3, 4] {
            let kinds: Vec<ChangeKind> = plan.iter().filter(|c| c.bank == spare).map(|c| c.kind).collect();
            assert_eq!(kinds, [ChangeKind::Join, ChangeKind::Crash, ChangeKind::Leave]);
        }
        assert!(plan.windows(2).all(|pair| pair[0].at_ms <= pair[1].at_ms));
        // The second spare joins after the first one left.
        let left = plan.iter().find(|c| c.bank == 3 && c.kind == ChangeKind::Leave).unwrap().at_ms;
        let joined = plan.iter().find(|c| c.bank == 4 && c.kind == ChangeKind::Join).unwrap().at_ms;
        assert!(left < joined, "{plan:?}");
        assert!(plan.iter().all(|c| c.via < 3 && c.at_ms < 597_000));
        let text = |p: &[ScheduledChange]| serde_json::to_string(p).unwrap();
        assert_eq!(text(&plan), text(&schedule(5, 3, 2, Duration::from_secs(600))));
        assert_ne!(text(&plan), text(&schedule(6, 3, 2, Duration::from_secs(600))));
        assert!(schedule(5, 3, 0, Duration::from_secs(600)).is_empty());
        assert!(schedule(5, 3, 2, Duration::from_secs(4)).is_empty());
    }
}
