//! A customer's transfer limits on an account they hold (per transfer, per day, at night), and
//! their own over every account they hold here: read with what is left of each now, and changed
//! (lower at once, raise after the bank's delay).
//! The limits are enforced by the ledger where debits are serialized, not here.

use serde::{Deserialize, Deserializer, Serialize};

use ringbank_domain::{LimitUsage, LimitWindow, Limits};

use super::operations::account_field;
use super::{Caller, ServiceError, Services};
use crate::clock::wall_clock_ms;
use crate::ledger::limits::{LimitSubject, LimitsView, SetLimits};
use crate::ledger::{Job, LedgerError, Outcome};

/// A change of limits. A field left out keeps the value in force; `null` is no limit (a raise).
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct LimitsRequest {
    #[serde(default, deserialize_with = "present")]
    pub per_transfer_cents: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub daily_cents: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub night_cents: Option<Option<i64>>,
}

/// A field given (even as null) is `Some`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(deserializer).map(Some)
}

/// An account's limits, or a customer's own, as the API and the pages show them.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct LimitsStatus {
    /// The account (its limits), or absent for the customer's own limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The customer (their own limits, over every account they hold here), or absent for an
    /// account's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// The limits in force now (`null`: no limit).
    pub per_transfer_cents: Option<i64>,
    pub daily_cents: Option<i64>,
    pub night_cents: Option<i64>,
    /// Whether it is night (20:00-06:00) in the bank's time zone now.
    pub night_now: bool,
    /// What the account debited today and this night (0 by day).
    pub used_today_cents: i64,
    pub used_tonight_cents: i64,
    /// What is left today, and of the night limit (`null`: no limit; by day the night limit's
    /// whole amount for the coming night).
    pub daily_left_cents: Option<i64>,
    pub night_left_cents: Option<i64>,
    /// A raise asked for and not yet in force: the limits it sets and when (RFC 3339).
    pub raise: Option<PendingRaise>,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct PendingRaise {
    pub per_transfer_cents: Option<i64>,
    pub daily_cents: Option<i64>,
    pub night_cents: Option<i64>,
    pub applies_at: String,
    pub applies_at_ms: i64,
}

fn status(view: &LimitsView, window: &LimitWindow, used: LimitUsage) -> LimitsStatus {
    let limits = view.setting.effective(window.now_ms);
    let left = |limit: Option<i64>, used: i64| limit.map(|l| l.saturating_sub(used).max(0));
    let (account, customer) = match &view.subject {
        LimitSubject::Account(account) => (Some(account.clone()), None),
        LimitSubject::Customer(document) => (None, Some(document.clone())),
    };
    LimitsStatus {
        account,
        customer,
        per_transfer_cents: limits.per_transfer_cents,
        daily_cents: limits.daily_cents,
        night_cents: limits.night_cents,
        night_now: window.is_night(),
        used_today_cents: used.today_cents,
        used_tonight_cents: used.tonight_cents,
        daily_left_cents: left(limits.daily_cents, used.today_cents),
        night_left_cents: left(limits.night_cents, used.tonight_cents),
        raise: view.setting.waiting(window.now_ms).map(|(raise, at_ms)| PendingRaise {
            per_transfer_cents: raise.per_transfer_cents,
            daily_cents: raise.daily_cents,
            night_cents: raise.night_cents,
            applies_at: rfc3339(at_ms),
            applies_at_ms: at_ms,
        }),
    }
}

fn rfc3339(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(time).to_string()
}

/// The limits of an account the caller holds, and what is left of them now.
pub async fn get(state: &Services, caller: &Caller, number: &str) -> Result<LimitsStatus, ServiceError> {
    let account = account_field("account", number).map_err(|_| LedgerError::AccountNotFound(number.to_string()))?;
    let view = state.ledger.limits_for(&account, &caller.document).await?.ok_or_else(|| LedgerError::AccountNotFound(account.clone()))?;
    let window = state.limit_window(wall_clock_ms());
    let used = state.ledger.limit_usage(&account, &window).await?;
    Ok(status(&view, &window, used))
}

/// The caller's own limits, over every account they hold here, and what is left of them now.
pub async fn get_own(state: &Services, caller: &Caller) -> Result<LimitsStatus, ServiceError> {
    let view = state.ledger.customer_limits(&caller.document).await?;
    let window = state.limit_window(wall_clock_ms());
    let used = state.ledger.customer_usage(&caller.document, &window).await?;
    Ok(status(&view, &window, used))
}

/// Changes the limits of an account the caller holds: what is lowered applies at once, what is
/// raised only after the bank's delay (`--limit-raise-delay`).
pub async fn set(state: &Services, caller: &Caller, number: &str, request: &LimitsRequest) -> Result<LimitsStatus, ServiceError> {
    let account = account_field("account", number).map_err(|_| LedgerError::AccountNotFound(number.to_string()))?;
    let view = state.ledger.limits_for(&account, &caller.document).await?.ok_or_else(|| LedgerError::AccountNotFound(account.clone()))?;
    let view = change(state, caller, view, request).await?;
    let window = state.limit_window(wall_clock_ms());
    let used = state.ledger.limit_usage(&account, &window).await?;
    Ok(status(&view, &window, used))
}

/// Changes the caller's own limits, over every account they hold here, by the same rules.
pub async fn set_own(state: &Services, caller: &Caller, request: &LimitsRequest) -> Result<LimitsStatus, ServiceError> {
    let view = state.ledger.customer_limits(&caller.document).await?;
    let view = change(state, caller, view, request).await?;
    let window = state.limit_window(wall_clock_ms());
    let used = state.ledger.customer_usage(&caller.document, &window).await?;
    Ok(status(&view, &window, used))
}

/// The change `request` asks of the limits `view` shows, stored by the ledger.
async fn change(state: &Services, caller: &Caller, view: LimitsView, request: &LimitsRequest) -> Result<LimitsView, ServiceError> {
    let now_ms = wall_clock_ms();
    // Fields left out keep what is in force (or the raise already asked for, if one waits).
    let base = view.setting.waiting(now_ms).map(|(raise, _)| raise).unwrap_or_else(|| view.setting.effective(now_ms));
    let wanted = Limits {
        per_transfer_cents: request.per_transfer_cents.unwrap_or(base.per_transfer_cents),
        daily_cents: request.daily_cents.unwrap_or(base.daily_cents),
        night_cents: request.night_cents.unwrap_or(base.night_cents),
    };
    wanted.check_shape().map_err(ServiceError::InvalidField)?;
    for (name, value) in
        [("per_transfer_cents", wanted.per_transfer_cents), ("daily_cents", wanted.daily_cents), ("night_cents", wanted.night_cents)]
    {
        if value.is_some_and(|v| v > i64::MAX / 4) {
            return Err(ServiceError::InvalidField(format!("{name} is too large")));
        }
    }
    let raise_delay_ms = i64::try_from(state.config.limit_raise_delay.as_millis()).unwrap_or(i64::MAX);
    let job = Job::SetLimits(SetLimits { caller: caller.document.clone(), subject: view.subject, wanted, now_ms, raise_delay_ms });
    match state.ledger.submit(job, None).await? {
        Outcome::Limits(view) => Ok(view),
        other => Err(ServiceError::Internal(format!("unexpected outcome {other:?}"))),
    }
}
