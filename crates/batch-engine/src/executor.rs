//! The worker pool: runs a batch's runnable jobs with bounded concurrency,
//! retries with exponential backoff and jitter, per-job timeouts, and a stop
//! token; every status change is journaled before it counts.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::batch_store::BatchStore;
use crate::error::{BatchError, Result};
use crate::job::JobStatus;
use crate::metrics::BatchMetrics;
use crate::runner::{JobContext, JobError, JobRunner};
use crate::stop::StopToken;

/// How [`crate::BatchEngine::execute_batch`] runs jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteOptions {
    /// Jobs running at once, 1..=1024 (default: the number of CPUs).
    pub concurrency: usize,
    /// Extra attempts after a failed one (default 0), at most 100.
    pub max_retries: u32,
    /// Delay before the first retry; doubled for each further retry (default 1 s).
    pub retry_delay: Duration,
    /// Upper bound of the delay between attempts (default 60 s).
    pub max_retry_delay: Duration,
    /// An attempt running longer fails with a timeout (default: none).
    pub job_timeout: Option<Duration>,
    /// How long the processes of an attempt a killed run left behind get
    /// between SIGTERM and SIGKILL when a later run stops them (default 5 s).
    pub orphan_grace: Duration,
}

impl Default for ExecuteOptions {
    fn default() -> Self {
        ExecuteOptions {
            concurrency: std::thread::available_parallelism().map_or(1, usize::from),
            max_retries: 0,
            retry_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(60),
            job_timeout: None,
            orphan_grace: Duration::from_secs(5),
        }
    }
}

impl ExecuteOptions {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`BatchError::InvalidOption`] naming the field and value.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, value: String, reason| Err(BatchError::InvalidOption { name, value, reason });
        if !(1..=1024).contains(&self.concurrency) {
            return bad(
                "concurrency",
                self.concurrency.to_string(),
                "must be between 1 and 1024",
            );
        }
        if self.max_retries > 100 {
            return bad("max_retries", self.max_retries.to_string(), "must be at most 100");
        }
        if self.job_timeout.is_some_and(|t| t.is_zero()) {
            return bad("job_timeout", "0s".to_owned(), "must be greater than zero");
        }
        Ok(())
    }
}

/// Waits between attempts. Inject one that records instead of sleeping to
/// test retry schedules without waiting.
pub trait Sleeper: Send + Sync {
    /// Waits `duration`, returning early when `stop` is requested.
    fn sleep(&self, duration: Duration, stop: &StopToken);
}

/// The real sleeper: waits on the stop token, so a stop cuts the wait short.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration, stop: &StopToken) {
        stop.wait_timeout(duration);
    }
}

/// The delay before retry number `retry` (1-based): `retry_delay *
/// 2^(retry-1)`, capped at `max_retry_delay`, then "equal jitter": half of it
/// fixed and half scaled by `jitter` in `[0, 1)`. Spreads retries of jobs that
/// failed together while keeping at least half the backoff.
///
/// ```
/// use batch_engine::{backoff_delay, ExecuteOptions};
/// use std::time::Duration;
/// let o = ExecuteOptions { retry_delay: Duration::from_secs(1), max_retry_delay: Duration::from_secs(5), ..Default::default() };
/// assert_eq!(backoff_delay(1, &o, 0.0), Duration::from_millis(500));
/// assert_eq!(backoff_delay(2, &o, 0.999_999), Duration::from_secs(2) - Duration::from_nanos(1000));
/// assert_eq!(backoff_delay(10, &o, 0.0), Duration::from_millis(2500));
/// ```
pub fn backoff_delay(retry: u32, options: &ExecuteOptions, jitter: f64) -> Duration {
    let exp = retry.saturating_sub(1).min(32);
    let base = options
        .retry_delay
        .checked_mul(1u32 << exp.min(31))
        .unwrap_or(Duration::MAX)
        .min(options.max_retry_delay);
    let half = base / 2;
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    half + (base - half).mul_f64(jitter)
}

