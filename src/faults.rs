//! Fault injection (for testers and operators, through the admin API): partitions that drop
//! ring traffic to and from chosen banks. Every fault expires on its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest a fault may be set for.
pub const FAULT_DURATION_MAX: Duration = Duration::from_secs(3600);

/// Named protocol points where `crash-at` kills the bank (like kill -9).
pub const CRASH_POINTS: &[&str] = &[
    "while-holding",         // coordinator: just granted the token, before any batch
    "after-prepare-sent",    // coordinator: remote participants prepared, the local one not yet
    "after-votes",           // coordinator: every vote in, nothing decided
    "after-decision-logged", // coordinator: decision durable, no outcome delivered
    "after-commit-sent",     // coordinator: outcome delivered to one remote participant only
    "on-prepare",            // participant: a prepare arrived, nothing voted
    "on-commit",             // participant: an outcome arrived, nothing applied
];

#[derive(Default)]
pub struct Faults {
    partitioned: Mutex<HashMap<String, Instant>>,
    crash_at: Mutex<Option<String>>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ActiveFault {
    pub kind: &'static str,
    pub bank: String,
    pub remaining_ms: u64,
}

impl Faults {
    /// Drops ring traffic to and from `banks` for `duration`.
    pub fn partition(&self, banks: &[String], duration: Duration) {
        let until = Instant::now() + duration.min(FAULT_DURATION_MAX);
        let mut partitioned = self.partitioned.lock().expect("faults lock");
        for bank in banks {
            partitioned.insert(bank.clone(), until);
        }
        tracing::warn!(?banks, duration_ms = duration.as_millis() as u64, "fault: partition");
    }

    /// Arms a crash at a named point (one of CRASH_POINTS).
    pub fn crash_at(&self, point: &str) -> bool {
        if !CRASH_POINTS.contains(&point) {
            return false;
        }
        *self.crash_at.lock().expect("faults lock") = Some(point.to_string());
        tracing::warn!(point, "fault: crash armed");
        true
    }

    /// Called at each named point: if a crash is armed here, the process dies at once
    /// (SIGKILL to itself: no destructor, no flush, exactly like kill -9).
    pub fn crash_point(&self, point: &str) {
        let armed = self.crash_at.lock().expect("faults lock").as_deref() == Some(point);
        if armed {
            tracing::error!(point, "fault: crashing now");
            // SAFETY: kill(2) on our own pid with SIGKILL.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }

    pub fn heal(&self) {
        *self.crash_at.lock().expect("faults lock") = None;
        self.partitioned.lock().expect("faults lock").clear();
        tracing::warn!("fault: healed");
    }

    pub fn is_partitioned(&self, bank: &str) -> bool {
        let mut partitioned = self.partitioned.lock().expect("faults lock");
        match partitioned.get(bank) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                partitioned.remove(bank);
                false
            }
            None => false,
        }
    }

    pub fn active(&self) -> Vec<ActiveFault> {
        let now = Instant::now();
        let partitioned = self.partitioned.lock().expect("faults lock");
        let mut list: Vec<ActiveFault> = partitioned
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(bank, until)| ActiveFault {
                kind: "partition",
                bank: bank.clone(),
                remaining_ms: u64::try_from((*until - now).as_millis()).unwrap_or(u64::MAX),
            })
            .collect();
        list.sort_by(|a, b| a.bank.cmp(&b.bank));
        if let Some(point) = self.crash_at.lock().expect("faults lock").clone() {
            list.push(ActiveFault { kind: "crash-at", bank: point, remaining_ms: 0 });
        }
        list
    }
}
