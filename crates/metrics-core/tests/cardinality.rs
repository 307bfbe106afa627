//! The cardinality cap: tag sets past `max_tag_sets_per_series` fold into
//! one `overflow="true"` set, and are counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};

use metrics_core::{
    AggregateValue, MetricSeries, MetricType, MetricsCollector, MetricsConfig, OVERFLOW_TAG_KEY, TagFilter, TagSet,
};

fn capped(max_tag_sets: usize) -> MetricsCollector {
    MetricsCollector::new(MetricsConfig {
        max_tag_sets_per_series: max_tag_sets,
        ..MetricsConfig::default()
    })
}

fn overflow_set() -> TagSet {
    TagSet::from_pairs([(OVERFLOW_TAG_KEY, "true")])
}

/// The aggregate of the overflow tag set, which the direct lookup and the
/// full list must agree on.
fn overflow_aggregate(series: &MetricSeries) -> Option<AggregateValue> {
    let listed = series
        .aggregates()
        .into_iter()
        .find(|a| a.tags == overflow_set())
        .map(|a| a.value);
    assert_eq!(series.aggregate(&[(OVERFLOW_TAG_KEY, "true")]), listed);
    assert_eq!(series.aggregate(&overflow_set()), listed);
    listed
}

#[test]
fn the_sixth_and_later_tag_sets_fold_into_one_overflow_set() {
    let c = capped(5);
    for job in 1..=5 {
        c.record_metric(
            "jobs_total",
            f64::from(job),
            &[("job_id", job.to_string().as_str())],
            MetricType::Counter,
        )
        .unwrap();
    }
    let series = c.get_metric_series("jobs_total").unwrap();
    assert_eq!(series.tag_sets().len(), 5);
    assert_eq!(series.overflow_updates(), 0);
    assert_eq!(overflow_aggregate(&series), None);

    for job in 6..=20 {
        c.record_metric(
            "jobs_total",
            1.0,
            &[("job_id", job.to_string().as_str())],
            MetricType::Counter,
        )
        .unwrap();
    }
    // A folded tag set seen again is folded again, and counted again.
    c.record_metric("jobs_total", 1.0, &[("job_id", "6")], MetricType::Counter)
        .unwrap();

    let sets = series.tag_sets();
    assert_eq!(sets.len(), 6);
    assert_eq!(sets.iter().filter(|t| **t == overflow_set()).count(), 1);
    assert_eq!(series.overflow_updates(), 16);
    assert_eq!(
        overflow_aggregate(&series),
        Some(AggregateValue::Counter { total: 16.0 })
    );

    // Earlier tag sets still resolve to their own aggregates.
    for job in 1..=5 {
        let own = series.aggregate(&[("job_id", job.to_string().as_str())]);
        assert_eq!(
            own,
            Some(AggregateValue::Counter { total: f64::from(job) }),
            "job {job}"
        );
    }
    assert_eq!(
        series.aggregate(&[("job_id", "6")]),
        None,
        "folded sets have no aggregate of their own"
    );

    // The overflow set exists now, yet callers still cannot record to it directly.
    let err = c
        .record_metric("jobs_total", 1.0, &[(OVERFLOW_TAG_KEY, "true")], MetricType::Counter)
        .unwrap_err();
    assert!(
        matches!(err.kind(), metrics_core::RecordErrorKind::ReservedTagKey { .. }),
        "{err:?}"
    );
    assert!(c.counter("jobs_total", &[(OVERFLOW_TAG_KEY, "true")]).is_err());
    assert_eq!(
        overflow_aggregate(&series),
        Some(AggregateValue::Counter { total: 16.0 })
    );
}

#[test]
fn known_tag_sets_keep_recording_to_themselves_after_the_cap() {
    let c = capped(2);
    c.record_metric("g", 1.0, &[("k", "a")], MetricType::Gauge).unwrap();
    c.record_metric("g", 2.0, &[("k", "b")], MetricType::Gauge).unwrap();
    c.record_metric("g", 3.0, &[("k", "c")], MetricType::Gauge).unwrap();
    c.record_metric("g", 4.0, &[("k", "a")], MetricType::Gauge).unwrap();
    let series = c.get_metric_series("g").unwrap();
    assert_eq!(series.overflow_updates(), 1);
    assert_eq!(
        series.aggregate(&[("k", "a")]),
        Some(AggregateValue::Gauge { value: 4.0 })
    );
    assert_eq!(overflow_aggregate(&series), Some(AggregateValue::Gauge { value: 3.0 }));
}

