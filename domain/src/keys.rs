//! Per-bank signing keys (Ed25519): every bank signs what it sends with its own secret key and
//! every other bank checks it against the sender's public key from the consortium's member list.
//! Text forms, one line each, so that keys live in files, environment variables and the member
//! list: `ed25519-secret:<64 hex>` (the 32-byte seed), `ed25519:<64 hex>` (the public key), and a
//! signature as 128 hex digits. No I/O here: the caller brings the seed's randomness.

use std::fmt;

use ed25519_dalek::{Signer, Verifier};

const SECRET_PREFIX: &str = "ed25519-secret:";
const PUBLIC_PREFIX: &str = "ed25519:";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("a secret key is written `ed25519-secret:` and 64 hex digits")]
    SecretForm,
    #[error("a public key is written `ed25519:` and 64 hex digits of a valid Ed25519 point")]
    PublicForm,
    #[error("a signature is 128 hex digits")]
    SignatureForm,
    #[error("the signature does not match the message and the key")]
    BadSignature,
}

/// A bank's secret signing key. Its `Debug` does not show the secret.
#[derive(Clone)]
pub struct SecretKey(ed25519_dalek::SigningKey);

impl SecretKey {
    /// The key from 32 random bytes (the caller draws them from the operating system).
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// Parses `ed25519-secret:<64 hex>`, surrounding whitespace allowed (a key file's newline).
    pub fn parse(text: &str) -> Result<SecretKey, KeyError> {
        let hex_digits = text.trim().strip_prefix(SECRET_PREFIX).ok_or(KeyError::SecretForm)?;
        let seed: [u8; 32] = decode_hex(hex_digits).ok_or(KeyError::SecretForm)?;
        Ok(SecretKey::from_seed(seed))
    }

    /// Reads a key file: `#` comment lines and blank lines, and one line with the secret key.
    pub fn parse_key_file(text: &str) -> Result<SecretKey, KeyError> {
        let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#'));
        match (lines.next(), lines.next()) {
            (Some(line), None) => SecretKey::parse(line),
            _ => Err(KeyError::SecretForm),
        }
    }

    /// The text of a new key file: comments saying what it is and its public key, then the secret.
    pub fn to_key_file_text(&self) -> String {
        format!(
            "# ringbank bank key: keep this file secret (readable by the bank's user only).\n\
             # public key (register it at every member): {}\n{}\n",
            self.public(),
            self.to_secret_text()
        )
    }

    /// The text form, for a key file. Handle with care: it is the secret.
    pub fn to_secret_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", encode_hex(&self.0.to_bytes()))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }

    /// Signs `message` in a signing domain (see [`separated`]): a signature made for one
    /// purpose (a request, a decision, a ring confirmation) never verifies as another.
    pub fn sign_in(&self, domain: SigningDomain, message: &[u8]) -> Signature {
        self.sign(&separated(domain, message))
    }
}

/// What a signature is for. Every signed byte string starts with the domain's name and a
/// newline, so a signature over one kind of message can never be replayed as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigningDomain(&'static str);

impl SigningDomain {
    /// Bank-to-bank HTTP requests (/ring/v1, /bank/v1).
    pub const REQUEST: SigningDomain = SigningDomain("ringbank-request-v1");
    /// A coordinator's decision on a cross-bank transfer (receipts, proven outcomes).
    pub const DECISION: SigningDomain = SigningDomain("ringbank-decision-v1");

    /// A domain for another purpose; its name must not be one of the above.
    pub const fn new(name: &'static str) -> SigningDomain {
        SigningDomain(name)
    }

    pub fn name(self) -> &'static str {
        self.0
    }
}

/// The bytes actually signed: `domain name`, `\n`, then the message.
pub fn separated(domain: SigningDomain, message: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(domain.0.len() + 1 + message.len());
    bytes.extend_from_slice(domain.0.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(message);
    bytes
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public())
    }
}

