//! Events a killed process recorded but never made durable, recorded again
//! from the batch's journal.
//!
//! A job's status change is journaled (and survives `kill -9`) before its
//! metrics reach a durable store, which writes them in the background at
//! most a flush interval later. A process killed in that interval leaves
//! jobs the journal counts as completed, failed or started with no sample
//! of the event. Once the run's recorded metrics are loaded into the
//! engine's collector (from the database, or a metrics.json), the
//! difference between the journal and the collector is exactly what was
//! lost, and the journal has each job's times: the lost events are the
//! newest ones, and each is recorded again at the time the journal gives.

use super::*;

/// What [`BatchEngine::catch_up_lost_events`] recorded again.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CaughtUp {
    /// Job attempts started (`job_status{status="running"}`).
    pub started: u64,
    /// Jobs completed (`job_status{status="completed"}` and their
    /// `job_duration_seconds`).
    pub completed: u64,
    /// Jobs failed (`job_status{status="failed"}` and their durations).
    pub failed: u64,
    /// The killed process's wall time, recorded as its
    /// `batch_duration_seconds` (from its start, which its stored
    /// `job_queue_seconds` samples give, to its last journaled event).
    pub run_seconds: Option<f64>,
}

impl CaughtUp {
    /// Whether nothing was missing.
    pub fn is_empty(&self) -> bool {
        self.started == 0 && self.completed == 0 && self.failed == 0 && self.run_seconds.is_none()
    }
}

/// How many of `expected` events the collector lacks, given that it holds
/// `recorded` (never negative: a job sent back by a retry completes again,
/// so the collector may hold more events than the journal's jobs).
fn missing(expected: u64, recorded: f64) -> u64 {
    // Totals are sums of whole increments; rounding guards the f64 sum.
    let recorded = if recorded.is_finite() && recorded > 0.0 {
        recorded.round() as u64
    } else {
        0
    };
    expected.saturating_sub(recorded)
}

impl BatchEngine {
    /// Records again the lifecycle events of batch `batch_id` that its
    /// journal holds and the engine's collector lacks: attempts started,
    /// jobs completed and failed (with each one's duration, from its
    /// journaled start and end), at the times the journal gives, newest
    /// first. Call it on a batch a killed process ran, after loading the
    /// run's recorded metrics into [`collector`](Self::collector) (from a
    /// durable store or the run's metrics.json) and before
    /// [`resume`](Self::resume): then the counts of the run equal the
    /// journal's, where a process killed between a job's end and its store's
    /// next flush left them short. Attempts retried inside one run (no
    /// separate start) and error types are not in the journal and are not
    /// made up.
    ///
    /// # Errors
    /// Unknown or busy batch, or a journal that cannot be read.
    pub fn catch_up_lost_events(&self, batch_id: &str) -> Result<CaughtUp> {
        let handle = self.handle(batch_id)?;
        let m = &handle.metrics;
        let store = handle.store.lock().unwrap_or_else(PoisonError::into_inner);
        let jobs = &store.manifest().jobs;
        // Every attempt started a run of the job, except the ones an
        // in-run retry started.
        let attempts: u64 = jobs.iter().map(|j| u64::from(j.attempts)).sum();
        let started = missing(
            attempts.saturating_sub(m.job_retries.value()),
            m.status_total(JobStatus::Running),
        );
        // Every attempt that ended has a duration: not the ones a killed
        // process interrupted, nor one still marked running.
        let ended: u64 = jobs
            .iter()
            .map(|j| {
                let interrupted = j.interrupted_attempts.as_deref().map_or(0, <[u32]>::len) as u64;
                u64::from(j.attempts)
                    .saturating_sub(interrupted)
                    .saturating_sub(u64::from(j.status == JobStatus::Running))
            })
            .sum();
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let mut durations = missing(ended, m.duration_count() as f64);
        let count = |s: JobStatus| jobs.iter().filter(|j| j.status == s).count() as u64;
        let mut caught = CaughtUp {
            started: self.record_newest(m, jobs, started, JobStatus::Running, &mut 0),
            ..CaughtUp::default()
        };
        for status in [JobStatus::Completed, JobStatus::Failed] {
            let n = missing(count(status), m.status_total(status));
            let recorded = self.record_newest(m, jobs, n, status, &mut durations);
            match status {
                JobStatus::Completed => caught.completed = recorded,
                _ => caught.failed = recorded,
            }
        }
        caught.run_seconds = self.record_killed_run(m, jobs);
        Ok(caught)
    }

