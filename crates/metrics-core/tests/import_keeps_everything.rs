//! `import_json` brings back everything an export saved: every series and
//! tag set (zero-valued counters and aggregate-only gauges included), the
//! descriptions and the histogram buckets, so that re-exporting a stored
//! run in any format shows what the run showed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{MetricOptions, MetricType, MetricsCollector, SamplePolicy};

fn described(c: &MetricsCollector, name: &str, ty: MetricType, help: &str, policy: SamplePolicy) {
    c.describe_metric(
        name,
        ty,
        MetricOptions {
            description: Some(help.to_owned()),
            buckets: (ty == MetricType::Histogram).then(|| vec![0.5, 2.0, 8.0]),
            sample_policy: Some(policy),
            unit: None,
        },
    )
    .unwrap();
}

fn original() -> MetricsCollector {
    let c = MetricsCollector::default();
    described(
        &c,
        "job_errors",
        MetricType::Counter,
        "Failed job attempts",
        SamplePolicy::EveryEvent,
    );
    described(
        &c,
        "jobs_in_flight",
        MetricType::Gauge,
        "Jobs running now",
        SamplePolicy::AggregateOnly,
    );
    described(
        &c,
        "job_status",
        MetricType::Counter,
        "Status changes",
        SamplePolicy::EveryEvent,
    );
    described(
        &c,
        "job_seconds",
        MetricType::Histogram,
        "Run time",
        SamplePolicy::EveryEvent,
    );
    // Zero-valued: resolved, never incremented.
    drop(c.counter("job_errors", &[("error_type", "timeout")]).unwrap());
    drop(c.counter("job_status", &[("status", "failed")]).unwrap());
    c.counter("job_status", &[("status", "completed")])
        .unwrap()
        .increment(3);
    // Aggregate only: no samples, a current value.
    c.gauge("jobs_in_flight", &[("queue", "a")]).unwrap().set(2.0);
    drop(c.gauge("jobs_in_flight", &[("queue", "b")]).unwrap());
    c.histogram("job_seconds", &[("q", "x")]).unwrap().record(1.0);
    c
}

fn aggregates(c: &MetricsCollector) -> BTreeSet<String> {
    let json: serde_json::Value = serde_json::from_str(&c.export_to_json()).unwrap();
    let mut out = BTreeSet::new();
    for (name, s) in json.as_object().unwrap() {
        out.insert(format!("{name} description={}", s["description"]));
        for a in s["aggregates"].as_array().unwrap() {
            out.insert(format!("{name} {a}"));
        }
    }
    out
}

#[test]
fn a_reimported_export_has_every_series_tag_set_description_and_bucket() {
    let before = original();
    let restored = MetricsCollector::default();
    restored.import_json(&before.export_to_json()).unwrap();
    assert_eq!(aggregates(&restored), aggregates(&before));
    for format in [TextFormat::Prometheus, TextFormat::OpenMetrics] {
        let a = encode(&before.aggregate_snapshot(), format).text;
        let b = encode(&restored.aggregate_snapshot(), format).text;
        assert_eq!(b, a, "{format:?}");
        assert!(b.contains("# HELP jobs_in_flight Jobs running now"), "{b}");
        assert!(b.contains("job_errors_total{error_type=\"timeout\"} 0"), "{b}");
    }
    #[cfg(feature = "csv")]
    {
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let files = |c: &MetricsCollector, d: &std::path::Path| -> BTreeSet<String> {
            c.export_to_csv(d)
                .unwrap()
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(files(&restored, d2.path()), files(&before, d1.path()));
    }
}
