//! Retention by age (with a manual clock, no sleeps) and by count.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_core::clock::{Clock, ManualClock};
use metrics_core::{AggregateValue, MetricType, MetricsCollector, MetricsConfig, SummaryQuery, TagFilter};

#[path = "common/samples.rs"]
mod samples;
use samples::sample_values;

const HOUR: Duration = Duration::from_secs(3600);

fn collector_at(config: MetricsConfig) -> (MetricsCollector, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_795_842_000_000_000_000));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    (MetricsCollector::with_clock(config, dyn_clock), clock)
}

fn retention(retention: Duration) -> MetricsConfig {
    MetricsConfig {
        retention,
        ..MetricsConfig::default()
    }
}

#[test]
fn samples_older_than_retention_vanish_but_aggregates_keep_them() {
    let (c, clock) = collector_at(retention(HOUR));
    for v in [1.0, 2.0, 3.0] {
        c.record_metric("latency", v, &[("route", "/a")], MetricType::Histogram)
            .unwrap();
        c.record_metric("jobs", v, &[], MetricType::Counter).unwrap();
    }
    clock.advance(Duration::from_secs(30 * 60));
    for v in [10.0, 20.0] {
        c.record_metric("latency", v, &[("route", "/a")], MetricType::Histogram)
            .unwrap();
        c.record_metric("jobs", v, &[], MetricType::Counter).unwrap();
    }
    let latency = c.get_metric_series("latency").unwrap();
    assert_eq!(latency.len(), 5);

    // 61 minutes after the first three: they are older than one hour.
    clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(sample_values(&c, "latency"), vec![10.0, 20.0]);
    assert_eq!(latency.len(), 2);
    let summary = latency.summary(&SummaryQuery::all()).unwrap();
    assert_eq!((summary.count, summary.sum, summary.min), (2, 30.0, 10.0));
    assert_eq!(latency.expired_samples(), 3);
    assert_eq!(latency.dropped_samples(), 0, "expiry by age is not counted as dropped");

    match latency.aggregate(&[("route", "/a")]) {
        Some(AggregateValue::Histogram(h)) => {
            assert_eq!((h.count, h.sum, h.min, h.max), (5, 36.0, 1.0, 20.0));
        }
        other => panic!("expected a histogram aggregate, got {other:?}"),
    }
    let jobs = c.get_metric_series("jobs").unwrap();
    assert_eq!(jobs.aggregate(&[]), Some(AggregateValue::Counter { total: 36.0 }));
    assert_eq!(jobs.values().len(), 2);

    let snapshot = c.snapshot();
    assert_eq!(snapshot.series("latency").unwrap().expired_samples, 3);
    let export = metrics_core::export::json::decode(&c.export_to_json()).unwrap();
    assert_eq!(export["latency"].expired_samples, 3);
    assert_eq!(export["latency"].values.len(), 2);
}

#[test]
fn a_sample_exactly_as_old_as_the_retention_is_kept_one_nanosecond_later_it_is_gone() {
    let (c, clock) = collector_at(retention(HOUR));
    c.record_metric("g", 1.0, &[], MetricType::Gauge).unwrap();
    let series = c.get_metric_series("g").unwrap();
    clock.advance(HOUR);
    assert_eq!(series.len(), 1);
    assert!(series.latest(&TagFilter::any()).is_some());
    clock.advance(Duration::from_nanos(1));
    assert_eq!(series.len(), 0);
    assert!(series.is_empty());
    assert_eq!(series.latest(&TagFilter::any()), None);
    assert_eq!(series.summary(&SummaryQuery::all()), None);
    assert_eq!(series.last_updated(), None);
    assert_eq!(series.expired_samples(), 1);
    assert_eq!(series.aggregate(&[]), Some(AggregateValue::Gauge { value: 1.0 }));
}

#[test]
fn expiry_happens_on_every_read_path_without_a_new_insert() {
    for read in ["values", "values_matching", "latest", "summary", "len", "snapshot"] {
        let (c, clock) = collector_at(retention(HOUR));
        c.record_metric("m", 1.0, &[("k", "v")], MetricType::Gauge).unwrap();
        clock.advance(2 * HOUR);
        let s = c.get_metric_series("m").unwrap();
        let seen = match read {
            "values" => s.values().len(),
            "values_matching" => s.values_matching(&TagFilter::new().with("k", "v")).len(),
            "latest" => usize::from(s.latest(&TagFilter::any()).is_some()),
            "summary" => s.summary(&SummaryQuery::all()).map_or(0, |x| x.count),
            "len" => s.len(),
            _ => c.snapshot().series("m").unwrap().samples.len(),
        };
        assert_eq!(seen, 0, "{read} returned an expired sample");
    }
}

