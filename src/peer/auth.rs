//! Authentication of bank-to-bank requests: an HMAC-SHA256 with the consortium's ring secret
//! over the method, path, body digest, a timestamp, a nonce and the sending bank's id. The
//! receiver accepts a timestamp within `REPLAY_WINDOW` of its own wall clock (authentication
//! only; no protocol decision reads a wall clock) and each nonce once within that window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const HEADER_BANK: &str = "x-ring-bank";
pub const HEADER_TIMESTAMP: &str = "x-ring-timestamp";
pub const HEADER_NONCE: &str = "x-ring-nonce";
pub const HEADER_SIGNATURE: &str = "x-ring-signature";

/// How far a request's timestamp may be from the receiver's clock, either way.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(30);
/// Nonces remembered at most; past this, requests are refused until old nonces expire.
const NONCES_MAX: usize = 200_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("the timestamp is outside the replay window")]
    Stale,
    #[error("the nonce was already used")]
    Replayed,
    #[error("the signature does not match")]
    BadSignature,
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

fn mac(secret: &[u8], method: &str, path: &str, body: &[u8], timestamp_ms: i64, nonce: &str, bank: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length");
    let digest = hex::encode(Sha256::digest(body));
    mac.update(format!("{method}\n{path}\n{digest}\n{timestamp_ms}\n{nonce}\n{bank}").as_bytes());
    mac
}

/// Signs a request from `bank`.
pub fn sign(secret: &[u8], method: &str, path: &str, body: &[u8], bank: &str, timestamp_ms: i64) -> Signed {
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let signature = hex::encode(mac(secret, method, path, body, timestamp_ms, &nonce, bank).finalize().into_bytes());
    Signed { bank: bank.to_string(), timestamp_ms, nonce, signature }
}

/// Verifies signatures and remembers nonces.
pub struct Verifier {
    secret: Vec<u8>,
    seen: Mutex<HashMap<String, Instant>>,
}

impl Verifier {
    pub fn new(secret: &[u8]) -> Verifier {
        Verifier { secret: secret.to_vec(), seen: Mutex::new(HashMap::new()) }
    }

    pub fn verify(&self, method: &str, path: &str, body: &[u8], signed: &Signed, now_ms: i64) -> Result<(), AuthError> {
        let window_ms = i64::try_from(REPLAY_WINDOW.as_millis()).unwrap_or(i64::MAX);
        if (signed.timestamp_ms - now_ms).abs() > window_ms {
            return Err(AuthError::Stale);
        }
        let signature = hex::decode(&signed.signature).map_err(|_| AuthError::BadSignature)?;
        mac(&self.secret, method, path, body, signed.timestamp_ms, &signed.nonce, &signed.bank)
            .verify_slice(&signature)
            .map_err(|_| AuthError::BadSignature)?;
        let mut seen = self.seen.lock().expect("nonce lock");
        if seen.len() >= NONCES_MAX {
            seen.retain(|_, at| at.elapsed() < REPLAY_WINDOW * 2);
            if seen.len() >= NONCES_MAX {
                return Err(AuthError::Overloaded);
            }
        }
        if seen.insert(signed.nonce.clone(), Instant::now()).is_some() {
            return Err(AuthError::Replayed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_every_part_and_nonces_are_single_use() {
        let secret = b"consortium secret";
        let verifier = Verifier::new(secret);
        let now = 1_000_000;
        let signed = sign(secret, "POST", "/ring/v1/token", b"{}", "A", now);
        assert_eq!(verifier.verify("POST", "/ring/v1/token", b"{}", &signed, now + 5), Ok(()));
        assert_eq!(verifier.verify("POST", "/ring/v1/token", b"{}", &signed, now + 5), Err(AuthError::Replayed));
        let signed = sign(secret, "POST", "/ring/v1/token", b"{}", "A", now);
        assert_eq!(verifier.verify("POST", "/ring/v1/claim", b"{}", &signed, now), Err(AuthError::BadSignature));
        assert_eq!(verifier.verify("POST", "/ring/v1/token", b"{ }", &signed, now), Err(AuthError::BadSignature));
        let forged = Signed { bank: "B".into(), ..sign(secret, "POST", "/x", b"", "A", now) };
        assert_eq!(verifier.verify("POST", "/x", b"", &forged, now), Err(AuthError::BadSignature));
        let stale = sign(secret, "POST", "/x", b"", "A", now - 31_000);
        assert_eq!(verifier.verify("POST", "/x", b"", &stale, now), Err(AuthError::Stale));
        let other_secret = sign(b"another secret", "POST", "/x", b"", "A", now);
        assert_eq!(verifier.verify("POST", "/x", b"", &other_secret, now), Err(AuthError::BadSignature));
    }
}
