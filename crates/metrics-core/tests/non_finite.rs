//! Finite inputs that would add up to infinity are rejected like NaN, so
//! every export stays finite and re-imports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_core::{AggregateValue, MetricType, MetricsCollector, MetricsConfig, MetricsError, SummaryQuery};

fn collector() -> MetricsCollector {
    MetricsCollector::new(MetricsConfig::default())
}

fn assert_overflow_error(err: impl Into<MetricsError>, name: &str) {
    let err: MetricsError = err.into();
    assert!(matches!(err, MetricsError::AggregateOverflow { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("{name:?}")) && msg.contains("1e308"), "{msg}");
}

/// The export has no `null`, parses back, and imports into a fresh collector.
fn assert_round_trips(c: &MetricsCollector) -> MetricsCollector {
    let json = c.export_to_json();
    assert!(!json.contains("null"), "{json}");
    assert!(!json.contains("inf"), "{json}");
    let back = collector();
    back.import_json(&json).unwrap();
    back
}

#[test]
fn record_metric_sums_that_would_overflow_are_errors_naming_the_metric() {
    let c = collector();
    for (name, ty) in [
        ("counter_total", MetricType::Counter),
        ("histogram_sum", MetricType::Histogram),
        ("timer_sum", MetricType::Timer),
    ] {
        c.record_metric(name, 1e308, &[], ty).unwrap();
        let err = c.record_metric(name, 1e308, &[], ty).unwrap_err();
        assert_overflow_error(err, name);
        let s = c.get_metric_series(name).unwrap();
        assert_eq!(s.len(), 1, "{name}: the rejected value was not kept as a sample");
    }
    let s = c.get_metric_series("counter_total").unwrap();
    assert_eq!(s.aggregate(&[]), Some(AggregateValue::Counter { total: 1e308 }));
    let back = assert_round_trips(&c);
    assert_eq!(
        back.get_metric_series("histogram_sum").unwrap().values()[0].value,
        1e308
    );
}

#[test]
fn by_name_updates_that_would_overflow_are_errors_naming_the_metric() {
    let c = collector();
    c.observe_histogram("h", &[("k", "v")], 1e308).unwrap();
    assert_overflow_error(c.observe_histogram("h", &[("k", "v")], 1e308).unwrap_err(), "h");
    c.record_duration("t", &[], std::time::Duration::from_secs(1)).unwrap();
    match c.get_metric_series("h").unwrap().aggregate(&[("k", "v")]) {
        Some(AggregateValue::Histogram(h)) => assert_eq!((h.count, h.sum), (1, 1e308)),
        other => panic!("{other:?}"),
    }
    assert_round_trips(&c);
}

#[test]
fn handle_updates_that_would_overflow_are_counted_as_rejected() {
    let c = collector();
    let g = c.gauge("g", &[]).unwrap();
    g.set(1e308);
    g.increment(1e308);
    g.decrement(-1e308);
    assert_eq!(g.value(), 1e308, "the gauge keeps its last finite value");
    let h = c.histogram("h", &[]).unwrap();
    h.record(1e308);
    h.record(1e308);
    let t = c.timer("t", &[]).unwrap();
    t.record_seconds(1e308);
    t.record_seconds(1e308);
    assert_eq!(c.get_metric_series("g").unwrap().rejected_values(), 2);
    assert_eq!(c.get_metric_series("h").unwrap().rejected_values(), 1);
    assert_eq!(c.get_metric_series("t").unwrap().rejected_values(), 1);
    let snapshot = c.snapshot();
    assert_eq!(snapshot.series("g").unwrap().rejected_values, 2);
    let json = c.export_to_json();
    assert!(json.contains("\"rejected_values\": 2"), "{json}");
    assert_round_trips(&c);
}

#[test]
fn a_gauge_set_to_the_largest_value_exports_and_reimports() {
    let c = collector();
    c.record_metric("g", 1e308, &[], MetricType::Gauge).unwrap();
    c.record_metric("g", 1e308, &[], MetricType::Gauge).unwrap();
    // Samples of a gauge may add up past f64::MAX; the summary stays finite.
    let summary = c.get_metric_series("g").unwrap().summary(&SummaryQuery::all()).unwrap();
    assert!(summary.sum.is_finite() && summary.avg == 1e308, "{summary:?}");
    let back = assert_round_trips(&c);
    assert_eq!(back.get_metric_series("g").unwrap().len(), 2);
    use metrics_core::export::prometheus::{TextFormat, encode};
    let text = encode(&c.aggregate_snapshot(), TextFormat::Prometheus).text;
    let value = text.lines().find_map(|l| l.strip_prefix("g ")).unwrap();
    assert_eq!(value.parse::<f64>().unwrap(), 1e308, "{text}");
}
