//! The ring at 10, 30 and 100 members, fault-free, with a fixed delay model (5 ms one way, 2 ms
//! per fsync; see `ringbank_ring::scale`): rotation, failover and cross-bank latency as it grows.
//!
//! `ring_scales_to_100_members` is bounded (about 30 s in debug on the 2-core machine) and asserts;
//! `scale_table` prints the table of ring/README.md ("Scale") in a release build:
//!
//! ```sh
//! cargo test -p ringbank-ring --release --test scale -- --nocapture
//! ```

use std::time::Instant;

use ringbank_ring::scale::{run_scale, table, ScaleParams, ScaleReport, ONE_WAY_MS, PERSIST_MS};
use ringbank_ring::{Config, Millis};

fn run(params: ScaleParams) -> ScaleReport {
    let started = Instant::now();
    let report = run_scale(&params).unwrap_or_else(|error| panic!("{error}"));
    println!(
        "{} banks, one way {} ms, token_timeout {} ms: {} events, {} messages, {:.1} s simulated in {:.1} s",
        report.nodes,
        params.one_way_ms,
        report.token_timeout,
        report.events,
        report.messages,
        report.sim_ms as f64 / 1000.0,
        started.elapsed().as_secs_f64()
    );
    report
}

/// Runs every parameter set on its own thread (two cores), in order of the input.
fn run_all(all: Vec<ScaleParams>) -> Vec<ScaleReport> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = all.into_iter().map(|params| scope.spawn(move || run(params))).collect();
        handles.into_iter().map(|handle| handle.join().expect("scale run panicked")).collect()
    })
}

/// What the delay model predicts per hop (one bank's turn) with the default configuration:
/// idle: the token's trip, the fsync of its acceptance, the claim's trip, the confirmer's fsync,
/// the confirmation's trip, then `idle_pause`; busy: the lease (counted from the claim, sent on
/// the token's arrival) plus the token's trip.
fn predicted_hop(config: &Config) -> (Millis, Millis) {
    (3 * ONE_WAY_MS + 2 * PERSIST_MS + config.idle_pause, config.hold_max + ONE_WAY_MS)
}

fn check(report: &ScaleReport, crashes: usize) {
    let n = report.nodes as f64;
    let defaults = Config::with_defaults(0, vec![0]);
    let (idle_hop, busy_hop) = predicted_hop(&defaults);
    // (a) rotation is n hops: linear in n, at the hop cost the delay model predicts (10 % slack).
    for (what, rotation, hop) in [("idle", report.idle.mean_ms, idle_hop), ("busy", report.busy.mean_ms, busy_hop)] {
        let per_hop = rotation / n;
        assert!(
            (per_hop - hop as f64).abs() <= 0.1 * hop as f64,
            "{} banks, {what} ring: {per_hop:.1} ms per hop, the model says {hop} ms",
            report.nodes
        );
    }
    assert!(report.idle.samples >= report.nodes && report.busy.samples >= report.nodes);
    // (b) every crash led to a new holder within the bound (run_scale fails otherwise), and not
    // before the loss timer could have run out: a fault-free ring regenerates only by timeout.
    // With probing, not before the probe (the crashed holder's refusal moves the timer up), and
    // always before the loss timer.
    assert_eq!(report.failovers.len(), crashes);
    assert_eq!(
        report.failover_bound,
        report.token_timeout * 3 / 2 + report.hold_max * 110 / 100 + 2 * (2 * ONE_WAY_MS + 2 * PERSIST_MS) + 100
    );
    for failover in &report.failovers {
        assert!(*failover <= report.failover_bound, "{} banks: failover {failover} ms", report.nodes);
        if report.probe_after == 0 {
            assert!(
                *failover + report.hold_max >= report.token_timeout,
                "{} banks: failover {failover} ms before the loss timer",
                report.nodes
            );
        } else {
            assert!(*failover + report.hold_max >= report.probe_after, "{} banks: failover {failover} ms before the probe", report.nodes);
            assert!(*failover < report.token_timeout, "{} banks: failover {failover} ms with probing", report.nodes);
        }
    }
    // (c) a transfer waits up to a rotation for its bank's turn: p99 between half a rotation and a
    // rotation plus the work (2 × (2 × one way + fsync)), mean about half a rotation.
    let work = (2 * (2 * ONE_WAY_MS + PERSIST_MS)) as f64;
    for (what, latency, rotation) in
        [("idle", report.idle_latency, report.idle.mean_ms), ("busy", report.busy_latency, report.busy.mean_ms)]
    {
        let p99 = latency.p99_ms as f64;
        assert!(p99 >= rotation / 2.0 && p99 <= rotation + work, "{} banks, {what}: p99 {p99} ms, rotation {rotation:.0} ms", report.nodes);
        assert!(
            latency.mean_ms >= work && latency.mean_ms <= rotation / 2.0 + work + 1.0,
            "{} banks, {what}: mean {:.0} ms",
            report.nodes,
            latency.mean_ms
        );
    }
}

