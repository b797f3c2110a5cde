//! Refunds (devolução) as the customer asks for them: the receiver of a transfer or payment
//! returns it, fully or in parts, within the refund window (90 days). The ledger checks the
//! original and what is left to refund in the job that posts the refund.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::operations::{account_field, check_amount, clean_text, post_money};
use super::{Caller, ServiceError, Services};
use crate::clock::{new_id, wall_clock_ms};
use crate::ledger::refunds::{RefundJob, RefundLine};
use crate::ledger::{Job, LedgerError, Posted};

/// Longest note of a refund, in characters (after "devolução de <id>: ").
pub const NOTE_MAX_CHARS: usize = 80;

#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// The caller's account the original credited (the refund debits it).
    pub account: String,
    pub amount_cents: i64,
    #[serde(default)]
    pub description: String,
}

/// A transfer id as this bank makes them (a prefix, '_', hex digits); anything else names no
/// transfer.
pub fn transfer_id(text: &str) -> Result<String, ServiceError> {
    let text = text.trim();
    let valid = (3..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(text.to_string())
    } else {
        Err(LedgerError::TransferNotFound(text.chars().take(64).collect()).into())
    }
}

/// Refunds `request.amount_cents` of `original` from the caller's account, under an optional
/// Idempotency-Key.
pub async fn refund(
    state: &Arc<Services>,
    caller: &Caller,
    original: &str,
    request: &RefundRequest,
    key: Option<String>,
) -> Result<Posted, ServiceError> {
    let original = transfer_id(original)?;
    check_amount(state, "amount_cents", request.amount_cents)?;
    let account = account_field("account", &request.account)?;
    let note = clean_text("description", &request.description, 0, NOTE_MAX_CHARS)?;
    let job = Job::Refund(RefundJob {
        id: new_id("rf"),
        caller: caller.document.clone(),
        original: original.clone(),
        account,
        amount_cents: request.amount_cents,
        note,
        now_ms: wall_clock_ms(),
        window_ms: i64::try_from(state.config.refund_window.as_millis()).unwrap_or(i64::MAX),
        members: state.cross.ring.members().ids(),
    });
    let canonical = format!("{original}\n{}", serde_json::to_string(request).unwrap_or_default());
    post_money(state, caller, "refunds", job, &canonical, key).await
}

/// The refunds of `original` the caller took part in, and their total.
pub async fn refunds_of(state: &Services, caller: &Caller, original: &str) -> Result<(Vec<RefundLine>, i64), ServiceError> {
    let original = transfer_id(original)?;
    let lines = state.ledger.refunds_of(&original, &caller.document).await?;
    let total = lines.iter().map(|l| l.amount_cents).sum();
    Ok((lines, total))
}
