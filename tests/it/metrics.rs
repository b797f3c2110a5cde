//! Operations endpoints: /metrics in the Prometheus text format moves with the work the bank
//! does; /readyz says ready once the database answers and the ring is joined.

use std::time::{Duration, Instant};

use crate::common::*;

/// The value of the series `name` (exact, labels included), or 0 if absent.
fn sample(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

async fn scrape(bank: &TestBank) -> String {
    let response = bank.client.get(format!("{}/metrics", bank.url)).send().await.expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.expect("body")
}

#[tokio::test]
async fn metrics_move_with_the_work_and_readyz_turns_ready() {
    let bank = TestBank::start("M").await;
    let before = scrape(&bank).await;
    for family in [
        "ringbank_ring_epoch",
        "ringbank_token_hold_seconds",
        "ringbank_2pc_phase_seconds",
        "ringbank_writer_queue_depth",
        "ringbank_transfers_in_doubt",
    ] {
        assert!(before.contains(&format!("# TYPE {family} ")), "{family} missing:\n{before}");
    }
    let token = bank.customer(&new_cpf(), "Mia").await;
    let account = bank.open_account(&token, "individual", &[]).await;
    bank.deposit(&token, &account, 1_000).await;
    bank.deposit(&token, &account, 2_000).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after = scrape(&bank).await;
        let deposits = sample(&after, "ringbank_http_requests_total{method=\"POST\",route=\"/api/v1/deposits\",status=\"201\"}");
        let batches_before = sample(&before, "ringbank_writer_batch_size_count");
        let batches = sample(&after, "ringbank_writer_batch_size_count");
        let epoch = sample(&after, "ringbank_ring_epoch");
        let grants = sample(&after, "ringbank_ring_grants_total");
        if deposits == 2.0 && batches >= batches_before + 4.0 && epoch > 0.0 && grants > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metrics did not move: deposits {deposits}, batches {batches}, epoch {epoch}, grants {grants}\n{after}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = bank.get("/readyz", None).await;
        if status == 200 {
            assert_eq!(body["database"], true);
            assert_eq!(body["ring_joined"], true);
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn readyz_is_503_before_the_ring_is_joined() {
    // A bank whose peers never answer never sees a token.
    let listen = free_loopback_address();
    let peers = vec![
        ringbank::config::parse_peer(&peer_entry("R", &format!("http://{listen}"))).unwrap(),
        ringbank::config::parse_peer(&peer_entry("S", &format!("http://{}", free_loopback_address()))).unwrap(),
    ];
    let bank = TestBank::start_with("R", |config| {
        config.listen = listen.parse().unwrap();
        config.peers = peers;
        config.secret_key = Some(test_key("R").to_secret_text());
    })
    .await;
    let (status, body) = bank.get("/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ring_joined"], false, "{body}");
    assert_eq!(body["database"], true, "{body}");
}
