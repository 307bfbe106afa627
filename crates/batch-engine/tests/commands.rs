//! `BatchEngine::run_batch` and `BatchEngine::resume`: one call per command
//! runs its steps in order (orphans stopped and recorded, jobs selected, run,
//! batch closed) and tells the caller's hooks about each step as it happens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use batch_engine::{
    BatchEngine, BatchError, ExecuteOptions, JobContext, JobError, JobRunner, JobStatus, ResumeOutcome, ResumeRequest,
    RetrySelection, RunContext, RunHooks, RunNotice, RunPlan, batch_dir,
};
use metrics_core::{MetricsCollector, SummaryQuery};

/// Hooks that log every call, and a runner that fails rows whose `n` is in
/// `failing` and counts the attempts it runs.
#[derive(Default)]
struct Log {
    events: Vec<String>,
    failing: Vec<&'static str>,
    attempts: Arc<AtomicUsize>,
    fail_start: bool,
}

impl RunHooks for Log {
    type Error = BatchError;

    fn notice(&mut self, notice: RunNotice<'_>) -> Result<(), BatchError> {
        self.events.push(match notice {
            RunNotice::Created(b) => format!("created {} jobs", b.total_jobs),
            RunNotice::Warning(w) => format!("warning {w}"),
            RunNotice::Interrupted(ids) => format!("interrupted {}", ids.join(",")),
            RunNotice::Retried(ids) => format!("retried {}", ids.join(",")),
        });
        Ok(())
    }

    fn start(&mut self, plan: &RunPlan<'_>) -> Result<Box<dyn JobRunner>, BatchError> {
        self.events
            .push(format!("start {} columns={}", plan.batch_id, plan.columns.join(",")));
        if self.fail_start {
            return Err(BatchError::InvalidOption {
                name: "watcher",
                value: "test".to_owned(),
                reason: "the watcher cannot start",
            });
        }
        let failing = self.failing.clone();
        let attempts = Arc::clone(&self.attempts);
        Ok(Box::new(move |job: &JobContext<'_>| -> Result<(), JobError> {
            attempts.fetch_add(1, Ordering::SeqCst);
            match job.row.get("n") {
                Some(n) if failing.contains(&n) => Err(JobError::runner(format!("row {n} fails"))),
                _ => Ok(()),
            }
        }))
    }

    fn finish(&mut self) {
        self.events.push("finish".to_owned());
    }
}

fn engine(root: &Path) -> BatchEngine {
    BatchEngine::new(RunContext::new(root)).with_collector(Arc::new(MetricsCollector::default()))
}

fn options() -> ExecuteOptions {
    ExecuteOptions {
        max_retries: 0,
        orphan_grace: Duration::from_millis(200),
        ..Default::default()
    }
}

/// A batch of rows n=1,2,3 run once by `run_batch` with row 2 failing.
fn batch_with_a_failure() -> (tempfile::TempDir, PathBuf, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "n\n1\n2\n3\n").unwrap();
    let root = dir.path().join("artifacts");
    let e = engine(&root);
    let mut hooks = Log {
        failing: vec!["2"],
        ..Log::default()
    };
    let report = e.run_batch(&csv, &options(), &mut hooks).unwrap();
    let batch_id = report.summary.batch_id.clone();
    assert_eq!((report.summary.completed, report.summary.failed), (2, 1));
    assert_eq!(hooks.attempts.load(Ordering::SeqCst), 3);
    (dir, root, batch_id, hooks.events)
}

/// Whether nothing holds the batch open: another engine can open it.
fn is_closed(root: &Path, batch_id: &str) -> bool {
    let other = engine(root);
    let opened = other.stop_orphans(batch_id, Duration::from_millis(100)).is_ok();
    other.close_batch(batch_id).unwrap();
    opened
}

#[test]
fn run_batch_creates_tells_starts_runs_finishes_and_closes() {
    let (_dir, root, batch_id, events) = batch_with_a_failure();
    assert_eq!(
        events,
        vec![
            "created 3 jobs".to_owned(),
            format!("start {batch_id} columns=n"),
            "finish".to_owned()
        ]
    );
    assert!(is_closed(&root, &batch_id));
}

