//! Measures what a quorum certificate costs per batch with real Ed25519 keys: signing one
//! confirmation, and verifying a certificate of 2 (3 banks) to 4 (5 banks with quorum 4)
//! signatures. Prints numbers; asserts only that every certificate verifies.
//! `cargo test -p ringbank-ring --release --test certificate_cost -- --nocapture`

use std::time::Instant;

use ringbank_domain::keys::{PublicKey, SecretKey};
use ringbank_ring::{Certificate, Confirmation, Ed25519Keyring, Keys, NodeId, Stamp};

#[test]
fn certificate_cost_per_batch() {
    for (members, quorum) in [(3usize, 2usize), (4, 3), (5, 4)] {
        let secrets: Vec<SecretKey> = (0..members).map(|i| SecretKey::from_seed([i as u8 + 1; 32])).collect();
        let publics: Vec<(NodeId, PublicKey)> = secrets.iter().enumerate().map(|(i, s)| (i as NodeId, s.public())).collect();
        let keys: Vec<Keys> = secrets.iter().map(|s| Keys::new(Ed25519Keyring::new(s.clone(), publics.clone()))).collect();
        let ids: Vec<NodeId> = (0..members as NodeId).collect();
        let rounds = 200u64;
        let started = Instant::now();
        let mut certificates = Vec::new();
        for seq in 1..=rounds {
            let stamp = Stamp::new(1 << 16, seq);
            let confirmations = (0..quorum).map(|i| Confirmation { by: i as NodeId, signature: keys[i].sign_confirm(stamp, 0) }).collect();
            certificates.push(Certificate { stamp, holder: 0, confirmations, membership: None });
        }
        let sign_us = started.elapsed().as_secs_f64() * 1e6 / (rounds as f64 * quorum as f64);
        let started = Instant::now();
        for certificate in &certificates {
            assert_eq!(certificate.verify(&ids, quorum, &keys[members - 1]), Ok(()));
        }
        let verify_us = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        println!("{members} banks, quorum {quorum}: sign one confirmation {sign_us:.1} µs; verify a certificate (once per batch) {verify_us:.1} µs");
    }
}
