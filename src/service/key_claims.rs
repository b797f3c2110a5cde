//! Pix key portability, as in Pix's "reivindicação de portabilidade": a customer at the new
//! bank (the claimant) asks to bring one of their keys from the bank that holds it now (the
//! donor); the owner confirms at the donor, and only then is the move ordered by the directory
//! (`Op::Move`, in the token's order like a registration). The owner thus says so at both banks,
//! each under its own sign-in.
//!
//! The directory holds only a masked document per key, so the claimant bank refuses a claim
//! whose masked document is not the customer's at once, and the donor checks the whole document
//! against the account's holders before it stores the claim (signed `POST /bank/v1/key-claim`).
//! The donor alone decides expiry (`--key-claim-ttl`, by its clock) and tells the claimant bank
//! what became of the claim (`POST /bank/v1/key-claim-decided`, best effort: the claimant's
//! listing also reads a completed move from its own replica).

use ringbank_domain::pix_key::{masked_document, max_keys_per_account};
use ringbank_domain::{CustomerKind, Document, PixKey};
use ringbank_ring::directory::{Op, Outcome, Owner};
use serde::{Deserialize, Serialize};

use super::keys::PixKeys;
use super::{Caller, ServiceError};
use crate::clock::{new_id, wall_clock_ms};
use crate::ledger::key_claims::{ClaimRecord, ClaimSide, KeyClaimJob};
use crate::ledger::{Job, LedgerError};
use crate::peer::PeerError;

/// The claimant bank's offer to the donor (`POST /bank/v1/key-claim`, signed by the claimant).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimOffer {
    pub id: String,
    pub key: String,
    /// The claiming customer's document, as the claimant bank authenticated them.
    pub document: String,
    /// Where the claimant's replica says the key is now (at the donor).
    pub from_account: String,
    /// The new owner: an account at the claimant bank.
    pub to: Owner,
    /// The keys-per-account limit of the new account's holder.
    pub limit: u16,
}

/// The donor's answer: the claim is stored and pending until `expires_at_ms` (donor's clock).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClaimTaken {
    pub id: String,
    pub expires_at_ms: i64,
}

/// The donor tells the claimant bank the claim's end (`POST /bank/v1/key-claim-decided`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimDecided {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A claim as a customer sees it, at either bank.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ClaimView {
    pub id: String,
    /// `claimant`: the customer brings the key to this bank; `donor`: the key leaves this bank
    /// if the customer confirms here.
    pub side: String,
    pub key: String,
    pub key_kind: String,
    pub display: String,
    pub from_bank: String,
    pub from_account: String,
    pub to_bank: String,
    pub to_account: String,
    /// pending, completed, refused, expired or failed.
    pub status: String,
    pub reason: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

const FINAL_STATUSES: [&str; 4] = ["completed", "refused", "expired", "failed"];

