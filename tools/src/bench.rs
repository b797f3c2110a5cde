//! `ringbank bench`: a load generator for transfers. It starts a fresh local ring of N bank
//! processes (SQLite, full durability), opens and funds accounts over the API, then drives
//! transfers from many clients over keep-alive connections, closed loop or at a fixed rate
//! (open loop, latency measured from the scheduled time so slow answers are not hidden). A
//! cross-bank transfer is timed from submission to its final status (`Prefer: wait`). It
//! reports committed and aborted per second, latency percentiles (HDR histogram), token passes
//! per second, batch sizes, fsync-ing commits per committed transfer and CPU seconds per bank,
//! as a table, as JSON, and as SVG charts. `--banks 3,5,7` runs a sweep.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::Rng;
use ringbank_client::{wait_ready, AdminClient, BankClient, PostOptions, Ready};
use ringbank_wire::{AccountKind, Leg, NewTransfer};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::args::{BenchArgs, SEED_ACCOUNT_BASE, SEED_DOCUMENT_BASE, SEED_PASSWORD};
use crate::local_ring::LocalRing;

const PASSWORD: &str = "bench-password-123";
const FUNDS_CENTS: i64 = 100_000_000;
/// `Prefer: wait` on every transfer: the latency measured is to the final state.
const PREFER_WAIT: Duration = Duration::from_secs(30);

const SQLITE: &str = "SQLite WAL synchronous=FULL";
const POSTGRES: &str = "PostgreSQL";

#[derive(Debug, Serialize, Clone)]
pub struct BenchReport {
    pub banks: usize,
    /// "SQLite WAL synchronous=FULL" or "PostgreSQL".
    pub storage: String,
    pub mode: String,
    /// Open loop: transfers submitted per second; None: closed loop.
    pub rate: Option<u32>,
    pub clients: usize,
    pub cross_percent: u32,
    pub seconds: f64,
    pub committed: u64,
    pub aborted: u64,
    pub errors: u64,
    pub committed_per_second: f64,
    pub aborted_per_second: f64,
    pub latency_ms: Percentiles,
    pub token_passes_per_second: f64,
    pub mean_batch_size: f64,
    pub fsync_commits_per_transfer: f64,
    pub cpu_seconds_per_bank: Vec<f64>,
    /// Mean milliseconds per batch: token wait, hold, order + local prepare, remote prepare, decide.
    pub phase_ms_per_batch: Vec<(String, f64)>,
    pub abort_reasons: Vec<(String, u64)>,
    pub audit_passed: bool,
    /// Tokens regenerated during the run (a new epoch): with no fault injected, each one is a
    /// false alarm caused by load.
    pub regenerations: u64,
    pub timeline: Vec<Second>,
    /// The synthetic history each bank was seeded with before the run (None: empty ledgers).
    pub ledger: Option<SeededLedger>,
    /// Statement pages (50 lines, newest first) read one at a time after the load.
    pub statement_pages: u64,
    pub statement_ms: Percentiles,
}

/// What `ringbank seed` put in each bank before the run.
#[derive(Debug, Serialize, Clone)]
pub struct SeededLedger {
    pub accounts: u64,
    pub entries: u64,
    /// Wall time to seed all the banks (in parallel).
    pub seed_seconds: f64,
}

