//! Cross-bank transfers in the ledger: the origin's pending transfers and their place in the
//! global order, the coordinator's decisions and their delivery, and each participant's
//! durable vote, holds, and the posting or release that resolves them exactly once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ringbank_ring::Stamp;
use ringbank_twopc::{
    Accounts, BankId, Message, Participant, ParticipantAction, ParticipantConfig, ParticipantState, ParticipantWrite, Participation,
    ParticipationStatus, VoteRecord,
};
use sqlx::AnyConnection;

use super::consent;
use super::cross_rows;
use super::limits::Owner;
use super::ops::{customer_account_kind, insert_transfer_leg, require_holder};
use super::{Ledger, LedgerError, LocalTransfer, Outcome, TransferKind};
use crate::clock::wall_clock_ms;
use crate::protocol::Vote;

/// The settlement account this bank keeps for a peer bank.
pub fn settlement_account(peer: &str) -> String {
    format!("settlement:{peer}")
}

/// A coordinator's decision on one transfer.
#[derive(Clone, Debug)]
pub struct Decision {
    pub id: String,
    pub commit: bool,
    pub reason: Option<String>,
    pub participants: Vec<String>,
    /// The coordinator's signature over the decision (the receipt), stored with it.
    pub receipt: Option<ringbank_domain::SignedDecision>,
}

/// A pending transfer as the coordinator runs it.
#[derive(Clone, Debug)]
pub struct PendingTransfer {
    pub id: String,
    pub kind: String,
    pub initiated_by: String,
    pub description: String,
    /// (bank, account, signed amount): negative debits, positive credits.
    pub legs: Vec<(String, String, i64)>,
    /// The consent a debit at another bank carries, by (bank, account).
    pub consents: HashMap<(String, String), String>,
    /// A refund: the transfer it returns.
    pub refund_of: Option<String>,
}

impl PendingTransfer {
    /// The consent the leg on `account` at `bank` carries, if any.
    pub fn consent_of(&self, bank: &str, account: &str) -> Option<String> {
        self.consents.get(&(bank.to_string(), account.to_string())).cloned()
    }
}

/// One transfer this bank originated, as the coordinator finds it again after a restart.
#[derive(Clone, Debug)]
pub struct CoordinatorRecord {
    pub transfer: PendingTransfer,
    /// Its place in the global order: (stamp, position).
    pub order: Option<(Stamp, u32)>,
    /// The logged decision: commit if true.
    pub decision: Option<bool>,
    /// The banks that have not acknowledged the decision yet.
    pub undelivered: Vec<String>,
}

/// Stores a transfer with legs at other banks as pending, after checking its legs here.
pub(super) async fn submit(connection: &mut AnyConnection, bank: &str, transfer: &LocalTransfer) -> Result<Outcome, LedgerError> {
    for debit in transfer.debits.iter().filter(|l| l.bank == bank) {
        require_holder(connection, &debit.account, &transfer.initiated_by).await?;
    }
    // Refused at once if a limit already refuses the debits here; what decides is the check in
    // the vote (`prepare`), where this bank's debits are serialized.
    if let Some(window) = &transfer.limit_window {
        let here: Vec<(&str, i64)> =
            transfer.debits.iter().filter(|l| l.bank == bank).map(|l| (l.account.as_str(), l.amount_cents)).collect();
        super::limits::check_local(connection, &here, &transfer.initiated_by, window).await?;
    }
    for credit in transfer.credits.iter().filter(|l| l.bank == bank) {
        let kind = customer_account_kind(connection, &credit.account).await?;
        if transfer.kind == TransferKind::Payment && kind != super::AccountKind::Company {
            return Err(LedgerError::NotACompanyAccount(credit.account.clone()));
        }
    }
    sqlx::query(
        "INSERT INTO transfers (id, kind, initiated_by, description, status, reason, entry_id, created_at_ms, origin) \
         VALUES ($1, $2, $3, $4, 'pending', NULL, NULL, $5, $6)",
    )
    .bind(&transfer.id)
    .bind(transfer.kind.as_str())
    .bind(&transfer.initiated_by)
    .bind(&transfer.description)
    .bind(wall_clock_ms())
    .bind(bank)
    .execute(&mut *connection)
    .await?;
    let sides = transfer.debits.iter().map(|l| ("debit", l)).chain(transfer.credits.iter().map(|l| ("credit", l)));
    for (position, (side, leg)) in sides.enumerate() {
        insert_transfer_leg(connection, &transfer.id, position, side, leg).await?;
    }
    consent::store_leg_consents(connection, &transfer.id, &transfer.debits).await?;
    Ok(Outcome::Posted(super::Posted { id: transfer.id.clone(), status: ringbank_domain::TransferStatus::Pending }))
}

/// An interbank settlement as the creditor's operator records it: `peer` paid this bank
/// `amount_cents` of reserves outside the ring (`reference` says how), so this bank's claim on
/// `peer` goes down by that much, and so does `peer`'s debt to it (`TransferKind::Settlement`).
#[derive(Clone, Debug)]
pub struct Settlement {
    pub id: String,
    pub peer: String,
    pub amount_cents: i64,
    pub reference: String,
}

/// A settlement this bank recorded as creditor: `from` paid it `amount_cents`; its status
/// (pending, committed, aborted) and the reason of an abort.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SettlementRecord {
    pub id: String,
    pub from: String,
    pub amount_cents: i64,
    pub status: String,
    pub reason: Option<String>,
    pub reference: String,
    pub created_at_ms: i64,
}

