//! The aggregate-only updates by name (`increment_counter`, `set_gauge`,
//! `observe_histogram`, `record_duration`) and the per-thread resolution
//! cache behind them and `record_metric`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_core::{AggregateValue, MetricType, MetricsCollector, RecordErrorKind, SamplePolicy};

#[path = "common/samples.rs"]
mod samples;
use samples::sample_values;

fn total(c: &MetricsCollector, name: &str, tags: &[(&str, &str)]) -> f64 {
    match c.get_metric_series(name).unwrap().aggregate(tags) {
        Some(AggregateValue::Counter { total }) => total,
        other => panic!("{other:?}"),
    }
}

#[test]
fn increments_by_name_are_exact_across_threads_and_tag_orders() {
    let c = Arc::new(MetricsCollector::default());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let c = Arc::clone(&c);
            std::thread::spawn(move || {
                for i in 0..50_000u64 {
                    if (i + t) % 2 == 0 {
                        c.increment_counter("errors", &[("kind", "user"), ("route", "/a")], 1)
                            .unwrap();
                    } else {
                        c.increment_counter("errors", &[("route", "/a"), ("kind", "user")], 1)
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(total(&c, "errors", &[("kind", "user"), ("route", "/a")]), 400_000.0);
    let s = c.get_metric_series("errors").unwrap();
    assert_eq!(s.tag_sets().len(), 1);
    assert_eq!(s.len(), 0, "aggregate-only updates keep no samples by default");
}

#[test]
fn every_kind_updates_its_aggregate() {
    let c = MetricsCollector::default();
    c.set_gauge("depth", &[], 4.0).unwrap();
    c.set_gauge("depth", &[], 2.5).unwrap();
    c.observe_histogram("size", &[("k", "v")], 10.0).unwrap();
    c.observe_histogram("size", &[("k", "v")], 30.0).unwrap();
    c.record_duration("run", &[], Duration::from_millis(1500)).unwrap();
    assert_eq!(
        c.get_metric_series("depth").unwrap().aggregate(&[]),
        Some(AggregateValue::Gauge { value: 2.5 })
    );
    match c.get_metric_series("size").unwrap().aggregate(&[("k", "v")]) {
        Some(AggregateValue::Histogram(h)) => assert_eq!((h.count, h.sum), (2, 40.0)),
        other => panic!("{other:?}"),
    }
    match c.get_metric_series("run").unwrap().aggregate(&[]) {
        Some(AggregateValue::Histogram(h)) => assert_eq!((h.count, h.sum), (1, 1.5)),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.get_metric_series("run").unwrap().metric_type(), MetricType::Timer);
}

#[test]
fn every_event_policy_keeps_samples_for_by_name_updates() {
    let c = MetricsCollector::default();
    c.increment_counter("hits", &[], 1).unwrap();
    c.get_metric_series("hits")
        .unwrap()
        .set_sample_policy(SamplePolicy::EveryEvent);
    c.increment_counter("hits", &[], 2).unwrap();
    c.increment_counter("hits", &[], 3).unwrap();
    assert_eq!(sample_values(&c, "hits"), vec![2.0, 3.0]);
    assert_eq!(total(&c, "hits", &[]), 6.0);
}

#[test]
fn bad_values_and_types_are_errors_even_when_cached() {
    let c = MetricsCollector::default();
    c.increment_counter("n", &[("a", "b")], 1).unwrap();
    // The resolution of ("n", a=b) is now cached on this thread.
    let e = c.set_gauge("n", &[("a", "b")], 1.0).unwrap_err();
    assert!(matches!(e.kind(), RecordErrorKind::TypeMismatch { .. }), "{e}");
    let e = c
        .record_metric("n", 1.0, &[("a", "b")], MetricType::Histogram)
        .unwrap_err();
    assert!(matches!(e.kind(), RecordErrorKind::TypeMismatch { .. }), "{e}");
    let e = c.set_gauge("g", &[], f64::NAN).unwrap_err();
    assert!(matches!(e.kind(), RecordErrorKind::NonFiniteValue { .. }), "{e}");
    assert!(
        c.get_metric_series("g").is_none(),
        "a rejected first update creates nothing"
    );
    let e = c.observe_histogram("h", &[("", "x")], 1.0).unwrap_err();
    assert!(matches!(e.kind(), RecordErrorKind::EmptyTagKey { .. }), "{e}");
    assert_eq!(total(&c, "n", &[("a", "b")]), 1.0);
}

#[test]
fn removing_a_series_invalidates_cached_resolutions() {
    let c = MetricsCollector::default();
    c.increment_counter("jobs", &[], 5).unwrap();
    c.record_metric("jobs", 1.0, &[], MetricType::Counter).unwrap();
    let old = c.remove_series("jobs").unwrap();
    c.increment_counter("jobs", &[], 2).unwrap();
    assert_eq!(total(&c, "jobs", &[]), 2.0, "a new series starts from zero");
    match old.aggregate(&[]) {
        Some(AggregateValue::Counter { total }) => assert_eq!(total, 6.0, "the removed series is not updated"),
        other => panic!("{other:?}"),
    }
    // The name may even come back with another type.
    c.clear_all();
    c.set_gauge("jobs", &[], 1.0).unwrap();
    assert_eq!(c.get_metric_series("jobs").unwrap().metric_type(), MetricType::Gauge);
}

#[test]
fn two_collectors_on_one_thread_stay_apart() {
    let a = MetricsCollector::default();
    let b = MetricsCollector::default();
    for _ in 0..3 {
        a.increment_counter("x", &[("k", "v")], 1).unwrap();
        b.increment_counter("x", &[("k", "v")], 10).unwrap();
    }
    assert_eq!(total(&a, "x", &[("k", "v")]), 3.0);
    assert_eq!(total(&b, "x", &[("k", "v")]), 30.0);
}

#[test]
fn overflowed_updates_are_counted_every_time() {
    let c = MetricsCollector::new(metrics_core::MetricsConfig {
        max_tag_sets_per_series: 1,
        ..Default::default()
    });
    c.increment_counter("u", &[("id", "1")], 1).unwrap();
    for _ in 0..5 {
        c.increment_counter("u", &[("id", "2")], 1).unwrap();
    }
    let s = c.get_metric_series("u").unwrap();
    assert_eq!(s.overflow_updates(), 5);
    assert_eq!(total(&c, "u", &[("overflow", "true")]), 5.0);
}

#[test]
fn disabled_collector_ignores_updates_by_name() {
    let c = MetricsCollector::default();
    c.increment_counter("x", &[], 1).unwrap();
    c.set_enabled(false);
    c.increment_counter("x", &[], 1).unwrap();
    c.set_gauge("y", &[], 1.0).unwrap();
    c.set_enabled(true);
    assert_eq!(total(&c, "x", &[]), 1.0);
    assert!(c.get_metric_series("y").is_none());
}
