//! BR Code: the central bank's EMV® Merchant-Presented-Mode QR payload for Pix ("Pix copia e
//! cola"), built and parsed exactly. A payload is a list of TLV fields (two-digit tag, two-digit
//! length in characters, value), ending with field 63: the CRC-16/CCITT-FALSE (polynomial
//! 0x1021, initial value 0xFFFF) of the whole payload up to and including "6304", as four
//! hexadecimal digits. A code whose CRC does not match was changed (or mistyped) and is refused.
//!
//! Fields (Manual de Padrões para Iniciação do Pix, Anexo I; Manual do BR Code):
//! 00 payload format indicator "01" (first), 01 point of initiation ("11" reusable, "12" single
//! use), 26 merchant account information (00 GUI "br.gov.bcb.pix", then 01 the Pix key with an
//! optional 02 description, or 25 the URL of a dynamic charge), 52 merchant category code, 53
//! currency "986", 54 amount, 58 country "BR", 59 merchant name (at most 25 characters), 60 city
//! (at most 15), 61 postal code, 62 additional data (05 txid: 1-25 letters and digits, or "***"),
//! 63 CRC (last). Templates 27-51 (other schemes), 64 (language) and 80-99 (unreserved) are
//! accepted as well-formed TLV and ignored; any other tag is refused.

use serde::Serialize;

/// The Pix globally unique identifier in field 26-00 (compared without case).
pub const PIX_GUI: &str = "br.gov.bcb.pix";
/// The longest payload EMV allows, in characters.
pub const PAYLOAD_MAX_CHARS: usize = 512;
/// The longest merchant name and city (fields 59 and 60).
pub const MERCHANT_NAME_MAX_CHARS: usize = 25;
pub const MERCHANT_CITY_MAX_CHARS: usize = 15;
/// The longest Pix key (26-01) and charge URL (26-25).
pub const KEY_MAX_CHARS: usize = 77;
pub const URL_MAX_CHARS: usize = 77;
/// The longest txid of a static code (62-05).
pub const TXID_MAX_CHARS: usize = 25;
/// "No txid" in 62-05.
pub const NO_TXID: &str = "***";
/// The longest amount field (54), e.g. "9999999999.99".
pub const AMOUNT_MAX_CHARS: usize = 13;

/// Field 01: whether the code may be paid more than once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Initiation {
    /// "11": a static code, paid any number of times.
    Reusable,
    /// "12": a code for one payment (dynamic charges).
    SingleUse,
}

impl Initiation {
    fn code(self) -> &'static str {
        match self {
            Initiation::Reusable => "11",
            Initiation::SingleUse => "12",
        }
    }
}

/// Where the money goes (field 26): a Pix key, or the URL of a dynamic charge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Target {
    /// A static code: the receiver's key and an optional description (26-02).
    Key { key: String, description: Option<String> },
    /// A dynamic code: the charge's URL, without a scheme (26-25).
    Url { url: String },
}

/// A BR Code, as built or parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrCode {
    pub initiation: Option<Initiation>,
    pub target: Target,
    /// Field 52: four digits, "0000" when not given.
    pub merchant_category_code: String,
    /// Field 54, in centavos; None lets the payer type the amount.
    pub amount_cents: Option<i64>,
    pub merchant_name: String,
    pub merchant_city: String,
    pub postal_code: Option<String>,
    /// Field 62-05: the txid, "***" for none.
    pub txid: String,
}