/// Stores a settlement as a pending cross-bank transfer of `SETTLEMENT_INITIATOR`: a debit of
/// this bank's reserves account (reserves received) and a credit of `peer`'s (reserves paid);
/// the coordinator derives the settlement legs. Refused here if this bank's claim on `peer`, with
/// the settlements of it in doubt, does not cover the amount; the votes check it again.
pub(super) async fn submit_settlement(connection: &mut AnyConnection, bank: &str, settlement: &Settlement) -> Result<Outcome, LedgerError> {
    let position = position(connection, &settlement_account(&settlement.peer)).await?;
    let owed = position.balance_cents.saturating_add(position.pending_up_cents).saturating_neg().max(0);
    let pending: (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(l.amount_cents), 0) AS BIGINT) FROM transfers t JOIN transfer_legs l ON l.transfer_id = t.id \
         WHERE t.status = 'pending' AND t.initiated_by = $1 AND l.side = 'credit' AND l.bank = $2 \
           AND NOT EXISTS (SELECT 1 FROM participations p WHERE p.transfer_id = t.id)",
    )
    .bind(ringbank_twopc::SETTLEMENT_INITIATOR)
    .bind(&settlement.peer)
    .fetch_one(&mut *connection)
    .await?;
    // Settlements voted on here are in `pending_up_cents` already; the rest are counted here.
    let left = owed.saturating_sub(pending.0);
    if settlement.amount_cents > left {
        let brl = ringbank_domain::money::format_brl;
        return Err(LedgerError::SettlementRefused(format!(
            "bank {} owes this bank {} (transfers in doubt and settlements not yet decided counted against it); a settlement of {} would exceed it",
            settlement.peer,
            brl(left),
            brl(settlement.amount_cents)
        )));
    }
    sqlx::query(
        "INSERT INTO transfers (id, kind, initiated_by, description, status, reason, entry_id, created_at_ms, origin) \
         VALUES ($1, 'transfer', $2, $3, 'pending', NULL, NULL, $4, $5)",
    )
    .bind(&settlement.id)
    .bind(ringbank_twopc::SETTLEMENT_INITIATOR)
    .bind(&settlement.reference)
    .bind(wall_clock_ms())
    .bind(bank)
    .execute(&mut *connection)
    .await?;
    let reserves = ringbank_twopc::RESERVES_ACCOUNT.to_string();
    let received = super::Leg { bank: bank.to_string(), account: reserves.clone(), amount_cents: settlement.amount_cents, consent: None };
    let paid = super::Leg { bank: settlement.peer.clone(), account: reserves, amount_cents: settlement.amount_cents, consent: None };
    insert_transfer_leg(connection, &settlement.id, 0, "debit", &received).await?;
    insert_transfer_leg(connection, &settlement.id, 1, "credit", &paid).await?;
    Ok(Outcome::Posted(super::Posted { id: settlement.id.clone(), status: ringbank_domain::TransferStatus::Pending }))
}

/// Gives each transfer of a batch its place in the global order, before any prepare is sent.
pub(super) async fn order_batch(
    connection: &mut AnyConnection,
    ids: &[String],
    stamp: Stamp,
    first_position: u32,
) -> Result<Outcome, LedgerError> {
    let epoch = i64::try_from(stamp.epoch).unwrap_or(i64::MAX);
    let seq = i64::try_from(stamp.seq).unwrap_or(i64::MAX);
    cross_rows::order(connection, ids, epoch, seq, u64::from(first_position)).await?;
    Ok(Outcome::Done)
}

/// A prepare for the participant core, as the driver built it from the wire (bank names mapped
/// to the core's `BankId`, the index in `banks`).
#[derive(Clone, Debug)]
pub struct PrepareJob {
    /// The sending bank (authenticated by the transport, or this bank for its own batch).
    pub from: BankId,
    pub prepare: ringbank_twopc::Prepare,
    /// This bank's ring promise when the prepare arrived.
    pub ring_promised_epoch: u64,
    pub config: ParticipantConfig,
    /// Checks the prepare's certificate.
    pub keys: ringbank_twopc::Keys,
    /// Member bank names by `BankId`.
    pub banks: Arc<Vec<String>>,
    /// The periods of the customers' transfer limits now (the bank's clock and time zone).
    pub limit_window: ringbank_domain::LimitWindow,
}

/// Outcomes for the participant core: delivered by their coordinator, or learned by a query.
#[derive(Clone, Debug)]
pub struct OutcomeJob {
    /// The bank that sent them.
    pub from: BankId,
    /// The coordinator they are the outcomes of.
    pub coordinator: BankId,
    pub outcomes: Vec<ringbank_twopc::OutcomeItem>,
    /// True for an answer to our query (`Participant::on_known`), false for a delivery (`on_outcome`).
    pub learned: bool,
    pub config: ParticipantConfig,
    pub keys: ringbank_twopc::Keys,
    pub banks: Arc<Vec<String>>,
}

fn bank_name(banks: &[String], id: BankId) -> Result<&str, LedgerError> {
    banks.get(usize::from(id)).map(String::as_str).ok_or_else(|| LedgerError::Invariant(format!("no member bank {id}")))
}

fn status_text(status: ParticipationStatus) -> &'static str {
    match status {
        ParticipationStatus::Prepared => "prepared",
        ParticipationStatus::Committed => "committed",
        ParticipationStatus::Aborted => "aborted",
    }
}

fn status_of(text: &str) -> Result<ParticipationStatus, LedgerError> {
    match text {
        "prepared" => Ok(ParticipationStatus::Prepared),
        "committed" => Ok(ParticipationStatus::Committed),
        "aborted" => Ok(ParticipationStatus::Aborted),
        other => Err(LedgerError::Invariant(format!("participation status {other:?}"))),
    }
}

/// The participant's durable record of `id`, as the core sees it (holds and postings are not
/// needed to vote or to apply: the ledger resolves them from its own rows).
/// The participations recorded for `ids` (one statement), as the core sees them, with their
/// kind and description.
async fn load_participations(
    connection: &mut AnyConnection,
    banks: &[String],
    ids: &[&str],
) -> Result<HashMap<String, (Participation, String, String)>, LedgerError> {
    let rows = cross_rows::participations(connection, ids).await?;
    let mut found = HashMap::with_capacity(rows.len());
    for (id, row) in rows {
        let (kind, description) = (row.4.clone(), row.5.clone());
        found.insert(id, (participation_of(banks, row)?, kind, description));
    }
    Ok(found)
}

