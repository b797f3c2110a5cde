//! `ringbank fault --bank URL-or-ID <fault>`: injects one fault into a running bank through
//! its admin API (POST /admin/v1/faults/...), lists the active ones, or asks the `ringbank up`
//! supervisor to restart a bank (a dead bank cannot restart itself).

use std::time::Duration;

use serde_json::{json, Value};

use crate::config::{FaultArgs, FaultKind};
use crate::faults::FaultsView;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves `--bank` to a base URL: a URL as is, else an id looked up in `peers`.
pub fn bank_url(bank: &str, peers: &[crate::config::PeerArg]) -> Result<String, String> {
    if bank.starts_with("http://") || bank.starts_with("https://") {
        return Ok(bank.trim_end_matches('/').to_string());
    }
    peers
        .iter()
        .find(|p| p.id == bank)
        .map(|p| p.url.clone())
        .ok_or_else(|| format!("unknown bank {bank:?}: give its URL, or --peer {bank}=URL"))
}

/// The admin request for one fault: (path under /admin/v1/faults, body); None for list/restart.
pub fn request_for(fault: &FaultKind) -> Option<(&'static str, Value)> {
    let text = |d: &Duration| humantime::format_duration(*d).to_string();
    let with_for = |mut body: Value, duration: &Option<Duration>| {
        if let Some(d) = duration {
            body["for"] = json!(text(d));
        }
        body
    };
    Some(match fault {
        FaultKind::Crash => ("crash", json!({})),
        FaultKind::CrashAt { point } => ("crash-at", json!({"point": point})),
        FaultKind::Pause { duration } => ("pause", json!({"for": text(duration)})),
        FaultKind::DropToken { duration } => ("drop-token", with_for(json!({}), duration)),
        FaultKind::ReplayToken { after } => ("replay-token", json!({"after": text(after)})),
        FaultKind::Partition { banks, duration } => {
            let duration = duration.unwrap_or(crate::faults::FAULT_DURATION_DEFAULT);
            ("partition", json!({"banks": banks, "for": text(&duration)}))
        }
        FaultKind::Delay { delay, jitter, duration } => {
            let body = json!({"delay": text(delay), "jitter": text(&jitter.unwrap_or(Duration::ZERO))});
            ("delay", with_for(body, duration))
        }
        FaultKind::Loss { percent, duration } => ("loss", with_for(json!({"percent": percent}), duration)),
        FaultKind::Duplicate { percent, duration } => ("duplicate", with_for(json!({"percent": percent}), duration)),
        FaultKind::Heal => ("heal", json!({})),
        FaultKind::List | FaultKind::Restart => return None,
    })
}

/// POSTs one fault to a bank's admin API.
pub async fn inject(client: &reqwest::Client, url: &str, secret: &str, path: &str, body: &Value) -> Result<(), String> {
    let response = client
        .post(format!("{url}/admin/v1/faults/{path}"))
        .bearer_auth(secret)
        .json(body)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    Err(format!("{url} refused the fault ({status}): {text}"))
}

pub async fn list(client: &reqwest::Client, url: &str, secret: &str) -> Result<FaultsView, String> {
    let response = client
        .get(format!("{url}/admin/v1/faults"))
        .bearer_auth(secret)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{url} answered {status}: {}", response.text().await.unwrap_or_default()));
    }
    response.json().await.map_err(|e| format!("{url}: {e}"))
}

pub async fn run(args: FaultArgs) -> Result<std::process::ExitCode, String> {
    let secret = args.admin_secret.clone().ok_or("faults need the admin secret: --admin-secret or RINGBANK_ADMIN_SECRET")?;
    let client = reqwest::Client::new();
    if matches!(args.fault, FaultKind::Restart) {
        let response = client
            .post(format!("{}/control/v1/restart", args.supervisor.trim_end_matches('/')))
            .bearer_auth(&secret)
            .json(&json!({"bank": args.bank}))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| format!("the supervisor at {} does not answer: {e}", args.supervisor))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("the supervisor refused ({status}): {text}"));
        }
        println!("restarted bank {}", args.bank);
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let url = bank_url(&args.bank, &args.peers)?;
    match request_for(&args.fault) {
        Some((path, body)) => {
            inject(&client, &url, &secret, path, &body).await?;
            println!("{url}: {path} {body}");
        }
        None => {
            let view = list(&client, &url, &secret).await?;
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
