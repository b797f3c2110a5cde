//! Who the caller is: sessions (tokens stored as hashes, checked sessions cached), passwords
//! (Argon2id), the sign-in limiter, and the set of requests in flight per Idempotency-Key.

use std::net::IpAddr;
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

use super::{ServiceError, Services};
use crate::clock::wall_clock_ms;
use crate::ledger::Job;

/// Sessions cached in memory at most.
const SESSION_CACHE_MAX: usize = 100_000;

/// The authenticated customer making a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub document: String,
    pub person: bool,
    pub name: String,
}

impl Services {
    /// Resolves `Authorization: Bearer <token>` to the customer, or fails with 401.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, ServiceError> {
        let token = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .ok_or(ServiceError::Unauthenticated)?;
        let token_hash = hash_token(token);
        let now = wall_clock_ms();
        // Sessions are cached in memory until they expire; signing out removes the entry.
        if let Some((caller, expires_at_ms)) = self.sessions.lock().expect("session cache").get(&token_hash) {
            if *expires_at_ms > now {
                return Ok(caller.clone());
            }
        }
        let (document, expires_at_ms) = self.ledger.session_document(&token_hash, now).await?.ok_or(ServiceError::Unauthenticated)?;
        let customer = self.ledger.customer(&document).await?.ok_or(ServiceError::Unauthenticated)?;
        let caller = Caller { document, person: customer.kind == ringbank_domain::CustomerKind::Person, name: customer.name };
        let mut cache = self.sessions.lock().expect("session cache");
        if cache.len() >= SESSION_CACHE_MAX {
            cache.retain(|_, (_, expires)| *expires > now);
            if cache.len() >= SESSION_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(token_hash, (caller.clone(), expires_at_ms));
        Ok(caller)
    }

    /// Checks a password and opens a session; returns the token and its expiry (ms). Guessing
    /// is throttled per client address (`client`, when the transport knows it) and document.
    pub async fn sign_in(&self, client: Option<IpAddr>, document: &str, password: &str) -> Result<(String, i64), ServiceError> {
        match self.sign_in_failures.check(client, document) {
            Err(wait) => {
                let retry_after_seconds = wait.as_secs().max(1);
                let detail = format!("too many failed sign-ins from this address; try again in {retry_after_seconds} s");
                return Err(ServiceError::TooManyAttempts { detail, retry_after_seconds });
            }
            Ok(delay) if !delay.is_zero() => tokio::time::sleep(delay).await,
            Ok(_) => {}
        }
        let customer = self.ledger.customer(document).await?;
        let stored_hash = customer.as_ref().map(|c| c.password_hash.clone());
        let password = password.to_string();
        // Verify against a dummy hash for unknown documents too, so timing does not reveal them.
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, stored_hash.as_deref()))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        if !ok || customer.is_none() {
            self.sign_in_failures.record_failure(client, document);
            return Err(ServiceError::WrongCredentials);
        }
        self.sign_in_failures.record_success(client, document);
        let token = hex::encode(rand::random::<[u8; 32]>());
        let ttl_ms = i64::try_from(self.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
        let expires_at_ms = wall_clock_ms().saturating_add(ttl_ms);
        let job = Job::CreateSession { token_hash: hash_token(&token), document: document.to_string(), expires_at_ms };
        self.ledger.submit(job, None).await?;
        Ok((token, expires_at_ms))
    }

    pub async fn sign_out(&self, authorization: Option<&str>) -> Result<(), ServiceError> {
        self.authenticate(authorization).await?;
        let token = authorization.and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("").trim();
        let token_hash = hash_token(token);
        self.sessions.lock().expect("session cache").remove(&token_hash);
        self.ledger.submit(Job::DeleteSession { token_hash }, None).await?;
        Ok(())
    }

    /// Marks a (customer, Idempotency-Key) pair as in flight until the guard drops; a second
    /// request with the same pair meanwhile gets 409.
    pub fn enter_in_flight(self: &Arc<Self>, document: &str, key: &str) -> Result<InFlightGuard, ServiceError> {
        let pair = (document.to_string(), key.to_string());
        let mut set = self.in_flight.lock().expect("in-flight lock");
        if !set.insert(pair.clone()) {
            return Err(ServiceError::IdempotencyInProgress);
        }
        Ok(InFlightGuard { services: self.clone(), pair })
    }
}

pub struct InFlightGuard {
    services: Arc<Services>,
    pair: (String, String),
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Ok(mut set) = self.services.in_flight.lock() {
            set.remove(&self.pair);
        }
    }
}

/// Session tokens are stored only as their SHA-256.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Hashes a password with Argon2id and a random salt (PHC string format).
pub fn hash_password(password: &str) -> Result<String, ServiceError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(format!("password hashing failed: {e}")))
}

/// A valid hash of a random password, verified against when the customer does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0bJ1Q0RxqvV3o3KB7s1KcRLUVzYpQJ9+E9nKNfLsLw0";

fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let hash = stored.unwrap_or(DUMMY_HASH);
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && stored.is_some(),
        Err(_) => false,
    }
}