/// Why a payload is not a valid Pix BR Code. The messages are English (the API's); pages say
/// the same in Portuguese by `kind()`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BrCodeError {
    #[error("the code is empty")]
    Empty,
    #[error("the code has {0} characters; a BR Code has at most 512")]
    TooLong(usize),
    #[error("the code contains a control character at position {0}")]
    ControlCharacter(usize),
    #[error("field {tag} at position {at} is cut short: the code ends inside it")]
    Truncated { tag: String, at: usize },
    #[error("field at position {at} does not start with a two-digit tag and a two-digit length")]
    BadHeader { at: usize },
    #[error("tag {tag}{} is not a field of a Pix BR Code", in_template(.template))]
    UnknownTag { tag: String, template: Option<&'static str> },
    #[error("tag {tag}{} appears twice", in_template(.template))]
    DuplicateTag { tag: String, template: Option<&'static str> },
    #[error("field {tag} ({name}) is missing")]
    Missing { tag: &'static str, name: &'static str },
    #[error("the code must start with field 00 (payload format indicator)")]
    FormatNotFirst,
    #[error("the code must end with field 63 (CRC) of length 04")]
    CrcNotLast,
    #[error("the CRC does not match: the code says {found}, its content gives {expected}; the code was changed or mistyped")]
    CrcMismatch { expected: String, found: String },
    #[error("field {tag} ({name}) is invalid: {reason}")]
    Invalid { tag: &'static str, name: &'static str, reason: String },
    #[error("field 26 is not a Pix account: its GUI is {0:?}, not br.gov.bcb.pix")]
    NotPix(String),
    #[error("field 26 must hold either a Pix key (01) or a charge URL (25), not both and not neither")]
    KeyOrUrl,
}

fn in_template(template: &Option<&'static str>) -> String {
    template.map(|t| format!(" (inside field {t})")).unwrap_or_default()
}

impl BrCodeError {
    /// A stable word for the kind of error: "tampered" for a CRC mismatch, "malformed" for a
    /// broken structure, "invalid" for a field with a wrong value.
    pub fn kind(&self) -> &'static str {
        match self {
            BrCodeError::CrcMismatch { .. } => "tampered",
            BrCodeError::Empty => "empty",
            BrCodeError::Invalid { .. } | BrCodeError::NotPix(_) | BrCodeError::KeyOrUrl | BrCodeError::Missing { .. } => "invalid",
            _ => "malformed",
        }
    }
}

/// The CRC-16/CCITT-FALSE of `bytes` (what field 63 holds).
pub fn crc16(bytes: &[u8]) -> u16 {
    const CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);
    CRC.checksum(bytes)
}

impl BrCode {
    /// The payload text ("Pix copia e cola"), with its CRC. Fails on a value the format cannot
    /// carry (too long, not printable ASCII, a bad txid or amount), never truncating silently:
    /// use `fit_text` first for names and cities.
    pub fn encode(&self) -> Result<String, BrCodeError> {
        self.validate()?;
        let mut account = tlv("00", PIX_GUI);
        match &self.target {
            Target::Key { key, description } => {
                account.push_str(&tlv("01", key));
                if let Some(description) = description {
                    account.push_str(&tlv("02", description));
                }
            }
            Target::Url { url } => account.push_str(&tlv("25", url)),
        }
        if account.chars().count() > 99 {
            return Err(invalid("26", "merchant account information", "key and description together exceed 99 characters"));
        }
        let mut payload = tlv("00", "01");
        if let Some(initiation) = self.initiation {
            payload.push_str(&tlv("01", initiation.code()));
        }
        payload.push_str(&tlv("26", &account));
        payload.push_str(&tlv("52", &self.merchant_category_code));
        payload.push_str(&tlv("53", "986"));
        if let Some(cents) = self.amount_cents {
            payload.push_str(&tlv("54", &format!("{}.{:02}", cents / 100, cents % 100)));
        }
        payload.push_str(&tlv("58", "BR"));
        payload.push_str(&tlv("59", &self.merchant_name));
        payload.push_str(&tlv("60", &self.merchant_city));
        if let Some(postal_code) = &self.postal_code {
            payload.push_str(&tlv("61", postal_code));
        }
        payload.push_str(&tlv("62", &tlv("05", &self.txid)));
        payload.push_str("6304");
        let crc = crc16(payload.as_bytes());
        payload.push_str(&format!("{crc:04X}"));
        if payload.chars().count() > PAYLOAD_MAX_CHARS {
            return Err(BrCodeError::TooLong(payload.chars().count()));
        }
        Ok(payload)
    }

