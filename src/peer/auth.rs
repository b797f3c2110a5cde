//! Authentication of bank-to-bank requests: every request is signed with the SENDING bank's
//! Ed25519 key (its own, see `ringbank keygen`) over the method, path, body digest, a
//! timestamp, a nonce and the sending bank's id, in the signing domain `ringbank-request-v1`.
//! The receiver checks it against the sender's public key from the member list, so no member
//! can speak for another. It accepts a timestamp within `REPLAY_WINDOW` of its own wall clock
//! (authentication only; no protocol decision reads a wall clock) and each nonce once within
//! that window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ringbank_domain::{PublicKey, SecretKey, Signature, SigningDomain};
use sha2::{Digest, Sha256};

pub const HEADER_BANK: &str = "x-ring-bank";
pub const HEADER_TIMESTAMP: &str = "x-ring-timestamp";
pub const HEADER_NONCE: &str = "x-ring-nonce";
pub const HEADER_SIGNATURE: &str = "x-ring-signature";

/// How far a request's timestamp may be from the receiver's clock, either way.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(30);
/// Nonces remembered at most; past this, requests are refused until old nonces expire.
const NONCES_MAX: usize = 200_000;
/// A nonce is 1 to 64 characters (the client sends 32 hex digits).
const NONCE_MAX: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("the timestamp is outside the replay window")]
    Stale,
    #[error("the nonce was already used")]
    Replayed,
    #[error("the signature does not match the sending bank's public key")]
    BadSignature,
    #[error("bank {0:?} is not in the member list")]
    UnknownBank(String),
    #[error("too many requests in the replay window")]
    Overloaded,
}

/// The headers a signed request carries.
pub struct Signed {
    pub bank: String,
    pub timestamp_ms: i64,
    pub nonce: String,
    pub signature: String,
}

/// The text that is signed (after the domain line `ringbank-request-v1`): method, path, the
/// SHA-256 of the body in hex, the timestamp in ms, the nonce and the sending bank's id, one
/// per line.
pub fn signed_text(method: &str, path: &str, body: &[u8], timestamp_ms: i64, nonce: &str, bank: &str) -> String {
    let digest = hex::encode(Sha256::digest(body));
    format!("{method}\n{path}\n{digest}\n{timestamp_ms}\n{nonce}\n{bank}")
}

/// Signs a request from `bank` with that bank's own secret key.
pub fn sign(key: &SecretKey, method: &str, path: &str, body: &[u8], bank: &str, timestamp_ms: i64) -> Signed {
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let text = signed_text(method, path, body, timestamp_ms, &nonce, bank);
    let signature = key.sign_in(SigningDomain::REQUEST, text.as_bytes()).to_string();
    Signed { bank: bank.to_string(), timestamp_ms, nonce, signature }
}

/// Verifies signatures against the members' public keys and remembers nonces.
pub struct Verifier {
    /// A member's public key by bank id (None: not a member), as the member list says now.
    keys: Box<dyn Fn(&str) -> Option<PublicKey> + Send + Sync>,
    seen: Mutex<HashMap<(String, String), Instant>>,
    /// When a request from each unknown bank was last reported at WARN (see `worth_a_warning`).
    warned: Mutex<HashMap<String, Instant>>,
}

/// An unknown bank's refusals are reported at WARN at most this often; the rest at DEBUG (a bank
/// started with `--join` and not added yet, or one just removed, keeps sending).
pub const UNKNOWN_BANK_WARN_EVERY: Duration = Duration::from_secs(60);
/// Unknown banks remembered for that at most (a flood of made-up names forgets the oldest).
const WARNED_MAX: usize = 1024;

impl Verifier {
    /// `keys`: every member bank's id and public key (this bank's included).
    pub fn new(keys: impl IntoIterator<Item = (String, PublicKey)>) -> Verifier {
        let keys: HashMap<String, PublicKey> = keys.into_iter().collect();
        Verifier::with_lookup(move |bank| keys.get(bank).copied())
    }

    /// A verifier that asks `keys` for a bank's key at each request (the member list changes).
    pub fn with_lookup(keys: impl Fn(&str) -> Option<PublicKey> + Send + Sync + 'static) -> Verifier {
        Verifier { keys: Box::new(keys), seen: Mutex::new(HashMap::new()), warned: Mutex::new(HashMap::new()) }
    }

    /// Whether a refusal deserves a WARN line: always, except an unknown bank's, which is worth
    /// one per `UNKNOWN_BANK_WARN_EVERY`.
    pub fn worth_a_warning(&self, error: &AuthError) -> bool {
        let AuthError::UnknownBank(bank) = error else { return true };
        let mut warned = self.warned.lock().expect("warned lock");
        if warned.len() >= WARNED_MAX {
            warned.clear();
        }
        match warned.get(bank) {
            Some(at) if at.elapsed() < UNKNOWN_BANK_WARN_EVERY => false,
            _ => {
                warned.insert(bank.clone(), Instant::now());
                true
            }
        }
    }

