//! Pix keys, the customer's use cases: register a key for one of the caller's accounts (CPF or
//! CNPJ: the caller's own document; random: generated here; e-mail and phone: after a code sent
//! through the notifier is given back), delete it, list them, and look a key up before paying
//! (rate-limited per customer, logged). Registration and deletion are ordered consortium-wide by
//! the directory (`crate::directory`); lookups read this bank's replica. Moving a key between
//! banks (portability) is `service::key_claims`.
//!
//! The notifier is a development outbox kept in memory (the operator reads it on
//! `GET /admin/v1/outbox`); a real e-mail/SMS notifier is a later concern. Pending confirmations
//! live in memory too: a restart only makes the customer ask for a new code.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringbank_domain::pix_key::{masked_document, max_keys_per_account};
use ringbank_domain::{CustomerKind, Document, PixKey, PixKeyKind};
use ringbank_ring::directory::{Op, Outcome, Owner};
use serde::Serialize;

use super::limiter::FailureLimiter;
use super::{Caller, ServiceError};
use crate::clock::{new_id, wall_clock_ms};
use crate::directory::{DirectoryHandle, SubmitError};
use crate::ledger::Ledger;
use crate::peer::{MemberRegistry, PeerClient};

/// How long a registration or deletion waits to be ordered before the caller gets 503.
const ORDER_TIMEOUT: Duration = Duration::from_secs(10);
/// A confirmation code's life, and wrong codes allowed per confirmation.
const CODE_TTL: Duration = Duration::from_secs(600);
const CODE_ATTEMPTS_MAX: u32 = 5;
/// Pending confirmations kept at most (the oldest are dropped first).
const PENDING_MAX: usize = 10_000;
/// Messages the development outbox keeps.
const OUTBOX_MAX: usize = 1_000;
/// Lookups one customer may make per window (DICT limits scraping in the same spirit).
pub const LOOKUPS_PER_WINDOW: u32 = 60;
pub const LOOKUP_WINDOW: Duration = Duration::from_secs(60);

/// A key as its owner sees it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct KeyView {
    pub key: String,
    pub kind: PixKeyKind,
    pub display: String,
    pub bank: String,
    pub account: String,
}

/// What a payer's bank learns from a key: where to pay, and whom the payer is about to pay.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Resolved {
    pub key: String,
    pub key_kind: String,
    pub bank: String,
    pub account: String,
    pub account_kind: String,
    pub name: String,
    pub masked_document: String,
}

/// The answer to a registration request.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Registration {
    Registered {
        key: KeyView,
    },
    /// A code was sent to the e-mail or phone; give it to `POST /api/v1/keys/confirm`.
    ConfirmationSent {
        confirmation_id: String,
        sent_to: String,
        expires_in_seconds: u64,
    },
}

/// One message of the development notifier.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OutboxMessage {
    pub to: String,
    pub text: String,
    pub sent_at_ms: i64,
}

struct Pending {
    document: String,
    account: String,
    key: PixKey,
    code: String,
    expires: Instant,
    attempts: u32,
}

pub struct PixKeys {
    pub(super) bank: String,
    pub(super) ledger: Ledger,
    pub(super) directory: DirectoryHandle,
    /// Signed calls to the other bank of a portability claim (`service::key_claims`).
    pub(super) peers: PeerClient,
    pub(super) members: Arc<MemberRegistry>,
    /// How long a portability claim on a key here waits for its owner (`--key-claim-ttl`).
    pub(super) claim_ttl: Duration,
    pending: Mutex<HashMap<String, Pending>>,
    outbox: Mutex<VecDeque<OutboxMessage>>,
    lookups: FailureLimiter,
}

impl PixKeys {
    pub fn new(
        bank: String,
        ledger: Ledger,
        directory: DirectoryHandle,
        peers: PeerClient,
        members: Arc<MemberRegistry>,
        claim_ttl: Duration,
    ) -> PixKeys {
        PixKeys {
            bank,
            ledger,
            directory,
            peers,
            members,
            claim_ttl,
            pending: Mutex::new(HashMap::new()),
            outbox: Mutex::new(VecDeque::new()),
            lookups: FailureLimiter::new(LOOKUPS_PER_WINDOW, LOOKUP_WINDOW, 100_000),
        }
    }

