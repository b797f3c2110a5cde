//! Brazilian tax documents: CPF for persons, CNPJ (numeric and alphanumeric) for companies.
//!
//! Input is accepted with or without punctuation; what is stored is the bare canonical
//! form (11 digits for a CPF, 14 upper-case characters for a CNPJ).

use std::fmt;

/// A validated CPF or CNPJ, in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Document {
    Cpf(String),
    Cnpj(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("a document must have 11 digits (CPF) or 14 characters (CNPJ); got {0}")]
    BadLength(usize),
    #[error("a CPF is made of digits only")]
    CpfNotDigits,
    #[error("a CNPJ's first 12 characters are digits or upper-case letters and its last 2 are digits")]
    CnpjBadCharacter,
    #[error("a document made of one repeated digit is not valid")]
    RepeatedDigit,
    #[error("the check digits do not match: expected {expected}")]
    CheckDigits { expected: String },
}

impl Document {
    /// Parses a CPF or CNPJ. Dots, dashes, slashes and spaces are ignored; letters are
    /// upper-cased (alphanumeric CNPJ).
    pub fn parse(input: &str) -> Result<Document, DocumentError> {
        let bare: String = input.chars().filter(|c| !matches!(c, '.' | '-' | '/' | ' ')).map(|c| c.to_ascii_uppercase()).collect();
        match bare.chars().count() {
            11 => parse_cpf(&bare).map(Document::Cpf),
            14 => parse_cnpj(&bare).map(Document::Cnpj),
            other => Err(DocumentError::BadLength(other)),
        }
    }

    /// The canonical form: digits (and letters for a CNPJ) without punctuation.
    pub fn as_str(&self) -> &str {
        match self {
            Document::Cpf(s) | Document::Cnpj(s) => s,
        }
    }

    /// Person for a CPF, company for a CNPJ.
    pub fn kind(&self) -> crate::CustomerKind {
        if self.is_person() {
            crate::CustomerKind::Person
        } else {
            crate::CustomerKind::Company
        }
    }

    pub fn is_person(&self) -> bool {
        matches!(self, Document::Cpf(_))
    }

