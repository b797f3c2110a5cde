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

/// Parses an amount typed by a person, in reais: "1.234,56", "1234,56", "1234.56",
/// "R$ 10", "0,5". Returns centavos, or None when the text is not an amount.
pub fn parse_brl(input: &str) -> Option<i64> {
    let text = input.trim().trim_start_matches("R$").trim();
    if text.is_empty() || text.len() > 24 {
        return None;
    }
    // The decimal separator is the last ',' or '.' followed by one or two digits only.
    let split_at = text.rfind([',', '.']).filter(|&i| {
        let tail = &text[i + 1..];
        (1..=2).contains(&tail.len()) && tail.bytes().all(|b| b.is_ascii_digit())
    });
    let (whole, fraction) = match split_at {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    let whole_digits: String = whole.chars().filter(|c| *c != '.' && *c != ',').collect();
    if whole_digits.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole_digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let reais: i64 = if whole_digits.is_empty() { 0 } else { whole_digits.parse().ok()? };
    let centavos: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().ok()? * 10,
        _ => fraction.parse().ok()?,
    };
    reais.checked_mul(100)?.checked_add(centavos)
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
    fn parses_amounts_typed_either_way() {
        assert_eq!(parse_brl("1.234,56"), Some(123456));
        assert_eq!(parse_brl("1,234.56"), Some(123456));
        assert_eq!(parse_brl("1234.56"), Some(123456));
        assert_eq!(parse_brl("R$ 10"), Some(1000));
        assert_eq!(parse_brl("0,5"), Some(50));
        assert_eq!(parse_brl("1.000"), Some(100000));
        assert_eq!(parse_brl("abc"), None);
        assert_eq!(parse_brl("-5"), None);
        assert_eq!(parse_brl(""), None);
        assert_eq!(parse_brl("99999999999999999999"), None);
    }

    #[test]
    fn sums_without_overflow() {
        assert_eq!(checked_sum([1, 2, 3]), Some(6));
        assert_eq!(checked_sum([i64::MAX, 1]), None);
    }
}
