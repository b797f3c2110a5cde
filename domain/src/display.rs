//! What a person reads about someone else, and when: masked documents and names (as Pix shows
//! a recipient before paying) and timestamps in a bank's local time zone. Pure functions:
//! the time zone database is compiled in (jiff's bundled tzdb), no file or clock is read.

/// A CPF masked as Pix shows it: `***.444.777-**` (the middle six digits). A CNPJ is a
/// company's public registration and is shown in full, punctuated. Anything else (not a
/// canonical document) is masked entirely.
pub fn mask_document(bare: &str) -> String {
    match bare.len() {
        11 if bare.bytes().all(|b| b.is_ascii_digit()) => format!("***.{}.{}-**", &bare[3..6], &bare[6..9]),
        14 if bare.is_ascii() => crate::document::format_document(bare),
        _ => "***".to_string(),
    }
}

/// Words kept whole in a masked name ("Maria das Graças" -> "Maria das G***").
const CONNECTORS: &[&str] = &["da", "das", "de", "do", "dos", "e", "di", "du", "del", "van", "von"];

/// A person's name masked as Pix shows it: the first name whole, connectors whole, every
/// other word as its first letter and `***`: "Fulano de Tal Souza" -> "Fulano de T*** S***".
pub fn mask_person_name(name: &str) -> String {
    let mut out = Vec::new();
    for (i, word) in name.split_whitespace().enumerate() {
        if i == 0 || CONNECTORS.contains(&word.to_lowercase().as_str()) {
            out.push(word.to_string());
        } else {
            let first: String = word.chars().take(1).collect();
            out.push(format!("{first}***"));
        }
    }
    out.join(" ")
}

/// The first word of a name, to greet someone ("Olá, Maria").
pub fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

/// A time zone by its IANA name ("America/Sao_Paulo", "UTC"), from the compiled-in database.
#[derive(Clone, Debug)]
pub struct LocalZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl LocalZone {
    /// An IANA name ("America/Sao_Paulo"), "UTC", or a fixed offset ("-03:00").
    pub fn parse(name: &str) -> Result<LocalZone, String> {
        let name = name.trim();
        if let Ok(zone) = jiff::tz::db().get(name) {
            return Ok(LocalZone { name: name.to_string(), zone });
        }
        if name.starts_with(['+', '-']) {
            return crate::UtcOffset::parse(name).map(LocalZone::fixed);
        }
        Err(format!("unknown time zone {name:?} (an IANA name such as America/Sao_Paulo, or an offset such as -03:00)"))
    }

    /// A zone at a fixed offset from UTC (no daylight saving), named by its offset ("-03:00").
    pub fn fixed(offset: crate::UtcOffset) -> LocalZone {
        let zone = jiff::tz::Offset::from_seconds(offset.minutes() * 60).map(jiff::tz::TimeZone::fixed).unwrap_or(jiff::tz::TimeZone::UTC);
        LocalZone { name: offset.to_string(), zone }
    }

    /// The zone's offset from UTC at a Unix millisecond (it changes with daylight saving).
    pub fn offset_at(&self, unix_ms: i64) -> crate::UtcOffset {
        let minutes = self.local(unix_ms).map_or(0, |local| local.offset_minutes);
        crate::UtcOffset::from_minutes(minutes).unwrap_or(crate::UtcOffset::UTC)
    }

    /// The default of every bank: Brasília time.
    pub fn sao_paulo() -> LocalZone {
        LocalZone::parse("America/Sao_Paulo").expect("America/Sao_Paulo is in the bundled database")
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local wall time of a Unix millisecond, or None when it is out of range.
    pub fn local(&self, unix_ms: i64) -> Option<LocalTime> {
        let timestamp = jiff::Timestamp::from_millisecond(unix_ms).ok()?;
        let zoned = timestamp.to_zoned(self.zone.clone());
        let offset_seconds = zoned.offset().seconds();
        Some(LocalTime {
            year: zoned.year(),
            month: zoned.month(),
            day: zoned.day(),
            hour: zoned.hour(),
            minute: zoned.minute(),
            second: zoned.second(),
            offset_minutes: offset_seconds / 60,
        })
    }

    /// The local wall time of an RFC 3339 timestamp (as the ledger writes them).
    pub fn local_rfc3339(&self, text: &str) -> Option<LocalTime> {
        let timestamp: jiff::Timestamp = text.parse().ok()?;
        self.local(timestamp.as_millisecond())
    }

    /// The Unix millisecond at which a local calendar day starts (for date filters).
    pub fn day_start_ms(&self, year: i16, month: i8, day: i8) -> Option<i64> {
        let date = jiff::civil::Date::new(year, month, day).ok()?;
        let zoned = date.to_zoned(self.zone.clone()).ok()?;
        Some(zoned.timestamp().as_millisecond())
    }
}

/// A wall-clock time in some zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i16,
    pub month: i8,
    pub day: i8,
    pub hour: i8,
    pub minute: i8,
    pub second: i8,
    /// From UTC: -180 for Brasília.
    pub offset_minutes: i32,
}

impl LocalTime {
    /// 30/11/2026 14:05
    pub fn br(&self) -> String {
        format!("{:02}/{:02}/{:04} {:02}:{:02}", self.day, self.month, self.year, self.hour, self.minute)
    }

