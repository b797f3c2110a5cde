//! A spare bank carries customers' money while it is a member of a chaos run, so that its
//! removal exercises settlement (issue 16: "a removed bank must first have ... a settled
//! position"). Once the spare S has joined, a customer of founding member X pays a customer of
//! S, who pays the money on to a customer of founding member Y: X owes S, S owes Y. Before S
//! leaves, whatever S's customer still holds goes on to Y, then each creditor records the
//! settlement (S records X's payment, Y records S's), so that S leaves with every position
//! settled and no customer money, and the consortium audit over the remaining members balances.
//! Every step is retried under the same idempotency key until it is final (the faults go on
//! meanwhile), and bounded in time.

use std::time::{Duration, Instant};

use ringbank_client::{AdminClient, BankClient, PostOptions};
use ringbank_wire::{AccountKind, Leg, NewTransfer};

use crate::local_ring::bank_id;

const PASSWORD: &str = "chaos-spare-password-0123";
/// What X's customer deposits and pays to S's customer.
pub const AMOUNT_CENTS: i64 = 2_500;
const PAUSE: Duration = Duration::from_millis(300);
/// A transfer that ends aborted (a fault refused it) is tried again with a new key, this often.
const ATTEMPTS_MAX: u32 = 20;

/// One customer at one bank.
#[derive(Clone, Debug)]
struct Holder {
    bank: usize,
    document: String,
    account: String,
}

/// The customers of one spare's money trail: at X (payer), at the spare, at Y (payee).
#[derive(Clone, Debug)]
pub struct Trail {
    spare: usize,
    payer: Holder,
    at_spare: Holder,
    payee: Holder,
}

/// The banks of the run, by index (founding members first, then the spares).
pub struct Banks<'a> {
    pub ids: &'a [String],
    pub clients: &'a [BankClient],
    pub admins: &'a [AdminClient],
}

impl Banks<'_> {
    async fn signed_in(&self, holder: &Holder) -> Result<BankClient, String> {
        let bank = &self.clients[holder.bank];
        let session = bank.sign_in(&holder.document, PASSWORD).await.map_err(|e| format!("sign-in at {}: {e}", self.ids[holder.bank]))?;
        Ok(bank.with_token(&session.token))
    }

    /// A customer with one individual account at `bank` (signed up if new).
    async fn open(&self, bank: usize, document: String) -> Result<Holder, String> {
        let client = &self.clients[bank];
        let _ = client.sign_up(&document, "Chaos spare trail", PASSWORD).await; // may exist from an earlier try
        let mut holder = Holder { bank, document, account: String::new() };
        let client = self.signed_in(&holder).await?;
        let accounts = client.accounts().await.map_err(|e| e.to_string())?;
        holder.account = match accounts.into_iter().next() {
            Some(account) => account.number,
            None => client.open_account(AccountKind::Individual, &[]).await.map_err(|e| e.to_string())?.number,
        };
        Ok(holder)
    }

    async fn balance(&self, holder: &Holder) -> Result<i64, String> {
        let client = self.signed_in(holder).await?;
        Ok(client.account(&holder.account).await.map_err(|e| e.to_string())?.balance_cents)
    }

    /// Moves `amount` from `from`'s account to `to`'s, submitted at `from`'s bank, until it
    /// commits: the same key while the answer is unknown or pending, a new one after an abort.
    async fn pay(&self, from: &Holder, to: &Holder, amount: i64, key: &str, deadline: Instant) -> Result<String, String> {
        let transfer = NewTransfer {
            debits: vec![Leg::new(&self.ids[from.bank], &from.account, amount)],
            credits: vec![Leg::new(&self.ids[to.bank], &to.account, amount)],
            description: "chaos spare trail".to_string(),
        };
        let mut last = String::new();
        for attempt in 0..ATTEMPTS_MAX {
            let key = format!("{key}-{attempt}");
            loop {
                if Instant::now() > deadline {
                    return Err(format!("{key}: not final in time ({last})"));
                }
                // A repeat under the same key answers what the first POST answered (202 pending,
                // say): where the transfer stands now is read from its view.
                let answer = match self.signed_in(from).await {
                    Ok(client) => match client.transfer(&transfer, &PostOptions::key(key.clone())).await {
                        Ok(reply) if reply.transfer.status == "pending" => client.transfer_view(&reply.transfer.id).await,
                        Ok(reply) => Ok(reply.transfer),
                        Err(error) => Err(error),
                    }
                    .map_err(|e| e.to_string()),
                    Err(error) => Err(error),
                };
                match answer {
                    Ok(view) if view.status == "committed" => return Ok(view.id),
                    Ok(view) if view.status == "aborted" => {
                        last = format!("{} aborted: {:?}", view.id, view.reason);
                        break;
                    }
                    Ok(view) => last = format!("{} {}", view.id, view.status),
                    Err(error) => last = error,
                }
                tokio::time::sleep(PAUSE).await;
            }
        }
        Err(format!("{key}: aborted {ATTEMPTS_MAX} times, last {last}"))
    }
}

/// Retries `step` until it succeeds or `deadline` passes.
async fn retried<T, F, Fut>(deadline: Instant, mut step: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    loop {
        match step().await {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() > deadline => return Err(error),
            Err(_) => tokio::time::sleep(PAUSE).await,
        }
    }
}

/// What `carry` did: the trail (to settle later; present once its customers exist, so that the
/// leave settles whatever moved), the cash it deposited (acknowledged), and a summary or the step
/// that did not finish.
pub struct Carried {
    pub trail: Option<Trail>,
    pub deposited_cents: i64,
    pub result: Result<String, String>,
}

