//! One failure limiter for every sign-in (customers by document, the ring monitor by bank):
//! after `max_failures` wrong attempts within `window`, further attempts are refused until the
//! window has passed; a success clears the key. Bounded: past `tracked_max` keys it forgets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    tracked_max: usize,
    /// key -> (failures, start of the window)
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl FailureLimiter {
    pub fn new(max_failures: u32, window: Duration, tracked_max: usize) -> FailureLimiter {
        assert!(max_failures > 0 && tracked_max > 0, "a limiter must allow at least one failure and track at least one key");
        FailureLimiter { max_failures, window, tracked_max, failures: Mutex::new(HashMap::new()) }
    }

    /// Ok while `key` may try again; otherwise how long until it may.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let failures = self.failures.lock().expect("limiter lock");
        match failures.get(key) {
            Some((count, since)) if *count >= self.max_failures && since.elapsed() < self.window => {
                Err(self.window.saturating_sub(since.elapsed()).max(Duration::from_secs(1)))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, key: &str) {
        let mut failures = self.failures.lock().expect("limiter lock");
        if failures.len() >= self.tracked_max && !failures.contains_key(key) {
            failures.clear();
        }
        let entry = failures.entry(key.to_string()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 = entry.0.saturating_add(1);
    }

    pub fn record_success(&self, key: &str) {
        self.failures.lock().expect("limiter lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_allowed_failures_and_a_success_clears() {
        let limiter = FailureLimiter::new(2, Duration::from_secs(60), 10);
        assert!(limiter.check("a").is_ok());
        limiter.record_failure("a");
        assert!(limiter.check("a").is_ok());
        limiter.record_failure("a");
        let wait = limiter.check("a").unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60), "{wait:?}");
        assert!(limiter.check("b").is_ok(), "other keys are not affected");
        limiter.record_success("a");
        assert!(limiter.check("a").is_ok());
    }

    #[test]
    fn the_window_passes_and_memory_is_bounded() {
        let limiter = FailureLimiter::new(1, Duration::from_millis(20), 3);
        limiter.record_failure("a");
        assert!(limiter.check("a").is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(limiter.check("a").is_ok());
        for key in ["b", "c", "d", "e"] {
            limiter.record_failure(key);
        }
        assert!(limiter.failures.lock().unwrap().len() <= 3);
    }
}
