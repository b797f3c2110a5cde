//! Consents across real bank processes: a debit at a bank needs its customer's consent there.
//! The two attacks of issue 18 that consents close (a stranger with the victim's CPF at another
//! bank; a member bank naming another bank's customer in a prepare) are refused with nothing
//! changed; consent limits, revocation and expiry are enforced at the account's bank, an abort
//! gives back what it used, and listing accounts at another bank needs a consent too.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

/// Submits a transfer at `bank` and waits for its final state.
async fn transfer(bank: &TestBank, token: &str, debits: Vec<Leg>, credits: Vec<Leg>) -> TransferView {
    let transfer = NewTransfer { debits, credits, description: "consent test".to_string() };
    let reply = bank.as_customer(token).transfer(&transfer, &PostOptions::wait(Duration::from_secs(20))).await.expect("transfer accepted");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match bank.as_customer(token).transfer_view(&reply.transfer.id).await {
            Ok(view) if view.status != "pending" => return view,
            other => assert!(std::time::Instant::now() < deadline, "transfer still not final: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts a transfer aborted with a reason that contains `why`.
fn assert_aborted(view: &TransferView, why: &str) {
    assert_eq!(view.status, "aborted", "{view:?}");
    let reason = view.reason.as_deref().unwrap_or_default();
    assert!(reason.contains(why), "reason {reason:?} does not say {why:?}");
}

/// A signed bank-to-bank call as bank `sender`.
async fn signed<T: serde::de::DeserializeOwned>(sender: &str, url: &str, path: &str, body: &Value) -> Result<T, ringbank::peer::PeerError> {
    ringbank::peer::PeerClient::new(sender, test_key(sender)).call(url, path, body).await
}

/// What `sender` sees at the bank at `url` for these consents.
async fn accounts_of(sender: &str, url: &str, consents: &[&str]) -> Vec<Value> {
    signed(sender, url, "/bank/v1/accounts-of", &json!({ "consents": consents })).await.expect("accounts-of answered")
}

/// The number of statement lines of an account (its journal).
async fn lines(bank: &TestBank, token: &str, account: &str) -> usize {
    bank.as_customer(token).statement(account, None, None).await.expect("statement").entries.len()
}

async fn used(bank: &TestBank, token: &str, consent: &str) -> (i64, String) {
    let list = bank.as_customer(token).consents().await.expect("consents listed");
    let found = list.into_iter().find(|c| c.id == consent).expect("the consent is listed");
    (found.used_cents, found.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_stranger_with_the_victims_cpf_elsewhere_can_neither_debit_nor_list_the_victims_account() {
    let consortium = Consortium::start(3, &[]).await;
    let (a, b, c) = (consortium.view(0), consortium.view(1), consortium.view(2));
    let victim_cpf = new_cpf();
    let victim = b.customer(&victim_cpf, "Vitória").await;
    let victim_account = b.open_account(&victim, "individual", &[]).await;
    b.deposit(&victim, &victim_account, 10_000).await;
    // The victim allowed bank C, not A, to debit it.
    let for_c = b.grant_consent(&victim, "C", &victim_account, 10_000).await;
    // The stranger signs up at A with the victim's CPF (nothing at A can tell).
    let stranger = a.customer(&victim_cpf, "Estranho").await;
    let loot = a.open_account(&stranger, "individual", &[]).await;

    let attempts = [
        (None, "no consent"),
        (Some("cs_000000000000000000000000"), "does not exist"),
        (Some(for_c.as_str()), "was not granted to the bank asking"),
    ];
    for (consent, why) in attempts {
        let debit = Leg { consent: consent.map(str::to_string), ..Leg::new("B", &victim_account, 5_000) };
        let view = transfer(&a, &stranger, vec![debit], vec![Leg::new("A", &loot, 5_000)]).await;
        assert_aborted(&view, why);
    }
    // Nothing changed: balances, holds (available = balance), the victim's journal, the loot.
    assert_eq!(b.balance(&victim, &victim_account).await, (10_000, 10_000));
    assert_eq!(lines(&b, &victim, &victim_account).await, 1, "only the deposit");
    assert_eq!(a.balance(&stranger, &loot).await, (0, 0));
    assert_eq!(used(&b, &victim, &for_c).await, (0, "active".to_string()));

    // Listing: B answers A only for consents granted to A; a CPF proves nothing any more.
    assert!(accounts_of("A", &b.url, &[]).await.is_empty());
    assert!(accounts_of("A", &b.url, &[&for_c]).await.is_empty(), "a consent granted to C lists nothing for A");
    let for_c_view = accounts_of("C", &b.url, &[&for_c]).await;
    assert_eq!(for_c_view.len(), 1);
    assert_eq!(for_c_view[0]["number"], json!(victim_account));
    let by_document: Result<Value, _> = signed("A", &b.url, "/bank/v1/accounts-of", &json!({ "document": victim_cpf })).await;
    assert!(matches!(by_document, Err(ringbank::peer::PeerError::Refused { status: 422, .. })), "{by_document:?}");

    // C, whom the victim did allow, may debit within the consent.
    let friend = c.customer(&victim_cpf, "Vitória em C").await;
    let friend_account = c.open_account(&friend, "individual", &[]).await;
    let view =
        transfer(&c, &friend, vec![Leg::consented("B", &victim_account, 1_000, &for_c)], vec![Leg::new("C", &friend_account, 1_000)]).await;
    assert_eq!(view.status, "committed", "{view:?}");
    // The decision is final at C at once; B applies it as it is delivered.
    assert!(consortium.audit_until_quiet(Duration::from_secs(15)).await.passed);
    assert_eq!(b.balance(&victim, &victim_account).await, (9_000, 9_000));
    let report = consortium.audit_until_quiet(Duration::from_secs(15)).await;
    assert!(report.passed, "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_member_bank_naming_another_banks_customer_in_a_prepare_debits_nothing() {
    let consortium = Consortium::start(2, &[]).await;
    let b = consortium.view(1);
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let promised = loop {
        if let Some(status) = consortium.status(&client, 1).await.filter(|s| s.status.promised_epoch > 0) {
            break status.status.promised_epoch;
        }
        assert!(std::time::Instant::now() < deadline, "ring did not form");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let victim_cpf = new_cpf();
    let victim = b.customer(&victim_cpf, "Vitória").await;
    let victim_account = b.open_account(&victim, "individual", &[]).await;
    b.deposit(&victim, &victim_account, 10_000).await;

    // A, a member, asks B to debit B's own customer, named as the initiator, then commits. A
    // holds the stamp it uses: its certificate carries real confirmations by A and B (the test
    // signs with their keys), so the prepare passes the fence and only the consent stands in the way.
    let stamp = ringbank_ring::Stamp::new(promised, 1 << 40);
    let holder: u16 = 0; // A, first in the sorted member list
    let confirmations: Vec<Value> = ["A", "B"]
        .iter()
        .enumerate()
        .map(|(by, bank)| json!({"by": by, "signature": test_key(bank).sign(&ringbank_ring::quorum::confirm_bytes(stamp, holder)).to_string()}))
        .collect();
    let prepare = json!({
        "coordinator": "A",
        "stamp": { "epoch": stamp.epoch, "seq": stamp.seq },
        "certificate": { "stamp": { "epoch": stamp.epoch, "seq": stamp.seq }, "holder": holder, "confirmations": confirmations },
        "transfers": [{
            "id": "tr_attack", "kind": "transfer", "initiated_by": victim_cpf, "description": "attack",
            "position": 0, "participants": ["A", "B"],
            "legs": [{ "account": victim_account, "amount_cents": -5_000 }],
            "settlement": [{ "bank": "A", "amount_cents": 5_000 }],
        }],
    });
    let votes: Value = signed("A", &b.url, "/bank/v1/prepare", &prepare).await.expect("the prepare is answered");
    assert_eq!(votes["votes"][0]["yes"], json!(false), "{votes}");
    assert!(votes["votes"][0]["reason"].as_str().unwrap_or_default().contains("no consent"), "{votes}");
    let commit = json!({ "coordinator": "A", "outcomes": [{ "id": "tr_attack", "commit": true }] });
    let answer: Value = signed("A", &b.url, "/bank/v1/outcome", &commit).await.expect("the outcome is answered");
    assert_eq!(answer["final_ids"], json!([]), "{answer}");
    assert!(answer["refused"][0]["reason"].as_str().unwrap_or_default().contains("contradicts"), "{answer}");

    // Nothing changed at B: the balance, the holds, the journal.
    assert_eq!(b.balance(&victim, &victim_account).await, (10_000, 10_000));
    assert_eq!(lines(&b, &victim, &victim_account).await, 1, "only the deposit");
    b.assert_audit_passes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_limits_revocation_and_expiry_are_enforced_and_an_abort_gives_back_what_it_used() {
    let consortium = Consortium::start(2, &[]).await;
    let (a, b) = (consortium.view(0), consortium.view(1));
    let cpf = new_cpf();
    let (at_a, at_b) = (a.customer(&cpf, "Xavier").await, b.customer(&cpf, "Xavier").await);
    let here = a.open_account(&at_a, "individual", &[]).await;
    let there = b.open_account(&at_b, "individual", &[]).await;
    b.deposit(&at_b, &there, 10_000).await;
    let debit = |amount: i64, consent: &str| vec![Leg::consented("B", &there, amount, consent)];
    let credit = |amount: i64| vec![Leg::new("A", &here, amount)];

    // A consented leg commits, and its use is recorded at B.
    let total = b.grant_consent(&at_b, "A", &there, 3_000).await;
    assert_eq!(transfer(&a, &at_a, debit(2_000, &total), credit(2_000)).await.status, "committed");
    assert!(consortium.audit_until_quiet(Duration::from_secs(15)).await.passed);
    assert_eq!(b.balance(&at_b, &there).await, (8_000, 8_000));
    assert_eq!(a.balance(&at_a, &here).await, (2_000, 2_000));
    assert_eq!(used(&b, &at_b, &total).await, (2_000, "active".to_string()));
    // Beyond the total: refused, nothing moves.
    assert_aborted(&transfer(&a, &at_a, debit(1_500, &total), credit(1_500)).await, "1000 centavos left of its total of 3000");
    assert_eq!(b.balance(&at_b, &there).await, (8_000, 8_000));
    assert_eq!(used(&b, &at_b, &total).await.0, 2_000);
    // An abort for another reason (a second leg short of funds) gives back what it used.
    let friend = a.customer(&new_cpf(), "Amiga").await;
    let friend_account = a.open_account(&friend, "individual", &[]).await;
    let mut short = debit(500, &total);
    short.push(Leg::new("A", &here, 1_000_000));
    assert_aborted(&transfer(&a, &at_a, short, vec![Leg::new("A", &friend_account, 1_000_500)]).await, "available");
    // B voted yes (and used 500) until the abort reaches it.
    assert!(consortium.audit_until_quiet(Duration::from_secs(15)).await.passed);
    assert_eq!(used(&b, &at_b, &total).await.0, 2_000, "the aborted transfer's use was released");
    assert_eq!(b.balance(&at_b, &there).await, (8_000, 8_000));

    // The limit per transfer.
    let small = NewConsent {
        grantee: "A".into(),
        account: there.clone(),
        max_per_transfer_cents: 500,
        max_total_cents: 5_000,
        valid_for_seconds: 3_600,
    };
    let small = b.as_customer(&at_b).grant_consent(&small).await.expect("granted").id;
    assert_aborted(&transfer(&a, &at_a, debit(600, &small), credit(600)).await, "at most 500 centavos per transfer");

    // Revoked: the next debit is refused, and the account is no longer listed for A.
    let revocable = b.grant_consent(&at_b, "A", &there, 5_000).await;
    assert_eq!(accounts_of("A", &b.url, &[&revocable]).await.len(), 1);
    let revoked = b.as_customer(&at_b).revoke_consent(&revocable).await.expect("revoked");
    assert_eq!(revoked.status, "revoked");
    assert_aborted(&transfer(&a, &at_a, debit(100, &revocable), credit(100)).await, "was revoked");
    assert!(accounts_of("A", &b.url, &[&revocable]).await.is_empty());

    // Expired.
    let brief =
        NewConsent { grantee: "A".into(), account: there.clone(), max_per_transfer_cents: 100, max_total_cents: 100, valid_for_seconds: 1 };
    let brief = b.as_customer(&at_b).grant_consent(&brief).await.expect("granted").id;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_aborted(&transfer(&a, &at_a, debit(100, &brief), credit(100)).await, "has expired");
    assert_eq!(used(&b, &at_b, &brief).await, (0, "expired".to_string()));

    // Nothing of the refused attempts moved money.
    assert_eq!(b.balance(&at_b, &there).await, (8_000, 8_000));
    assert_eq!(a.balance(&at_a, &here).await, (2_000, 2_000));
    assert_eq!(lines(&b, &at_b, &there).await, 2, "the deposit and the one committed transfer");
    let report = consortium.audit_until_quiet(Duration::from_secs(15)).await;
    assert!(report.passed, "{}", report.render());
}

#[tokio::test]
async fn only_a_holder_grants_a_consent_and_only_its_grantor_sees_or_revokes_it() {
    let listen = free_loopback_address();
    let peers = vec![
        ringbank::config::PeerArg { id: "A".into(), url: format!("http://{listen}"), public_key: Some(test_key("A").public()) },
        ringbank::config::PeerArg {
            id: "B".into(),
            url: format!("http://{}", free_loopback_address()),
            public_key: Some(test_key("B").public()),
        },
    ];
    let bank = TestBank::start_with("A", |config| {
        config.listen = listen.parse().unwrap();
        config.peers = peers;
        config.secret_key = Some(test_key("A").to_secret_text());
    })
    .await;
    let ana = bank.customer(&new_cpf(), "Ana").await;
    let bia = bank.customer(&new_cpf(), "Bia").await;
    let account = bank.open_account(&ana, "individual", &[]).await;
    let request = |grantee: &str, account: &str| json!({"grantee": grantee, "account": account, "max_per_transfer_cents": 100, "max_total_cents": 1_000, "valid_for_seconds": 60});
    assert_problem(&bank.post("/api/v1/consents", Some(&bia), request("B", &account)).await, 404, "account-not-found");
    assert_problem(&bank.post("/api/v1/consents", Some(&ana), request("A", &account)).await, 422, "invalid-field");
    assert_problem(&bank.post("/api/v1/consents", Some(&ana), request("Z", &account)).await, 422, "unknown-bank");
    assert_problem(&bank.post("/api/v1/consents", None, request("B", &account)).await, 401, "unauthenticated");
    let mut extra = request("B", &account);
    extra["document"] = json!("x");
    assert_problem(&bank.post("/api/v1/consents", Some(&ana), extra).await, 422, "invalid-field");
    let (status, created) = bank.post("/api/v1/consents", Some(&ana), request("B", &account)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.len() >= 24 && created["status"] == "active", "{created}");
    assert_problem(&bank.get(&format!("/api/v1/consents/{id}"), Some(&bia)).await, 404, "consent-not-found");
    assert_problem(
        &bank.call(reqwest::Method::DELETE, &format!("/api/v1/consents/{id}"), Some(&bia), None).await,
        404,
        "consent-not-found",
    );
    let (status, listed) = bank.get("/api/v1/consents", Some(&bia)).await;
    assert_eq!((status.as_u16(), listed), (200, json!([])));
    let (status, revoked) = bank.call(reqwest::Method::DELETE, &format!("/api/v1/consents/{id}"), Some(&ana), None).await;
    assert_eq!((status.as_u16(), revoked["status"].clone()), (200, json!("revoked")));
}