fn participation_of(banks: &[String], row: cross_rows::ParticipationRow) -> Result<Participation, LedgerError> {
    let (coordinator, participants, status, reason, _, _) = row;
    let id_of = |name: &str| banks.iter().position(|b| b == name).and_then(|i| BankId::try_from(i).ok());
    // A record from a bank no longer configured keeps a coordinator no member matches.
    let coordinator = id_of(&coordinator).unwrap_or(BankId::MAX);
    let status = status_of(&status)?;
    let tombstone = participants.is_empty() && status == ParticipationStatus::Aborted;
    Ok(Participation {
        coordinator,
        participants: participants.split(',').filter_map(id_of).collect(),
        voted_yes: if tombstone { None } else { Some(status != ParticipationStatus::Aborted || reason.is_none()) },
        reason,
        status,
        holds: Vec::new(),
        postings: Vec::new(),
        consent_uses: Vec::new(),
    })
}

/// The ledger's view of the accounts a prepare names, read inside the transaction that stores
/// the vote, so nothing changes between the check and the holds.
struct AccountsView {
    /// Customer accounts: number -> (kind, balance minus holds).
    customer: HashMap<String, (String, i64)>,
    /// (account, document) pairs where the document holds the account.
    holders: HashSet<(String, String)>,
    /// The consents the prepare's debits name, by id.
    consents: HashMap<String, ringbank_twopc::ConsentView>,
    /// The transfer limits in force on the debited customer accounts, with their usage.
    limits: HashMap<String, ringbank_twopc::AccountLimits>,
    /// The initiators' own limits in force (over every account they hold here), with their usage.
    customer_limits: HashMap<String, ringbank_twopc::AccountLimits>,
    /// For the refunds in the prepare: (original, account) where the original debited the
    /// account here (the only accounts a refund of it may credit), with what is left to refund
    /// to it: what the original debited less the refunds of it this bank voted yes on (prepared
    /// or committed), less what this prepare's earlier refunds took (a Mutex: `check_leg` reads
    /// through `&self`; a refund refused later for another reason still counts, which only
    /// refuses more).
    refundable: std::sync::Mutex<HashMap<(String, String), i64>>,
    /// For the settlements in the prepare: this bank's position with each peer they name.
    positions: HashMap<BankId, ringbank_twopc::Position>,
}

impl AccountsView {
    async fn read(
        connection: &mut AnyConnection,
        prepare: &ringbank_twopc::Prepare,
        banks: &[String],
        window: &ringbank_domain::LimitWindow,
    ) -> Result<AccountsView, LedgerError> {
        let consents = consent::views(connection, prepare, banks).await?;
        let mut view = AccountsView {
            customer: HashMap::new(),
            holders: HashSet::new(),
            consents,
            limits: HashMap::new(),
            customer_limits: HashMap::new(),
            refundable: Default::default(),
            positions: HashMap::new(),
        };
        let settled_with: HashSet<BankId> = prepare
            .transfers
            .iter()
            .filter(|item| {
                item.kind == ringbank_twopc::TransferKind::Settlement
                    || item.legs.iter().any(|leg| leg.account == ringbank_twopc::RESERVES_ACCOUNT)
            })
            .flat_map(|item| item.settlement.iter().map(|leg| leg.bank))
            .collect();
        for peer in settled_with {
            view.positions.insert(peer, position(connection, &settlement_account(bank_name(banks, peer)?)).await?);
        }
        let numbers: Vec<&str> = prepare
            .transfers
            .iter()
            .flat_map(|item| &item.legs)
            .map(|leg| leg.account.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        view.customer = cross_rows::customer_accounts(connection, &numbers).await?;
        let pairs: Vec<(String, String)> = prepare
            .transfers
            .iter()
            .flat_map(|item| {
                item.legs.iter().filter(|leg| leg.amount_cents < 0).map(|leg| (leg.account.clone(), item.initiated_by.clone()))
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        view.holders = cross_rows::holders(connection, &pairs).await?;
        for item in &prepare.transfers {
            if let Some(original) = &item.refund_of {
                let payers: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT l.account, CAST(-SUM(l.amount_cents) AS BIGINT) FROM legs l JOIN accounts a ON a.number = l.account \
                     WHERE l.entry_id = $1 AND l.amount_cents < 0 AND a.kind IN ('individual', 'joint', 'company') \
                     GROUP BY l.account",
                )
                .bind(&original.0)
                .fetch_all(&mut *connection)
                .await?;
                let refunded: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT pl.account, CAST(SUM(pl.amount_cents) AS BIGINT) FROM participations p \
                     JOIN participation_legs pl ON pl.transfer_id = p.transfer_id \
                     WHERE p.refund_of = $1 AND p.status <> 'aborted' AND pl.amount_cents > 0 GROUP BY pl.account",
                )
                .bind(&original.0)
                .fetch_all(&mut *connection)
                .await?;
                let refunded: HashMap<String, i64> = refunded.into_iter().collect();
                let refundable = view.refundable.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
                for (account, debited) in payers {
                    let left = debited.saturating_sub(refunded.get(&account).copied().unwrap_or(0));
                    refundable.insert((original.0.clone(), account), left);
                }
            }
        }
        let debited: Vec<&str> = prepare
            .transfers
            .iter()
            .flat_map(|item| &item.legs)
            .filter(|leg| leg.amount_cents < 0 && view.customer.contains_key(&leg.account))
            .map(|leg| leg.account.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for (account, (limits, used)) in super::limits::in_force_many(connection, Owner::Account, &debited, window).await? {
            view.limits.insert(account, ringbank_twopc::AccountLimits { limits, window: *window, used });
        }
        let initiators: Vec<&str> = prepare
            .transfers
            .iter()
            .filter(|item| item.legs.iter().any(|leg| leg.amount_cents < 0 && view.customer.contains_key(&leg.account)))
            .map(|item| item.initiated_by.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for (document, (limits, used)) in super::limits::in_force_many(connection, Owner::Customer, &initiators, window).await? {
            view.customer_limits.insert(document, ringbank_twopc::AccountLimits { limits, window: *window, used });
        }
        Ok(view)
    }
}

impl Accounts for AccountsView {
    fn available_cents(&self, account: &str) -> Option<i64> {
        self.customer.get(account).map(|(_, available)| *available)
    }

    fn check_leg(&self, item: &ringbank_twopc::PrepareItem, account: &str, amount_cents: i64) -> Result<(), String> {
        if amount_cents < 0 && !self.holders.contains(&(account.to_string(), item.initiated_by.clone())) {
            return Err(LedgerError::AccountNotFound(account.to_string()).to_string());
        }
        if let Some(original) = item.refund_of.as_ref().filter(|_| amount_cents > 0) {
            let mut refundable = self.refundable.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(left) = refundable.get_mut(&(original.0.clone(), account.to_string())) else {
                return Err(format!("refund of {original}: account {account} is not the account that transfer debited here"));
            };
            if amount_cents > *left {
                let (left_brl, asked) = (ringbank_domain::money::format_brl(*left), ringbank_domain::money::format_brl(amount_cents));
                return Err(format!(
                    "refund of {original}: account {account} has {left_brl} left to be refunded here (what that transfer debited it, less the refunds so far); {asked} asked"
                ));
            }
            *left -= amount_cents;
        }
        let is_company = self.customer.get(account).is_some_and(|(kind, _)| kind == "company");
        if amount_cents > 0 && item.kind == ringbank_twopc::TransferKind::Payment && !is_company {
            return Err(LedgerError::NotACompanyAccount(account.to_string()).to_string());
        }
        Ok(())
    }

    fn consent(&self, id: &str) -> Option<ringbank_twopc::ConsentView> {
        self.consents.get(id).cloned()
    }

    fn limits(&self, account: &str) -> Option<ringbank_twopc::AccountLimits> {
        self.limits.get(account).cloned()
    }

    fn customer_limits(&self, document: &str) -> Option<ringbank_twopc::AccountLimits> {
        self.customer_limits.get(document).cloned()
    }

    fn position(&self, peer: BankId) -> Option<ringbank_twopc::Position> {
        self.positions.get(&peer).copied()
    }
}

/// This bank's position on settlement account `number`: its balance and the postings to it of
/// yes votes still in doubt, by direction (a settlement's vote counts them against it).
async fn position(connection: &mut AnyConnection, number: &str) -> Result<ringbank_twopc::Position, LedgerError> {
    let balance: Option<(i64,)> =
        sqlx::query_as("SELECT balance_cents FROM accounts WHERE number = $1").bind(number).fetch_optional(&mut *connection).await?;
    let (down, up): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN pl.amount_cents < 0 THEN pl.amount_cents ELSE 0 END), 0) AS BIGINT), \
                CAST(COALESCE(SUM(CASE WHEN pl.amount_cents > 0 THEN pl.amount_cents ELSE 0 END), 0) AS BIGINT) \
         FROM participations p JOIN participation_legs pl ON pl.transfer_id = p.transfer_id \
         WHERE p.status = 'prepared' AND pl.account = $1",
    )
    .bind(number)
    .fetch_one(&mut *connection)
    .await?;
    Ok(ringbank_twopc::Position { balance_cents: balance.map_or(0, |(b,)| b), pending_down_cents: down, pending_up_cents: up })
}

