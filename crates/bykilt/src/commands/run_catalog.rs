//! The dashboard's runs: every batch under the artifacts root, read from
//! its manifest and journal on each request so a live run's counts are
//! current.

use std::path::PathBuf;

use batch_engine::{BatchManifest, JobStatus, list_batches};
use metrics_api::dashboard::{RunCatalog, RunProgress};
use time::OffsetDateTime;

/// Runs under `root`; `served` is the run whose metrics the server holds,
/// `live` whether it is executing in this process.
#[derive(Debug)]
pub(crate) struct ArtifactRuns {
    root: PathBuf,
    served: String,
    live: std::sync::atomic::AtomicBool,
}

impl ArtifactRuns {
    pub(crate) fn new(root: PathBuf, served: &str, live: bool) -> Self {
        ArtifactRuns {
            root,
            served: served.to_owned(),
            live: live.into(),
        }
    }

    /// Marks the served run as no longer executing.
    pub(crate) fn finished(&self) {
        self.live.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

fn unix(t: OffsetDateTime) -> f64 {
    (t - OffsetDateTime::UNIX_EPOCH).as_seconds_f64()
}

pub(crate) fn progress(m: &BatchManifest, live: bool, served: bool) -> RunProgress {
    let count = |s: JobStatus| m.jobs.iter().filter(|j| j.status == s).count();
    let started_at = m.jobs.iter().filter_map(|j| j.started_at).min().map(unix);
    let last_completed_at = m.jobs.iter().filter_map(|j| j.completed_at).max().map(unix);
    let end = if live {
        Some(unix(OffsetDateTime::now_utc()))
    } else {
        last_completed_at
    };
    let duration_seconds = match (started_at, end) {
        (Some(a), Some(b)) if b >= a => Some(b - a),
        _ => None,
    };
    let finished = count(JobStatus::Completed) + count(JobStatus::Failed);
    let throughput_per_second = duration_seconds
        .filter(|d| *d > 0.0 && finished > 0)
        .map(|d| finished as f64 / d);
    RunProgress {
        run_id: m.run_id.clone(),
        batch_id: m.batch_id.clone(),
        created_at: unix(m.created_at),
        total: m.jobs.len(),
        pending: count(JobStatus::Pending),
        running: count(JobStatus::Running),
        completed: count(JobStatus::Completed),
        failed: count(JobStatus::Failed),
        stopped: count(JobStatus::Stopped),
        started_at,
        last_completed_at,
        duration_seconds,
        throughput_per_second,
        live,
        served,
    }
}

impl RunCatalog for ArtifactRuns {
    fn runs(&self) -> Result<Vec<RunProgress>, String> {
        let live = self.live.load(std::sync::atomic::Ordering::Relaxed);
        let batches = list_batches(&self.root).map_err(|e| e.to_string())?;
        Ok(batches
            .iter()
            .map(|m| {
                let served = m.run_id == self.served;
                progress(m, live && served, served)
            })
            .collect())
    }
}
