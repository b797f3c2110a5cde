//! `ringbank fault --bank URL-or-ID <fault>`: injects one fault into a running bank through
//! its admin API (POST /admin/v1/faults/...), lists the active ones, or asks the `ringbank up`
//! supervisor to restart a bank (a dead bank cannot restart itself).

use std::time::Duration;

use ringbank_client::{AdminClient, Fault};
use ringbank_domain::CrashPoint;
use serde_json::json;

use crate::args::{FaultArgs, FaultKind, PeerArg};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A partition without `--for` lasts this long (the bank's own default for other faults).
const PARTITION_DEFAULT: Duration = Duration::from_secs(30);

/// Resolves `--bank` to a base URL: a URL as is, else an id looked up in `peers`.
pub fn bank_url(bank: &str, peers: &[PeerArg]) -> Result<String, String> {
    if bank.starts_with("http://") || bank.starts_with("https://") {
        return Ok(bank.trim_end_matches('/').to_string());
    }
    peers
        .iter()
        .find(|p| p.id == bank)
        .map(|p| p.url.clone())
        .ok_or_else(|| format!("unknown bank {bank:?}: give its URL, or --peer {bank}=URL"))
}

/// The typed fault for a command; None for list and restart.
pub fn fault_for(kind: &FaultKind) -> Result<Option<Fault>, String> {
    Ok(Some(match kind {
        FaultKind::Crash => Fault::Crash,
        FaultKind::CrashAt { point } => Fault::CrashAt { point: point.parse::<CrashPoint>().map_err(|e| e.to_string())? },
        FaultKind::Pause { duration } => Fault::Pause { duration: *duration },
        FaultKind::DropToken { duration } => Fault::DropToken { duration: *duration },
        FaultKind::ReplayToken { after } => Fault::ReplayToken { after: *after },
        FaultKind::Partition { banks, duration } => {
            Fault::Partition { banks: banks.clone(), duration: duration.unwrap_or(PARTITION_DEFAULT) }
        }
        FaultKind::Delay { delay, jitter, duration } => {
            Fault::Delay { delay: *delay, jitter: jitter.unwrap_or(Duration::ZERO), duration: *duration }
        }
        FaultKind::Loss { percent, duration } => Fault::Loss { percent: *percent, duration: *duration },
        FaultKind::Duplicate { percent, duration } => Fault::Duplicate { percent: *percent, duration: *duration },
        FaultKind::ClockRate { rate, duration } => Fault::ClockRate { rate: *rate, duration: *duration },
        FaultKind::Heal => Fault::Heal,
        FaultKind::List | FaultKind::Restart => return Ok(None),
    }))
}

pub async fn run(args: FaultArgs) -> Result<std::process::ExitCode, String> {
    let secret = args.target.admin_secret.clone().ok_or("faults need the admin secret: --admin-secret or RINGBANK_ADMIN_SECRET")?;
    if matches!(args.fault, FaultKind::Restart) {
        return restart(&args, &secret).await;
    }
    let url = bank_url(&args.target.bank, &args.target.peers)?;
    let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().map_err(|e| e.to_string())?;
    let admin = AdminClient::with_http(http, &url, &secret);
    match fault_for(&args.fault)? {
        Some(fault) => {
            admin.inject(&fault).await.map_err(|e| {
                if e.is_transport() {
                    e.to_string()
                } else {
                    format!("the bank refused the fault: {e}")
                }
            })?;
            println!("{url}: {} {}", fault.path(), fault.body());
        }
        None => {
            let view = admin.faults().await.map_err(|e| e.to_string())?;
            println!("bank {}: {} fault(s) injected since start, {} active", view.bank, view.injected, view.active.len());
            for fault in &view.active {
                let until =
                    if fault.remaining_ms == 0 { "until it fires or heal".to_string() } else { format!("{} ms left", fault.remaining_ms) };
                println!("  {:<12} {:<6} {:<50} {until}", fault.kind, fault.bank, fault.detail);
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// POST /control/v1/restart at the `ringbank up` supervisor (not a bank: no typed client).
async fn restart(args: &FaultArgs, secret: &str) -> Result<std::process::ExitCode, String> {
    let response = reqwest::Client::new()
        .post(format!("{}/control/v1/restart", args.supervisor.trim_end_matches('/')))
        .bearer_auth(secret)
        .json(&json!({"bank": args.target.bank}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| format!("the supervisor at {} does not answer: {e}", args.supervisor))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(format!("the supervisor refused ({status}): {text}"));
    }
    println!("restarted bank {}", args.target.bank);
    Ok(std::process::ExitCode::SUCCESS)
}
