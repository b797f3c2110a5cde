//! Transfer limits of a customer account (Pix style): per transfer, per local day, and a lower
//! limit for the night (20:00-06:00 local time, R$ 1.000,00 by default). A customer lowers a
//! limit at once and raises it only after a delay. Pure: the time (`now_ms`) and the bank's
//! UTC offset are parameters; nothing here reads a clock.

use std::fmt;

use crate::money::{format_brl, parse_brl};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
/// The night window starts at 20:00 and ends at 06:00, local time.
pub const NIGHT_STARTS_HOUR: i64 = 20;
pub const NIGHT_ENDS_HOUR: i64 = 6;
/// The night limit a customer has until they change it (R$ 1.000,00, as Pix).
pub const DEFAULT_NIGHT_CENTS: i64 = 100_000;

/// A bank's local time as a fixed offset from UTC. Named zones are accepted only where the
/// offset is fixed (America/Sao_Paulo has kept UTC-03:00 since daylight saving ended in 2019).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcOffset {
    minutes: i32,
}

/// Named zones with a fixed offset that `UtcOffset::parse` knows.
const NAMED_ZONES: [(&str, i32); 6] = [
    ("America/Sao_Paulo", -180),
    ("America/Manaus", -240),
    ("America/Rio_Branco", -300),
    ("America/Noronha", -120),
    ("America/Fortaleza", -180),
    ("America/Recife", -180),
];

impl UtcOffset {
    pub const UTC: UtcOffset = UtcOffset { minutes: 0 };
    /// America/Sao_Paulo, the default.
    pub const SAO_PAULO: UtcOffset = UtcOffset { minutes: -180 };

    pub fn from_minutes(minutes: i32) -> Option<UtcOffset> {
        (-14 * 60..=14 * 60).contains(&minutes).then_some(UtcOffset { minutes })
    }

    pub fn minutes(self) -> i32 {
        self.minutes
    }

    /// "UTC", "+HH:MM"/"-HH:MM" (e.g. "-03:00"), or a named zone with a fixed offset
    /// ("America/Sao_Paulo").
    pub fn parse(text: &str) -> Result<UtcOffset, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("utc") || text == "Z" {
            return Ok(UtcOffset::UTC);
        }
        if let Some((_, minutes)) = NAMED_ZONES.iter().find(|(name, _)| *name == text) {
            return Ok(UtcOffset { minutes: *minutes });
        }
        let bad = || {
            let names: Vec<&str> = NAMED_ZONES.iter().map(|(name, _)| *name).collect();
            format!("time zone {text:?}: expected UTC, an offset like -03:00, or one of {}", names.join(", "))
        };
        let (sign, rest) = match text.as_bytes().first() {
            Some(b'+') => (1, &text[1..]),
            Some(b'-') => (-1, &text[1..]),
            _ => return Err(bad()),
        };
        let (hours, minutes) = rest.split_once(':').ok_or_else(bad)?;
        if hours.len() != 2 || minutes.len() != 2 {
            return Err(bad());
        }
        let hours: i32 = hours.parse().map_err(|_| bad())?;
        let minutes: i32 = minutes.parse().map_err(|_| bad())?;
        if minutes >= 60 {
            return Err(bad());
        }
        UtcOffset::from_minutes(sign * (hours * 60 + minutes)).ok_or_else(bad)
    }

    fn offset_ms(self) -> i64 {
        i64::from(self.minutes) * MINUTE_MS
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let abs = self.minutes.abs();
        write!(f, "{sign}{:02}:{:02}", abs / 60, abs % 60)
    }
}

/// The periods a debit at `now_ms` counts in: the local day since midnight and, at night, the
/// night since 20:00 (of the same or the day before).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitWindow {
    pub now_ms: i64,
    /// Local midnight that started today, in ms since the Unix epoch.
    pub day_start_ms: i64,
    /// At night: local 20:00 that started this night; `None` by day.
    pub night_start_ms: Option<i64>,
}

