//! Who an account belongs to, as a payer may see it before paying (the review step of the
//! pages): the account's kind and its holders' names and documents, which the pages show
//! masked. Read-only, on the read pool.

use super::{Ledger, LedgerError};

/// A customer account's kind and holders (names and canonical documents).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub number: String,
    /// individual, joint or company
    pub kind: String,
    /// (document, name), ordered by document.
    pub holders: Vec<(String, String)>,
}

impl Ledger {
    /// The customer account `number` (never one of the bank's own accounts), or None.
    pub async fn recipient(&self, number: &str) -> Result<Option<Recipient>, LedgerError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT a.kind, c.document, c.name FROM accounts a \
             JOIN account_holders h ON h.account = a.number \
             JOIN customers c ON c.document = h.document \
             WHERE a.number = $1 AND a.kind IN ('individual', 'joint', 'company') \
             ORDER BY c.document",
        )
        .bind(number)
        .fetch_all(self.read_pool())
        .await?;
        let Some(kind) = rows.first().map(|(kind, _, _)| kind.clone()) else { return Ok(None) };
        Ok(Some(Recipient { number: number.to_string(), kind, holders: rows.into_iter().map(|(_, d, n)| (d, n)).collect() }))
    }
}
