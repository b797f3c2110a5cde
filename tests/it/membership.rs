//! Online membership change across real bank processes (issue 16, point 1): a bank started with
//! `--join` is added to a running ring of three through the admin API while cross-bank transfers
//! flow, holds the token, coordinates and takes part in cross-bank transfers, and is removed
//! once its positions are settled; a member with an unsettled position, or with a transfer in
//! doubt at the approving bank, is not removed (transfers among other members hold nothing up). Every
//! phase ends with the consortium audit over every bank.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

async fn members(bank: &TestBank) -> Value {
    let (status, body) = bank.call(Method::GET, "/admin/v1/ring/members", Some(ADMIN_SECRET), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn ids(list: &Value) -> Vec<String> {
    list["members"].as_array().expect("members").iter().map(|m| m["bank"].as_str().expect("bank").to_string()).collect()
}

/// `bank`'s operator's approval of `change` (`{"add": {...}}` or `{"remove": "D"}`).
async fn approval(bank: &TestBank, change: Value) -> Value {
    let (status, body) = bank.call(Method::POST, "/admin/v1/ring/approvals", Some(ADMIN_SECRET), Some(change)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The body of `POST /admin/v1/ring/members` adding `add`, with the approvals of `approvers`.
async fn approved_addition(add: &Value, approvers: &[&TestBank]) -> Value {
    let mut approvals = Vec::new();
    for bank in approvers {
        approvals.push(approval(bank, json!({"add": add})).await);
    }
    let mut body = add.clone();
    body["approvals"] = Value::Array(approvals);
    body
}

/// The body of `DELETE /admin/v1/ring/members/{bank}`, with the approvals of `approvers`.
async fn approved_removal(bank: &str, approvers: &[&TestBank]) -> Value {
    let mut approvals = Vec::new();
    for approver in approvers {
        approvals.push(approval(approver, json!({"remove": bank})).await);
    }
    json!({"approvals": approvals})
}

/// Waits until every bank works with membership `version`, committed, with exactly `expected`.
async fn wait_membership(banks: &[&TestBank], version: u64, expected: &[&str], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let mut all = true;
        let mut seen = Vec::new();
        for bank in banks {
            let list = members(bank).await;
            let ok = list["version"] == version && list["joint"] == false && ids(&list) == expected;
            seen.push(list);
            all &= ok;
        }
        if all {
            return;
        }
        assert!(Instant::now() < deadline, "membership {version} {expected:?} not reached: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `bank` has held the token since it started.
async fn wait_grant(bank: &TestBank) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, status) = bank.get("/ring/v1/status", None).await;
        if status["grants"].as_u64().unwrap_or(0) > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{} never held the token: {status}", bank.url);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Submits a transfer and waits until it is final; returns its status.
async fn transfer(bank: &TestBank, token: &str, debits: Vec<Leg>, credits: Vec<Leg>) -> String {
    let transfer = NewTransfer { debits, credits, description: "membership".to_string() };
    submit_until_final(&bank.as_customer(token), &transfer, Duration::from_secs(30)).await.status
}

/// Waits until `account`'s (balance, available) is `expected`: a committed decision reaches the
/// participants as it is delivered.
async fn wait_balance(bank: &TestBank, token: &str, account: &str, expected: (i64, i64)) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = bank.balance(token, account).await;
        if now == expected {
            return;
        }
        assert!(Instant::now() < deadline, "balance {now:?}, expected {expected:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn audit_until_quiet(banks: &[(&str, &TestBank)], limit: Duration) -> ringbank_tools::consortium_audit::ConsortiumReport {
    let urls: Vec<(String, String)> = banks.iter().map(|(id, bank)| (id.to_string(), bank.url.clone())).collect();
    let deadline = Instant::now() + limit;
    loop {
        let summaries = ringbank_tools::consortium_audit::fetch(&urls, ADMIN_SECRET).await.expect("every bank answers the audit");
        let report = ringbank_tools::consortium_audit::check(&summaries);
        if report.passed || Instant::now() > deadline {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts bank D with `--join` (A's URL) and its test key; returns the process, its listening
/// address and its arguments (to restart it the same way).
async fn start_joining(consortium: &Consortium) -> (BankProcess, String, Vec<String>) {
    let listen = free_loopback_address();
    let key_file = consortium.data.path().join("key-D");
    std::fs::write(&key_file, test_key("D").to_key_file_text()).expect("write D's key");
    let join = vec!["--join".to_string(), consortium.url(0), "--key-file".to_string(), key_file.display().to_string()];
    let args: Vec<&str> = join.iter().map(String::as_str).collect();
    let process = BankProcess::spawn_on("D", &listen, consortium.data.path(), &args).await;
    (process, listen, join)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_joins_a_running_ring_takes_part_and_leaves_once_settled() {
    let mut consortium = Consortium::start(3, &[]).await;
    let (a, b, c) = (consortium.view(0), consortium.view(1), consortium.view(2));

    // D starts from what A says of the ring, and waits to be added.
    let (d_process, d_listen, join) = start_joining(&consortium).await;
    let join: Vec<&str> = join.iter().map(String::as_str).collect();
    let d_url = format!("http://{d_listen}");
    let d = d_process.view();
    assert_eq!(ids(&members(&a).await), ["A", "B", "C"]);
    let (status, document) = d.get("/ring/v1/membership", None).await;
    assert_eq!((status.as_u16(), document["next_node"].as_u64()), (200, Some(3)), "{document}");

    // Money at A and B, and a stream of cross-bank transfers A -> B that runs through the change.
    let cpf = new_cpf();
    let (ta, tb) = (a.customer(&cpf, "Xavier").await, b.customer(&cpf, "Xavier").await);
    let (xa, xb) = (a.open_account(&ta, "individual", &[]).await, b.open_account(&tb, "individual", &[]).await);
    a.deposit(&ta, &xa, 1_000_000).await;
    // A Pix key registered before D exists: D must learn it from the directory's replicas.
    let (status, body) = a.post("/api/v1/keys", Some(&ta), json!({"account": xa, "kind": "cpf"})).await;
    assert_eq!(status, 201, "{body}");
    let stop = Arc::new(AtomicBool::new(false));
    let (committed, other) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let flow = {
        let (a, ta, xa, xb, stop, committed, other) =
            (consortium.view(0), ta.clone(), xa.clone(), xb.clone(), stop.clone(), committed.clone(), other.clone());
        tokio::spawn(async move {
            for _ in 0..200 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match transfer(&a, &ta, vec![Leg::new("A", &xa, 100)], vec![Leg::new("B", &xb, 100)]).await.as_str() {
                    "committed" => committed.fetch_add(1, Ordering::Relaxed),
                    _ => other.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The operator adds D at B (any member will do) with the approval of A's operator: B's and
    // A's make a quorum of the three. One change at a time, ids never reused.
    let add = json!({"bank": "D", "url": d_url, "public_key": test_key("D").public().to_string()});
    let (status, body) = b.call(Method::POST, "/admin/v1/ring/members", Some(ADMIN_SECRET), Some(add.clone())).await;
    assert_problem(&(status, body.clone()), 409, "membership-refused");
    assert!(body["detail"].as_str().unwrap_or("").contains("1 member(s) approved the change"), "B alone: {body}");
    let mut wrong = approved_addition(&add, &[&a]).await;
    wrong["approvals"][0]["bank"] = json!("C");
    let (status, body) = b.call(Method::POST, "/admin/v1/ring/members", Some(ADMIN_SECRET), Some(wrong)).await;
    assert_problem(&(status, body), 409, "membership-refused"); // A's signature does not pass for C's
    let (status, body) = c.call(Method::POST, "/admin/v1/ring/approvals", Some(ADMIN_SECRET), Some(json!({"remove": "Z"}))).await;
    assert_problem(&(status, body), 422, "unknown-bank");
    let approved = approved_addition(&add, &[&a]).await;
    let (status, body) = b.call(Method::POST, "/admin/v1/ring/members", Some(ADMIN_SECRET), Some(approved)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!((body["node"].as_u64(), body["version"].as_u64()), (Some(3), Some(1)), "{body}");
    let (status, body) = c
        .call(
            Method::POST,
            "/admin/v1/ring/members",
            Some(ADMIN_SECRET),
            Some(json!({"bank": "E", "url": "http://127.0.0.1:9", "public_key": "ed25519:00"})),
        )
        .await;
    assert_eq!(status, 422, "a bad key is refused: {body}");
    wait_membership(&[&a, &b, &c, &d], 1, &["A", "B", "C", "D"], Duration::from_secs(20)).await;
    let (status, body) = a.call(Method::POST, "/admin/v1/ring/members", Some(ADMIN_SECRET), Some(add)).await;
    assert_problem(&(status, body), 409, "membership-refused");

    // D holds the token and has caught up with the Pix key directory.
    wait_grant(&d).await;
    let td = d.customer(&cpf, "Xavier").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = d.get(&format!("/api/v1/keys/lookup?key={}", cpf.replace(['.', '-'], "")), Some(&td)).await;
        if status == 200 {
            assert_eq!(body["bank"], "A", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "D never learnt the key registered before it joined: {status} {body}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // D restarted (kill -9) comes back from what it kept: its join document and ring state.
    d_process.kill9().await;
    let d_process = BankProcess::spawn_on("D", &d_listen, consortium.data.path(), &join).await;
    let d = d_process.view();
    wait_grant(&d).await;
    let td = d.sign_in(&cpf).await;
    // D takes part in cross-bank transfers both ways (D coordinates one).
    let xd = d.open_account(&td, "individual", &[]).await;
    assert_eq!(transfer(&a, &ta, vec![Leg::new("A", &xa, 5_000)], vec![Leg::new("D", &xd, 5_000)]).await, "committed");
    wait_balance(&d, &td, &xd, (5_000, 5_000)).await;
    assert_eq!(transfer(&d, &td, vec![Leg::new("D", &xd, 2_000)], vec![Leg::new("A", &xa, 2_000)]).await, "committed");
    wait_balance(&d, &td, &xd, (3_000, 3_000)).await;

    stop.store(true, Ordering::Relaxed);
    flow.await.expect("the transfer stream");
    let (committed, other) = (committed.load(Ordering::Relaxed), other.load(Ordering::Relaxed));
    assert!(committed > 0, "no transfer committed during the change ({other} did not)");
    println!("transfers A -> B while D was added: {committed} committed, {other} not");
    let every = [("A", &a), ("B", &b), ("C", &c), ("D", &d)];
    let report = audit_until_quiet(&every, Duration::from_secs(20)).await;
    assert!(report.passed, "{}", report.render());

    // B's position with A is not settled (the stream moved money A -> B): B is not removed.
    let (status, body) = a.call(Method::DELETE, "/admin/v1/ring/members/B", Some(ADMIN_SECRET), None).await;
    assert_problem(&(status, body.clone()), 409, "membership-refused");
    assert!(body["detail"].as_str().unwrap_or("").contains("not settled"), "{body}");
    let cli_at = |bank: &TestBank, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ringbank"))
            .args(["members", "--bank", &bank.url, "--admin-secret", ADMIN_SECRET])
            .args(args)
            .env_remove("RINGBANK_PEERS")
            .output()
            .expect("run ringbank members")
    };
    let cli = |args: &[&str]| cli_at(&a, args);
    let refused = cli(&["remove", "B"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("not settled"), "{refused:?}");
    // A owes D R$ 30,00 (A's customer paid D's 50, D's paid back 20): D is not removed until
    // that is settled. D, the creditor, records that A paid it those reserves outside the ring.
    let positions = |bank: &TestBank| -> Value { serde_json::from_slice(&cli_at(bank, &["positions"]).stdout).expect("JSON") };
    let position_with = |listed: &Value, peer: &str| {
        listed["positions"].as_array().expect("positions").iter().find(|p| p["bank"] == peer).map(|p| p["position_cents"].clone())
    };
    assert_eq!(position_with(&positions(&a), "D"), Some(json!(3_000)), "A owes D");
    assert_eq!(position_with(&positions(&d), "A"), Some(json!(-3_000)), "D is owed by A");
    let refused = cli(&["remove", "D"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("not settled"), "{refused:?}");
    // Nor does A's operator approve D's removal ordered elsewhere before A is paid.
    let refused = cli(&["approve", "remove", "D"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("not settled"), "{refused:?}");
    let settle = |amount: i64, key: &str| json!({"from": "A", "amount_cents": amount, "reference": format!("wire {key}")});
    let (status, body) = d.call(Method::POST, "/admin/v1/settlements", Some(ADMIN_SECRET), Some(settle(3_001, "x"))).await;
    assert_problem(&(status, body.clone()), 409, "settlement-refused");
    assert!(body["detail"].as_str().unwrap_or("").contains("bank A owes this bank R$ 30,00"), "{body}");
    let (status, body) = a
        .call(Method::POST, "/admin/v1/settlements", Some(ADMIN_SECRET), Some(json!({"from": "D", "amount_cents": 1, "reference": "x"})))
        .await;
    assert_problem(&(status, body), 409, "settlement-refused"); // the debtor cannot record it
    let no_reference = json!({"from": "A", "amount_cents": 1});
    let (status, body) = d.call(Method::POST, "/admin/v1/settlements", Some(ADMIN_SECRET), Some(no_reference)).await;
    assert_problem(&(status, body), 400, "missing-field");
    let (status, body) = d
        .call(Method::POST, "/admin/v1/settlements", Some(ADMIN_SECRET), Some(json!({"from": "A", "amount_cents": 1, "reference": " "})))
        .await;
    assert_eq!(status, 422, "a settlement says how it was paid: {body}");
    let (status, body) = d
        .call(Method::POST, "/admin/v1/settlements", Some(ADMIN_SECRET), Some(json!({"from": "Z", "amount_cents": 1, "reference": "x"})))
        .await;
    assert_problem(&(status, body), 422, "unknown-bank"); // only a member settles
    let settled = cli_at(&d, &["settle", "--from", "A", "--amount-cents", "3000", "--reference", "wire 77", "--idempotency-key", "st-77"]);
    assert!(settled.status.success(), "{settled:?}");
    let answer: Value = serde_json::from_slice(&settled.stdout).expect("JSON");
    assert_eq!(answer["status"], "committed", "{answer}");
    // Repeated with the same key (a retry), it is the same settlement, recorded once.
    let again = cli_at(&d, &["settle", "--from", "A", "--amount-cents", "3000", "--reference", "wire 77", "--idempotency-key", "st-77"]);
    let again: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!((&again["id"], &again["status"]), (&answer["id"], &json!("committed")), "{again}");
    // Committed is the coordinator's decision; A applies it when the outcome reaches it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while position_with(&positions(&a), "D") != Some(json!(0)) {
        assert!(Instant::now() < deadline, "A's debt to D is not settled: {}", positions(&a));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = positions(&d);
    assert_eq!(position_with(&listed, "A"), Some(json!(0)), "{listed}");
    assert_eq!(listed["settlements"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!((&listed["settlements"][0]["from"], &listed["settlements"][0]["amount_cents"]), (&json!("A"), &json!(3_000)), "{listed}");
    let every = [("A", &a), ("B", &b), ("C", &c), ("D", &d)];
    let report = audit_until_quiet(&every, Duration::from_secs(20)).await;
    assert!(report.passed, "a settlement keeps every invariant: {}", report.render());
    // D's positions are settled everywhere: D is removed, by the operator's CLI this time.
    // A orders the removal with the approvals of B's and C's operators (CLI `approve`).
    let approve = |bank: &TestBank| {
        let out = cli_at(bank, &["approve", "remove", "D"]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let (from_b, from_c) = (approve(&b), approve(&c));
    let unapproved = cli(&["remove", "D", "--approval", &from_b]);
    assert!(!unapproved.status.success() && String::from_utf8_lossy(&unapproved.stderr).contains("approved the change"), "{unapproved:?}");
    let removed = cli(&["remove", "D", "--approval", &from_b, "--approval", &from_c]);
    assert!(removed.status.success(), "{removed:?}");
    let answer: Value = serde_json::from_slice(&removed.stdout).expect("the CLI prints the answer as JSON");
    assert_eq!((answer["bank"].as_str(), answer["version"].as_u64()), (Some("D"), Some(2)), "{answer}");
    wait_membership(&[&a, &b, &c], 2, &["A", "B", "C"], Duration::from_secs(20)).await;
    let listed: Value = serde_json::from_slice(&cli(&["list"]).stdout).expect("JSON");
    assert_eq!((listed["version"].as_u64(), listed["next_node"].as_u64()), (Some(2), Some(4)), "{listed}");
    // The ring goes on without D, and B restarted keeps the membership it learnt.
    assert_eq!(transfer(&a, &ta, vec![Leg::new("A", &xa, 100)], vec![Leg::new("B", &xb, 100)]).await, "committed");
    consortium.kill9(1).await;
    consortium.restart(1).await;
    wait_membership(&[&a, &b, &c], 2, &["A", "B", "C"], Duration::from_secs(20)).await;
    assert_eq!(transfer(&a, &ta, vec![Leg::new("A", &xa, 100)], vec![Leg::new("B", &xb, 100)]).await, "committed");
    // D's id stays taken; D itself learns the change that removed it.
    let (status, body) = a
        .call(
            Method::POST,
            "/admin/v1/ring/members",
            Some(ADMIN_SECRET),
            Some(json!({"bank": "D", "url": d_url, "public_key": test_key("D").public().to_string()})),
        )
        .await;
    assert_problem(&(status, body), 409, "membership-refused");
    let deadline = Instant::now() + Duration::from_secs(10);
    while members(&d).await["version"] != 2 {
        assert!(Instant::now() < deadline, "D did not learn it was removed: {}", members(&d).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = audit_until_quiet(&[("A", &a), ("B", &b), ("C", &c)], Duration::from_secs(20)).await;
    assert!(report.passed, "{}", report.render());
    d_process.kill9().await;
}

/// The bank that ordered an addition is killed (-9) at once: the change is either on the token
/// already (and the others commit it) or lost with the proposer's memory (and the operator asks
/// again elsewhere). Either way every bank ends at the same membership, the restarted proposer
/// included, and the added bank then takes part in transfers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_addition_outlives_or_dies_with_its_proposer_killed_at_once() {
    addition_with_the_proposer_killed(false).await;
}

/// The proposer is killed (-9) once another bank works with the joint membership: the change is
/// on the token, and the others (a quorum of the old set and of the new one without it) commit it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_addition_on_the_token_is_committed_without_its_proposer() {
    addition_with_the_proposer_killed(true).await;
}

async fn addition_with_the_proposer_killed(once_joint: bool) {
    let mut consortium = Consortium::start(3, &[]).await;
    let (a, c) = (consortium.view(0), consortium.view(2));
    let (d_process, d_listen, _) = start_joining(&consortium).await;
    let d_url = format!("http://{d_listen}");
    let d = d_process.view();

    let add = json!({"bank": "D", "url": d_url, "public_key": test_key("D").public().to_string()});
    let b = consortium.view(1);
    let approved = approved_addition(&add, &[&a, &c]).await;
    let (status, body) = b.call(Method::POST, "/admin/v1/ring/members", Some(ADMIN_SECRET), Some(approved)).await;
    assert_eq!(status, 202, "{body}");
    if once_joint {
        let deadline = Instant::now() + Duration::from_secs(10);
        while members(&a).await["version"] != 1 && members(&c).await["version"] != 1 {
            assert!(Instant::now() < deadline, "the change never reached A or C");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    consortium.kill9(1).await;
    // A and C settle on one committed membership: with D (the change left B on the token) or
    // without (it died with B).
    let deadline = Instant::now() + Duration::from_secs(20);
    let version = loop {
        let (la, lc) = (members(&a).await, members(&c).await);
        if la["joint"] == false && la["version"] == lc["version"] && lc["joint"] == false && ids(&la) == ids(&lc) {
            // Still at 0 only once the ring has moved on without the change for a while.
            if la["version"] == 1 || Instant::now() + Duration::from_secs(15) > deadline {
                break la["version"].as_u64().expect("version");
            }
        }
        assert!(Instant::now() < deadline, "A and C did not agree: {la} {lc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    consortium.restart(1).await;
    let b = consortium.view(1);
    assert!(version == 1 || !once_joint, "a change on the token was lost with its proposer");
    if version == 0 {
        println!("the addition died with its proposer: asked again at A");
        let approved = approved_addition(&add, &[&c]).await;
        let (status, body) = a.call(Method::POST, "/admin/v1/ring/members", Some(ADMIN_SECRET), Some(approved)).await;
        assert_eq!(status, 202, "{body}");
    } else {
        println!("the addition outlived its proposer");
    }
    wait_membership(&[&a, &b, &c, &d], 1, &["A", "B", "C", "D"], Duration::from_secs(30)).await;
    wait_grant(&d).await;
    let cpf = new_cpf();
    let (ta, td) = (a.customer(&cpf, "Yara").await, d.customer(&cpf, "Yara").await);
    let (xa, xd) = (a.open_account(&ta, "individual", &[]).await, d.open_account(&td, "individual", &[]).await);
    a.deposit(&ta, &xa, 10_000).await;
    assert_eq!(transfer(&a, &ta, vec![Leg::new("A", &xa, 2_500)], vec![Leg::new("D", &xd, 2_500)]).await, "committed");
    wait_balance(&d, &td, &xd, (2_500, 2_500)).await;
    let report = audit_until_quiet(&[("A", &a), ("B", &b), ("C", &c), ("D", &d)], Duration::from_secs(20)).await;
    assert!(report.passed, "{}", report.render());
    d_process.kill9().await;
}

/// A member down through two changes (D added, then removed, while C was down) cannot follow the
/// ring one change at a time: restarted as before it stays at the old membership while the ring
/// goes on. Restarted with `--catch-up URL` it reads the membership in force, which the other
/// members confirm, and takes part again (a cross-bank transfer to it commits; the audit passes).
/// The removed bank asking to catch up is refused: it is not a member any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_down_through_two_changes_catches_up_with_a_quorums_membership() {
    let mut consortium = Consortium::start(3, &[]).await;
    let (a, b, c) = (consortium.view(0), consortium.view(1), consortium.view(2));
    let cpf = new_cpf();
    let (ta, tc) = (a.customer(&cpf, "Yara").await, c.customer(&cpf, "Yara").await);
    let (xa, xc) = (a.open_account(&ta, "individual", &[]).await, c.open_account(&tc, "individual", &[]).await);
    a.deposit(&ta, &xa, 100_000).await;

    // C goes down; D is added and removed again without it.
    consortium.kill9(2).await;
    let (d_process, d_listen, join) = start_joining(&consortium).await;
    let d = d_process.view();
    let add = json!({"bank": "D", "url": format!("http://{d_listen}"), "public_key": test_key("D").public().to_string()});
    let approved = approved_addition(&add, &[&b]).await;
    let (status, body) = a.call(Method::POST, "/admin/v1/ring/members", Some(ADMIN_SECRET), Some(approved)).await;
    assert_eq!(status, 202, "{body}");
    wait_membership(&[&a, &b, &d], 1, &["A", "B", "C", "D"], Duration::from_secs(20)).await;
    let approved = approved_removal("D", &[&b, &d]).await;
    let (status, body) = a.call(Method::DELETE, "/admin/v1/ring/members/D", Some(ADMIN_SECRET), Some(approved)).await;
    assert_eq!(status, 202, "{body}");
    wait_membership(&[&a, &b], 2, &["A", "B", "C"], Duration::from_secs(20)).await;
    d_process.kill9().await;

    // Restarted as before, C is two changes behind and stays there, and tells its operator.
    let log = consortium.data.path().join("c-behind.log");
    consortium.restart_logged(2, &log).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("cannot follow them; restart it with --catch-up") {
            assert!(text.contains("membership version 2 and this bank with 0"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "C never warned that it is behind: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(members(&c).await["version"], 0, "C followed two changes after all?");

    // With B down too, A alone cannot vouch for it: a quorum of the members C knew must confirm.
    consortium.kill9(2).await;
    consortium.kill9(1).await;
    let key_c = consortium.data.path().join("key-C").display().to_string();
    let alone = ["--peer".to_string(), consortium.members(), "--key-file".to_string(), key_c, "--catch-up".to_string(), consortium.url(0)];
    let stderr = serve_refused(&consortium, "C", &consortium.listens[2], &alone).await;
    assert!(stderr.contains("only 1 of the members this bank knew confirm membership version 2"), "{stderr}");
    consortium.restart(1).await;
    wait_membership(&[&a, &b], 2, &["A", "B", "C"], Duration::from_secs(20)).await;
    // With --catch-up it starts from the membership in force.
    consortium.extra.extend(["--catch-up".to_string(), consortium.url(0)]);
    consortium.restart(2).await;
    consortium.extra.clear();
    wait_membership(&[&a, &b, &c], 2, &["A", "B", "C"], Duration::from_secs(20)).await;
    assert_eq!(transfer(&a, &ta, vec![Leg::new("A", &xa, 7_000)], vec![Leg::new("C", &xc, 7_000)]).await, "committed");
    wait_balance(&c, &tc, &xc, (7_000, 7_000)).await;
    assert_eq!(transfer(&c, &tc, vec![Leg::new("C", &xc, 2_000)], vec![Leg::new("A", &xa, 2_000)]).await, "committed");
    let report = audit_until_quiet(&[("A", &a), ("B", &b), ("C", &c)], Duration::from_secs(20)).await;
    assert!(report.passed, "{}", report.render());
    // A restart with --catch-up when already current changes nothing.
    consortium.kill9(2).await;
    consortium.extra.extend(["--catch-up".to_string(), consortium.url(1)]);
    consortium.restart(2).await;
    consortium.extra.clear();
    wait_membership(&[&a, &b, &c], 2, &["A", "B", "C"], Duration::from_secs(20)).await;

    // D, removed, is refused: it is not in the membership in force.
    let mut args = join.clone();
    args.extend(["--catch-up".to_string(), consortium.url(0)]);
    let stderr = serve_refused(&consortium, "D", &d_listen, &args).await;
    assert!(stderr.contains("not a member of membership version 2"), "{stderr}");
}

/// Runs `ringbank serve` for bank `id` with `extra` and expects it to stop at once with an
/// error; returns what it printed on stderr.
async fn serve_refused(consortium: &Consortium, id: &str, listen: &str, extra: &[String]) -> String {
    let data = consortium.data.path().display().to_string();
    let mut args: Vec<&str> = vec!["serve", "--id", id, "--listen", listen, "--admin-secret", ADMIN_SECRET, "--data-dir", &data];
    args.extend(extra.iter().map(String::as_str));
    let database = test_database_url(id, consortium.data.path()).await;
    if let Some(url) = &database {
        args.extend(["--database-url", url]);
    }
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank")).args(&args).env_remove("RINGBANK_DATABASE_URL").output(),
    )
    .await
    .expect("the bank stops at once")
    .expect("run ringbank serve");
    assert!(!output.status.success(), "{id} started: {output:?}");
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// Bank `index`'s participation status in transfer `id`, read from its consortium summary.
async fn participation_status(consortium: &Consortium, index: usize, id: &str) -> Option<String> {
    let (status, body) = consortium.view(index).get("/admin/v1/consortium", Some(ADMIN_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    let list = body["participations"].as_array().cloned().unwrap_or_default();
    list.iter().find(|p| p["id"] == json!(id)).and_then(|p| p["status"].as_str().map(str::to_string))
}

/// A removal waits only for the transfers that involve the bank leaving: with a transfer from A
/// to B in doubt at B (A logged its decision and died before telling anyone), B's operator may not
/// approve A's removal, but may approve C's, which that transfer does not touch. Once A is back
/// and the transfer is decided at B, what holds A's removal up is the position, no longer a doubt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_waits_only_for_transfers_with_the_bank_leaving() {
    let mut consortium = Consortium::start(3, &[]).await;
    let (a, b) = (consortium.view(0), consortium.view(1));
    let cpf = new_cpf();
    let ta = a.customer(&cpf, "Xavier").await;
    let xa = a.open_account(&ta, "individual", &[]).await;
    a.deposit(&ta, &xa, 10_000).await;
    let tb = b.customer(&new_cnpj(), "Loja B").await;
    let yb = b.open_account(&tb, "company", &[]).await;

    let crash = Fault::CrashAt { point: "after-decision-logged".parse().expect("a crash point") };
    a.admin().inject(&crash).await.expect("crash point armed");
    let submit =
        NewTransfer { debits: vec![Leg::new("A", &xa, 1_000)], credits: vec![Leg::new("B", &yb, 1_000)], description: "in doubt".into() };
    let posted = a.as_customer(&ta).transfer(&submit, &PostOptions::default()).await.expect("the origin accepts the transfer");
    let id = posted.transfer.id.clone();
    assert!(consortium.wait_dead(0, Duration::from_secs(30)).await, "A did not crash after logging its decision");
    let deadline = Instant::now() + Duration::from_secs(10);
    while participation_status(&consortium, 1, &id).await.as_deref() != Some("prepared") {
        assert!(Instant::now() < deadline, "B never prepared {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let approve = |change: Value| b.call(Method::POST, "/admin/v1/ring/approvals", Some(ADMIN_SECRET), Some(change));
    let (status, body) = approve(json!({"remove": "A"})).await;
    assert_problem(&(status, body.clone()), 409, "membership-refused");
    assert!(body["detail"].as_str().unwrap_or("").contains("1 cross-bank transfer(s) with A are in doubt"), "{body}");
    // The transfer in doubt does not involve C: B approves C's removal (C has no position here).
    let (status, body) = approve(json!({"remove": "C"})).await;
    assert_eq!(status, 200, "B refused C's removal over a transfer C is not in: {body}");
    assert_eq!(body["bank"], "B", "{body}");

    // A comes back and finishes the transfer: B no longer refuses A's removal over a doubt; if the
    // transfer committed, B's position with A (R$ 10,00) is what it refuses over.
    consortium.restart(0).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let outcome = loop {
        match participation_status(&consortium, 1, &id).await.as_deref() {
            Some("prepared") | None => {}
            Some(other) => break other.to_string(),
        }
        assert!(Instant::now() < deadline, "B never learned the outcome of {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (status, body) = approve(json!({"remove": "A"})).await;
    if outcome == "committed" {
        assert_problem(&(status, body.clone()), 409, "membership-refused");
        assert!(body["detail"].as_str().unwrap_or("").contains("not settled"), "{body}");
    } else {
        assert_eq!(status, 200, "{body}");
    }
    let report = consortium.audit_until_quiet(Duration::from_secs(60)).await;
    assert!(report.passed, "{}", report.render());
}