    pub fn verify(&self, method: &str, path: &str, body: &[u8], signed: &Signed, now_ms: i64) -> Result<(), AuthError> {
        let window_ms = i64::try_from(REPLAY_WINDOW.as_millis()).unwrap_or(i64::MAX);
        if (signed.timestamp_ms.saturating_sub(now_ms)).abs() > window_ms {
            return Err(AuthError::Stale);
        }
        if signed.nonce.is_empty() || signed.nonce.len() > NONCE_MAX {
            return Err(AuthError::BadSignature);
        }
        let key = (self.keys)(&signed.bank).ok_or_else(|| AuthError::UnknownBank(signed.bank.clone()))?;
        let signature = Signature::parse(&signed.signature).map_err(|_| AuthError::BadSignature)?;
        let text = signed_text(method, path, body, signed.timestamp_ms, &signed.nonce, &signed.bank);
        key.verify_in(SigningDomain::REQUEST, text.as_bytes(), &signature).map_err(|_| AuthError::BadSignature)?;
        let mut seen = self.seen.lock().expect("nonce lock");
        if seen.len() >= NONCES_MAX {
            seen.retain(|_, at| at.elapsed() < REPLAY_WINDOW * 2);
            if seen.len() >= NONCES_MAX {
                return Err(AuthError::Overloaded);
            }
        }
        if seen.insert((signed.bank.clone(), signed.nonce.clone()), Instant::now()).is_some() {
            return Err(AuthError::Replayed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_every_part_and_the_sender_and_nonces_are_single_use() {
        let (a, b) = (SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32]));
        let verifier = Verifier::new([("A".to_string(), a.public()), ("B".to_string(), b.public())]);
        let now = 1_000_000;
        let signed = sign(&a, "POST", "/ring/v1/token", b"{}", "A", now);
        assert_eq!(verifier.verify("POST", "/ring/v1/token", b"{}", &signed, now + 5), Ok(()));
        assert_eq!(verifier.verify("POST", "/ring/v1/token", b"{}", &signed, now + 5), Err(AuthError::Replayed));
        let signed = sign(&a, "POST", "/ring/v1/token", b"{}", "A", now);
        assert_eq!(verifier.verify("POST", "/ring/v1/claim", b"{}", &signed, now), Err(AuthError::BadSignature));
        assert_eq!(verifier.verify("POST", "/ring/v1/token", b"{ }", &signed, now), Err(AuthError::BadSignature));
        // A signs with its own key but claims to be B.
        let as_b = sign(&a, "POST", "/x", b"", "B", now);
        assert_eq!(verifier.verify("POST", "/x", b"", &as_b, now), Err(AuthError::BadSignature));
        let forged = Signed { bank: "B".into(), ..sign(&a, "POST", "/x", b"", "A", now) };
        assert_eq!(verifier.verify("POST", "/x", b"", &forged, now), Err(AuthError::BadSignature));
        let stale = sign(&a, "POST", "/x", b"", "A", now - 31_000);
        assert_eq!(verifier.verify("POST", "/x", b"", &stale, now), Err(AuthError::Stale));
        let stranger = sign(&SecretKey::from_seed([3; 32]), "POST", "/x", b"", "Z", now);
        assert_eq!(verifier.verify("POST", "/x", b"", &stranger, now), Err(AuthError::UnknownBank("Z".into())));
        // An unknown bank is worth one warning a minute; a bad signature always is.
        assert!(verifier.worth_a_warning(&AuthError::UnknownBank("Z".into())));
        assert!(!verifier.worth_a_warning(&AuthError::UnknownBank("Z".into())));
        assert!(verifier.worth_a_warning(&AuthError::UnknownBank("Y".into())));
        assert!(verifier.worth_a_warning(&AuthError::BadSignature) && verifier.worth_a_warning(&AuthError::BadSignature));
        let by_b = sign(&b, "POST", "/x", b"", "B", now);
        assert_eq!(verifier.verify("POST", "/x", b"", &by_b, now), Ok(()));
    }

    /// The cost of signing and verifying one request, printed (not asserted), for a small
    /// message and for a prepare of a full batch (512 transfers, ~128 KiB of JSON): run with
    /// `cargo test --release --lib peer::auth -- --nocapture`.
    #[test]
    fn signing_and_verifying_cost_is_printed() {
        let key = SecretKey::from_seed([4; 32]);
        let verifier = Verifier::new([("A".to_string(), key.public())]);
        for (label, size, rounds) in [("ring message, 64 B", 64, 2_000u32), ("batch prepare, 128 KiB", 128 * 1024, 200)] {
            let body = vec![b'x'; size];
            let started = Instant::now();
            let signed: Vec<Signed> = (0..rounds).map(|_| sign(&key, "POST", "/bank/v1/prepare", &body, "A", 1_000)).collect();
            let signing = started.elapsed();
            let started = Instant::now();
            for request in &signed {
                assert_eq!(verifier.verify("POST", "/bank/v1/prepare", &body, request, 1_000), Ok(()));
            }
            let verifying = started.elapsed();
            println!(
                "request signature ({label}, {rounds} rounds): sign {:.1} us, verify {:.1} us per request",
                signing.as_secs_f64() * 1e6 / f64::from(rounds),
                verifying.as_secs_f64() * 1e6 / f64::from(rounds)
            );
        }
    }
}
