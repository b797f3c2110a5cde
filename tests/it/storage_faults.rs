//! Storage faults under a bank process (issue 16, point 5): the disk under its SQLite ledger
//! fills up, its flushes (fsync, fdatasync) fail, and its PostgreSQL server is killed with kill -9 and started again. While the
//! fault lasts the bank refuses clearly (503 `unavailable`, no panic, no exit); it loses
//! nothing it acknowledged; once the fault is gone it takes work again without a restart of its
//! own; and a repeat of every unanswered request under its Idempotency-Key then moves the money
//! exactly once (the audit passes, the balances are exactly what the requests asked for).
//!
//! The load: six clients post deposits and local transfers, each under its own key, and keep
//! every answer. A failing fsync is made by a small LD_PRELOAD library (`fsync_fault.c`, built
//! by the test with `cc`) that fails fsync and fdatasync with EIO under the bank while a flag
//! file exists: device-mapper's dm-error or dm-flakey would do it at the device, but the test
//! machines' kernels do not offer them.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// The disk-full test mounts a tmpfs, which needs root. Without root it fails, unless this
/// variable is `1` (a deliberate skip, e.g. on a developer machine without sudo).
const SKIP_ROOT_VARIABLE: &str = "RINGBANK_TEST_SKIP_ROOT";

#[tokio::test]
async fn a_full_disk_stops_acknowledgements_and_the_bank_takes_work_again_when_space_is_freed() {
    if test_database_server().is_some() {
        // This run keeps ledgers on the database server, not on the data directory's disk;
        // the SQLite run of the suite covers a full disk.
        return;
    }
    let Some(disk) = SmallDisk::mount(32) else { return };
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("bank.log");
    let mut bank = BankProcess::spawn_with_database("A", "127.0.0.1:0", disk.path(), None, &[], Some(&log)).await;
    let load = Load::prepare(&bank.view()).await;
    let workers = load.start();
    load.wait_for_acknowledgements(200, Duration::from_secs(60)).await;

    // Fill the disk: from now on the WAL cannot grow (it may still reuse what it has).
    let filler = disk.path().join("filler");
    fill(&filler);
    let full_at = Instant::now();
    let refused = load.wait_for_refusals(full_at, 20, Duration::from_secs(90)).await;
    assert!(refused >= 20, "only {refused} requests refused in 90 s on a full disk: {}", load.summary());
    let detail = load.refusal_details(full_at).into_iter().next().expect("a refusal");
    assert!(detail.contains("disk is full"), "the refusal should say why: {detail}");
    // Refusing is all it does: the process runs, answers, and serves reads.
    assert_alive(&mut bank);
    let view = bank.view();
    assert!(view.admin().healthy(Duration::from_secs(5)).await, "the bank stopped answering /healthz");
    load.client.account(&load.from).await.expect("reads still work on a full disk");

    // Free the space: the bank takes work again, without a restart.
    std::fs::remove_file(&filler).expect("remove the filler");
    let freed_at = Instant::now();
    let recovered = load.wait_for_acknowledgement_after(freed_at, Duration::from_secs(60)).await;
    assert!(recovered.is_some(), "no transfer acknowledged within 60 s of freeing the disk: {}", load.summary());
    load.stop(workers).await;
    assert_alive(&mut bank);
    load.settle().await;
    load.check().await;
    view.assert_audit_passes().await;
    let _ = writeln!(
        std::io::stderr(),
        "full disk: {}; first acknowledgement {} ms after the disk was freed",
        load.summary(),
        recovered.unwrap().as_millis()
    );

    // A restart after the episode opens the ledger as it was.
    bank.kill9().await;
    let restarted = BankProcess::spawn_with_database("A", "127.0.0.1:0", disk.path(), None, &[], Some(&log)).await;
    let load = load.on(&restarted.view());
    load.check().await;
    restarted.view().assert_audit_passes().await;
    assert_no_panic(&log);
    restarted.kill9().await;
}

