//! Operational metrics, rendered at GET /metrics in the Prometheus text exposition format
//! (version 0.0.4) by the `prometheus-client` crate. Counters and histograms are updated where
//! things happen; gauges (epoch, queue depth, transfers by status, in doubt) are read at scrape
//! time and encoded, with the rest, from a registry built for each scrape.

use std::fmt::Debug;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::TypedMetric;
use prometheus_client::registry::Registry;

use std::sync::atomic::AtomicU64;

/// The `Content-Type` of what `Metrics::render` returns.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Bucket bounds for latencies, in seconds: 1 ms to 10 s.
const LATENCY_BOUNDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Bucket bounds for the writer's batch sizes, in commands.
const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];
/// Most distinct (method, route, status) series kept; beyond it requests count as "other".
const HTTP_SERIES_MAX: usize = 512;

/// A cumulative histogram with fixed bucket bounds (and the implicit `+Inf`).
#[derive(Clone, Debug)]
pub struct Histogram(histogram::Histogram);

impl Histogram {
    pub fn latency() -> Histogram {
        Histogram(histogram::Histogram::new(LATENCY_BOUNDS.iter().copied()))
    }

    pub fn batch_size() -> Histogram {
        Histogram(histogram::Histogram::new(BATCH_BOUNDS.iter().copied()))
    }

    /// Counts `value`; a negative, infinite or NaN one counts as 0, so that the sum stays a number.
    pub fn observe(&self, value: f64) {
        self.0.observe(if value.is_finite() && value > 0.0 { value } else { 0.0 });
    }

    pub fn observe_duration(&self, duration: Duration) {
        self.observe(duration.as_secs_f64());
    }
}

/// The labels of `ringbank_http_requests_total`, in this order.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

/// The bank's counters and histograms; one per bank, shared through `AppState`.
pub struct Metrics {
    /// How long this bank held the token, per grant.
    pub token_hold_seconds: Histogram,
    /// Time between two consecutive grants at this bank: one trip of the token around the ring.
    pub token_rotation_seconds: Histogram,
    /// Two-phase commit, at the coordinator: collecting the votes of a batch.
    pub prepare_seconds: Histogram,
    /// Logging a batch's decisions durably.
    pub decide_seconds: Histogram,
    /// Delivering outcomes to one participant.
    pub deliver_seconds: Histogram,
    /// New epochs (token regenerations) seen in grants to this bank, counted by `observe_ring`.
    pub regenerations: Counter,
    /// How many pending transfers the coordinator's next batch asks for (it follows how fast
    /// the last batches were answered).
    pub cross_batch_size: AtomicU64,
    http_requests: Family<HttpLabels, Counter>,
    /// How many series `http_requests` has; held while one is added, so that the cap holds.
    http_series: Mutex<usize>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            token_hold_seconds: Histogram::latency(),
            token_rotation_seconds: Histogram::latency(),
            prepare_seconds: Histogram::latency(),
            decide_seconds: Histogram::latency(),
            deliver_seconds: Histogram::latency(),
            regenerations: Counter::default(),
            cross_batch_size: AtomicU64::new(0),
            http_requests: Family::default(),
            http_series: Mutex::new(0),
        }
    }
}

/// What is read at scrape time rather than counted.
pub struct Gauges {
    pub bank: String,
    pub epoch: u64,
    pub token_seq: u64,
    pub holding: bool,
    pub grants: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub writer_queue_depth: usize,
    /// (status, count) of the transfers this bank originated.
    pub transfers_by_status: Vec<(String, i64)>,
    pub in_doubt: i64,
}

impl Metrics {
    /// Counts one HTTP request; `path` is reduced to its route (ids replaced by `:id`).
    pub fn record_http(&self, method: &str, path: &str, status: u16) {
        let route = if status == 404 { "unmatched".to_string() } else { route_of(path) };
        let mut labels = HttpLabels { method: method.to_string(), route, status };
        if let Some(requests) = self.http_requests.get(&labels) {
            requests.inc();
            return;
        }
        // Series are added under this lock only, so that the count is exact.
        let mut series = self.http_series.lock().unwrap_or_else(PoisonError::into_inner);
        if self.http_requests.get(&labels).is_none() {
            if *series >= HTTP_SERIES_MAX {
                labels.route = "other".to_string();
            }
            if self.http_requests.get(&labels).is_none() {
                *series += 1;
            }
        }
        self.http_requests.get_or_create(&labels).inc();
    }

