//! Why a cross-bank transfer ended aborted, as a stable problem type. Banks record and send an
//! abort's reason as a sentence (it crosses the wire and sits in the ledger as text, readable in
//! logs and by operators); `Problem::parse` reads the sentences this crate and the ledger write
//! back into a type with its numbers, so that a page can say it in the reader's language and
//! with R$ amounts. `Problem::describe` writes the same sentences: the two are tested as a pair,
//! and a sentence no type matches is `Other` (shown as a generic refusal, never verbatim).

/// An abort reason, typed. `slug` is the stable name (used as a translation key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A debit's account has less available than the transfer asks.
    InsufficientFunds { account: String, available_cents: i64, requested_cents: i64 },
    /// No such account at the bank (or, for a debit, not one the customer holds).
    AccountNotFound { account: String },
    /// A payment credits only company accounts.
    NotACompanyAccount { account: String },
    /// A debit asked by another bank without a consent of the account's holder.
    NoConsent { account: String },
    /// The consent named does not allow this debit (revoked, expired, other bank or account ...).
    ConsentRefused,
    /// The consent allows at most this much per transfer.
    ConsentPerTransferLimit { max_cents: i64, requested_cents: i64 },
    /// The consent's total has only this much left.
    ConsentTotalLimit { left_cents: i64, total_cents: i64, requested_cents: i64 },
    /// A transfer limit of the debited account (per transfer, daily, night) refused it.
    LimitExceeded(ringbank_domain::LimitRefusal),
    /// A participant did not vote in time.
    NoAnswer,
    /// The origin bank restarted before deciding.
    PresumedAbort,
    /// Anything else.
    Other,
}

