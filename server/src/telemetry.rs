//! Metrics (design §12): the names Chartgate records, in one place, through the `metrics` facade;
//! `metrics-exporter-prometheus` renders them for `GET /metrics` (see [`crate::http::metrics`]).
//!
//! Layer: a leaf. Features call the functions here when something happened; until
//! [`install`] has run (the server does at start), they record nothing, so the command line and
//! unit tests pay nothing for them. The log output (text escaped, or JSON) is set up in [`logs`].
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `chartgate_http_requests_total` | counter | `method` (`GET` … `OPTIONS`, else `other`), `route` (the template, e.g. `/api/v1/branches/{branch}`, else `unmatched`), `status` |
//! | `chartgate_http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `chartgate_scans_total` | counter | `mode` (`full`, `incremental`), `result` (`ok`, `error`) |
//! | `chartgate_scan_duration_seconds` | histogram | `mode` |
//! | `chartgate_scan_rows_read_total`, `chartgate_scan_rows_canonicalised_total` | counter | `side` (`staging`, `production`) |
//! | `chartgate_decisions_total` | counter | `status`, `actor_kind` (the decider's role) |
//! | `chartgate_sync_jobs_total` | counter | `status` (`succeeded`, `partial`, `failed`) |
//! | `chartgate_sync_items_total` | counter | `outcome` |
//! | `chartgate_sync_queue_depth` | gauge | — (queued jobs, read at each scrape) |
//! | `chartgate_notifications_total` | counter | `kind`, `result` (`delivered`, `retried`, `gave_up`) |
//! | `chartgate_db_write_lock_wait_seconds`, `chartgate_db_write_lock_held_seconds` | histogram | — (SQLite's one writer: queueing for it, holding it) |

pub mod logs;

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Buckets for request and scan durations, in seconds: 1 ms to 1 min.
const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0];

/// Installs the Prometheus recorder for this process (once; later calls return the same handle).
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only what reaches this one");
        }
        describe();
        handle
    })
}

/// The HELP text and unit of every metric (what `# HELP` says; `promtool check metrics` wants one
/// for each). A metric recorded here must be described here.
fn describe() {
    describe_counter!(
        "chartgate_http_requests_total",
        Unit::Count,
        "HTTP requests answered, by method, route template and status."
    );
    describe_histogram!(
        "chartgate_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by method, route template and status."
    );
    describe_counter!(
        "chartgate_scans_total",
        Unit::Count,
        "Branch scans, by mode (full, incremental) and result (ok, error)."
    );
    describe_histogram!("chartgate_scan_duration_seconds", Unit::Seconds, "Time a branch scan took, by mode.");
    describe_counter!(
        "chartgate_scan_rows_read_total",
        Unit::Count,
        "Chart rows read from the stores by scans, by side."
    );
    describe_counter!(
        "chartgate_scan_rows_canonicalised_total",
        Unit::Count,
        "Chart rows scans canonicalised (new or changed content), by side."
    );
    describe_counter!(
        "chartgate_decisions_total",
        Unit::Count,
        "Review decisions recorded, by status and the decider's role."
    );
    describe_counter!(
        "chartgate_sync_jobs_total",
        Unit::Count,
        "Sync jobs finished, by status (succeeded, partial, failed)."
    );
    describe_counter!("chartgate_sync_items_total", Unit::Count, "Items of finished sync jobs, by outcome.");
    describe_gauge!(
        "chartgate_sync_queue_depth",
        Unit::Count,
        "Sync jobs queued and not started, read at each scrape."
    );
    describe_counter!(
        "chartgate_notifications_total",
        Unit::Count,
        "Notifications sent (commit statuses, comments, webhooks), by kind and result (delivered, retried, gave_up)."
    );
    describe_histogram!(
        "chartgate_db_write_lock_wait_seconds",
        Unit::Seconds,
        "Time a write waited for SQLite's one writer."
    );
    describe_histogram!(
        "chartgate_db_write_lock_held_seconds",
        Unit::Seconds,
        "Time a write held SQLite's one writer."
    );
}

/// The Prometheus text of every metric so far, or `None` when metrics were not installed.
pub fn render() -> Option<String> {
    let handle = HANDLE.get()?;
    handle.run_upkeep();
    Some(handle.render())
}

pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let labels = [("method", method.to_string()), ("route", route.to_string()), ("status", status.to_string())];
    counter!("chartgate_http_requests_total", &labels).increment(1);
    histogram!("chartgate_http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

/// What one side of a scan did.
pub struct ScanSide {
    pub side: &'static str,
    pub read: usize,
    pub canonicalised: usize,
}

pub fn scan(full: bool, ok: bool, elapsed: Duration, sides: &[ScanSide]) {
    let mode = if full { "full" } else { "incremental" };
    let result = if ok { "ok" } else { "error" };
    counter!("chartgate_scans_total", "mode" => mode, "result" => result).increment(1);
    histogram!("chartgate_scan_duration_seconds", "mode" => mode).record(elapsed.as_secs_f64());
    for s in sides {
        counter!("chartgate_scan_rows_read_total", "side" => s.side).increment(s.read as u64);
        counter!("chartgate_scan_rows_canonicalised_total", "side" => s.side).increment(s.canonicalised as u64);
    }
}

pub fn write_lock_wait(waited: Duration) {
    histogram!("chartgate_db_write_lock_wait_seconds").record(waited.as_secs_f64());
}

pub fn write_lock_held(held: Duration) {
    histogram!("chartgate_db_write_lock_held_seconds").record(held.as_secs_f64());
}

pub fn decisions(status: &str, actor_kind: &str, n: usize) {
    counter!("chartgate_decisions_total", "status" => status.to_string(), "actor_kind" => actor_kind.to_string())
        .increment(n as u64);
}

pub fn sync_job(status: &str, items_by_outcome: &[(String, u64)]) {
    counter!("chartgate_sync_jobs_total", "status" => status.to_string()).increment(1);
    for (outcome, n) in items_by_outcome {
        counter!("chartgate_sync_items_total", "outcome" => outcome.clone()).increment(*n);
    }
}

pub fn queue_depth(queued: i64) {
    gauge!("chartgate_sync_queue_depth").set(queued as f64);
}

pub fn notification(kind: &'static str, result: &'static str) {
    counter!("chartgate_notifications_total", "kind" => kind, "result" => result).increment(1);
}