impl PixKeys {
    /// At the new bank: the caller asks to bring `key_text` to their `account` here.
    pub async fn claim(&self, caller: &Caller, account: &str, key_text: &str) -> Result<ClaimView, ServiceError> {
        let own = self.owned_account(caller, account).await?;
        let key = PixKey::parse_any(key_text).map_err(|e| ServiceError::InvalidField(e.to_string()))?;
        let document = Document::parse(&caller.document).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let current = self.directory.read(|r| r.directory().lookup(key.as_str()).map(|(kind, owner)| (kind.to_string(), owner.clone())));
        let Some((key_kind, current)) = current else {
            return Err(ServiceError::KeyNotFound(format!("no account has the key {}; register it instead", key.display())));
        };
        if current.bank == self.bank {
            return Err(ServiceError::InvalidField(format!("the key {} is already at this bank", key.display())));
        }
        let masked = masked_document(&document);
        if current.masked_document != masked {
            return Err(ServiceError::KeyClaimRefused(format!(
                "the key {} belongs to another person: only its owner may bring it here",
                key.display()
            )));
        }
        let kind = if caller.person { CustomerKind::Person } else { CustomerKind::Company };
        let limit = u16::try_from(max_keys_per_account(kind)).unwrap_or(u16::MAX);
        let to = Owner {
            bank: self.bank.clone(),
            account: own.number.clone(),
            account_kind: own.kind.clone(),
            name: caller.name.clone(),
            masked_document: masked,
        };
        let offer = ClaimOffer {
            id: new_id("kcl"),
            key: key.as_str().to_string(),
            document: caller.document.clone(),
            from_account: current.account.clone(),
            to: to.clone(),
            limit,
        };
        let url = self.member_url(&current.bank)?;
        let answer: Result<ClaimTaken, PeerError> = self.peers.call(&url, "/bank/v1/key-claim", &offer).await;
        let taken = match answer {
            Ok(taken) if taken.id == offer.id => taken,
            Ok(other) => return Err(ServiceError::Unavailable(format!("bank {} answered about claim {}", current.bank, other.id))),
            Err(PeerError::Refused { status, body }) if (400..500).contains(&status) => {
                return Err(refusal_of(&current.bank, &body));
            }
            Err(error) => {
                tracing::info!(bank = %current.bank, %error, "key claim not taken");
                return Err(ServiceError::Unavailable(format!("bank {} did not answer; try again later", current.bank)));
            }
        };
        let record = ClaimRecord {
            id: offer.id,
            side: ClaimSide::Claimant,
            key: offer.key,
            key_kind,
            document: caller.document.clone(),
            from_bank: current.bank,
            from_account: current.account,
            to_bank: to.bank,
            to_account: to.account,
            to_account_kind: to.account_kind,
            to_name: to.name,
            to_masked_document: to.masked_document,
            key_limit: i64::from(limit),
            status: "pending".into(),
            reason: None,
            created_at_ms: wall_clock_ms(),
            expires_at_ms: taken.expires_at_ms,
            decided_at_ms: None,
        };
        self.ledger.submit(Job::KeyClaim(KeyClaimJob::Open { claim: Box::new(record.clone()), now_ms: wall_clock_ms() }), None).await?;
        tracing::info!(claim = %record.id, from = %record.from_bank, "pix key claim opened");
        Ok(self.claim_view(record))
    }

    /// At the donor bank: a member bank offers its customer's claim; stored if the key is at an
    /// account here that this same person holds, and has no other pending claim.
    pub async fn receive_claim(&self, from_bank: &str, offer: ClaimOffer) -> Result<ClaimTaken, ServiceError> {
        let refuse = |why: String| Err(ServiceError::KeyClaimRefused(why));
        if offer.to.bank != from_bank || from_bank == self.bank {
            return refuse(format!("bank {from_bank} may claim keys only for its own accounts"));
        }
        if !(1..=100).contains(&offer.limit) {
            return refuse(format!("a keys-per-account limit of {} is not one of Pix's", offer.limit));
        }
        let key = PixKey::parse_any(&offer.key).map_err(|e| ServiceError::InvalidField(e.to_string()))?;
        let here = self.directory.read(|r| {
            r.directory()
                .lookup(key.as_str())
                .filter(|(_, owner)| owner.bank == self.bank && owner.account == offer.from_account)
                .map(|(kind, _)| kind.to_string())
        });
        let Some(key_kind) = here else {
            return refuse(format!("the key {} is not at account {} of bank {}", key.display(), offer.from_account, self.bank));
        };
        let holder = self.ledger.account_for(&offer.from_account, &offer.document).await?.is_some();
        let document_key_of_other = key.document().is_some_and(|d| Document::parse(&offer.document).ok() != Some(d));
        if !holder || document_key_of_other {
            return refuse(format!("the key {} belongs to another person: only its owner may bring it to another bank", key.display()));
        }
        let now = wall_clock_ms();
        let expires_at_ms = now.saturating_add(i64::try_from(self.claim_ttl.as_millis()).unwrap_or(i64::MAX));
        let record = ClaimRecord {
            id: offer.id.clone(),
            side: ClaimSide::Donor,
            key: key.as_str().to_string(),
            key_kind,
            document: offer.document,
            from_bank: self.bank.clone(),
            from_account: offer.from_account,
            to_bank: offer.to.bank,
            to_account: offer.to.account,
            to_account_kind: offer.to.account_kind,
            to_name: offer.to.name,
            to_masked_document: offer.to.masked_document,
            key_limit: i64::from(offer.limit),
            status: "pending".into(),
            reason: None,
            created_at_ms: now,
            expires_at_ms,
            decided_at_ms: None,
        };
        self.ledger.submit(Job::KeyClaim(KeyClaimJob::Open { claim: Box::new(record), now_ms: now }), None).await?;
        tracing::info!(claim = %offer.id, to = %from_bank, "pix key claim received");
        Ok(ClaimTaken { id: offer.id, expires_at_ms })
    }