impl Problem {
    pub fn slug(&self) -> &'static str {
        match self {
            Problem::InsufficientFunds { .. } => "insufficient-funds",
            Problem::AccountNotFound { .. } => "account-not-found",
            Problem::NotACompanyAccount { .. } => "not-a-company-account",
            Problem::NoConsent { .. } => "no-consent",
            Problem::ConsentRefused => "consent-refused",
            Problem::ConsentPerTransferLimit { .. } => "consent-per-transfer-limit",
            Problem::ConsentTotalLimit { .. } => "consent-total-limit",
            Problem::LimitExceeded(_) => "limit-exceeded",
            Problem::NoAnswer => "no-answer",
            Problem::PresumedAbort => "presumed-abort",
            Problem::Other => "other",
        }
    }

    /// A participant's reason in words (what `parse` reads back).
    pub fn describe(&self) -> String {
        match self {
            Problem::InsufficientFunds { account, available_cents, requested_cents } => {
                format!("account {account} has {available_cents} centavos available; {requested_cents} requested")
            }
            Problem::AccountNotFound { account } => format!("account {account} not found"),
            Problem::NotACompanyAccount { account } => {
                format!("account {account} is not a company account; payments go to company accounts")
            }
            Problem::NoConsent { account } => format!("no consent: the holder of account {account} did not allow this bank to debit it"),
            Problem::ConsentRefused => "consent refused".to_string(),
            Problem::ConsentPerTransferLimit { max_cents, requested_cents } => {
                format!("consent allows at most {max_cents} centavos per transfer; {requested_cents} requested")
            }
            Problem::ConsentTotalLimit { left_cents, total_cents, requested_cents } => {
                format!("consent has {left_cents} centavos left of its total of {total_cents}; {requested_cents} requested")
            }
            Problem::LimitExceeded(refusal) => refusal.to_string(),
            Problem::NoAnswer => "did not answer in time".to_string(),
            Problem::PresumedAbort => "the origin bank restarted before deciding; aborted (presumed abort)".to_string(),
            Problem::Other => "refused".to_string(),
        }
    }

    /// Reads a recorded reason: the bank it names (if any) and the problem.
    pub fn parse(reason: &str) -> (Option<String>, Problem) {
        let reason = reason.trim();
        if reason.starts_with("the origin bank restarted before deciding") {
            return (None, Problem::PresumedAbort);
        }
        if let Some(rest) = reason.strip_prefix("bank ") {
            if let Some(bank) = rest.strip_suffix(" did not answer in time") {
                return (Some(bank.to_string()), Problem::NoAnswer);
            }
            if let Some((bank, why)) = rest.split_once(": ") {
                return (Some(bank.to_string()), Problem::parse_vote(why));
            }
        }
        (None, Problem::parse_vote(reason))
    }

    /// Reads a participant's own reason (without the "bank X: " prefix).
    fn parse_vote(why: &str) -> Problem {
        if let Some(refusal) = ringbank_domain::LimitRefusal::parse(why) {
            return Problem::LimitExceeded(refusal);
        }
        let words: Vec<&str> = why.split([' ', ';', ':']).filter(|w| !w.is_empty()).collect();
        let number = |i: usize| words.get(i).and_then(|w| w.parse::<i64>().ok());
        let word = |i: usize| words.get(i).map(|w| w.to_string()).unwrap_or_default();
        match words.as_slice() {
            ["account", _, "has", _, "centavos", "available", _, "requested"] => match (number(3), number(6)) {
                (Some(available_cents), Some(requested_cents)) => {
                    Problem::InsufficientFunds { account: word(1), available_cents, requested_cents }
                }
                _ => Problem::Other,
            },
            ["account", _, "not", "found"] => Problem::AccountNotFound { account: word(1) },
            ["account", _, "is", "not", "a", "company", "account", ..] => Problem::NotACompanyAccount { account: word(1) },
            ["no", "consent", "the", "holder", "of", "account", ..] => Problem::NoConsent { account: word(6) },
            ["consent", .., "allows", "at", "most", _, "centavos", "per", "transfer", _, "requested"] => {
                let n = words.len();
                match (number(n - 6), number(n - 2)) {
                    (Some(max_cents), Some(requested_cents)) => Problem::ConsentPerTransferLimit { max_cents, requested_cents },
                    _ => Problem::ConsentRefused,
                }
            }
            ["consent", .., "has", _, "centavos", "left", "of", "its", "total", "of", _, _, "requested"] => {
                let n = words.len();
                match (number(n - 10), number(n - 3), number(n - 2)) {
                    (Some(left_cents), Some(total_cents), Some(requested_cents)) => {
                        Problem::ConsentTotalLimit { left_cents, total_cents, requested_cents }
                    }
                    _ => Problem::ConsentRefused,
                }
            }
            ["consent", ..] | ["a", "consent", "is", "only", ..] => Problem::ConsentRefused,
            _ => Problem::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_reads_back_from_its_words_with_or_without_a_bank() {
        let problems = [
            Problem::InsufficientFunds { account: "79362387".into(), available_cents: 48_000, requested_cents: 999_900 },
            Problem::AccountNotFound { account: "12345678".into() },
            Problem::NotACompanyAccount { account: "12345678".into() },
            Problem::NoConsent { account: "12345678".into() },
            Problem::ConsentRefused,
            Problem::ConsentPerTransferLimit { max_cents: 10_000, requested_cents: 20_000 },
            Problem::ConsentTotalLimit { left_cents: 500, total_cents: 15_000, requested_cents: 8_000 },
            Problem::LimitExceeded(ringbank_domain::LimitRefusal {
                account: "12345678".into(),
                customer: false,
                kind: ringbank_domain::LimitKind::Night,
                limit_cents: 100_000,
                left_cents: 0,
                requested_cents: 15_000,
            }),
            Problem::LimitExceeded(ringbank_domain::LimitRefusal {
                account: "12345678909".into(),
                customer: true,
                kind: ringbank_domain::LimitKind::Daily,
                limit_cents: 500_000,
                left_cents: 1_000,
                requested_cents: 15_000,
            }),
            Problem::Other,
        ];
        for problem in problems {
            assert_eq!(Problem::parse(&problem.describe()), (None, problem.clone()), "{}", problem.describe());
            let reason = crate::AbortReason::VotedNo { bank: 1, reason: Some(problem.describe()) };
            assert_eq!(Problem::parse(&reason.describe(|_| "B".to_string())), (Some("B".to_string()), problem));
        }
        let no_vote = crate::AbortReason::NoVote { bank: 2 }.describe(|_| "C".to_string());
        assert_eq!(Problem::parse(&no_vote), (Some("C".to_string()), Problem::NoAnswer));
        assert_eq!(Problem::parse(&crate::AbortReason::PresumedAbort.to_string()), (None, Problem::PresumedAbort));
    }

    #[test]
    fn the_participants_own_sentences_are_typed() {
        // The sentences the participant writes (consent refusals name the consent).
        let cases = [
            ("consent cs_1 was revoked", Problem::ConsentRefused),
            ("consent cs_1 has expired", Problem::ConsentRefused),
            ("a consent is only for a debit asked by another bank", Problem::ConsentRefused),
            (
                "consent cs_1 allows at most 10000 centavos per transfer; 20000 requested",
                Problem::ConsentPerTransferLimit { max_cents: 10_000, requested_cents: 20_000 },
            ),
            (
                "consent cs_1 has 500 centavos left of its total of 15000; 8000 requested",
                Problem::ConsentTotalLimit { left_cents: 500, total_cents: 15_000, requested_cents: 8_000 },
            ),
            ("no consent: the holder of account 42 did not allow bank A to debit it", Problem::NoConsent { account: "42".to_string() }),
            ("something new", Problem::Other),
        ];
        for (text, problem) in cases {
            assert_eq!(Problem::parse(text), (None, problem), "{text}");
        }
    }
}