    /// The whole exposition: counters and histograms from `self`, gauges from `gauges`, and
    /// the writer's histograms.
    pub fn render(&self, gauges: &Gauges, writer: &WriterStats) -> String {
        // The crate adds the final full stop of each help text, and `_total` to counters' names.
        let mut registry = Registry::default();
        registry.register("ringbank", "This bank", Info::new([("bank", gauges.bank.clone())]));
        registry.register("ringbank_ring_epoch", "Current ring epoch seen by this bank (0: not joined yet)", ConstGauge::new(gauges.epoch));
        registry.register("ringbank_ring_token_seq", "Sequence number of the newest token seen", ConstGauge::new(gauges.token_seq));
        registry.register("ringbank_ring_holding", "1 while this bank holds the token", ConstGauge::new(u64::from(gauges.holding)));
        registry.register(
            "ringbank_ring_grants",
            "Times this bank was granted the token (token rotations through it)",
            ConstCounter::new(gauges.grants),
        );
        registry.register(
            "ringbank_ring_regenerations",
            "New epochs (token regenerations) this bank was granted the token in, since start",
            self.regenerations.clone(),
        );
        registry.register("ringbank_ring_messages_sent", "Ring messages sent", ConstCounter::new(gauges.messages_sent));
        registry.register("ringbank_ring_messages_received", "Ring messages received", ConstCounter::new(gauges.messages_received));
        registry.register("ringbank_token_hold_seconds", "How long this bank held the token, per grant", self.token_hold_seconds.0.clone());
        registry.register(
            "ringbank_token_rotation_seconds",
            "Time between consecutive grants at this bank",
            self.token_rotation_seconds.0.clone(),
        );
        registry.register(
            "ringbank_transfers_in_doubt",
            "Cross-bank transfers prepared here whose outcome is not known yet",
            ConstGauge::new(gauges.in_doubt),
        );
        registry.register(
            "ringbank_writer_queue_depth",
            "Commands waiting for the ledger writer",
            ConstGauge::new(gauges.writer_queue_depth),
        );
        registry.register("ringbank_writer_batch_size", "Commands per group commit", writer.batch_size.0.clone());
        registry.register(
            "ringbank_coordinator_batch_size",
            "Pending transfers the next cross-bank batch asks for (follows how fast the last batches were answered)",
            ConstGauge::new(self.cross_batch_size.load(std::sync::atomic::Ordering::Relaxed)),
        );
        registry.register(
            "ringbank_writer_commit_seconds",
            "Duration of one group commit (transaction and fsync)",
            writer.commit_seconds.0.clone(),
        );
        registry.register(
            "ringbank_writer_batch_retries",
            "Batches that failed before their commit and ran again command by command",
            ConstCounter::new(writer.batch_retries.load(std::sync::atomic::Ordering::Relaxed)),
        );
        registry.register("ringbank_http_requests", "HTTP requests by method, route and status", self.http_requests.clone());
        // Families with a fixed set of label values, in a fixed order (a `Family` has hash order).
        registry.register_collector(Box::new(ByLabel {
            name: "ringbank_2pc_phase_seconds",
            help: "Two-phase commit phase latency at the coordinator (per batch; deliver per participant).",
            label: "phase",
            series: vec![
                ("prepare", self.prepare_seconds.0.clone()),
                ("decide", self.decide_seconds.0.clone()),
                ("deliver", self.deliver_seconds.0.clone()),
            ],
        }));
        let transfers = ["pending", "committed", "aborted"].map(|status| {
            let count = gauges.transfers_by_status.iter().find(|(s, _)| s == status).map_or(0, |(_, c)| *c);
            (status, ConstGauge::new(count))
        });
        registry.register_collector(Box::new(ByLabel {
            name: "ringbank_transfers",
            help: "Transfers this bank originated, by status.",
            label: "status",
            series: transfers.into(),
        }));
        let mut out = String::with_capacity(8 * 1024);
        prometheus_text::encode(&mut out, &registry).expect("writing to a String does not fail");
        out
    }
}

/// One metric whose series differ by the value of one label, encoded in the order given.
#[derive(Debug)]
struct ByLabel<M> {
    name: &'static str,
    /// With its full stop: collectors' help texts are written as they are.
    help: &'static str,
    label: &'static str,
    series: Vec<(&'static str, M)>,
}

impl<M: EncodeMetric + TypedMetric + Debug + Send + Sync + 'static> Collector for ByLabel<M> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(self.name, self.help, None, M::TYPE)?;
        for (value, series) in &self.series {
            series.encode(metric.encode_family(&[(self.label, *value)])?)?;
        }
        Ok(())
    }
}

