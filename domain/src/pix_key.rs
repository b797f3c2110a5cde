//! Pix keys (chaves Pix): CPF, CNPJ, e-mail, phone (+55) and random (UUID v4), validated
//! exactly and kept in one canonical text form, so that two spellings of one key can never
//! become two directory entries.
//!
//! Canonical forms (what the directory stores and compares):
//! - CPF: 11 digits; CNPJ: 14 characters (as [`Document`]), punctuation removed.
//! - E-mail: lower case, at most 77 characters (the DICT limit), a local part of the usual
//!   characters and a domain of dot-separated labels (letters, digits, inner hyphens).
//! - Phone: `+55`, a two-digit area code (11-99, no zero digit) and a mobile number of 9 digits
//!   starting with 9, or a landline of 8 digits starting with 2-5. Spaces, dashes, dots and
//!   parentheses are ignored on input.
//! - Random: a UUID version 4 in lower case with hyphens (the bank generates it from 16 random
//!   bytes with [`PixKey::random_from_bytes`]; this crate reads no randomness itself).

use std::fmt;

use crate::{CustomerKind, Document};

/// The kind of a Pix key, as it travels in the API (`cpf`, `cnpj`, `email`, `phone`, `random`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixKeyKind {
    Cpf,
    Cnpj,
    Email,
    Phone,
    Random,
}

impl PixKeyKind {
    pub const ALL: [PixKeyKind; 5] = [PixKeyKind::Cpf, PixKeyKind::Cnpj, PixKeyKind::Email, PixKeyKind::Phone, PixKeyKind::Random];

    pub fn as_str(self) -> &'static str {
        match self {
            PixKeyKind::Cpf => "cpf",
            PixKeyKind::Cnpj => "cnpj",
            PixKeyKind::Email => "email",
            PixKeyKind::Phone => "phone",
            PixKeyKind::Random => "random",
        }
    }

    pub fn parse(text: &str) -> Result<PixKeyKind, PixKeyError> {
        PixKeyKind::ALL.into_iter().find(|kind| kind.as_str() == text.trim().to_ascii_lowercase()).ok_or(PixKeyError::UnknownKind)
    }

    /// E-mail and phone keys are proved by a code sent to them before they are registered.
    pub fn needs_confirmation(self) -> bool {
        matches!(self, PixKeyKind::Email | PixKeyKind::Phone)
    }

    /// Portuguese label for the pages.
    pub fn label_pt(self) -> &'static str {
        match self {
            PixKeyKind::Cpf => "CPF",
            PixKeyKind::Cnpj => "CNPJ",
            PixKeyKind::Email => "e-mail",
            PixKeyKind::Phone => "celular",
            PixKeyKind::Random => "chave aleatória",
        }
    }
}

impl fmt::Display for PixKeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A valid Pix key in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PixKey {
    kind: PixKeyKind,
    value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PixKeyError {
    #[error("the key type must be one of cpf, cnpj, email, phone, random")]
    UnknownKind,
    #[error("the key is empty")]
    Empty,
    #[error("not a valid CPF: {0}")]
    BadCpf(String),
    #[error("not a valid CNPJ: {0}")]
    BadCnpj(String),
    #[error("an e-mail key has at most 77 characters")]
    EmailTooLong,
    #[error("not a valid e-mail address")]
    BadEmail,
    #[error("a phone key is +55, a two-digit area code and a 9-digit mobile (starting with 9) or 8-digit landline number")]
    BadPhone,
    #[error("a random key is a UUID version 4 (xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx)")]
    BadRandom,
    #[error("the key's type could not be recognised; give its type")]
    Unrecognised,
}

/// The DICT's limit on an e-mail key's length.
pub const MAX_EMAIL_LEN: usize = 77;

impl PixKey {
    /// Parses a key of a stated kind.
    pub fn parse(kind: PixKeyKind, input: &str) -> Result<PixKey, PixKeyError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(PixKeyError::Empty);
        }
        let value = match kind {
            PixKeyKind::Cpf => match Document::parse(input) {
                Ok(Document::Cpf(bare)) => bare,
                Ok(Document::Cnpj(_)) => return Err(PixKeyError::BadCpf("it is a CNPJ".into())),
                Err(e) => return Err(PixKeyError::BadCpf(e.to_string())),
            },
            PixKeyKind::Cnpj => match Document::parse(input) {
                Ok(Document::Cnpj(bare)) => bare,
                Ok(Document::Cpf(_)) => return Err(PixKeyError::BadCnpj("it is a CPF".into())),
                Err(e) => return Err(PixKeyError::BadCnpj(e.to_string())),
            },
            PixKeyKind::Email => parse_email(input)?,
            PixKeyKind::Phone => parse_phone(input)?,
            PixKeyKind::Random => parse_random(input)?,
        };
        Ok(PixKey { kind, value })
    }

    /// Parses a key whose kind is not stated (a payer typing a key): `+...` is a phone, text
    /// with `@` an e-mail, a UUID a random key, a valid CPF or CNPJ a document key. A bare
    /// 11-digit number is read as a CPF only (phones must start with `+55`).
    pub fn parse_any(input: &str) -> Result<PixKey, PixKeyError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PixKeyError::Empty);
        }
        if trimmed.starts_with('+') {
            return PixKey::parse(PixKeyKind::Phone, trimmed);
        }
        if trimmed.contains('@') {
            return PixKey::parse(PixKeyKind::Email, trimmed);
        }
        if trimmed.len() == 36 && trimmed.chars().filter(|c| *c == '-').count() == 4 {
            return PixKey::parse(PixKeyKind::Random, trimmed);
        }
        match Document::parse(trimmed) {
            Ok(Document::Cpf(value)) => Ok(PixKey { kind: PixKeyKind::Cpf, value }),
            Ok(Document::Cnpj(value)) => Ok(PixKey { kind: PixKeyKind::Cnpj, value }),
            Err(_) => Err(PixKeyError::Unrecognised),
        }
    }

    /// A random key built from 16 random bytes: the version and variant bits are set as
    /// UUID version 4 requires.
    pub fn random_from_bytes(mut bytes: [u8; 16]) -> PixKey {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let value = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
        PixKey { kind: PixKeyKind::Random, value }
    }

    pub fn kind(&self) -> PixKeyKind {
        self.kind
    }

    /// The canonical text (what is stored and compared).
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The document a CPF/CNPJ key names (it must be the account holder's own).
    pub fn document(&self) -> Option<Document> {
        match self.kind {
            PixKeyKind::Cpf | PixKeyKind::Cnpj => Document::parse(&self.value).ok(),
            _ => None,
        }
    }

    /// The key as shown to its owner: CPF/CNPJ punctuated, the others as stored.
    pub fn display(&self) -> String {
        match self.kind {
            PixKeyKind::Cpf | PixKeyKind::Cnpj => crate::document::format_document(&self.value),
            _ => self.value.clone(),
        }
    }
}

