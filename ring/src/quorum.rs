//! Signed confirmations and quorum certificates: a member's `Confirm` carries its signature over a
//! domain-separated (stamp, holder), and a holder's grant comes with the certificate of a quorum
//! of them. Anyone with the member list checks a certificate without trusting the holder, so a
//! stamp (and the epoch in it) is believed only when a quorum of members vouched for it.
//!
//! The keys come from the driver through [`Keyring`]: the bank's Ed25519 keys
//! ([`Ed25519Keyring`]), or a cheap stand-in in the simulators (thousands of seeds per run).

use std::fmt;
use std::sync::Arc;

use ringbank_domain::keys::{PublicKey, SecretKey, Signature};

use crate::membership::{Membership, PublicKeyBytes};
use crate::{NodeId, Stamp};

/// Prefix of every signed confirmation, so that no other message of the consortium (a request
/// signature, a receipt, a decision) can be replayed as one.
pub const CONFIRM_CONTEXT: &[u8] = b"ringbank/ring/confirm/v1\0";

/// The bytes a member signs to confirm that `holder` owns `stamp`.
pub fn confirm_bytes(stamp: Stamp, holder: NodeId) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(CONFIRM_CONTEXT.len() + 18);
    bytes.extend_from_slice(CONFIRM_CONTEXT);
    bytes.extend_from_slice(&stamp.epoch.to_be_bytes());
    bytes.extend_from_slice(&stamp.seq.to_be_bytes());
    bytes.extend_from_slice(&holder.to_be_bytes());
    bytes
}

/// Prefix of a confirmation under a changed membership (version 1 on, or a member set given to
/// a node added by a change): the membership follows (stamp, holder) in the signed bytes.
pub const CONFIRM_IN_CONTEXT: &[u8] = b"ringbank/ring/confirm/v2\0";

/// The bytes a member signs to confirm that `holder` owns `stamp` under `membership` (None or
/// the founding set: exactly `confirm_bytes`, so a ring that never changes signs what it did).
pub fn confirm_bytes_in(stamp: Stamp, holder: NodeId, membership: Option<&Membership>) -> Vec<u8> {
    match membership.filter(|membership| !membership.is_founding()) {
        None => confirm_bytes(stamp, holder),
        Some(membership) => {
            let mut bytes = CONFIRM_IN_CONTEXT.to_vec();
            bytes.extend_from_slice(&stamp.epoch.to_be_bytes());
            bytes.extend_from_slice(&stamp.seq.to_be_bytes());
            bytes.extend_from_slice(&holder.to_be_bytes());
            bytes.extend_from_slice(&membership.confirm_suffix());
            bytes
        }
    }
}

/// Signs as this member and checks other members' signatures. No I/O: the keys are in memory.
pub trait Keyring: Send + Sync {
    fn sign(&self, message: &[u8]) -> Signature;
    /// True if `signature` over `message` is `signer`'s (false for a non-member).
    fn verify(&self, signer: NodeId, message: &[u8], signature: &Signature) -> bool;
    /// True if `signature` over `message` verifies under `public_key` (a member added by a
    /// membership change, whose key the membership carries). The default knows no key scheme
    /// and refuses, so such a keyring never counts an added member.
    fn verify_with_key(&self, public_key: &PublicKeyBytes, message: &[u8], signature: &Signature) -> bool {
        let _ = (public_key, message, signature);
        false
    }
}

/// A shared keyring, cheap to clone (nodes and participants are cloned by their drivers).
#[derive(Clone)]
pub struct Keys(Arc<dyn Keyring>);

impl Keys {
    pub fn new(keyring: impl Keyring + 'static) -> Keys {
        Keys(Arc::new(keyring))
    }

    pub fn sign_confirm(&self, stamp: Stamp, holder: NodeId) -> Signature {
        self.0.sign(&confirm_bytes(stamp, holder))
    }

    pub fn verify_confirm(&self, signer: NodeId, stamp: Stamp, holder: NodeId, signature: &Signature) -> bool {
        self.0.verify(signer, &confirm_bytes(stamp, holder), signature)
    }

    /// Signs a confirmation of `holder` for `stamp` claimed under `membership`.
    pub fn sign_confirm_in(&self, stamp: Stamp, holder: NodeId, membership: Option<&Membership>) -> Signature {
        self.0.sign(&confirm_bytes_in(stamp, holder, membership))
    }

