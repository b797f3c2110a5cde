//! The statement as the pages show it: lines of an account within a date range, each with
//! the other side's names (accounts at this bank on the other side of the same entry) and
//! whether the reader may open its comprovante (a transfer or payment the reader initiated).
//! Read-only, on the read pool.

use super::{Ledger, LedgerError, StatementLine};

/// Which lines: older than `before` (a line number), created in [from_ms, until_ms).
#[derive(Clone, Copy, Debug)]
pub struct StatementFilter {
    pub before: Option<i64>,
    pub from_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: u32,
}

/// One statement line with what the pages add to it.
#[derive(Clone, Debug)]
pub struct StatementRow {
    pub line: StatementLine,
    pub created_at_ms: i64,
    /// (name, document) of the holders of the accounts on the other side, at this bank.
    pub counterparties: Vec<(String, String)>,
    /// A transfer or payment the reader initiated: its comprovante is /transfers/{entry_id}.
    pub has_receipt: bool,
}

/// The lines of a statement page (account, before, from, until, limit): every column is in
/// legs_statement, so the lines come from that index alone (statement_lines_tests checks the plan).
pub(super) const STATEMENT_LINES: &str = "SELECT entry_id, kind, description, amount_cents, balance_after_cents, account_leg_number, \
     created_at_ms FROM legs WHERE account = $1 AND account_leg_number < $2 AND created_at_ms >= $3 AND created_at_ms < $4 \
     ORDER BY account_leg_number DESC LIMIT $5";

impl Ledger {
    /// Lines of `account`, newest first, at most `filter.limit`, and the `before` of the next
    /// (older) page if there is one.
    pub async fn statement_rows(
        &self,
        account: &str,
        reader: &str,
        filter: StatementFilter,
    ) -> Result<(Vec<StatementRow>, Option<i64>), LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        let rows: Vec<(String, String, String, i64, i64, i64, i64)> = sqlx::query_as(STATEMENT_LINES)
            .bind(account)
            .bind(filter.before.unwrap_or(i64::MAX))
            .bind(filter.from_ms.unwrap_or(i64::MIN))
            .bind(filter.until_ms.unwrap_or(i64::MAX))
            .bind(i64::from(filter.limit) + 1)
            .fetch_all(&mut *connection)
            .await?;
        let more = rows.len() > filter.limit as usize;
        let mut out = Vec::with_capacity(rows.len().min(filter.limit as usize));
        for (entry_id, kind, description, amount_cents, balance_after_cents, line, created) in rows.into_iter().take(filter.limit as usize)
        {
            let moves_money_between_customers = kind == "transfer" || kind == "payment";
            let (counterparties, has_receipt) = if moves_money_between_customers {
                let counterparties: Vec<(String, String)> = sqlx::query_as(
                    "SELECT DISTINCT c.name, c.document FROM legs l \
                     JOIN account_holders h ON h.account = l.account \
                     JOIN customers c ON c.document = h.document \
                     WHERE l.entry_id = $1 AND l.account <> $2 \
                     AND ((l.amount_cents > 0 AND $3 < 0) OR (l.amount_cents < 0 AND $4 > 0)) \
                     ORDER BY c.document",
                )
                .bind(&entry_id)
                .bind(account)
                .bind(amount_cents)
                .bind(amount_cents)
                .fetch_all(&mut *connection)
                .await?;
                let initiated: Option<(String,)> = sqlx::query_as("SELECT id FROM transfers WHERE id = $1 AND initiated_by = $2")
                    .bind(&entry_id)
                    .bind(reader)
                    .fetch_optional(&mut *connection)
                    .await?;
                (counterparties, initiated.is_some())
            } else {
                (Vec::new(), false)
            };
            out.push(StatementRow {
                line: StatementLine {
                    entry_id,
                    kind,
                    description,
                    amount_cents,
                    balance_after_cents,
                    line,
                    created_at: super::queries::rfc3339(created),
                },
                created_at_ms: created,
                counterparties,
                has_receipt,
            });
        }
        let next_before = if more { out.last().map(|r| r.line.line) } else { None };
        Ok((out, next_before))
    }
}