    /// 2026-11-30 14:05
    pub fn iso(&self) -> String {
        format!("{:04}-{:02}-{:02} {:02}:{:02}", self.year, self.month, self.day, self.hour, self.minute)
    }

    /// 14:05:09
    pub fn clock(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }

    /// 2026-11-30 (for date inputs)
    pub fn date_iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// UTC-03:00
    pub fn offset(&self) -> String {
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let abs = self.offset_minutes.unsigned_abs();
        format!("UTC{sign}{:02}:{:02}", abs / 60, abs % 60)
    }
}

/// The Unix millisecond of an RFC 3339 timestamp.
pub fn unix_ms_of_rfc3339(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}

/// An end-to-end identifier in the shape of Pix's (32 characters): "E", the bank's id in 8
/// characters (upper case, padded with 0), the UTC date and time (yyyyMMddHHmm), and the last
/// 11 characters of the transfer id, upper case. It names one transfer across banks and stays
/// the same every time it is shown. None when `unix_ms` is out of range.
pub fn end_to_end_id(bank: &str, unix_ms: i64, transfer_id: &str) -> Option<String> {
    let utc = jiff::Timestamp::from_millisecond(unix_ms).ok()?.to_zoned(jiff::tz::TimeZone::UTC);
    let mut bank: String = bank.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).take(8).collect();
    while bank.len() < 8 {
        bank.push('0');
    }
    let tail: String = transfer_id.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect();
    let mut tail = tail[tail.len().saturating_sub(11)..].to_string();
    while tail.len() < 11 {
        tail.insert(0, '0');
    }
    Some(format!("E{bank}{:04}{:02}{:02}{:02}{:02}{tail}", utc.year(), utc.month(), utc.day(), utc.hour(), utc.minute()))
}

/// Parses a date typed in a date input (yyyy-mm-dd) or the Brazilian way (dd/mm/yyyy).
pub fn parse_date(text: &str) -> Option<(i16, i8, i8)> {
    let text = text.trim();
    let parts: Vec<&str> = text.split(['-', '/']).collect();
    if parts.len() != 3 || !parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let (y, m, d) = if text.contains('-') { (parts[0], parts[1], parts[2]) } else { (parts[2], parts[1], parts[0]) };
    let (y, m, d): (i16, i8, i8) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    jiff::civil::Date::new(y, m, d).ok().map(|_| (y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_pix() {
        assert_eq!(mask_document("11144477735"), "***.444.777-**");
        assert_eq!(mask_document("11222333000181"), "11.222.333/0001-81");
        assert_eq!(mask_document("bad"), "***");
        assert_eq!(mask_person_name("Fulano de Tal"), "Fulano de T***");
        assert_eq!(mask_person_name("Maria das Graças Souza"), "Maria das G*** S***");
        assert_eq!(mask_person_name("Érica Ávila"), "Érica Á***");
        assert_eq!(first_name("  Ana Lima "), "Ana");
    }

    #[test]
    fn shows_brasilia_time() {
        let zone = LocalZone::sao_paulo();
        // 2026-11-30T15:04:05Z is 12:04 in Brasília (UTC-3, no daylight saving since 2019).
        let local = zone.local_rfc3339("2026-11-30T15:04:05.123Z").expect("a time");
        assert_eq!(local.br(), "30/11/2026 12:04");
        assert_eq!(local.iso(), "2026-11-30 12:04");
        assert_eq!(local.offset(), "UTC-03:00");
        // In 2018 Brasília still had daylight saving time (UTC-2 in January).
        assert_eq!(zone.local_rfc3339("2018-01-15T12:00:00Z").expect("a time").offset(), "UTC-02:00");
        let utc = LocalZone::parse("UTC").expect("UTC");
        assert_eq!(utc.local_rfc3339("2026-11-30T15:04:05Z").expect("a time").br(), "30/11/2026 15:04");
        assert!(LocalZone::parse("Mars/Olympus").is_err());
        let start = zone.day_start_ms(2026, 11, 30).expect("a day");
        assert_eq!(zone.local(start).expect("a time").iso(), "2026-11-30 00:00");
        assert_eq!(utc.local(start).expect("a time").iso(), "2026-11-30 03:00");
    }

    #[test]
    fn end_to_end_ids_have_the_pix_shape() {
        // 2026-11-30T15:04:05Z
        let id = end_to_end_id("A", 1_796_051_045_000, "tr_0193a4f2c1d8aabbccddeeff").expect("an id");
        assert_eq!(id, "EA0000000202611301504ABBCCDDEEFF");
        assert_eq!(id.len(), 32, "{id}");
        assert_eq!(end_to_end_id("bank-long-name", 0, "x").expect("an id"), "EBANKLONG1970010100000000000000X");
    }

    #[test]
    fn parses_dates_both_ways() {
        assert_eq!(parse_date("2026-11-30"), Some((2026, 11, 30)));
        assert_eq!(parse_date("30/11/2026"), Some((2026, 11, 30)));
        assert_eq!(parse_date("31/02/2026"), None);
        assert_eq!(parse_date("yesterday"), None);
    }
}