impl fmt::Display for PixKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// How many keys one account may have, as in Pix: 5 for a person's, 20 for a company's.
pub fn max_keys_per_account(owner: CustomerKind) -> usize {
    match owner {
        CustomerKind::Person => 5,
        CustomerKind::Company => 20,
    }
}

/// A document as a payer sees it before paying: a CPF shows only its middle six digits
/// (`***.444.777-**`), as Pix apps do; a CNPJ is a public record and is shown whole.
pub fn masked_document(document: &Document) -> String {
    match document {
        Document::Cpf(bare) => format!("***.{}.{}-**", &bare[3..6], &bare[6..9]),
        Document::Cnpj(_) => document.formatted(),
    }
}

fn parse_email(input: &str) -> Result<String, PixKeyError> {
    let lower = input.to_lowercase();
    if lower.chars().count() > MAX_EMAIL_LEN {
        return Err(PixKeyError::EmailTooLong);
    }
    let (local, domain) = lower.split_once('@').ok_or(PixKeyError::BadEmail)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    if local_ok && domain_ok {
        Ok(lower)
    } else {
        Err(PixKeyError::BadEmail)
    }
}

fn parse_phone(input: &str) -> Result<String, PixKeyError> {
    let bare: String = input.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = bare.strip_prefix("+55").ok_or(PixKeyError::BadPhone)?;
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(PixKeyError::BadPhone);
    }
    let b = digits.as_bytes();
    let area_ok = b.len() >= 2 && b[0] != b'0' && b[1] != b'0';
    let number = &digits[2.min(digits.len())..];
    let number_ok = match number.len() {
        9 => number.starts_with('9'),
        8 => matches!(number.as_bytes()[0], b'2'..=b'5'),
        _ => false,
    };
    if area_ok && number_ok {
        Ok(format!("+55{digits}"))
    } else {
        Err(PixKeyError::BadPhone)
    }
}

