//! Per-bank keys and signed receipts across real bank processes: a member that signs as another
//! is refused and changes nothing; a bank with a missing, malformed or wrong key refuses to
//! start and says why; `ringbank keygen` makes a key a bank starts with; a committed cross-bank
//! transfer's receipt verifies with `ringbank verify`, and any tampering makes it invalid.

use std::time::Duration;

use serde_json::Value;

use crate::common::*;

/// POSTs `body` to `path` at `url`, signed with `key` but claiming to come from `bank`.
async fn post_signed_as(url: &str, path: &str, body: &str, key: &ringbank_domain::SecretKey, bank: &str) -> u16 {
    let signed = ringbank::peer::auth::sign(key, "POST", path, body.as_bytes(), bank, ringbank::clock::wall_clock_ms());
    reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .header("x-ring-bank", &signed.bank)
        .header("x-ring-timestamp", signed.timestamp_ms.to_string())
        .header("x-ring-nonce", &signed.nonce)
        .header("x-ring-signature", &signed.signature)
        .body(body.to_string())
        .send()
        .await
        .expect("the bank answers")
        .status()
        .as_u16()
}

/// Bank `index`'s consortium summary (balances, participations, deliveries), as the audit reads it.
async fn summary(consortium: &Consortium, index: usize) -> Value {
    let (status, body) = consortium.view(index).get("/admin/v1/consortium", Some(ADMIN_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_signing_as_another_is_refused_and_changes_nothing() {
    let consortium = Consortium::start(3, &[]).await;
    let c = consortium.view(2);
    let victim = c.customer(&new_cpf(), "Vítima").await;
    let account = c.open_account(&victim, "individual", &[]).await;
    c.deposit(&victim, &account, 50_000).await;
    let before = summary(&consortium, 2).await;
    // B signs with its own key but claims to be A: a prepare debiting C's customer, then its
    // commit, and an abort tombstone.
    let prepare = format!(
        r#"{{"coordinator":"A","stamp":{{"epoch":1,"seq":1}},"transfers":[{{"id":"forged-1","kind":"transfer","initiated_by":"x",
        "description":"","position":0,"participants":["A","C"],"legs":[{{"account":"{account}","amount_cents":-50000}}],"settlement":[]}}]}}"#
    );
    let b_key = test_key("B");
    assert_eq!(post_signed_as(&consortium.url(2), "/bank/v1/prepare", &prepare, &b_key, "A").await, 401);
    let commit = r#"{"coordinator":"A","outcomes":[{"id":"forged-1","commit":true}]}"#;
    assert_eq!(post_signed_as(&consortium.url(2), "/bank/v1/outcome", commit, &b_key, "A").await, 401);
    let abort = r#"{"coordinator":"A","outcomes":[{"id":"forged-2","commit":false}]}"#;
    assert_eq!(post_signed_as(&consortium.url(2), "/bank/v1/outcome", abort, &b_key, "A").await, 401);
    // A ring message claiming to be A, signed by B, is refused the same way.
    assert_eq!(post_signed_as(&consortium.url(2), "/ring/v1/join", r#"{"Join":{"epoch":1}}"#, &b_key, "A").await, 401);
    assert_eq!(c.balance(&victim, &account).await, (50_000, 50_000));
    let after = summary(&consortium, 2).await;
    for field in ["settlement", "customer_money_cents", "held_cents", "in_doubt", "participations"] {
        assert_eq!(before[field], after[field], "{field} changed");
    }
    assert!(!after["participations"].to_string().contains("forged"), "{after}");
    // The same abort signed by A itself is accepted and leaves its tombstone: the refusals
    // above were about the key, and the check above can see a change.
    assert_eq!(post_signed_as(&consortium.url(2), "/bank/v1/outcome", abort, &test_key("A"), "A").await, 200);
    let genuine = summary(&consortium, 2).await;
    assert!(genuine["participations"].to_string().contains("forged-2"), "{genuine}");
}

/// Runs `ringbank serve` for bank A of a two-bank member list and returns (success, stderr).
async fn serve_a(key_file: Option<&std::path::Path>, members: &str) -> (bool, String) {
    let data = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"));
    command.args(["serve", "--id", "A", "--listen", "127.0.0.1:0", "--peer", members]).arg("--data-dir").arg(data.path());
    command.env_remove("RINGBANK_KEY_FILE").env_remove("RINGBANK_SECRET_KEY").env_remove("RINGBANK_PEERS");
    if let Some(path) = key_file {
        command.arg("--key-file").arg(path);
    }
    let output = tokio::time::timeout(Duration::from_secs(30), command.output()).await.expect("exits in time").unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).to_string())
}

