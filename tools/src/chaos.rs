//! `ringbank chaos`: starts a fresh local ring under a supervisor (crashed banks come back),
//! opens accounts everywhere, drives a random mixed load while a fault schedule drawn from the
//! seed is injected, then heals, waits until everything is final, and checks the invariants:
//! the consortium audit, no acknowledged commit lost, idempotent retries never applied twice,
//! money conserved against the client's own tally, at most one holder per stamp. The same
//! seed gives the same fault schedule (the load's interleaving depends on timing).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ringbank_client::{wait_ready, AdminClient, BankClient, Fault, PostOptions, Ready};
use ringbank_domain::CrashPoint;
use ringbank_wire::{AccountKind, Leg, NewTransfer};
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::args::ChaosArgs;
use crate::chaos_membership::{self, ChangeOutcome, ScheduledChange};
use crate::consortium_audit::{ConsortiumReport, Invariant};
use crate::local_ring::{bank_id, LocalRing, BANKS_MAX};
use crate::supervisor::Supervisor;

const CUSTOMERS: usize = 4;
const PASSWORD: &str = "chaos-password-0123";
const INITIAL_DEPOSIT_CENTS: i64 = 1_000_000;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const SETTLE_LIMIT: Duration = Duration::from_secs(90);
const POLL_INTERVAL: Duration = Duration::from_millis(200);
const READY_LIMIT: Duration = Duration::from_secs(30);
/// A ring status poll gives up after this long (a paused bank never answers).
const STATUS_TIMEOUT: Duration = Duration::from_millis(300);

/// splitmix64, the simulators' PRNG: the whole schedule derives from one seed.
pub use ringbank_ring::sim::Rng as SplitMix64;

/// One scheduled fault: at `at_ms` after the load starts, at bank `bank`.
#[derive(Clone, Debug, Serialize)]
pub struct ScheduledFault {
    pub at_ms: u64,
    pub bank: usize,
    pub kind: String,
    /// The admin request: path under /admin/v1/faults and body.
    pub path: String,
    pub body: Value,
    #[serde(skip)]
    pub fault: Fault,
}

/// Draws the fault schedule from the seed alone.
pub fn schedule(seed: u64, banks: usize, duration: Duration, allow_crashes: bool) -> Vec<ScheduledFault> {
    let mut rng = SplitMix64::new(seed);
    let end_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).saturating_sub(3000);
    let mut at_ms = 1500;
    let mut out = Vec::new();
    let ids: Vec<String> = (0..banks).map(bank_id).collect();
    while at_ms < end_ms {
        let bank = rng.below(banks as u64) as usize;
        let millis = |rng: &mut SplitMix64, low: u64, high: u64| Duration::from_millis(rng.range(low, high));
        let choice = rng.below(if allow_crashes { 10 } else { 8 });
        let (kind, fault) = match choice {
            0 => ("drop-token", Fault::DropToken { duration: Some(Duration::from_secs(10)) }),
            1 => ("replay-token", Fault::ReplayToken { after: millis(&mut rng, 300, 3000) }),
            2 => {
                let other = (bank + 1 + rng.below(banks.saturating_sub(1).max(1) as u64) as usize) % banks;
                ("partition", Fault::Partition { banks: vec![ids[other].clone()], duration: millis(&mut rng, 1000, 5000) })
            }
            3 => {
                let (delay, jitter, duration) = (millis(&mut rng, 10, 200), millis(&mut rng, 0, 100), millis(&mut rng, 2000, 6000));
                ("delay", Fault::Delay { delay, jitter, duration: Some(duration) })
            }
            4 => {
                let percent = rng.range(5, 30) as u8;
                ("loss", Fault::Loss { percent, duration: Some(millis(&mut rng, 2000, 6000)) })
            }
            5 => {
                let percent = rng.range(10, 50) as u8;
                ("duplicate", Fault::Duplicate { percent, duration: Some(millis(&mut rng, 2000, 6000)) })
            }
            6 | 7 => ("pause", Fault::Pause { duration: millis(&mut rng, 500, 4000) }),
            8 => ("crash", Fault::Crash),
            _ => ("crash-at", Fault::CrashAt { point: CrashPoint::TWO_PHASE[rng.below(CrashPoint::TWO_PHASE.len() as u64) as usize] }),
        };
        out.push(ScheduledFault { at_ms, bank, kind: kind.to_string(), path: fault.path().to_string(), body: fault.body(), fault });
        at_ms += rng.range(1000, 4000);
    }
    // Clock drift, drawn from a stream of its own so that every seed keeps its schedule of the
    // other faults: a bank's ring clock runs up to 4.5 % fast or slow for a while. Any two clocks
    // then differ by less than the 10 % the ring's safety assumes (ring/README.md, "Clock rates").
    let mut drift = SplitMix64::new(seed ^ 0xC10C_D21F_7A7E_0001);
    let mut at_ms = drift.range(2000, 6000);
    while at_ms < end_ms {
        let bank = drift.below(banks as u64) as usize;
        let ppm = drift.range(955_000, 1_045_001);
        let rate = ringbank_domain::ClockRate::from_ppm(ppm).expect("within 0.5 to 2");
        let fault = Fault::ClockRate { rate, duration: Some(Duration::from_millis(drift.range(2000, 8000))) };
        out.push(ScheduledFault { at_ms, bank, kind: "clock-rate".to_string(), path: fault.path().to_string(), body: fault.body(), fault });
        at_ms += drift.range(4000, 10_000);
    }
    out.sort_by_key(|fault| fault.at_ms);
    out
}