/// A deterministic jitter in `[0, 1)` from a seed (splitmix64).
pub(crate) fn jitter_unit(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// A job that finished an attempt sequence, as reported to a [`BatchObserver`].
#[derive(Debug, Clone, Copy)]
pub struct JobEvent<'a> {
    /// The job.
    pub job_id: &'a str,
    /// 0-based row index.
    pub row_index: usize,
    /// `Completed`, `Failed` or `Stopped`.
    pub status: JobStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// The last error, if any.
    pub error: Option<&'a JobError>,
    /// Run time of the last attempt.
    pub duration: Duration,
}

/// Watches a run's progress (a progress bar, a log). Called from worker
/// threads; keep it quick.
pub trait BatchObserver: Send + Sync {
    /// Called once when the run starts, with the number of jobs it will try.
    fn run_started(&self, _jobs: usize) {}
    /// A job started its first attempt of this run.
    fn job_started(&self, _job_id: &str, _row_index: usize) {}
    /// A job ended: completed, failed after its retries, or stopped.
    fn job_finished(&self, _event: &JobEvent<'_>) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;
impl BatchObserver for NoObserver {}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Jobs this run started.
    pub started: usize,
    /// Of those, completed.
    pub completed: usize,
    /// Of those, failed after every attempt.
    pub failed: usize,
    /// Of those, stopped (stop or kill request).
    pub stopped: usize,
    /// Retries made.
    pub retries: usize,
}

pub(crate) struct Execution<'a> {
    pub(crate) store: &'a Mutex<BatchStore>,
    pub(crate) metrics: &'a BatchMetrics,
    pub(crate) runner: &'a dyn JobRunner,
    pub(crate) options: &'a ExecuteOptions,
    pub(crate) sleeper: &'a dyn Sleeper,
    pub(crate) observer: &'a dyn BatchObserver,
    pub(crate) stop: &'a StopToken,
    pub(crate) batch_id: &'a str,
    pub(crate) run_id: &'a str,
    /// The first persistence error of the run; it stops the run.
    pub(crate) failure: Mutex<Option<BatchError>>,
}

#[derive(Default)]
struct Tally {
    started: AtomicUsize,
    completed: AtomicUsize,
    failed: AtomicUsize,
    stopped: AtomicUsize,
    retries: AtomicUsize,
}

