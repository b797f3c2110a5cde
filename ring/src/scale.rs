//! The scale scenario: how rotation, failover and the wait for the token grow with the ring.
//!
//! A fault-free run of the simulator (`sim::Sim`, every safety check after every event) with a
//! fixed delay model instead of the random one, so that the figures depend on the ring's size and
//! its configuration only:
//!
//! - **one-way message delay `ONE_WAY_MS` = 5 ms**: banks of one consortium in one metropolitan
//!   region (a round trip of 1-2 ms between data centres) plus the bank's HTTPS POST, queueing and
//!   handling on both sides, which dominates; every message takes exactly this long.
//! - **persist delay `PERSIST_MS` = 2 ms**: one fsync of the node's small persistent state on an SSD.
//!   Every send that follows a `Persist` in the same action list leaves that much later per `Persist`
//!   (the driver fsyncs before it sends); grants, revokes and processing take no time.
//! - **work under the token `work_ms` = 2 × (2 × one-way + persist) = 24 ms**: one cross-bank 2PC
//!   batch (prepare and commit, each a round trip with an fsync at the participant).
//!
//! The ring uses the real `Config` defaults (hold_max 200 ms, idle_pause 20 ms, retransmit 100 ms,
//! pass_retries 3, drift margin 10 %) and either the token timeout the simulator and the bank use
//! by default, `Config::recommended_token_timeout(n)` (1000 ms + 150 ms per member beyond 5), or a
//! given one (the default `Config::with_defaults` value is 1000 ms). What is measured:
//!
//! - **rotation**: the time between two consecutive grants at the same bank, over every bank and
//!   several rotations, in an *idle* ring (nobody wants the token: each holder passes after
//!   `idle_pause`) and in a *busy* ring (every bank wants it and holds for its whole lease).
//! - **failover**: the holder of an idle ring is crashed at a random moment of its holding; the time from the
//!   crash to the first grant, by a survivor, of a stamp newer than the crashed holder's. The
//!   crashed bank restarts from its disk right after and must hold again (it rejoins the ring)
//!   before the next crash. The bound every failover must meet (`failover_bound`):
//!   `token_timeout × 3/2` (the loss timer, counted from the last claim seen, which is no later
//!   than the crash, plus the largest stagger) `+ hold_max × (100 + drift) / 100` (the wait for
//!   leases the promisers may still honour) `+ 2 × (2 × one-way + 2 × persist)` (the proposal
//!   and the claim round trips, each behind two fsyncs) `+ retransmit` (slack for one retransmission).
//!   By default without probing (`probe_after` 0: the loss timer alone); with `probe_after` set,
//!   the survivors probe the silent holder after that long, its refused connection moves their
//!   loss timers up, and failover is about `probe_after` plus a round trip (same bound).
//! - **cross-bank latency**, derived from the measured grant timeline: a transfer arriving at a
//!   bank at any millisecond of the measured window waits until its bank holds the token with
//!   at least `work_ms` of lease left (0 if it does now), then takes `work_ms`. Its mean and p99
//!   over every bank and millisecond, for the idle ring (the transfer is alone: roughly
//!   `uniform(0, idle rotation) + work`) and the busy ring (every bank has work: roughly
//!   `uniform(0, busy rotation) + work`).

use crate::sim::{Hold, Rng, Sim};
use crate::Millis;

/// One-way delay of every message in the scale scenario (see the module documentation).
pub const ONE_WAY_MS: Millis = 5;
/// Duration of one `Persist` (fsync) in the scale scenario.
pub const PERSIST_MS: Millis = 2;

/// What to run.
#[derive(Clone, Debug)]
pub struct ScaleParams {
    pub nodes: usize,
    pub seed: u64,
    pub one_way_ms: Millis,
    pub persist_ms: Millis,
    /// `None`: `Config::recommended_token_timeout(nodes)`, as the simulator and the bank do.
    pub token_timeout: Option<Millis>,
    /// `None`: the default 20 ms (the bank's own default is 150 ms).
    pub idle_pause: Option<Millis>,
    /// `Config::probe_after`: 0 (the default here) measures the loss timer alone, as before
    /// probing existed; the bank probes after 500 ms.
    pub probe_after: Millis,
    /// Rotations measured in the idle ring and in the busy ring (each bank's grant intervals).
    pub rotations: usize,
    /// Holders crashed, one after the other.
    pub crashes: usize,
}

impl ScaleParams {
    pub fn new(nodes: usize, rotations: usize, crashes: usize) -> ScaleParams {
        ScaleParams {
            nodes,
            seed: 1,
            one_way_ms: ONE_WAY_MS,
            persist_ms: PERSIST_MS,
            token_timeout: None,
            idle_pause: None,
            probe_after: 0,
            rotations,
            crashes,
        }
    }

    /// One cross-bank 2PC batch under the token: two round trips, each with one fsync.
    pub fn work_ms(&self) -> Millis {
        2 * (2 * self.one_way_ms + self.persist_ms)
    }
}

/// Time between consecutive grants at one bank.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rotation {
    pub mean_ms: f64,
    pub min_ms: Millis,
    pub max_ms: Millis,
    pub samples: usize,
}

