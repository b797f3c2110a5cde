//! What the customer may use at the other banks of the ring: the accounts covered by the
//! consents they brought from each bank (`linked_consents`), asked over the signed bank-to-bank
//! endpoint POST /bank/v1/accounts-of {consents}, all at once and each with a short timeout (a
//! bank without a consent of theirs is not asked: a document proves nothing there). A bank that
//! does not answer is reported as unavailable; the page that asked still renders.

use std::time::Duration;

use serde::Deserialize;

use crate::http::state::AppState;
use crate::ledger::AccountView;
use crate::peer::Member;

/// Longest wait for one bank's answer (the peer client's own timeout is shorter still).
const ASK_TIMEOUT: Duration = Duration::from_millis(800);

/// An account as another bank sends it (the JSON of ledger::AccountView).
#[derive(Debug, Deserialize)]
struct RemoteAccount {
    bank: String,
    number: String,
    kind: String,
    holders: Vec<String>,
    balance_cents: i64,
    available_cents: i64,
}

/// One other bank of the ring and what it said.
#[derive(Debug)]
pub struct BankAccounts {
    pub bank: String,
    /// None when the bank did not answer (down, partitioned, too slow).
    pub accounts: Option<Vec<AccountView>>,
}

/// The consents `document` brought from `bank`.
async fn consents_from(state: &AppState, document: &str, bank: &str) -> Vec<String> {
    match state.ledger.linked_consents(document).await {
        Ok(list) => list.into_iter().filter(|c| c.bank == bank).map(|c| c.consent_id).take(100).collect(),
        Err(error) => {
            tracing::warn!(%error, "cannot read linked consents");
            Vec::new()
        }
    }
}

/// The accounts `document` may use at every other member of the ring, in member order.
pub async fn accounts_elsewhere(state: &AppState, document: &str) -> Vec<BankAccounts> {
    let me = state.bank();
    let members = state.ring.members();
    let asks = members.list.iter().filter(|m| m.id != me).map(|member| ask(state, member, document));
    futures_util::future::join_all(asks).await
}

/// The accounts of one other bank, or None if it is not a member or did not answer.
pub async fn accounts_at(state: &AppState, bank: &str, document: &str) -> Option<Vec<AccountView>> {
    let members = state.ring.members();
    let member = members.list.iter().find(|m| m.id == bank && bank != state.bank())?;
    ask(state, member, document).await.accounts
}

async fn ask(state: &AppState, member: &Member, document: &str) -> BankAccounts {
    let consents = consents_from(state, document, &member.id).await;
    if consents.is_empty() {
        return BankAccounts { bank: member.id.clone(), accounts: Some(Vec::new()) };
    }
    let body = serde_json::json!({ "consents": consents });
    let call = state.peers.call::<_, Vec<RemoteAccount>>(&member.url, "/bank/v1/accounts-of", &body);
    let accounts = match tokio::time::timeout(ASK_TIMEOUT, call).await {
        Ok(Ok(list)) => Some(
            list.into_iter()
                .filter(|a| a.bank == member.id)
                .map(|a| AccountView {
                    bank: a.bank,
                    number: a.number,
                    kind: a.kind,
                    holders: a.holders,
                    pending_holders: Vec::new(),
                    balance_cents: a.balance_cents,
                    available_cents: a.available_cents,
                })
                .collect(),
        ),
        Ok(Err(error)) => {
            tracing::info!(bank = %member.id, %error, "accounts-of failed");
            None
        }
        Err(_) => {
            tracing::info!(bank = %member.id, "accounts-of timed out");
            None
        }
    };
    BankAccounts { bank: member.id.clone(), accounts }
}
