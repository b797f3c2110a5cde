//! Randomized simulation over many seeds, and the replay entry point for one seed.

use std::time::Instant;

use ringbank_ring::sim::{
    replay_command, run_seed, run_seed_with, run_seed_with_rates, CLOCK_RATE_MAX_PPM, CLOCK_RATE_MIN_PPM, RATE_ONE_PPM,
};
use ringbank_ring::Config;

/// Seeds run by default; `RING_SIM_SEEDS` overrides, `RING_SIM_FIRST_SEED` moves the window.
fn default_seed_count() -> u64 {
    if cfg!(debug_assertions) {
        5_000
    } else {
        20_000
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|value| value.trim().parse().ok())
}

#[test]
fn sim_seeds() {
    let count = env_u64("RING_SIM_SEEDS").unwrap_or_else(default_seed_count);
    let first = env_u64("RING_SIM_FIRST_SEED").unwrap_or(1);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8) as u64;
    let started = Instant::now();
    let results: Vec<Result<[u64; 9], String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                scope.spawn(move || {
                    // events, grants, worst recovery, probes, refusals, membership changes
                    // proposed, committed, seeds with changes, offered with too few approvals
                    let mut sums = [0u64; 9];
                    let mut seed = first + thread;
                    while seed < first + count {
                        let stats = run_seed(seed, false)?;
                        sums[0] += stats.events;
                        sums[1] += stats.grants;
                        sums[2] = sums[2].max(stats.recovery_ms.unwrap_or(0));
                        sums[3] += stats.probes;
                        sums[4] += stats.refusals;
                        sums[5] += stats.changes_proposed;
                        sums[6] += stats.changes_committed;
                        sums[7] += u64::from(stats.final_membership.0 > 0);
                        sums[8] += stats.changes_unapproved;
                        seed += threads;
                    }
                    Ok(sums)
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("simulation thread panicked")).collect()
    });
    let mut failures = Vec::new();
    let (mut events, mut grants, mut worst_recovery, mut probes, mut refusals) = (0, 0, 0, 0, 0);
    let (mut proposed, mut committed, mut changed_seeds, mut unapproved) = (0, 0, 0, 0);
    for result in results {
        match result {
            Ok([e, g, r, p, f, cp, cc, cs, cu]) => {
                events += e;
                grants += g;
                worst_recovery = worst_recovery.max(r);
                probes += p;
                refusals += f;
                proposed += cp;
                committed += cc;
                changed_seeds += cs;
                unapproved += cu;
            }
            Err(message) => failures.push(message),
        }
    }
    println!(
        "{count} seeds from {first}: {events} events, {grants} grants, {probes} probes, {refusals} refused connections, worst recovery after heal {worst_recovery} ms, membership changes {proposed} proposed / {committed} committed ({changed_seeds} seeds end on a changed membership; {unapproved} offered first with one approval too few, refused), {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(count < 100 || unapproved > 0, "no change was offered with too few approvals");
}

/// `RING_SEED=n cargo test -p ringbank-ring --release sim_replay -- --nocapture` prints the full
/// trace of one seed. Without RING_SEED it replays seed 1 quietly.
#[test]
fn sim_replay() {
    let seed = env_u64("RING_SEED");
    let trace = seed.is_some();
    let seed = seed.unwrap_or(1);
    match run_seed(seed, trace) {
        Ok(stats) => println!("seed {seed} passed: {stats:?}\n(replay: {})", replay_command(seed)),
        Err(message) => panic!("{message}"),
    }
}

/// With 3 members and a quorum of 2, one dishonest member that confirms every claimant can make
/// two honest members hold at once (each has its own confirmation and the liar's): the token
/// alone no longer orders them. The simulator counts this instead of refusing it, and finds it.
#[test]
fn byzantine_with_3_members_and_quorum_2_two_honest_holders_can_happen() {
    let (mut double, mut split) = (0, 0);
    for seed in 1..=400 {
        let stats = run_seed_with(seed, 3, Some((seed % 3) as usize), 2, false).unwrap_or_else(|report| panic!("{report}"));
        double += stats.double_holders;
        split += stats.split_stamps;
        if double > 0 {
            break;
        }
    }
    println!("3 members, quorum 2, one Byzantine: {double} moments with two honest holders, {split} stamps certified twice");
    assert!(double > 0, "no seed showed two honest holders at once");
}

/// With 4 members and a quorum of 3 (`Config::quorum()`, 2f + 1 of 3f + 1), two quorums always
/// share an honest member: over many seeds with one Byzantine member no two honest members hold
/// at once, no stamp is certified for two holders, honest grants keep increasing, and after the
/// faults stop every member holds again (a far-future epoch wedges nobody).
#[test]
fn byzantine_with_4_members_and_quorum_3_never_two_honest_holders() {
    let count = env_u64("RING_BYZANTINE_SEEDS").unwrap_or(if cfg!(debug_assertions) { 2_000 } else { 20_000 });
    let mut forged = 0;
    for seed in 1..=count {
        let stats = run_seed_with(seed, 4, Some((seed % 4) as usize), 0, false).unwrap_or_else(|report| panic!("{report}"));
        assert_eq!(stats.quorum, 3);
        assert_eq!((stats.double_holders, stats.split_stamps), (0, 0), "seed {seed}");
        forged += stats.forged;
    }
    println!("4 members, quorum 3, one Byzantine: {count} seeds, {forged} forged messages, never two honest holders");
}

