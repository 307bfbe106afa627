//! CSV-driven batches: each data row of a CSV becomes a job; jobs run on a
//! bounded pool of worker threads with retries, timeouts and a graceful
//! stop; every status change is journaled so a batch survives `kill -9` and
//! resumes without losing a finished job; every lifecycle event is recorded
//! in a [`metrics_core::MetricsCollector`].
//!
//! ```
//! use std::sync::Arc;
//! use batch_engine::{BatchEngine, ExecuteOptions, JobContext, JobError, JobStatus, RunContext};
//! use metrics_core::MetricsCollector;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let csv = dir.path().join("users.csv");
//! std::fs::write(&csv, "user,plan\nada,pro\ngrace,\n").unwrap();
//!
//! let metrics = Arc::new(MetricsCollector::default());
//! let engine = BatchEngine::new(RunContext::new(dir.path().join("artifacts")))
//!     .with_collector(Arc::clone(&metrics));
//! let manifest = engine.create_batch_jobs(&csv)?;
//! assert_eq!(manifest.total_jobs, 2);
//!
//! let runner = |job: &JobContext<'_>| match job.row.get("plan") {
//!     Some("") => Err(JobError::runner("no plan")),
//!     _ => Ok(()),
//! };
//! let report = engine.execute_batch(&manifest.batch_id, &runner, &ExecuteOptions::default())?;
//! assert_eq!((report.summary.completed, report.summary.failed), (1, 1));
//! let failed = engine.get_batch(&manifest.batch_id)?.jobs[1].status;
//! assert_eq!(failed, JobStatus::Failed);
//! assert!(report.summary.failed_rows_csv.is_some());
//! # Ok::<(), batch_engine::BatchError>(())
//! ```

mod atomic_file;
mod batch_store;
mod command_runner;
mod commands;
mod csv_input;
mod engine;
mod error;
mod executor;
mod ids;
mod job;
mod journal;
mod manifest;
mod manifest_read;
mod metrics;
mod orphans;
mod process_group;
mod run_context;
mod runner;
mod stop;
mod summary;

pub use atomic_file::{write_atomic, write_atomic_with};
pub use batch_store::is_batch_open;
pub use command_runner::{
    ATTEMPT_HEADER, CommandRunner, DEFAULT_LOG_LIMIT, RESERVED_ENV, check_columns, env_var_name, last_attempt_output,
    last_output_line,
};
pub use commands::{ResumeOutcome, ResumeRequest, RunHooks, RunNotice, RunPlan};
pub use csv_input::{CsvOptions, CsvRow, CsvTable, Delimiter, parse_csv};
pub use engine::{
    BatchConfig, BatchEngine, BatchReport, CaughtUp, NewBatch, RetrySelection, batch_dir, batch_id_for, list_batches,
    run_id_of,
};
pub use error::{BatchError, CsvError, Result};
pub use executor::{
    BatchObserver, ExecuteOptions, JobEvent, NoObserver, RunCounts, Sleeper, ThreadSleeper, backoff_delay,
};
pub use ids::{resolve_batch_id, resolve_run_id};
pub use job::{BatchJob, JobProcess, JobStatus, ParseJobStatusError, RowData, job_id_for};
pub use journal::{JOURNAL_FILE, JobJournal, JournalEntry, JournalReplay, JournalSync};
pub use manifest::{BatchManifest, MANIFEST_FILE};
pub use metrics::{ERROR_TYPES, METRIC_NAMES};
pub use run_context::{
    ARTIFACTS_DIR_ENV, DEFAULT_ARTIFACTS_DIR, RunContext, artifacts_root_from_env, list_runs, new_run_id,
    validate_run_id,
};
pub use runner::{JobContext, JobError, JobRunner};
pub use stop::StopToken;
pub use summary::{BatchSummary, FAILED_ROWS_FILE};
