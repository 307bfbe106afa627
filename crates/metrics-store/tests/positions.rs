//! Send positions in the store (schema version 2), and the migration of a
//! version-1 database to it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use metrics_core::{MetricType, MetricsCollector};
use metrics_store::{MetricsStore, Positions, RunInfo, SCHEMA_VERSION, SampleQuery, StoreOptions, StoreReader};

fn pragma(path: &std::path::Path, name: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).unwrap()
}

#[test]
fn a_version_1_database_is_migrated_forward_and_keeps_its_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    {
        let collector = Arc::new(MetricsCollector::default());
        let store = MetricsStore::open(&path, StoreOptions::default()).unwrap();
        let run = store.begin_run(&RunInfo::current("old")).unwrap();
        let recording = store.record(Arc::clone(&collector), run).unwrap();
        for i in 0..5 {
            collector
                .record_metric("m", f64::from(i), &[], MetricType::Gauge)
                .unwrap();
        }
        recording.finish().unwrap();
    }
    // What a version-1 build left: the same tables but send_positions.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE send_positions; PRAGMA user_version = 1;")
            .unwrap();
    }
    assert_eq!(pragma(&path, "user_version"), 1);
    let store = MetricsStore::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(pragma(&path, "user_version"), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 2);
    let run = store.begin_run(&RunInfo::current("old")).unwrap();
    let positions = store.send_positions(run, "http://receiver/api/v1/write");
    positions.acknowledge(&Positions::from([("m".to_owned(), 7)])).unwrap();
    drop(store);
    let reader = StoreReader::open(&path).unwrap();
    assert_eq!(reader.query(&SampleQuery::new("m")).unwrap().len(), 5, "samples kept");
    assert_eq!(
        reader.send_positions("old", "http://receiver/api/v1/write").unwrap(),
        Positions::from([("m".to_owned(), 7)])
    );
}

#[test]
fn positions_never_move_back_are_kept_per_run_and_receiver_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let (a, b) = ("http://a/api/v1/write", "http://b/v1/metrics");
    {
        let store = MetricsStore::open(&path, StoreOptions::default()).unwrap();
        let one = store.begin_run(&RunInfo::current("one")).unwrap();
        let two = store.begin_run(&RunInfo::current("two")).unwrap();
        let p = store.send_positions(one, a);
        assert!(p.acknowledged().unwrap().is_empty());
        assert_eq!(p.in_flight().unwrap(), None);
        p.acknowledge(&Positions::from([("x".into(), 5), ("y".into(), 9)]))
            .unwrap();
        p.acknowledge(&Positions::from([("x".into(), 3)])).unwrap();
        // The batch being posted is recorded, then cleared by its acknowledgement.
        p.set_in_flight(&Positions::from([("x".into(), 8), ("z".into(), 2)]))
            .unwrap();
        assert_eq!(
            p.in_flight().unwrap(),
            Some(Positions::from([("x".into(), 8), ("z".into(), 2)]))
        );
        // A later in-flight record replaces the earlier one.
        p.set_in_flight(&Positions::from([("x".into(), 11)])).unwrap();
        assert_eq!(p.in_flight().unwrap(), Some(Positions::from([("x".into(), 11)])));
        p.acknowledge(&Positions::from([("x".into(), 11)])).unwrap();
        assert_eq!(p.in_flight().unwrap(), None);
        // A batch in flight when the process stops stays recorded.
        p.set_in_flight(&Positions::from([("y".into(), 12)])).unwrap();
        store
            .send_positions(one, b)
            .acknowledge(&Positions::from([("x".into(), 1)]))
            .unwrap();
        store
            .send_positions(two, a)
            .acknowledge(&Positions::from([("x".into(), 100)]))
            .unwrap();
    }
    let store = MetricsStore::open(&path, StoreOptions::default()).unwrap();
    let one = store.begin_run(&RunInfo::current("one")).unwrap();
    let p = store.send_positions(one, a);
    assert_eq!(
        p.acknowledged().unwrap(),
        Positions::from([("x".into(), 11), ("y".into(), 9)])
    );
    assert_eq!(p.in_flight().unwrap(), Some(Positions::from([("y".into(), 12)])));
    assert_eq!(
        store.send_positions(one, b).acknowledged().unwrap(),
        Positions::from([("x".into(), 1)])
    );
    drop(store);
    let reader = StoreReader::open(&path).unwrap();
    assert_eq!(
        reader.send_positions("two", a).unwrap(),
        Positions::from([("x".into(), 100)])
    );
    assert!(reader.send_positions("three", a).unwrap().is_empty());
}

#[test]
fn a_flush_reports_up_to_when_samples_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let collector = Arc::new(MetricsCollector::default());
    // No timed flush: the sample is the explicit flush's however slowly
    // this test runs.
    let options = StoreOptions {
        flush_interval: std::time::Duration::from_secs(3600),
        ..StoreOptions::default()
    };
    let store = MetricsStore::open(&path, options).unwrap();
    let run = store.begin_run(&RunInfo::current("r")).unwrap();
    let recording = store.record(Arc::clone(&collector), run).unwrap();
    collector.record_metric("m", 1.0, &[], MetricType::Gauge).unwrap();
    let stamped = collector
        .get_metric_series("m")
        .unwrap()
        .values_matching(&metrics_core::TagFilter::new())[0]
        .timestamp;
    let flusher = recording.flusher();
    let report = std::thread::spawn(move || flusher.flush().unwrap()).join().unwrap();
    assert!(report.durable_until >= stamped.unix_timestamp_nanos() as i64);
    assert_eq!(report.samples, 1);
    let again = recording.flusher();
    recording.finish().unwrap();
    assert!(again.flush().unwrap_err().to_string().contains("stopped"));
}
