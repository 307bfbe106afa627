//! The dashboard's runs: every batch under the artifacts root, read from
//! its manifest and journal on each request so a live run's counts are
//! current. Throughput is jobs finished per second of the wall time of
//! the processes that ran them, as `batch status` reports it: the batch's
//! `batch_duration_seconds` from each run's `metrics.json`, plus the time
//! so far of the run executing now: in this process from when it started,
//! in another process (which writes its `metrics.json` only when it ends)
//! from the first job start after the batch's last recorded run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use batch_engine::{BatchManifest, JobStatus, RunContext, batch_dir, is_batch_open, list_batches};
use metrics_api::dashboard::{RunCatalog, RunProgress};
use metrics_core::{MetricsCollector, SummaryQuery, TagFilter};
use time::OffsetDateTime;

use crate::commands::metrics::{import_run_metrics, long_retention_config, run_metrics_json};

/// Runs under `root`; `served` is the run whose metrics the server holds,
/// `live` whether it is executing in this process.
#[derive(Debug)]
pub(crate) struct ArtifactRuns {
    root: PathBuf,
    served: String,
    live: std::sync::atomic::AtomicBool,
    clock: Option<LiveClock>,
    recorded: Mutex<HashMap<PathBuf, Recorded>>,
}

/// The wall time of the run executing in this process, which its
/// collector records (as a `batch_duration_seconds` sample) only when it ends.
#[derive(Debug)]
struct LiveClock {
    collector: Arc<MetricsCollector>,
    started: Instant,
    runs_at_start: u64,
    ended_after: Mutex<Option<f64>>,
}

/// A run's recorded wall time, read from its `metrics.json` once per
/// version of the file (modification time and length).
#[derive(Debug, Clone, Copy)]
struct Recorded {
    modified: Option<SystemTime>,
    len: u64,
    seconds: Option<(f64, u64)>,
}

impl ArtifactRuns {
    pub(crate) fn new(root: PathBuf, served: &str, live: bool) -> Self {
        ArtifactRuns {
            root,
            served: served.to_owned(),
            live: live.into(),
            clock: None,
            recorded: Mutex::new(HashMap::new()),
        }
    }

    /// The served run executes now, recording into `collector` (which may
    /// hold its batch's earlier runs, replayed on resume): its run time
    /// counts from now until its own `batch_duration_seconds` appears.
    pub(crate) fn with_live_collector(mut self, collector: Arc<MetricsCollector>, batch_id: &str) -> Self {
        let runs_at_start = batch_seconds(&collector, batch_id).map_or(0, |(_, n)| n);
        self.clock = Some(LiveClock {
            collector,
            started: Instant::now(),
            runs_at_start,
            ended_after: Mutex::new(None),
        });
        self
    }

