//! The store through its public API: what is written, what is refused,
//! what survives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_core::{MetricType, MetricsCollector, MetricsConfig, clock::ManualClock};
use metrics_store::{MetricsStore, RunFilter, RunInfo, SampleQuery, StoreError, StoreOptions, StoreReader, lock_path};

fn record_into(
    path: &Path,
    run: &str,
    options: StoreOptions,
    f: impl FnOnce(&MetricsCollector),
) -> metrics_store::StoreStatus {
    let collector = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(path, options).unwrap();
    let run = store.begin_run(&RunInfo::current(run)).unwrap();
    let recording = store.record(Arc::clone(&collector), run).unwrap();
    f(&collector);
    recording.finish().unwrap().1
}

#[test]
fn samples_of_two_runs_are_queried_by_run_tag_time_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let status = record_into(&path, "first", StoreOptions::default(), |c| {
        for i in 0..10 {
            let status = if i % 2 == 0 { "completed" } else { "failed" };
            c.record_metric(
                "job_duration_seconds",
                f64::from(i),
                &[("status", status)],
                MetricType::Timer,
            )
            .unwrap();
        }
        c.counter("jobs_total", &[]).unwrap().increment(10);
    });
    assert_eq!((status.written, status.dropped, status.failed), (10, 0, 0));
    record_into(&path, "second", StoreOptions::default(), |c| {
        c.record_metric(
            "job_duration_seconds",
            100.0,
            &[("status", "completed")],
            MetricType::Timer,
        )
        .unwrap();
    });

    let reader = StoreReader::open(&path).unwrap();
    let latest = reader.query(&SampleQuery::new("job_duration_seconds")).unwrap();
    assert_eq!(latest.iter().map(|s| s.value).collect::<Vec<_>>(), vec![100.0]);
    assert_eq!(latest[0].run, "second");

    let first = SampleQuery {
        runs: RunFilter::Named("first".into()),
        ..SampleQuery::new("job_duration_seconds")
    };
    let all = reader.query(&first).unwrap();
    assert_eq!(
        all.iter().map(|s| s.value).collect::<Vec<_>>(),
        (0..10).map(f64::from).collect::<Vec<_>>()
    );
    assert!(all.windows(2).all(|w| w[0].timestamp_nanos <= w[1].timestamp_nanos));

    let failed = SampleQuery {
        tags: vec![("status".into(), "failed".into())],
        limit: Some(2),
        ..first.clone()
    };
    assert_eq!(
        reader
            .query(&failed)
            .unwrap()
            .iter()
            .map(|s| s.value)
            .collect::<Vec<_>>(),
        vec![7.0, 9.0]
    );

    let since = SampleQuery {
        since: Some(all[5].timestamp_nanos),
        until: Some(all[7].timestamp_nanos),
        ..first.clone()
    };
    assert_eq!(reader.query(&since).unwrap().len(), 3);

    // What matches before the limit: the limit is ignored, tags and the
    // time range are not (the range cuts through the run's one chunk).
    assert_eq!(reader.count(&failed).unwrap(), 5, "5 failed, 2 returned");
    assert_eq!(reader.count(&since).unwrap(), 3);
    assert_eq!(reader.count(&first).unwrap(), 10);

    let across = SampleQuery {
        runs: RunFilter::All,
        ..SampleQuery::new("job_duration_seconds")
    };
    let summary = reader.summary(&across).unwrap().unwrap();
    assert_eq!((summary.count, summary.sum, summary.max), (11, 145.0, 100.0));
    assert_eq!(reader.count(&across).unwrap(), 11);
    assert_eq!(reader.count(&SampleQuery::new("nothing")).unwrap(), 0);

    let runs = reader.runs().unwrap();
    assert_eq!(
        runs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        vec!["first", "second"]
    );
    assert_eq!(runs[0].samples, 10);
    assert!(runs.iter().all(|r| r.ended_at.is_some()));
    assert_eq!(runs[0].series[0].name, "job_duration_seconds");

    // The counter kept no samples, but its total is in the run's snapshot.
    let aggregates = reader.latest_aggregates(&RunFilter::Named("first".into())).unwrap();
    let jobs = aggregates.iter().find(|a| a.name == "jobs_total").unwrap();
    assert_eq!(jobs.value, metrics_core::AggregateValue::Counter { total: 10.0 });
    let series = reader.series().unwrap();
    let timer = series.iter().find(|s| s.name == "job_duration_seconds").unwrap();
    assert_eq!(timer.unit.as_deref(), Some("seconds"));

    let missing = reader.query(&SampleQuery {
        runs: RunFilter::Named("third".into()),
        ..SampleQuery::new("job_duration_seconds")
    });
    assert!(missing.unwrap_err().to_string().contains("\"third\""));
}