/// A participant's vote on a batch, decided by the participant core inside this transaction
/// (fencing against the newest accepted stamp and the ring promise, validation, votes against
/// the accounts read here) and stored before it is answered: the fencing stamp, each new vote,
/// its postings and its holds. A refusal changes nothing.
pub(super) async fn prepare(connection: &mut AnyConnection, job: &PrepareJob) -> Result<Outcome, LedgerError> {
    let (epoch, seq): (i64, i64) =
        sqlx::query_as("SELECT epoch, seq FROM fencing WHERE name = 'prepare'").fetch_one(&mut *connection).await?;
    let mut state = ParticipantState {
        newest_stamp: Stamp::new(u64::try_from(epoch).unwrap_or(0), u64::try_from(seq).unwrap_or(0)),
        participations: Default::default(),
    };
    let ids: Vec<&str> = job.prepare.transfers.iter().map(|item| item.id.0.as_str()).collect();
    for (id, (record, _, _)) in load_participations(connection, &job.banks, &ids).await? {
        state.participations.insert(ringbank_twopc::TransferId(id), record);
    }
    let accounts = AccountsView::read(connection, &job.prepare, &job.banks, &job.limit_window).await?;
    let mut participant = Participant::start(job.config.clone(), job.keys.clone(), state, 0);
    let actions = participant.on_prepare(job.from, job.prepare.clone(), job.ring_promised_epoch, &accounts, 0);
    let mut answer = None;
    for action in actions {
        match action {
            // Passed by the driver before it submitted this job (a crash point inside the
            // writer's transaction would lose other banks' writes of the same commit).
            ParticipantAction::CrashPoint(_) => {}
            ParticipantAction::Persist(ParticipantWrite::Prepare { stamp, votes }) => store_votes(connection, job, stamp, &votes).await?,
            ParticipantAction::Send { message: Message::Votes { votes, .. }, .. } => {
                let votes = votes.into_iter().map(|v| Vote { id: v.id.0, yes: v.yes, reason: v.reason }).collect();
                answer = Some(Outcome::Votes(votes));
            }
            ParticipantAction::Send { message: Message::Refused { refusal, .. }, .. } => answer = Some(Outcome::Refused(refusal)),
            other => return Err(LedgerError::Invariant(format!("the participant answered a prepare with {other:?}"))),
        }
    }
    answer.ok_or_else(|| LedgerError::Invariant("the participant did not answer a prepare".into()))
}

