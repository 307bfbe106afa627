//! The worker pool: retries with backoff (injected sleeper, no waiting),
//! bounded concurrency, stop and kill, timeouts, panics, metrics, failed rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use batch_engine::{
    BatchEngine, BatchError, BatchObserver, ExecuteOptions, JobContext, JobError, JobEvent, JobStatus, NoObserver,
    RunContext, Sleeper, StopToken,
};
use metrics_core::{AggregateValue, MetricsCollector, SummaryQuery, TagFilter};

struct Batch {
    _dir: tempfile::TempDir,
    engine: BatchEngine,
    metrics: Arc<MetricsCollector>,
    batch_id: String,
}

fn batch(rows: usize, sleeper: Option<Arc<dyn Sleeper>>) -> Batch {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    let mut text = String::from("id,name\n");
    for i in 0..rows {
        text.push_str(&format!("{i},row {i}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let metrics = Arc::new(MetricsCollector::default());
    let mut engine = BatchEngine::new(RunContext::new(dir.path().join("a"))).with_collector(Arc::clone(&metrics));
    if let Some(s) = sleeper {
        engine = engine.with_sleeper(s);
    }
    let batch_id = engine.create_batch_jobs(&csv).unwrap().batch_id;
    Batch {
        _dir: dir,
        engine,
        metrics,
        batch_id,
    }
}

#[derive(Default)]
struct RecordingSleeper(Mutex<Vec<Duration>>);
impl Sleeper for RecordingSleeper {
    fn sleep(&self, d: Duration, _stop: &StopToken) {
        self.0.lock().unwrap().push(d);
    }
}

fn counter(metrics: &MetricsCollector, name: &str, key: &str, value: &str) -> f64 {
    let series = metrics.get_metric_series(name).unwrap();
    series
        .aggregates()
        .iter()
        .filter(|a| a.tags.get(key) == Some(value) || key.is_empty())
        .map(|a| match a.value {
            AggregateValue::Counter { total } => total,
            ref other => panic!("{other:?}"),
        })
        .sum()
}

#[test]
fn retries_back_off_exponentially_with_jitter() {
    let sleeper = Arc::new(RecordingSleeper::default());
    let b = batch(1, Some(sleeper.clone()));
    let runner = |job: &JobContext<'_>| {
        if job.attempt <= 3 {
            Err(JobError::runner(format!("flaky {}", job.attempt)))
        } else {
            Ok(())
        }
    };
    let options = ExecuteOptions {
        max_retries: 5,
        retry_delay: Duration::from_millis(100),
        max_retry_delay: Duration::from_millis(300),
        ..ExecuteOptions::default()
    };
    let r = b.engine.execute_batch(&b.batch_id, &runner, &options).unwrap();
    assert_eq!((r.summary.completed, r.counts.retries), (1, 3));
    let sleeps = sleeper.0.lock().unwrap().clone();
    assert_eq!(sleeps.len(), 3);
    for (d, base_ms) in sleeps.iter().zip([100u64, 200, 300]) {
        let base = Duration::from_millis(base_ms);
        assert!(*d >= base / 2 && *d <= base, "{d:?} not in [{:?}, {base:?}]", base / 2);
    }
    let job = &b.engine.get_batch(&b.batch_id).unwrap().jobs[0];
    assert_eq!(
        (job.status, job.attempts, job.error_message.as_deref()),
        (JobStatus::Completed, 4, None)
    );
    assert_eq!(counter(&b.metrics, "job_retries", "", ""), 3.0);
    assert_eq!(counter(&b.metrics, "job_errors", "error_type", "runner"), 3.0);
}

#[test]
fn exhausted_retries_fail_the_job_and_write_failed_rows() {
    let sleeper = Arc::new(RecordingSleeper::default());
    let b = batch(3, Some(sleeper.clone()));
    let runner = |job: &JobContext<'_>| {
        if job.row_index == 1 {
            Err(JobError::ExitCode { code: 2 })
        } else {
            Ok(())
        }
    };
    let options = ExecuteOptions {
        max_retries: 2,
        ..ExecuteOptions::default()
    };
    let r = b.engine.execute_batch(&b.batch_id, &runner, &options).unwrap();
    assert_eq!((r.summary.completed, r.summary.failed), (2, 1));
    assert_eq!(sleeper.0.lock().unwrap().len(), 2);
    let job = &b.engine.get_batch(&b.batch_id).unwrap().jobs[1];
    assert_eq!((job.status, job.attempts), (JobStatus::Failed, 3));
    assert_eq!(job.error_message.as_deref(), Some("exited with code 2"));
    let failed = std::fs::read_to_string(r.summary.failed_rows_csv.unwrap()).unwrap();
    assert_eq!(failed, "id,name\n1,row 1\n");
    assert_eq!(counter(&b.metrics, "job_errors", "error_type", "exit_code"), 3.0);
    assert_eq!(counter(&b.metrics, "job_status", "status", "failed"), 1.0);
}

#[test]
fn concurrency_is_bounded() {
    let b = batch(40, None);
    let now = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    // Each job waits (up to 10 s) until three have been in flight at once,
    // so the peak is the limit however the workers are scheduled, and a
    // fourth at once would show.
    let runner = |_: &JobContext<'_>| -> Result<(), JobError> {
        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(n, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while peak.load(Ordering::SeqCst) < 3 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(3));
        now.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    };
    let options = ExecuteOptions {
        concurrency: 3,
        ..ExecuteOptions::default()
    };
    let r = b.engine.execute_batch(&b.batch_id, &runner, &options).unwrap();
    assert_eq!(r.summary.completed, 40);
    let peak = peak.load(Ordering::SeqCst);
    assert_eq!(peak, 3, "peak concurrency");
    let in_flight = b.metrics.get_metric_series("jobs_in_flight").unwrap();
    let gauge: Vec<AggregateValue> = in_flight.aggregates().into_iter().map(|a| a.value).collect();
    assert!(
        matches!(gauge[..], [AggregateValue::Gauge { value }] if value == 0.0),
        "{gauge:?}"
    );
}