#[test]
fn a_continued_run_keeps_the_samples_of_both_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    for _ in 0..2 {
        record_into(&path, "batch-1", StoreOptions::default(), |c| {
            for _ in 0..3 {
                c.record_metric("attempts", 1.0, &[], MetricType::Counter).unwrap();
            }
        });
    }
    let reader = StoreReader::open(&path).unwrap();
    assert_eq!(reader.runs().unwrap().len(), 1);
    let q = SampleQuery {
        runs: RunFilter::Named("batch-1".into()),
        ..SampleQuery::new("attempts")
    };
    assert_eq!(reader.summary(&q).unwrap().unwrap().count, 6);
}

#[test]
fn a_foreign_or_corrupt_file_is_refused_by_name_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.db");
    std::fs::write(&text, b"these are my notes, not a database\n".repeat(200)).unwrap();
    let before = std::fs::read(&text).unwrap();
    let e = MetricsStore::open(&text, StoreOptions::default()).unwrap_err();
    assert!(matches!(e, StoreError::NotADatabase { .. }), "{e}");
    assert!(e.to_string().contains("notes.db"), "{e}");
    assert_eq!(std::fs::read(&text).unwrap(), before);
    assert!(!lock_path(&text).exists(), "no lock file beside a refused file");
    assert!(StoreReader::open(&text).is_err());

    let other = dir.path().join("other.db");
    if !foreign_sqlite_file(&other) {
        return;
    }
    let before = std::fs::read(&other).unwrap();
    let e = MetricsStore::open(&other, StoreOptions::default()).unwrap_err();
    assert!(matches!(e, StoreError::Foreign { .. }), "{e}");
    assert!(
        e.to_string().contains("other.db") && e.to_string().contains("contacts"),
        "{e}"
    );
    assert_eq!(std::fs::read(&other).unwrap(), before);
}

/// A database of another program, made with the sqlite3 shell; false
/// (skip) when the shell is missing outside CI.
fn foreign_sqlite_file(path: &Path) -> bool {
    let status = std::process::Command::new("sqlite3")
        .arg(path)
        .arg("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('ada');")
        .status();
    if !test_support::require("sqlite3", status.is_ok()) {
        return false;
    }
    assert!(
        status.is_ok_and(|s| s.success()),
        "sqlite3 could not create {}",
        path.display()
    );
    true
}

#[test]
fn a_newer_schema_is_refused_and_not_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    record_into(&path, "r", StoreOptions::default(), |c| {
        c.record_metric("m", 1.0, &[], MetricType::Gauge).unwrap();
    });
    let status = std::process::Command::new("sqlite3")
        .arg(&path)
        .arg("PRAGMA user_version = 99;")
        .status();
    if !test_support::require("sqlite3", status.is_ok()) {
        return;
    }
    let e = MetricsStore::open(&path, StoreOptions::default()).unwrap_err();
    assert!(matches!(e, StoreError::TooNew { found: 99, .. }), "{e}");
    assert!(
        e.to_string().contains("metrics.db") && e.to_string().contains("99"),
        "{e}"
    );
    let e = StoreReader::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::TooNew { .. }), "{e}");
}

#[test]
fn a_second_writer_is_told_who_holds_the_database_and_readers_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let first = MetricsStore::open(&path, StoreOptions::default()).unwrap();
    first.begin_run(&RunInfo::current("r")).unwrap();
    let e = MetricsStore::open(&path, StoreOptions::default()).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, StoreError::Locked { .. }), "{text}");
    assert!(
        text.contains(&format!("pid {}", std::process::id())) && text.contains("metrics.db"),
        "{text}"
    );
    assert_eq!(StoreReader::open(&path).unwrap().runs().unwrap().len(), 1);
    drop(first);
    MetricsStore::open(&path, StoreOptions::default()).unwrap();
}

