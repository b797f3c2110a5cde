//! Named protocol points where an armed `crash-at` fault kills the bank (like kill -9).

use std::fmt;
use std::str::FromStr;

/// A point in the two-phase commit where a crash can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrashPoint {
    /// Coordinator: just granted the token, before any batch.
    WhileHolding,
    /// Coordinator: remote participants prepared, the local one not yet.
    AfterPrepareSent,
    /// Coordinator: every vote in, nothing decided.
    AfterVotes,
    /// Coordinator: decision durable, no outcome delivered.
    AfterDecisionLogged,
    /// Coordinator: outcome delivered to one remote participant only.
    AfterCommitSent,
    /// Participant: a prepare arrived, nothing voted.
    OnPrepare,
    /// Participant: an outcome arrived, nothing applied.
    OnCommit,
    /// Scheduler: an occurrence's transfer made, its run not recorded yet.
    AfterScheduledTransfer,
}

impl CrashPoint {
    pub const ALL: [CrashPoint; 8] = [
        CrashPoint::WhileHolding,
        CrashPoint::AfterPrepareSent,
        CrashPoint::AfterVotes,
        CrashPoint::AfterDecisionLogged,
        CrashPoint::AfterCommitSent,
        CrashPoint::OnPrepare,
        CrashPoint::OnCommit,
        CrashPoint::AfterScheduledTransfer,
    ];

    /// The points on a cross-bank transfer's path (what the chaos runs arm: their load has
    /// no scheduled transfers): every point but the scheduler's, which comes last in `ALL`.
    pub const TWO_PHASE: &'static [CrashPoint] = CrashPoint::ALL.split_at(7).0;

    pub fn as_str(self) -> &'static str {
        match self {
            CrashPoint::WhileHolding => "while-holding",
            CrashPoint::AfterPrepareSent => "after-prepare-sent",
            CrashPoint::AfterVotes => "after-votes",
            CrashPoint::AfterDecisionLogged => "after-decision-logged",
            CrashPoint::AfterCommitSent => "after-commit-sent",
            CrashPoint::OnPrepare => "on-prepare",
            CrashPoint::OnCommit => "on-commit",
            CrashPoint::AfterScheduledTransfer => "after-scheduled-transfer",
        }
    }

    /// The names of every point, comma-separated (for error messages and help).
    pub fn names() -> String {
        CrashPoint::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown crash point name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown crash point {0:?}; known points: {points}", points = CrashPoint::names())]
pub struct UnknownCrashPoint(pub String);

impl FromStr for CrashPoint {
    type Err = UnknownCrashPoint;

    fn from_str(name: &str) -> Result<CrashPoint, UnknownCrashPoint> {
        CrashPoint::ALL.into_iter().find(|p| p.as_str() == name).ok_or_else(|| UnknownCrashPoint(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_parses_back_and_unknown_names_are_refused() {
        for point in CrashPoint::ALL {
            assert_eq!(point.as_str().parse::<CrashPoint>(), Ok(point));
        }
        let error = "before-lunch".parse::<CrashPoint>().unwrap_err();
        assert!(error.to_string().contains("after-votes"), "{error}");
    }
}

#[cfg(test)]
mod two_phase_tests {
    use super::CrashPoint;

    #[test]
    fn the_chaos_runs_arm_every_two_phase_point_and_not_the_schedulers() {
        assert_eq!(CrashPoint::TWO_PHASE.len() + 1, CrashPoint::ALL.len());
        assert!(!CrashPoint::TWO_PHASE.contains(&CrashPoint::AfterScheduledTransfer));
        assert!(CrashPoint::TWO_PHASE.contains(&CrashPoint::OnCommit));
    }
}
