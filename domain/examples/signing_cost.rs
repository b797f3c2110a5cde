//! The cost of per-bank signatures, printed (a measurement, not a test): one Ed25519 signature
//! and verification of a request-sized message, and the signed decisions (receipts) of one full
//! coordinator batch of 512 two-leg transfers.
//!
//!     cargo run --release -p ringbank-domain --example signing_cost

use std::time::Instant;

use ringbank_domain::{DecisionWord, OrderStamp, ReceiptLeg, SecretKey, Signature, SignedDecision, SigningDomain, TransferDecision};

const BATCH: u32 = 512;
const ROUNDS: u32 = 2_000;

fn main() {
    let key = SecretKey::from_seed([2; 32]);
    let public = key.public();
    let message = vec![b'x'; 256];
    let started = Instant::now();
    let signatures: Vec<Signature> = (0..ROUNDS).map(|_| key.sign_in(SigningDomain::REQUEST, &message)).collect();
    let sign = started.elapsed() / ROUNDS;
    let started = Instant::now();
    for signature in &signatures {
        public.verify_in(SigningDomain::REQUEST, &message, signature).expect("valid");
    }
    let verify = started.elapsed() / ROUNDS;
    println!("one request-sized message (256 B): sign {:.1} us, verify {:.1} us", micros(sign), micros(verify));

    let batch: Vec<TransferDecision> = (0..BATCH)
        .map(|position| TransferDecision {
            transfer_id: format!("tr_{position:024x}"),
            coordinator: "A".into(),
            decision: DecisionWord::Commit,
            kind: "transfer".into(),
            stamp: OrderStamp { epoch: 3, seq: 17, position },
            legs: vec![
                ReceiptLeg { bank: "A".into(), account: "10000001".into(), amount_cents: -2_500 },
                ReceiptLeg { bank: "B".into(), account: "20000002".into(), amount_cents: 2_500 },
            ],
        })
        .collect();
    let started = Instant::now();
    let signed: Vec<SignedDecision> = batch.into_iter().map(|d| d.sign(&key).expect("encodable")).collect();
    let sign = started.elapsed();
    let started = Instant::now();
    for receipt in &signed {
        receipt.verify(|_| Some(public)).expect("valid");
    }
    let verify = started.elapsed();
    println!(
        "a batch of {BATCH} receipts (canonical text + Ed25519): sign {:.2} ms ({:.1} us each), verify {:.2} ms ({:.1} us each)",
        micros(sign) / 1e3,
        micros(sign) / f64::from(BATCH),
        micros(verify) / 1e3,
        micros(verify) / f64::from(BATCH)
    );
}

fn micros(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
