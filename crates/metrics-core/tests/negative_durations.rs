//! A duration cannot be negative: timers reject one, naming it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_core::{AggregateValue, MetricType, MetricsCollector, MetricsConfig, MetricsError};

#[test]
fn record_metric_rejects_a_negative_timer_value_naming_it() {
    let c = MetricsCollector::new(MetricsConfig::default());
    c.record_metric("job_seconds", 1.5, &[], MetricType::Timer).unwrap();
    let err = MetricsError::from(
        c.record_metric("job_seconds", -0.25, &[], MetricType::Timer)
            .unwrap_err(),
    );
    assert!(matches!(err, MetricsError::NegativeDuration { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("\"job_seconds\"") && msg.contains("-0.25"), "{msg}");
    let s = c.get_metric_series("job_seconds").unwrap();
    assert_eq!(s.len(), 1, "nothing recorded");
    // A first call with a negative value creates nothing either.
    assert!(c.record_metric("other_seconds", -1.0, &[], MetricType::Timer).is_err());
    assert!(c.get_metric_series("other_seconds").is_none());
    // Histograms and gauges still take negative values.
    c.record_metric("delta", -1.0, &[], MetricType::Histogram).unwrap();
}

#[test]
fn a_timer_handle_ignores_a_negative_duration_and_counts_it() {
    let c = MetricsCollector::new(MetricsConfig::default());
    let t = c.timer("step_seconds", &[]).unwrap();
    t.record_seconds(-2.0);
    t.record_seconds(0.5);
    let s = c.get_metric_series("step_seconds").unwrap();
    assert_eq!(s.rejected_values(), 1);
    match s.aggregate(&[]) {
        Some(AggregateValue::Histogram(h)) => assert_eq!((h.count, h.min), (1, 0.5)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn importing_a_negative_timer_sample_is_an_error_naming_it() {
    let json = r#"{"t": {"type": "timer", "values": [
        {"name": "t", "value": -3.0, "timestamp": "2026-11-28T05:00:00Z", "tags": {}, "type": "timer"}]}}"#;
    let c = MetricsCollector::new(MetricsConfig::default());
    let err = c.import_json(json).unwrap_err();
    assert!(
        err.to_string().contains("\"t\"") && err.to_string().contains("-3"),
        "{err}"
    );
}
