//! Prometheus metrics: counters and histograms recorded where the I/O happens. (`/metrics`
//! adds the queue's gauges, read from the database when scraped: `crate::http::health`.)

use crate::domain::{Decision, ProfileStatus, Source};
use metrics::Counter;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Seconds buckets for request, delivery and Twilio call latencies.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Callbacks per SQLite group commit.
const GROUP_SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process-wide recorder (installed once; several apps in one test process share it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("static buckets are valid")
            .set_buckets_for_metric(
                Matcher::Full("trusthub_sqlite_group_commit_callbacks".into()),
                GROUP_SIZES,
            )
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may exist (a test harness): ours still renders what it records.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// How many callbacks one SQLite transaction committed.
pub fn group_commit(callbacks: usize) {
    metrics::histogram!("trusthub_sqlite_group_commit_callbacks").record(callbacks as f64);
}

// The counters every callback touches are registered once and kept: `counter!` looks its
// key up in the registry (hashing each label, allocating owned ones) on every call.

pub fn callback(outcome: &'static str) {
    static STORED: OnceLock<Counter> = OnceLock::new();
    static DUPLICATE: OnceLock<Counter> = OnceLock::new();
    let register = || metrics::counter!("trusthub_callbacks_total", "outcome" => outcome);
    match outcome {
        "stored" => STORED.get_or_init(register).increment(1),
        "duplicate" => DUPLICATE.get_or_init(register).increment(1),
        _ => register().increment(1),
    }
}

pub fn transition(to: &ProfileStatus, source: Source, decision: Decision) {
    const SOURCES: usize = 3;
    static KNOWN: [[[OnceLock<Counter>; 2]; SOURCES]; ProfileStatus::KNOWN.len()] =
        [const { [const { [const { OnceLock::new() }; 2] }; SOURCES] }; ProfileStatus::KNOWN.len()];
    let applied = match decision {
        Decision::Advance => true,
        Decision::Late => false,
        Decision::Unchanged => return,
    };
    let register = || {
        let applied = if applied { "true" } else { "false" };
        metrics::counter!("trusthub_transitions_total", "to" => to.as_wire().to_owned(),
                          "source" => source.as_str(), "applied" => applied)
    };
    let source_index = match source {
        Source::Callback => 0,
        Source::Submission => 1,
        Source::Sync => 2,
    };
    match ProfileStatus::KNOWN.iter().position(|known| known == to) {
        Some(status) => KNOWN[status][source_index][usize::from(applied)]
            .get_or_init(register)
            .increment(1),
        None => register().increment(1),
    }
}

pub fn job_run(kind: &str, outcome: &'static str) {
    metrics::counter!("trusthub_job_runs_total", "kind" => kind.to_owned(), "outcome" => outcome)
        .increment(1);
}

pub fn delivery_attempt(channel: &str, status: &str, latency_ms: i64) {
    metrics::counter!("trusthub_delivery_attempts_total", "channel" => channel.to_owned(), "outcome" => status.to_owned())
        .increment(1);
    metrics::histogram!("trusthub_delivery_duration_seconds", "channel" => channel.to_owned())
        .record(latency_ms as f64 / 1000.0);
}

pub fn twilio_call(method: &str, status: Option<u16>, seconds: f64) {
    let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
    metrics::counter!("trusthub_twilio_requests_total", "method" => method.to_owned(), "status" => status)
        .increment(1);
    metrics::histogram!("trusthub_twilio_request_duration_seconds", "method" => method.to_owned())
        .record(seconds);
}
