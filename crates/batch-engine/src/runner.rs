//! What runs a job: the [`JobRunner`] trait, its context and its errors.

use std::time::Duration;

use crate::job::RowData;
use crate::stop::StopToken;

/// Everything a runner knows about the attempt it runs.
pub struct JobContext<'a> {
    /// `<run_id>_0001`.
    pub job_id: &'a str,
    /// The batch.
    pub batch_id: &'a str,
    /// The run that created the batch.
    pub run_id: &'a str,
    /// 0-based row index.
    pub row_index: usize,
    /// 1-based attempt number (across runs and explicit retries, so it names one attempt).
    pub attempt: u32,
    /// The row.
    pub row: &'a RowData,
    /// The job timeout. A runner that can enforce it should; the executor
    /// fails an attempt that returns after it either way.
    pub timeout: Option<Duration>,
    /// The run's stop token; on [`StopToken::is_killing`] a runner should
    /// abandon the attempt and return [`JobError::Killed`].
    pub stop: &'a StopToken,
    /// Journals the attempt's process group (see [`JobContext::record_process`]).
    pub(crate) process_recorder: &'a (dyn Fn(u32) + Sync),
}

impl std::fmt::Debug for JobContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.job_id)
            .field("batch_id", &self.batch_id)
            .field("attempt", &self.attempt)
            .field("row_index", &self.row_index)
            .finish_non_exhaustive()
    }
}

impl JobContext<'_> {
    /// Tells the engine that this attempt runs in the process group `pgid`
    /// (a process the runner started with its own group, whose pid is
    /// `pgid`). The engine journals the group with its leader's start time,
    /// so that if this process dies, `resume` and `retry` can find the
    /// attempt's processes and stop them before the row runs again. A
    /// runner that starts processes should call it right after spawning.
    pub fn record_process(&self, pgid: u32) {
        (self.process_recorder)(pgid);
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The command exited with a non-zero code.
    #[error("exited with code {code}")]
    ExitCode {
        /// The exit code.
        code: i32,
    },
    /// The command was ended by a signal it did not get from us.
    #[error("terminated by signal {signal}")]
    Signal {
        /// The signal number.
        signal: i32,
    },
    /// The attempt ran past the job timeout (its process group was killed).
    #[error("timed out after {:.3}s", after.as_secs_f64())]
    Timeout {
        /// The timeout.
        after: Duration,
    },
    /// The command could not be started.
    #[error("could not start: {message}")]
    Spawn {
        /// The cause.
        message: String,
    },
    /// Any other failure reported by a runner.
    #[error("{message}")]
    Runner {
        /// The cause.
        message: String,
    },
    /// The attempt was killed on a kill request; the job becomes `stopped`.
    #[error("killed on request")]
    Killed,
}

impl JobError {
    /// A [`JobError::Runner`] with `message`.
    pub fn runner(message: impl Into<String>) -> Self {
        JobError::Runner {
            message: message.into(),
        }
    }

    /// The `error_type` tag of `job_errors`: `exit_code` (exit codes and
    /// signals), `timeout`, `spawn`, `runner`; `None` for [`JobError::Killed`],
    /// which is a stop, not an error.
    pub fn error_type(&self) -> Option<&'static str> {
        match self {
            JobError::ExitCode { .. } | JobError::Signal { .. } => Some("exit_code"),
            JobError::Timeout { .. } => Some("timeout"),
            JobError::Spawn { .. } => Some("spawn"),
            JobError::Runner { .. } => Some("runner"),
            JobError::Killed => None,
        }
    }
}

/// Runs one attempt of a job. Called from several worker threads at once.
///
/// Closures `Fn(&JobContext) -> Result<(), JobError>` are runners:
/// ```
/// use batch_engine::{JobContext, JobError, JobRunner};
/// let runner = |job: &JobContext<'_>| -> Result<(), JobError> {
///     match job.row.get("url") {
///         Some(u) if !u.is_empty() => Ok(()),
///         _ => Err(JobError::runner("no url")),
///     }
/// };
/// fn takes_runner(_: &dyn JobRunner) {}
/// takes_runner(&runner);
/// ```
pub trait JobRunner: Send + Sync {
    /// Runs the attempt; `Ok` completes the job.
    ///
    /// # Errors
    /// A [`JobError`]; the executor retries it while retries remain.
    fn run(&self, job: &JobContext<'_>) -> Result<(), JobError>;
}

impl<F> JobRunner for F
where
    F: Fn(&JobContext<'_>) -> Result<(), JobError> + Send + Sync,
{
    fn run(&self, job: &JobContext<'_>) -> Result<(), JobError> {
        self(job)
    }
}