impl Execution<'_> {
    fn store(&self) -> std::sync::MutexGuard<'_, BatchStore> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs the jobs at `queue` (manifest indices) and returns the counts.
    /// The first persistence error stops the run and is returned.
    pub(crate) fn run(&self, queue: &[usize]) -> Result<RunCounts> {
        let started = Instant::now();
        let seed = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
        let cursor = AtomicUsize::new(0);
        let tally = Tally::default();
        self.observer.run_started(queue.len());
        let workers = self.options.concurrency.min(queue.len()).max(1);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    while !self.stop.is_stopping() {
                        let i = cursor.fetch_add(1, Ordering::Relaxed);
                        let Some(&idx) = queue.get(i) else { break };
                        if let Err(e) = self.run_job(idx, started, seed, &tally) {
                            self.record_failure(e);
                            break;
                        }
                    }
                });
            }
        });
        if let Some(e) = self.failure.lock().unwrap_or_else(PoisonError::into_inner).take() {
            return Err(e);
        }
        Ok(RunCounts {
            started: tally.started.into_inner(),
            completed: tally.completed.into_inner(),
            failed: tally.failed.into_inner(),
            stopped: tally.stopped.into_inner(),
            retries: tally.retries.into_inner(),
        })
    }

    fn record_failure(&self, e: BatchError) {
        self.stop.request_stop();
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(e);
    }

    fn run_job(&self, idx: usize, run_started: Instant, seed: u64, tally: &Tally) -> Result<()> {
        let (row, job_id, mut attempt) = {
            let mut store = self.store();
            store.transition(idx, JobStatus::Running, None)?;
            let job = &store.manifest().jobs[idx];
            (job.row_data.clone(), job.job_id.clone(), job.attempts)
        };
        let m = self.metrics;
        m.status(JobStatus::Running);
        m.job_queue.record(run_started.elapsed().as_secs_f64());
        m.jobs_in_flight.increment(1.0);
        tally.started.fetch_add(1, Ordering::Relaxed);
        self.observer.job_started(&job_id, idx);
        let mut retry = 0u32;
        let recorder = |pgid: u32| {
            // A group whose leader cannot be read is not recorded: nothing
            // could tell it apart from a reused pid later.
            if let (Some(info), Some(nonzero)) =
                (crate::process_group::proc_info(pgid), std::num::NonZeroU32::new(pgid))
            {
                let process = crate::job::JobProcess {
                    pgid: nonzero,
                    start_ticks: info.start_ticks,
                };
                if let Err(e) = self.store().record_process(idx, process) {
                    self.record_failure(e);
                }
            }
        };
        let (status, error, duration) = loop {
            let ctx = JobContext {
                job_id: &job_id,
                batch_id: self.batch_id,
                run_id: self.run_id,
                row_index: idx,
                attempt,
                row: &row,
                timeout: self.options.job_timeout,
                stop: self.stop,
                process_recorder: &recorder,
            };
            // Timed by hand, not with metrics-macros' #[record_execution_time]:
            // the macro records into the process-wide collector under the
            // function's name, while an attempt's time belongs in this
            // engine's collector as job_duration_seconds, tagged with the
            // batch and run.
            let t0 = Instant::now();
            let result = catch_unwind(AssertUnwindSafe(|| self.runner.run(&ctx)))
                .unwrap_or_else(|p| Err(JobError::runner(format!("runner panicked: {}", panic_message(&p)))));
            let elapsed = t0.elapsed();
            m.duration(elapsed, &job_id);
            let result = match (result, self.options.job_timeout) {
                (Ok(()), Some(t)) if elapsed > t => Err(JobError::Timeout { after: t }),
                (r, _) => r,
            };
            let err = match result {
                Ok(()) => break (JobStatus::Completed, None, elapsed),
                Err(e) => e,
            };
            if let Some(t) = err.error_type() {
                m.error(t);
            }
            if err == JobError::Killed || self.stop.is_killing() {
                break (JobStatus::Stopped, Some(err), elapsed);
            }
            if retry >= self.options.max_retries {
                break (JobStatus::Failed, Some(err), elapsed);
            }
            if self.stop.is_stopping() {
                break (JobStatus::Stopped, Some(err), elapsed);
            }
            retry += 1;
            let jitter = jitter_unit(seed ^ (idx as u64).rotate_left(20) ^ u64::from(retry));
            self.sleeper
                .sleep(backoff_delay(retry, self.options, jitter), self.stop);
            if self.stop.is_stopping() {
                break (JobStatus::Stopped, Some(err), elapsed);
            }
            m.job_retries.increment(1);
            tally.retries.fetch_add(1, Ordering::Relaxed);
            self.store().next_attempt(idx, err.to_string())?;
            attempt += 1;
        };
        m.jobs_in_flight.decrement(1.0);
        self.store()
            .transition(idx, status, error.as_ref().map(ToString::to_string))?;
        m.status(status);
        match status {
            JobStatus::Completed => &tally.completed,
            JobStatus::Failed => &tally.failed,
            _ => &tally.stopped,
        }
        .fetch_add(1, Ordering::Relaxed);
        self.observer.job_finished(&JobEvent {
            job_id: &job_id,
            row_index: idx,
            status,
            attempts: attempt,
            error: error.as_ref(),
            duration,
        });
        Ok(())
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
