//! One engine call per command: [`BatchEngine::run_batch`] and
//! [`BatchEngine::resume`] own the order of the steps a run takes, so a
//! front end (the `bykilt` CLI) only supplies the runner, shows what it is
//! told and watches the run.

use std::path::Path;
use std::sync::Arc;

use metrics_core::MetricsCollector;

use crate::engine::{BatchEngine, BatchReport, NewBatch, RetrySelection, run_id_of};
use crate::error::BatchError;
use crate::executor::{BatchObserver, ExecuteOptions, NoObserver};
use crate::runner::JobRunner;
use crate::stop::StopToken;

/// Something [`BatchEngine::run_batch`] or [`BatchEngine::resume`] did
/// before jobs run, handed to [`RunHooks::notice`] as it happens (a library
/// does not print).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunNotice<'a> {
    /// The batch was created (by [`BatchEngine::run_batch`]) and is open.
    Created(&'a NewBatch),
    /// Something repaired when the batch was opened, such as a torn journal
    /// tail (see [`BatchEngine::take_warnings`]).
    Warning(&'a str),
    /// Jobs a killed run left running: their processes were stopped and the
    /// jobs recorded `stopped` with an `interrupted: ...` error.
    Interrupted(&'a [String]),
    /// Jobs sent back to `pending` by the request's [`RetrySelection`]
    /// (reported even when none matched).
    Retried(&'a [String]),
}

/// The batch about to run, handed to [`RunHooks::start`].
#[derive(Debug, Clone)]
pub struct RunPlan<'a> {
    /// `batch-<run_id>`.
    pub batch_id: &'a str,
    /// The run holding the batch.
    pub run_id: &'a str,
    /// The batch's column names, for a runner that maps them (such as
    /// [`CommandRunner`](crate::CommandRunner)).
    pub columns: &'a [String],
    /// The batch's stop token, for a signal handler.
    pub stop: StopToken,
    /// The collector the run records into, to serve or push while it runs.
    pub collector: Arc<MetricsCollector>,
}

/// What a caller of [`BatchEngine::run_batch`] or [`BatchEngine::resume`]
/// supplies: the runner, and whatever shows or watches the run.
///
/// The engine calls, in order: [`notice`](Self::notice) for each step
/// worth showing, [`start`](Self::start) once when jobs are about to run
/// (never when there is nothing to run), [`observer`](Self::observer)
/// during the run, and [`finish`](Self::finish) once the run has ended,
/// successfully or not, before the batch is closed.
pub trait RunHooks {
    /// The caller's error; engine errors convert into it.
    type Error: From<BatchError>;

    /// A step worth showing happened. An error here ends the call.
    ///
    /// # Errors
    /// Whatever the caller cannot do with the notice (such as saving a file
    /// beside a new batch).
    fn notice(&mut self, _notice: RunNotice<'_>) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Jobs are about to run: returns the runner for them, and starts
    /// whatever watches the run (signal handlers on `plan.stop`, servers on
    /// `plan.collector`).
    ///
    /// # Errors
    /// When the runner or a watcher cannot be set up; nothing has run then.
    fn start(&mut self, plan: &RunPlan<'_>) -> Result<Box<dyn JobRunner>, Self::Error>;

    /// Told about each job of the run.
    fn observer(&self) -> &dyn BatchObserver {
        &NoObserver
    }

    /// The run ended (even with an error): stop what [`start`](Self::start)
    /// started.
    fn finish(&mut self) {}
}

/// What [`BatchEngine::resume`] is asked to do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResumeRequest {
    /// Jobs to send back to `pending` first (`bykilt batch retry`); `None`
    /// runs only what is unfinished (`bykilt batch resume`).
    pub selection: Option<RetrySelection>,
    /// How the jobs run; `orphan_grace` is also how long a killed run's
    /// leftover processes get between SIGTERM and SIGKILL.
    pub options: ExecuteOptions,
}

/// The result of [`BatchEngine::resume`].
#[derive(Debug, Clone, PartialEq)]
pub enum ResumeOutcome {
    /// Nothing was unfinished and no retry was asked for: no run was
    /// recorded (no `batch_duration_seconds` sample) and the batch is closed.
    Complete {
        /// Jobs completed.
        completed: usize,
        /// Jobs failed (run them again with a [`RetrySelection`]).
        failed: usize,
        /// Jobs in the batch.
        total: usize,
    },
    /// Jobs ran; the batch is closed.
    Ran(Box<BatchReport>),
}

impl BatchEngine {
    /// `bykilt batch run`: creates the batch from `csv_path` as
    /// [`create_command_batch`](Self::create_command_batch) does (columns
    /// checked before anything is written), reports
    /// [`RunNotice::Created`], runs every job as
    /// [`execute_batch_with`](Self::execute_batch_with) does, and closes the
    /// batch.
    ///
    /// # Errors
    /// As [`create_command_batch`](Self::create_command_batch) and
    /// [`execute_batch_with`](Self::execute_batch_with), and the hooks' own
    /// errors. The batch is closed only when the run succeeded.
    pub fn run_batch<H: RunHooks>(
        &self,
        csv_path: impl AsRef<Path>,
        options: &ExecuteOptions,
        hooks: &mut H,
    ) -> Result<BatchReport, H::Error> {
        options.validate()?;
        let created = self.create_command_batch(csv_path)?;
        hooks.notice(RunNotice::Created(&created))?;
        self.run_open(&created.batch_id, options, hooks, false)
    }

    /// `bykilt batch resume` and `bykilt batch retry`, in this order:
    /// stops what a killed run left running and records those jobs
    /// interrupted ([`stop_orphans`](Self::stop_orphans); nothing starts if
    /// that fails), sends `request.selection` back to `pending`
    /// ([`retry_batch_jobs`](Self::retry_batch_jobs)), then either returns
    /// [`ResumeOutcome::Complete`] when nothing is left to run and no retry
    /// was asked for, or runs the unfinished jobs
    /// ([`resume_batch`](Self::resume_batch)). The batch is closed either
    /// way.
    ///
    /// # Errors
    /// [`BatchError::OrphansRemain`], and as
    /// [`retry_batch_jobs`](Self::retry_batch_jobs) and
    /// [`execute_batch_with`](Self::execute_batch_with); the hooks' own
    /// errors.
    pub fn resume<H: RunHooks>(
        &self,
        batch_id: &str,
        request: &ResumeRequest,
        hooks: &mut H,
    ) -> Result<ResumeOutcome, H::Error> {
        request.options.validate()?;
        let orphans = self.stop_orphans(batch_id, request.options.orphan_grace);
        for warning in self.take_warnings() {
            hooks.notice(RunNotice::Warning(&warning))?;
        }
        let interrupted = orphans?;
        if !interrupted.is_empty() {
            hooks.notice(RunNotice::Interrupted(&interrupted))?;
        }
        if let Some(selection) = &request.selection {
            let ids = self.retry_batch_jobs(batch_id, selection)?;
            hooks.notice(RunNotice::Retried(&ids))?;
        }
        let (runnable, completed, failed, total) = self.with_batch(batch_id, |m| {
            (
                m.jobs.iter().any(|j| j.status.is_runnable()),
                m.completed_jobs,
                m.failed_jobs,
                m.total_jobs,
            )
        })?;
        if request.selection.is_none() && !runnable {
            self.close_batch(batch_id)?;
            return Ok(ResumeOutcome::Complete {
                completed,
                failed,
                total,
            });
        }
        let report = self.run_open(batch_id, &request.options, hooks, true)?;
        Ok(ResumeOutcome::Ran(Box::new(report)))
    }

    /// Starts the hooks, runs the batch, finishes the hooks, and closes the
    /// batch when the run succeeded.
    fn run_open<H: RunHooks>(
        &self,
        batch_id: &str,
        options: &ExecuteOptions,
        hooks: &mut H,
        resume: bool,
    ) -> Result<BatchReport, H::Error> {
        let run_id = run_id_of(batch_id)?.to_owned();
        let columns = self.with_batch(batch_id, |m| m.columns.clone())?;
        let plan = RunPlan {
            batch_id,
            run_id: &run_id,
            columns: &columns,
            stop: self.stop_token(batch_id)?,
            collector: self.shared_collector(),
        };
        let runner = hooks.start(&plan)?;
        let report = if resume {
            self.resume_batch(batch_id, runner.as_ref(), options, hooks.observer())
        } else {
            self.execute_batch_with(batch_id, runner.as_ref(), options, hooks.observer())
        };
        hooks.finish();
        let report = report?;
        self.close_batch(batch_id)?;
        Ok(report)
    }
}