    /// The caller's claims at this bank (both sides), newest first, with their status now.
    pub async fn claims(&self, caller: &Caller) -> Result<Vec<ClaimView>, ServiceError> {
        let records = self.ledger.key_claims_of(&caller.document).await?;
        Ok(records.into_iter().map(|record| self.claim_view(record)).collect())
    }

    /// At the donor bank: the owner confirms; the move is ordered by the directory.
    pub async fn confirm_claim(&self, caller: &Caller, id: &str) -> Result<ClaimView, ServiceError> {
        let record = self.pending_donor_claim(caller, id).await?;
        if self.at_destination(&record) {
            return self.close(record, "completed", None).await;
        }
        if record.expires_at_ms <= wall_clock_ms() {
            self.close(record, "expired", None).await?;
            return Err(ServiceError::Ledger(LedgerError::KeyClaimClosed(format!("claim {id} expired before it was confirmed"))));
        }
        let still_here = self
            .directory
            .read(|r| r.directory().lookup(&record.key).is_some_and(|(_, o)| o.bank == self.bank && o.account == record.from_account));
        if !still_here || self.ledger.account_for(&record.from_account, &caller.document).await?.is_none() {
            let reason = "the key is no longer at this account".to_string();
            self.close(record, "failed", Some(reason.clone())).await?;
            return Err(ServiceError::Ledger(LedgerError::KeyClaimClosed(reason)));
        }
        let op = Op::Move {
            id: new_id("dir"),
            key: record.key.clone(),
            from_bank: record.from_bank.clone(),
            from_account: record.from_account.clone(),
            to: Owner {
                bank: record.to_bank.clone(),
                account: record.to_account.clone(),
                account_kind: record.to_account_kind.clone(),
                name: record.to_name.clone(),
                masked_document: record.to_masked_document.clone(),
            },
            limit: u16::try_from(record.key_limit).unwrap_or(u16::MAX),
        };
        match self.order(op).await? {
            Outcome::Moved => self.close(record, "completed", None).await,
            Outcome::NotOwner if self.at_destination(&record) => self.close(record, "completed", None).await,
            Outcome::LimitReached => {
                let reason = format!(
                    "account {} at bank {} already has its maximum of {} keys",
                    record.to_account, record.to_bank, record.key_limit
                );
                self.close(record, "failed", Some(reason.clone())).await?;
                Err(ServiceError::LimitExceeded(reason))
            }
            other => {
                let reason = format!("the directory did not move the key ({other:?})");
                self.close(record, "failed", Some(reason.clone())).await?;
                Err(ServiceError::Ledger(LedgerError::KeyClaimClosed(reason)))
            }
        }
    }

    /// At the donor bank: the owner refuses; the key stays here.
    pub async fn refuse_claim(&self, caller: &Caller, id: &str) -> Result<ClaimView, ServiceError> {
        let record = self.pending_donor_claim(caller, id).await?;
        if self.at_destination(&record) {
            return self.close(record, "completed", None).await;
        }
        self.close(record, "refused", Some("the owner refused it at the bank that holds the key".into())).await
    }

