//! Handles: sample policy, timer guards (drop, stop, discard, panic), and
//! the disabled collector.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use metrics_core::{
    AggregateValue, HistogramSnapshot, MetricOptions, MetricType, MetricsCollector, MetricsConfig, SamplePolicy, TagSet,
};

#[path = "common/samples.rs"]
mod samples;
use samples::sample_values;

fn collector() -> MetricsCollector {
    MetricsCollector::new(MetricsConfig::default())
}

fn every_event() -> MetricOptions {
    MetricOptions {
        sample_policy: Some(SamplePolicy::EveryEvent),
        ..MetricOptions::default()
    }
}

fn histogram(c: &MetricsCollector, name: &str) -> HistogramSnapshot {
    match c.get_metric_series(name).unwrap().aggregate(&[]) {
        Some(AggregateValue::Histogram(h)) => h,
        other => panic!("expected a histogram aggregate, got {other:?}"),
    }
}

#[test]
fn by_default_handle_updates_change_aggregates_and_keep_no_samples() {
    let c = collector();
    let counter = c.counter("c", &[]).unwrap();
    let gauge = c.gauge("g", &[]).unwrap();
    let hist = c.histogram("h", &[]).unwrap();
    let timer = c.timer("t", &[]).unwrap();
    counter.increment(2);
    gauge.set(1.5);
    hist.record(3.0);
    timer.record(Duration::from_millis(250));
    for name in ["c", "g", "h", "t"] {
        let s = c.get_metric_series(name).unwrap();
        assert_eq!(s.sample_policy(), SamplePolicy::AggregateOnly);
        assert_eq!(s.len(), 0, "{name}");
    }
    assert_eq!(counter.value(), 2);
    assert_eq!(gauge.value(), 1.5);
    assert_eq!(histogram(&c, "h").count, 1);
    assert_eq!(histogram(&c, "t").sum, 0.25);
}

#[test]
fn every_event_keeps_one_sample_per_handle_update() {
    let c = collector();
    for (name, ty) in [
        ("c", MetricType::Counter),
        ("g", MetricType::Gauge),
        ("h", MetricType::Histogram),
        ("t", MetricType::Timer),
    ] {
        let s = c.describe_metric(name, ty, every_event()).unwrap();
        assert_eq!(s.sample_policy(), SamplePolicy::EveryEvent);
    }
    let counter = c.counter("c", &[("queue", "q1")]).unwrap();
    counter.increment(1);
    counter.increment(4);
    let gauge = c.gauge("g", &[]).unwrap();
    gauge.set(10.0);
    gauge.increment(2.5);
    gauge.decrement(0.5);
    let hist = c.histogram("h", &[]).unwrap();
    hist.record(-1.0);
    hist.record(7.0);
    let timer = c.timer("t", &[]).unwrap();
    timer.record(Duration::from_millis(1500));
    timer.record_seconds(0.5);

    // A counter sample is the increment; a gauge sample is the value after the update.
    assert_eq!(sample_values(&c, "c"), vec![1.0, 4.0]);
    assert_eq!(sample_values(&c, "g"), vec![10.0, 12.5, 12.0]);
    assert_eq!(sample_values(&c, "h"), vec![-1.0, 7.0]);
    assert_eq!(sample_values(&c, "t"), vec![1.5, 0.5]);
    let tags: Vec<TagSet> = c
        .get_metric_series("c")
        .unwrap()
        .values()
        .into_iter()
        .map(|v| v.tags)
        .collect();
    assert_eq!(tags, vec![TagSet::from_pairs([("queue", "q1")]); 2]);
}

#[test]
fn changing_the_policy_applies_to_existing_handles_at_once() {
    let c = collector();
    let counter = c.counter("c", &[]).unwrap();
    counter.increment(1);
    let series = c.get_metric_series("c").unwrap();
    series.set_sample_policy(SamplePolicy::EveryEvent);
    counter.increment(2);
    counter.clone().increment(3);
    series.set_sample_policy(SamplePolicy::AggregateOnly);
    counter.increment(4);
    assert_eq!(sample_values(&c, "c"), vec![2.0, 3.0]);
    assert_eq!(counter.value(), 10);
    // describe_metric on an existing series changes its policy too.
    c.describe_metric("c", MetricType::Counter, every_event()).unwrap();
    counter.increment(5);
    assert_eq!(sample_values(&c, "c"), vec![2.0, 3.0, 5.0]);
}

#[test]
fn record_metric_keeps_a_sample_whatever_the_policy() {
    let c = collector();
    let counter = c.counter("c", &[("k", "v")]).unwrap();
    c.record_metric("c", 2.0, &[("k", "v")], MetricType::Counter).unwrap();
    counter.increment(3);
    assert_eq!(sample_values(&c, "c"), vec![2.0]);
    // Handle and record_metric share one aggregate.
    assert_eq!(counter.value(), 5);
    let s = c.get_metric_series("c").unwrap();
    assert_eq!(s.aggregate(&[("k", "v")]), Some(AggregateValue::Counter { total: 5.0 }));
}