impl LimitWindow {
    pub fn at(now_ms: i64, offset: UtcOffset) -> LimitWindow {
        let local = now_ms + offset.offset_ms();
        let local_midnight = local.div_euclid(DAY_MS) * DAY_MS;
        let time_of_day = local - local_midnight;
        let night_start_local = if time_of_day >= NIGHT_STARTS_HOUR * HOUR_MS {
            Some(local_midnight + NIGHT_STARTS_HOUR * HOUR_MS)
        } else if time_of_day < NIGHT_ENDS_HOUR * HOUR_MS {
            Some(local_midnight - (24 - NIGHT_STARTS_HOUR) * HOUR_MS)
        } else {
            None
        };
        LimitWindow {
            now_ms,
            day_start_ms: local_midnight - offset.offset_ms(),
            night_start_ms: night_start_local.map(|start| start - offset.offset_ms()),
        }
    }

    pub fn is_night(&self) -> bool {
        self.night_start_ms.is_some()
    }

    /// The earliest time a debit still counts from (what usage must be read since).
    pub fn earliest_ms(&self) -> i64 {
        self.night_start_ms.map_or(self.day_start_ms, |night| night.min(self.day_start_ms))
    }
}

/// A set of limits; `None` is no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    pub per_transfer_cents: Option<i64>,
    pub daily_cents: Option<i64>,
    pub night_cents: Option<i64>,
}

impl Limits {
    /// What a customer has before setting anything: no limit per transfer or per day, the
    /// night limit of Pix.
    pub const DEFAULT: Limits = Limits { per_transfer_cents: None, daily_cents: None, night_cents: Some(DEFAULT_NIGHT_CENTS) };
    /// No limit at all: a customer's own limits until they set some.
    pub const NONE: Limits = Limits { per_transfer_cents: None, daily_cents: None, night_cents: None };

    /// Every limit is a positive amount (or none).
    pub fn check_shape(&self) -> Result<(), String> {
        for (name, value) in self.fields() {
            if let Some(value) = value {
                if value <= 0 {
                    return Err(format!("{name} must be a positive number of centavos or null (no limit); got {value}"));
                }
            }
        }
        Ok(())
    }

    fn fields(&self) -> [(&'static str, Option<i64>); 3] {
        [("per_transfer_cents", self.per_transfer_cents), ("daily_cents", self.daily_cents), ("night_cents", self.night_cents)]
    }

    /// Whether any limit applies at all in `window` (if not, nothing needs to be read).
    pub fn any_applies(&self, window: &LimitWindow) -> bool {
        self.per_transfer_cents.is_some() || self.daily_cents.is_some() || (window.is_night() && self.night_cents.is_some())
    }
}

/// `a <= b` where `None` is no limit (infinite).
fn at_most(a: Option<i64>, b: Option<i64>) -> bool {
    match (a, b) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => a <= b,
    }
}

fn lower(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    if at_most(a, b) {
        a
    } else {
        b
    }
}

/// An account's limits as stored: what applies now and a raise that applies from a time on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitSetting {
    pub current: Limits,
    /// Limits asked for that raise something, and when they apply (`now + raise delay` when asked).
    pub pending: Option<(Limits, i64)>,
}

impl Default for LimitSetting {
    fn default() -> LimitSetting {
        LimitSetting::with(Limits::DEFAULT)
    }
}

impl LimitSetting {
    pub fn with(current: Limits) -> LimitSetting {
        LimitSetting { current, pending: None }
    }

    /// The limits in force at `now_ms`.
    pub fn effective(&self, now_ms: i64) -> Limits {
        match self.pending {
            Some((limits, from_ms)) if from_ms <= now_ms => limits,
            _ => self.current,
        }
    }

    /// The raise still waiting at `now_ms`, if any.
    pub fn waiting(&self, now_ms: i64) -> Option<(Limits, i64)> {
        self.pending.filter(|(_, from_ms)| *from_ms > now_ms)
    }

    /// The customer asks for `wanted` at `now_ms`: every limit lowered (or kept) applies at once;
    /// if any is raised, all of `wanted` applies only from `now_ms + raise_delay_ms` (until then
    /// the raised ones keep their value). A new request replaces a raise still waiting.
    pub fn change(&self, wanted: Limits, now_ms: i64, raise_delay_ms: i64) -> LimitSetting {
        let now = self.effective(now_ms);
        let current = Limits {
            per_transfer_cents: lower(wanted.per_transfer_cents, now.per_transfer_cents),
            daily_cents: lower(wanted.daily_cents, now.daily_cents),
            night_cents: lower(wanted.night_cents, now.night_cents),
        };
        let pending = (current != wanted).then(|| (wanted, now_ms.saturating_add(raise_delay_ms.max(0))));
        LimitSetting { current, pending }
    }
}

