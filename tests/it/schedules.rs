//! Scheduled transfers (agendamento, issue 15 part 2): made once at their time by the bank's
//! scheduler, cancellable until then, exactly once across a crash between the transfer and
//! the record of its run (the Idempotency-Key derived from the schedule and the occurrence; a
//! real kill at crash point after-scheduled-transfer, and the same state made by hand), made
//! late when the bank was down at the time but is back within the catch-up window, recorded as
//! missed after it, and failed with a reason (and a dashboard notice) on insufficient funds.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use ringbank_domain::schedule::LocalDateTime;
use ringbank_domain::UtcOffset;

use crate::common::*;

/// Local time (UTC: the banks here run with --time-zone UTC) `ahead_ms` from now.
fn local_in(ahead_ms: i64) -> String {
    LocalDateTime::from_ms(ringbank::clock::wall_clock_ms() + ahead_ms, UtcOffset::UTC).to_string()
}

struct Customer {
    token: String,
    account: String,
    payee: String,
}

async fn customer(bank: &TestBank, funds: i64) -> Customer {
    let token = bank.customer(&new_cpf(), "Agenda").await;
    let account = bank.open_account(&token, "individual", &[]).await;
    if funds > 0 {
        bank.deposit(&token, &account, funds).await;
    }
    let other = bank.customer(&new_cpf(), "Favorecida").await;
    let payee = bank.open_account(&other, "individual", &[]).await;
    Customer { token, account, payee }
}