/// A bank's public key, as the member list names it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Parses `ed25519:<64 hex>`; refuses points that are not valid public keys.
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let hex_digits = text.trim().strip_prefix(PUBLIC_PREFIX).ok_or(KeyError::PublicForm)?;
        let bytes: [u8; 32] = decode_hex(hex_digits).ok_or(KeyError::PublicForm)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::PublicForm)?;
        if key.is_weak() {
            return Err(KeyError::PublicForm);
        }
        Ok(PublicKey(key))
    }

    /// Checks `signature` over `message` (strict verification: no malleable or weak-key forms).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0.verify_strict(message, &signature).map_err(|_| KeyError::BadSignature)?;
        // verify_strict implies Verifier::verify; keep the trait in use for clarity of intent.
        debug_assert!(self.0.verify(message, &signature).is_ok());
        Ok(())
    }

    /// Checks a signature made with [`SecretKey::sign_in`] in the same domain.
    pub fn verify_in(&self, domain: SigningDomain, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        self.verify(&separated(domain, message), signature)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", encode_hex(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<PublicKey, D::Error> {
        let text = String::deserialize(deserializer)?;
        PublicKey::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 signature (64 bytes), written as 128 hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 64]);

impl Signature {
    pub fn parse(text: &str) -> Result<Signature, KeyError> {
        decode_hex(text.trim()).map(Signature).ok_or(KeyError::SignatureForm)
    }

    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }

    /// The signature from its 64 bytes (a stand-in signer in a simulator builds them too).
    pub fn from_bytes(bytes: [u8; 64]) -> Signature {
        Signature(bytes)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_hex(&self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Signature, D::Error> {
        let text = String::deserialize(deserializer)?;
        Signature::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text_and_signatures_bind_message_and_key() {
        let secret = SecretKey::from_seed([7; 32]);
        let again = SecretKey::parse(&format!("{}\n", secret.to_secret_text())).unwrap();
        assert_eq!(again.public(), secret.public());
        let public = PublicKey::parse(&secret.public().to_string()).unwrap();
        let signature = secret.sign(b"prepare 1");
        assert_eq!(public.verify(b"prepare 1", &signature), Ok(()));
        assert_eq!(public.verify(b"prepare 2", &signature), Err(KeyError::BadSignature));
        let other = SecretKey::from_seed([8; 32]).public();
        assert_eq!(other.verify(b"prepare 1", &signature), Err(KeyError::BadSignature));
        let from_file = SecretKey::parse_key_file(&secret.to_key_file_text()).unwrap();
        assert_eq!(from_file.public(), secret.public());
        assert!(SecretKey::parse_key_file("# nothing\n").is_err());
        assert!(SecretKey::parse_key_file(&format!("{0}\n{0}\n", secret.to_secret_text())).is_err());
        let parsed = Signature::parse(&signature.to_string()).unwrap();
        assert_eq!(parsed, signature);
        assert!(!format!("{secret:?}").contains(&secret.to_secret_text()[SECRET_PREFIX.len()..]));
    }

    #[test]
    fn a_signature_in_one_domain_does_not_verify_in_another() {
        let secret = SecretKey::from_seed([9; 32]);
        let signature = secret.sign_in(SigningDomain::REQUEST, b"m");
        assert_eq!(secret.public().verify_in(SigningDomain::REQUEST, b"m", &signature), Ok(()));
        assert_eq!(secret.public().verify_in(SigningDomain::DECISION, b"m", &signature), Err(KeyError::BadSignature));
        assert_eq!(secret.public().verify(b"m", &signature), Err(KeyError::BadSignature));
        assert_eq!(separated(SigningDomain::REQUEST, b"m"), b"ringbank-request-v1\nm".to_vec());
    }

    #[test]
    fn malformed_text_is_refused() {
        assert_eq!(SecretKey::parse("ed25519-secret:12").err(), Some(KeyError::SecretForm));
        assert_eq!(SecretKey::parse(&"a".repeat(64)).err(), Some(KeyError::SecretForm));
        assert_eq!(PublicKey::parse("ed25519:zz").err(), Some(KeyError::PublicForm));
        // The identity point is a weak key: a signature by "nobody" would verify under it.
        let identity = format!("ed25519:01{}", "0".repeat(62));
        assert_eq!(PublicKey::parse(&identity).err(), Some(KeyError::PublicForm));
        assert_eq!(Signature::parse("00").err(), Some(KeyError::SignatureForm));
        assert_eq!(Signature::parse(&"é".repeat(64)).err(), Some(KeyError::SignatureForm));
    }
}
