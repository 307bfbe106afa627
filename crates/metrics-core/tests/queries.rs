//! Tag filters, `latest`, and the tag forms callers may pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use metrics_core::clock::{Clock, ManualClock};
use metrics_core::{MetricSeries, MetricType, MetricsCollector, MetricsConfig, SummaryQuery, TagFilter, TagSet};

fn collector() -> (MetricsCollector, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_795_842_000_000_000_000));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    (MetricsCollector::with_clock(MetricsConfig::default(), dyn_clock), clock)
}

/// Records one sample per tag set, one second apart; values 1, 2, 3, ...
fn jobs_series() -> (MetricsCollector, Arc<MetricSeries>) {
    let (c, clock) = collector();
    let tag_sets: [&[(&str, &str)]; 5] = [
        &[("status", "completed"), ("batch", "b1")],
        &[("status", "completed"), ("batch", "b2")],
        &[("status", "failed"), ("batch", "b1")],
        &[("status", "completed")],
        &[],
    ];
    for (i, tags) in tag_sets.iter().enumerate() {
        c.record_metric("job_seconds", (i + 1) as f64, *tags, MetricType::Timer)
            .unwrap();
        clock.advance(Duration::from_secs(1));
    }
    let series = c.get_metric_series("job_seconds").unwrap();
    (c, series)
}

fn matching(series: &MetricSeries, filter: TagFilter) -> Vec<f64> {
    series.values_matching(&filter).iter().map(|v| v.value).collect()
}

#[test]
fn every_pair_of_the_filter_must_match() {
    let (_c, s) = jobs_series();
    assert_eq!(
        matching(&s, TagFilter::new().with("status", "completed")),
        vec![1.0, 2.0, 4.0]
    );
    assert_eq!(
        matching(&s, TagFilter::new().with("status", "completed").with("batch", "b1")),
        vec![1.0]
    );
    // Order of the filter's pairs does not matter.
    assert_eq!(
        matching(&s, TagFilter::new().with("batch", "b1").with("status", "completed")),
        vec![1.0]
    );
    assert_eq!(matching(&s, TagFilter::new().with("batch", "b1")), vec![1.0, 3.0]);
    assert_eq!(
        matching(&s, TagFilter::new().with("status", "failed").with("batch", "b2")),
        Vec::<f64>::new()
    );
    assert_eq!(
        matching(&s, TagFilter::new().with("status", "unknown")),
        Vec::<f64>::new()
    );
}

#[test]
fn the_empty_filter_matches_every_sample() {
    let (_c, s) = jobs_series();
    assert_eq!(matching(&s, TagFilter::any()), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(matching(&s, TagFilter::new()), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(s.values().len(), 5);
}

#[test]
fn a_filter_key_missing_from_a_sample_excludes_it() {
    let (_c, s) = jobs_series();
    // Samples 4 (status only) and 5 (no tags) carry no batch tag.
    let with_batch_b1 = s.values_matching(&TagFilter::new().with("batch", "b1"));
    assert!(with_batch_b1.iter().all(|v| v.tags.get("batch") == Some("b1")));
    assert_eq!(matching(&s, TagFilter::new().with("region", "eu")), Vec::<f64>::new());
    // A filter value that is empty does not match a missing key either.
    assert_eq!(matching(&s, TagFilter::new().with("batch", "")), Vec::<f64>::new());
}

#[test]
fn matched_samples_carry_their_full_tags_and_type() {
    let (_c, s) = jobs_series();
    let v = s.values_matching(&TagFilter::new().with("status", "failed"));
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].tags, TagSet::from_pairs([("batch", "b1"), ("status", "failed")]));
    assert_eq!(v[0].metric_type, MetricType::Timer);
}

#[test]
fn latest_returns_the_newest_matching_sample() {
    let (_c, s) = jobs_series();
    assert_eq!(s.latest(&TagFilter::any()).unwrap().value, 5.0);
    assert_eq!(
        s.latest(&TagFilter::new().with("status", "completed")).unwrap().value,
        4.0
    );
    assert_eq!(s.latest(&TagFilter::new().with("batch", "b1")).unwrap().value, 3.0);
    let newest_b2 = s.latest(&TagFilter::new().with("batch", "b2")).unwrap();
    assert_eq!(newest_b2.value, 2.0);
    assert_eq!(newest_b2.tags.get("status"), Some("completed"));
    assert_eq!(s.latest(&TagFilter::new().with("status", "cancelled")), None);
}

