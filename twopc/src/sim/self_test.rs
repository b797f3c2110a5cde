//! The simulator's checks can fail: each deliberately broken rule is caught within a few hundred
//! seeds, and the healthy protocol passes the same seeds.

use super::run_seed;
use crate::deliberate_bug::{with_bug, DeliberateBug};

const SEEDS: std::ops::Range<u64> = 1..400;

/// Runs seeds with `bug` switched on until one fails; returns its report.
fn first_failure(bug: DeliberateBug) -> String {
    with_bug(bug, || {
        for seed in SEEDS {
            if let Err(report) = run_seed(seed, false) {
                println!("{bug:?} caught: {}", report.lines().next().unwrap_or_default());
                return report;
            }
        }
        panic!("no seed in {SEEDS:?} caught {bug:?}");
    })
}

#[test]
fn a_participant_that_aborts_on_its_own_breaks_atomicity() {
    let report = first_failure(DeliberateBug::ParticipantAbortsOnItsOwn);
    assert!(report.contains("atomicity"), "{report}");
    assert!(report.contains("replay: TWOPC_SEED="), "{report}");
}

#[test]
fn a_coordinator_that_commits_on_a_missing_vote_is_caught() {
    let report = first_failure(DeliberateBug::CoordinatorCommitsOnMissingVote);
    assert!(report.contains("without a durable yes vote"), "{report}");
}

#[test]
fn a_restarted_coordinator_that_presumes_commit_is_caught() {
    let report = first_failure(DeliberateBug::PresumedCommit);
    assert!(report.contains("presumed abort"), "{report}");
}

#[test]
fn a_participant_without_fencing_is_caught() {
    let report = first_failure(DeliberateBug::NoFencing);
    assert!(report.contains("fencing"), "{report}");
}

#[test]
fn a_coordinator_that_never_retransmits_outcomes_fails_liveness() {
    let report = first_failure(DeliberateBug::NoRetransmission);
    assert!(report.contains("liveness"), "{report}");
}

#[test]
fn a_participant_that_ignores_consents_is_caught() {
    let report = first_failure(DeliberateBug::NoConsentCheck);
    assert!(report.contains("without a consent covering it"), "{report}");
}

#[test]
fn a_participant_that_skips_the_certificate_check_is_caught() {
    let report = first_failure(DeliberateBug::NoCertificateCheck);
    assert!(report.contains("fence:"), "{report}");
    assert!(report.contains("Byzantine: Some("), "{report}");
}

#[test]
fn a_participant_that_takes_outcomes_from_anyone_is_caught() {
    let report = first_failure(DeliberateBug::OutcomesFromAnyone);
    assert!(report.contains("atomicity"), "{report}");
    assert!(report.contains("Byzantine: Some("), "{report}");
}

#[test]
fn the_same_seeds_pass_without_a_bug() {
    for seed in SEEDS.take(100) {
        if let Err(report) = run_seed(seed, false) {
            panic!("{report}");
        }
    }
}