    /// The wall time of a run killed before it recorded its
    /// `batch_duration_seconds`, recorded at its last journaled event:
    /// `batch status` and the dashboard take a batch's throughput over the
    /// sum of its runs' times, which would leave the killed one out.
    fn record_killed_run(&self, m: &BatchMetrics, jobs: &[BatchJob]) -> Option<f64> {
        let c = self.collector();
        let newest = |name: &str, tags: &metrics_core::TagSet| {
            let mut filter = metrics_core::TagFilter::new();
            for (k, v) in tags.iter() {
                filter = filter.with(k, v);
            }
            c.get_metric_series(name)
                .and_then(|s| s.newest_values(&filter, None, 1).1.pop())
        };
        // A job's queue time is the time since its run started: the newest
        // one stored dates the start of the last run that started a job.
        let queued = newest("job_queue_seconds", m.job_queue.tags())?;
        let started = queued.timestamp - time::Duration::checked_seconds_f64(queued.value)?;
        // That run ended normally if a run's duration was recorded since.
        if newest("batch_duration_seconds", m.batch_duration.tags()).is_some_and(|d| d.timestamp >= started) {
            return None;
        }
        let last = jobs
            .iter()
            .flat_map(|j| [j.started_at, j.completed_at])
            .flatten()
            .max()?;
        let seconds = (last - started).as_seconds_f64();
        if !(seconds.is_finite() && seconds >= 0.0) {
            return None;
        }
        c.record_metric_at(
            "batch_duration_seconds",
            seconds,
            m.batch_duration.tags(),
            metrics_core::MetricType::Histogram,
            last,
        )
        .ok()
        .map(|()| seconds)
    }

    /// Records `n` `job_status{status}` events at the newest times the
    /// journal gives for them (a start for `Running`, else the job's end),
    /// each ended attempt with its duration while `durations` allows.
    /// Returns how many it recorded.
    fn record_newest(
        &self,
        m: &BatchMetrics,
        jobs: &[BatchJob],
        n: u64,
        status: JobStatus,
        durations: &mut u64,
    ) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut events: Vec<(OffsetDateTime, Option<time::Duration>)> = jobs
            .iter()
            .filter_map(|j| match status {
                JobStatus::Running => j.started_at.map(|t| (t, None)),
                _ if j.status == status => j.completed_at.map(|end| (end, j.started_at.map(|start| end - start))),
                _ => None,
            })
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.0));
        let tags = m.status_tags(status);
        // The duration series carries the batch's tags without `status`.
        let base: Vec<(String, String)> = tags
            .iter()
            .filter(|(k, _)| *k != "status")
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let c = self.collector();
        let mut recorded = 0;
        for (at, duration) in events.into_iter().take(usize::try_from(n).unwrap_or(usize::MAX)) {
            if c.record_metric_at("job_status", 1.0, tags, metrics_core::MetricType::Counter, at)
                .is_err()
            {
                continue;
            }
            recorded += 1;
            if let Some(d) = duration.filter(|d| !d.is_negative() && *durations > 0) {
                let seconds = d.as_seconds_f64();
                if c.record_metric_at(
                    "job_duration_seconds",
                    seconds,
                    &base,
                    metrics_core::MetricType::Histogram,
                    at,
                )
                .is_ok()
                {
                    *durations -= 1;
                }
            }
        }
        recorded
    }
}