    pub fn directory(&self) -> &DirectoryHandle {
        &self.directory
    }

    /// Starts registering a key of `kind` for the caller's `account`. CPF/CNPJ keys take the
    /// caller's own document (a `value`, if given, must be it); random keys are generated;
    /// e-mail and phone keys get a code first.
    pub async fn register(
        &self,
        caller: &Caller,
        account: &str,
        kind: PixKeyKind,
        value: Option<&str>,
    ) -> Result<Registration, ServiceError> {
        let own = self.owned_account(caller, account).await?;
        let key = match kind {
            PixKeyKind::Cpf | PixKeyKind::Cnpj => {
                let document = Document::parse(&caller.document).map_err(|e| ServiceError::Internal(e.to_string()))?;
                let key = PixKey::parse(kind, value.unwrap_or(&caller.document)).map_err(|e| ServiceError::InvalidField(e.to_string()))?;
                if key.document() != Some(document) {
                    return Err(ServiceError::InvalidField("a CPF or CNPJ key must be the account holder's own document".into()));
                }
                key
            }
            PixKeyKind::Random => {
                if value.is_some_and(|v| !v.trim().is_empty()) {
                    return Err(ServiceError::InvalidField("a random key is generated by the bank; send no key".into()));
                }
                PixKey::random_from_bytes(rand::random())
            }
            PixKeyKind::Email | PixKeyKind::Phone => {
                let value = value.ok_or_else(|| ServiceError::InvalidField(format!("give the {} to register", kind.label_pt())))?;
                let key = PixKey::parse(kind, value).map_err(|e| ServiceError::InvalidField(e.to_string()))?;
                // Sends no code for a key this replica already knows as taken (the directory
                // checks again when the confirmed key is ordered).
                self.refuse_if_taken(&key)?;
                return Ok(self.send_code(caller, &own, key));
            }
        };
        // No check against this replica first: it may lag a commit by a moment (a key just
        // freed elsewhere); the directory's own answer, at the key's position, is the one that counts.
        self.order_registration(caller, &own, key).await.map(|key| Registration::Registered { key })
    }

    /// Gives back the code sent for an e-mail or phone key; registers the key if it matches.
    pub async fn confirm(&self, caller: &Caller, confirmation_id: &str, code: &str) -> Result<KeyView, ServiceError> {
        let (account, key) = {
            let mut pending = self.pending.lock().expect("lock");
            let invalid =
                || ServiceError::InvalidField("the confirmation is unknown, expired, or for another customer; ask for a new code".into());
            let entry = pending.get_mut(confirmation_id).ok_or_else(invalid)?;
            if entry.document != caller.document || entry.expires <= Instant::now() || entry.attempts >= CODE_ATTEMPTS_MAX {
                pending.remove(confirmation_id);
                return Err(invalid());
            }
            if !constant_time_eq(entry.code.as_bytes(), code.trim().as_bytes()) {
                entry.attempts += 1;
                return Err(ServiceError::InvalidField(format!("wrong code ({} attempts left)", CODE_ATTEMPTS_MAX - entry.attempts)));
            }
            let entry = pending.remove(confirmation_id).expect("present");
            (entry.account, entry.key)
        };
        let own = self.owned_account(caller, &account).await?;
        self.order_registration(caller, &own, key).await
    }

    /// Deletes one of the caller's keys.
    pub async fn delete(&self, caller: &Caller, key_text: &str) -> Result<(), ServiceError> {
        let key = PixKey::parse_any(key_text).map_err(|e| ServiceError::InvalidField(e.to_string()))?;
        let not_found = || ServiceError::KeyNotFound(format!("{} is not one of your keys at this bank", key.display()));
        let account = self.directory.read(|r| r.directory().lookup(key.as_str()).map(|(_, o)| (o.bank.clone(), o.account.clone())));
        let Some((bank, account)) = account else { return Err(not_found()) };
        if bank != self.bank || self.ledger.account_for(&account, &caller.document).await?.is_none() {
            return Err(not_found());
        }
        let op = Op::Delete { id: new_id("dir"), key: key.as_str().to_string(), bank, account };
        match self.order(op).await? {
            Outcome::Deleted => Ok(()),
            _ => Err(not_found()),
        }
    }

