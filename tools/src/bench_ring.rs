//! `ringbank bench-ring`: measures the ring itself on local bank processes: idle CPU per bank
//! and token passes per second with no load, how soon a bank of the idle ring that gets work
//! (one cross-bank transfer) holds the token and sees the transfer final, then failover time over repeated kill -9 of the
//! holder: from the kill to a survivor holding a newer token than the one the killed bank held
//! (a new epoch, or the same epoch if the token had already been passed on), restarting the
//! killed bank each time and waiting for it to rejoin.

use std::time::{Duration, Instant};

use ringbank_client::{wait_ready, AdminClient, Ready};
use ringbank_wire::RingStatus;
use serde::Serialize;

use rand::Rng;
use ringbank_client::{BankClient, PostOptions};
use ringbank_wire::{Leg, NewTransfer};

use crate::args::BenchRingArgs;
use crate::bench::{clock_ticks_per_second, cpu_ticks, open_accounts};
use crate::local_ring::LocalRing;

#[derive(Debug, Serialize)]
pub struct RingBenchReport {
    pub banks: usize,
    pub idle_seconds: f64,
    pub idle_cpu_percent_per_bank: Vec<f64>,
    pub token_passes_per_second: f64,
    pub rotations_per_second: f64,
    /// From submitting a cross-bank transfer at a bank of the idle ring to that bank holding
    /// the token, and to the transfer's final state.
    pub wake_to_token_ms: Vec<u64>,
    pub wake_to_token_median_ms: u64,
    pub wake_to_token_worst_ms: u64,
    pub wake_to_final_median_ms: u64,
    pub wake_to_final_worst_ms: u64,
    pub kills: usize,
    pub failover_ms: Vec<u64>,
    pub failover_median_ms: u64,
    pub failover_worst_ms: u64,
}

