//! One failure limiter type (`FailureLimiter`: after `max_failures` wrong attempts within
//! `window`, the key waits until the window has passed; a success clears the key; bounded: past
//! `tracked_max` keys it forgets), and `Throttle`, which combines three of them against
//! guessing (customer passwords, the admin secret): per client address and target (refused),
//! per client address over all targets (refused), and per target over all addresses (slowed,
//! never refused, so that a stranger cannot lock the owner out).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures one client may make against one target within the window.
const PAIR_FAILURES_MAX: u32 = 5;
/// Failures one client may make against all targets together within the window.
const CLIENT_FAILURES_MAX: u32 = 20;
/// Failures against one target from everywhere after which each attempt on it is slowed.
const TARGET_FAILURES_SLOW: u32 = 20;
/// How much a slowed attempt waits.
const TARGET_SLOW_DELAY: Duration = Duration::from_millis(500);
const THROTTLE_WINDOW: Duration = Duration::from_secs(300);

/// Throttles guessing of one kind of secret (see the module comment).
pub struct Throttle {
    per_pair: FailureLimiter,
    per_client: FailureLimiter,
    per_target: FailureLimiter,
}

impl Throttle {
    pub fn new(tracked_max: usize) -> Throttle {
        Throttle {
            per_pair: FailureLimiter::new(PAIR_FAILURES_MAX, THROTTLE_WINDOW, tracked_max),
            per_client: FailureLimiter::new(CLIENT_FAILURES_MAX, THROTTLE_WINDOW, tracked_max),
            per_target: FailureLimiter::new(TARGET_FAILURES_SLOW, THROTTLE_WINDOW, tracked_max),
        }
    }

    /// Before checking a secret: `Ok(delay)` to wait first (zero unless the target is under
    /// attack), or `Err(retry_after)` when this client must stop for a while.
    pub fn check(&self, client: Option<IpAddr>, target: &str) -> Result<Duration, Duration> {
        let client = client_key(client);
        self.per_pair.check(&pair_key(&client, target))?;
        self.per_client.check(&client)?;
        Ok(if self.per_target.check(target).is_err() { TARGET_SLOW_DELAY } else { Duration::ZERO })
    }

    pub fn record_failure(&self, client: Option<IpAddr>, target: &str) {
        let client = client_key(client);
        self.per_pair.record_failure(&pair_key(&client, target));
        self.per_client.record_failure(&client);
        self.per_target.record_failure(target);
    }

    /// The right secret: this client and this target start afresh. The client's count over all
    /// targets stays (else guessing between sign-ins to one's own account would reset it).
    pub fn record_success(&self, client: Option<IpAddr>, target: &str) {
        self.per_pair.record_success(&pair_key(&client_key(client), target));
        self.per_target.record_success(target);
    }
}

fn client_key(client: Option<IpAddr>) -> String {
    client.map_or_else(|| "unknown".to_string(), |address| address.to_string())
}

fn pair_key(client: &str, target: &str) -> String {
    format!("{client} {target}")
}

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
    fn a_stranger_is_refused_but_the_owner_from_elsewhere_is_not() {
        let throttle = Throttle::new(100);
        let stranger = Some(IpAddr::from([127, 0, 0, 2]));
        let owner = Some(IpAddr::from([127, 0, 0, 3]));
        for _ in 0..PAIR_FAILURES_MAX {
            assert!(throttle.check(stranger, "victim").is_ok());
            throttle.record_failure(stranger, "victim");
        }
        assert!(throttle.check(stranger, "victim").is_err());
        assert_eq!(throttle.check(owner, "victim"), Ok(Duration::ZERO));
        assert!(throttle.check(stranger, "other").is_ok(), "only the pair, until the client's total is reached");
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
