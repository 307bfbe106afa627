//! The job status state machine, through the type and through the engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use batch_engine::{BatchEngine, BatchError, JobStatus, RetrySelection, RunContext};
use metrics_core::{MetricsCollector, TagFilter};

#[test]
fn from_str_accepts_every_name_and_rejects_others() {
    for s in JobStatus::ALL {
        assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
        assert_eq!(s.as_str().to_uppercase().parse::<JobStatus>().unwrap(), s);
        assert_eq!(s.to_string(), s.as_str());
    }
    let e = "done".parse::<JobStatus>().unwrap_err();
    assert!(e.to_string().contains("\"done\""), "{e}");
    assert!("".parse::<JobStatus>().is_err());
}

#[test]
fn transition_table() {
    use JobStatus::*;
    let allowed = [
        (Pending, Running),
        (Running, Completed),
        (Running, Failed),
        (Running, Stopped),
        (Stopped, Running),
        (Stopped, Pending),
    ];
    for from in JobStatus::ALL {
        for to in JobStatus::ALL {
            assert_eq!(
                from.can_transition_to(to),
                allowed.contains(&(from, to)),
                "{from} -> {to}"
            );
        }
    }
    assert!(Completed.can_retry() && Failed.can_retry() && Stopped.can_retry());
    assert!(!Running.can_retry() && !Pending.can_retry());
}

fn engine_with_batch(rows: usize) -> (tempfile::TempDir, BatchEngine, Arc<MetricsCollector>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    let mut text = String::from("n\n");
    for i in 0..rows {
        text.push_str(&format!("{i}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let metrics = Arc::new(MetricsCollector::default());
    let engine = BatchEngine::new(RunContext::new(dir.path().join("a"))).with_collector(Arc::clone(&metrics));
    let m = engine.create_batch_jobs(&csv).unwrap();
    let ids = m.jobs.iter().map(|j| j.job_id.clone()).collect();
    (dir, engine, metrics, ids)
}

#[test]
fn engine_enforces_transitions_and_counts_them() {
    let (_dir, engine, metrics, ids) = engine_with_batch(2);
    let job = &ids[0];
    let e = engine.update_job_status(job, JobStatus::Completed, None).unwrap_err();
    assert!(
        matches!(
            e,
            BatchError::InvalidTransition {
                from: JobStatus::Pending,
                to: JobStatus::Completed,
                ..
            }
        ),
        "{e}"
    );
    engine.update_job_status(job, JobStatus::Running, None).unwrap();
    engine.update_job_status(job, JobStatus::Completed, None).unwrap();
    let e = engine.update_job_status(job, JobStatus::Running, None).unwrap_err();
    assert!(e.to_string().contains("retry"), "the error says how: {e}");

    let batch_id = engine
        .get_batch(&batch_engine::batch_id_for(engine.run_context().run_id()))
        .unwrap()
        .batch_id;
    // An explicit retry is the way back.
    let retried = engine
        .retry_batch_jobs(&batch_id, &RetrySelection::Jobs(vec![job.clone()]))
        .unwrap();
    assert_eq!(retried, std::slice::from_ref(job));
    let m = engine.get_batch(&batch_id).unwrap();
    // The attempt count goes on, so the next attempt gets a number (and a
    // log header) of its own.
    assert_eq!((m.jobs[0].status, m.jobs[0].attempts), (JobStatus::Pending, 1));

    let series = metrics.get_metric_series("job_status").unwrap();
    let total = |s: &str| -> f64 {
        series
            .values_matching(&TagFilter::new().with("status", s))
            .iter()
            .map(|v| v.value)
            .sum()
    };
    // Two jobs created pending (one sample of 2), one sent back by the retry.
    assert_eq!(
        (total("running"), total("completed"), total("pending")),
        (1.0, 1.0, 3.0)
    );
    let tags = series.tag_sets();
    assert!(
        tags.iter()
            .all(|t| t.keys().collect::<Vec<_>>() == ["batch_id", "run_id", "status"]),
        "{tags:?}"
    );
}

#[test]
fn unknown_and_malformed_job_ids() {
    let (_dir, engine, _m, ids) = engine_with_batch(1);
    let e = engine
        .update_job_status("garbage", JobStatus::Running, None)
        .unwrap_err();
    assert!(matches!(e, BatchError::InvalidId { .. }), "{e}");
    let other_job = format!("{}_0099", engine.run_context().run_id());
    let e = engine
        .update_job_status(&other_job, JobStatus::Running, None)
        .unwrap_err();
    assert!(matches!(e, BatchError::UnknownJob { .. }), "{e}");
    let e = engine
        .update_job_status("20990101-000000-000000-0000_0001", JobStatus::Running, None)
        .unwrap_err();
    assert!(matches!(e, BatchError::UnknownBatch { .. }), "{e}");
    assert!(ids[0].ends_with("_0001"));
}
