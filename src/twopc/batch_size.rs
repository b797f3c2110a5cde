//! How many pending transfers the holder asks for in its next batch. A batch's votes count only
//! if they arrive before the lease ends, so a batch too large for how fast the participants
//! prepare right now (a loaded machine, a slow disk) aborts whole as "did not answer in time".
//! The size follows what the last batches took, as TCP's window does: it doubles after a full
//! batch whose answers all came within half the lease it had left, halves after one whose
//! slowest answer came in the last quarter (or late), and stays put otherwise. An answer that
//! never came (a peer down, cut off or stopped) says nothing about the size and changes nothing:
//! halving then would only starve the transfers that do not touch that peer.

use std::time::Duration;

/// The batch size between `min` and `max`, starting at `start`.
#[derive(Clone, Debug)]
pub struct BatchSize {
    size: usize,
    min: usize,
    max: usize,
}

/// What one batch took, for `BatchSize::observe`.
#[derive(Clone, Copy, Debug)]
pub struct BatchTook {
    /// How many transfers were asked for, and how many pending ones there were (at most that).
    pub asked: usize,
    pub read: usize,
    /// From the batch's start to its slowest answer that arrived (None: none arrived).
    pub slowest: Option<Duration>,
    /// The lease left when the batch started.
    pub left: Duration,
}

impl BatchSize {
    pub fn new(min: usize, start: usize, max: usize) -> BatchSize {
        assert!(0 < min && min <= start && start <= max, "batch sizes {min} <= {start} <= {max}");
        BatchSize { size: start, min, max }
    }

    /// How many transfers to ask for next.
    pub fn get(&self) -> usize {
        self.size
    }

    /// Adjusts the size to what a batch took.
    pub fn observe(&mut self, took: BatchTook) {
        let Some(slowest) = took.slowest else { return };
        if slowest * 4 > took.left * 3 {
            self.size = (self.size / 2).max(self.min);
        } else if took.read >= took.asked && took.asked >= self.size && slowest * 2 <= took.left {
            self.size = (self.size * 2).min(self.max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn took(asked: usize, read: usize, slowest_ms: Option<u64>, left_ms: u64) -> BatchTook {
        BatchTook { asked, read, slowest: slowest_ms.map(Duration::from_millis), left: Duration::from_millis(left_ms) }
    }

    #[test]
    fn full_fast_batches_grow_the_size_up_to_the_most() {
        let mut size = BatchSize::new(16, 64, 512);
        for expected in [128, 256, 512, 512] {
            size.observe(took(size.get(), size.get(), Some(40), 200));
            assert_eq!(size.get(), expected);
        }
    }

    #[test]
    fn a_batch_that_was_not_full_or_took_over_half_the_lease_leaves_the_size_alone() {
        let mut size = BatchSize::new(16, 64, 512);
        size.observe(took(64, 10, Some(5), 200));
        assert_eq!(size.get(), 64, "a light load says nothing about a full batch");
        size.observe(took(64, 64, Some(120), 200));
        assert_eq!(size.get(), 64, "between half and three quarters of the lease: keep");
        size.observe(took(64, 64, Some(150), 200));
        assert_eq!(size.get(), 64, "exactly three quarters: keep");
    }

    #[test]
    fn a_slow_or_late_batch_halves_the_size_down_to_the_least() {
        let mut size = BatchSize::new(16, 512, 512);
        size.observe(took(512, 512, Some(151), 200));
        assert_eq!(size.get(), 256, "in the lease's last quarter");
        size.observe(took(256, 3, Some(900), 200));
        assert_eq!(size.get(), 128, "late, even with a few transfers: the participants are slow now");
        for _ in 0..10 {
            size.observe(took(size.get(), size.get(), Some(400), 200));
        }
        assert_eq!(size.get(), 16);
    }

    #[test]
    fn a_batch_without_any_answer_changes_nothing() {
        let mut size = BatchSize::new(16, 128, 512);
        size.observe(took(128, 128, None, 200));
        assert_eq!(size.get(), 128);
    }
}
