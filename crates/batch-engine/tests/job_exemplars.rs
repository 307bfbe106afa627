//! `job_duration_seconds` carries the job id as its bucket's exemplar
//! (issue 17), so a slow bucket in OpenMetrics text leads to the job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use batch_engine::{BatchEngine, ExecuteOptions, JobContext, JobError, RunContext};
use metrics_core::MetricsCollector;
use metrics_core::export::prometheus::{TextFormat, encode};

#[test]
fn job_duration_buckets_carry_the_job_id_of_their_latest_job() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "id,name\n0,a\n1,b\n").unwrap();
    let metrics = Arc::new(MetricsCollector::default());
    let engine = BatchEngine::new(RunContext::new(dir.path().join("a"))).with_collector(Arc::clone(&metrics));
    let batch_id = engine.create_batch_jobs(&csv).unwrap().batch_id;
    let runner = |_: &JobContext<'_>| -> Result<(), JobError> { Ok(()) };
    engine
        .execute_batch(&batch_id, &runner, &ExecuteOptions::default())
        .unwrap();
    let snap = metrics.aggregate_snapshot();
    let series = snap.series("job_duration_seconds").unwrap();
    let exemplars: Vec<_> = series.aggregates.iter().flat_map(|a| &a.exemplars).collect();
    assert!(!exemplars.is_empty(), "{series:?}");
    for e in &exemplars {
        let (key, id) = &e.exemplar.labels[0];
        assert_eq!(key, "job_id");
        let stem = batch_id.trim_start_matches("batch-");
        let jobs = [format!("{stem}_0001"), format!("{stem}_0002")];
        assert!(jobs.contains(id), "{id} is not a job of {batch_id}");
    }
    let text = encode(&snap, TextFormat::OpenMetrics).text;
    assert!(
        text.lines()
            .any(|l| l.starts_with("job_duration_seconds_bucket{") && l.contains(" # {job_id=\"")),
        "{text}"
    );
}
