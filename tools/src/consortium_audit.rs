//! The consortium audit: reads every live bank's ledger summary over its admin API and checks
//! what no single bank can: every cross-bank transfer has the same outcome at every
//! participant, settlement positions mirror each other (A's claim on B is B's debt to A),
//! customer money equals deposits minus withdrawals across the consortium, no balance is
//! negative, and once quiet no hold and no transfer in doubt is left.

use std::collections::BTreeMap;
use std::time::Duration;

use ringbank_client::AdminClient;
use serde::Serialize;

pub use ringbank_wire::BankSummary;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, Serialize)]
pub struct Invariant {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConsortiumReport {
    pub banks: Vec<String>,
    pub passed: bool,
    pub invariants: Vec<Invariant>,
    pub customer_money_cents: i64,
    pub deposits_minus_withdrawals_cents: i64,
    pub cross_bank_transfers: usize,
    pub committed: usize,
    pub aborted: usize,
    pub in_doubt: usize,
}

/// Fetches every bank's summary (GET /admin/v1/consortium); fails if one cannot be read.
pub async fn fetch(urls: &[(String, String)], admin_secret: &str) -> Result<Vec<BankSummary>, String> {
    fetch_within(urls, admin_secret, REQUEST_TIMEOUT).await
}

/// As `fetch`, waiting up to `timeout` for each bank's summary (its audit reads the whole
/// ledger: minutes on a ledger of tens of millions of rows).
pub async fn fetch_within(urls: &[(String, String)], admin_secret: &str, timeout: std::time::Duration) -> Result<Vec<BankSummary>, String> {
    let http = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
    let mut summaries = Vec::with_capacity(urls.len());
    for (id, url) in urls {
        let admin = AdminClient::with_http(http.clone(), url, admin_secret);
        summaries.push(admin.consortium().await.map_err(|e| format!("bank {id}: {e}"))?);
    }
    Ok(summaries)
}

/// Checks the consortium invariants over the summaries of every bank.
pub fn check(summaries: &[BankSummary]) -> ConsortiumReport {
    let mut invariants = Vec::new();
    let mut push = |name: &str, offenders: Vec<String>| {
        invariants.push(Invariant {
            name: name.to_string(),
            passed: offenders.is_empty(),
            detail: offenders.into_iter().take(10).collect::<Vec<_>>().join("; "),
        });
    };
    push(
        "every bank's own ledger audit passes (entries balance, balances match legs, none negative)",
        summaries.iter().filter(|s| !s.audit.passed).map(|s| format!("bank {}", s.bank)).collect(),
    );
    // Outcomes per transfer across participants.
    let mut outcomes: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for summary in summaries {
        for participation in &summary.participations {
            outcomes.entry(participation.id.as_str()).or_default().push((summary.bank.as_str(), participation.status.as_str()));
        }
    }
    let (mut committed, mut aborted, mut in_doubt) = (0, 0, 0);
    let mut disagreements = Vec::new();
    for (id, statuses) in &outcomes {
        let final_statuses: Vec<&str> = statuses.iter().map(|(_, s)| *s).filter(|s| *s != "prepared").collect();
        if statuses.iter().any(|(_, s)| *s == "prepared") {
            in_doubt += 1;
        }
        if final_statuses.contains(&"committed") && final_statuses.contains(&"aborted") {
            disagreements.push(format!("{id}: {statuses:?}"));
        } else if final_statuses.contains(&"committed") {
            committed += 1;
        } else if !final_statuses.is_empty() {
            aborted += 1;
        }
    }
    push("each cross-bank transfer has the same outcome at every participant", disagreements);
    // Settlement mirrors.
    let position = |of: &str, with: &str| -> i64 {
        summaries
            .iter()
            .find(|s| s.bank == of)
            .and_then(|s| s.settlement.iter().find(|(peer, _)| peer == with).map(|(_, b)| *b))
            .unwrap_or(0)
    };
    let mut mirrors = Vec::new();
    for a in summaries {
        for b in summaries.iter().filter(|b| b.bank > a.bank) {
            let (ab, ba) = (position(&a.bank, &b.bank), position(&b.bank, &a.bank));
            if ab != -ba {
                mirrors.push(format!("{} holds {ab} against {}, which holds {ba}", a.bank, b.bank));
            }
        }
    }
    push("settlement positions mirror each other", mirrors);
    let customer_money: i64 = summaries.iter().map(|s| s.customer_money_cents).sum();
    let deposits_minus_withdrawals: i64 = -summaries.iter().map(|s| s.cash_cents).sum::<i64>();
    push(
        "customer money equals deposits minus withdrawals",
        if customer_money == deposits_minus_withdrawals {
            Vec::new()
        } else {
            vec![format!("customer money {customer_money}, deposits minus withdrawals {deposits_minus_withdrawals}")]
        },
    );
    push(
        "no hold left and no transfer in doubt (once quiet)",
        summaries
            .iter()
            .filter(|s| s.held_cents != 0 || s.in_doubt != 0)
            .map(|s| format!("bank {}: {} held, {} in doubt", s.bank, s.held_cents, s.in_doubt))
            .collect(),
    );
    // The Pix key directory: every replica the same (same committed log, same digest), once quiet.
    let replicas: Vec<(&str, &ringbank_wire::DirectorySummary)> =
        summaries.iter().filter_map(|s| s.directory.as_ref().map(|d| (s.bank.as_str(), d))).collect();
    let differing = match replicas.first() {
        Some((_, first)) => replicas
            .iter()
            .filter(|(_, d)| d.committed != first.committed || d.digest != first.digest)
            .map(|(bank, d)| {
                format!(
                    "bank {bank}: {} entries, digest {} (bank {}: {} entries, digest {})",
                    d.committed, d.digest, replicas[0].0, first.committed, first.digest
                )
            })
            .collect(),
        None => Vec::new(),
    };
    push("every bank's replica of the Pix key directory is identical (once quiet)", differing);
    let passed = invariants.iter().all(|i| i.passed);
    ConsortiumReport {
        banks: summaries.iter().map(|s| s.bank.clone()).collect(),
        passed,
        invariants,
        customer_money_cents: customer_money,
        deposits_minus_withdrawals_cents: deposits_minus_withdrawals,
        cross_bank_transfers: outcomes.len(),
        committed,
        aborted,
        in_doubt,
    }
}

impl ConsortiumReport {
    pub fn render(&self) -> String {
        let mut out = format!(
            "consortium {}: {}\n  cross-bank transfers: {} ({} committed, {} aborted, {} in doubt)\n  customer money {}, deposits minus withdrawals {}\n",
            self.banks.join(","),
            if self.passed { "PASS" } else { "FAIL" },
            self.cross_bank_transfers,
            self.committed,
            self.aborted,
            self.in_doubt,
            ringbank_domain::money::format_brl(self.customer_money_cents),
            ringbank_domain::money::format_brl(self.deposits_minus_withdrawals_cents),
        );
        for invariant in &self.invariants {
            let mark = if invariant.passed { "pass" } else { "FAIL" };
            out.push_str(&format!("  [{mark}] {}", invariant.name));
            if !invariant.passed {
                out.push_str(&format!(": {}", invariant.detail));
            }
            out.push('\n');
        }
        out
    }
}