/// Which limit refused a debit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    PerTransfer,
    Daily,
    Night,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::PerTransfer => "per_transfer",
            LimitKind::Daily => "daily",
            LimitKind::Night => "night",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            LimitKind::PerTransfer => "limit per transfer",
            LimitKind::Daily => "daily limit",
            LimitKind::Night => "night limit (20:00-06:00)",
        }
    }
}

/// A debit refused by a limit: which one, the limit, what is left of it and what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitRefusal {
    /// The account whose limit it is, or with `customer` the customer's document.
    pub account: String,
    /// A limit of the customer, over every account they hold at the bank (not the account's).
    pub customer: bool,
    pub kind: LimitKind,
    pub limit_cents: i64,
    pub left_cents: i64,
    pub requested_cents: i64,
}

impl LimitRefusal {
    /// Reads back the sentence `Display` writes (a participant's vote reason crosses banks as
    /// text): "the daily limit of account 123 is R$ 1.000,00; R$ 0,00 left; R$ 5,00 requested".
    pub fn parse(text: &str) -> Option<LimitRefusal> {
        let rest = text.trim().strip_prefix("the ")?;
        let (kind, rest) = [LimitKind::PerTransfer, LimitKind::Daily, LimitKind::Night]
            .into_iter()
            .find_map(|kind| rest.strip_prefix(kind.describe()).map(|rest| (kind, rest)))?;
        let (customer, rest) = match rest.strip_prefix(" of account ") {
            Some(rest) => (false, rest),
            None => (true, rest.strip_prefix(" of customer ")?),
        };
        let (account, rest) = rest.split_once(" is ")?;
        let mut parts = rest.split("; ");
        let limit_cents = parse_brl(parts.next()?)?;
        let left_cents = parse_brl(parts.next()?.strip_suffix(" left")?)?;
        let requested_cents = parse_brl(parts.next()?.strip_suffix(" requested")?)?;
        if parts.next().is_some() || account.is_empty() || account.contains(' ') {
            return None;
        }
        Some(LimitRefusal { account: account.to_string(), customer, kind, limit_cents, left_cents, requested_cents })
    }
}

impl fmt::Display for LimitRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} of {} {} is {}; {} left; {} requested",
            self.kind.describe(),
            if self.customer { "customer" } else { "account" },
            self.account,
            format_brl(self.limit_cents),
            format_brl(self.left_cents),
            format_brl(self.requested_cents)
        )
    }
}

/// What an account has debited within a window's periods (transfers and payments, local and
/// cross-bank, prepared or committed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LimitUsage {
    pub today_cents: i64,
    /// Since the night began (0 by day).
    pub tonight_cents: i64,
}

impl LimitUsage {
    pub fn add(self, cents: i64) -> LimitUsage {
        LimitUsage { today_cents: self.today_cents.saturating_add(cents), tonight_cents: self.tonight_cents.saturating_add(cents) }
    }
}

/// Whether the customer `document` may have `amount_cents` more debited, from all the accounts
/// they hold at the bank together, under their own `limits` (as `check` for one account).
pub fn check_customer(
    document: &str,
    limits: &Limits,
    window: &LimitWindow,
    used: LimitUsage,
    amount_cents: i64,
) -> Result<(), LimitRefusal> {
    check(document, limits, window, used, amount_cents).map_err(|refusal| LimitRefusal { customer: true, ..refusal })
}