/// `Persist(Prepare)`: raises the fencing stamp and stores every new vote with its holds, a
/// statement per table for the whole prepare (`cross_rows::VoteRows`).
async fn store_votes(connection: &mut AnyConnection, job: &PrepareJob, stamp: Stamp, votes: &[VoteRecord]) -> Result<(), LedgerError> {
    use super::rows::{text, Value};
    sqlx::query("UPDATE fencing SET epoch = $1, seq = $2 WHERE name = 'prepare'")
        .bind(i64::try_from(stamp.epoch).unwrap_or(i64::MAX))
        .bind(i64::try_from(stamp.seq).unwrap_or(i64::MAX))
        .execute(&mut *connection)
        .await?;
    let now = wall_clock_ms();
    let mut rows = cross_rows::VoteRows::default();
    let mut settlement: Vec<String> = Vec::new();
    for vote in votes {
        let item = job
            .prepare
            .transfers
            .iter()
            .find(|item| item.id == vote.id)
            .ok_or_else(|| LedgerError::Invariant(format!("a vote on {} which is not in the prepare", vote.id)))?;
        let record = &vote.participation;
        let participants: Vec<&str> = record.participants.iter().map(|b| bank_name(&job.banks, *b)).collect::<Result<_, _>>()?;
        let prepared = record.status == ParticipationStatus::Prepared;
        // One payer of everything credited here: kept in the columns rows before
        // `participation_payers` used (and read by the refund listings).
        let one_payer = item.payers.first().filter(|first| item.payers.iter().all(|p| p.bank == first.bank && p.account == first.account));
        rows.participations.extend([
            text(&vote.id.0),
            text(bank_name(&job.banks, record.coordinator)?),
            // A settlement is stored as a transfer its initiator marks (`SETTLEMENT_INITIATOR`):
            // the kind column's CHECK predates it, and SQLite cannot change a CHECK in place.
            text(match item.kind {
                ringbank_twopc::TransferKind::Transfer | ringbank_twopc::TransferKind::Settlement => "transfer",
                ringbank_twopc::TransferKind::Payment => "payment",
            }),
            text(&item.initiated_by),
            text(&item.description),
            text(&participants.join(",")),
            text(status_text(record.status)),
            Value::MaybeText(record.reason.clone()),
            Value::Int(i64::try_from(stamp.epoch).unwrap_or(i64::MAX)),
            Value::Int(i64::try_from(stamp.seq).unwrap_or(i64::MAX)),
            Value::Int(i64::from(item.position)),
            Value::Int(now),
            Value::MaybeInt(if prepared { None } else { Some(now) }),
            Value::MaybeText(item.refund_of.as_ref().map(|id| id.0.clone())),
            Value::MaybeText(one_payer.map(|payer| bank_name(&job.banks, payer.bank).map(str::to_string)).transpose()?),
            Value::MaybeText(one_payer.map(|payer| payer.account.clone())),
        ]);
        if !prepared {
            continue;
        }
        for (position, payer) in item.payers.iter().enumerate() {
            rows.payers.extend([
                text(&vote.id.0),
                text(&payer.credited),
                Value::Int(i64::try_from(position).unwrap_or(i64::MAX)),
                text(bank_name(&job.banks, payer.bank)?),
                text(&payer.account),
                Value::Int(payer.amount_cents),
            ]);
        }
        for (position, posting) in record.postings.iter().enumerate() {
            let account = match &posting.account {
                ringbank_twopc::Account::Customer(number) => number.clone(),
                ringbank_twopc::Account::Settlement(peer) => {
                    let number = settlement_account(bank_name(&job.banks, *peer)?);
                    if !settlement.contains(&number) {
                        settlement.push(number.clone());
                    }
                    number
                }
            };
            rows.legs.extend([
                text(&vote.id.0),
                Value::Int(i64::try_from(position).unwrap_or(i64::MAX)),
                text(&account),
                Value::Int(posting.amount_cents),
            ]);
        }
        for hold in &record.holds {
            // A refund's hold counts for no customer's limits (nor its account's).
            let initiator = item.refund_of.is_none().then(|| item.initiated_by.clone());
            rows.holds.push((
                format!("{}:{}", vote.id, hold.account),
                hold.account.clone(),
                hold.amount_cents,
                vote.id.0.clone(),
                initiator,
            ));
        }
        for (position, used) in record.consent_uses.iter().enumerate() {
            rows.consent_uses.push((
                vote.id.0.clone(),
                i64::try_from(position).unwrap_or(i64::MAX),
                used.consent.clone(),
                used.amount_cents,
            ));
        }
    }
    let settlement: Vec<&str> = settlement.iter().map(String::as_str).collect();
    cross_rows::ensure_settlement_accounts(connection, &settlement).await?;
    rows.write(connection).await
}

/// Logs the coordinator's decisions (durably, before anyone is told) and what must be
/// delivered to whom.
pub(super) async fn decide(connection: &mut AnyConnection, decisions: &[Decision]) -> Result<Outcome, LedgerError> {
    let ids: Vec<&str> = decisions.iter().map(|d| d.id.as_str()).collect();
    // Decisions are final: one already logged (or given twice) is left as it is.
    let mut pending = cross_rows::pending_of(connection, &ids).await?;
    let mut rows = Vec::with_capacity(decisions.len());
    for decision in decisions {
        if !pending.remove(&decision.id) {
            continue;
        }
        let receipt = match &decision.receipt {
            Some(receipt) => Some(receipt_row(&decision.id, receipt)?),
            None => None,
        };
        rows.push(cross_rows::DecisionRow {
            id: &decision.id,
            commit: decision.commit,
            reason: decision.reason.as_deref(),
            participants: &decision.participants,
            receipt,
        });
    }
    cross_rows::log_decisions(connection, &rows).await?;
    Ok(Outcome::Done)
}

/// A decision's signed receipt as stored: (coordinator, the exact text signed, the signature).
fn receipt_row(id: &str, receipt: &ringbank_domain::SignedDecision) -> Result<(String, String, String), LedgerError> {
    if receipt.decision.transfer_id != id {
        return Err(LedgerError::Invariant(format!("the receipt of {} was stored for {id}", receipt.decision.transfer_id)));
    }
    let text = receipt.decision.canonical().map_err(|e| LedgerError::Invariant(format!("receipt of {id}: {e}")))?;
    Ok((receipt.decision.coordinator.clone(), text, receipt.signature.to_string()))
}