#[test]
fn stop_lets_the_running_job_finish_and_leaves_the_rest_pending() {
    let b = batch(10, None);
    let stop = b.engine.stop_token(&b.batch_id).unwrap();
    let runner = |job: &JobContext<'_>| -> Result<(), JobError> {
        if job.row_index == 4 {
            stop.request_stop();
        }
        Ok(())
    };
    let options = ExecuteOptions {
        concurrency: 1,
        ..ExecuteOptions::default()
    };
    let r = b.engine.execute_batch(&b.batch_id, &runner, &options).unwrap();
    assert!(r.stop_requested);
    assert_eq!((r.summary.completed, r.summary.pending), (5, 5));
    // A second execute honours the same stop; resume clears it.
    let again = b.engine.execute_batch(&b.batch_id, &runner, &options).unwrap();
    assert_eq!(again.counts.started, 0);
    let done = |_: &JobContext<'_>| -> Result<(), JobError> { Ok(()) };
    let r = b
        .engine
        .resume_batch(&b.batch_id, &done, &options, &NoObserver)
        .unwrap();
    assert_eq!((r.counts.started, r.summary.completed), (5, 10));
}

#[test]
fn kill_request_stops_the_running_job() {
    let b = batch(3, None);
    let stop = b.engine.stop_token(&b.batch_id).unwrap();
    let runner = |job: &JobContext<'_>| -> Result<(), JobError> {
        stop.request_kill();
        assert!(job.stop.is_killing());
        Err(JobError::Killed)
    };
    let options = ExecuteOptions {
        concurrency: 1,
        max_retries: 3,
        ..ExecuteOptions::default()
    };
    let r = b.engine.execute_batch(&b.batch_id, &runner, &options).unwrap();
    assert_eq!((r.summary.stopped, r.summary.pending, r.summary.failed), (1, 2, 0));
    assert_eq!(r.counts.retries, 0);
}

#[test]
fn a_stop_during_backoff_stops_instead_of_failing() {
    struct StoppingSleeper;
    impl Sleeper for StoppingSleeper {
        fn sleep(&self, _: Duration, stop: &StopToken) {
            stop.request_stop();
        }
    }
    let b = batch(2, Some(Arc::new(StoppingSleeper)));
    let runner = |_: &JobContext<'_>| -> Result<(), JobError> { Err(JobError::runner("no")) };
    let options = ExecuteOptions {
        concurrency: 1,
        max_retries: 3,
        ..ExecuteOptions::default()
    };
    let r = b.engine.execute_batch(&b.batch_id, &runner, &options).unwrap();
    assert_eq!((r.summary.stopped, r.summary.pending, r.summary.failed), (1, 1, 0));
    let job = &b.engine.get_batch(&b.batch_id).unwrap().jobs[0];
    assert_eq!(job.error_message.as_deref(), Some("no"));
}

