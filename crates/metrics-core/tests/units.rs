//! Units on series (issue 17): `describe_metric` takes one, the snapshot and
//! the JSON export keep it, and OpenMetrics text writes `# UNIT` only where
//! the family name ends with `_<unit>`, checked by the strict OpenMetrics
//! parser and promtool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{MetricOptions, MetricType, MetricsCollector, MetricsError};
use test_support::{have_openmetrics_parser, have_promtool, openmetrics_parse, promtool_check};

fn unit(u: &str) -> MetricOptions {
    MetricOptions {
        unit: Some(u.into()),
        ..Default::default()
    }
}

/// A counter, a gauge, a histogram and a timer whose names carry their unit,
/// and a gauge whose name does not.
fn described() -> MetricsCollector {
    let c = MetricsCollector::default();
    c.describe_metric("sent_bytes", MetricType::Counter, unit("bytes"))
        .unwrap();
    c.describe_metric("sent_bytes_total_x", MetricType::Gauge, unit("bytes"))
        .unwrap();
    c.describe_metric("heap.used_bytes", MetricType::Gauge, unit("bytes"))
        .unwrap();
    c.describe_metric("payload_bytes", MetricType::Histogram, unit("bytes"))
        .unwrap();
    c.describe_metric("job_run", MetricType::Timer, unit("seconds"))
        .unwrap();
    c.describe_metric("temperature", MetricType::Gauge, unit("celsius"))
        .unwrap();
    c.record_metric("sent_bytes", 512.0, &[("peer", "a")], MetricType::Counter)
        .unwrap();
    c.record_metric("sent_bytes_total_x", 1.0, &[], MetricType::Gauge)
        .unwrap();
    c.record_metric("heap.used_bytes", 4096.0, &[], MetricType::Gauge)
        .unwrap();
    c.record_metric("payload_bytes", 300.0, &[], MetricType::Histogram)
        .unwrap();
    c.record_metric("job_run", 0.25, &[], MetricType::Timer).unwrap();
    c.record_metric("temperature", 21.5, &[], MetricType::Gauge).unwrap();
    c
}