/// Applies outcomes at this participant through the core: only a transfer's own coordinator
/// (recorded at prepare) settles it; a commit posts the held debits, the credits and the
/// settlement legs as one entry; an abort releases the holds; an abort for a transfer never
/// prepared here leaves a tombstone, so a late prepare votes no. Outcomes that break the
/// protocol (a commit of a transfer never prepared here, the opposite of an outcome already
/// applied, an outcome from a bank that is not the transfer's coordinator) change nothing and
/// are refused, loudly, instead of being reported final.
pub(super) async fn apply_outcomes(connection: &mut AnyConnection, job: &OutcomeJob) -> Result<Outcome, LedgerError> {
    let coordinator = bank_name(&job.banks, job.coordinator)?.to_string();
    let mut state = ParticipantState::default();
    let mut accepted: Vec<ringbank_twopc::OutcomeItem> = Vec::with_capacity(job.outcomes.len());
    let mut refused: Vec<(String, String)> = Vec::new();
    let ids: Vec<&str> = job.outcomes.iter().map(|outcome| outcome.id.0.as_str()).collect();
    let mut loaded = load_participations(connection, &job.banks, &ids).await?;
    let mut described: HashMap<String, (String, String)> = HashMap::new();
    for outcome in &job.outcomes {
        let verb = if outcome.commit { "commit" } else { "abort" };
        if let Some(earlier) = accepted.iter().find(|a| a.id == outcome.id) {
            if earlier.commit != outcome.commit {
                refused.push((outcome.id.0.clone(), format!("both commit and abort of {} in one message", outcome.id)));
            }
            continue;
        }
        if let Some((record, kind, description)) = loaded.remove(&outcome.id.0) {
            state.participations.insert(outcome.id.clone(), record);
            described.insert(outcome.id.0.clone(), (kind, description));
        }
        let why = match state.participations.get(&outcome.id) {
            None if outcome.commit => Some(format!("{verb} of transfer {} which was never prepared here; nothing posted", outcome.id)),
            None => None,
            Some(record) if record.coordinator != job.coordinator => {
                Some(format!("{verb} of transfer {} from {coordinator}, which is not its coordinator", outcome.id))
            }
            Some(record) if record.status == ParticipationStatus::Prepared => None,
            Some(record) if (record.status == ParticipationStatus::Committed) != outcome.commit => {
                Some(format!("{verb} of transfer {} contradicts the outcome applied here ({})", outcome.id, status_text(record.status)))
            }
            Some(_) => None,
        };
        match why {
            Some(why) => refused.push((outcome.id.0.clone(), why)),
            None => accepted.push(outcome.clone()),
        }
    }
    for (id, why) in &refused {
        tracing::error!(transfer = %id, %coordinator, learned = job.learned, "outcome refused: {why}");
    }
    // Rows loaded above are what the core needs; the deliberately refused ones are left out.
    let mut participant = Participant::start(job.config.clone(), job.keys.clone(), state, 0);
    let actions = if job.learned {
        // Only the coordinator's own answer settles a transfer in doubt: no signed decisions yet.
        participant.on_known(job.from, job.coordinator, accepted, |_| false)
    } else {
        participant.on_outcome(job.from, job.coordinator, accepted)
    };
    let (mut final_ids, mut newly_final) = (Vec::new(), Vec::new());
    for action in actions {
        match action {
            ParticipantAction::CrashPoint(_) => {}
            ParticipantAction::Final { id, .. } => newly_final.push(id.0),
            ParticipantAction::Persist(ParticipantWrite::Apply { coordinator: _, resolved, tombstones }) => {
                let mut rows = Vec::with_capacity(resolved.len());
                for outcome in &resolved {
                    let (kind, description) = described
                        .get(&outcome.id.0)
                        .cloned()
                        .ok_or_else(|| LedgerError::Invariant(format!("{} resolved but never prepared here", outcome.id)))?;
                    rows.push((outcome.id.0.clone(), outcome.commit, kind, description));
                }
                cross_rows::resolve(connection, &rows).await?;
                let now = wall_clock_ms();
                let values: Vec<super::rows::Value> = tombstones
                    .iter()
                    .flat_map(|id| [super::rows::text(&id.0), super::rows::text(&coordinator), super::rows::Value::Int(now)])
                    .collect();
                cross_rows::tombstones(connection, &values).await?;
            }
            ParticipantAction::Send { message: Message::Final { ids }, .. } => final_ids = ids.into_iter().map(|id| id.0).collect(),
            other => return Err(LedgerError::Invariant(format!("the participant answered outcomes with {other:?}"))),
        }
    }
    if job.learned {
        // `on_known` answers nothing: what it applied is what became final here.
        final_ids = newly_final;
    }
    Ok(Outcome::Applied { final_ids, refused })
}

/// The origin's own outcomes, applied in the transaction that logs their decisions, and marked
/// delivered to itself when final.
pub(super) async fn apply_local_outcomes(connection: &mut AnyConnection, bank: &str, job: &OutcomeJob) -> Result<Outcome, LedgerError> {
    let applied = apply_outcomes(connection, job).await?;
    if let Outcome::Applied { final_ids, .. } = &applied {
        mark_delivered(connection, bank, final_ids, DELIVERED).await?;
    }
    Ok(applied)
}

/// `outcome_deliveries.delivered`: still owed (0), acknowledged (1), refused by the participant (2).
pub(super) const DELIVERED: i64 = 1;
pub(super) const REFUSED: i64 = 2;

pub(super) async fn mark_delivered(connection: &mut AnyConnection, bank: &str, ids: &[String], state: i64) -> Result<Outcome, LedgerError> {
    cross_rows::mark_delivered(connection, bank, ids, state).await?;
    Ok(Outcome::Done)
}

