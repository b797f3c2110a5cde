//! `ringbank members --bank URL-or-ID list|add|remove|positions|settle`: the ring's member list at
//! one bank, and membership changes ordered through it (POST/DELETE /admin/v1/ring/members). The
//! change is put on the token at that bank's next pass; `list` at any member shows when it is
//! committed. `positions` and `settle` read and lower the bank's positions with members
//! (/admin/v1/settlements), which must be zero before a member is removed.

use std::time::Duration;

use ringbank_client::AdminClient;

use crate::args::{ApproveChange, MembersAction, MembersArgs};
use crate::fault_cli::bank_url;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(args: MembersArgs) -> Result<std::process::ExitCode, String> {
    let secret = args.target.admin_secret.clone().ok_or("membership needs the admin secret: --admin-secret or RINGBANK_ADMIN_SECRET")?;
    let url = bank_url(&args.target.bank, &args.target.peers)?;
    let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().map_err(|e| e.to_string())?;
    let admin = AdminClient::with_http(http, &url, &secret);
    let answer = match &args.action {
        MembersAction::List => admin.ring_members().await,
        MembersAction::Add { bank, approvals } => {
            let key = bank.public_key.ok_or_else(|| format!("{}: the new bank's public key is required (ID=URL=ed25519:HEX)", bank.id))?;
            admin.add_member(&bank.id, &bank.url, &key.to_string(), approvals).await
        }
        MembersAction::Remove { id, approvals } => admin.remove_member(id, approvals).await,
        MembersAction::Approve { change: ApproveChange::Add { bank } } => {
            let key = bank.public_key.ok_or_else(|| format!("{}: the new bank's public key is required (ID=URL=ed25519:HEX)", bank.id))?;
            admin.approve_member(&bank.id, Some((&bank.url, &key.to_string()))).await
        }
        MembersAction::Approve { change: ApproveChange::Remove { id } } => admin.approve_member(id, None).await,
        MembersAction::Positions => admin.settlements().await,
        MembersAction::Settle { from, amount_cents, reference, idempotency_key } => {
            admin.settle(from, *amount_cents, reference, idempotency_key.as_deref()).await
        }
    }
    .map_err(|e| e.to_string())?;
    println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
    Ok(std::process::ExitCode::SUCCESS)
}
