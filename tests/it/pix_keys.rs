//! Pix keys: the customer API on one bank (validation, e-mail confirmation through the
//! development outbox, limits, lookups and their rate limit), and the directory across real bank
//! processes (one key registered concurrently at two banks: exactly one wins; a third bank
//! resolves it from its own replica; deletion; a bank down during registrations catches up;
//! every replica ends identical; portability: a key claimed at the new bank and confirmed at the
//! old one, refused, expired).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

async fn admin_get(bank: &TestBank, path: &str) -> (StatusCode, Value) {
    let auth = format!("Bearer {ADMIN_SECRET}");
    bank.call_with(Method::GET, path, None, None, &[("authorization", &auth)]).await
}

/// Each bank's replica summary {committed, keys, digest}.
async fn replica(bank: &TestBank) -> Value {
    let (status, body) = admin_get(bank, "/admin/v1/directory").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until every bank's replica has the same committed length and digest, at least `min`.
pub(crate) async fn replicas_identical(banks: &[TestBank], min: u64, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let mut summaries = Vec::new();
        for bank in banks {
            summaries.push(replica(bank).await);
        }
        let same = summaries.windows(2).all(|w| w[0]["committed"] == w[1]["committed"] && w[0]["digest"] == w[1]["digest"]);
        if same && summaries[0]["committed"].as_u64().unwrap_or(0) >= min {
            return summaries[0].clone();
        }
        assert!(Instant::now() < deadline, "replicas still differ: {summaries:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn lookup(bank: &TestBank, token: &str, key: &str) -> (StatusCode, Value) {
    let url = format!("/api/v1/keys/lookup?key={}", urlencode(key));
    bank.get(&url, Some(token)).await
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn pix_keys_on_one_bank_validation_confirmation_limits_and_lookups() {
    let bank = TestBank::start("A").await;
    let cpf = new_cpf();
    let token = bank.customer(&cpf, "Maria Silva").await;
    let account = bank.open_account(&token, "individual", &[]).await;

    // CPF key: the holder's own document only.
    let other = new_cpf();
    let (status, body) = bank.post("/api/v1/keys", Some(&token), json!({"account": account, "kind": "cpf", "key": other})).await;
    assert_problem(&(status, body), 422, "invalid-field");
    let (status, body) = bank.post("/api/v1/keys", Some(&token), json!({"account": account, "kind": "cpf"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["key"]["key"], cpf.as_str());
    // Registered once: a second time is a conflict.
    let result = bank.post("/api/v1/keys", Some(&token), json!({"account": account, "kind": "cpf"})).await;
    assert_problem(&result, 409, "key-taken");

    // Bad input gets a clear problem.
    let result = bank.post("/api/v1/keys", Some(&token), json!({"account": account, "kind": "email", "key": "not-an-email"})).await;
    assert_problem(&result, 422, "invalid-field");
    let result = bank.post("/api/v1/keys", Some(&token), json!({"account": account, "kind": "iban", "key": "x"})).await;
    assert_problem(&result, 422, "invalid-field");
    let result = bank.post("/api/v1/keys", Some(&token), json!({"account": "99999999", "kind": "random"})).await;
    assert_problem(&result, 404, "account-not-found");
    let result = bank.post("/api/v1/keys", None, json!({"account": account, "kind": "random"})).await;
    assert_problem(&result, 401, "unauthenticated");

    // E-mail: a code through the outbox; a wrong code is refused, the right one registers.
    let (status, body) =
        bank.post("/api/v1/keys", Some(&token), json!({"account": account, "kind": "email", "key": "Maria.Silva@Example.com"})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "confirmation_sent");
    let confirmation = body["confirmation_id"].as_str().unwrap().to_string();
    let (status, outbox) = admin_get(&bank, "/admin/v1/outbox").await;
    assert_eq!(status, 200);
    let message = outbox.as_array().unwrap().last().unwrap().clone();
    assert_eq!(message["to"], "maria.silva@example.com");
    let code: String = message["text"].as_str().unwrap().rsplit(' ').next().unwrap().to_string();
    assert_eq!(code.len(), 6);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let result = bank.post("/api/v1/keys/confirm", Some(&token), json!({"confirmation_id": confirmation, "code": wrong})).await;
    assert_problem(&result, 422, "invalid-field");
    let (status, body) = bank.post("/api/v1/keys/confirm", Some(&token), json!({"confirmation_id": confirmation, "code": code})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["key"], "maria.silva@example.com");
    // The code is single use.
    let result = bank.post("/api/v1/keys/confirm", Some(&token), json!({"confirmation_id": confirmation, "code": code})).await;
    assert_problem(&result, 422, "invalid-field");

    // Random keys up to the person's limit of 5 keys per account.
    for _ in 0..3 {
        let (status, body) = bank.post("/api/v1/keys", Some(&token), json!({"account": account, "kind": "random"})).await;
        assert_eq!(status, 201, "{body}");
    }
    let result = bank.post("/api/v1/keys", Some(&token), json!({"account": account, "kind": "random"})).await;
    assert_problem(&result, 422, "limit-exceeded");
    let (status, keys) = bank.get("/api/v1/keys", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(keys.as_array().unwrap().len(), 5, "{keys}");

    // Lookup: name and masked document, never the whole CPF.
    let payer = bank.customer(&new_cpf(), "João Pagador").await;
    let (status, found) = lookup(&bank, &payer, "maria.silva@example.com").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["name"], "Maria Silva");
    assert_eq!(found["bank"], "A");
    assert_eq!(found["account"], account.as_str());
    assert_eq!(found["masked_document"], format!("***.{}.{}-**", &cpf[3..6], &cpf[6..9]));
    let result = lookup(&bank, &payer, "nobody@example.com").await;
    assert_problem(&result, 404, "key-not-found");

    // Deleting: only the owner; then the key is free again.
    let result = bank.call(Method::DELETE, "/api/v1/keys/maria.silva%40example.com", Some(&payer), None).await;
    assert_problem(&result, 404, "key-not-found");
    let (status, _) = bank.call(Method::DELETE, "/api/v1/keys/maria.silva%40example.com", Some(&token), None).await;
    assert_eq!(status, 204);
    let result = lookup(&bank, &payer, "maria.silva@example.com").await;
    assert_problem(&result, 404, "key-not-found");

    // The lookup rate limit: 60 per minute per customer (3 made above), then 429.
    let mut limited = None;
    for i in 0..70 {
        let (status, _) = lookup(&bank, &payer, &cpf).await;
        if status == 429 {
            limited = Some(i);
            break;
        }
    }
    assert_eq!(limited, Some(57), "the 61st lookup of the minute is refused");
}

#[tokio::test]
async fn pix_keys_across_banks_one_winner_lookup_elsewhere_catch_up_and_identical_replicas() {
    let mut consortium = Consortium::start(3, &[]).await;
    let banks: Vec<TestBank> = (0..3).map(|i| consortium.view(i)).collect();
    // The same person is a customer of A and of B; both ask for the CPF key at once.
    let cpf = new_cpf();
    let mut tokens = Vec::new();
    let mut accounts = Vec::new();
    for bank in &banks[..2] {
        let token = bank.customer(&cpf, "Ana Souza").await;
        accounts.push(bank.open_account(&token, "individual", &[]).await);
        tokens.push(token);
    }
    let (a, b) = tokio::join!(
        banks[0].post("/api/v1/keys", Some(&tokens[0]), json!({"account": accounts[0], "kind": "cpf"})),
        banks[1].post("/api/v1/keys", Some(&tokens[1]), json!({"account": accounts[1], "kind": "cpf"})),
    );
    let statuses = [a.0.as_u16(), b.0.as_u16()];
    assert!(statuses.contains(&201) && statuses.contains(&409), "exactly one wins: {a:?} {b:?}");
    let winner = if a.0 == 201 { 0 } else { 1 };
    let loser_problem = if winner == 0 { &b.1 } else { &a.1 };
    assert_eq!(loser_problem["type"].as_str().map(|t| t.ends_with("key-taken")), Some(true), "{loser_problem}");

    // A third bank resolves the key from its own replica.
    let payer = banks[2].customer(&new_cpf(), "Carlos Pagador").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        let (status, body) = lookup(&banks[2], &payer, &cpf).await;
        if status == 200 {
            break body;
        }
        assert!(Instant::now() < deadline, "C never learned the key: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(found["bank"], consortium.ids[winner].as_str());
    assert_eq!(found["account"], accounts[winner].as_str());
    assert_eq!(found["name"], "Ana Souza");
    replicas_identical(&banks, 2, Duration::from_secs(10)).await;

    // The winner deletes it; now the other bank's registration succeeds.
    let loser = 1 - winner;
    let (status, body) = banks[winner].call(Method::DELETE, &format!("/api/v1/keys/{cpf}"), Some(&tokens[winner]), None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = banks[loser].post("/api/v1/keys", Some(&tokens[loser]), json!({"account": accounts[loser], "kind": "cpf"})).await;
    assert_eq!(status, 201, "{body}");

    // Pay by key from C: the key now names the other bank's account.
    let payer_account = banks[2].open_account(&payer, "individual", &[]).await;
    banks[2].deposit(&payer, &payer_account, 10_000).await;
    let (status, paid) = banks[2]
        .post(
            "/api/v1/key-payments",
            Some(&payer),
            json!({"from_account": payer_account, "key": cpf, "amount_cents": 2_500, "description": "aluguel"}),
        )
        .await;
    assert_eq!(status, 202, "{paid}");
    assert_eq!(paid["to"]["bank"], consortium.ids[loser].as_str(), "{paid}");
    assert_eq!(paid["to"]["account"], accounts[loser].as_str());
    let id = paid["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, view) = banks[2].get(&format!("/api/v1/transfers/{id}"), Some(&payer)).await;
        if view["status"] == "committed" {
            break;
        }
        assert!(Instant::now() < deadline && view["status"] != "aborted", "the key payment did not commit: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The credit lands at the key's bank once the outcome is delivered there.
    let deadline = Instant::now() + Duration::from_secs(20);
    while banks[loser].balance(&tokens[loser], &accounts[loser]).await.0 != 2_500 {
        assert!(Instant::now() < deadline, "the key's account was never credited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let result = banks[2]
        .post(
            "/api/v1/key-payments",
            Some(&payer),
            json!({"from_account": payer_account, "key": "nobody@example.com", "amount_cents": 100}),
        )
        .await;
    assert_problem(&result, 404, "key-not-found");

    // C goes down; A and B keep registering (a majority is up); C comes back and catches up.
    consortium.kill9(2).await;
    let mut random_keys = Vec::new();
    for round in 0..4 {
        let i = round % 2;
        let (status, body) = banks[i].post("/api/v1/keys", Some(&tokens[i]), json!({"account": accounts[i], "kind": "random"})).await;
        assert_eq!(status, 201, "registration with C down: {body}");
        random_keys.push(body["key"]["key"].as_str().unwrap().to_string());
    }
    consortium.restart(2).await;
    let banks: Vec<TestBank> = (0..3).map(|i| consortium.view(i)).collect();
    let summary = replicas_identical(&banks, 8, Duration::from_secs(15)).await;
    assert_eq!(summary["keys"], 5, "{summary}");
    // Sessions are stored: the payer's token still works after C's restart.
    for key in &random_keys {
        let (status, body) = lookup(&banks[2], &payer, key).await;
        assert_eq!(status, 200, "C resolves {key} after catching up: {body}");
    }
    // With nothing to order, the directory falls quiet: an orderer repeats its last commit a few
    // times and then stops (it used to broadcast it every 50 ms for as long as it lived, 60
    // messages a second from an idle bank); what is left is anti-entropy, one fetch a second at
    // most (it backs off while the directory stays quiet: src/directory.rs).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before: Vec<u64> =
        futures_util::future::join_all(banks.iter().map(replica)).await.iter().map(|r| r["messages_sent"].as_u64().unwrap()).collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: Vec<u64> =
        futures_util::future::join_all(banks.iter().map(replica)).await.iter().map(|r| r["messages_sent"].as_u64().unwrap()).collect();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(a - b <= 12, "bank {} sent {} directory messages in 3 idle seconds", consortium.ids[i], a - b);
    }
    consortium.audit_until_quiet(Duration::from_secs(10)).await;
}

/// Benchmark (run on demand, prints numbers):
/// `cargo test --release --test it pix_keys_bench -- --ignored --nocapture`.
/// Directory operations per second ordered under the token by 3 banks at once (registrations
/// of random keys by many customers), and the latency of a key lookup answered from the replica.
#[tokio::test]
#[ignore]
async fn pix_keys_bench() {
    let consortium = Consortium::start(3, &[]).await;
    let banks: Vec<TestBank> = (0..3).map(|i| consortium.view(i)).collect();
    let per_bank = 20;
    let mut owners = Vec::new();
    for (index, bank) in banks.iter().enumerate() {
        for _ in 0..per_bank {
            let token = bank.customer(&new_cpf(), "Cliente").await;
            let account = bank.open_account(&token, "individual", &[]).await;
            owners.push((index, token, account));
        }
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (index, token, account) in owners.clone() {
        let bank = consortium.view(index);
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let (status, body) = bank.post("/api/v1/keys", Some(&token), json!({"account": account, "kind": "random"})).await;
                assert_eq!(status, 201, "{body}");
            }
        }));
    }
    for task in tasks {
        task.await.expect("registrations");
    }
    let elapsed = started.elapsed();
    let operations = owners.len() * 5;
    let summary = replicas_identical(&banks, operations as u64, Duration::from_secs(20)).await;
    println!(
        "directory: {operations} registrations from 3 banks ({} clients at once) in {:.2} s: {:.0} operations/s; replicas identical at {} entries",
        owners.len(),
        elapsed.as_secs_f64(),
        operations as f64 / elapsed.as_secs_f64(),
        summary["committed"]
    );
    let (_, keys) = banks[0].get("/api/v1/keys", Some(&owners[0].1)).await;
    let key = keys[0]["key"].as_str().unwrap().to_string();
    let payer = banks[2].customer(&new_cpf(), "Pagador").await;
    let mut micros = Vec::new();
    for _ in 0..55 {
        let t = Instant::now();
        let (status, _) = lookup(&banks[2], &payer, &key).await;
        micros.push(t.elapsed().as_micros() as u64);
        assert_eq!(status, 200);
    }
    micros.sort_unstable();
    println!(
        "lookup over HTTP at another bank (its own replica): p50 {} us, p99 {} us, max {} us ({} lookups)",
        micros[micros.len() / 2],
        micros[micros.len() * 99 / 100],
        micros[micros.len() - 1],
        micros.len()
    );
}

/// Waits until `bank` (asked by `token`'s customer) resolves `key` to `expected_bank`.
async fn wait_lookup(bank: &TestBank, token: &str, key: &str, expected_bank: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = lookup(bank, token, key).await;
        if status == 200 && body["bank"] == expected_bank {
            return body;
        }
        assert!(Instant::now() < deadline, "{key} never resolved to bank {expected_bank}: {status} {body}");
        // Lookups are rate-limited (60 a minute per customer): poll gently.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

/// The claim with `id` among the caller's claims at `bank`.
async fn claim_at(bank: &TestBank, token: &str, id: &str) -> Value {
    let (status, claims) = bank.get("/api/v1/keys/claims", Some(token)).await;
    assert_eq!(status, 200, "{claims}");
    claims.as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap_or_else(|| panic!("no claim {id} at {}: {claims}", bank.url))
}

/// Waits until the claim shows `status` at `bank`.
async fn wait_claim_status(bank: &TestBank, token: &str, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let claim = claim_at(bank, token, id).await;
        if claim["status"] == status {
            return claim;
        }
        assert!(Instant::now() < deadline, "claim {id} never became {status}: {claim}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn pix_key_portability_claimed_at_the_new_bank_confirmed_at_the_old_one() {
    // Claims on keys at any bank expire after 5 s here, so that expiry is seen in the test.
    let consortium = Consortium::start(3, &["--key-claim-ttl", "5s"]).await;
    let banks: Vec<TestBank> = (0..3).map(|i| consortium.view(i)).collect();
    let (a_id, b_id) = (consortium.ids[0].as_str(), consortium.ids[1].as_str());
    // Beatriz is a customer of A and of B; her CPF key and a random key are at A.
    let cpf = new_cpf();
    let token_a = banks[0].customer(&cpf, "Beatriz Lima").await;
    let account_a = banks[0].open_account(&token_a, "individual", &[]).await;
    let token_b = banks[1].customer(&cpf, "Beatriz Lima").await;
    let account_b = banks[1].open_account(&token_b, "individual", &[]).await;
    let (status, body) = banks[0].post("/api/v1/keys", Some(&token_a), json!({"account": account_a, "kind": "cpf"})).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = banks[0].post("/api/v1/keys", Some(&token_a), json!({"account": account_a, "kind": "random"})).await;
    assert_eq!(status, 201, "{body}");
    let random_key = body["key"]["key"].as_str().unwrap().to_string();
    replicas_identical(&banks, 2, Duration::from_secs(10)).await;

    // Someone else at B cannot claim her keys: the directory's masked document is not theirs.
    let other = banks[1].customer(&new_cpf(), "Outra Pessoa").await;
    let other_account = banks[1].open_account(&other, "individual", &[]).await;
    let refused = banks[1].post("/api/v1/keys/claims", Some(&other), json!({"account": other_account, "key": cpf})).await;
    assert_problem(&refused, 403, "key-claim-refused");
    assert!(refused.1["detail"].as_str().unwrap_or("").contains("another person"), "{}", refused.1);
    // Bad input: a key no one has, a malformed key, an account that is not hers, a key already here.
    let result = banks[1].post("/api/v1/keys/claims", Some(&token_b), json!({"account": account_b, "key": "nobody@example.com"})).await;
    assert_problem(&result, 404, "key-not-found");
    let result = banks[1].post("/api/v1/keys/claims", Some(&token_b), json!({"account": account_b, "key": "not a key"})).await;
    assert_problem(&result, 422, "invalid-field");
    let result = banks[1].post("/api/v1/keys/claims", Some(&token_b), json!({"account": other_account, "key": cpf})).await;
    assert_problem(&result, 404, "account-not-found");
    let result = banks[0].post("/api/v1/keys/claims", Some(&token_a), json!({"account": account_a, "key": cpf})).await;
    assert_problem(&result, 422, "invalid-field");
    let result = banks[1].post("/api/v1/keys/claims", None, json!({"account": account_b, "key": cpf})).await;
    assert_problem(&result, 401, "unauthenticated");

    // Beatriz claims her CPF key at B: pending at both banks until she confirms at A.
    let (status, claim) = banks[1].post("/api/v1/keys/claims", Some(&token_b), json!({"account": account_b, "key": cpf})).await;
    assert_eq!(status, 202, "{claim}");
    assert_eq!(claim["status"], "pending");
    assert_eq!(claim["side"], "claimant");
    assert_eq!(claim["from_bank"], a_id);
    assert_eq!(claim["to_account"], account_b.as_str());
    let id = claim["id"].as_str().unwrap().to_string();
    // One pending claim per key.
    let again = banks[1].post("/api/v1/keys/claims", Some(&token_b), json!({"account": account_b, "key": cpf})).await;
    assert_problem(&again, 409, "key-claim-pending");
    let at_a = claim_at(&banks[0], &token_a, &id).await;
    assert_eq!(at_a["side"], "donor");
    assert_eq!(at_a["status"], "pending");
    assert_eq!(at_a["from_account"], account_a.as_str());
    // Nothing moved yet.
    let payer = banks[2].customer(&new_cpf(), "Carlos Pagador").await;
    assert_eq!(lookup(&banks[2], &payer, &cpf).await.1["bank"], a_id);
    // Only the owner confirms, and only at the bank that holds the key.
    let stranger = banks[0].customer(&new_cpf(), "Estranho").await;
    let result = banks[0].post(&format!("/api/v1/keys/claims/{id}/confirm"), Some(&stranger), json!({})).await;
    assert_problem(&result, 404, "key-claim-not-found");
    let result = banks[1].post(&format!("/api/v1/keys/claims/{id}/confirm"), Some(&token_b), json!({})).await;
    assert_problem(&result, 404, "key-claim-not-found");

    // She confirms at A: the directory moves the key; C resolves it to B.
    let (status, confirmed) = banks[0].post(&format!("/api/v1/keys/claims/{id}/confirm"), Some(&token_a), json!({})).await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["status"], "completed");
    let found = wait_lookup(&banks[2], &payer, &cpf, b_id).await;
    assert_eq!(found["account"], account_b.as_str());
    assert_eq!(found["name"], "Beatriz Lima");
    wait_claim_status(&banks[1], &token_b, &id, "completed").await;
    let result = banks[0].post(&format!("/api/v1/keys/claims/{id}/confirm"), Some(&token_a), json!({})).await;
    assert_problem(&result, 409, "key-claim-closed");
    let (_, keys_a) = banks[0].get("/api/v1/keys", Some(&token_a)).await;
    assert!(keys_a.as_array().unwrap().iter().all(|k| k["key"] != cpf.as_str()), "the key left A: {keys_a}");
    let (_, keys_b) = banks[1].get("/api/v1/keys", Some(&token_b)).await;
    assert!(keys_b.as_array().unwrap().iter().any(|k| k["key"] == cpf.as_str() && k["account"] == account_b.as_str()), "{keys_b}");

    // A claim of the random key that she refuses at A: the key stays; B hears of it.
    let (status, claim) = banks[1].post("/api/v1/keys/claims", Some(&token_b), json!({"account": account_b, "key": random_key})).await;
    assert_eq!(status, 202, "{claim}");
    let refused_id = claim["id"].as_str().unwrap().to_string();
    let (status, refused) = banks[0].post(&format!("/api/v1/keys/claims/{refused_id}/refuse"), Some(&token_a), json!({})).await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(refused["status"], "refused");
    wait_claim_status(&banks[1], &token_b, &refused_id, "refused").await;
    let result = banks[0].post(&format!("/api/v1/keys/claims/{refused_id}/confirm"), Some(&token_a), json!({})).await;
    assert_problem(&result, 409, "key-claim-closed");

    // Another claim of it, not confirmed in time: it expires, and a late confirmation moves nothing.
    let (status, claim) = banks[1].post("/api/v1/keys/claims", Some(&token_b), json!({"account": account_b, "key": random_key})).await;
    assert_eq!(status, 202, "{claim}");
    let late_id = claim["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    assert_eq!(claim_at(&banks[0], &token_a, &late_id).await["status"], "expired");
    assert_eq!(claim_at(&banks[1], &token_b, &late_id).await["status"], "expired");
    let result = banks[0].post(&format!("/api/v1/keys/claims/{late_id}/confirm"), Some(&token_a), json!({})).await;
    assert_problem(&result, 409, "key-claim-closed");
    assert_eq!(lookup(&banks[2], &payer, &random_key).await.1["bank"], a_id);

    // Every replica holds the same directory: 2 registrations and 1 move.
    let summary = replicas_identical(&banks, 3, Duration::from_secs(10)).await;
    assert_eq!(summary["keys"], 2, "{summary}");
    consortium.audit_until_quiet(Duration::from_secs(10)).await;
}
