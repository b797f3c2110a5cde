//! Test harness: start a bank in-process (or as a child process) and talk to it.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use ringbank::app::App;
use ringbank::config::ServeConfig;
pub use ringbank_client::wire::{
    AccountKind, Leg, NewConsent, NewPayment, NewTransfer, PaymentTarget, RingStatusView, StatementPage, TransferView,
};
pub use ringbank_client::{AdminClient, BankClient, ClientError, Fault, PostOptions};

pub const ADMIN_SECRET: &str = "test-admin-secret-0123456789";
pub const PASSWORD: &str = "correct horse battery";

/// A bank running in this process; stopped when dropped.
pub struct TestBank {
    pub url: String,
    pub client: Client,
    stop: CancellationToken,
    _data: Option<tempfile::TempDir>,
}

impl TestBank {
    pub async fn start(id: &str) -> TestBank {
        let data = tempfile::tempdir().expect("temp dir");
        let mut bank = Self::start_in(id, data.path(), |_| {}).await;
        bank._data = Some(data);
        bank
    }

    pub async fn start_with(id: &str, adjust: impl FnOnce(&mut ServeConfig)) -> TestBank {
        let data = tempfile::tempdir().expect("temp dir");
        let mut bank = Self::start_in(id, data.path(), adjust).await;
        bank._data = Some(data);
        bank
    }

    pub async fn start_in(id: &str, data_dir: &Path, adjust: impl FnOnce(&mut ServeConfig)) -> TestBank {
        let mut config = ServeConfig::for_test(id, data_dir.to_path_buf());
        config.database_url = test_database_url(id, data_dir).await;
        adjust(&mut config);
        let app = App::build(config).await.expect("bank starts");
        let url = app.url();
        let stop = CancellationToken::new();
        tokio::spawn(app.run_until_stopped(stop.clone()));
        TestBank { url, client: Client::new(), stop, _data: None }
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{}", self.url, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body read");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    /// The typed client of this bank's customer API, not signed in.
    pub fn api(&self) -> BankClient {
        BankClient::with_http(self.client.clone(), &self.url)
    }

    /// The typed client signed in with `token`.
    pub fn as_customer(&self, token: &str) -> BankClient {
        self.api().with_token(token)
    }

    /// The typed client of this bank's admin API, with the test admin secret.
    pub fn admin(&self) -> AdminClient {
        AdminClient::with_http(self.client.clone(), &self.url, ADMIN_SECRET)
    }

    /// Registers a customer and signs in; returns the session token.
    pub async fn customer(&self, document: &str, name: &str) -> String {
        self.api().sign_up(document, name, PASSWORD).await.expect("customer registered");
        self.sign_in(document).await
    }

    pub async fn sign_in(&self, document: &str) -> String {
        self.api().sign_in(document, PASSWORD).await.expect("signed in").token
    }

    pub async fn open_account(&self, token: &str, kind: &str, holders: &[&str]) -> String {
        let kind = match kind {
            "individual" => AccountKind::Individual,
            "joint" => AccountKind::Joint,
            "company" => AccountKind::Company,
            other => panic!("no account kind {other:?}"),
        };
        self.as_customer(token).open_account(kind, holders).await.expect("account opened").number
    }

    pub async fn deposit(&self, token: &str, account: &str, amount_cents: i64) {
        let reply = self.as_customer(token).deposit(account, amount_cents, &PostOptions::default()).await.expect("deposit");
        assert_eq!(reply.http_status, 201, "{reply:?}");
    }

    pub async fn balance(&self, token: &str, account: &str) -> (i64, i64) {
        let view = self.as_customer(token).account(account).await.expect("account readable");
        (view.balance_cents, view.available_cents)
    }

    /// The holder of `account` here (signed in with `token`) allows bank `grantee` to debit it,
    /// up to `max_total_cents` (and as much per transfer), for an hour; returns the consent id.
    pub async fn grant_consent(&self, token: &str, grantee: &str, account: &str, max_total_cents: i64) -> String {
        let consent = NewConsent {
            grantee: grantee.to_string(),
            account: account.to_string(),
            max_per_transfer_cents: max_total_cents,
            max_total_cents,
            valid_for_seconds: 3600,
        };
        self.as_customer(token).grant_consent(&consent).await.expect("consent granted").id
    }

