//! How the pages say things a person reads: a time in the bank's time zone (`--time-zone`),
//! an abort reason as a stable problem type in the page's language with R$ amounts. The pure
//! parts (masking, the zone arithmetic, reading a reason into a `Problem`) live in
//! `ringbank_domain::display` and `ringbank_twopc::reason`, for any page to reuse.

use ringbank_domain::display::LocalZone;
use ringbank_domain::money::format_brl;
use ringbank_twopc::reason::Problem;

use super::i18n::{Lang, Tr};

/// An RFC 3339 UTC time (as the ledger gives it) in the bank's zone: dd/mm/yyyy hh:mm in
/// Portuguese, yyyy-mm-dd hh:mm in English. A text that is not a time is shown as it is.
pub fn local_time(zone: &LocalZone, lang: Lang, rfc3339: &str) -> String {
    match zone.local_rfc3339(rfc3339) {
        Some(local) if lang == Lang::Pt => local.br(),
        Some(local) => local.iso(),
        None => rfc3339.to_string(),
    }
}

/// A Unix millisecond in the bank's zone, as `local_time`.
pub fn local_time_ms(zone: &LocalZone, lang: Lang, unix_ms: i64) -> String {
    match zone.local(unix_ms) {
        Some(local) if lang == Lang::Pt => local.br(),
        Some(local) => local.iso(),
        None => String::new(),
    }
}

/// The zone's name and offset now, for a table heading: "America/Sao_Paulo, UTC-03:00".
pub fn zone_label(zone: &LocalZone, now_ms: i64) -> String {
    match zone.local(now_ms) {
        Some(local) => format!("{}, {}", zone.name(), local.offset()),
        None => zone.name().to_string(),
    }
}

/// An abort reason as the customer reads it: its problem type, in the page's language, with
/// R$ amounts; a reason of no known type reads as a generic refusal (never the raw sentence).
pub fn reason_text(t: Tr, reason: &str) -> String {
    let (bank, problem) = Problem::parse(reason);
    let text = match &problem {
        Problem::InsufficientFunds { account, available_cents, requested_cents } => {
            t.fill("problem.insufficient-funds", &[account, &format_brl(*available_cents), &format_brl(*requested_cents)])
        }
        Problem::AccountNotFound { account } | Problem::NotACompanyAccount { account } | Problem::NoConsent { account } => {
            t.fill(&format!("problem.{}", problem.slug()), &[account])
        }
        Problem::ConsentPerTransferLimit { max_cents, requested_cents } => {
            t.fill("problem.consent-per-transfer-limit", &[&format_brl(*max_cents), &format_brl(*requested_cents)])
        }
        Problem::ConsentTotalLimit { left_cents, total_cents, requested_cents } => {
            t.fill("problem.consent-total-limit", &[&format_brl(*left_cents), &format_brl(*total_cents), &format_brl(*requested_cents)])
        }
        Problem::LimitExceeded(refusal) => t.fill(
            if refusal.customer { "problem.limit-exceeded.customer" } else { "problem.limit-exceeded" },
            &[
                t.get(&format!("limits.kind.{}", refusal.kind.as_str())),
                &if refusal.customer { ringbank_domain::document::format_document(&refusal.account) } else { refusal.account.clone() },
                &format_brl(refusal.limit_cents),
                &format_brl(refusal.left_cents),
                &format_brl(refusal.requested_cents),
            ],
        ),
        Problem::ConsentRefused | Problem::NoAnswer | Problem::PresumedAbort | Problem::Other => {
            t.get(&format!("problem.{}", problem.slug())).to_string()
        }
    };
    match bank {
        Some(bank) => t.fill("problem.at_bank", &[&bank, &text]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_in_portuguese_with_reais() {
        let t = Tr { lang: Lang::Pt };
        assert_eq!(
            reason_text(t, "bank B: account 79362387 has 48000 centavos available; 999900 requested"),
            "Banco B: a conta 79362387 tem R$ 480,00 disponíveis; a transferência pede R$ 9.999,00."
        );
        assert_eq!(
            reason_text(t, "bank B: the night limit (20:00-06:00) of account 42 is R$ 1.000,00; R$ 150,00 left; R$ 200,00 requested"),
            "Banco B: o limite noturno (20h às 6h) da conta 42 é R$ 1.000,00; restam R$ 150,00 e a transferência pede R$ 200,00."
        );
        assert_eq!(
            reason_text(Tr { lang: Lang::En }, "bank B: the daily limit of account 42 is R$ 1.000,00; R$ 0,00 left; R$ 5,00 requested"),
            "Bank B: the daily limit of account 42 is R$ 1.000,00; R$ 0,00 left and the transfer asks for R$ 5,00."
        );
        assert_eq!(reason_text(t, "bank C did not answer in time"), "Banco C: não respondeu a tempo; nada foi debitado.");
        assert!(!reason_text(t, "bank B: some new English sentence").contains("English"));
        let zone = LocalZone::sao_paulo();
        assert_eq!(local_time(&zone, Lang::Pt, "2026-11-30T15:04:05Z"), "30/11/2026 12:04");
        assert_eq!(local_time(&zone, Lang::En, "2026-11-30T15:04:05Z"), "2026-11-30 12:04");
    }
}