#[test]
fn latest_prefers_the_newest_of_repeated_updates_to_one_tag_set() {
    let (c, clock) = collector();
    for v in [3.0, 1.0, 2.0] {
        c.record_metric("queue_depth", v, &[("queue", "q")], MetricType::Gauge)
            .unwrap();
        clock.advance(Duration::from_millis(1));
    }
    c.record_metric("queue_depth", 9.0, &[("queue", "other")], MetricType::Gauge)
        .unwrap();
    let s = c.get_metric_series("queue_depth").unwrap();
    let latest = s.latest(&TagFilter::new().with("queue", "q")).unwrap();
    assert_eq!(latest.value, 2.0);
    assert_eq!(latest.timestamp, s.values()[2].timestamp);
}

#[test]
fn summaries_apply_the_same_filter() {
    let (_c, s) = jobs_series();
    let q = SummaryQuery {
        since: None,
        tags: TagFilter::new().with("status", "completed"),
    };
    let sum = s.summary(&q).unwrap();
    assert_eq!((sum.count, sum.sum, sum.min, sum.max), (3, 7.0, 1.0, 4.0));
    let none = SummaryQuery {
        since: None,
        tags: TagFilter::new().with("status", "nope"),
    };
    assert_eq!(s.summary(&none), None);
}

#[test]
fn summary_since_is_inclusive() {
    let (_c, s) = jobs_series();
    let third = s.values()[2].timestamp;
    let q = SummaryQuery {
        since: Some(third),
        tags: TagFilter::any(),
    };
    let sum = s.summary(&q).unwrap();
    assert_eq!((sum.count, sum.min, sum.max), (3, 3.0, 5.0));
    let after_all = SummaryQuery {
        since: Some(s.values()[4].timestamp + time::Duration::nanoseconds(1)),
        tags: TagFilter::any(),
    };
    assert_eq!(s.summary(&after_all), None);
}

#[test]
fn every_tag_form_names_the_same_tag_set() {
    let (c, _clock) = collector();
    let pairs: &[(&str, &str)] = &[("b", "2"), ("a", "1")];
    let strings: Vec<(String, String)> = vec![("a".into(), "1".into()), ("b".into(), "2".into())];
    let hash: HashMap<String, String> = strings.iter().cloned().collect();
    let btree: BTreeMap<String, String> = strings.iter().cloned().collect();
    let set = TagSet::from_pairs([("a", "1"), ("b", "2")]);
    c.record_metric("hits", 1.0, pairs, MetricType::Counter).unwrap();
    c.record_metric("hits", 1.0, &[("a", "1"), ("b", "2")], MetricType::Counter)
        .unwrap();
    c.record_metric("hits", 1.0, &strings, MetricType::Counter).unwrap();
    c.record_metric("hits", 1.0, strings.as_slice(), MetricType::Counter)
        .unwrap();
    c.record_metric("hits", 1.0, &hash, MetricType::Counter).unwrap();
    c.record_metric("hits", 1.0, &btree, MetricType::Counter).unwrap();
    c.record_metric("hits", 1.0, &set, MetricType::Counter).unwrap();
    let s = c.get_metric_series("hits").unwrap();
    assert_eq!(s.tag_sets(), vec![set.clone()]);
    assert_eq!(
        s.aggregate(&set),
        Some(metrics_core::AggregateValue::Counter { total: 7.0 })
    );
    assert!(s.values().iter().all(|v| v.tags == set));
}

#[test]
fn tag_values_are_compared_exactly() {
    let (c, _clock) = collector();
    c.record_metric("m", 1.0, &[("k", "v")], MetricType::Gauge).unwrap();
    c.record_metric("m", 2.0, &[("k", "V")], MetricType::Gauge).unwrap();
    c.record_metric("m", 3.0, &[("k", "v ")], MetricType::Gauge).unwrap();
    let s = c.get_metric_series("m").unwrap();
    assert_eq!(s.tag_sets().len(), 3);
    assert_eq!(matching(&s, TagFilter::new().with("k", "v")), vec![1.0]);
}

#[test]
fn list_series_reports_names_types_and_sizes() {
    let (c, _clock) = jobs_series();
    c.record_metric("a_counter", 1.0, &[], MetricType::Counter).unwrap();
    let list = c.list_series();
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["a_counter", "job_seconds"]);
    assert_eq!(list[1].metric_type, MetricType::Timer);
    assert_eq!((list[1].samples, list[1].tag_sets), (5, 5));
    assert!(c.remove_series("a_counter").is_some());
    assert!(c.get_metric_series("a_counter").is_none());
    c.clear_all();
    assert!(c.list_series().is_empty());
}