    /// Checks a confirmation made under `membership`, with the key it gives the signer, if any.
    pub fn verify_confirm_in(
        &self,
        signer: NodeId,
        stamp: Stamp,
        holder: NodeId,
        membership: Option<&Membership>,
        signature: &Signature,
    ) -> bool {
        self.verify_member(membership, signer, &confirm_bytes_in(stamp, holder, membership), signature)
    }

    /// Checks `signer`'s signature: with the key `membership` gives it, else the keyring's.
    pub fn verify_member(&self, membership: Option<&Membership>, signer: NodeId, message: &[u8], signature: &Signature) -> bool {
        match membership.and_then(|membership| membership.key_of(signer)) {
            Some(key) => self.0.verify_with_key(key, message, signature),
            None => self.0.verify(signer, message, signature),
        }
    }

    pub fn keyring(&self) -> &dyn Keyring {
        self.0.as_ref()
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys")
    }
}

/// The bank's keyring: its own secret key and every member's public key.
pub struct Ed25519Keyring {
    secret: SecretKey,
    members: Vec<(NodeId, PublicKey)>,
}

impl Ed25519Keyring {
    pub fn new(secret: SecretKey, members: Vec<(NodeId, PublicKey)>) -> Ed25519Keyring {
        Ed25519Keyring { secret, members }
    }
}

impl Keyring for Ed25519Keyring {
    fn sign(&self, message: &[u8]) -> Signature {
        self.secret.sign(message)
    }

    fn verify(&self, signer: NodeId, message: &[u8], signature: &Signature) -> bool {
        self.members.iter().find(|(id, _)| *id == signer).is_some_and(|(_, key)| key.verify(message, signature).is_ok())
    }

    fn verify_with_key(&self, public_key: &PublicKeyBytes, message: &[u8], signature: &Signature) -> bool {
        // Through the textual form: the domain crate parses (and refuses weak points) only there.
        let hex: String = public_key.iter().map(|byte| format!("{byte:02x}")).collect();
        PublicKey::parse(&format!("ed25519:{hex}")).is_ok_and(|key| key.verify(message, signature).is_ok())
    }
}

/// One member's signed confirmation inside a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Confirmation {
    pub by: NodeId,
    pub signature: Signature,
}

/// A quorum certificate: `holder` owns `stamp`, signed by a quorum of distinct members.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Certificate {
    pub stamp: Stamp,
    pub holder: NodeId,
    pub confirmations: Vec<Confirmation>,
    /// The membership `stamp` was claimed under, which the confirmations signed (None: the
    /// founding member list, version 0).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub membership: Option<Membership>,
}

/// Why a certificate was not believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateError {
    /// Sequence 0, or an epoch not minted by a member (its low 16 bits name the candidate).
    ImpossibleStamp(Stamp),
    HolderNotAMember(NodeId),
    SignerNotAMember(NodeId),
    DuplicateSigner(NodeId),
    /// Fewer distinct valid confirmations than the quorum.
    TooFew {
        got: usize,
        quorum: usize,
    },
    BadSignature(NodeId),
    /// Claimed under a membership other than the one it is checked against.
    OtherMembership(u64),
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateError::ImpossibleStamp(stamp) => write!(f, "stamp {stamp} cannot have been minted"),
            CertificateError::HolderNotAMember(id) => write!(f, "the holder {id} is not a member"),
            CertificateError::SignerNotAMember(id) => write!(f, "signer {id} is not a member"),
            CertificateError::DuplicateSigner(id) => write!(f, "signer {id} appears twice"),
            CertificateError::TooFew { got, quorum } => write!(f, "{got} confirmations, a quorum is {quorum}"),
            CertificateError::BadSignature(id) => write!(f, "the signature of {id} does not verify"),
            CertificateError::OtherMembership(version) => write!(f, "claimed under another membership than version {version}"),
        }
    }
}

impl std::error::Error for CertificateError {}

impl Certificate {
    /// Checks the certificate against the member list: a possible stamp, a member holder, and a
    /// quorum of distinct members whose signatures verify. Cheap checks first, so a garbled
    /// certificate costs no signature verification.
    /// A certificate claimed under a changed membership must count in a set equal to `members`,
    /// and is then checked as `verify_in` does.
    pub fn verify(&self, members: &[NodeId], quorum: usize, keys: &Keys) -> Result<(), CertificateError> {
        if let Some(membership) = self.membership.as_ref().filter(|membership| !membership.is_founding()) {
            if !membership.counts_in(members) {
                return Err(CertificateError::OtherMembership(membership.version));
            }
            return self.verify_in(membership, keys);
        }
        let impossible_owner = |stamp: Stamp| !members.contains(&crate::epoch_owner(stamp.epoch));
        self.verify_counted(members, keys, &|ids: &[NodeId]| ids.len() >= quorum, quorum, &impossible_owner)
    }

