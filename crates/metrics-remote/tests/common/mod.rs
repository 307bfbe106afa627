//! Shared by the integration tests: a collector with known history, and
//! reading back what a receiver was sent.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use metrics_core::{MetricOptions, MetricType, MetricsCollector};
use metrics_remote::proto::prw::WriteRequest;
use test_support::ReceivedRequest;
use time::OffsetDateTime;

/// Seconds since the epoch, whole, `back` seconds ago.
pub fn whole_seconds_ago(back: i64) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    OffsetDateTime::from_unix_timestamp(now - back).unwrap()
}

/// A collector with a counter (two tag sets), a gauge, a histogram with
/// its own buckets and a timer, each sample one whole second apart,
/// starting `n + 5` seconds ago. Returns the collector and the first
/// sample's time.
pub fn collector_with_history(n: i64) -> (MetricsCollector, OffsetDateTime) {
    let c = MetricsCollector::new(metrics_core::MetricsConfig {
        retention: std::time::Duration::from_secs(86_400),
        ..Default::default()
    });
    c.describe_metric(
        "test.latency",
        MetricType::Histogram,
        MetricOptions {
            buckets: Some(vec![0.5, 1.0, 2.5]),
            description: Some("Latency of a test step".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let start = whole_seconds_ago(n + 5);
    for i in 0..n {
        let at = start + time::Duration::seconds(i);
        let q = if i % 3 == 0 { "slow" } else { "fast" };
        c.record_metric_at(
            "test.jobs",
            (i % 4 + 1) as f64,
            &[("queue", q)],
            MetricType::Counter,
            at,
        )
        .unwrap();
        c.record_metric_at(
            "test.in_flight",
            (i * 7 % 5) as f64,
            &[("host", "a")],
            MetricType::Gauge,
            at,
        )
        .unwrap();
        c.record_metric_at(
            "test.latency",
            (i % 6) as f64 * 0.6,
            &[("step", "build")],
            MetricType::Histogram,
            at,
        )
        .unwrap();
        c.record_metric_at("test.run", 0.25 * (i % 3 + 1) as f64, &[], MetricType::Timer, at)
            .unwrap();
    }
    (c, start)
}

/// What the collector's JSON export says the samples of `name` with tag
/// `key=value` (or all, when `tag` is `None`) are: (ms, value), oldest first.
pub fn exported_samples(c: &MetricsCollector, name: &str, tag: Option<(&str, &str)>) -> Vec<(i64, f64)> {
    let json: serde_json::Value = serde_json::from_str(&c.export_to_json()).unwrap();
    let values = json[name]["values"].as_array().cloned().unwrap_or_default();
    values
        .iter()
        .filter(|v| tag.is_none_or(|(k, val)| v["tags"][k] == val))
        .map(|v| {
            let t = OffsetDateTime::parse(
                v["timestamp"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap();
            (
                (t.unix_timestamp_nanos() / 1_000_000) as i64,
                v["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Running totals of a counter's exported increments.
pub fn running_totals(samples: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut total = 0.0;
    samples
        .iter()
        .map(|&(t, v)| {
            total += v;
            (t, total)
        })
        .collect()
}

/// The series of accepted (2xx) remote-write requests: series key → every
/// (ms, value) received, in arrival order.
pub fn received_series(requests: &[ReceivedRequest]) -> HashMap<String, Vec<(i64, f64)>> {
    let mut out: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
    for r in requests.iter().filter(|r| r.status / 100 == 2) {
        let req: WriteRequest = metrics_remote::decode_write_request(&r.body).unwrap();
        for ts in req.timeseries {
            let key = key_of(&ts.labels);
            out.entry(key)
                .or_default()
                .extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
        }
    }
    out
}

/// `name{a="x",b="y"}` from labels (sorted as sent).
pub fn key_of(labels: &[metrics_remote::proto::prw::Label]) -> String {
    let name = labels
        .iter()
        .find(|l| l.name == "__name__")
        .map(|l| l.value.clone())
        .unwrap_or_default();
    let rest: Vec<String> = labels
        .iter()
        .filter(|l| l.name != "__name__")
        .map(|l| format!("{}=\"{}\"", l.name, l.value))
        .collect();
    if rest.is_empty() {
        name
    } else {
        format!("{name}{{{}}}", rest.join(","))
    }
}

/// A collector with one gauge `resume.gauge` whose sample `i` (value `i`)
/// is at `start + i` seconds, for `i` in `0..n`.
pub fn gauge_history(start: i64, n: i64) -> MetricsCollector {
    let c = MetricsCollector::new(metrics_core::MetricsConfig {
        retention: std::time::Duration::from_secs(86_400),
        ..Default::default()
    });
    for i in 0..n {
        let at = OffsetDateTime::from_unix_timestamp(start + i).unwrap();
        c.record_metric_at("resume.gauge", i as f64, &[], MetricType::Gauge, at)
            .unwrap();
    }
    c
}