#[derive(Clone, Debug, PartialEq)]
enum Answer {
    /// No definitive answer yet (timeout, connection refused, 5xx, in progress).
    Unknown,
    /// 4xx: nothing was done.
    Refused(u16),
    Accepted {
        id: String,
        status: String,
    },
}

/// What a load request does, at one bank, as one customer.
#[derive(Clone, Debug)]
enum Operation {
    Deposit { account: String, amount_cents: i64 },
    Withdrawal { account: String, amount_cents: i64 },
    Transfer(NewTransfer),
}

#[derive(Clone, Debug)]
struct Request {
    key: String,
    bank: usize,
    customer: usize,
    collection: &'static str,
    operation: Operation,
    /// Signed effect on deposits minus withdrawals (cash only).
    cash_cents: i64,
    answer: Answer,
}

struct Customer {
    document: String,
    tokens: Vec<String>,
    accounts: Vec<String>,
    /// `consents[holder][origin]`: the consent the customer granted bank `origin` at bank
    /// `holder` for their account there (none for `origin == holder`).
    consents: Vec<Vec<Option<String>>>,
}

struct Context {
    /// Each bank's customer API, not signed in (`with_token` per customer).
    banks: Vec<BankClient>,
    ids: Vec<String>,
    customers: Vec<Mutex<Customer>>,
    requests: Mutex<Vec<Request>>,
    violations: Mutex<Vec<String>>,
    committed_seen: Mutex<HashMap<String, (usize, usize)>>,
    counts: Mutex<BTreeMap<&'static str, u64>>,
    abort_reasons: Mutex<BTreeMap<String, u64>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Failover {
    pub from_epoch: u64,
    pub to_epoch: u64,
    /// From the last poll that saw the old epoch held to the first that saw the new one held.
    pub duration_ms: u64,
    /// When the new epoch was first seen held, in ms since the load started (the schedule's clock).
    pub at_ms: u64,
    /// For a failover of LONG_FAILOVER or more: the scheduled faults and membership changes
    /// acting during it (`ScheduledFault::window`), as "+AT ms BANK KIND BODY".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub during: Vec<String>,
    /// How much of it fewer than a majority of the members answered the monitor (down or
    /// paused): no new holder can be confirmed then, whatever the ring does. Partitions and a
    /// lost token are not seen this way.
    pub without_majority_ms: u64,
}

/// A failover this long is explained in the report by the faults acting during it.
pub const LONG_FAILOVER: Duration = Duration::from_secs(2);
/// A crashed bank counts as down this long after its restart is due (start-up, recovery).
const START_UP_ALLOWANCE_MS: u64 = 3000;
/// A dropped or replayed token, or a membership change, may disturb the ring this long.
const BLIP_MS: u64 = 2000;

impl ScheduledFault {
    /// When the fault acts, as (from, to) in ms on the schedule's clock: its duration; a crash
    /// until the bank is back (restart plus start-up); a crash point from when it is armed (it
    /// fires at the next transfer reaching it) for as long; a dropped or replayed token briefly.
    pub fn window(&self, restart_after: Duration) -> (u64, u64) {
        let ms = |d: &Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let length = match &self.fault {
            Fault::Crash | Fault::CrashAt { .. } => ms(&restart_after) + START_UP_ALLOWANCE_MS,
            Fault::Pause { duration } | Fault::Partition { duration, .. } => ms(duration),
            Fault::DropToken { duration } => duration.as_ref().map_or(BLIP_MS, ms) + BLIP_MS,
            Fault::ReplayToken { after } => ms(after) + BLIP_MS,
            Fault::Delay { duration, .. }
            | Fault::Loss { duration, .. }
            | Fault::Duplicate { duration, .. }
            | Fault::ClockRate { duration, .. } => duration.as_ref().map_or(BLIP_MS, ms),
            Fault::Heal => 0,
        };
        (self.at_ms, self.at_ms.saturating_add(length))
    }
}

/// Fills `during` of each long failover with what acted in its window (faults by their
/// `window`, membership changes for as long as they took plus BLIP_MS).
fn explain(failovers: &mut [Failover], plan: &[ScheduledFault], changes: &[ChangeOutcome], restart_after: Duration) {
    let long = u64::try_from(LONG_FAILOVER.as_millis()).unwrap_or(u64::MAX);
    for failover in failovers.iter_mut().filter(|f| f.duration_ms >= long) {
        let (from, to) = (failover.at_ms.saturating_sub(failover.duration_ms), failover.at_ms);
        for fault in plan {
            let (start, end) = fault.window(restart_after);
            if start <= to && end >= from {
                failover.during.push(format!("+{} ms {} {} {}", fault.at_ms, bank_id(fault.bank), fault.kind, fault.body));
            }
        }
        for change in changes {
            let end = change.at_ms + change.took_ms + BLIP_MS;
            if change.at_ms <= to && end >= from {
                failover.during.push(format!("+{} ms {} membership {:?} ({} ms)", change.at_ms, change.bank, change.kind, change.took_ms));
            }
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ChaosReport {
    pub seed: u64,
    pub banks: usize,
    pub duration_s: u64,
    pub faults_scheduled: usize,
    pub faults_injected: usize,
    pub faults_not_delivered: usize,
    pub fault_kinds: BTreeMap<String, u64>,
    pub restarts: u64,
    pub operations: BTreeMap<&'static str, u64>,
    pub transfers_committed: usize,
    pub transfers_aborted: usize,
    pub transfers_in_doubt: usize,
    /// Why transfers aborted, by the shape of the reason (digits masked).
    pub abort_reasons: BTreeMap<String, u64>,
    pub failovers: Vec<Failover>,
    /// Spare banks' joins, kills and removals (`--spares`), in the order carried out.
    pub membership_changes: Vec<ChangeOutcome>,
    pub invariants: Vec<Invariant>,
    pub passed: bool,
}

impl ChaosReport {
    pub fn render(&self) -> String {
        let mut out = format!(
            "chaos seed {} on {} banks for {} s: {}\n  faults: {} injected ({} not delivered: bank down) {:?}; {} restarts\n  operations: {:?}\n  transfers: {} committed, {} aborted, {} still in doubt\n",
            self.seed,
            self.banks,
            self.duration_s,
            if self.passed { "PASS" } else { "FAIL" },
            self.faults_injected,
            self.faults_not_delivered,
            self.fault_kinds,
            self.restarts,
            self.operations,
            self.transfers_committed,
            self.transfers_aborted,
            self.transfers_in_doubt,
        );
        for (reason, count) in &self.abort_reasons {
            out.push_str(&format!("    aborted {count} x: {reason}\n"));
        }
        let durations: Vec<u64> = self.failovers.iter().map(|f| f.duration_ms).collect();
        out.push_str(&format!("  failovers ({}): {:?} ms", durations.len(), durations));
        if let Some(worst) = self.failovers.iter().max_by_key(|f| f.duration_ms) {
            out.push_str(&format!(", max {} ms (ended at +{} ms)", worst.duration_ms, worst.at_ms));
        }
        out.push('\n');
        for failover in self.failovers.iter().filter(|f| f.duration_ms >= u64::try_from(LONG_FAILOVER.as_millis()).unwrap_or(0)) {
            let during = if failover.during.is_empty() { "no scheduled fault acting".to_string() } else { failover.during.join("; ") };
            out.push_str(&format!(
                "    {} ms ending at +{} ms ({} ms of it without a majority answering), during: {during}\n",
                failover.duration_ms, failover.at_ms, failover.without_majority_ms
            ));
        }
        for change in &self.membership_changes {
            out.push_str(&format!(
                "  membership: +{} ms {:?} {} via {}: {} in {} ms\n",
                change.at_ms,
                change.kind,
                change.bank,
                change.via,
                if change.done { "done" } else { "NOT done" },
                change.took_ms
            ));
        }
        for invariant in &self.invariants {
            out.push_str(&format!("  [{}] {}", if invariant.passed { "pass" } else { "FAIL" }, invariant.name));
            if !invariant.passed {
                out.push_str(&format!(": {}", invariant.detail));
            }
            out.push('\n');
        }
        out
    }
}

pub async fn run(args: ChaosArgs) -> Result<std::process::ExitCode, String> {
    let report = execute(&args).await?;
    println!("{}", report.render());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(if report.passed { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
}

/// Runs one chaos experiment and returns its report (the caller prints it).
pub async fn execute(args: &ChaosArgs) -> Result<ChaosReport, String> {
    let attach = !args.attach.is_empty();
    let banks = if attach { args.attach.len() } else { args.banks };
    if !(2..=BANKS_MAX).contains(&banks) {
        return Err(format!("--banks must be between 2 and {BANKS_MAX}"));
    }
    let spares = if attach { 0 } else { args.spares };
    if banks + spares > BANKS_MAX {
        return Err(format!("--banks plus --spares must be at most {BANKS_MAX}"));
    }
    let plan = schedule(args.seed, banks, args.duration, !attach);
    let changes = chaos_membership::schedule(args.seed, banks, spares, args.duration);
    println!(
        "chaos: seed {}, {} banks, {} s, {} faults and {} membership changes scheduled:",
        args.seed,
        banks,
        args.duration.as_secs(),
        plan.len(),
        changes.len()
    );
    for fault in &plan {
        println!("  +{:>6} ms  bank {}  {} {}", fault.at_ms, bank_id(fault.bank), fault.kind, fault.body);
    }
    for change in &changes {
        println!("  +{:>6} ms  bank {}  membership {:?} via {}", change.at_ms, bank_id(change.bank), change.kind, bank_id(change.via));
    }
    let (supervisor, ids, urls, secret) = if attach {
        let secret = args.admin_secret.clone().ok_or("--attach needs --admin-secret")?;
        (
            None,
            args.attach.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
            args.attach.iter().map(|p| p.url.clone()).collect::<Vec<_>>(),
            secret,
        )
    } else {
        let data_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("ringbank-chaos-{}-{}", args.seed, std::process::id())));
        std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        println!("chaos: data and bank logs in {}", data_dir.display());
        let zone = crate::local_ring::midday_zone(SystemTime::now());
        println!("chaos: the banks run in time zone {zone}, where it is about noon (no night limit)");
        let ring = LocalRing::new(banks, args.base_port, data_dir.clone(), None, vec![crate::local_ring::zone_arg(&zone)])
            .and_then(|ring| ring.with_spares(spares))
            .map_err(|e| e.to_string())?
            .logs_to(data_dir);
        let supervisor = Supervisor::new(ring, args.restart_after);
        supervisor.start_all().await.map_err(|e| e.to_string())?;
        let (ids, urls, secret) = (supervisor.ids.clone(), supervisor.urls.clone(), supervisor.admin_secret.clone());
        (Some(supervisor), ids, urls, secret)
    };
    let shutdown = CancellationToken::new();
    if let Some(supervisor) = &supervisor {
        tokio::spawn(supervisor.clone().watch(shutdown.clone()));
    }
    let result = experiment(args, &plan, changes, ids, urls, &secret, supervisor.as_ref()).await;
    shutdown.cancel();
    if let Some(supervisor) = &supervisor {
        supervisor.stop_all().await;
    }
    result
}

async fn experiment(
    args: &ChaosArgs,
    plan: &[ScheduledFault],
    changes: Vec<ScheduledChange>,
    all_ids: Vec<String>,
    all_urls: Vec<String>,
    secret: &str,
    supervisor: Option<&Arc<Supervisor>>,
) -> Result<ChaosReport, String> {
    let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().map_err(|e| e.to_string())?;
    // Every bank, spares included (the monitor watches them all); the load and the fault
    // schedule go to the founding members.
    let all_admins: Vec<AdminClient> = all_urls.iter().map(|url| AdminClient::with_http(client.clone(), url, secret)).collect();
    let founding = supervisor.map_or(all_ids.len(), |s| s.founding);
    let (ids, urls) = (all_ids[..founding].to_vec(), all_urls[..founding].to_vec());
    let admins = all_admins[..founding].to_vec();
    wait_ready(&admins, Ready::Serving, READY_LIMIT).await.map_err(|e| e.to_string())?;
    let banks = urls.iter().map(|url| BankClient::with_http(client.clone(), url)).collect();
    let context = Arc::new(setup(banks, ids.clone(), args.seed).await?);
    let stop = CancellationToken::new();
    let started = Instant::now();
    let monitor = tokio::spawn(monitor(all_admins.clone(), started, stop.clone()));
    let membership =
        supervisor.map(|supervisor| tokio::spawn(chaos_membership::run(changes, started, all_admins.clone(), supervisor.clone())));
    let mut workers = Vec::new();
    for worker in 0..args.workers.max(1) {
        let seed = args.seed ^ (worker as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
        workers.push(tokio::spawn(work(context.clone(), SplitMix64::new(seed), stop.clone())));
    }
    // The fault schedule.
    let mut injected = 0;
    let mut not_delivered = 0;
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for fault in plan {
        let at = started + Duration::from_millis(fault.at_ms);
        tokio::time::sleep_until(at.into()).await;
        match admins[fault.bank].inject(&fault.fault).await {
            Ok(()) => {
                injected += 1;
                *kinds.entry(fault.kind.clone()).or_default() += 1;
            }
            Err(error) => {
                not_delivered += 1;
                tracing::info!(%error, "fault not delivered");
            }
        }
    }
    tokio::time::sleep_until((started + args.duration).into()).await;
    stop.cancel();
    for worker in workers {
        let _ = worker.await;
    }
    println!("chaos: load stopped after {} s; healing and settling", started.elapsed().as_secs());
    // A membership change under way finishes (each is bounded).
    let membership_changes = match membership {
        Some(task) => task.await.unwrap_or_default(),
        None => Vec::new(),
    };
    // Heal: lift every fault, bring every bank back.
    let settle_deadline = Instant::now() + SETTLE_LIMIT;
    let in_service: Vec<usize> = (0..all_ids.len()).filter(|&i| supervisor.map_or(i < founding, |s| s.active(i))).collect();
    if let Some(supervisor) = supervisor {
        tokio::time::sleep(Duration::from_secs(5)).await; // any pause ends, any armed crash may fire
        for &index in &in_service {
            if !supervisor.running(index).await {
                let _ = supervisor.restart(&all_ids[index]).await;
            }
        }
    }
    let serving: Vec<AdminClient> = in_service.iter().map(|&i| all_admins[i].clone()).collect();
    wait_ready(&serving, Ready::Serving, READY_LIMIT).await.map_err(|e| e.to_string())?;
    for admin in &serving {
        let _ = admin.heal().await;
    }
    resolve_unknown(&context, settle_deadline).await;
    let finals = final_statuses(&context, settle_deadline).await;
    let (mut failovers, holder_violations) = monitor.await.unwrap_or_default();
    explain(&mut failovers, plan, &membership_changes, args.restart_after);
    // The audit covers the banks the final membership lists (a spare still a member included).
    let (members, agreement) = match supervisor {
        Some(supervisor) => {
            let (members, invariant) = chaos_membership::agreement(&all_admins, supervisor, settle_deadline).await;
            (members, Some(invariant))
        }
        None => ((0..founding).collect(), None),
    };
    let pairs: Vec<(String, String)> = members.iter().map(|&i| (all_ids[i].clone(), all_urls[i].clone())).collect();
    let audit = loop {
        let report = crate::consortium_audit::fetch(&pairs, secret).await.map(|s| crate::consortium_audit::check(&s));
        match report {
            Ok(report) if report.passed || Instant::now() > settle_deadline => break report,
            Err(error) if Instant::now() > settle_deadline => return Err(format!("the consortium audit cannot read every bank: {error}")),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    // The spares' money trails deposited cash too (chaos_settle), outside the load's requests.
    let trail_cash: i64 = membership_changes.iter().map(|change| change.cash_cents).sum();
    let mut invariants = checks(&context, &finals, &audit, holder_violations, trail_cash);
    if let Some(agreement) = agreement {
        invariants.push(agreement);
        invariants.push(chaos_membership::took_effect(&membership_changes));
    }
    let passed = invariants.iter().all(|i| i.passed);
    let count = |status: &str| finals.values().filter(|s| s.as_str() == status).count();
    let operations = context.counts.lock().expect("lock").clone();
    let abort_reasons = context.abort_reasons.lock().expect("lock").clone();
    Ok(ChaosReport {
        seed: args.seed,
        banks: founding,
        duration_s: args.duration.as_secs(),
        faults_scheduled: plan.len(),
        faults_injected: injected,
        faults_not_delivered: not_delivered,
        fault_kinds: kinds,
        restarts: supervisor.map_or(0, |s| s.restarts_total()),
        operations,
        transfers_committed: count("committed"),
        transfers_aborted: count("aborted"),
        transfers_in_doubt: finals.len() - count("committed") - count("aborted"),
        abort_reasons,
        failovers,
        membership_changes,
        invariants,
        passed,
    })
}

/// Registers every customer at every bank, opens one account each, and funds it.
async fn setup(banks: Vec<BankClient>, ids: Vec<String>, seed: u64) -> Result<Context, String> {
    let base =
        u32::try_from(100_000_000 + (seed.wrapping_mul(7919) % 700_000_000)).unwrap_or(100_000_000) + (std::process::id() % 1000) * 1000;
    let mut customers = Vec::new();
    for c in 0..CUSTOMERS {
        let document = ringbank_domain::document::cpf_from_base(base + c as u32);
        let mut tokens = Vec::new();
        let mut accounts = Vec::new();
        for bank in &banks {
            let _ = bank.sign_up(&document, &format!("Chaos {c}"), PASSWORD).await;
            let token = sign_in(bank, &document).await?;
            let account = bank.with_token(&token).open_account(AccountKind::Individual, &[]).await;
            let account = account.map_err(|e| format!("no account opened at {}: {e}", bank.url()))?;
            tokens.push(token);
            accounts.push(account.number);
        }
        let consents = grant_consents(&banks, &ids, &tokens, &accounts).await?;
        customers.push(Mutex::new(Customer { document, tokens, accounts, consents }));
    }
    let context = Context {
        banks,
        ids,
        customers,
        requests: Mutex::new(Vec::new()),
        violations: Mutex::new(Vec::new()),
        committed_seen: Mutex::new(HashMap::new()),
        counts: Mutex::new(BTreeMap::new()),
        abort_reasons: Mutex::new(BTreeMap::new()),
    };
    for c in 0..CUSTOMERS {
        for b in 0..context.banks.len() {
            let account = context.customers[c].lock().expect("lock").accounts[b].clone();
            let request = new_request(c, b, Operation::Deposit { account, amount_cents: INITIAL_DEPOSIT_CENTS }, INITIAL_DEPOSIT_CENTS);
            let answered = submit(&context, request).await;
            if !matches!(answered, Answer::Accepted { .. }) {
                return Err(format!("the initial deposit at bank {} failed: {answered:?}", context.ids[b]));
            }
        }
    }
    Ok(context)
}

async fn sign_in(bank: &BankClient, document: &str) -> Result<String, String> {
    let session = bank.sign_in(document, PASSWORD).await.map_err(|e| format!("sign-in at {} failed: {e}", bank.url()))?;
    Ok(session.token)
}

fn new_request(customer: usize, bank: usize, operation: Operation, cash_cents: i64) -> Request {
    let key = format!("chaos-{}", hex::encode(rand::random::<[u8; 12]>()));
    let collection = match operation {
        Operation::Deposit { .. } => "deposits",
        Operation::Withdrawal { .. } => "withdrawals",
        Operation::Transfer(_) => "transfers",
    };
    Request { key, bank, customer, collection, operation, cash_cents, answer: Answer::Unknown }
}

/// Sends a request (first time or retry, same key and body); records and returns the answer.
async fn submit(context: &Context, mut request: Request) -> Answer {
    let answer = send(context, &request).await;
    let mut requests = context.requests.lock().expect("lock");
    if let Some(existing) = requests.iter_mut().find(|r| r.key == request.key) {
        if let (Answer::Accepted { id: before, .. }, Answer::Accepted { id: now, .. }) = (&existing.answer, &answer) {
            if before != now {
                context.violations.lock().expect("lock").push(format!("key {} answered transfer {before} then {now}", request.key));
            }
        }
        if answer != Answer::Unknown {
            existing.answer = answer.clone();
        }
    } else {
        request.answer = answer.clone();
        requests.push(request);
    }
    answer
}

async fn send(context: &Context, request: &Request) -> Answer {
    for _attempt in 0..2 {
        let token = context.customers[request.customer].lock().expect("lock").tokens[request.bank].clone();
        let bank = context.banks[request.bank].with_token(&token);
        let options = PostOptions::key(request.key.clone());
        let result = match &request.operation {
            Operation::Deposit { account, amount_cents } => bank.deposit(account, *amount_cents, &options).await,
            Operation::Withdrawal { account, amount_cents } => bank.withdraw(account, *amount_cents, &options).await,
            Operation::Transfer(transfer) => bank.transfer(transfer, &options).await,
        };
        let error = match result {
            Ok(reply) => {
                let (id, state) = (reply.transfer.id, reply.transfer.status);
                if state == "committed" && request.collection == "transfers" {
                    context.committed_seen.lock().expect("lock").insert(id.clone(), (request.bank, request.customer));
                }
                return Answer::Accepted { id, status: state };
            }
            Err(error) => error,
        };
        match error.status() {
            Some(401) => {
                let document = context.customers[request.customer].lock().expect("lock").document.clone();
                if let Ok(token) = sign_in(&context.banks[request.bank], &document).await {
                    context.customers[request.customer].lock().expect("lock").tokens[request.bank] = token;
                }
            }
            Some(409) if error.slug().is_some_and(|t| t.contains("progress")) => return Answer::Unknown,
            Some(status @ 400..=499) => return Answer::Refused(status),
            _ => return Answer::Unknown,
        }
    }
    Answer::Unknown
}

fn count(context: &Context, what: &'static str) {
    *context.counts.lock().expect("lock").entry(what).or_default() += 1;
}

fn leg(context: &Context, bank: usize, account: &str, amount: i64) -> Leg {
    Leg::new(&context.ids[bank], account, amount)
}

/// A debit of customer `c`'s account at `bank`, submitted at bank `origin`: with the consent
/// the customer granted `origin` there when `bank` is another bank.
fn debit(context: &Context, c: usize, origin: usize, bank: usize, account: &str, amount: i64) -> Leg {
    let consent = context.customers[c].lock().expect("lock").consents[bank][origin].clone();
    Leg { consent, ..leg(context, bank, account, amount) }
}

/// Largest amount one consent allows per transfer (the bank's default operation limit).
const CONSENT_PER_TRANSFER_MAX_CENTS: i64 = 100_000_000;

/// At every bank, the customer allows every other bank to debit their account there.
async fn grant_consents(
    banks: &[BankClient],
    ids: &[String],
    tokens: &[String],
    accounts: &[String],
) -> Result<Vec<Vec<Option<String>>>, String> {
    let mut consents = Vec::with_capacity(banks.len());
    for (holder, bank) in banks.iter().enumerate() {
        let mut row = Vec::with_capacity(banks.len());
        for (origin, grantee) in ids.iter().enumerate() {
            if origin == holder {
                row.push(None);
                continue;
            }
            let request = ringbank_wire::NewConsent {
                grantee: grantee.clone(),
                account: accounts[holder].clone(),
                max_per_transfer_cents: CONSENT_PER_TRANSFER_MAX_CENTS,
                max_total_cents: i64::MAX / 4,
                valid_for_seconds: 24 * 3600,
            };
            let consent = bank.with_token(&tokens[holder]).grant_consent(&request).await;
            row.push(Some(consent.map_err(|e| format!("no consent granted at {}: {e}", bank.url()))?.id));
        }
        consents.push(row);
    }
    Ok(consents)
}

fn transfer(debits: Vec<Leg>, credits: Vec<Leg>, description: &str) -> Operation {
    Operation::Transfer(NewTransfer { debits, credits, description: description.to_string() })
}

/// One load worker: random operations until `stop`.
async fn work(context: Arc<Context>, mut rng: SplitMix64, stop: CancellationToken) {
    let banks = context.banks.len() as u64;
    while !stop.is_cancelled() {
        let c = rng.below(CUSTOMERS as u64) as usize;
        let d = (c + 1 + rng.below(CUSTOMERS as u64 - 1) as usize) % CUSTOMERS;
        let b = rng.below(banks) as usize;
        let mine = context.customers[c].lock().expect("lock").accounts.clone();
        let theirs = context.customers[d].lock().expect("lock").accounts.clone();
        let roll = rng.below(100);
        if roll < 15 {
            count(&context, "deposits");
            let amount = rng.range(100, 50_000) as i64;
            submit(&context, new_request(c, b, Operation::Deposit { account: mine[b].clone(), amount_cents: amount }, amount)).await;
        } else if roll < 25 {
            count(&context, "withdrawals");
            let amount = rng.range(100, 20_000) as i64;
            submit(&context, new_request(c, b, Operation::Withdrawal { account: mine[b].clone(), amount_cents: amount }, -amount)).await;
        } else if roll < 45 {
            count(&context, "local_transfers");
            let amount = rng.range(100, 20_000) as i64;
            let operation = transfer(vec![leg(&context, b, &mine[b], amount)], vec![leg(&context, b, &theirs[b], amount)], "chaos local");
            submit(&context, new_request(c, b, operation, 0)).await;
        } else if roll < 80 {
            count(&context, "cross_transfers");
            let first = rng.below(banks) as usize;
            let second = (first + 1 + rng.below(banks - 1) as usize) % banks as usize;
            let (a1, a2) = (rng.range(100, 10_000) as i64, rng.range(100, 10_000) as i64);
            let debits = if rng.below(2) == 0 {
                vec![debit(&context, c, b, first, &mine[first], a1 + a2)]
            } else {
                vec![debit(&context, c, b, first, &mine[first], a1), debit(&context, c, b, second, &mine[second], a2)]
            };
            let credit_bank = rng.below(banks) as usize;
            let other = (credit_bank + 1) % banks as usize;
            let credits = if rng.below(2) == 0 {
                vec![leg(&context, credit_bank, &theirs[credit_bank], a1 + a2)]
            } else {
                vec![leg(&context, credit_bank, &theirs[credit_bank], a2), leg(&context, other, &theirs[other], a1)]
            };
            submit(&context, new_request(c, b, transfer(debits, credits, "chaos"), 0)).await;
        } else if roll < 85 {
            // Reads a transfer's state at its origin: a commit seen here must never be lost.
            count(&context, "status_reads");
            let picked = {
                let requests = context.requests.lock().expect("lock");
                let transfers: Vec<(String, usize, usize)> = requests
                    .iter()
                    .filter(|r| r.collection == "transfers")
                    .filter_map(|r| match &r.answer {
                        Answer::Accepted { id, .. } => Some((id.clone(), r.bank, r.customer)),
                        _ => None,
                    })
                    .collect();
                (!transfers.is_empty()).then(|| transfers[rng.below(transfers.len() as u64) as usize].clone())
            };
            if let Some((id, bank, customer)) = picked {
                let token = context.customers[customer].lock().expect("lock").tokens[bank].clone();
                if let Ok(view) = context.banks[bank].with_token(&token).transfer_view(&id).await {
                    if view.status == "committed" {
                        context.committed_seen.lock().expect("lock").insert(id, (bank, customer));
                    }
                }
            }
        } else if roll < 94 {
            count(&context, "idempotent_retries");
            let previous = {
                let requests = context.requests.lock().expect("lock");
                let accepted: Vec<&Request> = requests.iter().filter(|r| matches!(r.answer, Answer::Accepted { .. })).collect();
                (!accepted.is_empty()).then(|| accepted[rng.below(accepted.len() as u64) as usize].clone())
            };
            if let Some(previous) = previous {
                submit(&context, previous).await;
            }
        } else {
            // Concurrent overdraft attempts: four transfers of 40% of what the account holds.
            count(&context, "overdraft_bursts");
            let token = context.customers[c].lock().expect("lock").tokens[b].clone();
            let amount = match context.banks[b].with_token(&token).account(&mine[b]).await {
                Ok(view) => view.available_cents * 2 / 5,
                Err(error) if error.is_transport() => continue,
                Err(_) => 0,
            };
            if amount <= 0 {
                continue;
            }
            let mut burst = Vec::new();
            for _ in 0..4 {
                let target = rng.below(banks) as usize;
                let operation = transfer(
                    vec![leg(&context, b, &mine[b], amount)],
                    vec![leg(&context, target, &theirs[target], amount)],
                    "chaos overdraft",
                );
                let (context, request) = (context.clone(), new_request(c, b, operation, 0));
                burst.push(tokio::spawn(async move { submit(&context, request).await }));
            }
            for task in burst {
                let _ = task.await;
            }
        }
    }
}

/// Retries every request without a definitive answer (same key, same body) until answered.
async fn resolve_unknown(context: &Context, deadline: Instant) {
    loop {
        let unknown: Vec<Request> =
            context.requests.lock().expect("lock").iter().filter(|r| r.answer == Answer::Unknown).cloned().collect();
        if unknown.is_empty() || Instant::now() > deadline {
            return;
        }
        for request in unknown {
            count(context, "settle_retries");
            submit(context, request).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The final status of every accepted transfer, read at its origin (waits while pending).
async fn final_statuses(context: &Context, deadline: Instant) -> BTreeMap<String, String> {
    let transfers: Vec<(String, usize, usize)> = context
        .requests
        .lock()
        .expect("lock")
        .iter()
        .filter(|r| r.collection == "transfers")
        .filter_map(|r| match &r.answer {
            Answer::Accepted { id, .. } => Some((id.clone(), r.bank, r.customer)),
            _ => None,
        })
        .collect();
    let mut finals = BTreeMap::new();
    for (id, bank, customer) in transfers {
        loop {
            let token = context.customers[customer].lock().expect("lock").tokens[bank].clone();
            let view = context.banks[bank].with_token(&token).transfer_view(&id).await.ok();
            let status = view.as_ref().map_or("unreadable", |v| v.status.as_str()).to_string();
            if status == "aborted" {
                // Grouped by shape: digits masked, so "bank B: available 1200 < 5000" groups.
                let reason = mask_numbers(view.as_ref().and_then(|v| v.reason.as_deref()).unwrap_or("-"));
                *context.abort_reasons.lock().expect("lock").entry(reason).or_default() += 1;
            }
            if status == "committed" || status == "aborted" || Instant::now() > deadline {
                finals.insert(id, status);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    finals
}

/// Polls every bank's ring status: failovers (epoch changes, timed by polling) and any stamp
/// seen held by two banks.
async fn monitor(admins: Vec<AdminClient>, started: Instant, stop: CancellationToken) -> (Vec<Failover>, Vec<String>) {
    let mut failovers = Vec::new();
    let mut violations = Vec::new();
    let mut holders: HashMap<(u64, u64), String> = HashMap::new();
    let mut epoch = 0u64;
    let mut last_progress = Instant::now();
    // Time with fewer than a majority of the members answering, in all and at the last progress.
    let (mut without_majority, mut without_majority_at_progress) = (Duration::ZERO, Duration::ZERO);
    let mut round_started = Instant::now();
    while !stop.is_cancelled() {
        let (mut answering, mut members) = (Vec::new(), Vec::new());
        for admin in &admins {
            let Ok(view) = admin.ring_status_within(STATUS_TIMEOUT).await else { continue };
            let status = view.status;
            answering.push(status.bank.clone());
            if members.is_empty() {
                members = status.members.clone();
            }
            if !status.holding {
                continue;
            }
            let stamp = (status.epoch, status.token_seq);
            let bank = status.bank;
            if let Some(previous) = holders.insert(stamp, bank.clone()) {
                if previous != bank {
                    violations.push(format!("stamp {}.{} held by {previous} and {bank}", stamp.0, stamp.1));
                }
            }
            let now = Instant::now();
            if stamp.0 > epoch {
                if epoch != 0 {
                    let duration_ms = u64::try_from(now.duration_since(last_progress).as_millis()).unwrap_or(u64::MAX);
                    let at_ms = u64::try_from(now.duration_since(started).as_millis()).unwrap_or(u64::MAX);
                    let without = (without_majority - without_majority_at_progress).as_millis();
                    let without_majority_ms = u64::try_from(without).unwrap_or(u64::MAX).min(duration_ms);
                    failovers.push(Failover {
                        from_epoch: epoch,
                        to_epoch: stamp.0,
                        duration_ms,
                        at_ms,
                        during: Vec::new(),
                        without_majority_ms,
                    });
                }
                epoch = stamp.0;
            }
            if stamp.0 == epoch {
                last_progress = now;
                without_majority_at_progress = without_majority;
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
        // The round just polled stands for the time since the one before.
        let answered = members.iter().filter(|member| answering.contains(member)).count();
        if answered < members.len() / 2 + 1 {
            without_majority += round_started.elapsed();
        }
        round_started = Instant::now();
    }
    (failovers, violations)
}

/// "account 12345 has 300 centavos" -> "account # has # centavos".
fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out
}

fn invariant(name: &str, problems: Vec<String>) -> Invariant {
    Invariant { name: name.to_string(), passed: problems.is_empty(), detail: problems.into_iter().take(10).collect::<Vec<_>>().join("; ") }
}

fn checks(
    context: &Context,
    finals: &BTreeMap<String, String>,
    audit: &ConsortiumReport,
    holder_violations: Vec<String>,
    other_cash_cents: i64,
) -> Vec<Invariant> {
    let mut out: Vec<Invariant> = audit
        .invariants
        .iter()
        .map(|i| Invariant { name: format!("audit: {}", i.name), passed: i.passed, detail: i.detail.clone() })
        .collect();
    let lost: Vec<String> = context
        .committed_seen
        .lock()
        .expect("lock")
        .keys()
        .filter(|id| finals.get(*id).map(String::as_str) != Some("committed"))
        .map(|id| format!("{id} was acknowledged committed, now {:?}", finals.get(id)))
        .collect();
    out.push(invariant("no acknowledged-committed transfer lost", lost));
    out.push(invariant("idempotent retries got the same transfer back", context.violations.lock().expect("lock").clone()));
    let requests = context.requests.lock().expect("lock");
    let expected: i64 =
        requests.iter().filter(|r| matches!(r.answer, Answer::Accepted { .. })).map(|r| r.cash_cents).sum::<i64>() + other_cash_cents;
    let unknown = requests.iter().filter(|r| r.answer == Answer::Unknown).count();
    let mut money = Vec::new();
    if expected != audit.deposits_minus_withdrawals_cents {
        money.push(format!(
            "acknowledged deposits minus withdrawals {expected}, the banks booked {}",
            audit.deposits_minus_withdrawals_cents
        ));
    }
    if audit.customer_money_cents != expected {
        money.push(format!("customer money {}, expected {expected}", audit.customer_money_cents));
    }
    out.push(invariant("cash applied exactly once: customer money = acknowledged deposits - withdrawals", money));
    out.push(invariant(
        "every request got a definitive answer after healing",
        if unknown == 0 { vec![] } else { vec![format!("{unknown} requests still unanswered")] },
    ));
    let pending: Vec<String> =
        finals.iter().filter(|(_, s)| *s != "committed" && *s != "aborted").map(|(id, s)| format!("{id}: {s}")).collect();
    out.push(invariant("every transfer final (committed or aborted)", pending));
    out.push(invariant("at most one holder per stamp", holder_violations));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abort_reasons_group_by_shape() {
        assert_eq!(
            mask_numbers("bank B: account 0012345 has 300 centavos available; 4000 requested"),
            "bank B: account # has # centavos available; # requested"
        );
        assert_eq!(mask_numbers("bank C did not answer in time"), "bank C did not answer in time");
    }

    #[test]
    fn a_long_failover_names_the_faults_acting_during_it() {
        let fault = |at_ms: u64, bank: usize, fault: Fault| ScheduledFault {
            at_ms,
            bank,
            kind: fault.path().to_string(),
            path: fault.path().to_string(),
            body: fault.body(),
            fault,
        };
        let plan = vec![
            fault(1_000, 0, Fault::Pause { duration: Duration::from_secs(3) }), // 1.0-4.0 s
            fault(10_000, 1, Fault::Crash),                                     // 10-15 s (restart 2 s + 3 s)
            fault(30_000, 2, Fault::Partition { banks: vec!["A".into()], duration: Duration::from_secs(1) }),
        ];
        let changes = vec![ChangeOutcome {
            at_ms: 14_000,
            bank: "D".into(),
            kind: chaos_membership::ChangeKind::Join,
            via: "A".into(),
            done: true,
            took_ms: 500,
            detail: String::new(),
            cash_cents: 0,
        }];
        let failover = |at_ms: u64, duration_ms: u64| Failover {
            from_epoch: 1,
            to_epoch: 2,
            duration_ms,
            at_ms,
            during: Vec::new(),
            without_majority_ms: 0,
        };
        // Long ones: 3-5 s (the pause), 12-16 s (the crash and the join), 20-23 s (nothing);
        // a short one during the partition is not explained.
        let mut failovers = vec![failover(5_000, 2_000), failover(16_000, 4_000), failover(23_000, 3_000), failover(30_500, 1_000)];
        explain(&mut failovers, &plan, &changes, Duration::from_secs(2));
        assert_eq!(failovers[0].during.len(), 1, "{:?}", failovers[0].during);
        assert!(failovers[0].during[0].starts_with("+1000 ms A pause"), "{:?}", failovers[0].during);
        assert_eq!(failovers[1].during.len(), 2, "{:?}", failovers[1].during);
        assert!(failovers[1].during[0].starts_with("+10000 ms B crash"), "{:?}", failovers[1].during);
        assert!(failovers[1].during[1].starts_with("+14000 ms D membership Join"), "{:?}", failovers[1].during);
        assert!(failovers[2].during.is_empty() && failovers[3].during.is_empty());
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs for seed 0 of the reference implementation (Vigna, splitmix64.c).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }
}