#[tokio::test]
async fn a_bank_with_a_missing_malformed_or_wrong_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let members = format!("{},{}", peer_entry("A", "http://127.0.0.1:1"), peer_entry("B", "http://127.0.0.1:2"));
    let (ok, stderr) = serve_a(None, &members).await;
    assert!(!ok && stderr.contains("bank A has no key") && stderr.contains("ringbank keygen"), "{stderr}");
    let malformed = dir.path().join("malformed.key");
    std::fs::write(&malformed, "ed25519-secret:1234\n").unwrap();
    let (ok, stderr) = serve_a(Some(&malformed), &members).await;
    assert!(!ok && stderr.contains("malformed"), "{stderr}");
    let missing = dir.path().join("missing.key");
    let (ok, stderr) = serve_a(Some(&missing), &members).await;
    assert!(!ok && stderr.contains("cannot read the key file"), "{stderr}");
    // B's key given to A: its public key is not the one the member list names for A.
    let wrong = dir.path().join("b.key");
    std::fs::write(&wrong, test_key("B").to_key_file_text()).unwrap();
    let (ok, stderr) = serve_a(Some(&wrong), &members).await;
    assert!(!ok && stderr.contains("does not match the member list"), "{stderr}");
    assert!(stderr.contains(&test_key("A").public().to_string()) && stderr.contains(&test_key("B").public().to_string()), "{stderr}");
    // A member without a public key.
    let right = dir.path().join("a.key");
    std::fs::write(&right, test_key("A").to_key_file_text()).unwrap();
    let (ok, stderr) = serve_a(Some(&right), &format!("{},B=http://127.0.0.1:2", peer_entry("A", "http://127.0.0.1:1"))).await;
    assert!(!ok && stderr.contains("--peer B=URL has no public key"), "{stderr}");
    // --check-config says the same, with exit 2, and shows the public key when it is right.
    let check = |key: &std::path::Path| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"))
            .args(["serve", "--check-config", "--id", "A", "--peer", &members])
            .arg("--key-file")
            .arg(key)
            .env_remove("RINGBANK_SECRET_KEY")
            .output()
    };
    let output = check(&wrong).await.unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = check(&right).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && stdout.contains(&test_key("A").public().to_string()), "{stdout}");
    assert!(!stdout.contains(&test_key("A").to_secret_text()), "the secret key was printed: {stdout}");
}

#[tokio::test]
async fn keygen_makes_a_key_file_a_bank_starts_with_and_never_overwrites_it() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("bank-k.key");
    let listen = free_loopback_address();
    let url = format!("http://{listen}");
    let keygen = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"))
            .args(["keygen", "--id", "K", "--url", &url])
            .arg("--key-file")
            .arg(&key_file)
            .output()
    };
    let output = keygen().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{stdout}");
    let entry = stdout.lines().find_map(|l| l.split("--peer ").nth(1)).expect("the --peer entry is printed").to_string();
    assert!(entry.starts_with(&format!("K={url}=ed25519:")), "{entry}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o077, 0, "the key file is readable by others");
    let again = keygen().await.unwrap();
    assert!(!again.status.success(), "keygen overwrote a key file");
    let data = tempfile::tempdir().unwrap();
    let key_arg = key_file.display().to_string();
    let bank = BankProcess::spawn_on("K", &listen, data.path(), &["--peer", &entry, "--key-file", &key_arg]).await;
    let (status, _) = bank.view().get("/healthz", None).await;
    assert_eq!(status, 200);
    bank.kill9().await;
}

/// Runs `ringbank verify` on `receipt` with `members`; returns (exit code, stdout).
async fn verify(receipt: &str, members: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("receipt.json");
    std::fs::write(&path, receipt).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"))
        .arg("verify")
        .arg(&path)
        .args(["--peer", members])
        .output()
        .await
        .unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).to_string())
}