    /// Checks every field as `encode` will write it.
    fn validate(&self) -> Result<(), BrCodeError> {
        let ascii = |tag: &'static str, name: &'static str, value: &str, max: usize| {
            let chars = value.chars().count();
            if chars == 0 || chars > max {
                return Err(invalid(tag, name, &format!("must have 1 to {max} characters, has {chars}")));
            }
            if !value.chars().all(|c| (' '..='~').contains(&c)) {
                return Err(invalid(tag, name, "must be printable ASCII (letters without accents, digits, punctuation)"));
            }
            Ok(())
        };
        match &self.target {
            Target::Key { key, description } => {
                ascii("26", "Pix key", key, KEY_MAX_CHARS)?;
                if let Some(description) = description {
                    ascii("26", "description", description, 99)?;
                }
            }
            Target::Url { url } => {
                ascii("26", "charge URL", url, URL_MAX_CHARS)?;
                if url.contains("://") {
                    return Err(invalid("26", "charge URL", "must not include the scheme (https://)"));
                }
            }
        }
        check_merchant_category_code(&self.merchant_category_code)?;
        if let Some(cents) = self.amount_cents {
            if cents <= 0 || format!("{}.{:02}", cents / 100, cents % 100).len() > AMOUNT_MAX_CHARS {
                return Err(invalid("54", "amount", "must be positive and at most 13 characters"));
            }
        }
        ascii("59", "merchant name", &self.merchant_name, MERCHANT_NAME_MAX_CHARS)?;
        ascii("60", "merchant city", &self.merchant_city, MERCHANT_CITY_MAX_CHARS)?;
        if let Some(postal_code) = &self.postal_code {
            check_postal_code(postal_code)?;
        }
        check_txid(&self.txid)
    }

    /// Parses a pasted or scanned payload: structure first (every field's tag and length), then
    /// the CRC (a mismatch means the code was changed), then every field's value.
    pub fn parse(input: &str) -> Result<BrCode, BrCodeError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(BrCodeError::Empty);
        }
        let chars: Vec<char> = text.chars().collect();
        if chars.len() > PAYLOAD_MAX_CHARS {
            return Err(BrCodeError::TooLong(chars.len()));
        }
        if let Some(at) = chars.iter().position(|c| c.is_control() || crate::transfer::is_bidi_control(*c)) {
            return Err(BrCodeError::ControlCharacter(at));
        }
        let fields = split_fields(&chars, 0, None)?;
        let (last_tag, _, last_value) = fields.last().ok_or(BrCodeError::Empty)?;
        if last_tag != "63" || last_value.chars().count() != 4 {
            return Err(BrCodeError::CrcNotLast);
        }
        if fields[0].0 != "00" {
            return Err(BrCodeError::FormatNotFirst);
        }
        // The CRC covers everything before its four digits (so "6304" too).
        let covered: String = chars[..chars.len() - 4].iter().collect();
        let expected = format!("{:04X}", crc16(covered.as_bytes()));
        let found = last_value.clone();
        if !found.eq_ignore_ascii_case(&expected) {
            return Err(BrCodeError::CrcMismatch { expected, found });
        }
        let mut seen: Vec<&str> = Vec::new();
        for (tag, _, _) in &fields {
            if !top_level_tag_known(tag) {
                return Err(BrCodeError::UnknownTag { tag: tag.clone(), template: None });
            }
            if seen.contains(&tag.as_str()) {
                return Err(BrCodeError::DuplicateTag { tag: tag.clone(), template: None });
            }
            seen.push(tag);
        }
        let get = |tag: &str| fields.iter().find(|(t, _, _)| t == tag).map(|(_, at, v)| (*at, v.as_str()));
        let require = |tag: &'static str, name: &'static str| get(tag).ok_or(BrCodeError::Missing { tag, name });

        let (_, format) = require("00", "payload format indicator")?;
        if format != "01" {
            return Err(invalid("00", "payload format indicator", &format!("must be 01, is {format:?}")));
        }
        let initiation = match get("01").map(|(_, v)| v) {
            None => None,
            Some("11") => Some(Initiation::Reusable),
            Some("12") => Some(Initiation::SingleUse),
            Some(other) => return Err(invalid("01", "point of initiation", &format!("must be 11 or 12, is {other:?}"))),
        };
        let (account_at, account) = require("26", "merchant account information")?;
        let target = parse_account(account, account_at)?;
        let (_, merchant_category_code) = require("52", "merchant category code")?;
        check_merchant_category_code(merchant_category_code)?;
        let (_, currency) = require("53", "transaction currency")?;
        if currency != "986" {
            return Err(invalid("53", "transaction currency", &format!("must be 986 (BRL), is {currency:?}")));
        }
        // 0.00 is what some issuers write for "no amount": the payer types it.
        let amount_cents = get("54").map(|(_, v)| parse_amount(v)).transpose()?.filter(|cents| *cents > 0);
        let (_, country) = require("58", "country code")?;
        if country != "BR" {
            return Err(invalid("58", "country code", &format!("must be BR, is {country:?}")));
        }
        let (_, merchant_name) = require("59", "merchant name")?;
        check_length("59", "merchant name", merchant_name, MERCHANT_NAME_MAX_CHARS)?;
        let (_, merchant_city) = require("60", "merchant city")?;
        check_length("60", "merchant city", merchant_city, MERCHANT_CITY_MAX_CHARS)?;
        let postal_code = get("61").map(|(_, v)| v.to_string());
        if let Some(postal_code) = &postal_code {
            check_postal_code(postal_code)?;
        }
        let (data_at, data) = require("62", "additional data field")?;
        let txid = parse_additional_data(data, data_at)?;
        Ok(BrCode {
            initiation,
            target,
            merchant_category_code: merchant_category_code.to_string(),
            amount_cents,
            merchant_name: merchant_name.to_string(),
            merchant_city: merchant_city.to_string(),
            postal_code,
            txid,
        })
    }

    /// The key of a static code.
    pub fn key(&self) -> Option<&str> {
        match &self.target {
            Target::Key { key, .. } => Some(key),
            Target::Url { .. } => None,
        }
    }

    /// The description of a static code.
    pub fn description(&self) -> Option<&str> {
        match &self.target {
            Target::Key { description, .. } => description.as_deref(),
            Target::Url { .. } => None,
        }
    }

    /// The charge URL of a dynamic code.
    pub fn url(&self) -> Option<&str> {
        match &self.target {
            Target::Url { url } => Some(url),
            Target::Key { .. } => None,
        }
    }

    /// The txid, None for "***".
    pub fn txid(&self) -> Option<&str> {
        Some(self.txid.as_str()).filter(|t| *t != NO_TXID)
    }
}