#[derive(Debug, Serialize, Clone)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// One second of the measurement.
#[derive(Debug, Serialize, Clone)]
pub struct Second {
    pub second: u64,
    pub committed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Runs the benchmark (or the sweep); returns false if an audit failed or requests errored.
pub async fn run(args: BenchArgs) -> Result<bool, String> {
    if args.clients == 0 || args.accounts < 2 || args.banks.is_empty() || args.banks.iter().any(|b| *b == 0) {
        return Err("--clients must be at least 1, --accounts at least 2, --banks at least 1".into());
    }
    if let Some(url) = &args.database_url {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) || !url.contains("{bank}") {
            return Err("--database-url must be a postgres:// URL with {bank} where each bank's id goes".into());
        }
        if args.banks.len() != 1 {
            return Err("--database-url takes one --banks value: a sweep would reuse the databases".into());
        }
    }
    if let Some(accounts) = args.seed_accounts {
        // Checked here, before an empty run spends its time: the same rules as `ringbank seed`.
        if accounts < 2 || accounts % 2 != 0 || args.seed_entries < accounts {
            return Err("--seed-accounts must be even and at least 2, and --seed-entries at least --seed-accounts".into());
        }
    }
    let mut reports = Vec::new();
    for banks in args.banks.clone() {
        let mut runs = vec![None];
        if let Some(accounts) = args.seed_accounts {
            // The empty ledgers first, for the comparison; on PostgreSQL the databases would no
            // longer be empty for the seeding, so the seeded run only.
            runs = if args.database_url.is_some() { vec![] } else { vec![None] };
            runs.push(Some((accounts, args.seed_entries)));
        }
        for seed in runs {
            let report = run_one(&args, banks, seed).await?;
            print_table(&report);
            reports.push(report);
        }
    }
    let targets = targets(&reports);
    print_targets(&targets);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports).unwrap_or_default());
        println!("{}", serde_json::to_string_pretty(&targets).unwrap_or_default());
    }
    if let Some(dir) = &args.svg {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        for report in &reports {
            let path = dir.join(format!("bench-{}-banks.svg", report.banks));
            std::fs::write(&path, timeline_svg(report)).map_err(|e| e.to_string())?;
            eprintln!("bench: wrote {}", path.display());
        }
        if reports.len() > 1 {
            let path = dir.join("bench-scaling.svg");
            std::fs::write(&path, scaling_svg(&reports)).map_err(|e| e.to_string())?;
            eprintln!("bench: wrote {}", path.display());
        }
    }
    Ok(reports.iter().all(|r| r.audit_passed && r.errors == 0))
}

pub(crate) struct Bank {
    /// Signed in as the company that holds every account.
    pub(crate) client: BankClient,
    pub(crate) accounts: Vec<String>,
    /// (origin bank id, account) -> the consent the company granted that bank for the account here.
    consents: std::collections::HashMap<(String, String), String>,
}

