//! `ringbank bench`: a closed-loop load generator for transfers inside one bank. It starts a
//! fresh bank in this process (SQLite, full durability) in a temporary directory, opens and
//! funds accounts over the API, runs concurrent clients over keep-alive connections, and
//! reports committed operations per second and latency percentiles (HDR histogram). The
//! bank's audit must pass at the end.

use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use rand::Rng;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{BenchArgs, ServeConfig};

const PASSWORD: &str = "bench-password-123";

#[derive(Debug, serde::Serialize)]
pub struct BenchReport {
    pub clients: usize,
    pub accounts: usize,
    pub seconds: f64,
    pub committed: u64,
    pub refused: u64,
    pub errors: u64,
    pub committed_per_second: f64,
    pub latency_ms: Percentiles,
    pub audit_passed: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Runs the benchmark and prints the report; returns whether the audit passed.
pub async fn run(args: BenchArgs) -> Result<bool, String> {
    if args.clients == 0 || args.accounts < 2 {
        return Err("--clients must be at least 1 and --accounts at least 2".into());
    }
    let data = std::env::temp_dir().join(format!("ringbank-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut config = ServeConfig::for_test("BENCH", data.clone());
    config.max_amount_cents = i64::MAX / 4;
    let app = App::build(config).await.map_err(|e| e.to_string())?;
    let url = app.url();
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build().map_err(|e| e.to_string())?;

    eprintln!("bench: opening and funding {} accounts at {url}", args.accounts);
    let (token, accounts) = setup(&client, &url, args.accounts).await?;
    let token = Arc::new(token);
    let accounts = Arc::new(accounts);

    eprintln!("bench: warm-up {:?}, then measuring {:?} with {} clients", args.warmup, args.duration, args.clients);
    let warm_until = Instant::now() + args.warmup;
    let end = warm_until + args.duration;
    let mut tasks = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let (client, url, token, accounts) = (client.clone(), url.clone(), token.clone(), accounts.clone());
        tasks.push(tokio::spawn(async move { client_loop(client, url, token, accounts, warm_until, end).await }));
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    let (mut committed, mut refused, mut errors) = (0u64, 0u64, 0u64);
    for task in tasks {
        let result = task.await.map_err(|e| e.to_string())?;
        histogram.add(&result.histogram).map_err(|e| e.to_string())?;
        committed += result.committed;
        refused += result.refused;
        errors += result.errors;
    }
    let state_pool = crate::ledger::open_pools(&crate::ledger::DatabaseLocation::SqliteDir(data.clone()), "BENCH", 1).await.map_err(|e| e.to_string());
    stop.cancel();
    let _ = server.await;
    let audit_passed = match state_pool {
        Ok(pools) => crate::ledger::audit::audit(&pools.read).await.map(|r| r.passed).unwrap_or(false),
        Err(_) => false,
    };
    let seconds = args.duration.as_secs_f64();
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let report = BenchReport {
        clients: args.clients,
        accounts: args.accounts,
        seconds,
        committed,
        refused,
        errors,
        committed_per_second: committed as f64 / seconds,
        latency_ms: Percentiles { p50: ms(0.5), p90: ms(0.9), p99: ms(0.99), p999: ms(0.999), max: histogram.max() as f64 / 1000.0 },
        audit_passed,
    };
    print_table(&report);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    }
    let _ = std::fs::remove_dir_all(&data);
    Ok(audit_passed && errors == 0)
}

/// One customer holding one joint account with itself is not allowed, so: one customer per
/// account would cost an Argon2 hash each; instead one company customer opens every account
/// as a company account (company customers may hold many).
async fn setup(client: &reqwest::Client, url: &str, accounts: usize) -> Result<(String, Vec<String>), String> {
    let cnpj = crate::document::cnpj_from_base("BENCH0000001").ok_or("bad base")?;
    let created = client
        .post(format!("{url}/api/v1/customers"))
        .body(json!({"document": cnpj, "name": "Bench Ltda", "password": PASSWORD}).to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if created.status() != 201 {
        return Err(format!("customer creation failed: {}", created.status()));
    }
    let session: serde_json::Value = client
        .post(format!("{url}/api/v1/sessions"))
        .body(json!({"document": cnpj, "password": PASSWORD}).to_string())
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let token = session["token"].as_str().ok_or("no token")?.to_string();
    let mut numbers = Vec::with_capacity(accounts);
    for _ in 0..accounts {
        let account: serde_json::Value = client
            .post(format!("{url}/api/v1/accounts"))
            .bearer_auth(&token)
            .body(json!({"kind": "company"}).to_string())
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let number = account["number"].as_str().ok_or("no number")?.to_string();
        client
            .post(format!("{url}/api/v1/deposits"))
            .bearer_auth(&token)
            .body(json!({"account": number, "amount_cents": 1_000_000_000}).to_string())
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| e.to_string())?;
        numbers.push(number);
    }
    Ok((token, numbers))
}

struct ClientResult {
    histogram: Histogram<u64>,
    committed: u64,
    refused: u64,
    errors: u64,
}

async fn client_loop(
    client: reqwest::Client,
    url: String,
    token: Arc<String>,
    accounts: Arc<Vec<String>>,
    warm_until: Instant,
    end: Instant,
) -> ClientResult {
    let mut result = ClientResult {
        histogram: Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
        committed: 0,
        refused: 0,
        errors: 0,
    };
    let transfers_url = format!("{url}/api/v1/transfers");
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let (from, to) = {
            let mut rng = rand::thread_rng();
            let from = rng.gen_range(0..accounts.len());
            let mut to = rng.gen_range(0..accounts.len() - 1);
            if to >= from {
                to += 1;
            }
            (from, to)
        };
        let body = json!({
            "debits": [{"bank": "BENCH", "account": accounts[from], "amount_cents": 1}],
            "credits": [{"bank": "BENCH", "account": accounts[to], "amount_cents": 1}],
            "description": "bench"
        });
        let started = Instant::now();
        let response = client.post(&transfers_url).bearer_auth(token.as_str()).body(body.to_string()).send().await;
        let elapsed = started.elapsed();
        if started < warm_until {
            continue;
        }
        match response {
            Ok(r) if r.status() == 201 => {
                result.committed += 1;
                let _ = result.histogram.record(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).max(1));
            }
            Ok(r) if r.status() == 422 => result.refused += 1,
            _ => result.errors += 1,
        }
        if Instant::now() >= end {
            break;
        }
    }
    result
}

fn print_table(report: &BenchReport) {
    println!("local transfers, one bank, SQLite WAL synchronous=FULL");
    println!("  clients              {}", report.clients);
    println!("  accounts             {}", report.accounts);
    println!("  measured             {:.1} s", report.seconds);
    println!("  committed            {} ({:.0}/s)", report.committed, report.committed_per_second);
    println!("  refused / errors     {} / {}", report.refused, report.errors);
    let l = &report.latency_ms;
    println!("  latency ms           p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}", l.p50, l.p90, l.p99, l.p999, l.max);
    println!("  audit                {}", if report.audit_passed { "pass" } else { "FAIL" });
}