    /// At the claimant bank: the donor tells what became of a claim (only the donor may).
    pub async fn claim_decided(&self, from_bank: &str, decided: ClaimDecided) -> Result<(), ServiceError> {
        if !FINAL_STATUSES.contains(&decided.status.as_str()) {
            return Err(ServiceError::InvalidField(format!("{:?} is not a final status of a claim", decided.status)));
        }
        let record = self.ledger.key_claim(&decided.id, ClaimSide::Claimant).await?;
        let Some(record) = record.filter(|r| r.from_bank == from_bank) else {
            return Err(ServiceError::KeyClaimNotFound(format!("no claim {} on bank {from_bank}'s keys here", decided.id)));
        };
        let reason = decided.reason.map(|r| r.chars().take(300).collect::<String>());
        let job = KeyClaimJob::Decide { id: record.id, side: ClaimSide::Claimant, status: decided.status, reason, at_ms: wall_clock_ms() };
        match self.ledger.submit(Job::KeyClaim(job), None).await {
            Ok(_) | Err(LedgerError::KeyClaimClosed(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn pending_donor_claim(&self, caller: &Caller, id: &str) -> Result<ClaimRecord, ServiceError> {
        let record = self.ledger.key_claim(id, ClaimSide::Donor).await?;
        let Some(record) = record.filter(|r| r.document == caller.document) else {
            return Err(ServiceError::KeyClaimNotFound(format!("no claim {id} on your keys at this bank")));
        };
        if record.status != "pending" {
            return Err(ServiceError::Ledger(LedgerError::KeyClaimClosed(format!("claim {id} is already {}", record.status))));
        }
        Ok(record)
    }

    /// Records the donor's decision, then tells the claimant bank (in the background: the
    /// customer does not wait for it, and the claimant's replica shows a move anyway).
    async fn close(&self, mut record: ClaimRecord, status: &str, reason: Option<String>) -> Result<ClaimView, ServiceError> {
        let at_ms = wall_clock_ms();
        let job = KeyClaimJob::Decide {
            id: record.id.clone(),
            side: ClaimSide::Donor,
            status: status.to_string(),
            reason: reason.clone(),
            at_ms,
        };
        self.ledger.submit(Job::KeyClaim(job), None).await?;
        tracing::info!(claim = %record.id, status, "pix key claim decided");
        record.status = status.to_string();
        record.reason = reason.clone();
        record.decided_at_ms = Some(at_ms);
        if let Ok(url) = self.member_url(&record.to_bank) {
            let notice = ClaimDecided { id: record.id.clone(), status: status.to_string(), reason };
            let peers = self.peers.clone();
            tokio::spawn(async move {
                let answer: Result<serde_json::Value, PeerError> = peers.call(&url, "/bank/v1/key-claim-decided", &notice).await;
                if let Err(error) = answer {
                    tracing::info!(%error, claim = %notice.id, "the claimant bank was not told of the decision");
                }
            });
        }
        Ok(self.claim_view(record))
    }

    fn at_destination(&self, record: &ClaimRecord) -> bool {
        self.directory
            .read(|r| r.directory().lookup(&record.key).is_some_and(|(_, o)| o.bank == record.to_bank && o.account == record.to_account))
    }

    fn member_url(&self, bank: &str) -> Result<String, ServiceError> {
        self.members
            .get()
            .list
            .iter()
            .find(|m| m.id == bank)
            .map(|m| m.url.clone())
            .ok_or_else(|| ServiceError::UnknownBank(bank.to_string()))
    }

    /// The status a customer reads now: a pending claim whose key already names the new
    /// account is completed; one past its expiry (the donor's, as it told) is expired.
    fn claim_view(&self, record: ClaimRecord) -> ClaimView {
        let status = if record.status == "pending" && self.at_destination(&record) {
            "completed".to_string()
        } else if record.status == "pending" && record.expires_at_ms <= wall_clock_ms() {
            "expired".to_string()
        } else {
            record.status.clone()
        };
        let display = ringbank_domain::PixKeyKind::parse(&record.key_kind)
            .ok()
            .and_then(|kind| PixKey::parse(kind, &record.key).ok())
            .map(|key| key.display())
            .unwrap_or_else(|| record.key.clone());
        ClaimView {
            id: record.id,
            side: record.side.as_str().to_string(),
            key: record.key,
            key_kind: record.key_kind,
            display,
            from_bank: record.from_bank,
            from_account: record.from_account,
            to_bank: record.to_bank,
            to_account: record.to_account,
            status,
            reason: record.reason,
            created_at_ms: record.created_at_ms,
            expires_at_ms: record.expires_at_ms,
        }
    }
}

/// A donor's 4xx answer to a claim, as the claimant's customer reads it.
fn refusal_of(bank: &str, body: &str) -> ServiceError {
    let problem: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let detail = problem["detail"].as_str().unwrap_or("the claim was refused").to_string();
    let kind = problem["type"].as_str().unwrap_or("");
    if kind.ends_with("/key-claim-pending") {
        ServiceError::Ledger(LedgerError::KeyClaimPending(format!("bank {bank}: {detail}")))
    } else {
        ServiceError::KeyClaimRefused(format!("bank {bank}: {detail}"))
    }
}
