//! Scheduled transfers (agendamento): when each occurrence of a schedule is due. A schedule
//! starts at a local date and time in the bank's time zone and runs once, weekly, or monthly (on
//! the same day of the month, or the month's last day when it has fewer days). Pure: the
//! offset and the times are parameters.

use std::fmt;

use crate::limits::UtcOffset;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// How often a schedule runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    Once,
    Weekly,
    Monthly,
}

impl Repeat {
    pub fn as_str(self) -> &'static str {
        match self {
            Repeat::Once => "once",
            Repeat::Weekly => "weekly",
            Repeat::Monthly => "monthly",
        }
    }

    pub fn parse(text: &str) -> Option<Repeat> {
        [Repeat::Once, Repeat::Weekly, Repeat::Monthly].into_iter().find(|r| r.as_str() == text)
    }
}

/// A local date and time to the second ("2026-12-05T09:00", "2026-12-05T09:00:30").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalDateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (inverse of `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl LocalDateTime {
    /// "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS" (or with a space); a date alone is 00:00.
    pub fn parse(text: &str) -> Result<LocalDateTime, String> {
        let text = text.trim();
        let bad = || format!("{text:?} is not a date and time like 2026-12-05T09:00");
        let (date, time) = match text.split_once(['T', ' ']) {
            Some((date, time)) => (date, time),
            None => (text, "00:00"),
        };
        let number = |s: &str, len: usize| -> Result<u32, String> {
            if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let mut parts = date.split('-');
        let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
        let mut pieces = time.split(':');
        let (Some(h), Some(min), sec, None) = (pieces.next(), pieces.next(), pieces.next(), pieces.next()) else { return Err(bad()) };
        let value = LocalDateTime {
            year: i64::from(number(y, 4)?),
            month: number(m, 2)?,
            day: number(d, 2)?,
            hour: number(h, 2)?,
            minute: number(min, 2)?,
            second: match sec {
                Some(sec) => number(sec, 2)?,
                None => 0,
            },
        };
        let valid = (1..=12).contains(&value.month)
            && (1..=days_in_month(value.year, value.month)).contains(&value.day)
            && value.hour < 24
            && value.minute < 60
            && value.second < 60;
        if valid {
            Ok(value)
        } else {
            Err(bad())
        }
    }

    /// This local time in ms since the Unix epoch, at `offset` from UTC.
    pub fn to_ms(self, offset: UtcOffset) -> i64 {
        let days = days_from_civil(self.year, self.month, self.day);
        days * DAY_MS + (i64::from(self.hour) * 60 + i64::from(self.minute)) * MINUTE_MS + i64::from(self.second) * 1_000
            - i64::from(offset.minutes()) * MINUTE_MS
    }

    /// The local time of `ms` at `offset`, to the second.
    pub fn from_ms(ms: i64, offset: UtcOffset) -> LocalDateTime {
        let local = ms + i64::from(offset.minutes()) * MINUTE_MS;
        let (year, month, day) = civil_from_days(local.div_euclid(DAY_MS));
        let seconds = local.rem_euclid(DAY_MS) / 1_000;
        let part = |value: i64| u32::try_from(value).unwrap_or(0);
        LocalDateTime { year, month, day, hour: part(seconds / 3600), minute: part(seconds / 60 % 60), second: part(seconds % 60) }
    }

    /// The same local time `months` months later, on the same day or the month's last day.
    fn plus_months(self, months: i64) -> LocalDateTime {
        let index = self.year * 12 + i64::from(self.month) - 1 + months;
        let (year, month) = (index.div_euclid(12), u32::try_from(index.rem_euclid(12) + 1).unwrap_or(1));
        LocalDateTime { year, month, day: self.day.min(days_in_month(year, month)), ..self }
    }
}

impl fmt::Display for LocalDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}T{:02}:{:02}", self.year, self.month, self.day, self.hour, self.minute)?;
        if self.second != 0 {
            write!(f, ":{:02}", self.second)?;
        }
        Ok(())
    }
}

/// When occurrence `n` (0 = the first) of a schedule starting at `first` is due, in ms since
/// the epoch; `None` when there is no such occurrence (a one-off has only occurrence 0).
pub fn occurrence_at(first: LocalDateTime, repeat: Repeat, n: u32, offset: UtcOffset) -> Option<i64> {
    let local = match repeat {
        Repeat::Once if n == 0 => first,
        Repeat::Once => return None,
        Repeat::Weekly => {
            let days = days_from_civil(first.year, first.month, first.day) + 7 * i64::from(n);
            let (year, month, day) = civil_from_days(days);
            LocalDateTime { year, month, day, ..first }
        }
        Repeat::Monthly => first.plus_months(i64::from(n)),
    };
    Some(local.to_ms(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in [-800_000, -1, 0, 1, 59, 60, 11_016, 20_422, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn parse_and_convert_local_times() {
        let t = LocalDateTime::parse("2026-12-05T09:00").unwrap();
        assert_eq!(t.to_string(), "2026-12-05T09:00");
        // 09:00 in Sao Paulo is 12:00 UTC.
        assert_eq!(t.to_ms(UtcOffset::SAO_PAULO), 1_796_040_000_000 + 5 * DAY_MS);
        assert_eq!(LocalDateTime::from_ms(t.to_ms(UtcOffset::SAO_PAULO), UtcOffset::SAO_PAULO), t);
        assert_eq!(LocalDateTime::parse("2028-02-29").unwrap().hour, 0);
        let s = LocalDateTime::parse("2026-12-05 09:00:30").unwrap();
        assert_eq!((s.second, s.to_string()), (30, "2026-12-05T09:00:30".to_string()));
        assert_eq!(s.to_ms(UtcOffset::UTC) - t.to_ms(UtcOffset::UTC), 30_000);
        for bad in [
            "",
            "2026-13-01T00:00",
            "2027-02-29T10:00",
            "2026-12-05T24:00",
            "2026-12-5T09:00",
            "tomorrow",
            "2026-12-05T09:00:60",
            "2026-12-05T09:00:00:00",
        ] {
            assert!(LocalDateTime::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn occurrences_once_weekly_and_monthly_on_the_last_day() {
        let utc = UtcOffset::UTC;
        let first = LocalDateTime::parse("2026-01-31T08:30").unwrap();
        assert_eq!(occurrence_at(first, Repeat::Once, 0, utc), Some(first.to_ms(utc)));
        assert_eq!(occurrence_at(first, Repeat::Once, 1, utc), None);
        let weekly = |n| LocalDateTime::from_ms(occurrence_at(first, Repeat::Weekly, n, utc).unwrap(), utc).to_string();
        assert_eq!(weekly(1), "2026-02-07T08:30");
        assert_eq!(weekly(5), "2026-03-07T08:30");
        let monthly = |n| LocalDateTime::from_ms(occurrence_at(first, Repeat::Monthly, n, utc).unwrap(), utc).to_string();
        assert_eq!(monthly(1), "2026-02-28T08:30");
        assert_eq!(monthly(2), "2026-03-31T08:30", "the day of the first occurrence, not of the one before");
        assert_eq!(monthly(3), "2026-04-30T08:30");
        assert_eq!(monthly(11), "2026-12-31T08:30");
        assert_eq!(monthly(13), "2027-02-28T08:30");
        assert_eq!(monthly(25), "2028-02-29T08:30");
        assert_eq!(Repeat::parse("monthly"), Some(Repeat::Monthly));
        assert_eq!(Repeat::parse("daily"), None);
    }
}