/// The route of a request path: segments that carry an identifier (digits, or long) become
/// `:id`, so that the series stay few. `/api/v1/accounts/12345-6` -> `/api/v1/accounts/:id`.
pub fn route_of(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|segment| {
            let version = segment.len() <= 3 && segment.starts_with('v') && segment[1..].bytes().all(|b| b.is_ascii_digit());
            let identifier = segment.len() > 24 || segment.bytes().any(|b| b.is_ascii_digit());
            if identifier && !version {
                ":id"
            } else {
                segment
            }
        })
        .collect();
    format!("/{}", segments.join("/"))
}

/// What the writer measures, for /metrics and the benchmark.
pub struct WriterStats {
    pub batch_size: Histogram,
    pub commit_seconds: Histogram,
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Batches whose fast path failed before the commit and that ran again command by command
    /// (0 unless the database refused a statement or the account cache was stale).
    pub batch_retries: AtomicU64,
}

impl Default for WriterStats {
    fn default() -> WriterStats {
        WriterStats {
            batch_size: Histogram::batch_size(),
            commit_seconds: Histogram::latency(),
            commits: AtomicU64::new(0),
            batch_retries: AtomicU64::new(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauges() -> Gauges {
        Gauges {
            bank: "A\"B".to_string(),
            epoch: 3,
            token_seq: 41,
            holding: true,
            grants: 7,
            messages_sent: 11,
            messages_received: 13,
            writer_queue_depth: 2,
            transfers_by_status: vec![("committed".to_string(), 5), ("aborted".to_string(), 1)],
            in_doubt: 0,
        }
    }

    /// The value of the series `name` (exact, labels included).
    fn sample(exposition: &str, name: &str) -> Option<f64> {
        exposition.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn routes_hide_identifiers() {
        assert_eq!(route_of("/api/v1/accounts/12345-6"), "/api/v1/accounts/:id");
        assert_eq!(route_of("/api/v1/transfers/tr_3f9a0b1c2d3e4f5a6b7c8d9e"), "/api/v1/transfers/:id");
        assert_eq!(route_of("/healthz"), "/healthz");
        assert_eq!(route_of("/"), "/");
    }

    #[test]
    fn the_exposition_keeps_the_documented_names_and_types() {
        let metrics = Metrics::default();
        metrics.regenerations.inc();
        metrics.cross_batch_size.store(128, std::sync::atomic::Ordering::Relaxed);
        metrics.record_http("POST", "/api/v1/deposits", 201);
        let out = metrics.render(&gauges(), &WriterStats::default());
        for (family, kind) in [
            ("ringbank_info", "gauge"),
            ("ringbank_ring_epoch", "gauge"),
            ("ringbank_ring_token_seq", "gauge"),
            ("ringbank_ring_holding", "gauge"),
            ("ringbank_ring_grants_total", "counter"),
            ("ringbank_ring_regenerations_total", "counter"),
            ("ringbank_ring_messages_sent_total", "counter"),
            ("ringbank_ring_messages_received_total", "counter"),
            ("ringbank_token_hold_seconds", "histogram"),
            ("ringbank_token_rotation_seconds", "histogram"),
            ("ringbank_2pc_phase_seconds", "histogram"),
            ("ringbank_transfers", "gauge"),
            ("ringbank_transfers_in_doubt", "gauge"),
            ("ringbank_writer_queue_depth", "gauge"),
            ("ringbank_writer_batch_size", "histogram"),
            ("ringbank_writer_commit_seconds", "histogram"),
            ("ringbank_writer_batch_retries_total", "counter"),
            ("ringbank_coordinator_batch_size", "gauge"),
            ("ringbank_http_requests_total", "counter"),
        ] {
            assert!(out.contains(&format!("# HELP {family} ")), "{family}:\n{out}");
            assert!(out.contains(&format!("# TYPE {family} {kind}\n")), "{family}:\n{out}");
        }
        assert_eq!(out.matches("# TYPE ").count(), 19, "{out}");
        assert!(!out.contains("_total_total") && !out.contains("..\n") && !out.contains("# EOF"), "{out}");
        assert!(out.contains("ringbank_info{bank=\"A\\\"B\"} 1\n"), "{out}");
        assert_eq!(sample(&out, "ringbank_ring_epoch"), Some(3.0));
        assert_eq!(sample(&out, "ringbank_ring_holding"), Some(1.0));
        assert_eq!(sample(&out, "ringbank_coordinator_batch_size"), Some(128.0));
        assert_eq!(sample(&out, "ringbank_ring_grants_total"), Some(7.0));
        assert_eq!(sample(&out, "ringbank_ring_regenerations_total"), Some(1.0));
        assert_eq!(sample(&out, "ringbank_ring_messages_received_total"), Some(13.0));
        assert_eq!(sample(&out, "ringbank_writer_queue_depth"), Some(2.0));
        assert_eq!(sample(&out, "ringbank_transfers{status=\"pending\"}"), Some(0.0));
        assert_eq!(sample(&out, "ringbank_transfers{status=\"committed\"}"), Some(5.0));
        assert_eq!(sample(&out, "ringbank_transfers{status=\"aborted\"}"), Some(1.0));
        assert_eq!(sample(&out, "ringbank_http_requests_total{method=\"POST\",route=\"/api/v1/deposits\",status=\"201\"}"), Some(1.0));
        let phases: Vec<_> = out.lines().filter(|l| l.starts_with("ringbank_2pc_phase_seconds_count")).collect();
        assert_eq!(
            phases,
            [
                "ringbank_2pc_phase_seconds_count{phase=\"prepare\"} 0",
                "ringbank_2pc_phase_seconds_count{phase=\"decide\"} 0",
                "ringbank_2pc_phase_seconds_count{phase=\"deliver\"} 0"
            ]
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::default();
        metrics.decide_seconds.observe(0.002);
        metrics.decide_seconds.observe_duration(Duration::from_millis(200));
        metrics.decide_seconds.observe(100.0);
        metrics.decide_seconds.observe(f64::NAN);
        let writer = WriterStats::default();
        writer.batch_size.observe(3.0);
        let out = metrics.render(&gauges(), &writer);
        let decide = |series: &str| sample(&out, &format!("ringbank_2pc_phase_seconds_{series}"));
        assert_eq!(decide("bucket{phase=\"decide\",le=\"0.001\"}"), Some(1.0), "{out}");
        assert_eq!(decide("bucket{phase=\"decide\",le=\"0.0025\"}"), Some(2.0), "{out}");
        assert_eq!(decide("bucket{phase=\"decide\",le=\"0.25\"}"), Some(3.0), "{out}");
        assert_eq!(decide("bucket{phase=\"decide\",le=\"10\"}"), Some(3.0), "{out}");
        assert_eq!(decide("bucket{phase=\"decide\",le=\"+Inf\"}"), Some(4.0), "{out}");
        assert_eq!(decide("count{phase=\"decide\"}"), Some(4.0), "{out}");
        assert!((decide("sum{phase=\"decide\"}").unwrap() - 100.202).abs() < 1e-9, "{out}");
        assert_eq!(decide("count{phase=\"prepare\"}"), Some(0.0), "{out}");
        assert_eq!(sample(&out, "ringbank_writer_batch_size_bucket{le=\"2\"}"), Some(0.0), "{out}");
        assert_eq!(sample(&out, "ringbank_writer_batch_size_bucket{le=\"4\"}"), Some(1.0), "{out}");
        assert_eq!(sample(&out, "ringbank_writer_batch_size_count"), Some(1.0), "{out}");
    }

    #[test]
    fn http_series_are_capped_and_the_rest_count_as_other() {
        let metrics = Metrics::default();
        // Paths without digits, so that each is a route of its own.
        let path = |i: usize| format!("/r{}{}", char::from(b'a' + (i / 26 % 26) as u8), char::from(b'a' + (i % 26) as u8));
        for i in 0..HTTP_SERIES_MAX + 10 {
            metrics.record_http("GET", &path(i), 200);
        }
        metrics.record_http("GET", &path(0), 200);
        metrics.record_http("GET", "/nope", 404);
        assert_eq!(*metrics.http_series.lock().unwrap(), HTTP_SERIES_MAX + 2);
        let out = metrics.render(&gauges(), &WriterStats::default());
        assert_eq!(out.lines().filter(|line| line.starts_with("ringbank_http_requests_total{")).count(), HTTP_SERIES_MAX + 2);
        let requests = |route: &str, status: u16| {
            sample(&out, &format!("ringbank_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"{status}\"}}"))
        };
        assert_eq!(requests("/raa", 200), Some(2.0));
        assert_eq!(requests(&path(HTTP_SERIES_MAX - 1), 200), Some(1.0));
        assert_eq!(requests(&path(HTTP_SERIES_MAX), 200), None);
        assert_eq!(requests("other", 200), Some(10.0));
        assert_eq!(requests("other", 404), Some(1.0));
    }
}
