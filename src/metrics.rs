//! Operational metrics, rendered at GET /metrics in the Prometheus text exposition format
//! (version 0.0.4). Counters and histograms live in atomics and are updated where things
//! happen; gauges (epoch, queue depth, transfers by status, in doubt) are read at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Bucket bounds for latencies, in seconds: 1 ms to 10 s.
const LATENCY_BOUNDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Bucket bounds for the writer's batch sizes, in commands.
const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];
/// Most distinct (method, route, status) series kept; beyond it requests count as "other".
const HTTP_SERIES_MAX: usize = 512;

/// A cumulative histogram with fixed bucket bounds.
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum of observations in millionths of the unit (microseconds for latencies).
    sum_millionths: AtomicU64,
}

impl Histogram {
    pub fn latency() -> Histogram {
        Histogram::with_bounds(LATENCY_BOUNDS)
    }

    pub fn batch_size() -> Histogram {
        Histogram::with_bounds(BATCH_BOUNDS)
    }

    fn with_bounds(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_millionths: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let value = if value.is_finite() && value > 0.0 { value } else { 0.0 };
        if let Some(index) = self.bounds.iter().position(|bound| value <= *bound) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_millionths.fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, duration: Duration) {
        self.observe(duration.as_secs_f64());
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Appends the `_bucket`, `_sum` and `_count` series (with `labels`, e.g. `phase="prepare"`).
    fn render_series(&self, out: &mut String, name: &str, labels: &str) {
        let separator = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {count}");
        let sum = self.sum_millionths.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
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
    pub regenerations: AtomicU64,
    http_requests: Mutex<BTreeMap<(String, String, u16), u64>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            token_hold_seconds: Histogram::latency(),
            token_rotation_seconds: Histogram::latency(),
            prepare_seconds: Histogram::latency(),
            decide_seconds: Histogram::latency(),
            deliver_seconds: Histogram::latency(),
            regenerations: AtomicU64::new(0),
            http_requests: Mutex::new(BTreeMap::new()),
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
        let Ok(mut requests) = self.http_requests.lock() else { return };
        let key = (method.to_string(), route, status);
        if requests.len() >= HTTP_SERIES_MAX && !requests.contains_key(&key) {
            *requests.entry((method.to_string(), "other".to_string(), status)).or_insert(0) += 1;
        } else {
            *requests.entry(key).or_insert(0) += 1;
        }
    }

    /// The whole exposition: counters and histograms from `self`, gauges from `gauges`, and
    /// the writer's histograms.
    pub fn render(&self, gauges: &Gauges, writer: &WriterStats) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let bank = escape(&gauges.bank);
        let simple = |out: &mut String, name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        let _ = writeln!(out, "# HELP ringbank_info This bank.\n# TYPE ringbank_info gauge\nringbank_info{{bank=\"{bank}\"}} 1");
        simple(
            &mut out,
            "ringbank_ring_epoch",
            "gauge",
            "Current ring epoch seen by this bank (0: not joined yet).",
            gauges.epoch.to_string(),
        );
        simple(&mut out, "ringbank_ring_token_seq", "gauge", "Sequence number of the newest token seen.", gauges.token_seq.to_string());
        simple(&mut out, "ringbank_ring_holding", "gauge", "1 while this bank holds the token.", u8::from(gauges.holding).to_string());
        simple(
            &mut out,
            "ringbank_ring_grants_total",
            "counter",
            "Times this bank was granted the token (token rotations through it).",
            gauges.grants.to_string(),
        );
        simple(
            &mut out,
            "ringbank_ring_regenerations_total",
            "counter",
            "New epochs (token regenerations) this bank was granted the token in, since start.",
            self.regenerations.load(Ordering::Relaxed).to_string(),
        );
        simple(&mut out, "ringbank_ring_messages_sent_total", "counter", "Ring messages sent.", gauges.messages_sent.to_string());
        simple(
            &mut out,
            "ringbank_ring_messages_received_total",
            "counter",
            "Ring messages received.",
            gauges.messages_received.to_string(),
        );
        histogram(
            &mut out,
            "ringbank_token_hold_seconds",
            "How long this bank held the token, per grant.",
            &[("", &self.token_hold_seconds)],
        );
        histogram(
            &mut out,
            "ringbank_token_rotation_seconds",
            "Time between consecutive grants at this bank.",
            &[("", &self.token_rotation_seconds)],
        );
        histogram(
            &mut out,
            "ringbank_2pc_phase_seconds",
            "Two-phase commit phase latency at the coordinator (per batch; deliver per participant).",
            &[
                ("phase=\"prepare\"", &self.prepare_seconds),
                ("phase=\"decide\"", &self.decide_seconds),
                ("phase=\"deliver\"", &self.deliver_seconds),
            ],
        );
        let _ = writeln!(out, "# HELP ringbank_transfers Transfers this bank originated, by status.\n# TYPE ringbank_transfers gauge");
        for status in ["pending", "committed", "aborted"] {
            let count = gauges.transfers_by_status.iter().find(|(s, _)| s == status).map_or(0, |(_, c)| *c);
            let _ = writeln!(out, "ringbank_transfers{{status=\"{status}\"}} {count}");
        }
        simple(
            &mut out,
            "ringbank_transfers_in_doubt",
            "gauge",
            "Cross-bank transfers prepared here whose outcome is not known yet.",
            gauges.in_doubt.to_string(),
        );
        simple(
            &mut out,
            "ringbank_writer_queue_depth",
            "gauge",
            "Commands waiting for the ledger writer.",
            gauges.writer_queue_depth.to_string(),
        );
        histogram(&mut out, "ringbank_writer_batch_size", "Commands per group commit.", &[("", &writer.batch_size)]);
        histogram(
            &mut out,
            "ringbank_writer_commit_seconds",
            "Duration of one group commit (transaction and fsync).",
            &[("", &writer.commit_seconds)],
        );
        let _ = writeln!(
            out,
            "# HELP ringbank_http_requests_total HTTP requests by method, route and status.\n# TYPE ringbank_http_requests_total counter"
        );
        if let Ok(requests) = self.http_requests.lock() {
            for ((method, route, status), count) in requests.iter() {
                let (method, route) = (escape(method), escape(route));
                let _ = writeln!(out, "ringbank_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}");
            }
        }
        out
    }
}

fn histogram(out: &mut String, name: &str, help: &str, series: &[(&str, &Histogram)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (labels, histogram) in series {
        histogram.render_series(out, name, labels);
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
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
}

impl Default for WriterStats {
    fn default() -> WriterStats {
        WriterStats { batch_size: Histogram::batch_size(), commit_seconds: Histogram::latency(), commits: AtomicU64::new(0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_hide_identifiers() {
        assert_eq!(route_of("/api/v1/accounts/12345-6"), "/api/v1/accounts/:id");
        assert_eq!(route_of("/api/v1/transfers/tr_3f9a0b1c2d3e4f5a6b7c8d9e"), "/api/v1/transfers/:id");
        assert_eq!(route_of("/healthz"), "/healthz");
        assert_eq!(route_of("/"), "/");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let histogram = Histogram::latency();
        histogram.observe(0.002);
        histogram.observe(0.2);
        histogram.observe(100.0);
        let mut out = String::new();
        histogram.render_series(&mut out, "x", "");
        assert!(out.contains("x_bucket{le=\"0.0025\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.25\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
    }
}