    /// Marks the served run as no longer executing.
    pub(crate) fn finished(&self) {
        if let Some(c) = &self.clock {
            *c.ended_after.lock().unwrap_or_else(PoisonError::into_inner) = Some(c.started.elapsed().as_secs_f64());
        }
        self.live.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Wall time of every run of the batch of `m`, in seconds; `open`: a
    /// process holds the batch.
    fn run_seconds(&self, m: &BatchManifest, served: bool, open: bool) -> Option<f64> {
        if served && let Some(c) = &self.clock {
            let (sum, runs) = batch_seconds(&c.collector, &m.batch_id).unwrap_or((0.0, 0));
            if runs > c.runs_at_start {
                return Some(sum);
            }
            let so_far = c
                .ended_after
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .unwrap_or_else(|| c.started.elapsed().as_secs_f64());
            return Some(sum + so_far);
        }
        let ctx = RunContext::with_run_id(&self.root, &m.run_id).ok()?;
        let recorded = self.recorded_seconds(&run_metrics_json(&ctx), &ctx, &m.batch_id);
        if !open {
            return recorded.and_then(|r| r.seconds);
        }
        // Executing in another process: its own time is not in the file
        // until it ends, so it counts from its first job start to now.
        let recorded_at = recorded.and_then(|r| r.modified).map(|t| unix(t.into()));
        let starts = m.jobs.iter().filter_map(|j| j.started_at.map(unix));
        let so_far = time_so_far(starts, recorded_at, unix(OffsetDateTime::now_utc()));
        Some(recorded.and_then(|r| r.seconds).unwrap_or(0.0) + so_far)
    }

    /// The recorded seconds of `path` (`None` inside when it holds none) and
    /// when it was written; `None` without the file.
    fn recorded_seconds(&self, path: &Path, ctx: &RunContext, batch_id: &str) -> Option<RecordedTime> {
        let meta = std::fs::metadata(path).ok()?;
        let (modified, len) = (meta.modified().ok(), meta.len());
        let mut cache = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = cache.get(path)
            && r.modified == modified
            && r.len == len
        {
            return Some(RecordedTime {
                seconds: r.seconds.map(|(s, _)| s),
                modified,
            });
        }
        let collector = MetricsCollector::new(long_retention_config());
        let seconds = import_run_metrics(&collector, ctx)
            .ok()
            .and_then(|()| batch_seconds(&collector, batch_id));
        cache.insert(path.to_owned(), Recorded { modified, len, seconds });
        Some(RecordedTime {
            seconds: seconds.map(|(s, _)| s),
            modified,
        })
    }
}

/// What a run's `metrics.json` says of its batch's wall time.
#[derive(Debug, Clone, Copy)]
struct RecordedTime {
    seconds: Option<f64>,
    modified: Option<SystemTime>,
}

/// Seconds from the first of `job_starts` of the run executing now to `now`
/// (Unix seconds, all). Jobs started before `recorded_at`, when the batch's last
/// run wrote its `metrics.json`, belong to that run, whose time is already
/// recorded; 0 before the run has started a job.
fn time_so_far(job_starts: impl Iterator<Item = f64>, recorded_at: Option<f64>, now: f64) -> f64 {
    job_starts
        .filter(|s| recorded_at.is_none_or(|r| *s > r))
        .min_by(f64::total_cmp)
        .map_or(0.0, |first| (now - first).max(0.0))
}

/// The sum and count of the batch's `batch_duration_seconds`, as
/// `BatchSummary::run_seconds` and `runs` take them.
fn batch_seconds(collector: &MetricsCollector, batch_id: &str) -> Option<(f64, u64)> {
    let s = collector
        .get_metric_series("batch_duration_seconds")?
        .summary(&SummaryQuery {
            since: None,
            tags: TagFilter::new().with("batch_id", batch_id),
        })?;
    Some((s.sum, s.count as u64))
}

fn unix(t: OffsetDateTime) -> f64 {
    (t - OffsetDateTime::UNIX_EPOCH).as_seconds_f64()
}

/// The progress of batch `m`; `open` says whether a process holds the batch
/// (see [`RunProgress::open`]): without one, its `running` jobs were
/// interrupted, as `batch status` counts them.
pub(crate) fn progress(
    m: &BatchManifest,
    live: bool,
    open: bool,
    served: bool,
    run_seconds: Option<f64>,
) -> RunProgress {
    let count = |s: JobStatus| m.jobs.iter().filter(|j| j.status == s).count();
    let open = live || open;
    let interrupted = if open { 0 } else { count(JobStatus::Running) };
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
    let throughput_per_second = RunProgress::throughput_over(finished, run_seconds);
    RunProgress {
        run_id: m.run_id.clone(),
        batch_id: m.batch_id.clone(),
        created_at: unix(m.created_at),
        total: m.jobs.len(),
        pending: count(JobStatus::Pending),
        running: count(JobStatus::Running) - interrupted,
        interrupted,
        completed: count(JobStatus::Completed),
        failed: count(JobStatus::Failed),
        stopped: count(JobStatus::Stopped),
        started_at,
        last_completed_at,
        duration_seconds,
        run_seconds,
        throughput_per_second,
        live,
        open,
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
                let live = live && served;
                // Only a batch with jobs left can be executing; the lock of
                // a finished one is not probed (a probe, a shared flock
                // taken and released at once, is as short as it can be,
                // but a run opening the batch at that instant is refused).
                let unfinished = m
                    .jobs
                    .iter()
                    .any(|j| matches!(j.status, JobStatus::Pending | JobStatus::Running));
                let open = live || (unfinished && batch_dir(&self.root, &m.batch_id).is_ok_and(|d| is_batch_open(&d)));
                progress(m, live, open, served, self.run_seconds(m, served, open))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::time_so_far;

    #[test]
    fn a_run_in_another_process_counts_from_its_first_job_start() {
        let starts = [105.0, 101.0, 103.0];
        assert_eq!(time_so_far(starts.into_iter(), None, 111.0), 10.0);
        assert_eq!(time_so_far(std::iter::empty(), None, 111.0), 0.0, "no job started yet");
    }

    #[test]
    fn a_resumed_run_counts_from_its_first_job_after_the_recorded_run() {
        // Jobs started at 10 and 20 ran in the run that wrote metrics.json at 50.
        let starts = [10.0, 20.0, 60.0, 70.0];
        assert_eq!(time_so_far(starts.into_iter(), Some(50.0), 100.0), 40.0);
        assert_eq!(time_so_far([10.0].into_iter(), Some(50.0), 100.0), 0.0);
    }
}
