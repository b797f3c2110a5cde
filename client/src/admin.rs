//! `AdminClient`: one bank's operator API (Bearer admin secret): its ledger audit, its summary
//! for the consortium audit, fault injection, the benchmark's counters, and the public ring
//! status; `wait_ready` waits until banks serve (or have joined the ring).

use std::time::{Duration, Instant};

use ringbank_domain::{ClockRate, CrashPoint};
use ringbank_wire::{AuditReport, BankSummary, FaultsView, RingStatusView, Stats};
use serde_json::{json, Value};

use crate::error::{decode, expect_success, transport, ClientError};

/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
const PROBE_INTERVAL: Duration = Duration::from_millis(50);

/// A client of one bank's admin API.
#[derive(Clone, Debug)]
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    secret: String,
}

/// A fault to inject (POST /admin/v1/faults/{path}); durations travel as humantime text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The process exits at once, like kill -9.
    Crash,
    /// The process kills itself when it reaches this point.
    CrashAt { point: CrashPoint },
    /// The whole process is frozen for this long.
    Pause { duration: Duration },
    /// The holder discards the token (now, or at its next grant within `duration`).
    DropToken { duration: Option<Duration> },
    /// The last token passed on is sent again after `after`.
    ReplayToken { after: Duration },
    /// Ring and 2PC traffic to and from these banks is dropped.
    Partition { banks: Vec<String>, duration: Duration },
    /// Every outgoing ring and 2PC message waits `delay` plus up to `jitter`.
    Delay { delay: Duration, jitter: Duration, duration: Option<Duration> },
    /// This share of outgoing ring and 2PC messages is dropped.
    Loss { percent: u8, duration: Option<Duration> },
    /// This share of outgoing ring and 2PC messages is sent twice.
    Duplicate { percent: u8, duration: Option<Duration> },
    /// The bank's ring clock advances `rate` ms per real ms (fast or slow), then real time again.
    ClockRate { rate: ClockRate, duration: Option<Duration> },
    /// Lifts every fault.
    Heal,
}

impl Fault {
    /// The path under /admin/v1/faults.
    pub fn path(&self) -> &'static str {
        match self {
            Fault::Crash => "crash",
            Fault::CrashAt { .. } => "crash-at",
            Fault::Pause { .. } => "pause",
            Fault::DropToken { .. } => "drop-token",
            Fault::ReplayToken { .. } => "replay-token",
            Fault::Partition { .. } => "partition",
            Fault::Delay { .. } => "delay",
            Fault::Loss { .. } => "loss",
            Fault::Duplicate { .. } => "duplicate",
            Fault::ClockRate { .. } => "clock-rate",
            Fault::Heal => "heal",
        }
    }

    /// The JSON body the admin API expects.
    pub fn body(&self) -> Value {
        let text = |d: &Duration| humantime::format_duration(*d).to_string();
        let with_for = |mut body: Value, duration: &Option<Duration>| {
            if let Some(d) = duration {
                body["for"] = json!(text(d));
            }
            body
        };
        match self {
            Fault::Crash | Fault::Heal => json!({}),
            Fault::CrashAt { point } => json!({"point": point.as_str()}),
            Fault::Pause { duration } => json!({"for": text(duration)}),
            Fault::DropToken { duration } => with_for(json!({}), duration),
            Fault::ReplayToken { after } => json!({"after": text(after)}),
            Fault::Partition { banks, duration } => json!({"banks": banks, "for": text(duration)}),
            Fault::Delay { delay, jitter, duration } => with_for(json!({"delay": text(delay), "jitter": text(jitter)}), duration),
            Fault::Loss { percent, duration } | Fault::Duplicate { percent, duration } => with_for(json!({"percent": percent}), duration),
            Fault::ClockRate { rate, duration } => with_for(json!({"rate": rate.to_string()}), duration),
        }
    }
}

impl AdminClient {
    pub fn new(base_url: &str, admin_secret: &str) -> AdminClient {
        AdminClient::with_http(reqwest::Client::new(), base_url, admin_secret)
    }

