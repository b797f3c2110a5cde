//! The admin API under /admin/v1 (Bearer admin secret): a bank's ledger audit, its summary for
//! the consortium audit, the faults injected into it, and the benchmark's counters.

use serde::{Deserialize, Serialize};

/// One check of a bank's ledger audit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditCheck {
    pub name: String,
    pub passed: bool,
    /// What was wrong (the first few offenders), empty when the check passed.
    pub detail: String,
}

/// GET /admin/v1/audit, and what `ringbank audit --data-dir` prints for each bank.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditReport {
    pub bank: String,
    pub passed: bool,
    pub checks: Vec<AuditCheck>,
    pub entries: i64,
    pub customer_money_cents: i64,
}

impl AuditReport {
    /// A human-readable report, one line per check.
    pub fn render(&self) -> String {
        let mut out = format!(
            "bank {}: {} ({} entries, customer money {})\n",
            self.bank,
            if self.passed { "PASS" } else { "FAIL" },
            self.entries,
            ringbank_domain::money::format_brl(self.customer_money_cents)
        );
        for check in &self.checks {
            let mark = if check.passed { "pass" } else { "FAIL" };
            out.push_str(&format!("  [{mark}] {}", check.name));
            if !check.passed {
                out.push_str(&format!(": {}", check.detail));
            }
            out.push('\n');
        }
        out
    }
}

/// A cross-bank transfer's outcome at one bank, for the consortium audit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ParticipationView {
    pub id: String,
    /// prepared, committed or aborted.
    pub status: String,
    /// Its place in the consortium-wide order: (epoch, token_seq, position).
    pub order: (i64, i64, i64),
}

/// GET /admin/v1/consortium: what one bank reports for the consortium audit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BankSummary {
    pub bank: String,
    pub audit: AuditReport,
    /// (peer bank, balance of this bank's settlement account with it).
    pub settlement: Vec<(String, i64)>,
    pub customer_money_cents: i64,
    pub cash_cents: i64,
    pub held_cents: i64,
    pub in_doubt: i64,
    pub participations: Vec<ParticipationView>,
    /// The bank's replica of the Pix key directory (absent from banks older than issue 19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectorySummary>,
}

/// One bank's replica of the Pix key directory: its committed log length, how many keys it
/// names, and a digest of the whole directory (equal digests: identical directories).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectorySummary {
    pub committed: u64,
    pub keys: u64,
    pub digest: String,
}

/// One fault in force at a bank.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActiveFault {
    pub kind: String,
    /// The bank the fault is about (partitions), else this bank.
    pub bank: String,
    pub detail: String,
    /// 0 for faults that wait for an event (crash-at, drop-token armed).
    pub remaining_ms: u64,
}

/// GET /admin/v1/faults: what is active, and how many faults were injected since start.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FaultsView {
    pub bank: String,
    pub injected: u64,
    pub active: Vec<ActiveFault>,
}

/// GET /admin/v1/stats: counters for the benchmark.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    pub writer_commits: u64,
    pub ring_persists: u64,
    pub batches: u64,
    pub batched_transfers: u64,
    /// Batches cut short to fit every participant's prepare in the body limit.
    #[serde(default)]
    pub batches_trimmed: u64,
    pub phase_micros: PhaseMicros,
}

/// Microseconds spent in each phase of the coordinator's batches, summed since start.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PhaseMicros {
    pub token_wait: u64,
    pub hold: u64,
    pub order_and_local_prepare: u64,
    pub remote_prepare: u64,
    pub decide: u64,
}