/// What one bank recorded of a transfer: its status as origin ('pending', 'committed',
/// 'aborted') with the banks of its legs, and its participation's status with the coordinator
/// and participants recorded at prepare (who may ask about it).
#[derive(Clone, Debug)]
pub struct OutcomeRecord {
    pub id: String,
    pub as_origin: Option<String>,
    /// The banks of the transfer's legs, when this bank is its origin.
    pub origin_banks: Vec<String>,
    pub as_participant: Option<ParticipationStatus>,
    /// The coordinator and participants recorded at prepare, when this bank took part.
    pub coordinator: Option<String>,
    pub participants: Vec<String>,
}

pub use ringbank_wire::ParticipationView;

impl Ledger {
    /// Pending transfers not yet in any batch, oldest first (one query).
    pub async fn pending_batch(&self, limit: usize) -> Result<Vec<PendingTransfer>, LedgerError> {
        // id, kind, initiated_by, description, refund_of, side, bank, account, amount, consent
        type Row = (String, String, String, String, Option<String>, String, String, String, i64, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT t.id, t.kind, t.initiated_by, t.description, t.refund_of, l.side, l.bank, l.account, l.amount_cents, l.consent \
             FROM (SELECT id, kind, initiated_by, description, refund_of, created_at_ms FROM transfers \
                   WHERE status = 'pending' AND order_epoch IS NULL ORDER BY created_at_ms, id LIMIT $1) t \
             JOIN transfer_legs l ON l.transfer_id = t.id \
             ORDER BY t.created_at_ms, t.id, l.position",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.read_pool())
        .await?;
        let mut out: Vec<PendingTransfer> = Vec::new();
        for (id, kind, initiated_by, description, refund_of, side, bank, account, amount, consent) in rows {
            let signed = if side == "debit" { -amount } else { amount };
            if out.last().is_none_or(|last| last.id != id) {
                out.push(PendingTransfer { id, kind, initiated_by, description, legs: Vec::new(), consents: HashMap::new(), refund_of });
            }
            let last = out.last_mut().expect("pushed above");
            if let Some(consent) = consent {
                last.consents.insert((bank.clone(), account.clone()), consent);
            }
            last.legs.push((bank, account, signed));
        }
        Ok(out)
    }

    pub async fn has_unordered_pending(&self) -> Result<bool, LedgerError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM transfers WHERE status = 'pending' AND order_epoch IS NULL LIMIT 1")
            .fetch_optional(self.read_pool())
            .await?;
        Ok(row.is_some())
    }

