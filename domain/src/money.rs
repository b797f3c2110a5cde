//! Money: integer centavos in i64, checked arithmetic, and the Brazilian display format.
//! No floating point anywhere, by design.

/// Formats centavos as Brazilian reais: `R$ 1.234,56`, `-R$ 0,05`.
pub fn format_brl(cents: i64) -> String {
    let negative = cents < 0;
    let abs = cents.unsigned_abs();
    let (reais, centavos) = (abs / 100, abs % 100);
    let digits = reais.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(ch);
    }
    let sign = if negative { "-" } else { "" };
    format!("{sign}R$ {grouped},{centavos:02}")
}

/// Why a typed amount is not one (so a page can say what to fix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmountError {
    /// Empty, or characters that are not digits, '.', ','.
    NotANumber,
    /// A comma followed by other than one or two digits ("12,345"): in pt-BR the comma is the
    /// decimal separator, so this is neither 12.345,00 nor 12,34.
    BadCents,
    /// A '.' not grouping thousands ("1234.56", "1.23.456"): in pt-BR the point groups
    /// thousands, so this cannot be read one way only.
    BadGrouping,
    /// More than fits in an i64 of centavos.
    TooLarge,
}

/// Parses an amount typed by a person in Brazilian Portuguese, exactly, into centavos:
/// "1.234,56", "1234,56", "1234", "R$ 10", "0,5" are fine; the comma is the only decimal
/// separator and the point only groups thousands (in groups of three), so "12,345" and
/// "1234.56" are errors, never a guess. No float is involved.
pub fn parse_brl_exact(input: &str) -> Result<i64, AmountError> {
    let text = input.trim();
    let text = text.strip_prefix("R$").unwrap_or(text).trim();
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b',') {
        return Err(AmountError::NotANumber);
    }
    let (whole, fraction) = match text.split_once(',') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let centavos: i64 = match fraction {
        None => 0,
        Some(f) if (1..=2).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            let value: i64 = f.parse().map_err(|_| AmountError::BadCents)?;
            if f.len() == 1 {
                value * 10
            } else {
                value
            }
        }
        Some(_) => return Err(AmountError::BadCents),
    };
    let digits: String = if whole.contains('.') {
        let groups: Vec<&str> = whole.split('.').collect();
        let first_ok = (1..=3).contains(&groups[0].len());
        let rest_ok = groups[1..].iter().all(|g| g.len() == 3);
        if !first_ok || !rest_ok {
            return Err(AmountError::BadGrouping);
        }
        groups.concat()
    } else {
        whole.to_string()
    };
    if digits.is_empty() {
        // ",50" is fifty centavos; "," alone is nothing.
        return if fraction.is_some_and(|f| !f.is_empty()) { Ok(centavos) } else { Err(AmountError::NotANumber) };
    }
    let reais: i64 = digits.parse().map_err(|_| AmountError::TooLarge)?;
    reais.checked_mul(100).and_then(|c| c.checked_add(centavos)).ok_or(AmountError::TooLarge)
}

/// `parse_brl_exact`, without the reason.
pub fn parse_brl(input: &str) -> Option<i64> {
    parse_brl_exact(input).ok()
}

/// Sums amounts, failing on overflow instead of wrapping.
pub fn checked_sum<I: IntoIterator<Item = i64>>(amounts: I) -> Option<i64> {
    amounts.into_iter().try_fold(0i64, |acc, x| acc.checked_add(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_reais() {
        assert_eq!(format_brl(123456), "R$ 1.234,56");
        assert_eq!(format_brl(5), "R$ 0,05");
        assert_eq!(format_brl(-5), "-R$ 0,05");
        assert_eq!(format_brl(100_000_000_00), "R$ 100.000.000,00");
        assert_eq!(format_brl(i64::MIN), "-R$ 92.233.720.368.547.758,08");
    }

    #[test]
    fn parses_amounts_the_brazilian_way_exactly() {
        assert_eq!(parse_brl("1.234,56"), Some(123456));
        assert_eq!(parse_brl("1234,56"), Some(123456));
        assert_eq!(parse_brl("1234"), Some(123400));
        assert_eq!(parse_brl("R$ 10"), Some(1000));
        assert_eq!(parse_brl("R$10,5"), Some(1050));
        assert_eq!(parse_brl("0,5"), Some(50));
        assert_eq!(parse_brl(",05"), Some(5));
        assert_eq!(parse_brl("1.000"), Some(100000));
        assert_eq!(parse_brl("1.234.567,89"), Some(123456789));
        assert_eq!(parse_brl_exact("12,345"), Err(AmountError::BadCents));
        assert_eq!(parse_brl_exact("12,"), Err(AmountError::BadCents));
        assert_eq!(parse_brl_exact("1,2,3"), Err(AmountError::BadCents));
        assert_eq!(parse_brl_exact("1234.56"), Err(AmountError::BadGrouping));
        assert_eq!(parse_brl_exact("1,234.56"), Err(AmountError::BadCents));
        assert_eq!(parse_brl_exact("12.34.567"), Err(AmountError::BadGrouping));
        assert_eq!(parse_brl_exact("1234.567"), Err(AmountError::BadGrouping));
        assert_eq!(parse_brl_exact(".123"), Err(AmountError::BadGrouping));
        assert_eq!(parse_brl_exact("abc"), Err(AmountError::NotANumber));
        assert_eq!(parse_brl_exact("-5"), Err(AmountError::NotANumber));
        assert_eq!(parse_brl_exact("1e3"), Err(AmountError::NotANumber));
        assert_eq!(parse_brl_exact(""), Err(AmountError::NotANumber));
        assert_eq!(parse_brl_exact(","), Err(AmountError::BadCents));
        assert_eq!(parse_brl_exact("99999999999999999999"), Err(AmountError::TooLarge));
    }

    #[test]
    fn every_formatted_amount_parses_back_to_itself() {
        for cents in [0, 1, 5, 10, 99, 100, 123_456, 100_000_000_00, i64::MAX] {
            assert_eq!(parse_brl(&format_brl(cents)), Some(cents), "{}", format_brl(cents));
        }
    }

    #[test]
    fn sums_without_overflow() {
        assert_eq!(checked_sum([1, 2, 3]), Some(6));
        assert_eq!(checked_sum([i64::MAX, 1]), None);
    }
}
