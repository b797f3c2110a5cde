//! Fault injection (for testers and operators, through the admin API): partitions that drop
//! ring traffic to and from chosen banks. Every fault expires on its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest a fault may be set for.
pub const FAULT_DURATION_MAX: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub struct Faults {
    partitioned: Mutex<HashMap<String, Instant>>,
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

    pub fn heal(&self) {
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
        list
    }
}
