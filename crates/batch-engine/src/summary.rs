//! `BatchSummary` (counts, durations, throughput) and `failed_rows.csv`.

use std::path::{Path, PathBuf};

use metrics_core::{MetricsCollector, Summary, SummaryQuery, TagFilter};
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::{BatchError, Result};
use crate::job::JobStatus;
use crate::manifest::BatchManifest;

/// File name of the failed rows, inside `<run>/batch/`.
pub const FAILED_ROWS_FILE: &str = "failed_rows.csv";

/// A batch at a glance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchSummary {
    /// The batch.
    pub batch_id: String,
    /// Its run.
    pub run_id: String,
    /// The input CSV.
    pub csv_path: PathBuf,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Jobs in total.
    pub total: usize,
    /// Jobs per status.
    pub pending: usize,
    /// Jobs running (or left running by a process that ended: see
    /// [`interrupted`](Self::interrupted)).
    pub running: usize,
    /// Of the `running` jobs, those whose run is no longer alive (nothing
    /// holds the batch open): their attempts were interrupted, and
    /// `resume` stops what is left of them and runs them again.
    pub interrupted: usize,
    /// Jobs completed.
    pub completed: usize,
    /// Jobs failed.
    pub failed: usize,
    /// Jobs stopped.
    pub stopped: usize,
    /// `job_duration_seconds` of this batch from the metrics store (every
    /// attempt); `None` when the store holds no samples of it.
    pub duration: Option<Summary>,
    /// Jobs finished (completed or failed) per second of wall time of the
    /// runs that ran them: [`finished`](Self::finished) divided by
    /// [`run_seconds`](Self::run_seconds). `None` when the metrics store has
    /// no `batch_duration_seconds` of this batch.
    pub throughput_per_second: Option<f64>,
    /// Jobs completed or failed.
    pub finished: usize,
    /// Wall time of every run of the batch (the sum of its
    /// `batch_duration_seconds` samples), when the metrics store has them.
    pub run_seconds: Option<f64>,
    /// Number of runs of the batch (`batch_duration_seconds` samples).
    pub runs: u64,
    /// `failed_rows.csv`, when the batch has failed jobs.
    pub failed_rows_csv: Option<PathBuf>,
}

impl BatchSummary {
    pub(crate) fn new(
        manifest: &BatchManifest,
        collector: &MetricsCollector,
        batch_dir: &Path,
        run_alive: bool,
    ) -> BatchSummary {
        let mut counts = [0usize; 5];
        for job in &manifest.jobs {
            counts[job.status.index()] += 1;
        }
        let duration = collector.get_metric_series("job_duration_seconds").and_then(|s| {
            s.summary(&SummaryQuery {
                since: None,
                tags: TagFilter::new().with("batch_id", manifest.batch_id.as_str()),
            })
        });
        let failed_rows = batch_dir.join(FAILED_ROWS_FILE);
        let runs = collector.get_metric_series("batch_duration_seconds").and_then(|s| {
            s.summary(&SummaryQuery {
                since: None,
                tags: TagFilter::new().with("batch_id", manifest.batch_id.as_str()),
            })
        });
        let finished = counts[JobStatus::Completed.index()] + counts[JobStatus::Failed.index()];
        let run_seconds = runs.as_ref().map(|r| r.sum);
        BatchSummary {
            batch_id: manifest.batch_id.clone(),
            run_id: manifest.run_id.clone(),
            csv_path: manifest.csv_path.clone(),
            created_at: manifest.created_at,
            total: manifest.jobs.len(),
            pending: counts[JobStatus::Pending.index()],
            running: counts[JobStatus::Running.index()],
            interrupted: if run_alive {
                0
            } else {
                counts[JobStatus::Running.index()]
            },
            completed: counts[JobStatus::Completed.index()],
            failed: counts[JobStatus::Failed.index()],
            stopped: counts[JobStatus::Stopped.index()],
            duration,
            throughput_per_second: run_seconds.filter(|s| *s > 0.0).map(|s| finished as f64 / s),
            finished,
            run_seconds,
            runs: runs.map_or(0, |r| r.count as u64),
            failed_rows_csv: (counts[JobStatus::Failed.index()] > 0 && failed_rows.exists()).then_some(failed_rows),
        }
    }

    /// Whether every job completed.
    pub fn all_completed(&self) -> bool {
        self.completed == self.total
    }
}

/// Writes the failed jobs' rows under the input's header to
/// `<batch_dir>/failed_rows.csv` (atomically), or removes a stale file when
/// nothing failed. Returns the path when written.
pub(crate) fn write_failed_rows(manifest: &BatchManifest, batch_dir: &Path) -> Result<Option<PathBuf>> {
    let path = batch_dir.join(FAILED_ROWS_FILE);
    let failed: Vec<_> = manifest.jobs.iter().filter(|j| j.status == JobStatus::Failed).collect();
    if failed.is_empty() {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BatchError::io("removing", &path, e)),
        }
        return Ok(None);
    }
    let csv_err = |e: csv::Error| BatchError::io("encoding", &path, std::io::Error::other(e.to_string()));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&manifest.columns).map_err(csv_err)?;
    for job in failed {
        w.write_record(job.row_data.values()).map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| BatchError::io("encoding", &path, std::io::Error::other(e.to_string())))?;
    crate::atomic_file::write_atomic(&path, &bytes).map_err(|e| BatchError::io("writing", &path, e))?;
    Ok(Some(path))
}