#[test]
fn a_sample_recorded_with_a_timestamp_older_than_the_retention_is_never_returned() {
    let (c, _clock) = collector_at(retention(HOUR));
    let now = c.now();
    c.record_metric("m", 1.0, &[], MetricType::Gauge).unwrap();
    c.record_metric_at("m", 2.0, &[], MetricType::Gauge, now - time::Duration::hours(2))
        .unwrap();
    let series = c.get_metric_series("m").unwrap();
    assert_eq!(sample_values(&c, "m"), vec![1.0]);
    assert_eq!(series.len(), 1);
    assert_eq!(series.summary(&SummaryQuery::all()).unwrap().count, 1);
    assert_eq!(series.expired_samples(), 1);
}

#[test]
fn a_sample_recorded_out_of_order_expires_when_it_ages_out() {
    let (c, clock) = collector_at(retention(HOUR));
    let now = c.now();
    c.record_metric("m", 1.0, &[], MetricType::Gauge).unwrap();
    // 50 minutes old: within retention when recorded, behind a newer sample.
    c.record_metric_at("m", 2.0, &[], MetricType::Gauge, now - time::Duration::minutes(50))
        .unwrap();
    assert_eq!(c.get_metric_series("m").unwrap().len(), 2);
    clock.advance(Duration::from_secs(20 * 60));
    let series = c.get_metric_series("m").unwrap();
    assert_eq!(sample_values(&c, "m"), vec![1.0]);
    assert_eq!(series.len(), 1);
    assert_eq!(series.summary(&SummaryQuery::all()).unwrap().count, 1);
    assert_eq!(series.latest(&TagFilter::any()).unwrap().value, 1.0);
}

#[test]
fn the_count_cap_keeps_the_newest_samples_and_counts_the_dropped_ones_exactly() {
    let (c, clock) = collector_at(MetricsConfig {
        max_samples_per_series: 5,
        ..MetricsConfig::default()
    });
    for i in 0..12 {
        c.record_metric("jobs", f64::from(i), &[], MetricType::Counter).unwrap();
        clock.advance(Duration::from_secs(1));
    }
    let series = c.get_metric_series("jobs").unwrap();
    assert_eq!(sample_values(&c, "jobs"), vec![7.0, 8.0, 9.0, 10.0, 11.0]);
    assert_eq!(series.dropped_samples(), 7);
    assert_eq!(series.expired_samples(), 0);
    assert_eq!(series.aggregate(&[]), Some(AggregateValue::Counter { total: 66.0 }));

    let json: serde_json::Value = serde_json::from_str(&c.export_to_json()).unwrap();
    assert_eq!(json["jobs"]["dropped_samples"], serde_json::json!(7));
    assert_eq!(json["jobs"]["values"].as_array().unwrap().len(), 5);
}

#[test]
fn the_count_cap_applies_to_each_series_separately() {
    let (c, _clock) = collector_at(MetricsConfig {
        max_samples_per_series: 3,
        ..MetricsConfig::default()
    });
    for i in 0..4 {
        c.record_metric("a", f64::from(i), &[], MetricType::Gauge).unwrap();
    }
    c.record_metric("b", 1.0, &[], MetricType::Gauge).unwrap();
    assert_eq!(c.get_metric_series("a").unwrap().len(), 3);
    assert_eq!(c.get_metric_series("a").unwrap().dropped_samples(), 1);
    assert_eq!(c.get_metric_series("b").unwrap().len(), 1);
    assert_eq!(c.get_metric_series("b").unwrap().dropped_samples(), 0);
}

#[test]
fn a_lower_cap_applied_at_runtime_takes_effect_at_the_next_insert() {
    let (c, _clock) = collector_at(MetricsConfig::default());
    for i in 0..10 {
        c.record_metric("m", f64::from(i), &[], MetricType::Gauge).unwrap();
    }
    c.configure(&MetricsConfig {
        max_samples_per_series: 4,
        ..MetricsConfig::default()
    });
    c.record_metric("m", 10.0, &[], MetricType::Gauge).unwrap();
    assert_eq!(sample_values(&c, "m"), vec![7.0, 8.0, 9.0, 10.0]);
    assert_eq!(c.get_metric_series("m").unwrap().dropped_samples(), 7);
}

#[test]
fn importing_history_older_than_the_retention_keeps_nothing_of_it() {
    let (source, _clock) = collector_at(retention(24 * HOUR));
    source
        .record_metric("m", 1.0, &[("k", "v")], MetricType::Histogram)
        .unwrap();
    let json = source.export_to_json();

    let (target, clock) = collector_at(retention(HOUR));
    clock.advance(3 * HOUR);
    let stats = target.import_json(&json).unwrap();
    assert_eq!(stats.samples, 1);
    let series = target.get_metric_series("m").unwrap();
    assert_eq!(series.len(), 0);
    assert!(series.values().is_empty());
}