/// Builds `tests/it/fsync_fault.c` into a shared library for LD_PRELOAD (with the C compiler
/// every machine that builds this project's -sys crates has).
fn fsync_fault_library(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fsync_fault.c");
    let library = dir.join("libfsyncfault.so");
    let output = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .output()
        .expect("run cc (a C compiler is needed to build the fsync fault library)");
    assert!(output.status.success(), "cc failed: {}", String::from_utf8_lossy(&output.stderr));
    library
}

#[tokio::test]
async fn a_failed_fsync_stops_acknowledgements_and_loses_nothing_acknowledged() {
    if test_database_server().is_some() {
        // Ledgers on the database server flush with the server's fsync, not this process's;
        // the SQLite run of the suite covers it.
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let library = fsync_fault_library(data.path());
    let flag = data.path().join("fail-fsync");
    let log = data.path().join("bank.log");
    let env = [("LD_PRELOAD", library.as_os_str()), ("RINGBANK_TEST_FAIL_FSYNC", flag.as_os_str())];
    let mut bank = BankProcess::spawn_with_env("A", "127.0.0.1:0", data.path(), None, &[], Some(&log), &env).await;
    let load = Load::prepare(&bank.view()).await;
    let workers = load.start();
    load.wait_for_acknowledgements(200, Duration::from_secs(60)).await;

    // Every fsync and fdatasync of the bank fails with EIO from now on.
    std::fs::write(&flag, b"").unwrap();
    let failing_at = Instant::now();
    let refused = load.wait_for_refusals(failing_at, 20, Duration::from_secs(60)).await;
    assert!(refused >= 20, "only {refused} requests refused in 60 s while fsync failed: {}", load.summary());
    let detail = load.refusal_details(failing_at).into_iter().next().expect("a refusal");
    assert!(detail.contains("disk failed"), "the refusal should say why: {detail}");
    assert_alive(&mut bank);
    assert!(bank.view().admin().healthy(Duration::from_secs(5)).await, "the bank stopped answering /healthz");

    // The flushes work again: the bank takes work again without a restart (a failed commit was
    // answered as failed, and SQLite rolled it back).
    std::fs::remove_file(&flag).unwrap();
    let healed_at = Instant::now();
    let recovered = load.wait_for_acknowledgement_after(healed_at, Duration::from_secs(30)).await;
    assert!(recovered.is_some(), "no request acknowledged within 30 s of the flushes working again: {}", load.summary());
    let _ = writeln!(std::io::stderr(), "failed fsync: {}; acknowledged again {recovered:?} after the heal", load.summary());
    load.stop(workers).await;
    assert_alive(&mut bank);
    load.settle().await;
    load.check().await;
    bank.view().assert_audit_passes().await;

    // A restart after the episode opens a ledger with every acknowledged movement, exactly once.
    bank.kill9().await;
    let restarted = BankProcess::spawn_with_database("A", "127.0.0.1:0", data.path(), None, &[], Some(&log)).await;
    let load = load.on(&restarted.view());
    load.check().await;
    restarted.view().assert_audit_passes().await;
    assert_no_panic(&log);
    restarted.kill9().await;
}

#[tokio::test]
async fn a_bank_whose_postgres_is_killed_refuses_then_recovers_without_a_restart() {
    // PostgreSQL run only (RINGBANK_TEST_DATABASE_URL set); the server killed is this test's
    // own, not the suite's shared one.
    let Some(_server) = test_database_server() else { return };
    let mut postgres = PrivatePostgres::start().await;
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("bank.log");
    let url = postgres.url();
    let mut bank = BankProcess::spawn_with_database("A", "127.0.0.1:0", data.path(), Some(&url), &[], Some(&log)).await;
    let load = Load::prepare(&bank.view()).await;
    let workers = load.start();
    load.wait_for_acknowledgements(200, Duration::from_secs(60)).await;

    postgres.kill9().await;
    let killed_at = Instant::now();
    let refused = load.wait_for_refusals(killed_at, 6, Duration::from_secs(60)).await;
    assert!(refused >= 6, "only {refused} requests refused in 60 s without a database: {}", load.summary());
    let detail = load.refusal_details(killed_at).into_iter().next().expect("a refusal");
    assert!(detail.contains("cannot be reached"), "the refusal should say why: {detail}");
    // No acknowledgement without a database: nothing asked after the kill was acknowledged.
    let false_acknowledgements = load.acknowledged_started_after(killed_at);
    assert!(false_acknowledgements.is_empty(), "acknowledged with the database down: {false_acknowledgements:?}");
    assert_alive(&mut bank);
    assert!(bank.view().admin().healthy(Duration::from_secs(5)).await, "the bank stopped answering /healthz");

    postgres.restart().await;
    let restarted_at = Instant::now();
    let recovered = load.wait_for_acknowledgement_after(restarted_at, Duration::from_secs(60)).await;
    assert!(recovered.is_some(), "no transfer acknowledged within 60 s of the database's restart: {}", load.summary());
    load.stop(workers).await;
    assert_alive(&mut bank);
    load.settle().await;
    load.check().await;
    bank.view().assert_audit_passes().await;
    assert_no_panic(&log);
    let _ = writeln!(
        std::io::stderr(),
        "postgres killed: {}; first acknowledgement {} ms after the server was back",
        load.summary(),
        recovered.unwrap().as_millis()
    );
    bank.kill9().await;
}

/// How many requests the load makes at most, and how many clients make them.
const REQUESTS_MAX: u64 = 20_000;
const CLIENTS: usize = 6;
/// The payer's first deposit; transfers take 1-7 centavos, so it never runs out.
const INITIAL_CENTS: i64 = 10_000;

/// One money movement asked for, under its own Idempotency-Key.
#[derive(Clone, Debug)]
struct Request {
    key: String,
    deposit: bool,
    amount_cents: i64,
    started: Instant,
}

#[derive(Clone, Debug)]
enum Answer {
    /// 201: committed, with the transfer's id.
    Acknowledged(String),
    /// 503 `unavailable`, with the problem's detail.
    Unavailable(String),
    /// No answer within the client's timeout (a loaded machine): counted, not a failure here.
    NoAnswer,
    /// Anything else (a 500, a wrong problem type): the test fails.
    Unexpected(String),
}

/// The load: deposits into `from` and transfers from `from` to `to`, at one bank. `client`
/// is signed in as the payer, `payee` as the holder of `to`.
struct Load {
    client: BankClient,
    payee: BankClient,
    from: String,
    to: String,
    answers: Mutex<Vec<(Request, Answer)>>,
    next: AtomicU64,
    stopping: AtomicBool,
}

impl Load {
    async fn prepare(bank: &TestBank) -> Arc<Load> {
        let token = bank.customer(&new_cpf(), "Ana").await;
        let from = bank.open_account(&token, "individual", &[]).await;
        let bia = bank.customer(&new_cpf(), "Bia").await;
        let to = bank.open_account(&bia, "individual", &[]).await;
        bank.deposit(&token, &from, INITIAL_CENTS).await;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
        let client = BankClient::with_http(http, &bank.url).with_token(&token);
        Arc::new(Load {
            client,
            payee: bank.as_customer(&bia),
            from,
            to,
            answers: Mutex::new(Vec::new()),
            next: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        })
    }

    /// The same load's record, talking to `bank` (a restart of the same bank: the sessions
    /// are in its ledger).
    fn on(&self, bank: &TestBank) -> Load {
        Load {
            client: bank.as_customer(self.client.token().expect("signed in")),
            payee: bank.as_customer(self.payee.token().expect("signed in")),
            from: self.from.clone(),
            to: self.to.clone(),
            answers: Mutex::new(self.answers.lock().unwrap().clone()),
            next: AtomicU64::new(self.next.load(Ordering::Relaxed)),
            stopping: AtomicBool::new(true),
        }
    }

    fn start(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        (0..CLIENTS)
            .map(|_| {
                let load = self.clone();
                tokio::spawn(async move {
                    while !load.stopping.load(Ordering::Relaxed) {
                        let number = load.next.fetch_add(1, Ordering::Relaxed);
                        if number >= REQUESTS_MAX {
                            return;
                        }
                        let request = Request {
                            key: format!("storage-fault-{number}"),
                            deposit: number % 2 == 0,
                            amount_cents: 1 + (number % 7) as i64,
                            started: Instant::now(),
                        };
                        let answer = load.post(&request).await;
                        let pause = !matches!(answer, Answer::Acknowledged(_));
                        load.answers.lock().unwrap().push((request, answer));
                        if pause {
                            // Refused: do not spin while the fault lasts.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                })
            })
            .collect()
    }

    async fn stop(&self, workers: Vec<tokio::task::JoinHandle<()>>) {
        self.stopping.store(true, Ordering::Relaxed);
        for worker in workers {
            worker.await.expect("a load client panicked");
        }
    }

    async fn post(&self, request: &Request) -> Answer {
        let options = PostOptions::key(request.key.clone());
        let result = if request.deposit {
            self.client.deposit(&self.from, request.amount_cents, &options).await
        } else {
            let leg = |account: &str| Leg {
                bank: "A".to_string(),
                account: account.to_string(),
                amount_cents: request.amount_cents,
                consent: None,
            };
            let transfer = NewTransfer { debits: vec![leg(&self.from)], credits: vec![leg(&self.to)], description: request.key.clone() };
            self.client.transfer(&transfer, &options).await
        };
        match result {
            Ok(reply) if reply.http_status == 201 => Answer::Acknowledged(reply.transfer.id),
            Ok(reply) => Answer::Unexpected(format!("{}: {:?}", reply.http_status, reply.transfer)),
            Err(error) if error.is_transport() => Answer::NoAnswer,
            Err(error) if error.status() == Some(503) && error.slug() == Some("unavailable") => {
                Answer::Unavailable(error.problem().map(|p| p.detail.clone()).unwrap_or_default())
            }
            Err(error) => Answer::Unexpected(error.to_string()),
        }
    }

    fn count(&self, what: impl Fn(&Request, &Answer) -> bool) -> usize {
        self.answers.lock().unwrap().iter().filter(|(request, answer)| what(request, answer)).count()
    }

    fn summary(&self) -> String {
        let answers = self.answers.lock().unwrap();
        let (mut acknowledged, mut unavailable, mut no_answer, mut unexpected) = (0, 0, 0, Vec::new());
        for (_, answer) in answers.iter() {
            match answer {
                Answer::Acknowledged(_) => acknowledged += 1,
                Answer::Unavailable(_) => unavailable += 1,
                Answer::NoAnswer => no_answer += 1,
                Answer::Unexpected(what) => unexpected.push(what.clone()),
            }
        }
        unexpected.truncate(3);
        format!("{acknowledged} acknowledged, {unavailable} refused as unavailable, {no_answer} unanswered, unexpected: {unexpected:?}")
    }

    async fn wait_for_acknowledgements(&self, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.count(|_, answer| matches!(answer, Answer::Acknowledged(_))) < count {
            assert!(Instant::now() < deadline, "fewer than {count} acknowledgements in {} s: {}", limit.as_secs(), self.summary());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `count` requests started after `since` were refused as unavailable, or
    /// `limit` passes; returns how many were. Fails at once on an unexpected answer.
    async fn wait_for_refusals(&self, since: Instant, count: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            self.assert_nothing_unexpected();
            let refused = self.count(|request, answer| request.started > since && matches!(answer, Answer::Unavailable(_)));
            if refused >= count || Instant::now() > deadline {
                return refused;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn refusal_details(&self, since: Instant) -> Vec<String> {
        let answers = self.answers.lock().unwrap();
        answers
            .iter()
            .filter_map(|(request, answer)| match answer {
                Answer::Unavailable(detail) if request.started > since => Some(detail.clone()),
                _ => None,
            })
            .collect()
    }

    fn acknowledged_started_after(&self, since: Instant) -> Vec<String> {
        let answers = self.answers.lock().unwrap();
        answers
            .iter()
            .filter_map(|(request, answer)| match answer {
                Answer::Acknowledged(id) if request.started > since => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// How long after `since` the first request started after it was acknowledged, if one is
    /// within `limit`.
    async fn wait_for_acknowledgement_after(&self, since: Instant, limit: Duration) -> Option<Duration> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            self.assert_nothing_unexpected();
            if self.count(|request, answer| request.started > since && matches!(answer, Answer::Acknowledged(_))) > 0 {
                return Some(since.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    fn assert_nothing_unexpected(&self) {
        let unexpected = self.count(|_, answer| matches!(answer, Answer::Unexpected(_)));
        assert_eq!(unexpected, 0, "answers that are neither an acknowledgement nor a clear refusal: {}", self.summary());
    }

    /// Asks again, under the same key, every request that was not acknowledged, until each is:
    /// a request whose first attempt committed gets that commit's answer, any other commits
    /// now. Then every request took effect exactly once.
    async fn settle(&self) {
        self.assert_nothing_unexpected();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut answers = std::mem::take(&mut *self.answers.lock().unwrap());
        for (request, answer) in answers.iter_mut() {
            while !matches!(answer, Answer::Acknowledged(_)) {
                assert!(Instant::now() < deadline, "request {} still not acknowledged after the fault: {answer:?}", request.key);
                *answer = self.post(request).await;
                assert!(!matches!(answer, Answer::Unexpected(_)), "repeat of {}: {answer:?}", request.key);
                if !matches!(answer, Answer::Acknowledged(_)) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        *self.answers.lock().unwrap() = answers;
    }

    /// After `settle`: every request is in the payer's statement exactly once, and the
    /// balances are exactly what the requests asked for.
    async fn check(&self) {
        let answers = self.answers.lock().unwrap().clone();
        let ids: HashSet<String> = answers
            .iter()
            .map(|(request, answer)| match answer {
                Answer::Acknowledged(id) => id.clone(),
                other => panic!("request {} not settled: {other:?}", request.key),
            })
            .collect();
        assert_eq!(ids.len(), answers.len(), "two requests answered with one transfer");
        let lines = statement_ids(&self.client, &self.from).await;
        let in_statement: HashSet<&String> = lines.iter().collect();
        assert_eq!(in_statement.len(), lines.len(), "a transfer booked twice in the statement");
        for id in &ids {
            assert!(in_statement.contains(id), "acknowledged transfer {id} is missing from the ledger");
        }
        // The statement holds the first deposit and the requests, nothing else.
        assert_eq!(lines.len(), ids.len() + 1, "the statement has lines no request asked for");
        let deposited: i64 = answers.iter().filter(|(r, _)| r.deposit).map(|(r, _)| r.amount_cents).sum();
        let transferred: i64 = answers.iter().filter(|(r, _)| !r.deposit).map(|(r, _)| r.amount_cents).sum();
        let from = self.client.account(&self.from).await.expect("payer's account");
        assert_eq!(from.balance_cents, INITIAL_CENTS + deposited - transferred);
        let to = self.payee.account(&self.to).await.expect("payee's account");
        assert_eq!(to.balance_cents, transferred);
    }
}

/// Every entry id of `account`'s statement, newest first.
async fn statement_ids(client: &BankClient, account: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut before = None;
    loop {
        let page = client.statement(account, Some(200), before).await.expect("statement readable");
        ids.extend(page.entries.into_iter().map(|entry| entry.entry_id));
        match page.next_before {
            Some(next) => before = Some(next),
            None => return ids,
        }
    }
}

fn assert_alive(bank: &mut BankProcess) {
    let exited = bank.child.try_wait().expect("the bank's process status");
    assert!(exited.is_none(), "the bank exited: {exited:?}");
}

fn assert_no_panic(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(!text.contains("panicked"), "the bank panicked: {}", &text[text.find("panicked").unwrap_or(0)..][..500.min(text.len())]);
}

/// Writes `path` until the disk is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("create the filler");
    let chunk = vec![0xa5_u8; 1 << 20];
    loop {
        match file.write_all(&chunk) {
            Ok(()) => {}
            Err(error) if error.raw_os_error() == Some(libc::ENOSPC) => return,
            Err(error) => panic!("filling the disk: {error}"),
        }
    }
}

/// A tmpfs of a few MiB mounted on a fresh directory; unmounted and removed when dropped.
struct SmallDisk {
    directory: Option<tempfile::TempDir>,
}

impl SmallDisk {
    /// None when the test is skipped deliberately (not root, and RINGBANK_TEST_SKIP_ROOT=1).
    fn mount(size_mib: u32) -> Option<SmallDisk> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            let skip = std::env::var(SKIP_ROOT_VARIABLE).ok().as_deref() == Some("1");
            assert!(
                skip,
                "this test mounts a small tmpfs to fill a bank's disk, which needs root: run the tests as root \
                 (CI does), e.g. `sudo -E cargo test --test it storage_faults`, or set {SKIP_ROOT_VARIABLE}=1 to skip it deliberately"
            );
            let _ = writeln!(std::io::stderr(), "a_full_disk...: skipped ({SKIP_ROOT_VARIABLE}=1 and not root)");
            return None;
        }
        let directory = tempfile::tempdir().expect("temp dir");
        let output = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m,mode=0700"), "tmpfs"])
            .arg(directory.path())
            .output()
            .expect("run mount");
        assert!(output.status.success(), "mount -t tmpfs failed: {}", String::from_utf8_lossy(&output.stderr));
        Some(SmallDisk { directory: Some(directory) })
    }

    fn path(&self) -> &Path {
        self.directory.as_ref().expect("mounted").path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let Some(directory) = self.directory.take() else { return };
        // A bank killed a moment ago may still hold its files open: then detach lazily.
        let unmounted = std::process::Command::new("umount").arg(directory.path()).status().is_ok_and(|s| s.success())
            || std::process::Command::new("umount").arg("--lazy").arg(directory.path()).status().is_ok_and(|s| s.success());
        if !unmounted {
            let _ = writeln!(std::io::stderr(), "could not unmount {}", directory.path().display());
        }
        drop(directory);
    }
}

/// A PostgreSQL server of this test's own (initdb into a temporary directory, a free loopback
/// port), so that killing it breaks no other test. Stopped and deleted when dropped.
struct PrivatePostgres {
    directory: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    server: Option<std::process::Child>,
}

impl PrivatePostgres {
    async fn start() -> PrivatePostgres {
        let bin = postgres_bin();
        let directory = tempfile::tempdir().expect("temp dir");
        if running_as_root() {
            // PostgreSQL refuses to run as root: its files belong to the postgres user.
            let status = std::process::Command::new("chown").args(["-R", "postgres:"]).arg(directory.path()).status().expect("chown");
            assert!(status.success(), "chown of the server's directory to postgres failed");
        }
        let port = free_loopback_address().rsplit(':').next().unwrap().parse().unwrap();
        let mut server = PrivatePostgres { directory, bin, port, server: None };
        let output = server
            .command("initdb")
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "-D"])
            .arg(server.data())
            .output()
            .expect("run initdb");
        assert!(output.status.success(), "initdb failed: {}", String::from_utf8_lossy(&output.stderr));
        server.restart().await;
        server
    }

    fn data(&self) -> PathBuf {
        self.directory.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A command running `program` of the server's binaries as the postgres user.
    fn command(&self, program: &str) -> std::process::Command {
        let program = self.bin.join(program);
        if running_as_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            std::process::Command::new(program)
        }
    }

    /// Starts the server (again) and waits until it takes connections.
    async fn restart(&mut self) {
        use sqlx::Connection;
        assert!(self.server.is_none(), "the server is running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.directory.path().join("server.log")).expect("server log");
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1", "-k"])
            .arg(self.directory.path())
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start postgres");
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(connection) = sqlx::PgConnection::connect(&self.url()).await {
                let _ = connection.close().await;
                return;
            }
            let exited = self.server.as_mut().unwrap().try_wait().expect("server status");
            assert!(exited.is_none() && Instant::now() < deadline, "postgres did not start ({exited:?}): {}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// kill -9 of the postmaster and every process it started, as a crash would; returns
    /// once they are gone.
    async fn kill9(&mut self) {
        let postmaster = self.postmaster_pid().expect("the server is running");
        let children = children_of(postmaster);
        for pid in std::iter::once(postmaster).chain(children.iter().copied()) {
            // SAFETY: kill(2) with a valid signal; the pids are the server's processes.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let mut server = self.server.take().expect("started");
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.try_wait().expect("server status").is_none() || children.iter().any(|pid| process_alive(*pid)) {
            assert!(Instant::now() < deadline, "the killed server's processes did not go away");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.directory.path().join("server.log")).unwrap_or_default();
        text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let Some(mut server) = self.server.take() else { return };
        let _ = self.command("pg_ctl").args(["stop", "-m", "immediate", "-t", "20", "-D"]).arg(self.data()).output();
        if let Some(pid) = self.postmaster_pid().filter(|pid| process_alive(*pid)) {
            // SAFETY: kill(2) of the server this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = server.kill();
        let _ = server.wait();
    }
}

/// The newest PostgreSQL server binaries Debian installed.
fn postgres_bin() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect(
        "this test starts its own PostgreSQL server: install Debian's postgresql (binaries under /usr/lib/postgresql/<version>/bin)",
    );
    let newest = versions
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .expect("no version under /usr/lib/postgresql");
    PathBuf::from(format!("/usr/lib/postgresql/{newest}/bin"))
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The processes whose parent is `parent` (from /proc).
fn children_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| parent_of(*pid) == Some(parent))
        .collect()
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces, so read after its closing parenthesis.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Alive and not a zombie.
fn process_alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_some_and(|state| state != "Z")
}

/// A member whose flushes fail (issue 16, point 5, in a ring): its ring state cannot be made
/// durable, so it may promise nothing and hold nothing; it leaves the ring at its next ring-state
/// write and stays out until it is restarted, while the other members go on without it. Once its
/// disk works again and it is restarted, it takes part again, and the consortium's books agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_flushes_fail_leaves_the_ring_and_the_others_go_on() {
    const AMOUNT: i64 = 100;
    let mut consortium = Consortium::start(3, &[]).await;
    let library = fsync_fault_library(consortium.data.path());
    let flag = consortium.data.path().join("fail-fsync-B");
    let log = consortium.data.path().join("bank-B.log");
    let shim = [("LD_PRELOAD", library.as_os_str()), ("RINGBANK_TEST_FAIL_FSYNC", flag.as_os_str())];
    consortium.kill9(1).await;
    consortium.restart_with_env(1, &log, &shim).await;
    let (a, b, c) = (consortium.view(0), consortium.view(1), consortium.view(2));
    let cpf = new_cpf();
    let mut tokens = Vec::new();
    for index in 0..3 {
        tokens.push(consortium.view(index).customer(&cpf, "Helena").await);
    }
    let xa = a.open_account(&tokens[0], "individual", &[]).await;
    let xb = b.open_account(&tokens[1], "individual", &[]).await;
    let xc = c.open_account(&tokens[2], "individual", &[]).await;
    a.deposit(&tokens[0], &xa, 100 * AMOUNT).await;
    let pay = |to: &'static str, account: &str| NewTransfer {
        debits: vec![Leg::new("A", &xa, AMOUNT)],
        credits: vec![Leg::new(to, account, AMOUNT)],
        description: format!("to {to}"),
    };
    let customer = a.as_customer(&tokens[0]);
    let final_status = |transfer: NewTransfer| {
        let customer = &customer;
        async move { submit_until_final(customer, &transfer, Duration::from_secs(60)).await.status }
    };
    // With B in the ring: a payment to B and one to C commit.
    assert_eq!(final_status(pay("B", &xb)).await, "committed");
    assert_eq!(final_status(pay("C", &xc)).await, "committed");

    // Every fsync and fdatasync of B fails from now on: B leaves the ring at its next write of
    // the ring state (the token passes through it twice a second or more while A has work).
    std::fs::write(&flag, b"").unwrap();
    let failing_at = Instant::now();
    let mut to_c = 1;
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("this bank leaves the ring") {
        assert!(failing_at.elapsed() < Duration::from_secs(30), "B did not leave the ring within 30 s of its flushes failing");
        assert_eq!(final_status(pay("C", &xc)).await, "committed");
        to_c += 1;
    }
    let left_after = failing_at.elapsed();
    assert_alive(consortium.banks[1].as_mut().expect("B runs"));
    assert!(b.admin().healthy(Duration::from_secs(5)).await, "B stopped answering /healthz");

    // The others go on without B: payments from A to C commit one after another, B never
    // holds the token again, and A's live ring leaves B out.
    let client = reqwest::Client::new();
    let out_at = Instant::now();
    for _ in 0..10 {
        assert_eq!(final_status(pay("C", &xc)).await, "committed");
        to_c += 1;
        let status = consortium.status(&client, 1).await.expect("B answers its ring status");
        assert!(!status.status.holding, "B holds the token after leaving the ring: {:?}", status.status);
    }
    loop {
        let ring = consortium.status(&client, 0).await.map(|s| s.status.ring).unwrap_or_default();
        if !ring.is_empty() && !ring.contains(&"B".to_string()) {
            break;
        }
        assert!(out_at.elapsed() < Duration::from_secs(30), "A's live ring still has B 30 s after B left: {ring:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A payment to B now ends, either way (B's participant may still answer on a ledger whose
    // flushes are not its own, on a database server), and nothing stays in doubt.
    let during = final_status(pay("B", &xb)).await;
    let _ = writeln!(std::io::stderr(), "B left the ring {left_after:?} after its flushes failed; a payment to B meanwhile: {during}");

    // B's disk works again; B restarted takes part again.
    std::fs::remove_file(&flag).unwrap();
    consortium.kill9(1).await;
    consortium.restart(1).await;
    let rejoin = Instant::now();
    while consortium.status(&client, 1).await.is_none_or(|s| s.status.grants == 0) {
        assert!(rejoin.elapsed() < Duration::from_secs(30), "B restarted did not hold the token within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(final_status(pay("B", &xb)).await, "committed");
    let report = consortium.audit_until_quiet(Duration::from_secs(30)).await;
    assert!(report.passed, "{}", report.render());
    let to_b = 2 + i64::from(during == "committed");
    assert_eq!(c.balance(&tokens[2], &xc).await.0, to_c * AMOUNT);
    assert_eq!(b.balance(&tokens[1], &xb).await.0, to_b * AMOUNT);
    assert_eq!(a.balance(&tokens[0], &xa).await.0, (100 - to_c - to_b) * AMOUNT);
    assert_no_panic(&log);
}