pub async fn run(args: BenchRingArgs) -> Result<RingBenchReport, String> {
    let data = std::env::temp_dir().join(format!("ringbank-bench-ring-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut ring = LocalRing::new(args.banks, args.base_port, data.clone(), None, Vec::new()).map_err(|e| e.to_string())?.quiet();
    for index in 0..args.banks {
        ring.spawn(index).map_err(|e| e.to_string())?;
    }
    let result = measure(&mut ring, &args).await;
    ring.stop_all().await;
    let _ = std::fs::remove_dir_all(&data);
    let report = result?;
    print_report(&report);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    }
    Ok(report)
}

async fn measure(ring: &mut LocalRing, args: &BenchRingArgs) -> Result<RingBenchReport, String> {
    let client = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().map_err(|e| e.to_string())?;
    // Wait until every bank has held the token, then let the ring settle.
    let admins: Vec<AdminClient> = (0..ring.ids.len()).map(|i| AdminClient::with_http(client.clone(), &ring.url(i), "")).collect();
    wait_ready(&admins, Ready::InRing, Duration::from_secs(20)).await.map_err(|e| format!("the ring did not form: {e}"))?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let ticks_per_second = clock_ticks_per_second();
    let pids: Vec<u32> = (0..ring.ids.len()).filter_map(|i| ring.pid(i)).collect();
    let cpu_before: Vec<u64> = pids.iter().map(|p| cpu_ticks(*p).unwrap_or(0)).collect();
    let seq_before = status(&client, &ring.url(0)).await.map_or(0, |s| s.token_seq);
    let started = Instant::now();
    tokio::time::sleep(args.idle).await;
    let elapsed = started.elapsed().as_secs_f64();
    let seq_after = status(&client, &ring.url(0)).await.map_or(0, |s| s.token_seq);
    let idle_cpu: Vec<f64> = pids
        .iter()
        .zip(&cpu_before)
        .map(|(pid, before)| {
            let ticks = cpu_ticks(*pid).unwrap_or(0).saturating_sub(*before);
            ticks as f64 / ticks_per_second / elapsed * 100.0
        })
        .collect();
    let passes = seq_after.saturating_sub(seq_before) as f64 / elapsed;
    let (to_token, to_final) = wakes(&client, ring, args.wakes).await?;

    let mut failovers = Vec::with_capacity(args.kills);
    for round in 0..args.kills {
        let (holder, stamp) = find_holder(&client, ring).await?;
        let killed_at = Instant::now();
        ring.kill9(holder).await;
        let deadline = killed_at + Duration::from_secs(30);
        loop {
            if Instant::now() > deadline {
                return Err(format!("round {round}: no survivor held a newer token 30 s after killing {}", ring.ids[holder]));
            }
            let regenerated = futures_util::future::join_all((0..ring.ids.len()).filter(|i| *i != holder).map(|i| {
                let url = ring.url(i);
                let client = client.clone();
                async move { status(&client, &url).await }
            }))
            .await
            .into_iter()
            .flatten()
            .any(|s| s.holding && (s.epoch, s.token_seq) > stamp);
            if regenerated {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let failover = u64::try_from(killed_at.elapsed().as_millis()).unwrap_or(u64::MAX);
        eprintln!("kill {}/{}: bank {} killed, a survivor held a newer token after {failover} ms", round + 1, args.kills, ring.ids[holder]);
        failovers.push(failover);
        ring.spawn(holder).map_err(|e| e.to_string())?;
        let rejoined = wait_ready(&admins[holder..=holder], Ready::InRing, Duration::from_secs(30)).await;
        rejoined.map_err(|_| format!("bank {} did not rejoin within 30 s", ring.ids[holder]))?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut sorted = failovers.clone();
    sorted.sort_unstable();
    Ok(RingBenchReport {
        banks: ring.ids.len(),
        idle_seconds: elapsed,
        idle_cpu_percent_per_bank: idle_cpu,
        token_passes_per_second: passes,
        rotations_per_second: passes / ring.ids.len() as f64,
        wake_to_token_median_ms: median(&to_token),
        wake_to_token_worst_ms: to_token.iter().copied().max().unwrap_or(0),
        wake_to_final_median_ms: median(&to_final),
        wake_to_final_worst_ms: to_final.iter().copied().max().unwrap_or(0),
        wake_to_token_ms: to_token,
        kills: failovers.len(),
        failover_median_ms: sorted.get(sorted.len() / 2).copied().unwrap_or(0),
        failover_worst_ms: sorted.last().copied().unwrap_or(0),
        failover_ms: failovers,
    })
}

fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

/// `rounds` times, after a random idle spell, one bank (in turn) that does not hold the token
/// gets one cross-bank transfer: how long until it holds the token (its grant count moves), and
/// until the transfer is final. Returns both, in ms, per round.
async fn wakes(client: &reqwest::Client, ring: &LocalRing, rounds: usize) -> Result<(Vec<u64>, Vec<u64>), String> {
    let banks = ring.ids.len();
    if rounds == 0 || banks < 2 {
        return Ok((Vec::new(), Vec::new()));
    }
    let cnpj = ringbank_domain::document::cnpj_from_base("WAKE00000001").ok_or("bad base")?;
    let mut setup = Vec::with_capacity(banks);
    for index in 0..banks {
        setup.push(open_accounts(BankClient::with_http(client.clone(), &ring.url(index)), &cnpj, 1).await?);
    }
    let (mut to_token, mut to_final) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for round in 0..rounds {
        let origin = round % banks;
        let target = (origin + 1) % banks;
        // Let the ring idle (holds, parks) for a while that does not line up with its rhythm.
        tokio::time::sleep(Duration::from_millis(400 + rand::thread_rng().gen_range(0..500))).await;
        let Some(before) = status(client, &ring.url(origin)).await else { return Err(format!("bank {} did not answer", ring.ids[origin])) };
        if before.holding {
            continue;
        }
        let transfer = NewTransfer {
            debits: vec![Leg::new(&ring.ids[origin], &setup[origin].accounts[0], 1)],
            credits: vec![Leg::new(&ring.ids[target], &setup[target].accounts[0], 1)],
            description: "wake".to_string(),
        };
        let started = Instant::now();
        let options = PostOptions::wait(Duration::from_secs(10));
        let submit = setup[origin].client.transfer(&transfer, &options);
        tokio::pin!(submit);
        let mut reached = None;
        let answer = loop {
            tokio::select! {
                answer = &mut submit => break answer,
                () = tokio::time::sleep(Duration::from_millis(1)), if reached.is_none() => {
                    if status(client, &ring.url(origin)).await.is_some_and(|s| s.grants > before.grants) {
                        reached = Some(started.elapsed());
                    }
                }
            }
        };
        let done = started.elapsed();
        let answer = answer.map_err(|e| format!("round {round}: the transfer failed: {e}"))?;
        if answer.transfer.status != "committed" {
            return Err(format!("round {round}: the transfer ended {}", answer.transfer.status));
        }
        // The answer may come before a status poll saw the grant: then the grant came first.
        let reached = reached.unwrap_or(done);
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        eprintln!(
            "wake {}/{rounds}: bank {} held the token after {} ms, final after {} ms",
            round + 1,
            ring.ids[origin],
            ms(reached),
            ms(done)
        );
        to_token.push(ms(reached));
        to_final.push(ms(done));
    }
    Ok((to_token, to_final))
}

async fn status(client: &reqwest::Client, url: &str) -> Option<RingStatus> {
    AdminClient::with_http(client.clone(), url, "").ring_status().await.ok().map(|view| view.status)
}

/// The bank holding the token now and the token's (epoch, token_seq).
async fn find_holder(client: &reqwest::Client, ring: &LocalRing) -> Result<(usize, (u64, u64)), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for index in 0..ring.ids.len() {
            if let Some(s) = status(client, &ring.url(index)).await {
                if s.holding {
                    return Ok((index, (s.epoch, s.token_seq)));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err("no bank held the token for 20 s".into())
}

fn print_report(report: &RingBenchReport) {
    println!("token ring, {} banks on loopback", report.banks);
    let cpu: Vec<String> = report.idle_cpu_percent_per_bank.iter().map(|c| format!("{c:.2}%")).collect();
    println!("  idle CPU per bank     {} (over {:.0} s)", cpu.join("  "), report.idle_seconds);
    println!("  token passes/s        {:.1} ({:.2} rotations/s)", report.token_passes_per_second, report.rotations_per_second);
    println!(
        "  work after idle       token reached: median {} ms, worst {} ms; transfer final: median {} ms, worst {} ms ({} rounds)",
        report.wake_to_token_median_ms,
        report.wake_to_token_worst_ms,
        report.wake_to_final_median_ms,
        report.wake_to_final_worst_ms,
        report.wake_to_token_ms.len()
    );
    println!(
        "  failover (kill -9)    median {} ms, worst {} ms over {} kills",
        report.failover_median_ms, report.failover_worst_ms, report.kills
    );
}
