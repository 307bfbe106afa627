//! `max_series`: a bound on distinct metric names, with rejections counted
//! in an exported self-metric; sample storage that grows as it fills.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{
    AggregateValue, MetricOptions, MetricType, MetricsCollector, MetricsConfig, MetricsError, REJECTED_SERIES_METRIC,
};

fn capped(max_series: usize) -> MetricsCollector {
    MetricsCollector::new(MetricsConfig {
        max_series,
        ..MetricsConfig::default()
    })
}

fn rejected(c: &MetricsCollector) -> Option<AggregateValue> {
    c.get_metric_series(REJECTED_SERIES_METRIC)?.aggregate(&[])
}

#[test]
fn past_the_cap_a_new_name_is_an_error_naming_the_cap_and_is_counted() {
    let c = capped(3);
    for name in ["a", "b", "c"] {
        c.increment_counter(name, &[("k", "v")], 1).unwrap();
    }
    let err = MetricsError::from(c.increment_counter("d", &[("k", "v")], 1).unwrap_err());
    assert!(matches!(err, MetricsError::TooManySeries { max: 3, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("\"d\"") && msg.contains('3') && msg.contains("max_series"),
        "{msg}"
    );
    // Every way to create a series meets the same cap.
    assert!(c.record_metric("e", 1.0, &[], MetricType::Gauge).is_err());
    assert!(c.counter("f", &[]).is_err());
    assert!(
        c.describe_metric("g", MetricType::Timer, MetricOptions::default())
            .is_err()
    );
    assert!(c.get_metric_series("d").is_none());
    assert_eq!(rejected(&c), Some(AggregateValue::Counter { total: 4.0 }));
    // Existing series keep recording.
    c.increment_counter("a", &[("k", "v")], 1).unwrap();
    c.increment_counter("a", &[("k", "other")], 1).unwrap();
    // The self-metric is exported.
    assert!(c.export_to_json().contains(&format!("\"{REJECTED_SERIES_METRIC}\"")));
    let text = encode(&c.aggregate_snapshot(), TextFormat::Prometheus).text;
    assert!(text.contains("metrics_rejected_series_total 4"), "{text}");
    // Removing a series frees its slot.
    c.remove_series("a");
    c.increment_counter("d", &[], 1).unwrap();
    assert!(c.increment_counter("h", &[], 1).is_err());
    c.clear_all();
    for name in ["x", "y", "z"] {
        c.increment_counter(name, &[], 1).unwrap();
    }
}

#[test]
fn the_cap_holds_under_racing_creators() {
    let c = capped(100);
    std::thread::scope(|s| {
        for t in 0..4 {
            let c = &c;
            s.spawn(move || {
                for i in 0..100 {
                    let _ = c.increment_counter(&format!("t{t}_{i}"), &[], 1);
                }
            });
        }
    });
    let user_series = c
        .list_series()
        .iter()
        .filter(|s| s.name != REJECTED_SERIES_METRIC)
        .count();
    assert_eq!(user_series, 100);
    assert_eq!(rejected(&c), Some(AggregateValue::Counter { total: 300.0 }));
}

#[test]
fn the_cap_comes_from_config_and_the_environment_with_a_sane_default() {
    assert_eq!(MetricsConfig::default().max_series, 100_000);
    let c = MetricsConfig::from_lookup(|k| (k == "METRICS_MAX_SERIES").then(|| "5".to_string())).unwrap();
    assert_eq!(c.max_series, 5);
    let e = MetricsConfig::from_lookup(|k| (k == "METRICS_MAX_SERIES").then(|| "0".to_string())).unwrap_err();
    assert_eq!(e.variable, "METRICS_MAX_SERIES");
    assert!(metrics_core::ENV_VARS.contains(&"METRICS_MAX_SERIES"));
    // A running collector takes a new cap.
    let collector = capped(1);
    collector.increment_counter("one", &[], 1).unwrap();
    assert!(collector.increment_counter("two", &[], 1).is_err());
    collector.configure(&MetricsConfig {
        max_series: 2,
        ..MetricsConfig::default()
    });
    collector.increment_counter("two", &[], 1).unwrap();
}

#[test]
fn a_series_holding_one_sample_does_not_reserve_a_chunk() {
    let c = MetricsCollector::new(MetricsConfig::default());
    c.record_metric("one", 1.0, &[("k", "v")], MetricType::Gauge).unwrap();
    let bytes = c.get_metric_series("one").unwrap().heap_bytes();
    assert!(bytes < 1024, "{bytes} heap bytes for a series with one sample");
    for i in 0..5_000 {
        c.record_metric("one", f64::from(i), &[("k", "v")], MetricType::Gauge)
            .unwrap();
    }
    assert_eq!(c.get_metric_series("one").unwrap().len(), 5_001);
}