#[test]
fn a_full_hand_off_drops_and_counts_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let options = StoreOptions {
        handoff_capacity: 64,
        flush_interval: Duration::from_secs(3600),
        ..StoreOptions::default()
    };
    let collector = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(&path, options).unwrap();
    let run = store.begin_run(&RunInfo::current("r")).unwrap();
    let recording = store.record(Arc::clone(&collector), run).unwrap();
    // One thread records far more than the hand-off holds between two
    // polls of the writer; every record call returns.
    for i in 0..100_000 {
        collector
            .record_metric("m", f64::from(i), &[], MetricType::Gauge)
            .unwrap();
    }
    let (_, status) = recording.finish().unwrap();
    assert!(status.dropped > 0, "{status:?}");
    assert_eq!(status.written + status.dropped, 100_000, "{status:?}");
    let dropped = collector
        .get_metric_series("metrics_store_dropped_samples_total")
        .unwrap();
    assert_eq!(
        dropped.aggregate(&[] as &[(&str, &str)]),
        Some(metrics_core::AggregateValue::Counter {
            total: status.dropped as f64
        })
    );
    let reader = StoreReader::open(&path).unwrap();
    assert_eq!(
        reader.summary(&SampleQuery::new("m")).unwrap().unwrap().count as u64,
        status.written
    );
}

#[test]
fn a_full_database_is_reported_once_and_recording_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&reports);
    let options = StoreOptions {
        max_size_bytes: Some(256 * 1024),
        flush_interval: Duration::from_millis(20),
        on_error: Some(Arc::new(move |e: &StoreError| seen.lock().unwrap().push(e.to_string()))),
        ..StoreOptions::default()
    };
    let collector = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(&path, options).unwrap();
    let run = store.begin_run(&RunInfo::current("r")).unwrap();
    let recording = store.record(Arc::clone(&collector), run).unwrap();
    for round in 0..20u32 {
        for i in 0..20_000u32 {
            collector
                .record_metric("m", f64::from(i) * 1.000_001 + f64::from(round), &[], MetricType::Gauge)
                .unwrap();
        }
        let _ = recording.flush();
    }
    assert_eq!(
        collector.get_metric_series("m").unwrap().len(),
        100_000,
        "memory keeps its cap"
    );
    let status = recording.status();
    let _ = recording.finish();
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].contains("metrics.db") && reports[0].contains("full"),
        "{reports:?}"
    );
    assert!(status.failed > 0 && status.written > 0, "{status:?}");
    assert!(status.errors > 1, "later failures are counted: {status:?}");
    // What was committed before the disk filled is intact.
    let reader = StoreReader::open(&path).unwrap();
    assert_eq!(
        reader.summary(&SampleQuery::new("m")).unwrap().unwrap().count as u64,
        status.written
    );
}

#[test]
fn retention_deletes_old_chunks_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let clock = Arc::new(ManualClock::at(
        time::OffsetDateTime::now_utc() - time::Duration::days(40),
    ));
    let collector = Arc::new(MetricsCollector::with_clock(
        MetricsConfig {
            retention: Duration::from_secs(100 * 86_400),
            ..MetricsConfig::default()
        },
        clock.clone(),
    ));
    let options = StoreOptions {
        retention_batch: 3,
        retention_interval: Duration::from_secs(3600),
        ..StoreOptions::default()
    };
    let store = MetricsStore::open(&path, options).unwrap();
    let run = store.begin_run(&RunInfo::current("r")).unwrap();
    let recording = store.record(Arc::clone(&collector), run).unwrap();
    // Ten old chunks (one per flush), then ten recent ones.
    for age in ["40", "1"] {
        if age == "1" {
            clock.advance(Duration::from_secs(39 * 86_400));
        }
        for i in 0..10 {
            collector
                .record_metric("m", f64::from(i), &[("age", age)], MetricType::Gauge)
                .unwrap();
            recording.flush().unwrap();
        }
    }
    // The writer applies retention itself once it is idle: on a slow
    // machine it may have deleted some of the old chunks already.
    let (store, status) = recording.finish().unwrap();
    let deleted = store.apply_retention(time::OffsetDateTime::now_utc()).unwrap();
    assert!(
        deleted + status.expired_rows >= 10,
        "{deleted} + {}",
        status.expired_rows
    );
    let reader = StoreReader::open(&path).unwrap();
    let left = reader.query(&SampleQuery::new("m")).unwrap();
    assert_eq!(left.len(), 10);
    assert!(left.iter().all(|s| s.tags["age"] == "1"));
}