    /// The caller's keys at this bank, from the local replica.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<KeyView>, ServiceError> {
        let accounts = self.ledger.accounts_of(&caller.document).await?;
        Ok(self.directory.read(|replica| {
            let mut keys = Vec::new();
            for account in &accounts {
                for (key, kind) in replica.directory().keys_of(&self.bank, &account.number) {
                    if let Ok(kind) = PixKeyKind::parse(kind) {
                        if let Ok(parsed) = PixKey::parse(kind, key) {
                            keys.push(KeyView {
                                key: key.to_string(),
                                kind,
                                display: parsed.display(),
                                bank: self.bank.clone(),
                                account: account.number.clone(),
                            });
                        }
                    }
                }
            }
            keys
        }))
    }

    /// A customer looks a key up before paying: rate-limited per customer and logged.
    pub fn lookup(&self, caller: &Caller, key_text: &str) -> Result<Resolved, ServiceError> {
        if let Err(wait) = self.lookups.check(&caller.document) {
            tracing::warn!(customer = %caller.document, "pix key lookups rate-limited");
            return Err(ServiceError::TooManyAttempts {
                detail: format!("at most {LOOKUPS_PER_WINDOW} key lookups per {} seconds", LOOKUP_WINDOW.as_secs()),
                retry_after_seconds: wait.as_secs().max(1),
            });
        }
        self.lookups.record_failure(&caller.document);
        let key = PixKey::parse_any(key_text).map_err(|e| ServiceError::InvalidField(e.to_string()))?;
        let resolved = self.resolve(&key);
        tracing::info!(customer = %caller.document, key_kind = %key.kind(), found = resolved.is_some(), "pix key lookup");
        resolved.ok_or_else(|| ServiceError::KeyNotFound(format!("no account has the key {}", key.display())))
    }

    /// Resolves a key from this bank's replica: bank, account, account kind, the owner's name
    /// and masked document. No rate limit and no log: callers that act for a customer use
    /// `lookup` (or limit themselves), as the pay-by-key and BR Code paths do.
    pub fn resolve(&self, key: &PixKey) -> Option<Resolved> {
        self.directory.read(|replica| {
            replica.directory().lookup(key.as_str()).map(|(kind, owner)| Resolved {
                key: key.as_str().to_string(),
                key_kind: kind.to_string(),
                bank: owner.bank.clone(),
                account: owner.account.clone(),
                account_kind: owner.account_kind.clone(),
                name: owner.name.clone(),
                masked_document: owner.masked_document.clone(),
            })
        })
    }

    /// The keys registered for `account` at this bank, from the local replica.
    pub fn keys_of_account(&self, account: &str) -> Vec<String> {
        self.directory.read(|replica| replica.directory().keys_of(&self.bank, account).map(|(key, _)| key.to_string()).collect())
    }

    /// The development outbox, newest last.
    pub fn outbox(&self) -> Vec<OutboxMessage> {
        self.outbox.lock().expect("lock").iter().cloned().collect()
    }

    pub(super) async fn owned_account(&self, caller: &Caller, account: &str) -> Result<crate::ledger::AccountView, ServiceError> {
        Ok(self
            .ledger
            .account_for(account, &caller.document)
            .await?
            .ok_or_else(|| crate::ledger::LedgerError::AccountNotFound(account.to_string()))?)
    }

    fn refuse_if_taken(&self, key: &PixKey) -> Result<(), ServiceError> {
        match self.directory.read(|r| r.directory().lookup(key.as_str()).map(|(_, o)| o.bank.clone())) {
            Some(bank) => Err(ServiceError::KeyTaken(format!("the key {} is already registered (at bank {bank})", key.display()))),
            None => Ok(()),
        }
    }

    fn send_code(&self, caller: &Caller, account: &crate::ledger::AccountView, key: PixKey) -> Registration {
        let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
        let confirmation_id = new_id("kc");
        let sent_to = key.display();
        {
            let mut outbox = self.outbox.lock().expect("lock");
            if outbox.len() >= OUTBOX_MAX {
                outbox.pop_front();
            }
            outbox.push_back(OutboxMessage {
                to: sent_to.clone(),
                text: format!("Seu código para registrar a chave Pix {sent_to} no banco {}: {code}", self.bank),
                sent_at_ms: wall_clock_ms(),
            });
        }
        let mut pending = self.pending.lock().expect("lock");
        let now = Instant::now();
        pending.retain(|_, p| p.expires > now);
        if pending.len() >= PENDING_MAX {
            if let Some(oldest) = pending.iter().min_by_key(|(_, p)| p.expires).map(|(id, _)| id.clone()) {
                pending.remove(&oldest);
            }
        }
        pending.insert(
            confirmation_id.clone(),
            Pending { document: caller.document.clone(), account: account.number.clone(), key, code, expires: now + CODE_TTL, attempts: 0 },
        );
        Registration::ConfirmationSent { confirmation_id, sent_to, expires_in_seconds: CODE_TTL.as_secs() }
    }

    async fn order_registration(
        &self,
        caller: &Caller,
        account: &crate::ledger::AccountView,
        key: PixKey,
    ) -> Result<KeyView, ServiceError> {
        let document = Document::parse(&caller.document).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let kind = if caller.person { CustomerKind::Person } else { CustomerKind::Company };
        let owner = Owner {
            bank: self.bank.clone(),
            account: account.number.clone(),
            account_kind: account.kind.clone(),
            name: caller.name.clone(),
            masked_document: masked_document(&document),
        };
        let limit = u16::try_from(max_keys_per_account(kind)).unwrap_or(u16::MAX);
        let op = Op::Register { id: new_id("dir"), key: key.as_str().to_string(), key_kind: key.kind().as_str().to_string(), owner, limit };
        match self.order(op).await? {
            Outcome::Registered => Ok(KeyView {
                key: key.as_str().to_string(),
                kind: key.kind(),
                display: key.display(),
                bank: self.bank.clone(),
                account: account.number.clone(),
            }),
            Outcome::KeyTaken { bank } => {
                Err(ServiceError::KeyTaken(format!("the key {} is already registered (at bank {bank})", key.display())))
            }
            Outcome::LimitReached => {
                Err(ServiceError::LimitExceeded(format!("this account already has {} keys, the most allowed", max_keys_per_account(kind))))
            }
            other => Err(ServiceError::Internal(format!("unexpected directory outcome {other:?}"))),
        }
    }

    pub(super) async fn order(&self, op: Op) -> Result<Outcome, ServiceError> {
        match self.directory.submit(op, ORDER_TIMEOUT).await {
            Ok((_, outcome)) => Ok(outcome),
            Err(SubmitError::Timeout(_)) => Err(ServiceError::Unavailable(
                "the key directory could not order the change in time (the ring may be regenerating); it may still take effect: check your keys before retrying".into(),
            )),
            Err(error) => Err(ServiceError::Unavailable(error.to_string())),
        }
    }
}