/// The simulator's clocks run at different rates in every seed (`run_seed`), all inside what the
/// drift margin covers; a rate far outside it is not.
#[test]
fn the_simulated_clock_rates_are_inside_the_drift_margin() {
    let config = Config::with_defaults(1, vec![1, 2, 3]);
    assert!(config.covers_clock_rates(CLOCK_RATE_MIN_PPM, CLOCK_RATE_MAX_PPM));
    assert!(config.covers_clock_rates(1_000_000, 1_100_000));
    assert!(!config.covers_clock_rates(1_000_000, 1_100_001));
    assert!(!config.covers_clock_rates(CLOCK_RATE_MIN_PPM, CLOCK_RATE_MAX_PPM + 1_000));
    assert!(!config.covers_clock_rates(RATE_ONE_PPM / 2, RATE_ONE_PPM));
    let stats = run_seed(1, false).unwrap_or_else(|report| panic!("{report}"));
    assert!(stats.clock_rates_ppm.iter().all(|rate| (CLOCK_RATE_MIN_PPM..=CLOCK_RATE_MAX_PPM).contains(rate)), "{stats:?}");
}

/// The S1 check does look at clocks: with one member's clock at half speed (far outside the
/// 10 % margin) its leases last twice as long in real time as the others believe, and some seed
/// shows two holders at once. Within the margin (`sim_seeds`), none does.
#[test]
fn a_clock_at_half_speed_makes_the_simulator_find_two_holders() {
    let mut failures = 0;
    let mut first = None;
    for seed in 1..=3_000u64 {
        let nodes = 3 + (seed % 3) as usize;
        let mut rates = vec![RATE_ONE_PPM; nodes];
        rates[(seed % nodes as u64) as usize] = RATE_ONE_PPM / 2;
        if let Err(report) = run_seed_with_rates(seed, nodes, None, 0, Some(&rates), false) {
            assert!(report.contains("S1:") || report.contains("S4:"), "an unexpected failure: {report}");
            failures += 1;
            if report.contains("S1:") {
                first = Some(report);
                break;
            }
        }
    }
    let report = first.unwrap_or_else(|| panic!("no seed showed two holders at once ({failures} other failures)"));
    println!("found after {failures} failing seeds:\n{report}");
}

/// The hole the clock rates found: with the drift margin applied by the candidate to what a
/// member reported remaining, a member whose clock ran faster than the holder's (both inside
/// the 10 % margin) counted the lease out early, reported 0, and a candidate took the token
/// while the slow holder still held (seeds 1334, 3749 and 21564 below, 4 in 30,000 seeds of
/// this pattern). The member now reports the whole lease stretched by the margin.
#[test]
fn a_slow_holder_among_fast_members_inside_the_margin_keeps_one_holder() {
    let count = env_u64("RING_DRIFT_SEEDS").unwrap_or(if cfg!(debug_assertions) { 1_000 } else { 10_000 });
    let seeds = [1334, 3749, 21564].into_iter().chain(1..=count);
    for seed in seeds {
        let nodes = 3 + (seed % 3) as usize;
        let mut rates = vec![CLOCK_RATE_MAX_PPM; nodes];
        rates[(seed % nodes as u64) as usize] = CLOCK_RATE_MIN_PPM;
        if let Err(report) = run_seed_with_rates(seed, nodes, None, 0, Some(&rates), false) {
            panic!("{report}");
        }
    }
}

/// The membership rollback the simulator found (seed 1014291: 5 members, quorum 4, a Byzantine
/// member, a sixth bank added): the joint claim that adds it is granted, but its certificate
/// stays with the holder (the token went to the dishonest member, which dropped it). The
/// dishonest member, restarted with the founding membership, forges a claim in a new epoch under
/// it; an honest member that had confirmed the joint claim confirms the forged one too (a joint
/// membership may fall back to its previous set), and as the next candidate it ranked its own
/// report of the previous set above the joint reports of the others by stamp alone, claimed under
/// the founding set and took the ring back to it. The holder, which knows the change committed,
/// refused to follow and the added bank was never in the ring again: a liveness failure. A
/// candidate now ranks a report of a joint membership above any report of the set before it
/// (`Membership::report_rank`).
#[test]
fn a_forged_claim_does_not_take_the_ring_back_from_a_granted_change() {
    let stats = run_seed(1_014_291, false).unwrap_or_else(|report| panic!("{report}"));
    assert!(stats.changes_committed >= 1, "{stats:?}");
    assert!(stats.final_membership.0 >= 1, "{stats:?}");
}

/// An added bank taken back to the joint form of the change before its own (seed 2022150: 7
/// members, quorum 5, a Byzantine member removed by the first change, a bank added by the
/// second). The added bank starts with the committed version 1; the removed, dishonest member
/// forges it a claim under the joint version 1 (in which it still counts, in the previous set),
/// and the bank adopts it (a committed set may take its own joint form). The one joint claim of
/// version 2 sent to it is lost, and every later claim and token carries the committed version 2,
/// which `Membership::keeps` refused from a joint version 1: its committed set is two changes
/// past version 0. The bank ignored every claim and token for good and never held. A joint
/// membership now also keeps the committed form of one change on its current set (the same as
/// taking its committed form, then that change: two adoptions it already allowed one by one).
#[test]
fn an_added_bank_taken_back_to_a_joint_membership_follows_the_next_commit() {
    let stats = run_seed(2_022_150, false).unwrap_or_else(|report| panic!("{report}"));
    assert!(stats.changes_committed >= 2, "{stats:?}");
    assert!(stats.final_membership.0 >= 2, "{stats:?}");
}
