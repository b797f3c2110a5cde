//! The fault-injection CLI against real bank processes (every fault kind has an effect that
//! can be observed from outside), `ringbank up`'s supervisor, and short chaos runs that must
//! pass every invariant.

use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};

use crate::common::*;

/// Runs `ringbank fault ...` with the test admin secret (unless `secret` is None).
async fn fault(secret: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"));
    command.arg("fault").args(args).env_remove("RINGBANK_ADMIN_SECRET").env_remove("RINGBANK_PEERS").env("RINGBANK_LOG", "warn");
    if let Some(secret) = secret {
        command.env("RINGBANK_ADMIN_SECRET", secret);
    }
    let output = command.output().await.expect("run ringbank fault");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

async fn fault_ok(args: &[&str]) -> String {
    let (ok, text) = fault(Some(ADMIN_SECRET), args).await;
    assert!(ok, "ringbank fault {args:?} failed: {text}");
    text
}

async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The index of the bank holding the token, and the epoch.
async fn holder(consortium: &Consortium, client: &Client) -> (usize, u64) {
    wait_for(Duration::from_secs(15), "a holder", || async {
        for index in 0..consortium.ids.len() {
            if let Some(status) = consortium.status(client, index).await {
                if status.status.holding {
                    return Some((index, status.status.epoch));
                }
            }
        }
        None
    })
    .await
}

async fn max_epoch(consortium: &Consortium, client: &Client) -> u64 {
    let mut epoch = 0;
    for index in 0..consortium.ids.len() {
        if let Some(status) = consortium.status(client, index).await {
            epoch = epoch.max(status.status.epoch);
        }
    }
    epoch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_refused_without_the_admin_secret_and_listed_with_it() {
    let consortium = Consortium::start(3, &[]).await;
    let url = consortium.url(0);
    let (ok, text) = fault(None, &["--bank", &url, "list"]).await;
    assert!(!ok && text.contains("admin secret"), "{text}");
    let (ok, text) = fault(Some("wrong-secret-0123456789"), &["--bank", &url, "loss", "50"]).await;
    assert!(!ok && text.contains("403"), "{text}");
    // An id resolves through --peer.
    let peer = format!("A={url}");
    fault_ok(&["--bank", "A", "--peer", &peer, "delay", "20ms", "--jitter", "10ms", "--for", "1500ms"]).await;
    let listed = fault_ok(&["--bank", &url, "list"]).await;
    assert!(listed.contains("delay") && listed.contains("1 fault(s) injected"), "{listed}");
    let status = consortium.status(&Client::new(), 0).await.unwrap();
    assert_eq!(status.faults_injected, 1, "{status:?}");
    assert_eq!(status.active_faults[0].kind, "delay", "{status:?}");
    // Faults expire on their own.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let listed = fault_ok(&["--bank", &url, "list"]).await;
    assert!(listed.contains("0 active"), "{listed}");
    // Unknown crash points and bad percentages are refused.
    let (ok, text) = fault(Some(ADMIN_SECRET), &["--bank", &url, "crash-at", "nowhere"]).await;
    assert!(!ok && text.contains("unknown crash point"), "{text}");
    let (ok, _) = fault(Some(ADMIN_SECRET), &["--bank", &url, "loss", "101"]).await;
    assert!(!ok);
    // A ring clock rate outside 0.5..=2 is refused by the CLI already; inside, it is listed.
    let (ok, text) = fault(Some(ADMIN_SECRET), &["--bank", &url, "clock-rate", "2.5"]).await;
    assert!(!ok && text.contains("between 0.5 and 2"), "{text}");
    fault_ok(&["--bank", &url, "clock-rate", "1.045", "--for", "1m"]).await;
    let listed = fault_ok(&["--bank", &url, "list"]).await;
    assert!(listed.contains("clock-rate") && listed.contains("x1.045"), "{listed}");
    // heal lifts what is active.
    fault_ok(&["--bank", &url, "partition", "B", "--for", "1m"]).await;
    fault_ok(&["--bank", &url, "heal"]).await;
    assert!(fault_ok(&["--bank", &url, "list"]).await.contains("0 active"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_token_makes_the_ring_regenerate_and_replay_token_is_refused() {
    // The park of before (300 ms, no beats): a replay is stale once every bank has accepted a
    // newer stamp, a whole rotation, which takes some 1.5 s so, 6.6 s with the default 2 s park.
    let consortium = Consortium::start(3, &["--idle-park", "300ms"]).await;
    let client = Client::new();
    let (index, epoch) = holder(&consortium, &client).await;
    fault_ok(&["--bank", &consortium.url(index), "drop-token"]).await;
    let new_epoch = wait_for(Duration::from_secs(15), "a new epoch after drop-token", || async {
        let epoch_now = max_epoch(&consortium, &client).await;
        (epoch_now > epoch).then_some(epoch_now)
    })
    .await;
    eprintln!("drop-token at {}: epoch {epoch} -> {new_epoch}", consortium.ids[index]);

    // Replay: every bank re-sends the last token it passed on (once it has passed one in
    // the new epoch) 1.5 s later, when the ring has moved past it (this ring parks the token
    // some 0.5 s per pass); nobody accepts it, and the receivers count it as stale.
    let stale = |status: &RingStatusView| status.status.stale_tokens_ignored;
    let mut stale_before = 0;
    for index in 0..3 {
        stale_before += stale(&consortium.status(&client, index).await.unwrap());
    }
    for index in 0..3 {
        let url = consortium.url(index);
        wait_for(Duration::from_secs(10), "a token to replay", || async {
            fault(Some(ADMIN_SECRET), &["--bank", &url, "replay-token", "--after", "1500ms"]).await.0.then_some(())
        })
        .await;
    }
    let mut seen: std::collections::HashMap<(u64, u64), String> = Default::default();
    let mut newest = vec![(0u64, 0u64); 3];
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        for index in 0..3 {
            let Some(status) = consortium.status(&client, index).await else { continue };
            let stamp = (status.status.epoch, status.status.token_seq);
            assert!(stamp >= newest[index], "bank {index} went back from {:?} to {stamp:?}", newest[index]);
            newest[index] = stamp;
            if status.status.holding {
                let bank = status.status.bank.clone();
                if let Some(other) = seen.insert(stamp, bank.clone()) {
                    assert_eq!(other, bank, "two holders of {stamp:?}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut stale_after = 0;
    for index in 0..3 {
        stale_after += stale(&consortium.status(&client, index).await.unwrap());
    }
    assert!(stale_after >= stale_before + 3, "replayed tokens were not seen as stale: {stale_before} -> {stale_after}");
    // The ring still circulates.
    let before = max_epoch(&consortium, &client).await;
    holder(&consortium, &client).await;
    assert!(max_epoch(&consortium, &client).await >= before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_bank_is_replaced_then_resumes_with_its_old_state() {
    let consortium = Consortium::start(3, &[]).await;
    let client = Client::new();
    let (index, epoch) = holder(&consortium, &client).await;
    fault_ok(&["--bank", &consortium.url(index), "pause", "3s"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Frozen: it does not answer, and the others regenerate the token without it.
    assert!(consortium.status(&client, index).await.is_none(), "a paused bank answered");
    let others: Vec<usize> = (0..3).filter(|i| *i != index).collect();
    wait_for(Duration::from_secs(10), "the others to regenerate", || async {
        for &other in &others {
            if let Some(status) = consortium.status(&client, other).await {
                if status.status.holding && status.status.epoch > epoch {
                    return Some(());
                }
            }
        }
        None
    })
    .await;
    // It wakes up by itself, same process, and takes the token again.
    let grants_before = wait_for(Duration::from_secs(10), "the paused bank to resume", || async {
        consortium.status(&client, index).await.map(|s| s.status.grants)
    })
    .await;
    wait_for(Duration::from_secs(15), "the resumed bank to hold again", || async {
        let status = consortium.status(&client, index).await?;
        (status.status.grants > grants_before).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_delay_and_duplicates_keep_cross_bank_transfers_correct() {
    let consortium = Consortium::start(3, &[]).await;
    let cpf = new_cpf();
    let mut tokens = Vec::new();
    for index in 0..3 {
        tokens.push(consortium.view(index).customer(&cpf, "Chaos").await);
    }
    let mut accounts = Vec::new();
    for index in 0..3 {
        let account = consortium.view(index).open_account(&tokens[index], "individual", &[]).await;
        consortium.view(index).deposit(&tokens[index], &account, 100_000).await;
        accounts.push(account);
    }
    for index in 0..3 {
        let url = consortium.url(index);
        fault_ok(&["--bank", &url, "loss", "20", "--for", "20s"]).await;
        fault_ok(&["--bank", &url, "duplicate", "40", "--for", "20s"]).await;
        fault_ok(&["--bank", &url, "delay", "5ms", "--jitter", "20ms", "--for", "20s"]).await;
    }
    let mut ids = Vec::new();
    for round in 0..12usize {
        let (from, to) = (round % 3, (round + 1) % 3);
        let transfer = NewTransfer {
            debits: vec![Leg::new(&consortium.ids[from], &accounts[from], 1_000)],
            credits: vec![Leg::new(&consortium.ids[to], &accounts[to], 1_000)],
            description: "lossy".to_string(),
        };
        let reply = consortium.view(from).as_customer(&tokens[from]).transfer(&transfer, &PostOptions::default()).await.expect("accepted");
        assert_eq!(reply.http_status, 202, "{reply:?}");
        ids.push((from, reply.transfer.id));
    }
    for (from, id) in &ids {
        let view = wait_for(Duration::from_secs(60), "the transfer to be final", || async {
            let view = consortium.view(*from).as_customer(&tokens[*from]).transfer_view(id).await.ok()?;
            (view.status != "pending").then_some(view)
        })
        .await;
        assert!(view.status == "committed" || view.status == "aborted", "{view:?}");
    }
    for index in 0..3 {
        fault_ok(&["--bank", &consortium.url(index), "heal"]).await;
    }
    let report = consortium.audit_until_quiet(Duration::from_secs(30)).await;
    assert!(report.passed, "{}", report.render());
    assert_eq!(report.committed + report.aborted, 12, "{}", report.render());
}

/// A base port for a LocalRing in this test process, unlikely to collide with others.
fn base_port(slot: u16) -> u16 {
    20_000 + (std::process::id() % 400) as u16 * 20 + slot * 6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_supervises_crash_is_a_kill_and_restart_brings_the_bank_back() {
    let data = tempfile::tempdir().unwrap();
    let base = base_port(0);
    let control = base + 5;
    let mut up = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"))
        .args([
            "up",
            "--banks",
            "3",
            "--base-port",
            &base.to_string(),
            "--restart-after",
            "0",
            "--control-port",
            &control.to_string(),
            "--admin-secret",
            ADMIN_SECRET,
            "--data-dir",
        ])
        .arg(data.path())
        .env("RINGBANK_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = Client::new();
    let healthy = |port: u16| {
        let client = client.clone();
        async move {
            client
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .timeout(Duration::from_millis(300))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        }
    };
    wait_for(Duration::from_secs(30), "bank B up", || async { healthy(base + 1).await.then_some(()) }).await;
    fault_ok(&["--bank", &format!("http://127.0.0.1:{}", base + 1), "crash"]).await;
    wait_for(Duration::from_secs(5), "bank B dead", || async { (!healthy(base + 1).await).then_some(()) }).await;
    // --restart-after 0: it stays down until asked.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!healthy(base + 1).await);
    let supervisor = format!("http://127.0.0.1:{control}");
    let (ok, text) = fault(None, &["--supervisor", &supervisor, "--bank", "B", "restart"]).await;
    assert!(!ok, "restart without the secret: {text}");
    fault_ok(&["--supervisor", &supervisor, "--bank", "B", "restart"]).await;
    wait_for(Duration::from_secs(30), "bank B back", || async { healthy(base + 1).await.then_some(()) }).await;
    let pid = up.id().unwrap() as i32;
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let _ = tokio::time::timeout(Duration::from_secs(20), up.wait()).await;
}

/// Runs `ringbank chaos` and returns its JSON report.
async fn chaos_run(seed: u64, seconds: u64, slot: u16) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("report.json");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"))
        .args([
            "chaos",
            "--banks",
            "3",
            "--duration",
            &format!("{seconds}s"),
            "--seed",
            &seed.to_string(),
            "--base-port",
            &base_port(slot).to_string(),
            "--json",
        ])
        .arg(&json_path)
        .arg("--data-dir")
        .arg(dir.path())
        .env("RINGBANK_LOG", "warn")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    eprintln!("{text}");
    if !output.status.success() {
        for bank in ["A", "B", "C", "D", "E"] {
            let log = std::fs::read_to_string(dir.path().join(format!("bank-{bank}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("--- bank {bank} (last lines, newest first)\n{}", tail.join("\n"));
        }
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    assert!(output.status.success(), "chaos seed {seed} failed");
    serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_runs_pass_every_invariant() {
    for (seed, slot) in [(1, 1), (7, 2)] {
        let report = chaos_run(seed, 18, slot).await;
        assert_eq!(report["passed"], json!(true), "{report:#}");
        assert!(report["faults_injected"].as_u64().unwrap() >= 3, "{report:#}");
        assert!(report["transfers_committed"].as_u64().unwrap() > 0, "{report:#}");
        assert_eq!(report["transfers_in_doubt"], json!(0), "{report:#}");
        // Two spare banks (D, E) each joined the running ring, were killed once as members and
        // were removed again; the members agreed on the membership at the end (an invariant).
        let changes = report["membership_changes"].as_array().expect("membership changes");
        let done: Vec<(String, String)> = changes
            .iter()
            .filter(|c| c["done"] == json!(true))
            .map(|c| (c["bank"].as_str().unwrap().to_string(), c["kind"].as_str().unwrap().to_string()))
            .collect();
        for bank in ["D", "E"] {
            for kind in ["join", "leave"] {
                assert!(done.contains(&(bank.to_string(), kind.to_string())), "{kind} of {bank}: {report:#}");
            }
        }
        // While a member, each spare carried customers' money (a founding member's customer paid
        // the spare's, who paid another founding member's), and it left only once each creditor
        // had recorded its settlement (the audit over the remaining members then balances).
        for change in changes.iter().filter(|c| c["kind"] == json!("join")) {
            let detail = change["detail"].as_str().unwrap();
            assert!(detail.contains("carried") && !detail.contains("NOT carried"), "{change}");
        }
        for change in changes.iter().filter(|c| c["kind"] == json!("leave")) {
            let detail = change["detail"].as_str().unwrap();
            assert!(detail.contains("settled first") && !detail.contains("NOT settled"), "{change}");
            assert_eq!(detail.matches("recorded R$ 25,00").count(), 2, "two positions settled: {change}");
        }
        let agreed = report["invariants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"].as_str().unwrap().contains("agree on one settled membership"));
        assert_eq!(agreed.map(|i| i["passed"].clone()), Some(json!(true)), "{report:#}");
    }
}

#[test]
fn the_same_seed_gives_the_same_schedule() {
    let one = ringbank_tools::chaos::schedule(42, 3, Duration::from_secs(60), true);
    let two = ringbank_tools::chaos::schedule(42, 3, Duration::from_secs(60), true);
    let other = ringbank_tools::chaos::schedule(43, 3, Duration::from_secs(60), true);
    let text = |s: &[ringbank_tools::chaos::ScheduledFault]| serde_json::to_string(s).unwrap();
    assert_eq!(text(&one), text(&two));
    assert_ne!(text(&one), text(&other));
    assert!(one.len() >= 10);
    assert!(ringbank_tools::chaos::schedule(42, 3, Duration::from_secs(60), false).iter().all(|f| !f.kind.starts_with("crash")));
    assert!(one.windows(2).all(|pair| pair[0].at_ms <= pair[1].at_ms), "in time order");
    // Clock drift within the ring's bound (no clock more than 10 % faster than another).
    let rates: Vec<u64> = one
        .iter()
        .filter_map(|f| match &f.fault {
            ringbank_client::Fault::ClockRate { rate, .. } => Some(rate.ppm()),
            _ => None,
        })
        .collect();
    assert!(rates.len() >= 3, "{rates:?}");
    assert!(rates.iter().all(|ppm| (955_000..=1_045_000).contains(ppm)), "{rates:?}");
}
