//! Alert windows over a real metrics database (metrics-store): a window
//! longer than the collector's retention, a window across a restart (with
//! the alert's state kept), every sample counted once, and a history that
//! cannot be read reported, not silent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use metrics_alerts::{AlertStatus, Evaluator, JsonFileStore, RuleSet, StoreHistory};
use metrics_core::clock::ManualClock;
use metrics_core::{MetricType, MetricsCollector, MetricsConfig};
use metrics_store::{MetricsStore, Recording, RunFilter, RunInfo, StoreOptions};

/// A collector that keeps 10 minutes of samples, on a clock the test moves
/// (starting now, so the database's own 30-day retention keeps them).
fn collector(clock: &Arc<ManualClock>) -> Arc<MetricsCollector> {
    let config = MetricsConfig {
        retention: Duration::from_secs(600),
        ..MetricsConfig::default()
    };
    Arc::new(MetricsCollector::with_clock(config, clock.clone()))
}

fn now_clock() -> Arc<ManualClock> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    Arc::new(ManualClock::new(i64::try_from(now).unwrap()))
}

fn record_into(db: &Path, collector: &Arc<MetricsCollector>, run: &str) -> Recording {
    let store = MetricsStore::open(db, StoreOptions::default()).unwrap();
    let run = store.begin_run(&RunInfo::current(run)).unwrap();
    store.record(Arc::clone(collector), run).unwrap()
}

const RULES: &str = r#"
[[rule]]
name = "ManyErrors"
expr = 'increase(job_errors_total[1h]) > 4 by (batch_id)'

[[rule]]
name = "SlowJobs"
expr = 'p50(job_duration_seconds[1h]) > 2s'

[[rule]]
name = "HeartbeatStopped"
expr = 'absent(heartbeat[1h])'
"#;

fn evaluator(dir: &Path, collector: &Arc<MetricsCollector>, history: bool) -> Evaluator {
    let rules = RuleSet::parse("rules.toml", RULES).unwrap();
    let states = JsonFileStore::new(dir.join(if history { "with.json" } else { "without.json" }));
    let ev = Evaluator::new(rules, Arc::clone(collector), Box::new(states)).unwrap();
    if history {
        ev.with_history(StoreHistory::new(dir.join("metrics.db")))
    } else {
        ev
    }
}

fn value_of(ev: &Evaluator, rule: &str) -> Option<(AlertStatus, f64)> {
    ev.alerts()
        .into_iter()
        .find(|a| a.rule == rule)
        .map(|a| (a.status, a.value))
}

#[test]
fn a_window_longer_than_the_collector_keeps_reads_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let clock = now_clock();
    let c = collector(&clock);
    let recording = record_into(&dir.path().join("metrics.db"), &c, "run-1");
    let errors = |n: usize| {
        for _ in 0..n {
            c.record_metric("job_errors", 1.0, &[("batch_id", "b1")], MetricType::Counter)
                .unwrap();
        }
    };
    // 40 minutes ago: 4 errors, slow jobs and a heartbeat, all gone from the collector by now.
    errors(4);
    for d in [5.0, 6.0, 7.0] {
        c.record_metric("job_duration_seconds", d, &[], MetricType::Timer)
            .unwrap();
    }
    c.record_metric("heartbeat", 1.0, &[], MetricType::Gauge).unwrap();
    clock.advance(Duration::from_secs(40 * 60));
    // Now: 2 more errors and one fast job, which the collector still holds.
    errors(2);
    c.record_metric("job_duration_seconds", 0.1, &[], MetricType::Timer)
        .unwrap();
    recording.flush().unwrap();
    assert_eq!(
        c.get_metric_series("job_errors").unwrap().values().len(),
        2,
        "the collector kept only the last 10 minutes"
    );

    // The collector alone sees 2 errors, one fast job and no heartbeat.
    let mut alone = evaluator(dir.path(), &c, false);
    let report = alone.evaluate();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(value_of(&alone, "ManyErrors"), None);
    assert_eq!(value_of(&alone, "SlowJobs"), None);
    assert_eq!(
        value_of(&alone, "HeartbeatStopped").map(|a| a.0),
        Some(AlertStatus::Firing)
    );

    // With the database: 6 errors (the 2 recent ones once, though both hold them),
    // the median of 0.1, 5, 6 and 7 is 5.5 s, and the heartbeat was seen.
    let mut with = evaluator(dir.path(), &c, true);
    let report = with.evaluate();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(value_of(&with, "ManyErrors"), Some((AlertStatus::Firing, 6.0)));
    assert_eq!(value_of(&with, "SlowJobs"), Some((AlertStatus::Firing, 5.5)));
    assert_eq!(value_of(&with, "HeartbeatStopped"), None);
    let alert = with.alerts().into_iter().find(|a| a.rule == "ManyErrors").unwrap();
    assert_eq!(alert.labels["batch_id"], "b1");

    // Past the hour the old samples leave the window: the alerts resolve.
    clock.advance(Duration::from_secs(25 * 60));
    with.evaluate();
    assert_eq!(value_of(&with, "ManyErrors").map(|a| a.0), Some(AlertStatus::Resolved));
    assert_eq!(value_of(&with, "SlowJobs").map(|a| a.0), Some(AlertStatus::Resolved));
    drop(recording);
}