#[test]
fn resume_of_a_finished_batch_is_complete_without_starting_a_run() {
    let (_dir, root, batch_id, _) = batch_with_a_failure();
    let e = engine(&root);
    let mut hooks = Log::default();
    let outcome = e
        .resume(
            &batch_id,
            &ResumeRequest {
                selection: None,
                options: options(),
            },
            &mut hooks,
        )
        .unwrap();
    assert_eq!(
        outcome,
        ResumeOutcome::Complete {
            completed: 2,
            failed: 1,
            total: 3
        }
    );
    assert!(
        hooks.events.is_empty(),
        "nothing to run, nothing started: {:?}",
        hooks.events
    );
    assert_eq!(hooks.attempts.load(Ordering::SeqCst), 0);
    let runs = e
        .collector()
        .get_metric_series("batch_duration_seconds")
        .and_then(|s| s.summary(&SummaryQuery::all()))
        .map_or(0, |s| s.count);
    assert_eq!(runs, 0, "no run was recorded");
    assert!(is_closed(&root, &batch_id));
}

#[test]
fn retry_of_the_failed_jobs_sends_them_back_then_runs_only_them() {
    let (_dir, root, batch_id, _) = batch_with_a_failure();
    let e = engine(&root);
    let mut hooks = Log::default();
    let failed_id = batch_engine::job_id_for(batch_engine::run_id_of(&batch_id).unwrap(), 1);
    let outcome = e
        .resume(
            &batch_id,
            &ResumeRequest {
                selection: Some(RetrySelection::Failed),
                options: options(),
            },
            &mut hooks,
        )
        .unwrap();
    let ResumeOutcome::Ran(report) = outcome else {
        panic!("the retried job ran: {outcome:?}")
    };
    assert_eq!(
        hooks.events,
        vec![
            format!("retried {failed_id}"),
            format!("start {batch_id} columns=n"),
            "finish".to_owned()
        ]
    );
    assert_eq!(
        hooks.attempts.load(Ordering::SeqCst),
        1,
        "only the failed row ran again"
    );
    assert_eq!((report.counts.started, report.summary.completed), (1, 3));
    assert!(is_closed(&root, &batch_id));
}

#[test]
fn resume_records_a_killed_runs_job_interrupted_before_running_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "n\n1\n").unwrap();
    let root = dir.path().join("artifacts");
    let e = engine(&root);
    let m = e.create_batch_jobs(&csv).unwrap();
    e.close_batch(&m.batch_id).unwrap();
    // A killed run's last word: attempt 1 running in a process group that
    // no longer exists.
    let journal = batch_dir(&root, &m.batch_id).unwrap().join("journal.jsonl");
    std::fs::write(
        journal,
        "{\"seq\":7,\"job\":0,\"status\":\"running\",\"attempts\":1,\"process\":{\"pgid\":999999999,\"start_ticks\":1}}\n",
    )
    .unwrap();
    let e = engine(&root);
    let mut hooks = Log::default();
    let outcome = e
        .resume(
            &m.batch_id,
            &ResumeRequest {
                selection: None,
                options: options(),
            },
            &mut hooks,
        )
        .unwrap();
    let job_id = &m.jobs[0].job_id;
    assert_eq!(
        hooks.events,
        vec![
            format!("interrupted {job_id}"),
            format!("start {} columns=n", m.batch_id),
            "finish".to_owned()
        ]
    );
    let ResumeOutcome::Ran(report) = outcome else {
        panic!("the interrupted job ran again: {outcome:?}")
    };
    assert_eq!(report.summary.completed, 1);
    let job = &e.get_batch(&m.batch_id).unwrap().jobs[0];
    assert_eq!((job.status, job.attempts), (JobStatus::Completed, 2));
}

#[test]
fn a_hook_that_cannot_start_stops_the_command_before_any_job_runs() {
    let (_dir, root, batch_id, _) = batch_with_a_failure();
    let e = engine(&root);
    let mut hooks = Log {
        fail_start: true,
        ..Log::default()
    };
    let err = e
        .resume(
            &batch_id,
            &ResumeRequest {
                selection: Some(RetrySelection::Failed),
                options: options(),
            },
            &mut hooks,
        )
        .unwrap_err();
    assert!(err.to_string().contains("the watcher cannot start"), "{err}");
    assert_eq!(hooks.attempts.load(Ordering::SeqCst), 0);
    assert!(!hooks.events.contains(&"finish".to_owned()));
}