/// Right after spare `spare` joined: X's customer is funded and pays S's customer, who pays Y's.
pub async fn carry(banks: &Banks<'_>, spare: usize, x: usize, y: usize, deadline: Instant) -> Carried {
    let base = 850_000_000 + (std::process::id() % 1000) * 1000 + u32::try_from(spare).unwrap_or(0) * 10;
    let document = |k: u32| ringbank_domain::document::cpf_from_base(base + k);
    let opened = retried(deadline, || async {
        Ok(Trail {
            spare,
            payer: banks.open(x, document(0)).await?,
            at_spare: banks.open(spare, document(1)).await?,
            payee: banks.open(y, document(2)).await?,
        })
    })
    .await;
    let trail = match opened {
        Ok(trail) => trail,
        Err(error) => return Carried { trail: None, deposited_cents: 0, result: Err(format!("customers not opened: {error}")) },
    };
    let key = |step: &str| format!("chaos-spare-{}-{base}-{step}", bank_id(spare));
    let deposited = retried(deadline, || async {
        let client = banks.signed_in(&trail.payer).await?;
        let reply =
            client.deposit(&trail.payer.account, AMOUNT_CENTS, &PostOptions::key(key("deposit"))).await.map_err(|e| e.to_string())?;
        if reply.transfer.status == "committed" {
            Ok(())
        } else {
            Err(reply.transfer.status)
        }
    })
    .await;
    if let Err(error) = deposited {
        return Carried { trail: Some(trail), deposited_cents: 0, result: Err(format!("deposit at {}: {error}", banks.ids[x])) };
    }
    let result = match banks.pay(&trail.payer, &trail.at_spare, AMOUNT_CENTS, &key("in"), deadline).await {
        Err(error) => Err(format!("{} -> {}: {error}", banks.ids[x], banks.ids[spare])),
        Ok(_) => match banks.pay(&trail.at_spare, &trail.payee, AMOUNT_CENTS, &key("out"), deadline).await {
            Err(error) => Err(format!("{} -> {}: {error}", banks.ids[spare], banks.ids[y])),
            Ok(_) => Ok(format!(
                "R$ {},{:02} carried {} -> {} -> {}",
                AMOUNT_CENTS / 100,
                AMOUNT_CENTS % 100,
                banks.ids[x],
                banks.ids[spare],
                banks.ids[y]
            )),
        },
    };
    Carried { trail: Some(trail), deposited_cents: AMOUNT_CENTS, result }
}

/// Before the spare leaves: its customer's money goes on to Y, then each position of the spare
/// is settled at its creditor, until the spare reports every position at zero. Returns the
/// settlements recorded.
pub async fn settle_up(banks: &Banks<'_>, trail: Option<&Trail>, spare: usize, deadline: Instant) -> Result<String, String> {
    let mut done = Vec::new();
    if let Some(trail) = trail {
        let left = retried(deadline, || banks.balance(&trail.at_spare)).await?;
        if left > 0 {
            let key = format!("chaos-spare-{}-{}-rest", bank_id(trail.spare), trail.at_spare.document);
            banks.pay(&trail.at_spare, &trail.payee, left, &key, deadline).await?;
            done.push(format!("R$ {},{:02} paid on to {}", left / 100, left % 100, banks.ids[trail.payee.bank]));
        }
    }
    let me = &banks.ids[spare];
    // Per peer: bumped after an abort, so that the next try is a new settlement.
    let mut rounds: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
    // Keys already answered committed: the creditor commits first and the spare learns the
    // outcome after, so a round may still see that position and ask again under the same key
    // (answered committed again, recorded once); it is reported once.
    let mut committed: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    loop {
        let positions = match banks.admins[spare].settlements().await {
            Ok(view) => view["positions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|p| Some((p["bank"].as_str()?.to_string(), p["position_cents"].as_i64()?)))
                .filter(|(_, position)| *position != 0)
                .collect::<Vec<_>>(),
            Err(error) if Instant::now() > deadline => return Err(format!("positions at {me}: {error}")),
            Err(_) => {
                tokio::time::sleep(PAUSE).await;
                continue;
            }
        };
        if positions.is_empty() {
            return Ok(if done.is_empty() { "nothing to settle".to_string() } else { done.join("; ") });
        }
        if Instant::now() > deadline {
            return Err(format!("positions of {me} not settled in time: {positions:?} ({})", done.join("; ")));
        }
        for (peer, position) in positions {
            let Some(peer_index) = banks.ids.iter().position(|id| *id == peer) else { continue };
            // Negative: the peer owes the spare, the spare is the creditor; positive: the reverse.
            let (creditor, debtor, amount) = if position < 0 { (spare, peer_index, -position) } else { (peer_index, spare, position) };
            let round = rounds.entry(peer.clone()).or_default();
            let key = format!("chaos-settle-{me}-{peer}-{amount}-{round}");
            let reference = format!("chaos: {} paid {} outside the ring", banks.ids[debtor], banks.ids[creditor]);
            match banks.admins[creditor].settle(&banks.ids[debtor], amount, &reference, Some(&key)).await {
                Ok(answer) if answer["status"] == "committed" => {
                    if committed.insert(key) {
                        done.push(format!(
                            "{} recorded R$ {},{:02} from {}",
                            banks.ids[creditor],
                            amount / 100,
                            amount % 100,
                            banks.ids[debtor]
                        ));
                    }
                }
                // Aborted: a new key next round. Pending or unknown: the positions say.
                Ok(answer) if answer["status"] == "aborted" => *round += 1,
                Ok(_) | Err(_) => {}
            }
        }
        tokio::time::sleep(PAUSE).await;
    }
}