/// A name or city made to fit a BR Code: accents removed (NFD, combining marks dropped),
/// anything else outside printable ASCII dropped, spaces collapsed, cut to `max_chars`.
pub fn fit_text(text: &str, max_chars: usize) -> String {
    use unicode_normalization::UnicodeNormalization;
    let ascii: String = text.nfd().filter(|c| (' '..='~').contains(c)).collect();
    let collapsed = ascii.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(max_chars).collect::<String>().trim_end().to_string()
}

fn tlv(tag: &str, value: &str) -> String {
    format!("{tag}{:02}{value}", value.chars().count())
}

fn invalid(tag: &'static str, name: &'static str, reason: &str) -> BrCodeError {
    BrCodeError::Invalid { tag, name, reason: reason.to_string() }
}

/// Splits `chars` into (tag, position, value) fields; `offset` is where `chars` starts in the
/// whole payload (for messages), `template` the field they are inside.
fn split_fields(chars: &[char], offset: usize, template: Option<&'static str>) -> Result<Vec<(String, usize, String)>, BrCodeError> {
    let mut fields = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let at = offset + i;
        let header = chars.get(i..i + 4).ok_or(BrCodeError::BadHeader { at })?;
        if !header.iter().all(char::is_ascii_digit) {
            return Err(BrCodeError::BadHeader { at });
        }
        let tag: String = header[..2].iter().collect();
        let length = (header[2] as usize - '0' as usize) * 10 + (header[3] as usize - '0' as usize);
        if length == 0 {
            return Err(BrCodeError::Invalid {
                tag: "--",
                name: "field length",
                reason: format!("tag {tag}{} at position {at} has length 00", in_template(&template)),
            });
        }
        let value = chars.get(i + 4..i + 4 + length).ok_or(BrCodeError::Truncated { tag: tag.clone(), at })?;
        fields.push((tag, at, value.iter().collect()));
        i += 4 + length;
    }
    Ok(fields)
}

fn top_level_tag_known(tag: &str) -> bool {
    let number: u32 = tag.parse().unwrap_or(u32::MAX);
    matches!(number, 0 | 1 | 26..=51 | 52 | 53 | 54 | 58..=64 | 80..=99)
}

