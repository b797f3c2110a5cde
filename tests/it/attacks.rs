//! Attacks by a member bank, across real bank processes, each refused with nothing changed:
//! a member settling (or answering about) a transfer it does not coordinate (attack 3), prepares
//! with impossible, uncertified, forged or borrowed certificates that would wedge a participant's
//! fence (attack 4), a member asking about transfers it took no part in, and a receiver's bank
//! refunding more than the original took from the payer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;

/// A signed bank-to-bank call as bank `sender`.
async fn signed<T: serde::de::DeserializeOwned>(sender: &str, url: &str, path: &str, body: &Value) -> Result<T, ringbank::peer::PeerError> {
    ringbank::peer::PeerClient::new(sender, test_key(sender)).call(url, path, body).await
}

/// Bank `index`'s consortium summary (balances, participations, deliveries), as the audit reads it.
async fn summary(consortium: &Consortium, index: usize) -> Value {
    let (status, body) = consortium.view(index).get("/admin/v1/consortium", Some(ADMIN_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The status of transfer `id`'s participation at bank `index` ("prepared", "committed",
/// "aborted"), if it has one.
async fn participation(consortium: &Consortium, index: usize, id: &str) -> Option<String> {
    let body = summary(consortium, index).await;
    let list = body["participations"].as_array().cloned().unwrap_or_default();
    list.iter().find(|p| p["id"] == json!(id)).map(|p| p["status"].as_str().unwrap_or_default().to_string())
}

/// The newest prepare stamp bank `index` accepted (its fence), read from its database.
async fn fence(consortium: &Consortium, index: usize) -> (i64, i64) {
    use sqlx::Connection;
    let id = &consortium.ids[index];
    let query = "SELECT epoch, seq FROM fencing WHERE name = 'prepare'";
    match test_database_url(id, consortium.data.path()).await {
        Some(url) => {
            let mut connection = sqlx::PgConnection::connect(&url).await.expect("connect to the bank's schema");
            let row: (i64, i64) = sqlx::query_as(query).fetch_one(&mut connection).await.expect("the fence is stored");
            let _ = connection.close().await;
            row
        }
        None => {
            let path = consortium.data.path().join(format!("bank-{id}.sqlite3"));
            let url = format!("sqlite://{}?mode=ro", path.display());
            let mut connection = sqlx::SqliteConnection::connect(&url).await.expect("open the bank's database");
            let row: (i64, i64) = sqlx::query_as(query).fetch_one(&mut connection).await.expect("the fence is stored");
            let _ = connection.close().await;
            row
        }
    }
}

/// Waits until bank `index` has promised a real epoch (the ring runs); returns it.
async fn promised_epoch(consortium: &Consortium, index: usize) -> u64 {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = consortium.status(&client, index).await.filter(|s| s.status.promised_epoch > 0) {
            return status.status.promised_epoch;
        }
        assert!(Instant::now() < deadline, "the ring did not form at bank {index}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A certificate for `stamp` held by member `holder`, confirmed by `signers` (member index and
/// the bank whose test key signs), as JSON.
fn certificate(stamp: ringbank_ring::Stamp, holder: u16, signers: &[(u16, &str)]) -> Value {
    let confirmations: Vec<Value> = signers
        .iter()
        .map(|(by, bank)| json!({"by": by, "signature": test_key(bank).sign(&ringbank_ring::quorum::confirm_bytes(stamp, holder)).to_string()}))
        .collect();
    json!({ "stamp": { "epoch": stamp.epoch, "seq": stamp.seq }, "holder": holder, "confirmations": confirmations })
}

async fn wait_final(bank: &TestBank, token: &str, id: &str, limit: Duration) -> TransferView {
    let deadline = Instant::now() + limit;
    loop {
        match bank.as_customer(token).transfer_view(id).await {
            Ok(view) if view.status != "pending" => return view,
            other => assert!(Instant::now() < deadline, "transfer {id} still not final: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Submits `debits` -> `credits` at `bank` until one commits (an abort under load, a vote that
/// missed the lease, is retried); returns the committed view.
async fn commit_eventually(bank: &TestBank, token: &str, debits: Vec<Leg>, credits: Vec<Leg>) -> TransferView {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let transfer = NewTransfer { debits: debits.clone(), credits: credits.clone(), description: "honest".into() };
        let reply = bank.as_customer(token).transfer(&transfer, &PostOptions::wait(Duration::from_secs(20))).await.expect("accepted");
        let view = wait_final(bank, token, &reply.transfer.id, Duration::from_secs(60)).await;
        if view.status == "committed" {
            return view;
        }
        assert!(Instant::now() < deadline, "no honest transfer committed: {view:?}");
    }
}

/// Waits until `condition` holds for bank `index`'s participation in `id`, or panics.
async fn wait_participation(consortium: &Consortium, index: usize, id: &str, want: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let status = participation(consortium, index, id).await;
        if status.as_deref() == Some(want) {
            return;
        }
        assert!(Instant::now() < deadline, "bank {index}'s participation in {id} is {status:?}, not {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A dishonest member standing in for a bank at `listen`: it answers every in-doubt query with
/// "aborted" for every id asked (whatever the truth) and refuses everything else with 503.
/// Records the ids it was asked about.
struct Liar {
    asked: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Liar {
    async fn start(listen: &str) -> Liar {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(listen).await {
                Ok(listener) => break listener,
                Err(error) => assert!(Instant::now() < deadline, "cannot bind {listen}: {error}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let record = asked.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let record = record.clone();
                tokio::spawn(async move {
                    let _ = Self::answer(stream, record).await;
                });
            }
        });
        Liar { asked, task }
    }

    async fn answer(mut stream: tokio::net::TcpStream, asked: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await??;
            if read == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..read]);
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if buffer.len() > 64 * 1024 {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
            .unwrap_or(0);
        while buffer.len() < head_end + length.min(1 << 20) {
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await??;
            if read == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
        let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
        let (status, body) = if path == "/bank/v1/query" {
            let request: Value = serde_json::from_slice(&buffer[head_end..]).unwrap_or_default();
            let ids: Vec<String> =
                request["ids"].as_array().into_iter().flatten().filter_map(|id| id.as_str().map(str::to_string)).collect();
            let known: Vec<Value> = ids.iter().map(|id| json!({ "id": id, "commit": false })).collect();
            asked.lock().unwrap().extend(ids);
            ("200 OK", json!({ "known": known }).to_string())
        } else {
            ("503 Service Unavailable", String::new())
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(reply.as_bytes()).await?;
        stream.shutdown().await
    }

    fn times_asked(&self, id: &str) -> usize {
        self.asked.lock().unwrap().iter().filter(|asked| *asked == id).count()
    }

    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_3_a_member_cannot_settle_or_answer_for_a_transfer_it_does_not_coordinate() {
    let mut consortium = Consortium::start(3, &[]).await;
    let (a, b, c) = (consortium.view(0), consortium.view(1), consortium.view(2));
    let cpf = new_cpf();
    let (xa_token, xc_token) = (a.customer(&cpf, "Xavier").await, c.customer(&cpf, "Xavier").await);
    let xa = a.open_account(&xa_token, "individual", &[]).await;
    let xc = c.open_account(&xc_token, "individual", &[]).await;
    a.deposit(&xa_token, &xa, 10_000).await;
    c.deposit(&xc_token, &xc, 10_000).await;
    let for_a = c.grant_consent(&xc_token, "A", &xc, 5_000).await;
    let payee = b.customer(&new_cnpj(), "Loja B").await;
    let yb = b.open_account(&payee, "company", &[]).await;

    // A coordinates a transfer debiting at A and at C and crediting at B; it logs its decision
    // and dies before telling anyone: C (and B) are prepared, in doubt, with C's hold placed.
    let crash = Fault::CrashAt { point: "after-decision-logged".parse().expect("a crash point") };
    a.admin().inject(&crash).await.expect("crash point armed");
    let submit = NewTransfer {
        debits: vec![Leg::new("A", &xa, 1_000), Leg::consented("C", &xc, 1_000, &for_a)],
        credits: vec![Leg::new("B", &yb, 2_000)],
        description: "held decision".into(),
    };
    let posted = a.as_customer(&xa_token).transfer(&submit, &PostOptions::default()).await.expect("the origin accepts the transfer");
    assert_eq!(posted.http_status, 202, "{posted:?}");
    let id = posted.transfer.id.clone();
    assert!(consortium.wait_dead(0, Duration::from_secs(30)).await, "A did not crash after logging its decision");
    wait_participation(&consortium, 2, &id, "prepared", Duration::from_secs(10)).await;
    assert_eq!(c.balance(&xc_token, &xc).await, (10_000, 9_000), "C holds the debit while in doubt");
    let before = summary(&consortium, 2).await;

    // B, a member signing with its own key, tries to settle A's transfer at C both ways.
    for commit in [false, true] {
        let as_a = json!({ "coordinator": "A", "outcomes": [{ "id": id, "commit": commit }] });
        let answer: Result<Value, _> = signed("B", &consortium.url(2), "/bank/v1/outcome", &as_a).await;
        assert!(matches!(answer, Err(ringbank::peer::PeerError::Refused { status: 403, .. })), "{answer:?}");
        let as_b = json!({ "coordinator": "B", "outcomes": [{ "id": id, "commit": commit }] });
        let answer: Value = signed("B", &consortium.url(2), "/bank/v1/outcome", &as_b).await.expect("the outcome is answered");
        assert_eq!(answer["final_ids"], json!([]), "B settled A's transfer at C: {answer}");
    }
    assert_eq!(participation(&consortium, 2, &id).await.as_deref(), Some("prepared"));

    // B also lies when C asks it what became of the transfer (A does not answer: it is down).
    consortium.kill9(1).await;
    let liar = Liar::start(&consortium.listens[1]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    // Asked twice: C's resolver has handled the first (false) answer before asking again.
    while liar.times_asked(&id) < 2 {
        let status = participation(&consortium, 2, &id).await;
        assert_eq!(status.as_deref(), Some("prepared"), "C applied B's word (asked {} times)", liar.times_asked(&id));
        assert!(Instant::now() < deadline, "C never asked B about the transfer in doubt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // C applied neither: still prepared, the hold still there, its journal and books untouched.
    assert_eq!(participation(&consortium, 2, &id).await.as_deref(), Some("prepared"));
    assert_eq!(c.balance(&xc_token, &xc).await, (10_000, 9_000));
    assert_eq!(c.as_customer(&xc_token).statement(&xc, None, None).await.expect("statement").entries.len(), 1, "only the deposit");
    let after = summary(&consortium, 2).await;
    for field in ["settlement", "customer_money_cents", "held_cents", "in_doubt", "participations"] {
        assert_eq!(before[field], after[field], "{field} changed at C");
    }

    // Nothing of it was stored either: C restarts still in doubt, its hold in place, and goes on
    // asking (B still lies) without taking B's word.
    consortium.kill9(2).await;
    consortium.restart(2).await;
    assert_eq!(participation(&consortium, 2, &id).await.as_deref(), Some("prepared"));
    assert_eq!(c.balance(&xc_token, &xc).await, (10_000, 9_000));
    let asked = liar.times_asked(&id);
    let deadline = Instant::now() + Duration::from_secs(30);
    while liar.times_asked(&id) < asked + 2 {
        assert_eq!(participation(&consortium, 2, &id).await.as_deref(), Some("prepared"), "C applied B's word after its restart");
        assert!(Instant::now() < deadline, "C did not ask B again after its restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = summary(&consortium, 2).await;
    for field in ["settlement", "customer_money_cents", "held_cents", "in_doubt", "participations"] {
        assert_eq!(before[field], after[field], "{field} changed at C across its restart");
    }

    // A comes back: the transfer ends as A decided, the same at every bank.
    consortium.restart(0).await;
    let a = consortium.view(0);
    let token = a.sign_in(&cpf).await;
    let view = wait_final(&a, &token, &id, Duration::from_secs(60)).await;
    wait_participation(&consortium, 2, &id, &view.status, Duration::from_secs(60)).await;
    liar.stop().await;
    consortium.restart(1).await;
    let report = consortium.audit_until_quiet(Duration::from_secs(60)).await;
    assert!(report.passed, "{}", report.render());
    let moved = if view.status == "committed" { 1_000 } else { 0 };
    assert_eq!(c.balance(&xc_token, &xc).await, (10_000 - moved, 10_000 - moved), "{view:?}");
    assert_eq!(a.balance(&token, &xa).await, (10_000 - moved, 10_000 - moved), "{view:?}");
    assert_eq!(b.balance(&payee, &yb).await, (2 * moved, 2 * moved), "{view:?}");
    eprintln!("attack 3: the transfer ended {} as A decided", view.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_4_prepares_with_impossible_or_badly_certified_stamps_leave_the_fence_alone_across_a_restart() {
    let mut consortium = Consortium::start(3, &[]).await;
    let c = consortium.view(2);
    let promised = promised_epoch(&consortium, 2).await;
    let victim = c.customer(&new_cpf(), "Vitória").await;
    let account = c.open_account(&victim, "individual", &[]).await;
    c.deposit(&victim, &account, 10_000).await;
    let fence_before = fence(&consortium, 2).await;
    let before = summary(&consortium, 2).await;

    // Members in sorted order: A = 0, B = 1, C = 2. A is the attacker and signs as itself.
    // 2^63 + 5 is an epoch no member can mint (its low 16 bits name member 5); 2^63 is one A
    // could mint, far in the future, so only the certificate's signatures stand in the way.
    let impossible = ringbank_ring::Stamp::new((1 << 63) + 5, 7);
    let far = ringbank_ring::Stamp::new(1 << 63, 7);
    let honest = ringbank_ring::Stamp::new(promised, 1);
    // The round before the one C promised, minted by A: a stamp that was real once.
    let old = ringbank_ring::Stamp::new(promised.saturating_sub(1 << 16) & !0xffff, 1);
    let garbage = |stamp: ringbank_ring::Stamp| {
        json!({ "stamp": { "epoch": stamp.epoch, "seq": stamp.seq }, "holder": 0, "confirmations": [
            { "by": 0, "signature": ringbank_domain::keys::Signature::from_bytes([1; 64]).to_string() },
            { "by": 1, "signature": ringbank_domain::keys::Signature::from_bytes([2; 64]).to_string() },
        ]})
    };
    // B's real signature over another stamp, presented as B's confirmation of the far one.
    let mut borrowed = certificate(far, 0, &[(0, "A")]);
    borrowed["confirmations"]
        .as_array_mut()
        .unwrap()
        .push(json!({"by": 1, "signature": test_key("B").sign(&ringbank_ring::quorum::confirm_bytes(honest, 0)).to_string()}));
    let attempts: Vec<(&str, ringbank_ring::Stamp, Value, u16, &str)> = vec![
        ("2^63+5 without a certificate", impossible, Value::Null, 403, "without a certificate"),
        ("2^63+5 with garbage signatures", impossible, garbage(impossible), 403, "cannot have been minted"),
        ("2^63+5 signed by a quorum", impossible, certificate(impossible, 0, &[(0, "A"), (1, "B")]), 403, "cannot have been minted"),
        ("a far stamp without a certificate", far, Value::Null, 403, "without a certificate"),
        ("a far stamp with garbage signatures", far, garbage(far), 403, "signature"),
        ("only the attacker's own confirmation", far, certificate(far, 0, &[(0, "A")]), 403, "certificate refused"),
        ("the attacker's confirmation twice", far, certificate(far, 0, &[(0, "A"), (0, "A")]), 403, "twice"),
        ("the attacker's key posing as B's", far, certificate(far, 0, &[(0, "A"), (1, "A")]), 403, "signature"),
        ("B's signature over another stamp", far, borrowed, 403, "signature"),
        ("a real certificate for another stamp", far, certificate(honest, 0, &[(0, "A"), (1, "B")]), 403, "the certificate is for"),
        ("a real certificate for another holder", far, certificate(far, 1, &[(0, "A"), (1, "B")]), 403, "the certificate is for"),
        ("an old (expired) certificate for a new stamp", far, certificate(old, 0, &[(0, "A"), (1, "B")]), 403, "the certificate is for"),
        // A genuine certificate with its own, old stamp: a stale coordinator, below C's promise.
        ("an old certificate for its old stamp", old, certificate(old, 0, &[(0, "A"), (1, "B")]), 409, "stale"),
    ];
    for (round, (what, stamp, certificate, status, says)) in attempts.into_iter().enumerate() {
        let id = format!("tr_attack4_{round}");
        let prepare = json!({
            "coordinator": "A",
            "stamp": { "epoch": stamp.epoch, "seq": stamp.seq },
            "certificate": certificate,
            "transfers": [{
                "id": id, "kind": "transfer", "initiated_by": "attacker", "description": "attack 4",
                "position": 0, "participants": ["A", "C"],
                "legs": [{ "account": account, "amount_cents": 1_000 }],
                "settlement": [{ "bank": "A", "amount_cents": -1_000 }],
            }],
        });
        let answer: Result<Value, _> = signed("A", &consortium.url(2), "/bank/v1/prepare", &prepare).await;
        match answer {
            Err(ringbank::peer::PeerError::Refused { status: got, body }) => {
                assert_eq!(got, status, "{what}: {body}");
                assert!(body.contains(says), "{what}: {body}");
            }
            other => panic!("{what}: the prepare was not refused: {other:?}"),
        }
        assert_eq!(fence(&consortium, 2).await, fence_before, "{what} moved C's fence");
        assert_eq!(participation(&consortium, 2, &id).await, None, "{what} left a participation at C");
    }
    let after = summary(&consortium, 2).await;
    for field in ["settlement", "customer_money_cents", "held_cents", "in_doubt", "participations"] {
        assert_eq!(before[field], after[field], "{field} changed at C");
    }
    assert_eq!(c.balance(&victim, &account).await, (10_000, 10_000));

    // C restarts: nothing of the attack was stored, and honest transfers through C commit, with
    // C as a participant (A coordinates) and as the coordinator.
    consortium.kill9(2).await;
    consortium.restart(2).await;
    assert_eq!(fence(&consortium, 2).await, fence_before, "C's fence changed across the restart");
    promised_epoch(&consortium, 2).await;
    let a = consortium.view(0);
    let payer = a.customer(&new_cpf(), "Pagadora").await;
    let from = a.open_account(&payer, "individual", &[]).await;
    a.deposit(&payer, &from, 10_000).await;
    let view = commit_eventually(&a, &payer, vec![Leg::new("A", &from, 1_500)], vec![Leg::new("C", &account, 1_500)]).await;
    assert_eq!(view.status, "committed");
    let friend = a.customer(&new_cpf(), "Amiga").await;
    let to = a.open_account(&friend, "individual", &[]).await;
    let view = commit_eventually(&c, &victim, vec![Leg::new("C", &account, 500)], vec![Leg::new("A", &to, 500)]).await;
    assert_eq!(view.status, "committed");
    let report = consortium.audit_until_quiet(Duration::from_secs(30)).await;
    assert!(report.passed, "{}", report.render());
    assert_eq!(c.balance(&victim, &account).await, (11_000, 11_000));
    let fence_after = fence(&consortium, 2).await;
    assert!(fence_after > fence_before && fence_after.0 < (1 << 62), "C's fence: {fence_before:?} -> {fence_after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_doubt_query_is_answered_only_to_the_transfers_coordinator_and_participants() {
    let consortium = Consortium::start(3, &[]).await;
    let (a, c) = (consortium.view(0), consortium.view(2));
    let payer = a.customer(&new_cpf(), "Pagadora").await;
    let from = a.open_account(&payer, "individual", &[]).await;
    a.deposit(&payer, &from, 10_000).await;
    let payee = c.customer(&new_cpf(), "Recebedor").await;
    let to = c.open_account(&payee, "individual", &[]).await;
    // A transfer between A and C only: B takes no part in it.
    let view = commit_eventually(&a, &payer, vec![Leg::new("A", &from, 700)], vec![Leg::new("C", &to, 700)]).await;
    assert!(consortium.audit_until_quiet(Duration::from_secs(30)).await.passed);
    let ask = |asker: &'static str, bank: usize| {
        let (url, id) = (consortium.url(bank), view.id.clone());
        async move {
            let answer: Value =
                signed(asker, &url, "/bank/v1/query", &json!({ "coordinator": "A", "ids": [id] })).await.expect("the query is answered");
            answer["known"].clone()
        }
    };
    let committed = json!([{ "id": view.id, "commit": true }]);
    // The participant and the coordinator learn it from each other.
    assert_eq!(ask("C", 0).await, committed);
    assert_eq!(ask("A", 2).await, committed);
    // B learns nothing of it, from the coordinator or from the participant.
    assert_eq!(ask("B", 0).await, json!([]));
    assert_eq!(ask("B", 2).await, json!([]));
}

/// A receiver's bank that refunds more than a transfer debited at the payer's bank (an honest
/// one caps refunds at what its receiver got; a dishonest one could drain its own customer into
/// the payer's account, or a bug could): the payer's bank votes no, counting the refunds it
/// already voted yes on, even for a prepare with a genuine quorum certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_over_what_the_original_debited_at_the_payers_bank_gets_a_no() {
    let consortium = Consortium::start(3, &[]).await;
    let (b, c) = (consortium.view(1), consortium.view(2));
    promised_epoch(&consortium, 2).await;
    let payer = c.customer(&new_cpf(), "Pagadora").await;
    let payer_account = c.open_account(&payer, "individual", &[]).await;
    c.deposit(&payer, &payer_account, 100_000).await;
    let receiver_document = new_cpf();
    let receiver = b.customer(&receiver_document, "Recebedor").await;
    let receiver_account = b.open_account(&receiver, "individual", &[]).await;
    b.deposit(&receiver, &receiver_account, 50_000).await;
    let original =
        commit_eventually(&c, &payer, vec![Leg::new("C", &payer_account, 10_000)], vec![Leg::new("B", &receiver_account, 10_000)]).await;
    // Committed at C, its coordinator; B posts the credit when the outcome reaches it (until
    // then B refuses a refund, "credited nothing to account ... here": a CI run once asked first).
    wait_participation(&consortium, 1, &original.id, "committed", Duration::from_secs(30)).await;

    // An honest refund of half of it, through B's API, reaches C.
    let body = json!({ "account": receiver_account, "amount_cents": 5_000, "description": "metade" });
    let (status, refund) = b.post(&format!("/api/v1/transfers/{}/refunds", original.id), Some(&receiver), body).await;
    assert_eq!(status, 202, "{refund}");
    let refund_id = refund["id"].as_str().expect("id").to_string();
    assert_eq!(wait_final(&b, &receiver, &refund_id, Duration::from_secs(60)).await.status, "committed");
    wait_participation(&consortium, 2, &refund_id, "committed", Duration::from_secs(30)).await;
    assert_eq!(c.balance(&payer, &payer_account).await.0, 95_000);

    // B, dishonest, asks C to book refunds of the same original with a certificate every member
    // signed (a stamp only B could mint, far ahead: this is the test's last prepare at C).
    let stamp = ringbank_ring::Stamp::new((1 << 62) | 1, 1);
    let item = |id: &str, amount: i64, position: u32| {
        json!({
            "id": id, "kind": "transfer", "initiated_by": receiver_document, "description": "devolução",
            "position": position, "participants": ["B", "C"],
            "legs": [{ "account": payer_account, "amount_cents": amount }],
            "settlement": [{ "bank": "B", "amount_cents": -amount }],
            "refund_of": original.id,
            "payers": [{ "bank": "B", "account": receiver_account, "amount_cents": amount, "credited": payer_account }],
        })
    };
    let prepare = json!({
        "coordinator": "B",
        "stamp": { "epoch": stamp.epoch, "seq": stamp.seq },
        "certificate": certificate(stamp, 1, &[(0, "A"), (1, "B"), (2, "C")]),
        // 5_001 is one centavo over what is left; then 3_000 twice: the first fits, the second
        // would pass the original with the first.
        "transfers": [item("tr_overrefund_0", 5_001, 0), item("tr_overrefund_1", 3_000, 1), item("tr_overrefund_2", 3_000, 2)],
    });
    let before = summary(&consortium, 2).await;
    let answer: Value = signed("B", &consortium.url(2), "/bank/v1/prepare", &prepare).await.expect("C answers the prepare");
    let votes = answer["votes"].as_array().cloned().unwrap_or_default();
    let vote = |id: &str| votes.iter().find(|v| v["id"] == json!(id)).cloned().unwrap_or_else(|| panic!("no vote on {id}: {answer}"));
    let over = vote("tr_overrefund_0");
    assert_eq!(over["yes"], false, "{answer}");
    let reason = over["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("R$ 50,00 left to be refunded") && reason.contains("R$ 50,01 asked"), "{reason}");
    assert_eq!(vote("tr_overrefund_1")["yes"], true, "{answer}");
    let again = vote("tr_overrefund_2");
    assert_eq!(again["yes"], false, "{answer}");
    assert!(again["reason"].as_str().unwrap_or_default().contains("R$ 20,00 left to be refunded"), "{answer}");
    // Only the one that fits is prepared at C; nothing moved (it waits for B's outcome).
    assert_eq!(participation(&consortium, 2, "tr_overrefund_1").await.as_deref(), Some("prepared"));
    let after = summary(&consortium, 2).await;
    assert_eq!(before["customer_money_cents"], after["customer_money_cents"]);
    assert_eq!(c.balance(&payer, &payer_account).await.0, 95_000);
}