/// `POST /api/v1/key-payments`: pay to a Pix key from one of the caller's accounts here.
#[derive(Clone, Debug, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPayment {
    pub from_account: String,
    pub key: String,
    pub amount_cents: i64,
    #[serde(default)]
    pub description: String,
}

/// Resolves the key (a lookup: rate-limited and logged) and posts a transfer to the account it
/// names, exactly as `POST /api/v1/transfers` would (same checks, same Idempotency-Key rules).
pub async fn pay_by_key(
    services: &std::sync::Arc<super::Services>,
    pix: &PixKeys,
    caller: &Caller,
    request: &KeyPayment,
    idempotency_key: Option<String>,
) -> Result<(crate::ledger::Posted, Resolved), ServiceError> {
    let to = pix.lookup(caller, &request.key)?;
    let debit = ringbank_domain::RawLeg {
        bank: services.bank().to_string(),
        account: request.from_account.clone(),
        amount_cents: request.amount_cents,
        consent: None,
    };
    let credit =
        ringbank_domain::RawLeg { bank: to.bank.clone(), account: to.account.clone(), amount_cents: request.amount_cents, consent: None };
    let transfer =
        super::operations::TransferRequest { debits: vec![debit], credits: vec![credit], description: request.description.clone() };
    let job = super::operations::transfer_job(services, caller, &transfer)?;
    // The canonical request names the key, not the account it resolved to today.
    let canonical = serde_json::to_string(request).unwrap_or_default();
    let posted = super::operations::post_money(services, caller, "key-payments", job, &canonical, idempotency_key).await?;
    Ok((posted, to))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