#[test]
fn the_unit_is_kept_on_the_series_and_in_the_snapshot() {
    let c = described();
    assert_eq!(
        c.get_metric_series("sent_bytes").unwrap().unit().as_deref(),
        Some("bytes")
    );
    let snap = c.snapshot();
    assert_eq!(snap.series("job_run").unwrap().unit.as_deref(), Some("seconds"));
    // A later description without a unit keeps it; a later unit replaces it.
    c.describe_metric(
        "temperature",
        MetricType::Gauge,
        MetricOptions {
            description: Some("Room temperature".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        c.get_metric_series("temperature").unwrap().unit().as_deref(),
        Some("celsius")
    );
    c.describe_metric("temperature", MetricType::Gauge, unit("kelvin"))
        .unwrap();
    assert_eq!(
        c.get_metric_series("temperature").unwrap().unit().as_deref(),
        Some("kelvin")
    );
    // A series never described has none.
    c.record_metric("plain", 1.0, &[], MetricType::Gauge).unwrap();
    assert_eq!(c.get_metric_series("plain").unwrap().unit(), None);
}

#[test]
fn openmetrics_writes_unit_after_type_only_where_the_name_carries_it() {
    let text = encode(&described().aggregate_snapshot(), TextFormat::OpenMetrics).text;
    assert!(
        text.contains("# TYPE sent_bytes counter\n# UNIT sent_bytes bytes\nsent_bytes_total{peer=\"a\"} 512.0\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE heap_used_bytes gauge\n# UNIT heap_used_bytes bytes\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE payload_bytes histogram\n# UNIT payload_bytes bytes\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE job_run_seconds histogram\n# UNIT job_run_seconds seconds\n"),
        "{text}"
    );
    // `temperature` does not end with `_celsius`; `sent_bytes_total_x` does not end with `_bytes`.
    assert!(text.contains("# TYPE temperature gauge\ntemperature 21.5\n"), "{text}");
    assert!(
        text.contains("# TYPE sent_bytes_total_x gauge\nsent_bytes_total_x 1.0\n"),
        "{text}"
    );
    assert_eq!(text.matches("# UNIT").count(), 4, "{text}");
}

#[test]
fn prometheus_text_has_no_unit_line() {
    let text = encode(&described().aggregate_snapshot(), TextFormat::Prometheus).text;
    assert!(!text.contains("# UNIT"), "{text}");
    assert!(
        text.contains("# TYPE sent_bytes_total counter\nsent_bytes_total{peer=\"a\"} 512.0\n"),
        "{text}"
    );
}

#[test]
fn the_strict_openmetrics_parser_reads_the_units() {
    if !have_openmetrics_parser() {
        return;
    }
    let text = encode(&described().aggregate_snapshot(), TextFormat::OpenMetrics).text;
    let (code, out) = openmetrics_parse(&text);
    assert_eq!(code, 0, "parser said:\n{out}\n--- input ---\n{text}");
    for line in [
        "# UNIT sent_bytes bytes",
        "# UNIT heap_used_bytes bytes",
        "# UNIT payload_bytes bytes",
        "# UNIT job_run_seconds seconds",
    ] {
        assert!(out.lines().any(|l| l == line), "{line} missing in\n{out}");
    }
    assert!(!out.contains("# UNIT temperature"), "{out}");
    // The parser enforces the suffix rule, so writing the unit of
    // `temperature` would have been rejected.
    let (code, _) = openmetrics_parse("# TYPE temperature gauge\n# UNIT temperature celsius\ntemperature 1\n# EOF\n");
    assert_ne!(code, 0);
}

/// promtool reads the Prometheus 0.0.4 text (it lints OpenMetrics counter
/// families as lacking help), so the OpenMetrics text is checked by the strict
/// parser above.
#[test]
fn promtool_accepts_the_prometheus_text_of_described_series() {
    if !have_promtool() {
        return;
    }
    let text = encode(&described().aggregate_snapshot(), TextFormat::Prometheus).text;
    let (code, out) = promtool_check(&text);
    assert_eq!(code, 0, "promtool said:\n{out}\n--- input ---\n{text}");
}

#[test]
fn json_export_and_import_keep_the_unit() {
    let json = described().export_to_json();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["job_run"]["unit"], "seconds", "{json}");
    let fresh = MetricsCollector::default();
    fresh.import_json(&json).unwrap();
    assert_eq!(
        fresh.get_metric_series("job_run").unwrap().unit().as_deref(),
        Some("seconds")
    );
    assert_eq!(
        fresh.get_metric_series("sent_bytes").unwrap().unit().as_deref(),
        Some("bytes")
    );
    assert_eq!(fresh.export_to_json(), json);
}

#[test]
fn json_written_before_units_existed_still_imports() {
    let old = r#"{"queue.depth": {"type": "gauge", "values": [{"name": "queue.depth", "value": 3.0,
        "timestamp": "2026-11-28T05:00:00Z", "tags": {}, "type": "gauge"}], "aggregates": []}}"#;
    let c = MetricsCollector::default();
    c.import_json(old).unwrap();
    assert_eq!(c.get_metric_series("queue.depth").unwrap().unit(), None);
    let doc: serde_json::Value = serde_json::from_str(&c.export_to_json()).unwrap();
    assert!(doc["queue.depth"].get("unit").is_none());
}

#[test]
fn an_invalid_unit_is_refused_naming_it_and_creates_nothing() {
    let c = MetricsCollector::default();
    for bad in ["", "Seconds", "s/ec", "%", "9bytes", "µs", &"a".repeat(65)] {
        let err = c
            .describe_metric("latency", MetricType::Histogram, unit(bad))
            .unwrap_err();
        assert!(matches!(err, MetricsError::InvalidUnit { .. }), "{err}");
        let shown = bad.chars().take(64).collect::<String>();
        assert!(err.to_string().contains(&format!("{shown:?}")), "{err}");
        assert!(c.get_metric_series("latency").is_none(), "{bad:?} created the series");
    }
    // An existing series keeps its unit when a bad one is given.
    c.describe_metric("latency", MetricType::Histogram, unit("seconds"))
        .unwrap();
    assert!(
        c.describe_metric("latency", MetricType::Histogram, unit("Bad"))
            .is_err()
    );
    assert_eq!(
        c.get_metric_series("latency").unwrap().unit().as_deref(),
        Some("seconds")
    );
    assert!(
        c.describe_metric("latency", MetricType::Histogram, unit("bytes_per_second_2"))
            .is_ok()
    );
}
