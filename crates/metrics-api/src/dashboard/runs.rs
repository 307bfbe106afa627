//! What the dashboard's runs view shows, and where it comes from.
//!
//! metrics-api knows nothing of batches: the program that serves (the
//! `bykilt` CLI) hands the state a [`RunCatalog`] that reads its runs.

use serde::Serialize;

/// Progress and totals of one run, as `GET /api/runs` returns them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunProgress {
    /// The run id.
    pub run_id: String,
    /// The batch of the run.
    pub batch_id: String,
    /// When the run was created (Unix seconds). Serialized as RFC 3339 text.
    #[serde(serialize_with = "crate::rfc3339::secs")]
    pub created_at: f64,
    /// Jobs in total.
    pub total: usize,
    /// Jobs not started yet.
    pub pending: usize,
    /// Jobs running now. Jobs a process that ended left `running` are
    /// [`interrupted`](Self::interrupted) instead.
    pub running: usize,
    /// Jobs journaled `running` whose run is no longer alive (no process
    /// holds the batch open: it was killed), as `bykilt batch status`
    /// counts them; `resume` runs them again.
    pub interrupted: usize,
    /// Jobs completed.
    pub completed: usize,
    /// Jobs failed.
    pub failed: usize,
    /// Jobs stopped.
    pub stopped: usize,
    /// First job start (Unix seconds), `None` before any job started. Serialized as RFC 3339 text.
    #[serde(serialize_with = "crate::rfc3339::opt_secs")]
    pub started_at: Option<f64>,
    /// Last job completion (Unix seconds), `None` before any job finished. Serialized as RFC 3339 text.
    #[serde(serialize_with = "crate::rfc3339::opt_secs")]
    pub last_completed_at: Option<f64>,
    /// Wall time from the first start to the last completion (to now while
    /// the run is live), in seconds.
    pub duration_seconds: Option<f64>,
    /// Wall time of the processes that ran the batch's jobs, in seconds:
    /// every run of the batch (its `batch_duration_seconds`), the one still
    /// executing counted to now. `None` when no run's time is known.
    pub run_seconds: Option<f64>,
    /// Jobs finished (completed or failed) per second of run wall time:
    /// `finished / run_seconds`, the figure `bykilt batch status` prints.
    /// Not over `duration_seconds`, which also counts the time between runs.
    pub throughput_per_second: Option<f64>,
    /// Whether the run is executing in the serving process right now.
    pub live: bool,
    /// Whether a process (this one or another) holds the run's batch open,
    /// i.e. the run is executing somewhere; `false` once its process ended,
    /// `kill -9` included.
    pub open: bool,
    /// Whether the served metrics are this run's (the "run" time range of
    /// the series page starts at its `started_at`).
    pub served: bool,
}

impl RunProgress {
    /// Jobs finished (completed or failed) per second of `run_seconds`;
    /// `None` without a positive run time.
    pub fn throughput_over(finished: usize, run_seconds: Option<f64>) -> Option<f64> {
        run_seconds
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(|s| finished as f64 / s)
    }

    /// Jobs that reached an end state (completed, failed, stopped).
    pub fn finished(&self) -> usize {
        self.completed + self.failed + self.stopped
    }

    /// Seconds until every pending and running job is finished at the
    /// current throughput; `None` when nothing is left, no rate is known,
    /// or the run is not executing (neither [`live`](Self::live) nor
    /// [`open`](Self::open)): a stopped or killed run finishes nothing.
    pub fn eta_seconds(&self) -> Option<f64> {
        let left = self.pending + self.running;
        if left == 0 || !(self.live || self.open) {
            return None;
        }
        self.throughput_per_second
            .filter(|t| *t > 0.0 && t.is_finite())
            .map(|t| left as f64 / t)
    }
}

/// The runs the dashboard lists. Implementations read them on every call,
/// so a live run's counts are current.
pub trait RunCatalog: Send + Sync + std::fmt::Debug {
    /// Every run, oldest first.
    ///
    /// # Errors
    /// A message saying what could not be read (served as a 500).
    fn runs(&self) -> Result<Vec<RunProgress>, String>;
}

/// `RunProgress` with its derived `eta_seconds` and `finished`, as served.
#[derive(Debug, Serialize)]
pub(crate) struct RunView<'a> {
    #[serde(flatten)]
    pub(crate) run: &'a RunProgress,
    pub(crate) finished: usize,
    pub(crate) eta_seconds: Option<f64>,
}

impl<'a> RunView<'a> {
    pub(crate) fn of(run: &'a RunProgress) -> Self {
        RunView {
            run,
            finished: run.finished(),
            eta_seconds: run.eta_seconds(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pending: usize, running: usize, completed: usize, rate: Option<f64>) -> RunProgress {
        RunProgress {
            run_id: "r".into(),
            batch_id: "b".into(),
            created_at: 0.0,
            total: pending + running + completed,
            pending,
            running,
            interrupted: 0,
            completed,
            failed: 0,
            stopped: 0,
            started_at: Some(0.0),
            last_completed_at: None,
            duration_seconds: None,
            run_seconds: None,
            throughput_per_second: rate,
            live: true,
            open: true,
            served: true,
        }
    }

    #[test]
    fn eta_is_what_is_left_over_the_rate() {
        assert_eq!(run(8, 2, 10, Some(2.0)).eta_seconds(), Some(5.0));
        assert_eq!(run(0, 0, 10, Some(2.0)).eta_seconds(), None, "nothing left");
        assert_eq!(run(5, 0, 0, None).eta_seconds(), None, "no rate yet");
        assert_eq!(run(5, 0, 0, Some(0.0)).eta_seconds(), None, "zero rate");
        assert_eq!(run(5, 1, 4, None).finished(), 4);
        let killed = RunProgress {
            live: false,
            open: false,
            ..run(8, 2, 10, Some(2.0))
        };
        assert_eq!(killed.eta_seconds(), None, "a run no process executes has no ETA");
        let elsewhere = RunProgress {
            live: false,
            ..run(8, 2, 10, Some(2.0))
        };
        assert_eq!(elsewhere.eta_seconds(), Some(5.0), "executing in another process");
    }
}
