//! The ring driver's monotonic clock: ms since the bank started, advancing at a rate that the
//! `clock-rate` fault can change (1 by default: real time). Re-based at every change, so it
//! never jumps or runs backwards; converts the ring's local deadlines back to real `Instant`s
//! with the rate, so a lease ends in real time exactly when this clock reaches its end.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ringbank_domain::ClockRate;

/// Shared by the ring driver (reads) and the fault injection (sets the rate).
#[derive(Debug)]
pub struct RingClock {
    state: Mutex<Segment>,
}

/// The clock from `since` on: it read `local_us` then and advances `rate` µs per real µs,
/// until `until` (then at rate 1 again: a timed fault expires).
#[derive(Clone, Copy, Debug)]
struct Segment {
    since: Instant,
    local_us: u64,
    rate: ClockRate,
    until: Option<Instant>,
}

impl Segment {
    fn local_us_at(&self, at: Instant) -> u64 {
        let real_us = u128::try_from(at.saturating_duration_since(self.since).as_micros()).unwrap_or(u128::MAX);
        let advanced = real_us.saturating_mul(u128::from(self.rate.ppm())) / 1_000_000;
        self.local_us.saturating_add(u64::try_from(advanced).unwrap_or(u64::MAX))
    }

    /// The first instant at which this segment's clock reads `local_us` (rounded up).
    fn instant_of(&self, local_us: u64) -> Instant {
        let ahead = u128::from(local_us.saturating_sub(self.local_us));
        let real_us = (ahead * 1_000_000).div_ceil(u128::from(self.rate.ppm()));
        self.since + Duration::from_micros(u64::try_from(real_us).unwrap_or(u64::MAX / 2))
    }

    /// The segment in force at `now`: past `until`, the clock runs at rate 1 from `until`.
    fn current(self, now: Instant) -> Segment {
        match self.until {
            Some(until) if until <= now => Segment { since: until, local_us: self.local_us_at(until), rate: ClockRate::ONE, until: None },
            _ => self,
        }
    }
}

impl Default for RingClock {
    fn default() -> RingClock {
        RingClock::new(Instant::now())
    }
}

impl RingClock {
    /// A clock that reads 0 at `start` and keeps real time.
    pub fn new(start: Instant) -> RingClock {
        RingClock { state: Mutex::new(Segment { since: start, local_us: 0, rate: ClockRate::ONE, until: None }) }
    }

    fn segment(&self, now: Instant) -> Segment {
        let mut state = self.state.lock().expect("ring clock lock");
        *state = state.current(now);
        *state
    }

    /// Ms since the start, on this clock.
    pub fn now_ms(&self) -> u64 {
        self.ms_at(Instant::now())
    }

    /// What the clock reads at `at` (not before the last change).
    pub fn ms_at(&self, at: Instant) -> u64 {
        self.segment(at).local_us_at(at) / 1_000
    }

    /// The real instant at which the clock reads `local_ms` at the current rate (and at rate 1
    /// after a timed rate expires); a time already past maps to now or earlier.
    pub fn instant_at(&self, local_ms: u64) -> Instant {
        let now = Instant::now();
        let segment = self.segment(now);
        let local_us = local_ms.saturating_mul(1_000);
        match segment.until {
            Some(until) if segment.local_us_at(until) < local_us => segment.current(until).instant_of(local_us),
            _ => segment.instant_of(local_us),
        }
    }

    /// From now on the clock advances at `rate`, until `until` (then at rate 1); no jump.
    pub fn set_rate(&self, rate: ClockRate, until: Option<Instant>) {
        self.set_rate_at(Instant::now(), rate, until);
    }

    fn set_rate_at(&self, now: Instant, rate: ClockRate, until: Option<Instant>) {
        let mut state = self.state.lock().expect("ring clock lock");
        let current = state.current(now);
        *state = Segment { since: now, local_us: current.local_us_at(now), rate, until };
    }

    /// The rate in force now, and until when (None: for good).
    pub fn rate(&self) -> (ClockRate, Option<Instant>) {
        let segment = self.segment(Instant::now());
        (segment.rate, segment.until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(text: &str) -> ClockRate {
        text.parse().expect("a valid rate")
    }

    #[test]
    fn the_clock_keeps_real_time_by_default() {
        let start = Instant::now();
        let clock = RingClock::new(start);
        assert_eq!(clock.ms_at(start + Duration::from_millis(1_500)), 1_500);
        assert_eq!(clock.segment(start).instant_of(250_000), start + Duration::from_millis(250));
    }

    #[test]
    fn a_rate_change_rebases_without_a_jump_and_a_timed_rate_expires() {
        let start = Instant::now();
        let clock = RingClock::new(start);
        let changed = start + Duration::from_millis(1_000);
        clock.set_rate_at(changed, rate("1.05"), Some(changed + Duration::from_millis(2_000)));
        assert_eq!(clock.ms_at(changed), 1_000);
        assert_eq!(clock.ms_at(changed + Duration::from_millis(1_000)), 2_050);
        // Expired after 2 s at 1.05 (2,100 ms of clock): real time again from there.
        assert_eq!(clock.ms_at(changed + Duration::from_millis(3_000)), 1_000 + 2_100 + 1_000);
        let slow = changed + Duration::from_millis(4_000);
        clock.set_rate_at(slow, rate("0.5"), None);
        assert_eq!(clock.ms_at(slow + Duration::from_millis(1_000)), 4_100 + 1_000 + 500);
    }

    #[test]
    fn a_local_deadline_converts_to_the_instant_the_clock_reaches_it() {
        let start = Instant::now();
        let clock = RingClock::new(start);
        clock.set_rate_at(start, rate("2"), None);
        let segment = clock.segment(start);
        // 200 ms of a clock at double speed take 100 real ms; at half speed, 400.
        assert_eq!(segment.instant_of(200_000), start + Duration::from_millis(100));
        clock.set_rate_at(start, rate("0.5"), None);
        assert_eq!(clock.segment(start).instant_of(200_000), start + Duration::from_millis(400));
        // Round trip: the clock reads the deadline at the instant given for it.
        let deadline = clock.now_ms() + 300;
        let instant = clock.instant_at(deadline);
        assert_eq!(clock.ms_at(instant), deadline);
    }
}