/// A committed cross-bank transfer (debit at A, credit at B) and its transfer view's JSON.
pub async fn committed_cross_bank_transfer(consortium: &Consortium) -> Value {
    let (a, b) = (consortium.view(0), consortium.view(1));
    let payer = a.customer(&new_cpf(), "Pagadora").await;
    let from = a.open_account(&payer, "individual", &[]).await;
    a.deposit(&payer, &from, 10_000).await;
    let payee = b.customer(&new_cpf(), "Recebedor").await;
    let to = b.open_account(&payee, "individual", &[]).await;
    let transfer = serde_json::json!({
        "debits": [{"bank": "A", "account": from, "amount_cents": 2_500}],
        "credits": [{"bank": "B", "account": to, "amount_cents": 2_500}],
        "description": "recibo"
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let key = format!("receipt-{}", rand::random::<u64>());
        let headers = [("Idempotency-Key", key.as_str()), ("Prefer", "wait=20")];
        let (status, body) = a.call_with(reqwest::Method::POST, "/api/v1/transfers", Some(&payer), Some(transfer.clone()), &headers).await;
        assert!(status == 200 || status == 202, "{status} {body}");
        let id = body["id"].as_str().expect("an id").to_string();
        let view = loop {
            let (_, view) = a.get(&format!("/api/v1/transfers/{id}"), Some(&payer)).await;
            if view["status"] != "pending" || std::time::Instant::now() > deadline {
                break view;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if view["status"] == "committed" {
            return view;
        }
        // An abort under load (a vote that missed the lease) is retried.
        assert!(std::time::Instant::now() < deadline, "no transfer committed: {view}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_transfers_receipt_verifies_and_a_tampered_one_does_not() {
    let consortium = Consortium::start(2, &[]).await;
    let view = committed_cross_bank_transfer(&consortium).await;
    let receipt = view["receipt"].clone();
    assert_eq!(receipt["coordinator"], "A", "{view}");
    assert_eq!(receipt["decision"], "commit");
    assert_eq!(receipt["transfer_id"], view["id"]);
    assert_eq!(receipt["legs"].as_array().map(Vec::len), Some(2), "{receipt}");
    let members = consortium.members();
    let (code, stdout) = verify(&receipt.to_string(), &members).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("valid:") && stdout.contains("coordinator A"), "{stdout}");
    // The whole transfer view, as the API gives it, verifies too.
    assert_eq!(verify(&view.to_string(), &members).await.0, 0);
    let tamper = |change: &dyn Fn(&mut Value)| {
        let mut changed = receipt.clone();
        change(&mut changed);
        changed.to_string()
    };
    let cases: Vec<(&str, String)> = vec![
        ("amount", tamper(&|r| r["legs"][1]["amount_cents"] = Value::from(250_000))),
        ("leg", tamper(&|r| r["legs"][1]["account"] = Value::from("99999999"))),
        ("stamp", tamper(&|r| r["stamp"]["seq"] = Value::from(r["stamp"]["seq"].as_u64().unwrap() + 1))),
        (
            "signature",
            tamper(&|r| {
                let signature = r["signature"].as_str().unwrap().to_string();
                let flipped = if signature.starts_with('0') { "1" } else { "0" };
                r["signature"] = Value::from(format!("{flipped}{}", &signature[1..]));
            }),
        ),
        ("coordinator", tamper(&|r| r["coordinator"] = Value::from("B"))),
    ];
    for (what, text) in cases {
        let (code, stdout) = verify(&text, &members).await;
        assert_eq!(code, 1, "a tampered {what} verified: {stdout}");
        assert!(stdout.starts_with("invalid:"), "{what}: {stdout}");
    }
    // Under another consortium's member list (other keys), the receipt is not valid.
    let strangers = format!("A={}={}", consortium.url(0), test_key("someone else").public());
    let (code, stdout) = verify(&receipt.to_string(), &strangers).await;
    assert!(code == 1 && stdout.contains("signature"), "{stdout}");
    // The public verify page says the same, without a session.
    let page = |text: String| {
        let url = format!("{}/verify?lang=en", consortium.url(1));
        async move {
            let response = reqwest::Client::new().post(url).form(&[("receipt", text)]).send().await.expect("the page answers");
            assert_eq!(response.status(), 200);
            response.text().await.expect("a page")
        }
    };
    let valid = page(receipt.to_string()).await;
    assert!(valid.contains("data-valid=\"true\"") && valid.contains("Valid receipt"), "{valid}");
    let tampered = page(tamper(&|r| r["legs"][0]["amount_cents"] = Value::from(-1))).await;
    assert!(tampered.contains("data-valid=\"false\"") && tampered.contains("Invalid receipt"), "{tampered}");
    assert!(tampered.contains("signature"), "the reason is shown: {tampered}");
}