#[test]
fn state_rows_survive_reopening_and_readers_follow_chunks_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let collector = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(&path, StoreOptions::default()).unwrap();
    store.put_state("remote_write", "position", b"0").unwrap();
    let run = store.begin_run(&RunInfo::current("r")).unwrap();
    let recording = store.record(Arc::clone(&collector), run).unwrap();
    collector.record_metric("a", 1.0, &[], MetricType::Gauge).unwrap();
    recording.flush().unwrap();
    let reader = StoreReader::open(&path).unwrap();
    let first = reader.chunks_after(0, 100).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].series.as_str(), first[0].samples[0].1), ("a", 1.0));
    let position = first[0].chunk_id;
    recording
        .put_state("remote_write", "position", position.to_string().as_bytes())
        .unwrap();
    collector
        .record_metric("b", 2.0, &[("k", "v")], MetricType::Gauge)
        .unwrap();
    recording.flush().unwrap();
    let next = reader.chunks_after(position, 100).unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!((next[0].series.as_str(), next[0].tags["k"].as_str()), ("b", "v"));
    let (store, _) = recording.finish().unwrap();
    assert!(
        store
            .delete_state("remote_write", "missing")
            .is_ok_and(|existed| !existed)
    );
    drop(store);
    let reopened = MetricsStore::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(
        reopened.get_state("remote_write", "position").unwrap(),
        Some(position.to_string().into_bytes())
    );
    assert_eq!(reader.list_state("remote_write").unwrap().len(), 1);
}

#[test]
fn a_json_export_imports_as_a_run_and_bad_input_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let old = MetricsCollector::default();
    for i in 0..5 {
        old.record_metric(
            "job_duration_seconds",
            f64::from(i),
            &[("status", "completed")],
            MetricType::Timer,
        )
        .unwrap();
    }
    old.counter("jobs_total", &[]).unwrap().increment(5);
    let json = old.export_to_json();
    let store = MetricsStore::open(&path, StoreOptions::default()).unwrap();
    let run = store.begin_run(&RunInfo::current("imported")).unwrap();
    let imported = store.import_json(run, &json, "metrics.json").unwrap();
    assert_eq!((imported.series, imported.samples), (2, 5));
    let e = store.import_json(run, "{\"m\": [1, 2]}", "broken.json").unwrap_err();
    assert!(e.to_string().contains("broken.json"), "{e}");
    let reader = StoreReader::open(&path).unwrap();
    let samples = reader.query(&SampleQuery::new("job_duration_seconds")).unwrap();
    let original = old.get_metric_series("job_duration_seconds").unwrap().values();
    assert_eq!(samples.len(), 5);
    for (s, o) in samples.iter().zip(&original) {
        assert_eq!(s.timestamp_nanos, metrics_store::time_spec::unix_nanos(o.timestamp));
        assert_eq!(s.value, o.value);
    }
    let jobs = reader.latest_aggregates(&RunFilter::Latest).unwrap();
    assert!(jobs.iter().any(|a| a.name == "jobs_total"));
}

#[test]
fn runs_are_named_by_name_batch_form_id_or_unique_prefix_and_a_miss_lists_the_closest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    for run in ["20261201-101010-000001-aaaa", "20261201-101010-000002-bbbb"] {
        record_into(&path, run, StoreOptions::default(), |c| {
            c.counter("jobs_total", &[]).unwrap().increment(1);
        });
    }
    let reader = StoreReader::open(&path).unwrap();
    let name = |input: &str| reader.named_run(&RunFilter::Named(input.into()));
    for input in [
        "20261201-101010-000001-aaaa",
        "batch-20261201-101010-000001-aaaa",
        "20261201-101010-000001",
        "batch-20261201-101010-000001",
        "1",
    ] {
        assert_eq!(
            name(input).unwrap().as_deref(),
            Some("20261201-101010-000001-aaaa"),
            "{input}"
        );
    }
    let e = name("20261201-1010").unwrap_err();
    assert!(
        e.to_string().contains("ambiguous") && e.to_string().contains("000002-bbbb"),
        "{e}"
    );
    let e = name("20261201-101010-000003-cccc").unwrap_err();
    assert!(
        matches!(&e, StoreError::UnknownRun { closest, .. } if closest.len() == 2),
        "{e}"
    );
    assert!(e.to_string().contains("the closest: 20261201-101010-000"), "{e}");
    // Aggregate-only series are listed with the run, with 0 samples.
    let runs = reader.runs().unwrap();
    assert!(
        runs[0].series.iter().any(|s| s.name == "jobs_total" && s.samples == 0),
        "{runs:?}"
    );
}