    /// The transfers the coordinator must find again after a restart: those ordered and not
    /// decided (their prepares may be out), and those decided and not yet acknowledged by every
    /// participant (with the banks still owed the outcome). Pending unordered ones are read
    /// by `pending_batch` when the token comes.
    pub async fn coordinator_records(&self) -> Result<Vec<CoordinatorRecord>, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        // id, kind, initiated_by, description, refund_of, status, order (epoch, seq, position).
        type Row = (String, String, String, String, Option<String>, String, Option<i64>, Option<i64>, Option<i64>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, kind, initiated_by, description, refund_of, status, order_epoch, order_seq, order_position FROM transfers \
             WHERE origin = $1 AND ((status = 'pending' AND order_epoch IS NOT NULL) \
                OR id IN (SELECT transfer_id FROM outcome_deliveries WHERE delivered = 0)) \
             ORDER BY created_at_ms, id",
        )
        .bind(self.bank())
        .fetch_all(&mut *connection)
        .await?;
        let mut records = Vec::with_capacity(rows.len());
        for (id, kind, initiated_by, description, refund_of, status, epoch, seq, position) in rows {
            let rows: Vec<(String, String, String, i64, Option<String>)> = sqlx::query_as(
                "SELECT side, bank, account, amount_cents, consent FROM transfer_legs WHERE transfer_id = $1 ORDER BY position",
            )
            .bind(&id)
            .fetch_all(&mut *connection)
            .await?;
            let mut legs = Vec::with_capacity(rows.len());
            let mut consents = HashMap::new();
            for (side, bank, account, amount, consent) in rows {
                if let Some(consent) = consent {
                    consents.insert((bank.clone(), account.clone()), consent);
                }
                legs.push((bank, account, if side == "debit" { -amount } else { amount }));
            }
            let undelivered: Vec<(String,)> =
                sqlx::query_as("SELECT bank FROM outcome_deliveries WHERE transfer_id = $1 AND delivered = 0 ORDER BY bank")
                    .bind(&id)
                    .fetch_all(&mut *connection)
                    .await?;
            let order = match (epoch, seq, position) {
                (Some(epoch), Some(seq), Some(position)) => Some((
                    Stamp::new(u64::try_from(epoch).unwrap_or(0), u64::try_from(seq).unwrap_or(0)),
                    u32::try_from(position).unwrap_or(u32::MAX),
                )),
                _ => None,
            };
            let decision = match status.as_str() {
                "committed" => Some(true),
                "aborted" => Some(false),
                _ => None,
            };
            records.push(CoordinatorRecord {
                transfer: PendingTransfer { id, kind, initiated_by, description, legs, consents, refund_of },
                order,
                decision,
                undelivered: undelivered.into_iter().map(|(bank,)| bank).collect(),
            });
        }
        Ok(records)
    }

    /// Transfers this bank voted yes on and still does not know the outcome of, prepared
    /// before `before_ms`: (id, coordinator, participants).
    pub async fn in_doubt(&self, before_ms: i64, limit: usize) -> Result<Vec<(String, String, Vec<String>)>, LedgerError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT transfer_id, coordinator, participants FROM participations \
             WHERE status = 'prepared' AND created_at_ms < $1 ORDER BY created_at_ms LIMIT $2",
        )
        .bind(before_ms)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, coordinator, participants)| {
                let list = participants.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
                (id, coordinator, list)
            })
            .collect())
    }

    /// What this bank recorded of each transfer, for answering a query through the core:
    /// (id, status as its origin if it originated it, status as a participant if it has one).
    pub async fn outcome_records(&self, ids: &[String]) -> Result<Vec<OutcomeRecord>, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            let origin: Option<(String,)> = sqlx::query_as("SELECT status FROM transfers WHERE id = $1 AND origin IS NOT NULL")
                .bind(id)
                .fetch_optional(&mut *connection)
                .await?;
            let origin_banks: Vec<(String,)> = if origin.is_some() {
                sqlx::query_as("SELECT DISTINCT bank FROM transfer_legs WHERE transfer_id = $1 ORDER BY bank")
                    .bind(id)
                    .fetch_all(&mut *connection)
                    .await?
            } else {
                Vec::new()
            };
            let participation: Option<(String, String, String)> =
                sqlx::query_as("SELECT status, coordinator, participants FROM participations WHERE transfer_id = $1")
                    .bind(id)
                    .fetch_optional(&mut *connection)
                    .await?;
            let (as_participant, coordinator, participants) = match participation {
                Some((status, coordinator, participants)) => (
                    Some(status_of(&status)?),
                    Some(coordinator),
                    participants.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                ),
                None => (None, None, Vec::new()),
            };
            records.push(OutcomeRecord {
                id: id.clone(),
                as_origin: origin.map(|(status,)| status),
                origin_banks: origin_banks.into_iter().map(|(bank,)| bank).collect(),
                as_participant,
                coordinator,
                participants,
            });
        }
        Ok(records)
    }

    /// Every cross-bank transfer this bank took part in, with its outcome here.
    pub async fn participations(&self) -> Result<Vec<ParticipationView>, LedgerError> {
        let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT transfer_id, status, order_epoch, order_seq, order_position FROM participations \
             WHERE coordinator <> '' ORDER BY order_epoch, order_seq, order_position LIMIT 1000000",
        )
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows.into_iter().map(|(id, status, e, s, p)| ParticipationView { id, status, order: (e, s, p) }).collect())
    }

    /// The newest `limit` settlements this bank recorded as creditor.
    pub async fn settlements(&self, limit: i64) -> Result<Vec<SettlementRecord>, LedgerError> {
        type Row = (String, String, i64, String, Option<String>, String, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT t.id, l.bank, l.amount_cents, t.status, t.reason, t.description, t.created_at_ms \
             FROM transfers t JOIN transfer_legs l ON l.transfer_id = t.id AND l.side = 'credit' \
             WHERE t.initiated_by = $1 ORDER BY t.created_at_ms DESC, t.id LIMIT $2",
        )
        .bind(ringbank_twopc::SETTLEMENT_INITIATOR)
        .bind(limit)
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, from, amount_cents, status, reason, reference, created_at_ms)| SettlementRecord {
                id,
                from,
                amount_cents,
                status,
                reason,
                reference,
                created_at_ms,
            })
            .collect())
    }

    /// Balances of this bank's settlement accounts: (peer bank, balance).
    pub async fn settlement_balances(&self) -> Result<Vec<(String, i64)>, LedgerError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT number, balance_cents FROM accounts WHERE kind = 'settlement' ORDER BY number")
                .fetch_all(self.read_pool())
                .await?;
        Ok(rows.into_iter().map(|(number, balance)| (number.trim_start_matches("settlement:").to_string(), balance)).collect())
    }

    /// What still ties this bank to member `bank` in the two-phase commit, for the removal check:
    /// transfers in doubt here that `bank` coordinates or takes part in (prepared, outcome not
    /// known), plus the transfers this bank coordinates with legs at `bank` that are ordered and
    /// not decided, or decided and not yet acknowledged by `bank`. Transfers among other members
    /// do not count: a removal is not held up by traffic that does not involve the bank leaving.
    pub async fn open_with(&self, bank: &str) -> Result<i64, LedgerError> {
        // At most this many prepared rows are read; beyond it the count is a lower bound, which
        // still refuses (any count above zero does).
        const PREPARED_MAX: i64 = 100_000;
        let prepared: Vec<(String, String)> = sqlx::query_as(
            "SELECT coordinator, participants FROM participations WHERE status = 'prepared' ORDER BY created_at_ms LIMIT $1",
        )
        .bind(PREPARED_MAX)
        .fetch_all(self.read_pool())
        .await?;
        let in_doubt =
            prepared.iter().filter(|(coordinator, participants)| coordinator == bank || participants.split(',').any(|p| p == bank)).count();
        // Two counts, each on its index (transfers_pending, outcome_deliveries_pending): a
        // transfer both undecided and owed its outcome cannot be, so they do not overlap.
        let (coordinating,): (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM transfers t WHERE t.status = 'pending' AND t.origin = $1 AND t.order_epoch IS NOT NULL \
                    AND EXISTS (SELECT 1 FROM transfer_legs l WHERE l.transfer_id = t.id AND l.bank = $2)) \
                  + (SELECT COUNT(*) FROM outcome_deliveries WHERE delivered = 0 AND bank = $2)",
        )
        .bind(self.bank())
        .bind(bank)
        .fetch_one(self.read_pool())
        .await?;
        Ok(i64::try_from(in_doubt).unwrap_or(i64::MAX).saturating_add(coordinating))
    }

    /// Totals for the consortium audit: (customer money, cash account balance, open holds,
    /// transfers in doubt here).
    pub async fn money_totals(&self) -> Result<(i64, i64, i64, i64), LedgerError> {
        let (customer,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(balance_cents), 0) AS BIGINT) FROM accounts WHERE kind IN ('individual', 'joint', 'company')",
        )
        .fetch_one(self.read_pool())
        .await?;
        let (cash,): (i64,) =
            sqlx::query_as("SELECT balance_cents FROM accounts WHERE number = 'cash'").fetch_one(self.read_pool()).await?;
        let (holds,): (i64,) =
            sqlx::query_as("SELECT CAST(COALESCE(SUM(held_cents), 0) AS BIGINT) FROM accounts").fetch_one(self.read_pool()).await?;
        let (in_doubt,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM participations WHERE status = 'prepared'").fetch_one(self.read_pool()).await?;
        Ok((customer, cash, holds, in_doubt))
    }
}
