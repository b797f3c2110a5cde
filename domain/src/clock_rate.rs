//! A clock rate for the `clock-rate` fault: how many ms a bank's ring clock advances per real
//! ms, in parts per million, written as a decimal ("1.05", "0.95"; no floats involved).

use std::fmt;
use std::str::FromStr;

/// A clock rate in parts per million (`ClockRate::ONE`: the clock keeps real time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockRate(u64);

/// Why a clock rate was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClockRateError {
    #[error("a clock rate is a decimal like 1.05 or 0.95, at most 6 decimals: {0:?}")]
    Malformed(String),
    #[error("a clock rate must be between 0.5 and 2 (got {0}); the ring is safe only while the fastest bank's clock runs at most 10 % faster than the slowest's (ring/README.md, \"Clock rates\")")]
    OutOfRange(ClockRate),
}

impl ClockRate {
    pub const ONE: ClockRate = ClockRate(1_000_000);
    /// The slowest and fastest rates the fault accepts: sane, not safe (safety needs every
    /// bank's rate within 10 % of every other's; these let a test step outside on purpose).
    pub const MIN: ClockRate = ClockRate(500_000);
    pub const MAX: ClockRate = ClockRate(2_000_000);

    /// A rate in parts per million, within `MIN..=MAX`.
    pub fn from_ppm(ppm: u64) -> Result<ClockRate, ClockRateError> {
        let rate = ClockRate(ppm);
        if (ClockRate::MIN..=ClockRate::MAX).contains(&rate) {
            Ok(rate)
        } else {
            Err(ClockRateError::OutOfRange(rate))
        }
    }

    pub fn ppm(self) -> u64 {
        self.0
    }
}

impl Default for ClockRate {
    fn default() -> ClockRate {
        ClockRate::ONE
    }
}

impl fmt::Display for ClockRate {
    /// "1.05", "0.95", "1" (trailing zeros of the fraction dropped).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, fraction) = (self.0 / 1_000_000, self.0 % 1_000_000);
        if fraction == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{fraction:06}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl FromStr for ClockRate {
    type Err = ClockRateError;

    fn from_str(text: &str) -> Result<ClockRate, ClockRateError> {
        let malformed = || ClockRateError::Malformed(text.to_string());
        let text_trimmed = text.trim();
        let (whole, fraction) = text_trimmed.split_once('.').unwrap_or((text_trimmed, "0"));
        let digits = |part: &str| part.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || fraction.is_empty() || whole.len() > 6 || fraction.len() > 6 || !digits(whole) || !digits(fraction) {
            return Err(malformed());
        }
        let whole: u64 = whole.parse().map_err(|_| malformed())?;
        let fraction: u64 = format!("{fraction:0<6}").parse().map_err(|_| malformed())?;
        ClockRate::from_ppm(whole * 1_000_000 + fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_print_as_decimals() {
        for (text, ppm, printed) in [
            ("1.05", 1_050_000, "1.05"),
            ("0.95", 950_000, "0.95"),
            ("1", 1_000_000, "1"),
            ("2.0", 2_000_000, "2"),
            ("0.5", 500_000, "0.5"),
            ("1.000001", 1_000_001, "1.000001"),
        ] {
            let rate: ClockRate = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(rate.ppm(), ppm);
            assert_eq!(rate.to_string(), printed);
        }
    }

    #[test]
    fn rates_outside_half_to_double_or_malformed_are_refused() {
        for text in ["0.4999", "2.01", "0", "10"] {
            assert!(matches!(text.parse::<ClockRate>(), Err(ClockRateError::OutOfRange(_))), "{text}");
        }
        for text in ["", "1.", ".5", "-1", "1,05", "1.0000001", "1e0", "abc", "1.5x"] {
            assert!(matches!(text.parse::<ClockRate>(), Err(ClockRateError::Malformed(_))), "{text}");
        }
    }
}