    /// Checks the certificate against the membership it names (the caller decides whether it
    /// believes that membership, e.g. `Membership::may_adopt`): a quorum of each of its sets
    /// (both while joint), every signature over (stamp, holder, membership).
    pub fn verify_in(&self, membership: &Membership, keys: &Keys) -> Result<(), CertificateError> {
        let named = self.membership.as_ref().filter(|named| !named.is_founding());
        if named != Some(membership).filter(|membership| !membership.is_founding()) {
            return Err(CertificateError::OtherMembership(membership.version));
        }
        let union = membership.union();
        let enough = |ids: &[NodeId]| membership.is_quorum(|id| ids.contains(&id));
        // An epoch outlives a change that removes the member that minted it: under a changed
        // membership only the sequence number is checked here.
        let minted = |stamp: Stamp| membership.is_founding() && !union.contains(&crate::epoch_owner(stamp.epoch));
        self.verify_counted(&union, keys, &enough, membership.quorum(), &minted)
    }

    fn verify_counted(
        &self,
        members: &[NodeId],
        keys: &Keys,
        enough: &dyn Fn(&[NodeId]) -> bool,
        quorum: usize,
        impossible_owner: &dyn Fn(Stamp) -> bool,
    ) -> Result<(), CertificateError> {
        if self.stamp.seq == 0 || impossible_owner(self.stamp) {
            return Err(CertificateError::ImpossibleStamp(self.stamp));
        }
        if !members.contains(&self.holder) {
            return Err(CertificateError::HolderNotAMember(self.holder));
        }
        if self.confirmations.len() > members.len() || self.confirmations.len() < quorum {
            return Err(CertificateError::TooFew { got: self.confirmations.len(), quorum });
        }
        let signers: Vec<NodeId> = self.confirmations.iter().map(|confirmation| confirmation.by).collect();
        for (index, confirmation) in self.confirmations.iter().enumerate() {
            if !members.contains(&confirmation.by) {
                return Err(CertificateError::SignerNotAMember(confirmation.by));
            }
            if self.confirmations[..index].iter().any(|earlier| earlier.by == confirmation.by) {
                return Err(CertificateError::DuplicateSigner(confirmation.by));
            }
        }
        if !enough(&signers) {
            return Err(CertificateError::TooFew { got: self.confirmations.len(), quorum });
        }
        let membership = self.membership.as_ref();
        for confirmation in &self.confirmations {
            if !keys.verify_confirm_in(confirmation.by, self.stamp, self.holder, membership, &confirmation.signature) {
                return Err(CertificateError::BadSignature(confirmation.by));
            }
        }
        Ok(())
    }
}

/// A stand-in keyring for the simulators: a keyed hash per member instead of Ed25519 (thousands
/// of seeds per test run cannot afford real signatures). Every node's keyring can check every
/// member's "signature", but only the simulator's honest code signs with a member's key: a
/// Byzantine node signs only as itself and forges the rest, like a real one without the keys.
#[derive(Clone, Debug)]
pub struct SimKeyring {
    me: NodeId,
    secrets: Vec<(NodeId, u64)>,
}

impl SimKeyring {
    /// The keyring of `me` in a consortium of `members`; the secrets derive from `seed`.
    pub fn new(me: NodeId, members: &[NodeId], seed: u64) -> SimKeyring {
        let mut secrets: Vec<(NodeId, u64)> = members.iter().map(|id| (*id, secret_of(*id, seed))).collect();
        // Sorted by id, so that a lookup is a binary search (the scale scenario has 100 members).
        secrets.sort_unstable();
        SimKeyring { me, secrets }
    }

    /// The stand-in "public key" of `id` in a simulation with `seed`: its secret, which only
    /// the simulator's honest code signs with (`verify_with_key` reads it back).
    pub fn public_key(id: NodeId, seed: u64) -> PublicKeyBytes {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&secret_of(id, seed).to_be_bytes());
        key
    }

    fn tag(&self, signer: NodeId, message: &[u8]) -> Option<[u8; 64]> {
        let secret = self.secrets[self.secrets.binary_search_by_key(&signer, |(id, _)| *id).ok()?].1;
        Some(tag_with(secret, message))
    }
}

fn secret_of(id: NodeId, seed: u64) -> u64 {
    mix(seed ^ (u64::from(id) << 32) ^ 0x5157_4E45)
}