/// Whether `account` may be debited `amount_cents` more under `limits` in `window`, having
/// debited `used` already.
pub fn check(account: &str, limits: &Limits, window: &LimitWindow, used: LimitUsage, amount_cents: i64) -> Result<(), LimitRefusal> {
    let refuse = |kind, limit_cents: i64, used_cents: i64| LimitRefusal {
        account: account.to_string(),
        customer: false,
        kind,
        limit_cents,
        left_cents: limit_cents.saturating_sub(used_cents).max(0),
        requested_cents: amount_cents,
    };
    if let Some(limit) = limits.per_transfer_cents {
        if amount_cents > limit {
            return Err(refuse(LimitKind::PerTransfer, limit, 0));
        }
    }
    if let (true, Some(limit)) = (window.is_night(), limits.night_cents) {
        if used.tonight_cents.checked_add(amount_cents).is_none_or(|total| total > limit) {
            return Err(refuse(LimitKind::Night, limit, used.tonight_cents));
        }
    }
    if let Some(limit) = limits.daily_cents {
        if used.today_cents.checked_add(amount_cents).is_none_or(|total| total > limit) {
            return Err(refuse(LimitKind::Daily, limit, used.today_cents));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_back_from_its_sentence() {
        for kind in [LimitKind::PerTransfer, LimitKind::Daily, LimitKind::Night] {
            for customer in [false, true] {
                let refusal = LimitRefusal {
                    account: "12345678".into(),
                    customer,
                    kind,
                    limit_cents: 100_000,
                    left_cents: 2_550,
                    requested_cents: 123_456_789,
                };
                assert_eq!(LimitRefusal::parse(&refusal.to_string()), Some(refusal.clone()), "{refusal}");
            }
        }
        assert_eq!(LimitRefusal::parse("the daily limit of account 1 is R$ 1,00; R$ 0,00 left"), None);
        assert_eq!(LimitRefusal::parse("the weekly limit of account 1 is R$ 1,00; R$ 0,00 left; R$ 2,00 requested"), None);
        assert_eq!(LimitRefusal::parse("account 1 not found"), None);
        assert_eq!(LimitRefusal::parse("the daily limit of bank 1 is R$ 1,00; R$ 0,00 left; R$ 2,00 requested"), None);
    }

    // 2026-11-30 00:00:00 UTC.
    const MIDNIGHT_UTC: i64 = 1_795_996_800_000;

    fn hour(h: i64) -> i64 {
        MIDNIGHT_UTC + h * HOUR_MS
    }

    #[test]
    fn sao_paulo_night_is_23_to_09_utc() {
        let sp = UtcOffset::parse("America/Sao_Paulo").unwrap();
        assert_eq!(sp, UtcOffset::SAO_PAULO);
        // 22:59 UTC = 19:59 in Sao Paulo: day.
        let w = LimitWindow::at(hour(23) - MINUTE_MS, sp);
        assert!(!w.is_night());
        assert_eq!(w.day_start_ms, hour(3));
        // 23:00 UTC = 20:00 local: the night starts.
        let w = LimitWindow::at(hour(23), sp);
        assert_eq!(w.night_start_ms, Some(hour(23)));
        assert_eq!(w.day_start_ms, hour(3));
        // 03:30 UTC next day = 00:30 local: a new day, the same night.
        let w = LimitWindow::at(hour(27) + 30 * MINUTE_MS, sp);
        assert_eq!(w.night_start_ms, Some(hour(23)));
        assert_eq!(w.day_start_ms, hour(27));
        assert_eq!(w.earliest_ms(), hour(23));
        // 08:59 UTC = 05:59 local: still night; 09:00 UTC = 06:00 local: day.
        assert!(LimitWindow::at(hour(33) - MINUTE_MS, sp).is_night());
        assert!(!LimitWindow::at(hour(33), sp).is_night());
    }

    #[test]
    fn before_the_epoch_and_other_offsets() {
        let w = LimitWindow::at(-HOUR_MS, UtcOffset::UTC); // 1969-12-31 23:00 UTC
        assert_eq!(w.day_start_ms, -DAY_MS);
        assert_eq!(w.night_start_ms, Some(-4 * HOUR_MS));
        let plus = UtcOffset::parse("+05:30").unwrap();
        assert_eq!(plus.minutes(), 330);
        assert_eq!(plus.to_string(), "+05:30");
        assert_eq!(UtcOffset::parse("-03:00").unwrap(), UtcOffset::SAO_PAULO);
        for bad in ["", "Mars/Olympus", "+3", "+15:00", "-03:60", "03:00", "+03:0x"] {
            assert!(UtcOffset::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn each_limit_refuses_with_what_is_left() {
        let limits = Limits { per_transfer_cents: Some(50_000), daily_cents: Some(200_000), night_cents: Some(100_000) };
        let day = LimitWindow::at(hour(15), UtcOffset::SAO_PAULO);
        let night = LimitWindow::at(hour(23), UtcOffset::SAO_PAULO);
        let used = |today, tonight| LimitUsage { today_cents: today, tonight_cents: tonight };
        assert_eq!(check("1", &limits, &day, used(0, 0), 50_000), Ok(()));
        let refusal = check("1", &limits, &day, used(0, 0), 50_001).unwrap_err();
        assert_eq!((refusal.kind, refusal.limit_cents, refusal.left_cents), (LimitKind::PerTransfer, 50_000, 50_000));
        assert_eq!(refusal.to_string(), "the limit per transfer of account 1 is R$ 500,00; R$ 500,00 left; R$ 500,01 requested");
        // The night counter is ignored by day, the daily one is not.
        assert_eq!(check("1", &limits, &day, used(150_000, 999_999), 50_000), Ok(()));
        let refusal = check("1", &limits, &day, used(150_001, 0), 50_000).unwrap_err();
        assert_eq!((refusal.kind, refusal.left_cents), (LimitKind::Daily, 49_999));
        // At night the night limit counts what the night debited.
        assert_eq!(check("1", &limits, &night, used(100_000, 60_000), 40_000), Ok(()));
        let refusal = check("1", &limits, &night, used(60_000, 60_000), 40_001).unwrap_err();
        assert_eq!((refusal.kind, refusal.left_cents, refusal.requested_cents), (LimitKind::Night, 40_000, 40_001));
        // Overflowing sums refuse instead of wrapping.
        assert!(check("1", &limits, &night, used(i64::MAX, i64::MAX), 1).is_err());
        // No limit at all.
        assert_eq!(check("1", &Limits::default(), &night, used(i64::MAX - 1, i64::MAX - 1), i64::MAX), Ok(()));
    }

    #[test]
    fn lower_at_once_raise_after_the_delay() {
        let delay = 24 * HOUR_MS;
        let start = LimitSetting::default();
        assert_eq!(start.effective(0), Limits::DEFAULT);
        // Lowering the night limit and setting a daily one (a lowering from "none"): at once.
        let lowered = Limits { per_transfer_cents: None, daily_cents: Some(300_000), night_cents: Some(50_000) };
        let s = start.change(lowered, hour(10), delay);
        assert_eq!(s.effective(hour(10)), lowered);
        assert_eq!(s.pending, None);
        // Raising the night limit back and lowering the daily one in the same request: the
        // lowering applies now, the raise only after the delay.
        let wanted = Limits { per_transfer_cents: None, daily_cents: Some(200_000), night_cents: Some(150_000) };
        let s = s.change(wanted, hour(12), delay);
        assert_eq!(s.effective(hour(12)), Limits { daily_cents: Some(200_000), ..lowered });
        assert_eq!(s.effective(hour(36) - 1).night_cents, Some(50_000));
        assert_eq!(s.waiting(hour(12)), Some((wanted, hour(36))));
        assert_eq!(s.effective(hour(36)), wanted);
        assert_eq!(s.waiting(hour(36)), None);
        // Removing a limit (None) is a raise too.
        let s2 = s.change(Limits { daily_cents: None, ..wanted }, hour(40), delay);
        assert_eq!(s2.effective(hour(40)).daily_cents, Some(200_000));
        assert_eq!(s2.effective(hour(64)).daily_cents, None);
        // A lowering while a raise waits cancels the raise.
        let lowest = Limits { per_transfer_cents: None, daily_cents: Some(100_000), night_cents: Some(40_000) };
        let s3 = s.change(lowest, hour(13), delay);
        assert_eq!(s3.pending, None);
        assert_eq!(s3.effective(hour(100)), lowest);
        // Shapes.
        assert!(Limits { per_transfer_cents: Some(0), ..Limits::DEFAULT }.check_shape().is_err());
        assert!(Limits::DEFAULT.check_shape().is_ok());
    }
}
