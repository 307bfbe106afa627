//! `BatchManifest`: the batch and all its jobs, as one JSON document
//! written atomically.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{BatchError, Result};
use crate::job::{BatchJob, JobStatus, parse_job_id};

/// File name of the manifest inside `<run>/batch/`.
pub const MANIFEST_FILE: &str = "batch_manifest.json";

/// A batch: where it came from, its counts and its jobs.
///
/// The counts are kept in step with the jobs by [`recount`](Self::recount),
/// which every write calls. Between compactions the newest job states live in
/// the journal; [`crate::BatchEngine::get_batch`] returns the manifest with
/// the journal applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchManifest {
    /// `batch-<run_id>`.
    pub batch_id: String,
    /// The run that created it.
    pub run_id: String,
    /// The input CSV, as given.
    pub csv_path: PathBuf,
    /// The input's column names, in order (the header of `failed_rows.csv`).
    pub columns: Vec<String>,
    /// Number of jobs.
    pub total_jobs: usize,
    /// Jobs `completed`.
    pub completed_jobs: usize,
    /// Jobs `failed`.
    pub failed_jobs: usize,
    /// When the batch (and so each of its jobs) was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The last journal sequence number folded into this manifest; journal
    /// entries at or below it are already applied.
    #[serde(default)]
    pub journal_seq: u64,
    /// The jobs, in row order.
    pub jobs: Vec<BatchJob>,
}

impl BatchManifest {
    /// Number of jobs with `status`.
    pub fn count(&self, status: JobStatus) -> usize {
        self.jobs.iter().filter(|j| j.status == status).count()
    }

    /// Recomputes `total_jobs`, `completed_jobs` and `failed_jobs`.
    pub fn recount(&mut self) {
        self.total_jobs = self.jobs.len();
        self.completed_jobs = self.count(JobStatus::Completed);
        self.failed_jobs = self.count(JobStatus::Failed);
    }

    /// The job `job_id`.
    pub fn job(&self, job_id: &str) -> Option<&BatchJob> {
        self.index_of(job_id).map(|i| &self.jobs[i])
    }

    /// The index of `job_id` in `jobs`, in O(1) from the number in the id.
    pub(crate) fn index_of(&self, job_id: &str) -> Option<usize> {
        let (run, i) = parse_job_id(job_id)?;
        (run == self.run_id && self.jobs.get(i).is_some_and(|j| j.job_id == job_id)).then_some(i)
    }

    /// Reads a manifest.
    ///
    /// # Errors
    /// [`BatchError::Io`] when it cannot be read, [`BatchError::Manifest`]
    /// when it is not a manifest.
    pub fn load(path: &Path) -> Result<BatchManifest> {
        // Streamed: a manifest of a million jobs never sits in memory as
        // text. The fast reader parses each job from memory; a file it does
        // not expect is read by serde_json's stream reader, which also
        // names what is wrong with a damaged one.
        let mut manifest = match crate::manifest_read::load_fast(path) {
            Some(m) => m,
            None => {
                let file = std::fs::File::open(path).map_err(|e| BatchError::io("reading", path, e))?;
                let reader = std::io::BufReader::with_capacity(1 << 20, file);
                serde_json::from_reader(reader).map_err(|source| BatchError::Manifest {
                    path: path.to_path_buf(),
                    source,
                })?
            }
        };
        let columns: Arc<[String]> = manifest.columns.clone().into();
        for (i, job) in manifest.jobs.iter_mut().enumerate() {
            job.row_data.share_columns(&columns);
            job.row_index = i;
            if job.job_id.is_empty() {
                job.job_id = crate::job::job_id_for(&manifest.run_id, i);
            }
        }
        Ok(manifest)
    }

    /// Writes the manifest atomically (temporary file, fsync, rename) after
    /// recounting.
    ///
    /// # Errors
    /// [`BatchError::Io`] naming the manifest.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        self.recount();
        crate::atomic_file::write_atomic_with(path, |w| serde_json::to_writer(w, &*self).map_err(std::io::Error::from))
            .map_err(|e| BatchError::io("writing", path, e))
    }
}