fn parse_random(input: &str) -> Result<String, PixKeyError> {
    let lower = input.to_ascii_lowercase();
    let b = lower.as_bytes();
    let shape_ok =
        b.len() == 36 && b.iter().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() });
    if shape_ok && b[14] == b'4' && matches!(b[19], b'8' | b'9' | b'a' | b'b') {
        Ok(lower)
    } else {
        Err(PixKeyError::BadRandom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_canonical_and_checked() {
        let key = PixKey::parse(PixKeyKind::Cpf, "111.444.777-35").unwrap();
        assert_eq!(key.as_str(), "11144477735");
        assert_eq!(key.display(), "111.444.777-35");
        assert_eq!(key.document(), Some(Document::Cpf("11144477735".into())));
        assert!(matches!(PixKey::parse(PixKeyKind::Cpf, "111.444.777-36"), Err(PixKeyError::BadCpf(_))));
        assert!(matches!(PixKey::parse(PixKeyKind::Cpf, "11.222.333/0001-81"), Err(PixKeyError::BadCpf(_))));
        assert_eq!(PixKey::parse(PixKeyKind::Cnpj, "11.222.333/0001-81").unwrap().as_str(), "11222333000181");
        assert!(matches!(PixKey::parse(PixKeyKind::Cnpj, "11144477735"), Err(PixKeyError::BadCnpj(_))));
    }

    #[test]
    fn emails_are_lower_case_and_bounded() {
        assert_eq!(
            PixKey::parse(PixKeyKind::Email, " Maria.Silva+pix@Example.COM.br ").unwrap().as_str(),
            "maria.silva+pix@example.com.br"
        );
        for bad in [
            "maria",
            "maria@",
            "@example.com",
            "maria@example",
            "ma..ria@example.com",
            ".maria@example.com",
            "maria@-example.com",
            "maria@example.c0m",
            "ma ria@example.com",
            "maria@exa_mple.com",
            "maria@@example.com",
        ] {
            assert_eq!(PixKey::parse(PixKeyKind::Email, bad), Err(PixKeyError::BadEmail), "{bad}");
        }
        let fits = format!("{}@{}.com", "a".repeat(60), "b".repeat(12));
        assert_eq!(fits.len(), MAX_EMAIL_LEN);
        assert!(PixKey::parse(PixKeyKind::Email, &fits).is_ok());
        let long = format!("{}@{}.com", "a".repeat(60), "b".repeat(13));
        assert_eq!(PixKey::parse(PixKeyKind::Email, &long), Err(PixKeyError::EmailTooLong));
        let local_too_long = format!("{}@b.com", "a".repeat(65));
        assert_eq!(PixKey::parse(PixKeyKind::Email, &local_too_long), Err(PixKeyError::BadEmail));
    }

    #[test]
    fn phones_are_plus_55_area_and_number() {
        assert_eq!(PixKey::parse(PixKeyKind::Phone, "+55 (11) 98765-4321").unwrap().as_str(), "+5511987654321");
        assert_eq!(PixKey::parse(PixKeyKind::Phone, "+55 61 3333-4444").unwrap().as_str(), "+556133334444");
        for bad in [
            "11987654321",
            "+5511887654321",
            "+55 01 98765-4321",
            "+55 10 98765-4321",
            "+1 415 555 0100",
            "+5511",
            "+55119876543210",
            "+55 11 1333-4444",
            "+55 11 9876a-4321",
        ] {
            assert_eq!(PixKey::parse(PixKeyKind::Phone, bad), Err(PixKeyError::BadPhone), "{bad}");
        }
    }

    #[test]
    fn random_keys_are_uuid_v4() {
        let key = PixKey::random_from_bytes([0xff; 16]);
        assert_eq!(key.as_str(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(PixKey::parse(PixKeyKind::Random, key.as_str()).unwrap(), key);
        let key = PixKey::random_from_bytes([0; 16]);
        assert_eq!(key.as_str(), "00000000-0000-4000-8000-000000000000");
        assert_eq!(
            PixKey::parse(PixKeyKind::Random, "123E4567-E89B-42D3-A456-426614174000").unwrap().as_str(),
            "123e4567-e89b-42d3-a456-426614174000"
        );
        for bad in [
            "123e4567-e89b-12d3-a456-426614174000",
            "123e4567-e89b-42d3-c456-426614174000",
            "123e4567e89b42d3a456426614174000",
            "123e4567-e89b-42d3-a456-42661417400g",
        ] {
            assert_eq!(PixKey::parse(PixKeyKind::Random, bad), Err(PixKeyError::BadRandom), "{bad}");
        }
    }

    #[test]
    fn keys_of_unstated_kind_are_recognised() {
        assert_eq!(PixKey::parse_any("+5511987654321").unwrap().kind(), PixKeyKind::Phone);
        assert_eq!(PixKey::parse_any("a@b.co").unwrap().kind(), PixKeyKind::Email);
        assert_eq!(PixKey::parse_any("111.444.777-35").unwrap().kind(), PixKeyKind::Cpf);
        assert_eq!(PixKey::parse_any("11222333000181").unwrap().kind(), PixKeyKind::Cnpj);
        assert_eq!(PixKey::parse_any("123e4567-e89b-42d3-a456-426614174000").unwrap().kind(), PixKeyKind::Random);
        assert_eq!(PixKey::parse_any("hello"), Err(PixKeyError::Unrecognised));
        assert_eq!(PixKey::parse_any("  "), Err(PixKeyError::Empty));
        assert_eq!(PixKeyKind::parse("EMAIL"), Ok(PixKeyKind::Email));
        assert_eq!(PixKeyKind::parse("iban"), Err(PixKeyError::UnknownKind));
    }

    #[test]
    fn masks_and_limits() {
        assert_eq!(masked_document(&Document::Cpf("11144477735".into())), "***.444.777-**");
        assert_eq!(masked_document(&Document::Cnpj("11222333000181".into())), "11.222.333/0001-81");
        assert_eq!(max_keys_per_account(CustomerKind::Person), 5);
        assert_eq!(max_keys_per_account(CustomerKind::Company), 20);
    }
}