    pub fn with_http(http: reqwest::Client, base_url: &str, admin_secret: &str) -> AdminClient {
        AdminClient { http, base: base_url.trim_end_matches('/').to_string(), secret: admin_secret.to_string() }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response =
            self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.secret).send().await.map_err(transport(&self.base))?;
        decode(&self.base, response).await
    }

    /// GET /admin/v1/audit: this bank's ledger audit.
    pub async fn audit(&self) -> Result<AuditReport, ClientError> {
        self.get("/admin/v1/audit").await
    }

    /// GET /admin/v1/consortium: this bank's summary for the consortium audit.
    pub async fn consortium(&self) -> Result<BankSummary, ClientError> {
        self.get("/admin/v1/consortium").await
    }

    /// GET /admin/v1/faults: what is injected and active.
    pub async fn faults(&self) -> Result<FaultsView, ClientError> {
        self.get("/admin/v1/faults").await
    }

    /// GET /admin/v1/stats: the benchmark's counters.
    pub async fn stats(&self) -> Result<Stats, ClientError> {
        self.get("/admin/v1/stats").await
    }

    /// POST /admin/v1/faults/{kind}: injects one fault.
    pub async fn inject(&self, fault: &Fault) -> Result<(), ClientError> {
        let url = format!("{}/admin/v1/faults/{}", self.base, fault.path());
        let response = self.http.post(url).bearer_auth(&self.secret).json(&fault.body()).send().await.map_err(transport(&self.base))?;
        expect_success(&self.base, response).await
    }

    /// POST /admin/v1/faults/heal: lifts every fault.
    pub async fn heal(&self) -> Result<(), ClientError> {
        self.inject(&Fault::Heal).await
    }

    /// GET /admin/v1/ring/members: {version, joint, members: [{bank, node, url, public_key}], next_node}.
    pub async fn ring_members(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/admin/v1/ring/members").await
    }

    /// POST /admin/v1/ring/approvals: this bank's approval (its operator's) of adding `bank`, or
    /// of removing it if `add` is None: {bank, version, signature}, for the ordering member.
    pub async fn approve_member(&self, bank: &str, add: Option<(&str, &str)>) -> Result<serde_json::Value, ClientError> {
        let body = match add {
            Some((url, public_key)) => serde_json::json!({"add": {"bank": bank, "url": url, "public_key": public_key}}),
            None => serde_json::json!({"remove": bank}),
        };
        let request = self.http.post(format!("{}/admin/v1/ring/approvals", self.base)).bearer_auth(&self.secret).json(&body);
        decode(&self.base, request.send().await.map_err(transport(&self.base))?).await
    }

    /// POST /admin/v1/ring/members: asks this bank to order the addition of `bank` (already
    /// started with `--join`) to the ring, with other members' `approvals` (`approve_member`);
    /// answers {version, node, bank}.
    pub async fn add_member(
        &self,
        bank: &str,
        url: &str,
        public_key: &str,
        approvals: &[serde_json::Value],
    ) -> Result<serde_json::Value, ClientError> {
        let body = serde_json::json!({"bank": bank, "url": url, "public_key": public_key, "approvals": approvals});
        let request = self.http.post(format!("{}/admin/v1/ring/members", self.base)).bearer_auth(&self.secret).json(&body);
        decode(&self.base, request.send().await.map_err(transport(&self.base))?).await
    }

    /// DELETE /admin/v1/ring/members/{bank}: asks this bank to order the removal of `bank`, with
    /// other members' `approvals`.
    pub async fn remove_member(&self, bank: &str, approvals: &[serde_json::Value]) -> Result<serde_json::Value, ClientError> {
        let request = self
            .http
            .delete(format!("{}/admin/v1/ring/members/{bank}", self.base))
            .bearer_auth(&self.secret)
            .json(&serde_json::json!({"approvals": approvals}));
        decode(&self.base, request.send().await.map_err(transport(&self.base))?).await
    }

    /// GET /admin/v1/settlements: this bank's position with each member and its newest settlements.
    pub async fn settlements(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/admin/v1/settlements").await
    }

    /// POST /admin/v1/settlements: records at this bank (the creditor) that member `from` paid
    /// it `amount_cents` of reserves; answers the settlement (200 once final, 202 pending).
    pub async fn settle(
        &self,
        from: &str,
        amount_cents: i64,
        reference: &str,
        idempotency_key: Option<&str>,
    ) -> Result<serde_json::Value, ClientError> {
        let body = serde_json::json!({"from": from, "amount_cents": amount_cents, "reference": reference});
        let mut request = self.http.post(format!("{}/admin/v1/settlements", self.base)).bearer_auth(&self.secret).json(&body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        decode(&self.base, request.send().await.map_err(transport(&self.base))?).await
    }

    /// GET /ring/v1/status (public: sent without the secret).
    pub async fn ring_status(&self) -> Result<RingStatusView, ClientError> {
        let response = self.http.get(format!("{}/ring/v1/status", self.base)).send().await.map_err(transport(&self.base))?;
        decode(&self.base, response).await
    }

    /// GET /ring/v1/status, giving up after `timeout` (a paused bank never answers).
    pub async fn ring_status_within(&self, timeout: Duration) -> Result<RingStatusView, ClientError> {
        let request = self.http.get(format!("{}/ring/v1/status", self.base)).timeout(timeout);
        let response = request.send().await.map_err(transport(&self.base))?;
        decode(&self.base, response).await
    }

    /// Whether GET /healthz answers 2xx within `timeout`.
    pub async fn healthy(&self, timeout: Duration) -> bool {
        let request = self.http.get(format!("{}/healthz", self.base)).timeout(timeout);
        request.send().await.is_ok_and(|r| r.status().is_success())
    }
}

/// What `wait_ready` waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready {
    /// GET /healthz answers 2xx.
    Serving,
    /// The bank has been granted the token at least once since it started (it joined the ring).
    InRing,
}

/// Waits until every bank is `ready`, or fails after `limit` naming the first bank that was not.
pub async fn wait_ready(banks: &[AdminClient], ready: Ready, limit: Duration) -> Result<(), ClientError> {
    let deadline = Instant::now() + limit;
    for bank in banks {
        loop {
            let ok = match ready {
                Ready::Serving => bank.healthy(PROBE_TIMEOUT).await,
                Ready::InRing => bank.ring_status().await.is_ok_and(|s| s.status.grants > 0),
            };
            if ok {
                break;
            }
            if Instant::now() > deadline {
                let what = if ready == Ready::Serving { "did not become ready" } else { "did not join the ring" };
                return Err(ClientError::NotReady { url: bank.base.clone(), what, waited: limit });
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }
    Ok(())
}
