//! The Prometheus and OpenMetrics encoders checked by the real validators:
//! `promtool check metrics` (Debian package `prometheus`) and the strict
//! OpenMetrics parser of PyPI's `prometheus-client`.
//!
//! Without the tools these tests fail when `CI=true` and are skipped (with a
//! message) otherwise. `.ci/run` installs both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{MetricOptions, MetricType, MetricsCollector, MetricsConfig};
use test_support::{have_openmetrics_parser, have_promtool, openmetrics_parse, promtool_check};

/// A collector holding every metric type, hostile tag values, a described
/// metric, custom buckets, and a series past its cardinality cap.
fn rich_collector() -> MetricsCollector {
    let c = MetricsCollector::new(MetricsConfig {
        max_tag_sets_per_series: 8,
        ..MetricsConfig::default()
    });
    c.describe_metric(
        "batch.jobs_completed",
        MetricType::Counter,
        MetricOptions {
            description: Some("Jobs that \"completed\"\nacross all batches \\ runs".into()),
            ..Default::default()
        },
    )
    .unwrap();
    for (status, n) in [("completed", 5.0), ("failed", 2.0)] {
        c.record_metric("batch.jobs_completed", n, &[("status", status)], MetricType::Counter)
            .unwrap();
    }
    let hostile = [
        "quote\"d",
        "back\\slash",
        "new\nline",
        "tab\there",
        "ünïcødé ✓",
        "",
        "} 1\n# EOF",
    ];
    for (i, v) in hostile.iter().enumerate() {
        c.record_metric("hostile_values", i as f64, &[("value", *v)], MetricType::Gauge)
            .unwrap();
    }
    c.record_metric("queue.depth", -3.5, &[], MetricType::Gauge).unwrap();
    for i in 0..50 {
        c.record_metric(
            "job_run",
            0.001 * f64::from(i * i),
            &[("queue", "default")],
            MetricType::Timer,
        )
        .unwrap();
    }
    c.timer("job_run", &[("queue", "fast")])
        .unwrap()
        .record(Duration::from_micros(300));
    c.describe_metric(
        "payload_bytes",
        MetricType::Histogram,
        MetricOptions {
            buckets: Some(vec![100.0, 1_000.0, 10_000.0]),
            ..Default::default()
        },
    )
    .unwrap();
    for v in [10.0, 500.0, 5_000.0, 50_000.0] {
        c.record_metric(
            "payload_bytes",
            v,
            &[("le", "user-label"), ("__name__", "x")],
            MetricType::Histogram,
        )
        .unwrap();
    }
    // Ten user ids against a cap of eight tag sets: two fold into overflow.
    for id in 0..10 {
        c.record_metric(
            "logins",
            1.0,
            &[("user_id", id.to_string().as_str())],
            MetricType::Counter,
        )
        .unwrap();
    }
    c
}

#[test]
fn prometheus_text_passes_promtool_without_lint_findings() {
    if !have_promtool() {
        return;
    }
    let e = encode(&rich_collector().aggregate_snapshot(), TextFormat::Prometheus);
    assert!(e.conflicts.is_empty(), "{:?}", e.conflicts);
    assert!(e.text.contains("logins_total{overflow=\"true\"} 2.0\n"), "{}", e.text);
    let (code, out) = promtool_check(&e.text);
    assert_eq!(code, 0, "promtool said:\n{out}\n--- input ---\n{}", e.text);
}

#[test]
fn promtool_catches_a_broken_exposition() {
    // The validator itself must be able to fail, or the test above proves nothing.
    if !have_promtool() {
        return;
    }
    let (code, _) = promtool_check("# TYPE x counter\nx{a=\"1} 1\n");
    assert_ne!(code, 0);
}

#[test]
fn openmetrics_text_passes_the_strict_parser() {
    if !have_openmetrics_parser() {
        return;
    }
    let e = encode(&rich_collector().aggregate_snapshot(), TextFormat::OpenMetrics);
    assert!(e.conflicts.is_empty(), "{:?}", e.conflicts);
    let (code, out) = openmetrics_parse(&e.text);
    assert_eq!(code, 0, "parser said:\n{out}\n--- input ---\n{}", e.text);
    // Values survive the trip, hostile label values included.
    assert!(
        out.contains("batch_jobs_completed counter batch_jobs_completed_total [('status', 'completed')] 5.0"),
        "{out}"
    );
    assert!(
        out.contains("hostile_values gauge hostile_values [('value', '} 1\\n# EOF')] 6.0"),
        "{out}"
    );
    assert!(
        out.contains("logins counter logins_total [('overflow', 'true')] 2.0"),
        "{out}"
    );
    assert!(
        out.contains("job_run_seconds histogram job_run_seconds_count [('queue', 'default')] 50.0"),
        "{out}"
    );
}

#[test]
fn strict_parser_rejects_a_missing_eof() {
    if !have_openmetrics_parser() {
        return;
    }
    let e = encode(&rich_collector().aggregate_snapshot(), TextFormat::OpenMetrics);
    let without_eof = e.text.trim_end_matches("# EOF\n");
    let (code, _) = openmetrics_parse(without_eof);
    assert_ne!(code, 0);
}