async fn schedule(bank: &TestBank, c: &Customer, amount_cents: i64, first_at: &str, repeat: &str) -> Value {
    let body = json!({
        "from_account": c.account, "to": { "bank": "A", "account": c.payee }, "amount_cents": amount_cents,
        "description": "aluguel", "first_at": first_at, "repeat": repeat,
    });
    let (status, created) = bank.post("/api/v1/schedules", Some(&c.token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// Waits until the schedule has `runs` runs recorded; returns it.
async fn wait_runs(bank: &TestBank, token: &str, id: &str, runs: usize, limit: Duration) -> Value {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let (status, found) = bank.get(&format!("/api/v1/schedules/{id}"), Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{found}");
        if found["runs"].as_array().map_or(0, Vec::len) >= runs {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "schedule {id} has not run in time: {found}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn lines(bank: &TestBank, token: &str, account: &str) -> usize {
    bank.as_customer(token).statement(account, None, None).await.expect("statement").entries.len()
}

fn utc(config: &mut ringbank::config::ServeConfig) {
    config.time_zone = ringbank_domain::display::LocalZone::fixed(UtcOffset::UTC);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_off_runs_once_at_its_time_and_a_cancelled_one_never() {
    let bank = TestBank::start_with("A", utc).await;
    let c = customer(&bank, 100_000).await;
    let once = schedule(&bank, &c, 1_500, &local_in(2_000), "once").await;
    assert_eq!((once["status"].as_str(), once["next_occurrence"].as_i64()), (Some("active"), Some(0)), "{once}");
    let cancelled = schedule(&bank, &c, 2_500, &local_in(2_000), "once").await;
    let id = cancelled["id"].as_str().unwrap();
    let (status, body) = bank.call(Method::DELETE, &format!("/api/v1/schedules/{id}"), Some(&c.token), None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("cancelled")), "{body}");

    let ran = wait_runs(&bank, &c.token, once["id"].as_str().unwrap(), 1, Duration::from_secs(15)).await;
    assert_eq!(ran["status"], "finished", "{ran}");
    assert_eq!(ran["runs"][0]["status"], "committed", "{ran}");
    let transfer = ran["runs"][0]["transfer_id"].as_str().unwrap().to_string();
    let view = bank.as_customer(&c.token).transfer_view(&transfer).await.expect("the scheduled transfer is the customer's");
    assert_eq!((view.status.as_str(), view.description.as_str()), ("committed", "aluguel"));
    // Some more passes of the scheduler change nothing.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(bank.balance(&c.token, &c.account).await.0, 100_000 - 1_500);
    assert_eq!(lines(&bank, &c.token, &c.account).await, 2, "the deposit and one transfer");
    let (_, cancelled) = bank.get(&format!("/api/v1/schedules/{id}"), Some(&c.token)).await;
    assert_eq!((cancelled["status"].as_str(), cancelled["runs"].as_array().map(Vec::len)), (Some("cancelled"), Some(0)), "{cancelled}");

    // Bad input is refused with what to fix; someone else's schedule is not found.
    let bad = |first_at: &str, repeat: &str| json!({ "from_account": c.account, "to": { "bank": "A", "account": c.payee }, "amount_cents": 100, "first_at": first_at, "repeat": repeat });
    for body in
        [bad(&local_in(-60_000), "once"), bad("soon", "once"), bad(&local_in(60_000), "daily"), bad(&local_in(400 * 86_400_000), "once")]
    {
        assert_problem(&bank.post("/api/v1/schedules", Some(&c.token), body).await, 422, "invalid-field");
    }
    let stranger = bank.customer(&new_cpf(), "Outra").await;
    assert_problem(&bank.post("/api/v1/schedules", Some(&stranger), bad(&local_in(60_000), "once")).await, 404, "account-not-found");
    assert_problem(&bank.call(Method::DELETE, &format!("/api/v1/schedules/{id}"), Some(&stranger), None).await, 404, "schedule-not-found");
    bank.assert_audit_passes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_funds_fail_the_run_with_a_reason_and_a_dashboard_notice_and_nothing_moves() {
    let bank = TestBank::start_with("A", utc).await;
    let c = customer(&bank, 1_000).await;
    let created = schedule(&bank, &c, 5_000, &local_in(1_500), "monthly").await;
    let ran = wait_runs(&bank, &c.token, created["id"].as_str().unwrap(), 1, Duration::from_secs(15)).await;
    assert_eq!(ran["runs"][0]["status"], "failed", "{ran}");
    assert!(ran["runs"][0]["reason"].as_str().unwrap_or_default().contains("available"), "{ran}");
    assert_eq!(ran["status"], "active", "a monthly schedule goes on to its next month");
    assert!(ran["next_at"].as_str().is_some(), "{ran}");
    assert_eq!(bank.balance(&c.token, &c.account).await, (1_000, 1_000));
    assert_eq!(lines(&bank, &c.token, &c.account).await, 1, "only the deposit");
}

/// The bank is killed between making an occurrence's transfer and recording its run: after
/// the restart the scheduler tries again under the same Idempotency-Key and gets the first
/// transfer back. The state "transfer made, run not recorded" is produced here by posting that
/// transfer under the derived key before the occurrence is due, exactly as the scheduler would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_occurrence_already_made_under_its_key_is_not_made_again() {
    let bank = TestBank::start_with("A", utc).await;
    let c = customer(&bank, 100_000).await;
    let created = schedule(&bank, &c, 3_000, &local_in(3_000), "weekly").await;
    let id = created["id"].as_str().unwrap();
    let request = json!({
        "debits": [{ "bank": "A", "account": c.account, "amount_cents": 3_000 }],
        "credits": [{ "bank": "A", "account": c.payee, "amount_cents": 3_000 }],
        "description": "aluguel",
    });
    let key = format!("schedule:{id}:0");
    let (status, made) =
        bank.call_with(Method::POST, "/api/v1/transfers", Some(&c.token), Some(request), &[("Idempotency-Key", &key)]).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let ran = wait_runs(&bank, &c.token, id, 1, Duration::from_secs(15)).await;
    assert_eq!(ran["runs"][0]["transfer_id"], made["id"], "{ran}");
    assert_eq!(ran["next_occurrence"], 1);
    assert_eq!(bank.balance(&c.token, &c.account).await.0, 100_000 - 3_000, "one transfer, not two");
}

/// The bank kills itself (crash point after-scheduled-transfer) right after the scheduler made
/// an occurrence's transfer and before it recorded the run. After the restart the run is
/// recorded with that same transfer: the money moved once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_transfer_and_its_run_record_makes_the_occurrence_once() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut bank = process(data.path(), "1h").await;
    let view = bank.view();
    let c = customer(&view, 100_000).await;
    let created = schedule(&view, &c, 3_000, &local_in(2_000), "weekly").await;
    let id = created["id"].as_str().unwrap().to_string();
    let point = "after-scheduled-transfer".parse().expect("a crash point");
    view.admin().inject(&Fault::CrashAt { point }).await.expect("crash point armed");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !matches!(bank.child.try_wait(), Ok(Some(_))) {
        assert!(std::time::Instant::now() < deadline, "the bank did not crash at {point} when the occurrence was due");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bank = process(data.path(), "1h").await;
    let view = bank.view();
    let ran = wait_runs(&view, &c.token, &id, 1, Duration::from_secs(15)).await;
    assert_eq!(ran["runs"][0]["status"], "committed", "{ran}");
    assert_eq!(ran["next_occurrence"], 1, "{ran}");
    assert_eq!(view.balance(&c.token, &c.account).await.0, 100_000 - 3_000, "one transfer, not two");
    let statement = view.as_customer(&c.token).statement(&c.account, None, None).await.expect("statement");
    assert_eq!(statement.entries.len(), 2, "the deposit and one transfer: {:?}", statement.entries);
    let transfer = ran["runs"][0]["transfer_id"].as_str().expect("the run names its transfer");
    let (status, made) = view.get(&format!("/api/v1/transfers/{transfer}"), Some(&c.token)).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!((made["status"].as_str(), made["debits"][0]["amount_cents"].as_i64()), (Some("committed"), Some(3_000)), "{made}");
    bank.kill9().await;
}

async fn process(data: &Path, catch_up: &str) -> BankProcess {
    BankProcess::spawn("A", data, &["--time-zone", "UTC", "--schedule-catch-up", catch_up]).await
}

/// The bank is down when an occurrence is due: back within the catch-up window it makes it
/// (once); back after it, the occurrence is recorded as missed and nothing moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_down_at_the_time_catches_up_within_the_window_and_records_a_miss_after_it() {
    let data = tempfile::tempdir().expect("temp dir");
    let bank = process(data.path(), "1h").await;
    let view = bank.view();
    let c = customer(&view, 100_000).await;
    let late = schedule(&view, &c, 1_000, &local_in(2_500), "once").await;
    bank.kill9().await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let bank = process(data.path(), "1h").await;
    let view = bank.view();
    // Sessions are stored: the token still works after the restart.
    let token = c.token.clone();
    let ran = wait_runs(&view, &token, late["id"].as_str().unwrap(), 1, Duration::from_secs(15)).await;
    assert_eq!(ran["runs"][0]["status"], "committed", "{ran}");
    assert!(ran["runs"][0]["ran_at_ms"].as_i64() > ran["runs"][0]["due_at_ms"].as_i64());

    let missed = schedule(&view, &c, 1_000, &local_in(1_500), "once").await;
    bank.kill9().await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let bank = process(data.path(), "1s").await;
    let view = bank.view();
    let ran = wait_runs(&view, &token, missed["id"].as_str().unwrap(), 1, Duration::from_secs(15)).await;
    assert_eq!(ran["runs"][0]["status"], "missed", "{ran}");
    assert!(ran["runs"][0]["reason"].as_str().unwrap_or_default().contains("catch-up window"), "{ran}");
    assert_eq!(ran["status"], "finished");
    // One transfer in all: the one made late.
    assert_eq!(view.balance(&token, &c.account).await.0, 100_000 - 1_000);
    bank.kill9().await;
}