#[test]
fn handles_resolve_tags_in_any_order_to_one_tag_set() {
    let c = collector();
    let a = c.counter("c", &[("b", "2"), ("a", "1")]).unwrap();
    let b = c.counter("c", &[("a", "1"), ("b", "2")]).unwrap();
    a.increment(1);
    b.increment(1);
    assert_eq!(a.value(), 2);
    assert_eq!(a.tags(), b.tags());
    assert_eq!(a.name(), "c");
    assert_eq!(c.get_metric_series("c").unwrap().tag_sets().len(), 1);
}

#[test]
fn a_timer_guard_records_once_when_dropped() {
    let c = collector();
    let timer = c.timer("t", &[]).unwrap();
    {
        let _guard = timer.start();
    }
    assert_eq!(histogram(&c, "t").count, 1);
}

#[test]
fn a_timer_guard_records_when_a_panic_unwinds_through_it() {
    let c = collector();
    let timer = c.timer("job_seconds", &[("status", "panicked")]).unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _guard = timer.start();
        panic!("the job failed");
    }));
    assert!(result.is_err());
    match c
        .get_metric_series("job_seconds")
        .unwrap()
        .aggregate(&[("status", "panicked")])
    {
        Some(AggregateValue::Histogram(h)) => assert_eq!(h.count, 1),
        other => panic!("expected a histogram aggregate, got {other:?}"),
    }
}

#[test]
fn stop_records_the_returned_duration_and_the_drop_does_not_record_again() {
    let c = collector();
    c.describe_metric("t", MetricType::Timer, every_event()).unwrap();
    let timer = c.timer("t", &[]).unwrap();
    let guard = timer.start();
    let elapsed = guard.stop();
    assert_eq!(sample_values(&c, "t"), vec![elapsed.as_secs_f64()]);
    assert_eq!(histogram(&c, "t").count, 1);
}

#[test]
fn discard_records_nothing() {
    let c = collector();
    let timer = c.timer("t", &[]).unwrap();
    let guard = timer.start();
    let _ = guard.elapsed();
    guard.discard();
    assert_eq!(histogram(&c, "t").count, 0);
}

#[test]
fn a_timer_guard_measures_at_least_the_time_slept() {
    let c = collector();
    let timer = c.timer("t", &[]).unwrap();
    {
        let _guard = timer.start();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(histogram(&c, "t").sum >= 0.020, "{:?}", histogram(&c, "t"));
}

#[test]
fn a_disabled_collector_ignores_handle_updates_until_reenabled() {
    let c = collector();
    c.describe_metric("h", MetricType::Histogram, every_event()).unwrap();
    let counter = c.counter("c", &[]).unwrap();
    let gauge = c.gauge("g", &[]).unwrap();
    let hist = c.histogram("h", &[]).unwrap();
    let timer = c.timer("t", &[]).unwrap();
    c.set_enabled(false);
    assert!(!c.is_enabled());
    counter.increment(5);
    gauge.set(3.0);
    gauge.increment(1.0);
    hist.record(1.0);
    timer.record(Duration::from_secs(1));
    drop(timer.start());
    c.record_metric("c", 1.0, &[], MetricType::Counter).unwrap();
    assert_eq!(counter.value(), 0);
    assert_eq!(gauge.value(), 0.0);
    assert_eq!(histogram(&c, "h").count, 0);
    assert_eq!(histogram(&c, "t").count, 0);
    assert_eq!(c.get_metric_series("h").unwrap().len(), 0);
    assert_eq!(c.get_metric_series("c").unwrap().len(), 0);

    c.set_enabled(true);
    counter.increment(5);
    hist.record(1.0);
    assert_eq!(counter.value(), 5);
    assert_eq!(histogram(&c, "h").count, 1);
    assert_eq!(c.get_metric_series("h").unwrap().len(), 1);
}

#[test]
fn a_disabled_config_makes_record_metric_a_no_op() {
    let c = MetricsCollector::new(MetricsConfig {
        enabled: false,
        ..MetricsConfig::default()
    });
    // Even input that would be rejected is ignored without error when disabled.
    c.record_metric("jobs", 1.0, &[], MetricType::Counter).unwrap();
    c.record_metric("jobs", f64::NAN, &[], MetricType::Counter).unwrap();
    assert!(c.get_metric_series("jobs").is_none());
    assert!(c.list_series().is_empty());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&c.export_to_json()).unwrap(),
        serde_json::json!({})
    );
}

#[test]
fn a_removed_series_detaches_its_handles() {
    let c = collector();
    let counter = c.counter("c", &[]).unwrap();
    counter.increment(1);
    let removed = c.remove_series("c").unwrap();
    counter.increment(1);
    assert_eq!(counter.value(), 2);
    assert_eq!(removed.aggregate(&[]), Some(AggregateValue::Counter { total: 2.0 }));
    assert!(c.get_metric_series("c").is_none());
    assert!(c.snapshot().series("c").is_none());
    // A new handle for the name starts a new series.
    let fresh = c.counter("c", &[]).unwrap();
    assert_eq!(fresh.value(), 0);
}

#[test]
fn a_handle_series_is_the_collector_series() {
    let c = collector();
    let gauge = c.gauge("g", &[]).unwrap();
    assert!(std::sync::Arc::ptr_eq(
        gauge.series(),
        &c.get_metric_series("g").unwrap()
    ));
    assert_eq!(gauge.series().metric_type(), MetricType::Gauge);
}