#[test]
fn ring_scales_to_100_members() {
    let started = Instant::now();
    let sizes = [(10, 5), (30, 4), (100, 2)];
    let mut all: Vec<ScaleParams> = sizes.iter().map(|(n, crashes)| ScaleParams::new(*n, 1, *crashes)).collect();
    // The 1000 ms default timeout (not the recommended 15.25 s) also holds at 100 banks.
    let mut flat = ScaleParams::new(100, 1, 2);
    flat.token_timeout = Some(1000);
    flat.seed = 2;
    all.push(flat);
    // Probing after 500 ms (the bank's setting): failover no longer follows the token timeout.
    let mut probing = ScaleParams::new(10, 1, 5);
    probing.probe_after = 500;
    all.push(probing);
    let crashes: Vec<usize> = all.iter().map(|params| params.crashes).collect();
    let reports = run_all(all);
    println!("{}", table(&reports));
    for (report, crashes) in reports.iter().zip(crashes) {
        check(report, crashes);
    }
    // Rotation grows with n: strictly, and at least in proportion (within 10 %).
    for pair in reports[..3].windows(2) {
        let (small, large) = (&pair[0], &pair[1]);
        let ratio = large.nodes as f64 / small.nodes as f64;
        for (what, a, b) in [("idle", small.idle.mean_ms, large.idle.mean_ms), ("busy", small.busy.mean_ms, large.busy.mean_ms)] {
            assert!(b >= 0.9 * ratio * a, "{what} rotation {a:.0} ms at {} banks, {b:.0} ms at {}", small.nodes, large.nodes);
        }
    }
    // With the recommended timeout, failover grows with n as the timeout does.
    assert!(reports[2].failover_median() > reports[0].failover_median() + 10_000);
    assert!(reports[3].failover_worst() < 1_500, "100 banks with a 1 s timeout: failover {} ms", reports[3].failover_worst());
    // With probing, a crashed holder is replaced in about the probe time plus a few round trips.
    assert!(reports[4].failover_worst() < 600, "10 banks, probing after 500 ms: failover {:?} ms", reports[4].failovers);
    println!("bounded scale test: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn scale_table() {
    if cfg!(debug_assertions) {
        println!(
            "scale_table prints the README's table in a release build: cargo test -p ringbank-ring --release --test scale -- --nocapture"
        );
        return;
    }
    let mut all = Vec::new();
    for n in [3, 10, 30, 100] {
        all.push(ScaleParams::new(n, 3, 20));
    }
    for n in [3, 10, 30, 100] {
        let mut flat = ScaleParams::new(n, 3, 20);
        flat.token_timeout = Some(1000);
        all.push(flat);
    }
    for n in [3, 10, 30, 100] {
        let mut far = ScaleParams::new(n, 3, 20);
        far.token_timeout = Some(1000);
        far.one_way_ms = 20;
        all.push(far);
    }
    for n in [3, 10, 30, 100] {
        let mut bank = ScaleParams::new(n, 3, 20);
        bank.idle_pause = Some(150);
        all.push(bank);
    }
    for n in [3, 10, 30, 100] {
        let mut probing = ScaleParams::new(n, 3, 20);
        probing.probe_after = 500;
        all.push(probing);
    }
    let reports = run_all(all);
    println!("\n5 ms one way, 2 ms per fsync, token_timeout = Config::recommended_token_timeout(n) (the simulator's and the bank's default):\n{}", table(&reports[0..4]));
    println!("5 ms one way, 2 ms per fsync, token_timeout = 1000 ms (Config::with_defaults):\n{}", table(&reports[4..8]));
    println!("20 ms one way, 2 ms per fsync, token_timeout = 1000 ms:\n{}", table(&reports[8..12]));
    println!(
        "5 ms one way, 2 ms per fsync, the bank's defaults: idle_pause 150 ms, token_timeout recommended:\n{}",
        table(&reports[12..16])
    );
    println!(
        "5 ms one way, 2 ms per fsync, token_timeout recommended, probing a silent holder after 500 ms (the bank's setting):\n{}",
        table(&reports[16..20])
    );
}
