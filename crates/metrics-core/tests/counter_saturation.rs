//! Integer counters stop at `u64::MAX` instead of wrapping, and say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_core::{AggregateValue, MetricType, MetricsCollector, MetricsConfig};

#[test]
fn a_handle_counter_saturates_instead_of_wrapping_and_counts_it() {
    let c = MetricsCollector::new(MetricsConfig::default());
    let jobs = c.counter("jobs", &[("queue", "a")]).unwrap();
    jobs.increment(u64::MAX);
    jobs.increment(2);
    assert_eq!(jobs.value(), u64::MAX, "the counter went backwards");
    jobs.increment(1);
    assert_eq!(jobs.value(), u64::MAX);
    let series = c.get_metric_series("jobs").unwrap();
    assert_eq!(series.saturated_updates(), 2);
    assert_eq!(c.snapshot().series("jobs").unwrap().saturated_updates, 2);
    let json = c.export_to_json();
    assert!(json.contains("\"saturated_updates\": 2"), "{json}");
}

#[test]
fn by_name_counters_saturate_too() {
    let c = MetricsCollector::new(MetricsConfig::default());
    c.increment_counter("hits", &[], u64::MAX - 1).unwrap();
    c.increment_counter("hits", &[], 5).unwrap();
    let s = c.get_metric_series("hits").unwrap();
    assert_eq!(
        s.aggregate(&[]),
        Some(AggregateValue::Counter { total: u64::MAX as f64 })
    );
    assert_eq!(s.saturated_updates(), 1);
    // record_metric's integral increments land in the same integer total.
    c.record_metric("hits", 3.0, &[], MetricType::Counter).unwrap();
    assert_eq!(s.saturated_updates(), 2);
    assert_eq!(
        s.aggregate(&[]),
        Some(AggregateValue::Counter { total: u64::MAX as f64 })
    );
}

#[test]
fn a_contended_counter_never_goes_backwards() {
    let c = MetricsCollector::new(MetricsConfig::default());
    let counter = c.counter("busy", &[]).unwrap();
    counter.increment(u64::MAX - 1_000);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut last = 0;
                for _ in 0..10_000 {
                    counter.increment(1);
                    let now = counter.value();
                    assert!(now >= last, "{now} < {last}");
                    last = now;
                }
            });
        }
    });
    assert_eq!(counter.value(), u64::MAX);
}
