//! The Pix key directory's ordering under the simulator: many seeds, and the replay entry point.

use std::time::Instant;

use ringbank_ring::dir_sim::{dir_replay_command, run_dir_seed};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|value| value.trim().parse().ok())
}

/// `DIR_SIM_SEEDS` seeds (200 in debug, 5 000 in release by default) from `DIR_SIM_FIRST_SEED`:
/// agreement on every committed position, every member's directory equal to the agreed one at
/// its length, convergence after the final heal.
#[test]
fn dir_sim_seeds() {
    let count = env_u64("DIR_SIM_SEEDS").unwrap_or(if cfg!(debug_assertions) { 200 } else { 5_000 });
    let first = env_u64("DIR_SIM_FIRST_SEED").unwrap_or(1);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8) as u64;
    let started = Instant::now();
    let results: Vec<Result<(u64, u64, u64, u64, u64, u64), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                scope.spawn(move || {
                    let mut totals = (0, 0, 0, 0, 0, 0);
                    let mut seed = first + thread;
                    while seed < first + count {
                        let stats = run_dir_seed(seed, false)?;
                        totals.0 += stats.committed;
                        totals.1 += stats.key_taken;
                        totals.2 += stats.holders;
                        totals.3 += stats.crashes;
                        totals.4 += stats.superseded;
                        totals.5 += stats.new_rounds;
                        seed += threads;
                    }
                    Ok(totals)
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("simulation thread panicked")).collect()
    });
    let mut failures = Vec::new();
    let mut totals = (0, 0, 0, 0, 0, 0);
    for result in results {
        match result {
            Ok(t) => {
                totals.0 += t.0;
                totals.1 += t.1;
                totals.2 += t.2;
                totals.3 += t.3;
                totals.4 += t.4;
                totals.5 += t.5;
            }
            Err(message) => failures.push(message),
        }
    }
    println!(
        "{count} directory seeds from {first}: {} positions committed, {} registrations refused as taken, {} holders ({} superseded with work, {} new rounds after a truncated promise), {} crashes, {:.1} s",
        totals.0,
        totals.1,
        totals.2,
        totals.4,
        totals.5,
        totals.3,
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(totals.1 > 0, "no seed raced two registrations of one key");
    assert!(totals.4 > 0, "no seed superseded a holder with work in flight");
    assert!(totals.5 > 0, "no seed needed a second round after a truncated promise");
}

/// `DIR_SEED=n cargo test -p ringbank-ring --release dir_sim_replay -- --nocapture` prints the
/// full trace of one seed. Without DIR_SEED it replays seed 1 quietly.
#[test]
fn dir_sim_replay() {
    let seed = env_u64("DIR_SEED");
    let trace = seed.is_some();
    let seed = seed.unwrap_or(1);
    match run_dir_seed(seed, trace) {
        Ok(stats) => println!("seed {seed} passed: {stats:?}\n(replay: {})", dir_replay_command(seed)),
        Err(message) => panic!("{message}"),
    }
}
