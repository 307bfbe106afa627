//! The batch lifecycle metrics, resolved once per batch into handles.
//!
//! The metrics are `batch_created`, `batch_size`, `job_status`,
//! `job_duration_seconds`, `job_errors`, plus `job_queue_seconds`,
//! `job_retries`, `jobs_in_flight` and `batch_duration_seconds`. Every series
//! carries the tags `batch_id` and `run_id`; `job_status` adds `status` and
//! `job_errors` adds `error_type`. Per-job detail lives in the manifest and
//! journal, never in tags (one tag value per row would exhaust the
//! cardinality cap). Every series except `jobs_in_flight` keeps each event as
//! a timestamped sample, so exports can be re-imported and summarized later
//! (about four samples per job); `jobs_in_flight` keeps only its current value.

use std::time::Duration;

use metrics_core::{Counter, Gauge, Histogram, MetricOptions, MetricType, MetricsCollector, SamplePolicy};

use crate::error::Result;
use crate::job::JobStatus;

/// Kinds of job error, the values of the `error_type` tag of `job_errors`.
pub const ERROR_TYPES: [&str; 4] = ["exit_code", "timeout", "spawn", "runner"];

/// Names of every series this crate records.
pub const METRIC_NAMES: [&str; 9] = [
    "batch_created",
    "batch_size",
    "job_status",
    "job_duration_seconds",
    "job_queue_seconds",
    "job_errors",
    "job_retries",
    "jobs_in_flight",
    "batch_duration_seconds",
];

fn total_of(counter: &Counter) -> f64 {
    match counter.series().aggregate(counter.tags()) {
        Some(metrics_core::AggregateValue::Counter { total }) => total,
        _ => 0.0,
    }
}

/// Handles for one batch's metrics.
#[derive(Debug, Clone)]
pub(crate) struct BatchMetrics {
    pub(crate) batch_created: Counter,
    pub(crate) batch_size: Gauge,
    job_status: [Counter; 5],
    pub(crate) job_duration: Histogram,
    pub(crate) job_queue: Histogram,
    job_errors: [Counter; 4],
    pub(crate) job_retries: Counter,
    pub(crate) jobs_in_flight: Gauge,
    pub(crate) batch_duration: Histogram,
}

fn describe_with(c: &MetricsCollector, name: &str, ty: MetricType, help: &str, policy: SamplePolicy) -> Result<()> {
    c.describe_metric(
        name,
        ty,
        MetricOptions {
            description: Some(help.to_owned()),
            buckets: None,
            sample_policy: Some(policy),
            unit: None,
        },
    )?;
    Ok(())
}

fn describe(c: &MetricsCollector, name: &str, ty: MetricType, help: &str) -> Result<()> {
    describe_with(c, name, ty, help, SamplePolicy::EveryEvent)
}

impl BatchMetrics {
    /// Registers the series (idempotent) and resolves the handles of
    /// (`batch_id`, `run_id`).
    pub(crate) fn new(c: &MetricsCollector, batch_id: &str, run_id: &str) -> Result<BatchMetrics> {
        use MetricType::{Counter as C, Gauge as G, Histogram as H};
        describe(c, "batch_created", C, "Batches created")?;
        describe(c, "batch_size", G, "Jobs in the batch")?;
        describe(c, "job_status", C, "Job status changes, by new status")?;
        describe(
            c,
            "job_duration_seconds",
            H,
            "Run time of one job attempt, monotonic clock",
        )?;
        describe(
            c,
            "job_queue_seconds",
            H,
            "Time from the start of a run to the start of the job",
        )?;
        describe(c, "job_errors", C, "Failed job attempts, by error type")?;
        describe(c, "job_retries", C, "Job attempts retried after an error")?;
        // Two samples per job that only retrace the concurrency limit: the
        // current value (the aggregate) is what matters, so no history.
        describe_with(c, "jobs_in_flight", G, "Jobs running now", SamplePolicy::AggregateOnly)?;
        describe(c, "batch_duration_seconds", H, "Wall time of one run of the batch")?;
        let base = [("batch_id", batch_id), ("run_id", run_id)];
        let base = base.as_slice();
        let status = |s: JobStatus| c.counter("job_status", &[base[0], base[1], ("status", s.as_str())][..]);
        let error = |t: &str| c.counter("job_errors", &[base[0], base[1], ("error_type", t)][..]);
        Ok(BatchMetrics {
            batch_created: c.counter("batch_created", base)?,
            batch_size: c.gauge("batch_size", base)?,
            job_status: [
                status(JobStatus::Pending)?,
                status(JobStatus::Running)?,
                status(JobStatus::Completed)?,
                status(JobStatus::Failed)?,
                status(JobStatus::Stopped)?,
            ],
            job_duration: c.histogram("job_duration_seconds", base)?,
            job_queue: c.histogram("job_queue_seconds", base)?,
            job_errors: [
                error(ERROR_TYPES[0])?,
                error(ERROR_TYPES[1])?,
                error(ERROR_TYPES[2])?,
                error(ERROR_TYPES[3])?,
            ],
            job_retries: c.counter("job_retries", base)?,
            jobs_in_flight: c.gauge("jobs_in_flight", base)?,
            batch_duration: c.histogram("batch_duration_seconds", base)?,
        })
    }

    /// Counts a change to `status`.
    pub(crate) fn status(&self, status: JobStatus) {
        self.job_status[status.index()].increment(1);
    }

    /// Counts `n` jobs entering `status` at once (one sample of value `n`).
    pub(crate) fn status_n(&self, status: JobStatus, n: u64) {
        self.job_status[status.index()].increment(n);
    }

    /// Counts a failed attempt of type `error_type` (one of [`ERROR_TYPES`]).
    pub(crate) fn error(&self, error_type: &str) {
        if let Some(i) = ERROR_TYPES.iter().position(|t| *t == error_type) {
            self.job_errors[i].increment(1);
        }
    }

    /// The `job_status` total of `status` in the collector (every process's
    /// events that were loaded into it, and this one's).
    pub(crate) fn status_total(&self, status: JobStatus) -> f64 {
        total_of(&self.job_status[status.index()])
    }

    /// The tags of `status`'s `job_status` series.
    pub(crate) fn status_tags(&self, status: JobStatus) -> &metrics_core::TagSet {
        self.job_status[status.index()].tags()
    }

    /// `job_duration_seconds` observations in the collector.
    pub(crate) fn duration_count(&self) -> u64 {
        match self.job_duration.series().aggregate(self.job_duration.tags()) {
            Some(metrics_core::AggregateValue::Histogram(h)) => h.count,
            _ => 0,
        }
    }

    /// Records a run's duration with `job_id` as its bucket's exemplar, so a
    /// slow bucket leads to the job; an id too long for an exemplar (128
    /// characters) still records the duration.
    pub(crate) fn duration(&self, d: Duration, job_id: &str) {
        let _ = self
            .job_duration
            .record_with_exemplar(d.as_secs_f64(), &[("job_id", job_id)]);
    }
}