#[test]
fn folded_samples_carry_the_overflow_tag() {
    let c = capped(1);
    c.record_metric("h", 1.0, &[("user", "alice")], MetricType::Histogram)
        .unwrap();
    c.record_metric("h", 2.0, &[("user", "bob")], MetricType::Histogram)
        .unwrap();
    c.record_metric("h", 3.0, &[("user", "carol"), ("region", "eu")], MetricType::Histogram)
        .unwrap();
    let series = c.get_metric_series("h").unwrap();
    let tags: Vec<TagSet> = series.values().into_iter().map(|v| v.tags).collect();
    assert_eq!(
        tags,
        vec![TagSet::from_pairs([("user", "alice")]), overflow_set(), overflow_set()]
    );
    let folded = series.values_matching(&TagFilter::new().with(OVERFLOW_TAG_KEY, "true"));
    assert_eq!(folded.iter().map(|v| v.value).collect::<Vec<_>>(), vec![2.0, 3.0]);
}

#[test]
fn the_cap_is_per_series() {
    let c = capped(1);
    c.record_metric("a", 1.0, &[("k", "1")], MetricType::Counter).unwrap();
    c.record_metric("a", 1.0, &[("k", "2")], MetricType::Counter).unwrap();
    c.record_metric("b", 1.0, &[("k", "2")], MetricType::Counter).unwrap();
    assert_eq!(c.get_metric_series("a").unwrap().overflow_updates(), 1);
    let b = c.get_metric_series("b").unwrap();
    assert_eq!(b.overflow_updates(), 0);
    assert_eq!(b.aggregate(&[("k", "2")]), Some(AggregateValue::Counter { total: 1.0 }));
}

#[test]
fn a_handle_past_the_cap_updates_the_overflow_set() {
    let c = capped(1);
    let first = c.counter("requests", &[("path", "/a")]).unwrap();
    let folded = c.counter("requests", &[("path", "/b")]).unwrap();
    assert_eq!(first.tags(), &TagSet::from_pairs([("path", "/a")]));
    assert_eq!(folded.tags(), &overflow_set());
    folded.increment(5);
    first.increment(1);
    let series = c.get_metric_series("requests").unwrap();
    assert_eq!(
        overflow_aggregate(&series),
        Some(AggregateValue::Counter { total: 5.0 })
    );
    assert_eq!(
        series.aggregate(&[("path", "/a")]),
        Some(AggregateValue::Counter { total: 1.0 })
    );
    assert_eq!(
        series.overflow_updates(),
        1,
        "resolving the handle is the one folded update"
    );
}

#[test]
fn overflow_counts_appear_in_snapshots_and_exports() {
    let c = capped(1);
    for id in 0..4 {
        c.record_metric("m", 1.0, &[("id", id.to_string().as_str())], MetricType::Counter)
            .unwrap();
    }
    assert_eq!(c.snapshot().series("m").unwrap().overflow_updates, 3);
    assert_eq!(c.list_series()[0].tag_sets, 2);
    let json: serde_json::Value = serde_json::from_str(&c.export_to_json()).unwrap();
    assert_eq!(json["m"]["overflow_updates"], serde_json::json!(3));
    let aggregates = json["m"]["aggregates"].as_array().unwrap();
    assert!(
        aggregates
            .iter()
            .any(|a| a["tags"] == serde_json::json!({"overflow": "true"})),
        "{aggregates:?}"
    );
}

#[test]
fn concurrent_new_tag_sets_never_exceed_the_cap() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 200;
    let c = Arc::new(capped(5));
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let c = Arc::clone(&c);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                for i in 0..PER_THREAD {
                    let id = format!("{t}-{i}");
                    c.record_metric("jobs", 1.0, &[("job_id", id.as_str())], MetricType::Counter)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let series = c.get_metric_series("jobs").unwrap();
    let total = THREADS * PER_THREAD;
    assert_eq!(series.tag_sets().len(), 6);
    assert_eq!(series.overflow_updates(), (total - 5) as u64);
    let sum: f64 = series
        .aggregates()
        .iter()
        .map(|a| match a.value {
            AggregateValue::Counter { total } => total,
            ref other => panic!("expected counters, got {other:?}"),
        })
        .sum();
    assert_eq!(sum, total as f64, "every update landed in some tag set");
    assert_eq!(
        overflow_aggregate(&series),
        Some(AggregateValue::Counter {
            total: (total - 5) as f64
        })
    );
}

#[test]
fn the_default_cap_is_ten_thousand() {
    assert_eq!(MetricsConfig::default().max_tag_sets_per_series, 10_000);
    let c = MetricsCollector::new(MetricsConfig::default());
    for i in 0..10_001 {
        c.record_metric("wide", 1.0, &[("i", i.to_string().as_str())], MetricType::Counter)
            .unwrap();
    }
    let series = c.get_metric_series("wide").unwrap();
    assert_eq!(series.tag_sets().len(), 10_001);
    assert_eq!(series.overflow_updates(), 1);
}