fn tag_with(secret: u64, message: &[u8]) -> [u8; 64] {
    let mut state = secret;
    for byte in message {
        state = (state ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    let mut bytes = [0u8; 64];
    for (round, chunk) in bytes.chunks_exact_mut(8).enumerate() {
        state = mix(state ^ round as u64);
        chunk.copy_from_slice(&state.to_be_bytes());
    }
    bytes
}

impl Keyring for SimKeyring {
    fn sign(&self, message: &[u8]) -> Signature {
        Signature::from_bytes(self.tag(self.me, message).expect("a member signs"))
    }

    fn verify(&self, signer: NodeId, message: &[u8], signature: &Signature) -> bool {
        self.tag(signer, message).is_some_and(|tag| tag == signature.to_bytes())
    }

    fn verify_with_key(&self, public_key: &PublicKeyBytes, message: &[u8], signature: &Signature) -> bool {
        let mut secret = [0u8; 8];
        secret.copy_from_slice(&public_key[..8]);
        tag_with(u64::from_be_bytes(secret), message) == signature.to_bytes()
    }
}

fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(keyrings: &[SimKeyring], stamp: Stamp, holder: NodeId, signers: &[usize]) -> Certificate {
        let confirmations = signers
            .iter()
            .map(|index| Confirmation {
                by: keyrings[*index].me,
                signature: Keys::new(keyrings[*index].clone()).sign_confirm(stamp, holder),
            })
            .collect();
        Certificate { stamp, holder, confirmations, membership: None }
    }

    #[test]
    fn a_certificate_needs_a_quorum_of_distinct_members_with_valid_signatures() {
        let members = [1, 2, 3, 4];
        let keyrings: Vec<SimKeyring> = members.iter().map(|id| SimKeyring::new(*id, &members, 9)).collect();
        let keys = Keys::new(keyrings[0].clone());
        let stamp = Stamp::new((5 << 16) | 2, 3);
        assert_eq!(certificate(&keyrings, stamp, 2, &[0, 1, 2]).verify(&members, 3, &keys), Ok(()));
        assert_eq!(
            certificate(&keyrings, stamp, 2, &[0, 1]).verify(&members, 3, &keys),
            Err(CertificateError::TooFew { got: 2, quorum: 3 })
        );
        let mut duplicate = certificate(&keyrings, stamp, 2, &[0, 1, 1]);
        assert_eq!(duplicate.verify(&members, 3, &keys), Err(CertificateError::DuplicateSigner(2)));
        duplicate.confirmations[2] = certificate(&keyrings, stamp, 3, &[2]).confirmations[0].clone();
        assert_eq!(duplicate.verify(&members, 3, &keys), Err(CertificateError::BadSignature(3)), "signed for another holder");
        let far = Stamp::new((1 << 63) + 5, 1);
        assert_eq!(certificate(&keyrings, far, 2, &[0, 1, 2]).verify(&members, 3, &keys), Err(CertificateError::ImpossibleStamp(far)));
        let mut forged = certificate(&keyrings, stamp, 2, &[0, 1, 2]);
        forged.confirmations[1].signature = Signature::from_bytes([7; 64]);
        assert_eq!(forged.verify(&members, 3, &keys), Err(CertificateError::BadSignature(2)));
    }

    #[test]
    fn ed25519_keyring_checks_real_signatures() {
        let secrets: Vec<SecretKey> = (0..3u8).map(|i| SecretKey::from_seed([i + 1; 32])).collect();
        let publics: Vec<(NodeId, PublicKey)> = secrets.iter().enumerate().map(|(i, s)| (i as NodeId, s.public())).collect();
        let keys: Vec<Keys> = secrets.iter().map(|s| Keys::new(Ed25519Keyring::new(s.clone(), publics.clone()))).collect();
        let stamp = Stamp::new(1 << 16, 1);
        let confirmations = (0..2).map(|i| Confirmation { by: i as NodeId, signature: keys[i].sign_confirm(stamp, 0) }).collect();
        let certificate = Certificate { stamp, holder: 0, confirmations, membership: None };
        assert_eq!(certificate.verify(&[0, 1, 2], 2, &keys[2]), Ok(()));
        let wrong_stamp = Certificate { stamp: Stamp::new(1 << 16, 2), ..certificate.clone() };
        assert_eq!(wrong_stamp.verify(&[0, 1, 2], 2, &keys[2]), Err(CertificateError::BadSignature(0)));
    }
}