    /// The customer (signed in here with `token`) brings a consent they granted this bank at
    /// `bank`, so that its dashboard and transfer form offer the account there.
    pub async fn link_consent(&self, token: &str, bank: &str, consent: &str) {
        let (status, body) = self.post("/api/v1/linked-consents", Some(token), json!({ "bank": bank, "consent": consent })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Runs the admin audit and asserts every check passed.
    pub async fn assert_audit_passes(&self) {
        let report = self.admin().audit().await.expect("audit answered");
        assert!(report.passed, "audit failed: {}", report.render());
    }

    /// Every batch the writer committed went through its fast path as planned: none failed
    /// before its commit and ran again command by command (which would hide a broken
    /// multi-row statement on one backend behind the slow path's correct answers).
    pub async fn assert_no_batch_retried(&self) {
        let metrics = self.client.get(format!("{}/metrics", self.url)).send().await.expect("metrics").text().await.expect("body");
        let retries = metrics.lines().find_map(|line| line.strip_prefix("ringbank_writer_batch_retries_total "));
        assert_eq!(retries, Some("0"), "{metrics}");
    }
}

impl Drop for TestBank {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A fresh valid CPF for each call (unique within the test process).
pub fn new_cpf() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(123_456_001);
    ringbank_domain::document::cpf_from_base(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A fresh valid numeric CNPJ for each call.
pub fn new_cnpj() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(10_000_001);
    let base = format!("{:08}0001", NEXT.fetch_add(1, Ordering::Relaxed));
    ringbank_domain::document::cnpj_from_base(&base).expect("valid base")
}

/// Asserts a problem+json response with the given status and type slug.
pub fn assert_problem(result: &(StatusCode, Value), status: u16, slug: &str) {
    let (actual, body) = result;
    assert_eq!(actual.as_u16(), status, "unexpected status; body: {body}");
    assert_eq!(body["type"], json!(format!("/problems/{slug}")), "unexpected problem type: {body}");
    assert_eq!(body["status"], json!(status), "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "problem without detail: {body}");
}

/// Asserts that a typed call failed with a problem+json of the given status and type slug.
pub fn assert_client_problem<T: std::fmt::Debug>(result: Result<T, ClientError>, status: u16, slug: &str) {
    let error = result.expect_err("the call should have been refused");
    let problem = error.problem().unwrap_or_else(|| panic!("not a problem+json answer: {error}"));
    assert_eq!(error.status(), Some(status), "unexpected status: {error}");
    assert_eq!(problem.type_uri, format!("/problems/{slug}"), "unexpected problem type: {error}");
    assert_eq!(problem.status, status, "{error}");
    assert!(!problem.detail.is_empty(), "problem without detail: {error}");
}

/// A bank running as a real `ringbank serve` child process.
pub struct BankProcess {
    pub child: tokio::process::Child,
    pub url: String,
}

impl BankProcess {
    /// Starts `ringbank serve` on a free loopback port and waits until it answers.
    pub async fn spawn(id: &str, data_dir: &Path, extra: &[&str]) -> BankProcess {
        Self::spawn_on(id, "127.0.0.1:0", data_dir, extra).await
    }

    pub async fn spawn_on(id: &str, listen: &str, data_dir: &Path, extra: &[&str]) -> BankProcess {
        Self::spawn_logged(id, listen, data_dir, extra, None).await
    }

    /// As `spawn_on`; with `log`, the bank logs at info level as JSON lines into that file
    /// instead of warnings into the test's own stderr.
    pub async fn spawn_logged(id: &str, listen: &str, data_dir: &Path, extra: &[&str], log: Option<&Path>) -> BankProcess {
        let database = test_database_url(id, data_dir).await;
        Self::spawn_with_database(id, listen, data_dir, database.as_deref(), extra, log).await
    }

    /// As `spawn_logged`, with the ledger in `database` (a URL; None: a SQLite file in
    /// `data_dir`), whatever database server the suite runs on.
    pub async fn spawn_with_database(
        id: &str,
        listen: &str,
        data_dir: &Path,
        database: Option<&str>,
        extra: &[&str],
        log: Option<&Path>,
    ) -> BankProcess {
        Self::spawn_with_env(id, listen, data_dir, database, extra, log, &[]).await
    }

    /// As `spawn_with_database`, with these environment variables set for the bank alone.
    pub async fn spawn_with_env(
        id: &str,
        listen: &str,
        data_dir: &Path,
        database: Option<&str>,
        extra: &[&str],
        log: Option<&Path>,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> BankProcess {
        use tokio::io::AsyncBufReadExt;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"));
        command.envs(env.iter().copied());
        command.args(["serve", "--id", id, "--listen", listen, "--admin-secret", ADMIN_SECRET, "--data-dir"]).arg(data_dir);
        command.env_remove("RINGBANK_DATABASE_URL");
        // Where it is midday now, so that the night limit never depends on when tests run (a
        // test of the night passes --time-zone, which wins over the variable).
        command.env("RINGBANK_TIME_ZONE", ringbank::config::midday_now().to_string());
        // A 400 ms lease instead of 200 ms: debug builds of several banks and a Chromium share
        // two cores while the suite runs, and a prepare not answered within the lease aborts
        // (safely; the tests of that pass --hold-max or inject the fault). 400 ms keeps the
        // rule lease + drift < token timeout / 2 with the default 1 s timeout.
        command.env("RINGBANK_HOLD_MAX", "400ms");
        if let Some(url) = database {
            command.args(["--database-url", url]);
        }
        match log {
            Some(path) => {
                let file = std::fs::File::create(path).expect("create the bank's log file");
                command.env("RINGBANK_LOG", "info").env("RINGBANK_LOG_FORMAT", "json").stderr(file);
            }
            None => {
                command.env("RINGBANK_LOG", "warn");
            }
        }
        let mut child = command.args(extra).stdout(std::process::Stdio::piped()).kill_on_drop(true).spawn().expect("spawn ringbank");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("bank printed its URL in time")
            .expect("stdout readable")
            .expect("a line");
        let url = line.rsplit(' ').next().expect("url").to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected first line {line:?}");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        BankProcess { child, url }
    }

    /// A client view of this process, sharing the helpers of TestBank.
    pub fn view(&self) -> TestBank {
        TestBank { url: self.url.clone(), client: Client::new(), stop: CancellationToken::new(), _data: None }
    }

    /// kill -9.
    pub async fn kill9(mut self) {
        self.child.kill().await.expect("SIGKILL");
    }

    pub fn signal(&self, signal: i32) {
        let pid = self.child.id().expect("running") as i32;
        // SAFETY: kill(2) on our own child with a valid signal number.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }
}

/// Bank `id`'s key pair in the tests: a fixed seed per id, so a test can sign as any bank (and
/// show that signing as another one is refused).
pub fn test_key(id: &str) -> ringbank_domain::SecretKey {
    let mut seed = [0x5a_u8; 32];
    for (byte, id_byte) in seed.iter_mut().zip(id.bytes()) {
        *byte ^= id_byte;
    }
    ringbank_domain::SecretKey::from_seed(seed)
}

/// A member list entry: ID=URL=ed25519:HEX with the test key of `id`.
pub fn peer_entry(id: &str, url: &str) -> String {
    format!("{id}={url}={}", test_key(id).public())
}

/// A consortium of bank processes on loopback, wired into one ring.
pub struct Consortium {
    pub ids: Vec<String>,
    pub listens: Vec<String>,
    pub banks: Vec<Option<BankProcess>>,
    pub data: tempfile::TempDir,
    pub extra: Vec<String>,
}

impl Consortium {
    pub async fn start(count: usize, extra: &[&str]) -> Consortium {
        let ids: Vec<String> = (0..count).map(|i| char::from(b'A' + i as u8).to_string()).collect();
        let listens: Vec<String> = (0..count).map(|_| free_loopback_address()).collect();
        let data = tempfile::tempdir().expect("temp dir");
        let mut consortium = Consortium { ids, listens, banks: Vec::new(), data, extra: extra.iter().map(|s| s.to_string()).collect() };
        for index in 0..count {
            let bank = consortium.spawn(index).await;
            consortium.banks.push(Some(bank));
        }
        consortium
    }

    fn peer_list(&self) -> String {
        self.ids.iter().zip(&self.listens).map(|(id, l)| peer_entry(id, &format!("http://{l}"))).collect::<Vec<_>>().join(",")
    }

    /// The member list as the banks are given it (for `ringbank verify`).
    pub fn members(&self) -> String {
        self.peer_list()
    }

    pub async fn spawn(&self, index: usize) -> BankProcess {
        self.spawn_logged(index, None).await
    }

    /// Restarts stopped bank `index` logging at info level into `log`.
    pub async fn restart_logged(&mut self, index: usize, log: &Path) {
        assert!(self.banks[index].is_none(), "bank {index} is still running");
        let bank = self.spawn_logged(index, Some(log)).await;
        self.banks[index] = Some(bank);
    }

    /// Restarts stopped bank `index` with these environment variables set for it alone (e.g.
    /// an LD_PRELOAD library), logging at info level into `log`.
    pub async fn restart_with_env(&mut self, index: usize, log: &Path, env: &[(&str, &std::ffi::OsStr)]) {
        assert!(self.banks[index].is_none(), "bank {index} is still running");
        let bank = self.spawn_with_env(index, Some(log), env).await;
        self.banks[index] = Some(bank);
    }

    async fn spawn_logged(&self, index: usize, log: Option<&Path>) -> BankProcess {
        self.spawn_with_env(index, log, &[]).await
    }

    async fn spawn_with_env(&self, index: usize, log: Option<&Path>, env: &[(&str, &std::ffi::OsStr)]) -> BankProcess {
        let peers = self.peer_list();
        let id = &self.ids[index];
        let key_file = self.data.path().join(format!("key-{id}"));
        std::fs::write(&key_file, test_key(id).to_key_file_text()).expect("write the bank's key file");
        let key_file = key_file.display().to_string();
        let mut args: Vec<&str> = vec!["--peer", &peers, "--key-file", &key_file];
        args.extend(self.extra.iter().map(String::as_str));
        let database = test_database_url(id, self.data.path()).await;
        BankProcess::spawn_with_env(id, &self.listens[index], self.data.path(), database.as_deref(), &args, log, env).await
    }

    pub async fn restart(&mut self, index: usize) {
        assert!(self.banks[index].is_none(), "bank {index} is still running");
        let bank = self.spawn(index).await;
        self.banks[index] = Some(bank);
    }

    pub async fn kill9(&mut self, index: usize) {
        if let Some(bank) = self.banks[index].take() {
            bank.kill9().await;
        }
    }

    pub fn url(&self, index: usize) -> String {
        format!("http://{}", self.listens[index])
    }

    /// A client view of bank `index` with the TestBank helpers.
    pub fn view(&self, index: usize) -> TestBank {
        TestBank { url: self.url(index), client: Client::new(), stop: CancellationToken::new(), _data: None }
    }

    /// Waits until bank `index`'s process has exited (e.g. an armed crash fired).
    pub async fn wait_dead(&mut self, index: usize, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            let exited = self.banks[index].as_mut().is_some_and(|b| matches!(b.child.try_wait(), Ok(Some(_))));
            if exited {
                self.banks[index] = None;
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        false
    }

    /// Runs the consortium audit until it passes (the consortium may need a moment to become
    /// quiet: outcomes delivered, doubts resolved) or `limit` passes; returns the last report.
    pub async fn audit_until_quiet(&self, limit: std::time::Duration) -> ringbank_tools::consortium_audit::ConsortiumReport {
        let urls: Vec<(String, String)> = (0..self.ids.len()).map(|i| (self.ids[i].clone(), self.url(i))).collect();
        let deadline = std::time::Instant::now() + limit;
        loop {
            let report = match ringbank_tools::consortium_audit::fetch(&urls, ADMIN_SECRET).await {
                Ok(summaries) => Some(ringbank_tools::consortium_audit::check(&summaries)),
                Err(_) => None,
            };
            match report {
                Some(report) if report.passed || std::time::Instant::now() > deadline => return report,
                None if std::time::Instant::now() > deadline => panic!("consortium audit could not read every bank"),
                _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
    }

    /// GET /ring/v1/status of one bank, or None if it does not answer within 300 ms.
    pub async fn status(&self, client: &Client, index: usize) -> Option<RingStatusView> {
        let admin = AdminClient::with_http(client.clone(), &self.url(index), ADMIN_SECRET);
        admin.ring_status_within(std::time::Duration::from_millis(300)).await.ok()
    }
}

/// Submits `transfer` as `customer` (waiting up to 20 s for the answer) and polls its view until
/// it is final; fails the test if it is still pending after `limit`.
pub async fn submit_until_final(customer: &BankClient, transfer: &NewTransfer, limit: std::time::Duration) -> TransferView {
    let wait = PostOptions::wait(std::time::Duration::from_secs(20));
    let reply = customer.transfer(transfer, &wait).await.expect("transfer accepted");
    let deadline = std::time::Instant::now() + limit;
    loop {
        let view = customer.transfer_view(&reply.transfer.id).await.expect("the transfer's view");
        if view.status != "pending" {
            return view;
        }
        assert!(std::time::Instant::now() < deadline, "transfer {} still pending after {limit:?}", reply.transfer.id);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The PostgreSQL server the suite runs against, when RINGBANK_TEST_DATABASE_URL is set
/// (e.g. postgres://ringbank:ringbank@127.0.0.1/postgres); otherwise banks use SQLite files.
pub fn test_database_server() -> Option<String> {
    std::env::var("RINGBANK_TEST_DATABASE_URL").ok().filter(|url| !url.trim().is_empty())
}

/// The database on the test server that holds the test banks, one schema each.
const TEST_DATABASE: &str = "ringbank_test";

/// With a test database server: the URL of the database of bank `id` whose data directory is
/// `data_dir`, created on first use. Every test bank gets its own fresh schema in the
/// `ringbank_test` database (its tables, its migrations table), selected through the URL's
/// search_path: as isolated as a database of its own, but created and dropped in
/// milliseconds (DROP DATABASE forces a checkpoint, seconds each). The same bank (same id and
/// directory) gets the same schema again after a restart, like its SQLite file.
pub async fn test_database_url(id: &str, data_dir: &Path) -> Option<String> {
    use sha2::Digest;
    use sqlx::Connection;
    static CREATE: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);
    let server = test_database_server()?;
    let digest = sha2::Sha256::digest(format!("{}\0{id}", data_dir.display()).as_bytes());
    let schema = format!("bank_{}_{}", std::process::id(), &hex::encode(digest)[..16]);
    let mut url = reqwest::Url::parse(&server).expect("RINGBANK_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{TEST_DATABASE}"));
    let mut prepared = CREATE.lock().await;
    if !*prepared {
        let mut connection = sqlx::PgConnection::connect(&server).await.expect("connect to RINGBANK_TEST_DATABASE_URL");
        // Another test process may create it at the same moment: an error here is fine if
        // the database exists afterwards.
        let _ = sqlx::query(&format!("CREATE DATABASE {TEST_DATABASE}")).execute(&mut connection).await;
        let _ = connection.close().await;
    }
    let mut connection = sqlx::PgConnection::connect(url.as_str()).await.expect("connect to the test database");
    if !*prepared {
        drop_stale_test_schemas(&mut connection).await;
        *prepared = true;
    }
    drop(prepared);
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).execute(&mut connection).await.expect("create test schema");
    let _ = connection.close().await;
    url.query_pairs_mut().append_pair("options[search_path]", &schema);
    Some(url.to_string())
}

/// Drops the schemas of test processes that are no longer running.
async fn drop_stale_test_schemas(connection: &mut sqlx::PgConnection) {
    let names: Vec<(String,)> = sqlx::query_as("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'bank\\_%'")
        .fetch_all(&mut *connection)
        .await
        .unwrap_or_default();
    for (name,) in names {
        let pid = name.split('_').nth(1).and_then(|p| p.parse::<i32>().ok());
        // SAFETY: kill(pid, 0) only checks whether the process exists.
        let alive = pid.is_some_and(|pid| unsafe { libc::kill(pid, 0) } == 0);
        if !alive {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).execute(&mut *connection).await;
        }
    }
}

/// A loopback address with a port that was free a moment ago.
///
/// The port comes from below the kernel's ephemeral range (32768-60999 on Linux), not from
/// `bind(0)`: a port from that range can be taken, between this pick and the bank's own bind, as
/// the source port of any outgoing connection of another test running in parallel, and the bank
/// then fails with "Address already in use" (seen in CI). Below it only explicit binds compete:
/// this process's own picks, kept distinct by a counter from a per-process start, and the chaos
/// tests' fixed slots (20,000 and up, `chaos::base_port`).
pub fn free_loopback_address() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 10_000;
    const SPAN: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next().and_then(|low| low.parse::<u32>().ok()))
        .unwrap_or(32_768);
    if ephemeral_low >= LOW + SPAN {
        let start = std::process::id().wrapping_mul(7_919) % SPAN;
        for _ in 0..SPAN {
            let port = LOW + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN;
            let port = u16::try_from(port).expect("below 65536");
            if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
                return listener.local_addr().expect("address").to_string();
            }
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").to_string()
}