/// Cross-bank latency (wait for the token at the bank + the work under it).
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub mean_ms: f64,
    pub p99_ms: Millis,
    pub max_ms: Millis,
    pub samples: u64,
}

/// What one scale run measured.
#[derive(Clone, Debug, Default)]
pub struct ScaleReport {
    pub nodes: usize,
    pub token_timeout: Millis,
    pub hold_max: Millis,
    pub idle_pause: Millis,
    pub probe_after: Millis,
    pub idle: Rotation,
    pub busy: Rotation,
    /// Crash of the holder to the first grant of a newer stamp by a survivor, in crash order.
    pub failovers: Vec<Millis>,
    pub failover_bound: Millis,
    pub idle_latency: Latency,
    pub busy_latency: Latency,
    pub events: u64,
    pub messages: u64,
    pub sim_ms: Millis,
}

impl ScaleReport {
    pub fn failover_median(&self) -> Millis {
        let mut sorted = self.failovers.clone();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().unwrap_or(0)
    }

    pub fn failover_worst(&self) -> Millis {
        self.failovers.iter().copied().max().unwrap_or(0)
    }
}

/// Runs the scale scenario; any safety violation of the simulator, a failover slower than the
/// bound, or a ring that does not make progress is an error.
pub fn run_scale(params: &ScaleParams) -> Result<ScaleReport, String> {
    let n = params.nodes;
    let mut sim = Sim::with_config(params.seed, n, false, |config| {
        if let Some(token_timeout) = params.token_timeout {
            config.token_timeout = token_timeout;
        }
        if let Some(idle_pause) = params.idle_pause {
            config.idle_pause = idle_pause;
        }
        config.probe_after = params.probe_after;
    });
    sim.fixed_latency = Some(params.one_way_ms);
    sim.persist_delay = params.persist_ms;
    let config = sim.config(0).clone();
    let mut rng = Rng::new(params.seed ^ 0x5CA1E);
    let work = params.work_ms();
    let mut report = ScaleReport {
        nodes: n,
        token_timeout: config.token_timeout,
        hold_max: config.hold_max,
        idle_pause: config.idle_pause,
        probe_after: config.probe_after,
        failover_bound: config.token_timeout * 3 / 2
            + config.hold_max * (100 + config.drift_margin_percent) / 100
            + 2 * (2 * params.one_way_ms + 2 * params.persist_ms)
            + config.retransmit,
        ..ScaleReport::default()
    };
    // Generous limit for "the token visits every bank once more" (only a stuck ring reaches it).
    let visit_limit = 10 * config.token_timeout + n as Millis * (config.hold_max + 1_000);

    // Start: the first candidate regenerates the token, the others join; wait for everyone to hold.
    every_bank_holds(&mut sim, 1, visit_limit, "start")?;

    // Idle ring.
    every_bank_holds(&mut sim, 1, visit_limit, "idle settle")?;
    sim.record_holds();
    every_bank_holds(&mut sim, params.rotations as u64 + 1, visit_limit * params.rotations as Millis, "idle")?;
    report.idle = rotation(sim.holds(), n);
    report.idle_latency = latency(sim.holds(), n, work);

    // Busy ring: every bank wants the token and keeps it for its lease.
    for index in 0..n {
        sim.want(index)?;
    }
    every_bank_holds(&mut sim, 1, visit_limit, "busy settle")?;
    sim.record_holds();
    every_bank_holds(&mut sim, params.rotations as u64 + 1, visit_limit * params.rotations as Millis, "busy")?;
    report.busy = rotation(sim.holds(), n);
    report.busy_latency = latency(sim.holds(), n, work);

    // Failovers, in the idle ring.
    for index in 0..n {
        sim.release(index)?;
    }
    every_bank_holds(&mut sim, 1, visit_limit, "idle again")?;
    for crash in 0..params.crashes {
        // A random moment of a random holding: the next holder after a random gap, some way into its lease.
        let gap = rng.below(report.idle.mean_ms.max(1.0) as Millis);
        sim.run_until(sim.now() + gap)?;
        let holder = loop {
            if let Some(holder) = sim.holder() {
                sim.run_until(sim.now() + rng.below(config.idle_pause))?;
                if sim.holding(holder).is_some() {
                    break holder;
                }
            }
            sim.run_until(sim.now() + 1)?;
        };
        let (stamp, _) = sim.holding(holder).expect("holds");
        let crashed_at = sim.now();
        sim.crash(holder);
        let seen = sim.holds().len();
        let failover = loop {
            sim.run_until(sim.now() + 5)?;
            if let Some(hold) = sim.holds()[seen..].iter().find(|hold| hold.index != holder && hold.stamp > stamp) {
                break hold.from - crashed_at;
            }
            if sim.now() - crashed_at > report.failover_bound {
                return Err(format!(
                    "{n} banks, crash {crash}: no survivor held a stamp above {stamp} within {} ms of crashing n{holder}",
                    report.failover_bound
                ));
            }
        };
        if failover > report.failover_bound {
            return Err(format!("{n} banks, crash {crash}: failover {failover} ms above the bound {} ms", report.failover_bound));
        }
        report.failovers.push(failover);
        sim.restart(holder);
        let before = sim.grants(holder);
        let limit = sim.now() + visit_limit;
        while sim.grants(holder) == before {
            if sim.now() > limit {
                return Err(format!("{n} banks, crash {crash}: n{holder} did not hold again within {visit_limit} ms of its restart"));
            }
            sim.run_until(sim.now() + 20)?;
        }
    }
    report.events = sim.stats.events;
    report.messages = sim.stats.messages;
    report.sim_ms = sim.now();
    Ok(report)
}

