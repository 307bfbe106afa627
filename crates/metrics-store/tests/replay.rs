//! A stored run rebuilt into a collector (`StoreReader::replay_run`,
//! `run_snapshot`): what every reader of a run's aggregates shows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use metrics_core::{AggregateValue, MetricType, MetricsCollector, Snapshot};
use metrics_store::{MetricsStore, REPLAYED_SAMPLES_PER_SERIES, RunFilter, RunInfo, StoreOptions, StoreReader};

fn aggregate(snapshot: &Snapshot, name: &str, tag: Option<(&str, &str)>) -> AggregateValue {
    let series = snapshot.series(name).unwrap_or_else(|| panic!("no {name}"));
    series
        .aggregates
        .iter()
        .find(|a| tag.is_none_or(|(k, v)| a.tags.iter().any(|t| t == (k, v))))
        .unwrap_or_else(|| panic!("no {tag:?} in {name}"))
        .value
        .clone()
}

fn counter(v: &AggregateValue) -> f64 {
    match v {
        AggregateValue::Counter { total } => *total,
        other => panic!("not a counter: {other:?}"),
    }
}

/// A run being recorded: no aggregate snapshot yet, or only one taken
/// before most of its samples. Its rebuild counts what was committed.
#[test]
fn a_run_being_recorded_is_rebuilt_from_its_committed_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let c = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(&path, StoreOptions::default()).unwrap();
    let run = store.begin_run(&RunInfo::current("live")).unwrap();
    drop(c.counter("job_status_total", &[("status", "completed")]).unwrap());
    c.counter("retries_total", &[]).unwrap().increment(3);
    store.write_snapshot(run, &c.aggregate_snapshot()).unwrap();
    let recording = store.record(Arc::clone(&c), run).unwrap();
    for _ in 0..5 {
        c.record_metric("job_status_total", 1.0, &[("status", "completed")], MetricType::Counter)
            .unwrap();
    }
    recording.flush().unwrap();

    let reader = StoreReader::open(&path).unwrap();
    let snapshot = reader.run_snapshot(&RunFilter::Latest).unwrap();
    assert_eq!(counter(&aggregate(&snapshot, "job_status_total", None)), 5.0);
    assert_eq!(
        counter(&aggregate(&snapshot, "retries_total", None)),
        3.0,
        "a total kept without samples comes from the snapshot"
    );
    let (name, replayed) = reader.run_collector(&RunFilter::Named("li".into())).unwrap();
    assert_eq!(name, "live");
    assert_eq!(replayed.aggregate_snapshot().series, snapshot.series);
    let all = reader.replay_run(&RunFilter::All, &MetricsCollector::default());
    assert!(all.unwrap_err().to_string().contains("one at a time"));
    drop(recording);
}

/// A series with more samples than a replay keeps: the collector keeps the
/// newest, the aggregates count them all, and a tag set whose samples are
/// all among the older ones is counted once (not again from the snapshot).
#[test]
fn a_long_run_counts_every_sample_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let c = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(&path, StoreOptions::default()).unwrap();
    let run = store.begin_run(&RunInfo::current("long")).unwrap();
    let recording = store.record(Arc::clone(&c), run).unwrap();
    let start = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let late = REPLAYED_SAMPLES_PER_SERIES + 5;
    for i in 0..(10 + late) {
        let at = start + time::Duration::microseconds(i as i64);
        let phase = if i < 10 { "early" } else { "late" };
        c.record_metric_at("events_total", 1.0, &[("phase", phase)], MetricType::Counter, at)
            .unwrap();
        c.record_metric_at("job_duration_seconds", 0.5, &[], MetricType::Timer, at)
            .unwrap();
        if i % 50_000 == 0 {
            recording.flush().unwrap();
        }
    }
    let (_, status) = recording.finish().unwrap();
    assert_eq!(status.dropped, 0);

    let reader = StoreReader::open(&path).unwrap();
    let (_, replayed) = reader.run_collector(&RunFilter::Named("long".into())).unwrap();
    let snapshot = replayed.aggregate_snapshot();
    assert_eq!(
        counter(&aggregate(&snapshot, "events_total", Some(("phase", "early")))),
        10.0
    );
    assert_eq!(
        counter(&aggregate(&snapshot, "events_total", Some(("phase", "late")))),
        late as f64
    );
    match aggregate(&snapshot, "job_duration_seconds", None) {
        AggregateValue::Histogram(h) => {
            assert_eq!(h.count, (10 + late) as u64);
            assert!((h.sum - 0.5 * (10 + late) as f64).abs() < 1e-6, "{}", h.sum);
        }
        other => panic!("{other:?}"),
    }
    let kept = replayed.get_metric_series("events_total").unwrap().len();
    assert_eq!(kept, REPLAYED_SAMPLES_PER_SERIES, "the newest samples are kept");
    assert_eq!(reader.run_snapshot(&RunFilter::Latest).unwrap().series, snapshot.series);
}