#[test]
fn after_a_restart_the_window_still_sees_the_errors_and_the_alert_is_not_fired_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("metrics.db");
    let clock = now_clock();
    let fired_at = {
        let c = collector(&clock);
        let recording = record_into(&db, &c, "before");
        for _ in 0..5 {
            c.record_metric("job_errors", 1.0, &[("batch_id", "b1")], MetricType::Counter)
                .unwrap();
        }
        let mut ev = evaluator(dir.path(), &c, true);
        let report = ev.evaluate();
        assert_eq!(report.changes.len(), 2, "{:?}", report.changes); // ManyErrors and HeartbeatStopped fire
        recording.finish().unwrap();
        ev.alerts()
            .into_iter()
            .find(|a| a.rule == "ManyErrors")
            .unwrap()
            .fired_at
    };
    clock.advance(Duration::from_secs(120));

    // A new process: an empty collector, a new run in the same database.
    let c = collector(&clock);
    let recording = record_into(&db, &c, "after");
    let mut ev = evaluator(dir.path(), &c, true);
    let report = ev.evaluate();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.changes.is_empty(), "nothing changes: {:?}", report.changes);
    let alert = ev.alerts().into_iter().find(|a| a.rule == "ManyErrors").unwrap();
    assert_eq!((alert.status, alert.value), (AlertStatus::Firing, 5.0));
    assert_eq!(alert.fired_at, fired_at);

    // Only the new run's samples: the restart forgot them, and the alert resolves.
    let rules = RuleSet::parse("rules.toml", RULES).unwrap();
    let states = JsonFileStore::new(dir.path().join("with.json"));
    let mut only_after = Evaluator::new(rules, Arc::clone(&c), Box::new(states))
        .unwrap()
        .with_history(StoreHistory::new(&db).with_runs(RunFilter::Named("after".into())));
    only_after.evaluate();
    assert_eq!(
        value_of(&only_after, "ManyErrors").map(|a| a.0),
        Some(AlertStatus::Resolved)
    );
    drop(recording);
}

#[test]
fn a_history_that_cannot_be_read_is_reported_and_the_collector_still_judges() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("metrics.db"),
        b"this is not a database, it is a text file",
    )
    .unwrap();
    let clock = now_clock();
    let c = collector(&clock);
    for _ in 0..5 {
        c.record_metric("job_errors", 1.0, &[("batch_id", "b1")], MetricType::Counter)
            .unwrap();
    }
    let mut ev = evaluator(dir.path(), &c, true);
    let report = ev.evaluate();
    assert!(!report.errors.is_empty());
    assert!(
        report.errors.iter().all(|e| e.contains("metrics.db")),
        "{:?}",
        report.errors
    );
    assert_eq!(value_of(&ev, "ManyErrors"), Some((AlertStatus::Firing, 5.0)));
    // A database that does not exist yet reads as empty: no error.
    let missing = tempfile::tempdir().unwrap();
    let mut ev = evaluator(missing.path(), &c, true);
    assert!(ev.evaluate().errors.is_empty());
    assert_eq!(value_of(&ev, "ManyErrors"), Some((AlertStatus::Firing, 5.0)));
}