fn parse_account(value: &str, at: usize) -> Result<Target, BrCodeError> {
    let chars: Vec<char> = value.chars().collect();
    let fields = split_fields(&chars, at + 4, Some("26"))?;
    let mut seen: Vec<&str> = Vec::new();
    for (tag, _, _) in &fields {
        if !matches!(tag.as_str(), "00" | "01" | "02" | "25") {
            return Err(BrCodeError::UnknownTag { tag: tag.clone(), template: Some("26") });
        }
        if seen.contains(&tag.as_str()) {
            return Err(BrCodeError::DuplicateTag { tag: tag.clone(), template: Some("26") });
        }
        seen.push(tag);
    }
    let get = |tag: &str| fields.iter().find(|(t, _, _)| t == tag).map(|(_, _, v)| v.clone());
    let gui = get("00").ok_or(BrCodeError::Missing { tag: "26-00", name: "GUI" })?;
    if !gui.eq_ignore_ascii_case(PIX_GUI) {
        return Err(BrCodeError::NotPix(gui));
    }
    match (get("01"), get("25")) {
        (Some(key), None) => {
            check_length("26-01", "Pix key", &key, KEY_MAX_CHARS)?;
            Ok(Target::Key { key, description: get("02") })
        }
        (None, Some(url)) => {
            check_length("26-25", "charge URL", &url, URL_MAX_CHARS)?;
            if get("02").is_some() {
                return Err(invalid("26-02", "description", "a dynamic code (with a URL) carries no description"));
            }
            Ok(Target::Url { url })
        }
        _ => Err(BrCodeError::KeyOrUrl),
    }
}

fn parse_additional_data(value: &str, at: usize) -> Result<String, BrCodeError> {
    let chars: Vec<char> = value.chars().collect();
    let fields = split_fields(&chars, at + 4, Some("62"))?;
    let mut seen: Vec<&str> = Vec::new();
    for (tag, _, _) in &fields {
        // 01-09 are EMV's additional data fields, 50-99 payment-system templates.
        let number: u32 = tag.parse().unwrap_or(u32::MAX);
        if !matches!(number, 1..=9 | 50..=99) {
            return Err(BrCodeError::UnknownTag { tag: tag.clone(), template: Some("62") });
        }
        if seen.contains(&tag.as_str()) {
            return Err(BrCodeError::DuplicateTag { tag: tag.clone(), template: Some("62") });
        }
        seen.push(tag);
    }
    let txid = fields.iter().find(|(t, _, _)| t == "05").map(|(_, _, v)| v.clone());
    let txid = txid.ok_or(BrCodeError::Missing { tag: "62-05", name: "txid (reference label)" })?;
    check_txid(&txid)?;
    Ok(txid)
}

fn check_length(tag: &'static str, name: &'static str, value: &str, max: usize) -> Result<(), BrCodeError> {
    let chars = value.chars().count();
    if chars > max {
        return Err(invalid(tag, name, &format!("has {chars} characters, at most {max} allowed")));
    }
    if value.trim().is_empty() {
        return Err(invalid(tag, name, "is blank"));
    }
    Ok(())
}

fn check_merchant_category_code(code: &str) -> Result<(), BrCodeError> {
    if code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(invalid("52", "merchant category code", &format!("must be four digits, is {code:?}")))
    }
}

fn check_postal_code(code: &str) -> Result<(), BrCodeError> {
    if (1..=99).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(())
    } else {
        Err(invalid("61", "postal code", &format!("{code:?} is not a postal code")))
    }
}

fn check_txid(txid: &str) -> Result<(), BrCodeError> {
    let well_formed = txid == NO_TXID || ((1..=TXID_MAX_CHARS).contains(&txid.len()) && txid.bytes().all(|b| b.is_ascii_alphanumeric()));
    if well_formed {
        Ok(())
    } else {
        Err(invalid("62-05", "txid", &format!("must be 1 to {TXID_MAX_CHARS} letters and digits, or ***; is {txid:?}")))
    }
}

/// Field 54: digits with an optional '.' and at most two decimals ("10", "10.", "0.9",
/// "1.00"), 1 to 13 characters.
fn parse_amount(text: &str) -> Result<i64, BrCodeError> {
    let bad = |reason: &str| invalid("54", "amount", &format!("{text:?} {reason}"));
    if text.len() > AMOUNT_MAX_CHARS {
        return Err(bad("is longer than 13 characters"));
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return Err(bad("is not an amount (digits, '.' and at most two decimals, e.g. 10.50)"));
    }
    let reais: i64 = whole.parse().map_err(|_| bad("is too large"))?;
    let centavos: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().unwrap_or(0) * 10,
        _ => fraction.parse().unwrap_or(0),
    };
    reais.checked_mul(100).and_then(|c| c.checked_add(centavos)).ok_or_else(|| bad("is too large"))
}

#[cfg(test)]
#[path = "brcode_tests.rs"]
mod tests;