async fn run_one(args: &BenchArgs, banks: usize, seed: Option<(u64, u64)>) -> Result<BenchReport, String> {
    let data = std::env::temp_dir().join(format!("ringbank-bench-{}-{banks}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    // By day wherever the run is (the night limit would refuse the load at night).
    let zone = vec![crate::local_ring::zone_arg(&crate::local_ring::midday_zone(std::time::SystemTime::now()))];
    let mut ring = LocalRing::new(banks, args.base_port, data.clone(), None, zone).map_err(|e| e.to_string())?;
    if let Some(template) = &args.database_url {
        ring = ring.databases(template.clone());
    }
    let mut ring = match &args.logs {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            ring.logs_to(dir.clone())
        }
        None => ring.quiet(),
    };
    let mut ledger = None;
    if let Some((accounts, entries)) = seed {
        eprintln!("bench: seeding {banks} bank(s) with {accounts} accounts and {entries} journal entries each (ringbank seed)");
        let started = Instant::now();
        let seeded = futures_util::future::join_all((0..banks).map(|index| ring.seed(index, accounts, entries))).await;
        for outcome in seeded {
            match outcome {
                Ok(said) => eprintln!("bench: {said}"),
                Err(error) => {
                    let _ = std::fs::remove_dir_all(&data); // gigabytes, on a failed seeding
                    return Err(error);
                }
            }
        }
        ledger = Some(SeededLedger { accounts, entries, seed_seconds: started.elapsed().as_secs_f64() });
    }
    for index in 0..banks {
        ring.spawn(index).map_err(|e| e.to_string())?;
    }
    let result = measure(args, &ring, ledger).await;
    ring.stop_all().await;
    let _ = std::fs::remove_dir_all(&data);
    result
}

async fn measure(args: &BenchArgs, ring: &LocalRing, ledger: Option<SeededLedger>) -> Result<BenchReport, String> {
    let banks = ring.ids.len();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let admins: Vec<AdminClient> = (0..banks).map(|i| AdminClient::with_http(client.clone(), &ring.url(i), &ring.admin_secret)).collect();
    // A bank opening a large ledger for the first time may take longer to come up.
    let patience = if ledger.is_some() { Duration::from_secs(600) } else { Duration::from_secs(30) };
    wait_ready(&admins, Ready::InRing, patience).await.map_err(|e| e.to_string())?;
    eprintln!("bench: {banks} bank(s) up; opening and funding {} accounts per bank", args.accounts);
    let cnpj = ringbank_domain::document::cnpj_from_base("BENCH0000001").ok_or("bad base")?;
    let mut setup = Vec::with_capacity(banks);
    for index in 0..banks {
        let mut bank = open_accounts(BankClient::with_http(client.clone(), &ring.url(index)), &cnpj, args.accounts).await?;
        if banks > 1 {
            grant_consents(&mut bank, &ring.ids, &ring.ids[index]).await?;
        }
        setup.push(bank);
    }
    let setup = Arc::new(setup);
    let ids = Arc::new(ring.ids.clone());
    let cross_percent = if banks == 1 { 0 } else { args.cross_percent.min(100) };

    let before = sample(&admins).await;
    let cpu_before: Vec<u64> = (0..banks).map(|i| ring.pid(i).and_then(cpu_ticks).unwrap_or(0)).collect();
    let started = Instant::now();
    let measure_from = started + args.warmup;
    let end = measure_from + args.duration;
    let shared = Arc::new(Mutex::new(Results::new(args.duration)?));
    let load =
        Load { banks: setup.clone(), ids, cross_percent, multi_percent: args.multi_percent, measure_from, end, results: shared.clone() };
    let mode = match args.rate {
        None => {
            let mut tasks = Vec::with_capacity(args.clients);
            for _ in 0..args.clients {
                let load = load.clone();
                tasks.push(tokio::spawn(async move {
                    while Instant::now() < load.end {
                        load.one(Instant::now()).await;
                    }
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
            "closed loop".to_string()
        }
        Some(rate) => {
            let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
            let permits = Arc::new(tokio::sync::Semaphore::new(args.clients.max(1) * 64));
            let mut next = Instant::now();
            let mut tasks = Vec::new();
            while next < end {
                tokio::time::sleep_until(next.into()).await;
                let scheduled = next;
                next += interval;
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    load.results.lock().await.errors += 1; // more in flight than allowed: count as failed
                    continue;
                };
                let load = load.clone();
                tasks.push(tokio::spawn(async move {
                    load.one(scheduled).await;
                    drop(permit);
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
            format!("open loop, {rate}/s")
        }
    };
    let elapsed = args.duration.as_secs_f64();
    let after = sample(&admins).await;
    // Token passes per second over the load only (not the statement reads and the audit after it).
    let sampled_for = started.elapsed().as_secs_f64();
    let cpu: Vec<f64> = (0..banks)
        .map(|i| (ring.pid(i).and_then(cpu_ticks).unwrap_or(0).saturating_sub(cpu_before[i])) as f64 / clock_ticks_per_second())
        .collect();
    let (statement_ms, statement_pages) = statement_latency(&client, ring, &setup, ledger.as_ref().map(|l| l.accounts)).await?;
    let audit_passed = audit(ring, patience).await;
    let results = shared.lock().await;
    let ms = |q: f64| results.latency.value_at_quantile(q) as f64 / 1000.0;
    let passes = after.passes.saturating_sub(before.passes) as f64 / sampled_for;
    let batches = after.batches.saturating_sub(before.batches).max(1) as f64;
    let batched = after.batched.saturating_sub(before.batched) as f64;
    let commits = after.commits.saturating_sub(before.commits) as f64;
    let total_done = (results.committed_all + results.aborted_all).max(1) as f64;
    Ok(BenchReport {
        banks,
        storage: if args.database_url.is_some() { POSTGRES } else { SQLITE }.to_string(),
        mode,
        rate: args.rate,
        clients: args.clients,
        cross_percent,
        seconds: elapsed,
        committed: results.committed,
        aborted: results.aborted,
        errors: results.errors,
        committed_per_second: results.committed as f64 / elapsed,
        aborted_per_second: results.aborted as f64 / elapsed,
        latency_ms: Percentiles { p50: ms(0.5), p90: ms(0.9), p99: ms(0.99), p999: ms(0.999), max: results.latency.max() as f64 / 1000.0 },
        token_passes_per_second: passes,
        mean_batch_size: batched / batches,
        fsync_commits_per_transfer: commits / total_done,
        cpu_seconds_per_bank: cpu,
        phase_ms_per_batch: ["token wait", "hold", "order + local prepare", "remote prepare", "decide"]
            .iter()
            .enumerate()
            .map(|(i, name)| (name.to_string(), after.phases[i].saturating_sub(before.phases[i]) as f64 / 1000.0 / batches))
            .collect(),
        abort_reasons: results.abort_reasons.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        audit_passed,
        regenerations: after.regenerations.saturating_sub(before.regenerations),
        timeline: results.timeline(),
        ledger,
        statement_pages,
        statement_ms,
    })
}

/// Statement pages read per bank after the load, one at a time.
const STATEMENT_READS_PER_BANK: usize = 200;
/// Synthetic customers signed in per seeded bank to read their statements.
const SEEDED_READERS: usize = 20;

/// Latency of statement pages (GET /api/v1/accounts/{n}/statement?limit=50), one request at a
/// time on every bank after the load: the bench's own accounts (their lines are this run's
/// transfers) and, on a seeded ledger, as many reads of random synthetic accounts, each
/// signed in as its holder. Every page must have lines.
async fn statement_latency(
    client: &reqwest::Client,
    ring: &LocalRing,
    setup: &[Bank],
    seeded: Option<u64>,
) -> Result<(Percentiles, u64), String> {
    use rand::SeedableRng;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    let mut rng = rand::rngs::StdRng::from_entropy();
    for (index, bank) in setup.iter().enumerate() {
        let mut readers: Vec<(BankClient, String)> = bank.accounts.iter().map(|a| (bank.client.clone(), a.clone())).collect();
        if let Some(accounts) = seeded {
            let mut seeded_readers = Vec::with_capacity(SEEDED_READERS);
            for _ in 0..SEEDED_READERS {
                let k = rng.gen_range(0..accounts);
                let document = ringbank_domain::document::cpf_from_base(SEED_DOCUMENT_BASE + k as u32);
                let customer = BankClient::with_http(client.clone(), &ring.url(index));
                let session =
                    customer.sign_in(&document, SEED_PASSWORD).await.map_err(|e| format!("seeded customer {k} at bank {index}: {e}"))?;
                seeded_readers.push((customer.with_token(&session.token), (SEED_ACCOUNT_BASE + k).to_string()));
            }
            // As many reads of synthetic accounts as of the bench's own.
            readers = readers.into_iter().zip(seeded_readers.into_iter().cycle()).flat_map(|(own, synthetic)| [own, synthetic]).collect();
        }
        for read in 0..STATEMENT_READS_PER_BANK {
            let (reader, account) = &readers[read % readers.len()];
            let started = Instant::now();
            let page = reader.statement(account, Some(50), None).await.map_err(|e| format!("statement of {account}: {e}"))?;
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX).clamp(1, 60_000_000);
            let _ = histogram.record(micros);
            if page.entries.is_empty() {
                return Err(format!("the statement of account {account} at bank {index} has no lines"));
            }
        }
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let percentiles = Percentiles { p50: ms(0.5), p90: ms(0.9), p99: ms(0.99), p999: ms(0.999), max: histogram.max() as f64 / 1000.0 };
    Ok((percentiles, histogram.len()))
}

/// Everything a load task needs.
#[derive(Clone)]
struct Load {
    banks: Arc<Vec<Bank>>,
    ids: Arc<Vec<String>>,
    cross_percent: u32,
    multi_percent: u32,
    measure_from: Instant,
    end: Instant,
    results: Arc<Mutex<Results>>,
}

impl Load {
    /// Submits one random transfer and records its outcome; latency counts from `scheduled`.
    async fn one(&self, scheduled: Instant) {
        let (origin, transfer) = self.random_transfer();
        let answer = self.banks[origin].client.transfer(&transfer, &PostOptions::wait(PREFER_WAIT)).await.ok().map(|reply| reply.transfer);
        let outcome = answer.as_ref().map(|view| view.status.clone());
        if outcome.as_deref() == Some("aborted") {
            let reason = answer.as_ref().and_then(|view| view.reason.as_deref()).unwrap_or("?");
            // Keep the kind of reason, not the account numbers in it.
            let kind: String = reason.chars().filter(|c| !c.is_ascii_digit()).take(80).collect();
            *self.results.lock().await.abort_reasons.entry(kind).or_insert(0) += 1;
        }
        let done = Instant::now();
        if scheduled < self.measure_from || done > self.end + Duration::from_secs(5) {
            let mut results = self.results.lock().await;
            match outcome.as_deref() {
                Some("committed") => results.committed_all += 1,
                Some("aborted") => results.aborted_all += 1,
                _ => {}
            }
            return;
        }
        let latency = done.duration_since(scheduled);
        let second = done.saturating_duration_since(self.measure_from).as_secs();
        self.results.lock().await.record(outcome.as_deref(), latency, second);
    }

    fn random_transfer(&self) -> (usize, NewTransfer) {
        let mut rng = rand::thread_rng();
        let banks = self.banks.len();
        let origin = rng.gen_range(0..banks);
        let pick = |rng: &mut rand::rngs::ThreadRng, bank: usize, not: Option<&str>| -> String {
            let accounts = &self.banks[bank].accounts;
            loop {
                let account = &accounts[rng.gen_range(0..accounts.len())];
                if Some(account.as_str()) != not {
                    return account.clone();
                }
            }
        };
        // A debit at another bank than the origin carries the consent granted to the origin there.
        let leg = |bank: usize, account: String, amount: i64| Leg::new(&self.ids[bank], &account, amount);
        // A debit at another bank than the origin carries the consent granted to the origin there.
        let debit = |bank: usize, account: String, amount: i64| {
            let consent = self.banks[bank].consents.get(&(self.ids[origin].clone(), account.clone())).cloned();
            Leg { consent: if bank == origin { None } else { consent }, ..Leg::new(&self.ids[bank], &account, amount) }
        };
        let transfer = |debits: Vec<Leg>, credits: Vec<Leg>| NewTransfer { debits, credits, description: "bench".to_string() };
        let cross = rng.gen_range(0..100) < self.cross_percent;
        let body = if !cross {
            let from = pick(&mut rng, origin, None);
            let to = pick(&mut rng, origin, Some(&from));
            transfer(vec![leg(origin, from, 1)], vec![leg(origin, to, 1)])
        } else {
            let other = (origin + rng.gen_range(1..banks)) % banks;
            if rng.gen_range(0..100) < self.multi_percent && banks >= 3 {
                let third = (0..banks).find(|b| *b != origin && *b != other).unwrap_or(other);
                let (a, b, c) = (pick(&mut rng, origin, None), pick(&mut rng, other, None), pick(&mut rng, third, None));
                transfer(vec![debit(origin, a, 1), debit(other, b, 1)], vec![leg(third, c, 2)])
            } else {
                let (from, to) = (pick(&mut rng, origin, None), pick(&mut rng, other, None));
                transfer(vec![leg(origin, from, 1)], vec![leg(other, to, 1)])
            }
        };
        (origin, body)
    }
}

struct Results {
    latency: Histogram<u64>,
    per_second: Vec<(u64, Histogram<u64>)>,
    committed: u64,
    aborted: u64,
    errors: u64,
    committed_all: u64,
    aborted_all: u64,
    abort_reasons: std::collections::BTreeMap<String, u64>,
}

impl Results {
    fn new(duration: Duration) -> Result<Results, String> {
        let seconds = duration.as_secs() as usize + 6;
        let histogram = || Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string());
        let mut per_second = Vec::with_capacity(seconds);
        for _ in 0..seconds {
            per_second.push((0, histogram()?));
        }
        Ok(Results {
            latency: histogram()?,
            per_second,
            committed: 0,
            aborted: 0,
            errors: 0,
            committed_all: 0,
            aborted_all: 0,
            abort_reasons: Default::default(),
        })
    }

    fn record(&mut self, outcome: Option<&str>, latency: Duration, second: u64) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(1, 120_000_000);
        match outcome {
            Some("committed") => {
                self.committed += 1;
                self.committed_all += 1;
                let _ = self.latency.record(micros);
                if let Some((count, histogram)) = self.per_second.get_mut(second as usize) {
                    *count += 1;
                    let _ = histogram.record(micros);
                }
            }
            Some("aborted") => {
                self.aborted += 1;
                self.aborted_all += 1;
            }
            _ => self.errors += 1,
        }
    }

    fn timeline(&self) -> Vec<Second> {
        self.per_second
            .iter()
            .enumerate()
            .filter(|(_, (count, _))| *count > 0)
            .map(|(second, (count, histogram))| Second {
                second: second as u64,
                committed: *count,
                p50_ms: histogram.value_at_quantile(0.5) as f64 / 1000.0,
                p99_ms: histogram.value_at_quantile(0.99) as f64 / 1000.0,
            })
            .collect()
    }
}

pub(crate) async fn open_accounts(client: BankClient, cnpj: &str, count: usize) -> Result<Bank, String> {
    client.sign_up(cnpj, "Bench Ltda", PASSWORD).await.map_err(|e| e.to_string())?;
    let session = client.sign_in(cnpj, PASSWORD).await.map_err(|e| e.to_string())?;
    let client = client.with_token(&session.token);
    let mut accounts = Vec::with_capacity(count);
    for _ in 0..count {
        let account = client.open_account(AccountKind::Company, &[]).await.map_err(|e| e.to_string())?;
        client.deposit(&account.number, FUNDS_CENTS, &PostOptions::default()).await.map_err(|e| e.to_string())?;
        accounts.push(account.number);
    }
    Ok(Bank { client, accounts, consents: Default::default() })
}

/// The company allows every other bank to debit each of its accounts at this bank (`me`).
async fn grant_consents(bank: &mut Bank, ids: &[String], me: &str) -> Result<(), String> {
    for origin in ids.iter().filter(|id| id.as_str() != me) {
        for account in &bank.accounts {
            let request = ringbank_wire::NewConsent {
                grantee: origin.clone(),
                account: account.clone(),
                max_per_transfer_cents: FUNDS_CENTS,
                max_total_cents: i64::MAX / 4,
                valid_for_seconds: 24 * 3600,
            };
            let consent = bank.client.grant_consent(&request).await.map_err(|e| e.to_string())?;
            bank.consents.insert((origin.clone(), account.clone()), consent.id);
        }
    }
    Ok(())
}

#[derive(Default)]
struct Sample {
    passes: u64,
    /// New epochs seen by the bank that saw most (its history keeps the last 32).
    regenerations: u64,
    commits: u64,
    batches: u64,
    batched: u64,
    /// token_wait, hold, order_and_local_prepare, remote_prepare, decide (µs, all banks).
    phases: [u64; 5],
}

async fn sample(admins: &[AdminClient]) -> Sample {
    let mut total = Sample::default();
    for admin in admins {
        if let Ok(view) = admin.ring_status().await {
            total.passes = total.passes.max(view.status.token_seq);
            total.regenerations = total.regenerations.max(view.status.regenerations.len() as u64);
        }
        if let Ok(stats) = admin.stats().await {
            // One fdatasync per ring state write (crate ringbank::ring_state).
            total.commits += stats.writer_commits + stats.ring_persists;
            total.batches += stats.batches;
            total.batched += stats.batched_transfers;
            let phases = &stats.phase_micros;
            for (slot, micros) in [phases.token_wait, phases.hold, phases.order_and_local_prepare, phases.remote_prepare, phases.decide]
                .into_iter()
                .enumerate()
            {
                total.phases[slot] += micros;
            }
        }
    }
    total
}

/// The consortium audit, retried until it passes or `patience` runs out (each bank's audit reads
/// its whole ledger).
async fn audit(ring: &LocalRing, patience: Duration) -> bool {
    let urls: Vec<(String, String)> = (0..ring.ids.len()).map(|i| (ring.ids[i].clone(), ring.url(i))).collect();
    let deadline = Instant::now() + patience;
    loop {
        match crate::consortium_audit::fetch_within(&urls, &ring.admin_secret, patience).await {
            Ok(summaries) => {
                let report = crate::consortium_audit::check(&summaries);
                if report.passed {
                    return true;
                }
                if Instant::now() > deadline {
                    eprint!("{}", report.render());
                    return false;
                }
            }
            Err(error) if Instant::now() > deadline => {
                eprintln!("bench: audit failed: {error}");
                return false;
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// utime + stime of a process, in clock ticks (Linux /proc).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn print_table(report: &BenchReport) {
    println!(
        "transfers, {} bank(s), {}% cross-bank, {}, {} clients, {}",
        report.banks, report.cross_percent, report.mode, report.clients, report.storage
    );
    println!("  measured               {:.1} s", report.seconds);
    println!("  committed              {} ({:.0}/s)", report.committed, report.committed_per_second);
    println!("  aborted / errors       {} ({:.1}/s) / {}", report.aborted, report.aborted_per_second, report.errors);
    let l = &report.latency_ms;
    println!("  latency to final, ms   p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}", l.p50, l.p90, l.p99, l.p999, l.max);
    println!("  token passes/s         {:.1}", report.token_passes_per_second);
    println!("  mean batch size        {:.1}", report.mean_batch_size);
    println!("  fsync commits/transfer {:.2}", report.fsync_commits_per_transfer);
    let cpu: Vec<String> = report.cpu_seconds_per_bank.iter().map(|c| format!("{c:.1}")).collect();
    println!("  CPU seconds per bank   {}", cpu.join("  "));
    let phases: Vec<String> = report.phase_ms_per_batch.iter().map(|(n, ms)| format!("{n} {ms:.1}")).collect();
    println!("  ms per batch           {}", phases.join(", "));
    for (reason, count) in &report.abort_reasons {
        println!("  aborted because        {count} x {reason}");
    }
    println!("  tokens regenerated     {} (no fault injected: each would be a false alarm)", report.regenerations);
    match &report.ledger {
        Some(l) => println!(
            "  ledger                 seeded: {} accounts, {} journal entries per bank ({:.0} s to seed)",
            l.accounts, l.entries, l.seed_seconds
        ),
        None => println!("  ledger                 empty at the start"),
    }
    let s = &report.statement_ms;
    println!(
        "  statement page, ms     p50 {:.1}  p99 {:.1}  max {:.1} ({} pages of 50 lines, one at a time)",
        s.p50, s.p99, s.max, report.statement_pages
    );
    println!("  consortium audit       {}", if report.audit_passed { "pass" } else { "FAIL" });
}

/// One target of the performance issue and what this run measured of it.
#[derive(Debug, Serialize, Clone)]
pub struct Target {
    pub figure: String,
    pub target: String,
    /// What this run measured, or how to measure it when this run did not.
    pub measured: String,
    /// None: this run does not measure it.
    pub met: Option<bool>,
}

/// The issue's targets, each with what `reports` (one run or a sweep) say about it.
pub fn targets(reports: &[BenchReport]) -> Vec<Target> {
    let local = reports.iter().find(|r| r.banks == 1 && r.rate.is_none());
    let three = reports.iter().find(|r| r.banks == 3 && r.cross_percent == 100 && r.rate.is_none());
    let three_open = reports.iter().find(|r| r.banks == 3 && r.cross_percent == 100 && r.rate.is_some());
    let seven = reports.iter().find(|r| r.banks == 7 && r.cross_percent == 100 && r.rate.is_none());
    let rate = |r: &BenchReport| format!("{:.0} committed/s", r.committed_per_second);
    let not_here = |command: &str| (format!("not measured by this run: {command}"), None);
    let mut lines = Vec::new();
    let mut push = |figure: &str, target: &str, (measured, met): (String, Option<bool>)| {
        lines.push(Target { figure: figure.to_string(), target: target.to_string(), measured, met })
    };
    push(
        "local transfers/s, one bank, over HTTP, durable",
        ">= 20,000",
        match local {
            Some(r) => (rate(r), Some(r.committed_per_second >= 20_000.0)),
            None => not_here("ringbank bench --banks 1 --cross-percent 0"),
        },
    );
    push(
        "cross-bank committed/s, 3 banks",
        ">= 5,000",
        match three {
            Some(r) => (rate(r), Some(r.committed_per_second >= 5_000.0)),
            None => not_here("ringbank bench --banks 3"),
        },
    );
    push(
        "cross-bank p99 to final state, open loop at 80% of the maximum",
        "<= 250 ms",
        match three_open {
            Some(r) => (
                format!("p99 {:.0} ms at {}/s (80% of the maximum only if --rate was chosen so)", r.latency_ms.p99, r.rate.unwrap_or(0)),
                Some(r.latency_ms.p99 <= 250.0 && r.errors == 0),
            ),
            None => not_here("ringbank bench --banks 3 --rate <80% of the closed-loop figure>"),
        },
    );
    push(
        "7 banks vs 3 banks throughput",
        ">= 70%",
        match (three, seven) {
            (Some(three), Some(seven)) => {
                let ratio = seven.committed_per_second / three.committed_per_second.max(1.0);
                (format!("{:.0}%", ratio * 100.0), Some(ratio >= 0.7))
            }
            _ => not_here("ringbank bench --banks 3,7"),
        },
    );
    let empty = reports.iter().find(|r| r.ledger.is_none());
    let large = reports.iter().find(|r| r.ledger.is_some());
    push(
        "1M accounts and 10M journal entries vs empty",
        ">= 80%, statement p99 < 10 ms",
        match (empty, large) {
            (Some(empty), Some(large)) if empty.banks == large.banks => {
                let ratio = large.committed_per_second / empty.committed_per_second.max(1.0);
                let ledger = large.ledger.as_ref().map(|l| (l.accounts, l.entries)).unwrap_or_default();
                let full_size = ledger.0 >= 1_000_000 && ledger.1 >= 10_000_000;
                let measured = format!(
                    "{:.0}% ({:.0}/s seeded vs {:.0}/s empty, {} bank(s), {} accounts and {} entries each), statement p99 {:.1} ms{}",
                    ratio * 100.0,
                    large.committed_per_second,
                    empty.committed_per_second,
                    large.banks,
                    ledger.0,
                    ledger.1,
                    large.statement_ms.p99,
                    if full_size { "" } else { " (a smaller ledger than the target's)" }
                );
                (measured, full_size.then_some(ratio >= 0.8 && large.statement_ms.p99 < 10.0))
            }
            _ => not_here("ringbank bench --seed-accounts 1000000 --seed-entries 10000000"),
        },
    );
    let postgres = reports.iter().find(|r| r.storage == POSTGRES);
    push(
        "PostgreSQL backend",
        "measured and reported",
        match postgres {
            Some(r) => (format!("{}, {} bank(s), p99 {:.0} ms", rate(r), r.banks, r.latency_ms.p99), Some(true)),
            None => not_here("ringbank bench --database-url 'postgres://.../bench_{bank}' (or wrk with bench/transfers.lua, README)"),
        },
    );
    lines
}

fn print_targets(targets: &[Target]) {
    println!("targets (issue 12)");
    for target in targets {
        let verdict = match target.met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "-",
        };
        println!("  {:<7} {:<62} {:<30} {}", verdict, target.figure, target.target, target.measured);
    }
}

/// Throughput (bars) and p50/p99 latency (lines) per second.
fn timeline_svg(report: &BenchReport) -> String {
    let (width, height, margin) = (720.0, 320.0, 50.0);
    let seconds = report.timeline.len().max(1) as f64;
    let max_rate = report.timeline.iter().map(|s| s.committed).max().unwrap_or(1).max(1) as f64;
    let max_latency = report.timeline.iter().map(|s| s.p99_ms).fold(1.0, f64::max);
    let x = |i: f64| margin + i * (width - 2.0 * margin) / seconds;
    let y_rate = |v: f64| height - margin - v / max_rate * (height - 2.0 * margin);
    let y_latency = |v: f64| height - margin - v / max_latency * (height - 2.0 * margin);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="#fff"/><text x="{margin}" y="20">{} bank(s), {}: committed/s (bars, max {max_rate:.0}) and latency p50/p99 (lines, max {max_latency:.0} ms)</text>"##,
        report.banks, report.mode
    );
    let bar = (width - 2.0 * margin) / seconds * 0.8;
    for (i, s) in report.timeline.iter().enumerate() {
        let top = y_rate(s.committed as f64);
        svg.push_str(&format!(
            r##"<rect x="{:.1}" y="{top:.1}" width="{bar:.1}" height="{:.1}" fill="#9ecae1"/>"##,
            x(i as f64),
            height - margin - top
        ));
    }
    for (field, color) in [("p50", "#31a354"), ("p99", "#de2d26")] {
        let points: Vec<String> = report
            .timeline
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{:.1},{:.1}", x(i as f64) + bar / 2.0, y_latency(if field == "p50" { s.p50_ms } else { s.p99_ms })))
            .collect();
        svg.push_str(&format!(r##"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"##, points.join(" ")));
    }
    svg.push_str(&format!(
        r##"<line x1="{margin}" y1="{0}" x2="{1}" y2="{0}" stroke="#000"/><text x="{margin}" y="{2}">seconds</text></svg>"##,
        height - margin,
        width - margin,
        height - 15.0
    ));
    svg
}

/// Committed/s and p50 latency by number of banks.
fn scaling_svg(reports: &[BenchReport]) -> String {
    let (width, height, margin) = (520.0, 300.0, 50.0);
    let max_rate = reports.iter().map(|r| r.committed_per_second).fold(1.0, f64::max);
    let slot = (width - 2.0 * margin) / reports.len() as f64;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="#fff"/><text x="{margin}" y="20">scaling: committed/s by number of banks (label: p50 ms)</text>"##
    );
    for (i, report) in reports.iter().enumerate() {
        let h = report.committed_per_second / max_rate * (height - 2.0 * margin);
        let x = margin + i as f64 * slot + slot * 0.15;
        svg.push_str(&format!(
            r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#9ecae1"/><text x="{x:.1}" y="{:.1}">{} banks: {:.0}/s, p50 {:.0} ms</text>"##,
            height - margin - h,
            slot * 0.7,
            height - margin + 15.0,
            report.banks,
            report.committed_per_second,
            report.latency_ms.p50
        ));
    }
    svg.push_str("</svg>");
    svg
}
