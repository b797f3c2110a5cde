//! Idle sign-out of page sessions, as banks do: a session that has asked for no page for
//! `--page-idle-timeout` is signed out server-side at its next request, which goes to the
//! sign-in page (with a notice, and back to the page asked for afterwards). The pages warn a
//! little before (static/app.js, from `data-idle-seconds` on <body>), and "Continuar conectado"
//! asks GET /keepalive, which counts as activity.
//!
//! Activity is kept in memory per session key: after a restart a session's idle time starts
//! again from its next request (the session itself still expires after `--session-ttl`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sessions tracked before stale entries are swept.
const TRACKED_BEFORE_SWEEP: usize = 10_000;

#[derive(Default)]
pub struct PageActivity {
    last_seen: Mutex<HashMap<String, Instant>>,
}

impl PageActivity {
    /// Records a page request of session `key` at `now`; true when the session had been idle
    /// longer than `idle` (then it is forgotten: the caller signs it out).
    pub fn touch(&self, key: &str, now: Instant, idle: Duration) -> bool {
        let mut map = self.last_seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(last) = map.get(key) {
            if now.saturating_duration_since(*last) > idle {
                map.remove(key);
                return true;
            }
        }
        if map.len() >= TRACKED_BEFORE_SWEEP {
            map.retain(|_, last| now.saturating_duration_since(*last) <= idle);
        }
        map.insert(key.to_string(), now);
        false
    }

    pub fn forget(&self, key: &str) {
        self.last_seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_longer_than_the_limit_signs_out_once() {
        let activity = PageActivity::default();
        let idle = Duration::from_secs(60);
        let start = Instant::now();
        assert!(!activity.touch("a", start, idle));
        assert!(!activity.touch("a", start + Duration::from_secs(59), idle));
        assert!(!activity.touch("a", start + Duration::from_secs(118), idle), "activity moved the deadline");
        assert!(activity.touch("a", start + Duration::from_secs(179), idle));
        assert!(!activity.touch("a", start + Duration::from_secs(180), idle), "a new session starts afresh");
    }
}