/// Runs until every bank has been granted `times` more leases, or fails after `limit` ms.
fn every_bank_holds(sim: &mut Sim, times: u64, limit: Millis, phase: &str) -> Result<(), String> {
    let target: Vec<u64> = (0..sim.len()).map(|index| sim.grants(index) + times).collect();
    let deadline = sim.now() + limit;
    while (0..sim.len()).any(|index| sim.grants(index) < target[index]) {
        if sim.now() > deadline {
            let missing: Vec<usize> = (0..sim.len()).filter(|index| sim.grants(*index) < target[*index]).collect();
            return Err(format!("{} banks, {phase}: banks {missing:?} not granted {times} more times within {limit} ms", sim.len()));
        }
        sim.run_until(sim.now() + 20)?;
    }
    Ok(())
}

/// Intervals between consecutive grants at each bank.
fn rotation(holds: &[Hold], nodes: usize) -> Rotation {
    let mut intervals = Vec::new();
    for index in 0..nodes {
        let starts: Vec<Millis> = holds.iter().filter(|hold| hold.index == index).map(|hold| hold.from).collect();
        intervals.extend(starts.windows(2).map(|pair| pair[1] - pair[0]));
    }
    if intervals.is_empty() {
        return Rotation::default();
    }
    Rotation {
        mean_ms: intervals.iter().sum::<Millis>() as f64 / intervals.len() as f64,
        min_ms: intervals.iter().copied().min().unwrap_or(0),
        max_ms: intervals.iter().copied().max().unwrap_or(0),
        samples: intervals.len(),
    }
}

/// For a transfer arriving at every millisecond at every bank (from the first recorded grant to
/// the bank's last one): the wait until its bank holds with `work` ms of lease left, plus `work`.
fn latency(holds: &[Hold], nodes: usize, work: Millis) -> Latency {
    let Some(start) = holds.iter().map(|hold| hold.from).min() else { return Latency::default() };
    let mut histogram: Vec<u64> = Vec::new();
    for index in 0..nodes {
        let mine: Vec<&Hold> = holds.iter().filter(|hold| hold.index == index && hold.from + work <= hold.lease_end).collect();
        let Some(last) = mine.last() else { continue };
        let mut next = 0;
        for t in start..last.from {
            while mine[next].until <= t {
                next += 1;
            }
            let hold = mine[next];
            let wait = if hold.from > t {
                hold.from - t
            } else if t + work <= hold.lease_end {
                0
            } else {
                mine[next + 1].from - t
            };
            let total = (wait + work) as usize;
            if histogram.len() <= total {
                histogram.resize(total + 1, 0);
            }
            histogram[total] += 1;
        }
    }
    let samples: u64 = histogram.iter().sum();
    if samples == 0 {
        return Latency::default();
    }
    let sum: u64 = histogram.iter().enumerate().map(|(ms, count)| ms as u64 * count).sum();
    let mut seen = 0;
    let mut p99 = 0;
    for (ms, count) in histogram.iter().enumerate() {
        seen += count;
        if seen * 100 >= samples * 99 {
            p99 = ms as Millis;
            break;
        }
    }
    Latency { mean_ms: sum as f64 / samples as f64, p99_ms: p99, max_ms: (histogram.len() - 1) as Millis, samples }
}

/// The table the printing test shows, one line per run.
pub fn table(reports: &[ScaleReport]) -> String {
    let mut out = String::from(
        "| banks | token_timeout | probe_after | idle rotation mean (max) | busy rotation mean (max) | failover median / worst (bound), crashes | cross-bank idle mean / p99 | cross-bank busy mean / p99 |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let probe = if r.probe_after == 0 { "off".to_string() } else { format!("{} ms", r.probe_after) };
        out.push_str(&format!(
            "| {} | {} ms | {probe} | {:.0} ms ({}) | {:.0} ms ({}) | {} / {} ms ({}), {} | {:.0} / {} ms | {:.0} / {} ms |\n",
            r.nodes,
            r.token_timeout,
            r.idle.mean_ms,
            r.idle.max_ms,
            r.busy.mean_ms,
            r.busy.max_ms,
            r.failover_median(),
            r.failover_worst(),
            r.failover_bound,
            r.failovers.len(),
            r.idle_latency.mean_ms,
            r.idle_latency.p99_ms,
            r.busy_latency.mean_ms,
            r.busy_latency.p99_ms,
        ));
    }
    out
}