    /// The usual punctuated form: 111.444.777-35 or 11.222.333/0001-81.
    pub fn formatted(&self) -> String {
        format_document(self.as_str())
    }
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Punctuates a canonical document; anything else is returned unchanged.
pub fn format_document(bare: &str) -> String {
    let b = bare.as_bytes();
    match b.len() {
        11 => format!("{}.{}.{}-{}", &bare[0..3], &bare[3..6], &bare[6..9], &bare[9..11]),
        14 => format!("{}.{}.{}/{}-{}", &bare[0..2], &bare[2..5], &bare[5..8], &bare[8..12], &bare[12..14]),
        _ => bare.to_string(),
    }
}

/// Completes a 9-digit base into a valid CPF (for tests, tools and the load generator).
pub fn cpf_from_base(base: u32) -> String {
    let base = format!("{:09}", base % 1_000_000_000);
    let mut digits: Vec<u32> = base.bytes().map(|b| u32::from(b - b'0')).collect();
    digits.push(check_digit(&digits, &[10, 9, 8, 7, 6, 5, 4, 3, 2]));
    digits.push(check_digit(&digits, &[11, 10, 9, 8, 7, 6, 5, 4, 3, 2]));
    digits.iter().map(|d| char::from_digit(*d, 10).unwrap_or('0')).collect()
}

/// Completes a 12-character base ([0-9A-Z]) into a valid CNPJ.
pub fn cnpj_from_base(base: &str) -> Option<String> {
    let bytes = base.as_bytes();
    if bytes.len() != 12 || !bytes.iter().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) {
        return None;
    }
    let mut values: Vec<u32> = bytes.iter().map(|b| u32::from(*b) - 48).collect();
    let dv1 = check_digit(&values, &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
    values.push(dv1);
    let dv2 = check_digit(&values, &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
    Some(format!("{base}{dv1}{dv2}"))
}

fn parse_cpf(bare: &str) -> Result<String, DocumentError> {
    if !bare.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DocumentError::CpfNotDigits);
    }
    let digits: Vec<u32> = bare.bytes().map(|b| u32::from(b - b'0')).collect();
    if digits.iter().all(|d| *d == digits[0]) {
        return Err(DocumentError::RepeatedDigit);
    }
    let dv1 = check_digit(&digits[..9], &[10, 9, 8, 7, 6, 5, 4, 3, 2]);
    let mut with_dv1 = digits[..9].to_vec();
    with_dv1.push(dv1);
    let dv2 = check_digit(&with_dv1, &[11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
    if digits[9] != dv1 || digits[10] != dv2 {
        return Err(DocumentError::CheckDigits { expected: format!("{dv1}{dv2}") });
    }
    Ok(bare.to_string())
}

fn parse_cnpj(bare: &str) -> Result<String, DocumentError> {
    let bytes = bare.as_bytes();
    let body_ok = bytes[..12].iter().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    let dv_ok = bytes[12..].iter().all(|b| b.is_ascii_digit());
    if !body_ok || !dv_ok {
        return Err(DocumentError::CnpjBadCharacter);
    }
    // Value of a character: its ASCII code minus 48 ('0' -> 0, 'A' -> 17).
    let values: Vec<u32> = bytes.iter().map(|b| u32::from(*b) - 48).collect();
    if bytes.iter().all(|b| *b == bytes[0]) {
        return Err(DocumentError::RepeatedDigit);
    }
    let dv1 = check_digit(&values[..12], &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
    let mut with_dv1 = values[..12].to_vec();
    with_dv1.push(dv1);
    let dv2 = check_digit(&with_dv1, &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
    if values[12] != dv1 || values[13] != dv2 {
        return Err(DocumentError::CheckDigits { expected: format!("{dv1}{dv2}") });
    }
    Ok(bare.to_string())
}

/// Modulo-11 check digit shared by CPF and CNPJ: 0 when the remainder is below 2.
fn check_digit(values: &[u32], weights: &[u32]) -> u32 {
    debug_assert_eq!(values.len(), weights.len());
    let sum: u32 = values.iter().zip(weights).map(|(v, w)| v * w).sum();
    let remainder = sum % 11;
    if remainder < 2 {
        0
    } else {
        11 - remainder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpf_vectors() {
        assert_eq!(Document::parse("111.444.777-35").unwrap(), Document::Cpf("11144477735".into()));
        assert_eq!(Document::parse("11144477735").unwrap().formatted(), "111.444.777-35");
        assert!(matches!(Document::parse("111.444.777-36"), Err(DocumentError::CheckDigits { .. })));
        assert_eq!(Document::parse("111.111.111-11"), Err(DocumentError::RepeatedDigit));
        assert_eq!(Document::parse("1114447773"), Err(DocumentError::BadLength(10)));
        assert_eq!(Document::parse("1114447773A"), Err(DocumentError::CpfNotDigits));
    }

    #[test]
    fn generated_documents_are_valid() {
        assert_eq!(cpf_from_base(111_444_777), "11144477735");
        assert_eq!(cnpj_from_base("112223330001").as_deref(), Some("11222333000181"));
        assert_eq!(cnpj_from_base("12ABC34501DE").as_deref(), Some("12ABC34501DE35"));
        for base in [1, 12_345, 987_654_321] {
            assert!(Document::parse(&cpf_from_base(base)).is_ok());
        }
    }

    #[test]
    fn cnpj_vectors() {
        let numeric = Document::parse("11.222.333/0001-81").unwrap();
        assert_eq!(numeric, Document::Cnpj("11222333000181".into()));
        assert_eq!(numeric.formatted(), "11.222.333/0001-81");
        let alpha = Document::parse("12.ABC.345/01DE-35").unwrap();
        assert_eq!(alpha, Document::Cnpj("12ABC34501DE35".into()));
        assert_eq!(Document::parse("12.abc.345/01de-35").unwrap(), alpha);
        assert!(matches!(Document::parse("12.ABC.345/01DE-36"), Err(DocumentError::CheckDigits { .. })));
        assert!(matches!(Document::parse("11.222.333/0001-82"), Err(DocumentError::CheckDigits { .. })));
        assert_eq!(Document::parse("12ABC34501DEAB"), Err(DocumentError::CnpjBadCharacter));
        assert_eq!(Document::parse("00000000000000"), Err(DocumentError::RepeatedDigit));
    }
}