#[test]
fn a_job_over_its_timeout_fails() {
    let b = batch(2, None);
    let runner = |job: &JobContext<'_>| -> Result<(), JobError> {
        if job.row_index == 0 {
            std::thread::sleep(Duration::from_millis(1500));
        }
        Ok(())
    };
    // Far apart, so the quick job is never over it on a loaded machine.
    let options = ExecuteOptions {
        job_timeout: Some(Duration::from_millis(300)),
        ..ExecuteOptions::default()
    };
    let r = b.engine.execute_batch(&b.batch_id, &runner, &options).unwrap();
    let m = b.engine.get_batch(&b.batch_id).unwrap();
    assert_eq!(m.jobs[0].status, JobStatus::Failed);
    assert!(m.jobs[0].error_message.as_deref().unwrap().starts_with("timed out"));
    assert_eq!(r.summary.completed, 1);
    assert_eq!(counter(&b.metrics, "job_errors", "error_type", "timeout"), 1.0);
}

#[test]
fn a_panicking_runner_fails_only_its_job() {
    let b = batch(3, None);
    let runner = |job: &JobContext<'_>| -> Result<(), JobError> {
        if job.row_index == 1 {
            panic!("bad row");
        }
        Ok(())
    };
    let r = b
        .engine
        .execute_batch(&b.batch_id, &runner, &ExecuteOptions::default())
        .unwrap();
    assert_eq!((r.summary.completed, r.summary.failed), (2, 1));
    let m = b.engine.get_batch(&b.batch_id).unwrap();
    assert_eq!(m.jobs[1].error_message.as_deref(), Some("runner panicked: bad row"));
}

#[test]
fn lifecycle_metrics_carry_only_batch_and_run_tags() {
    #[derive(Default)]
    struct Seen(AtomicUsize, AtomicUsize, AtomicUsize);
    impl BatchObserver for Seen {
        fn run_started(&self, jobs: usize) {
            self.0.store(jobs, Ordering::SeqCst);
        }
        fn job_started(&self, _: &str, _: usize) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
        fn job_finished(&self, e: &JobEvent<'_>) {
            assert_eq!(e.status, JobStatus::Completed);
            self.2.fetch_add(1, Ordering::SeqCst);
        }
    }
    let b = batch(10, None);
    let seen = Seen::default();
    let runner = |_: &JobContext<'_>| -> Result<(), JobError> { Ok(()) };
    let r = b
        .engine
        .execute_batch_with(&b.batch_id, &runner, &ExecuteOptions::default(), &seen)
        .unwrap();
    assert_eq!(
        (
            seen.0.load(Ordering::SeqCst),
            seen.1.load(Ordering::SeqCst),
            seen.2.load(Ordering::SeqCst)
        ),
        (10, 10, 10)
    );
    let m = &b.metrics;
    let samples = |n: &str| {
        m.get_metric_series(n)
            .unwrap()
            .summary(&SummaryQuery::all())
            .map_or(0, |s| s.count)
    };
    assert_eq!(samples("job_duration_seconds"), 10);
    assert_eq!(samples("job_queue_seconds"), 10);
    assert_eq!(samples("batch_duration_seconds"), 1);
    assert_eq!(counter(m, "batch_created", "", ""), 1.0);
    assert_eq!(
        m.get_metric_series("batch_size")
            .unwrap()
            .latest(&TagFilter::new())
            .unwrap()
            .value,
        10.0
    );
    assert_eq!(r.summary.duration.unwrap().count, 10);
    let run_id = b.engine.run_context().run_id();
    for name in batch_engine::METRIC_NAMES {
        let series = m.get_metric_series(name).unwrap_or_else(|| panic!("{name} missing"));
        for tags in series.tag_sets() {
            assert_eq!(tags.get("batch_id"), Some(b.batch_id.as_str()), "{name}");
            assert_eq!(tags.get("run_id"), Some(run_id), "{name}");
            let extra: Vec<&str> = tags.keys().filter(|k| !["batch_id", "run_id"].contains(k)).collect();
            let allowed: &[&str] = match name {
                "job_status" => &["status"],
                "job_errors" => &["error_type"],
                _ => &[],
            };
            assert_eq!(extra, allowed, "{name}");
        }
    }
}

#[test]
fn bad_options_are_rejected_by_name() {
    let b = batch(1, None);
    let runner = |_: &JobContext<'_>| -> Result<(), JobError> { Ok(()) };
    for (options, name) in [
        (
            ExecuteOptions {
                concurrency: 0,
                ..Default::default()
            },
            "concurrency",
        ),
        (
            ExecuteOptions {
                max_retries: 1000,
                ..Default::default()
            },
            "max_retries",
        ),
        (
            ExecuteOptions {
                job_timeout: Some(Duration::ZERO),
                ..Default::default()
            },
            "job_timeout",
        ),
    ] {
        let e = b.engine.execute_batch(&b.batch_id, &runner, &options).unwrap_err();
        assert!(
            matches!(e, BatchError::InvalidOption { name: n, .. } if n == name),
            "{e}"
        );
    }
}
