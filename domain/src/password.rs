//! The password policy: 8 to 128 characters, and none of the common or trivial ones (a bundled
//! list of the most used passwords, with digits and symbols around them ignored; repeated or
//! sequential characters; fewer than 4 different characters; blanks; the customer's own
//! document or name). Small and fast on purpose: zxcvbn's dictionaries were weighed and left out.

use std::collections::HashSet;
use std::sync::LazyLock;

pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 128;
/// Different characters a password needs at least.
const DISTINCT_CHARS_MIN: usize = 4;

static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common_passwords.txt").lines().map(str::trim).filter(|l| !l.is_empty()).collect());

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must have {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters")]
    Length,
    #[error("password is too common: it is one of the most used passwords; choose a phrase of your own")]
    Common,
    #[error("password is too simple: repeated or sequential characters, or fewer than {DISTINCT_CHARS_MIN} different ones")]
    Trivial,
    #[error("password must not be your CPF/CNPJ or your name")]
    Personal,
}

/// Checks a new password against the policy; `document` (digits or as typed) and `name` are
/// the customer's own, which a password must not be.
pub fn check_password(password: &str, document: &str, name: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        return Err(PasswordError::Length);
    }
    let lower = password.to_lowercase();
    let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    let distinct: HashSet<char> = compact.chars().collect();
    if distinct.len() < DISTINCT_CHARS_MIN || is_sequence(&compact) {
        return Err(PasswordError::Trivial);
    }
    let core = compact.trim_matches(|c: char| !c.is_alphabetic());
    if COMMON.contains(lower.as_str()) || COMMON.contains(compact.as_str()) || (core.len() >= 4 && COMMON.contains(core)) {
        return Err(PasswordError::Common);
    }
    let alphanumeric = |text: &str| text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect::<String>();
    let password_key = alphanumeric(password);
    let personal = [alphanumeric(document), alphanumeric(name)];
    if personal.iter().any(|p| !p.is_empty() && (password_key == *p || (p.len() >= 6 && password_key.contains(p.as_str())))) {
        return Err(PasswordError::Personal);
    }
    Ok(())
}

/// True for runs like "12345678", "abcdefgh" or "87654321" (each character one step from the last).
fn is_sequence(text: &str) -> bool {
    let codes: Vec<i64> = text.chars().map(|c| i64::from(u32::from(c))).collect();
    let steps: Vec<i64> = codes.windows(2).map(|w| w[1] - w[0]).collect();
    !steps.is_empty() && (steps.iter().all(|s| *s == 1) || steps.iter().all(|s| *s == -1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_and_trivial_passwords_are_refused() {
        let check = |p: &str| check_password(p, "111.444.777-35", "Ana Souza");
        assert_eq!(check("short"), Err(PasswordError::Length));
        for common in ["password", "PASSWORD", "11223344", "password123!", "qwertyuiop", "secret123", "iloveyou"] {
            assert_eq!(check(common), Err(PasswordError::Common), "{common}");
        }
        for trivial in ["12345678", "aaaaaaaa", "        ", "abababab", "abcdefghij", "98765432", "a a a a a "] {
            assert_eq!(check(trivial), Err(PasswordError::Trivial), "{trivial}");
        }
        for personal in ["11144477735", "111.444.777-35", "Ana Souza", "anasouza", "ana souza 1990"] {
            assert_eq!(check(personal), Err(PasswordError::Personal), "{personal}");
        }
        for fine in ["correct horse battery", "bench-password-123", "chaos-password-0123", "Ana prefere cafe"] {
            assert_eq!(check(fine), Ok(()), "{fine}");
        }
    }
}
