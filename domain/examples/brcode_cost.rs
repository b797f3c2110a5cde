//! The cost of building and parsing a BR Code, printed (a measurement, not a test): a static
//! code with a CPF key, description, amount and txid, encoded (CRC included) and parsed back
//! (every field checked, CRC recomputed).
//!
//!     cargo run --release -p ringbank-domain --example brcode_cost

use std::hint::black_box;
use std::time::Instant;

use ringbank_domain::brcode::{BrCode, Target};

const ROUNDS: u32 = 200_000;

fn main() {
    let code = BrCode {
        initiation: None,
        target: Target::Key { key: "12345600381".into(), description: Some("Aula de violao".into()) },
        merchant_category_code: "0000".into(),
        amount_cents: Some(4_250),
        merchant_name: "Ana Luisa".into(),
        merchant_city: "Florianopolis".into(),
        postal_code: None,
        txid: "pedido42".into(),
    };
    let payload = code.encode().expect("valid code");
    let started = Instant::now();
    for _ in 0..ROUNDS {
        black_box(black_box(&code).encode().expect("valid"));
    }
    let encode = started.elapsed() / ROUNDS;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        black_box(BrCode::parse(black_box(&payload)).expect("valid"));
    }
    let parse = started.elapsed() / ROUNDS;
    println!("BR Code of {} characters: encode {:.2} us, parse {:.2} us", payload.len(), micros(encode), micros(parse));
}

fn micros(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
