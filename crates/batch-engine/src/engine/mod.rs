//! `BatchEngine`: the public API tying input, manifest, journal, executor and
//! metrics together.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use metrics_core::{MetricsCollector, global_metrics_collector};
use time::OffsetDateTime;

use crate::batch_store::{BatchStore, read_batch};
use crate::csv_input::CsvOptions;
use crate::error::{BatchError, Result};
use crate::executor::{BatchObserver, ExecuteOptions, Execution, NoObserver, RunCounts, Sleeper, ThreadSleeper};
use crate::job::{BatchJob, JobStatus, RowData, job_id_for, parse_job_id};
use crate::journal::JournalSync;
use crate::manifest::{BatchManifest, MANIFEST_FILE};
use crate::metrics::BatchMetrics;
use crate::run_context::{RunContext, list_runs, run_dir, validate_run_id};
use crate::runner::JobRunner;
use crate::stop::StopToken;
use crate::summary::{BatchSummary, write_failed_rows};

mod catch_up;
mod recovery;

pub use catch_up::CaughtUp;

/// Settings of a [`BatchEngine`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchConfig {
    /// How input CSVs are read (size limit, delimiter, empty rows, allowed root).
    pub csv: CsvOptions,
    /// When the journal is fsynced.
    pub journal_sync: JournalSync,
}

/// A batch just created by [`BatchEngine::create_command_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBatch {
    /// `batch-<run_id>`.
    pub batch_id: String,
    /// Number of jobs (data rows).
    pub total_jobs: usize,
    /// The input's column names.
    pub columns: Vec<String>,
}

/// Which jobs [`BatchEngine::retry_batch_jobs`] sends back to `pending`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrySelection {
    /// Every failed job.
    Failed,
    /// These jobs (completed, failed or stopped ones).
    Jobs(Vec<String>),
}

/// The result of running a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchReport {
    /// What this run did.
    pub counts: RunCounts,
    /// The batch afterwards.
    pub summary: BatchSummary,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Whether a stop was requested during the run.
    pub stop_requested: bool,
}

#[derive(Debug)]
struct BatchHandle {
    batch_dir: PathBuf,
    store: Mutex<BatchStore>,
    metrics: BatchMetrics,
    stop: StopToken,
    running: Mutex<()>,
}

/// Turns CSV files into batches of jobs and runs them.
///
/// One run ([`RunContext`]) holds one batch, `batch-<run_id>`; its manifest
/// is `<root>/runs/<run_id>/batch/batch_manifest.json`. Status changes go to
/// an append-only journal beside it (one line each, O(1)); the manifest is
/// rewritten when a run ends and when a batch is opened. A batch is changed
/// by one process at a time (a lock file); reads never take the lock.
///
/// ```
/// use batch_engine::{BatchEngine, ExecuteOptions, JobContext, JobError, RunContext};
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("in.csv"), "name\nAda\nGrace\n").unwrap();
/// let engine = BatchEngine::new(RunContext::new(dir.path().join("artifacts")))
///     .with_collector(std::sync::Arc::new(metrics_core::MetricsCollector::default()));
/// let manifest = engine.create_batch_jobs(dir.path().join("in.csv"))?;
/// let runner = |job: &JobContext<'_>| -> Result<(), JobError> { Ok(()) };
/// let report = engine.execute_batch(&manifest.batch_id, &runner, &ExecuteOptions::default())?;
/// assert_eq!(report.summary.completed, 2);
/// # Ok::<(), batch_engine::BatchError>(())
/// ```
pub struct BatchEngine {
    ctx: RunContext,
    config: BatchConfig,
    collector: Arc<MetricsCollector>,
    sleeper: Arc<dyn Sleeper>,
    batches: Mutex<HashMap<String, Arc<BatchHandle>>>,
    warnings: Mutex<Vec<String>>,
}

impl std::fmt::Debug for BatchEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchEngine")
            .field("ctx", &self.ctx)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// `batch-<run_id>`.
pub fn batch_id_for(run_id: &str) -> String {
    format!("batch-{run_id}")
}

/// The run id inside a batch id.
///
/// # Errors
/// [`BatchError::InvalidId`] when `batch_id` is not `batch-<run_id>`.
pub fn run_id_of(batch_id: &str) -> Result<&str> {
    let run = batch_id.strip_prefix("batch-").ok_or_else(|| BatchError::InvalidId {
        kind: "batch",
        value: batch_id.to_owned(),
        reason: "batch ids look like batch-<run_id>",
    })?;
    validate_run_id(run).map_err(|_| BatchError::InvalidId {
        kind: "batch",
        value: batch_id.to_owned(),
        reason: "the part after batch- is not a valid run id",
    })?;
    Ok(run)
}

/// `<root>/runs/<run_id>/batch` of `batch_id`.
///
/// # Errors
/// As [`run_id_of`].
pub fn batch_dir(root: &Path, batch_id: &str) -> Result<PathBuf> {
    Ok(run_dir(root, run_id_of(batch_id)?).join("batch"))
}

/// Every batch under `root`, oldest first, each with the journal applied
/// (read without locking). Runs without a manifest are skipped.
///
/// # Errors
/// [`BatchError::Io`] when `root/runs` cannot be listed; a manifest that
/// cannot be read is an error naming it.
pub fn list_batches(root: &Path) -> Result<Vec<BatchManifest>> {
    let mut out = Vec::new();
    for run in list_runs(root)? {
        let dir = run_dir(root, &run).join("batch");
        if dir.join(MANIFEST_FILE).exists() {
            out.push(read_batch(&dir)?);
        }
    }
    Ok(out)
}

impl BatchEngine {
    /// An engine for `ctx` with default settings, recording into the
    /// process-wide collector.
    pub fn new(ctx: RunContext) -> Self {
        BatchEngine::with_config(ctx, BatchConfig::default())
    }

    /// An engine with `config`.
    pub fn with_config(ctx: RunContext, config: BatchConfig) -> Self {
        BatchEngine {
            ctx,
            config,
            collector: global_metrics_collector(),
            sleeper: Arc::new(ThreadSleeper),
            batches: Mutex::new(HashMap::new()),
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// Records metrics into `collector` instead of the process-wide one.
    pub fn with_collector(mut self, collector: Arc<MetricsCollector>) -> Self {
        self.collector = collector;
        self
    }

    /// Waits between retry attempts with `sleeper` (tests inject one that
    /// does not wait).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Takes what the engine repaired on its own since the last call, such
    /// as a torn journal tail it cut (naming the file and the bytes
    /// dropped), for the caller to show: a library does not print.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The run this engine creates batches in.
    pub fn run_context(&self) -> &RunContext {
        &self.ctx
    }

    /// The collector metrics go to.
    pub fn collector(&self) -> &MetricsCollector {
        &self.collector
    }

    /// The collector metrics go to, shared (to serve or push it while a
    /// batch runs).
    pub fn shared_collector(&self) -> Arc<MetricsCollector> {
        Arc::clone(&self.collector)
    }

    fn batches(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<BatchHandle>>> {
        self.batches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads `csv_path` and creates the run's batch: one pending job per
    /// data row, manifest written atomically, `batch_created` counted and
    /// `batch_size` set. The batch stays open (locked) in this engine.
    ///
    /// # Errors
    /// The [`CsvError`](crate::CsvError) of a bad input;
    /// [`BatchError::RunHasBatch`] when the run already has one;
    /// I/O and metrics errors.
    pub fn create_batch_jobs(&self, csv_path: impl AsRef<Path>) -> Result<BatchManifest> {
        let batch_id = self.create_batch(csv_path.as_ref(), |_| Ok(()))?.batch_id;
        self.get_batch(&batch_id)
    }

    /// [`create_batch_jobs`](Self::create_batch_jobs) for rows that a
    /// [`CommandRunner`](crate::CommandRunner) will run: also checks, before
    /// anything is written, that the columns map to distinct, non-reserved
    /// environment variables ([`check_columns`](crate::check_columns)).
    ///
    /// Returns the new batch's id, size and columns, not a copy of its
    /// jobs (see [`with_batch`](Self::with_batch) to read them).
    ///
    /// # Errors
    /// As [`create_batch_jobs`](Self::create_batch_jobs), and
    /// [`BatchError::EnvNameCollision`].
    pub fn create_command_batch(&self, csv_path: impl AsRef<Path>) -> Result<NewBatch> {
        self.create_batch(csv_path.as_ref(), crate::command_runner::check_columns)
    }

    /// Calls `f` with the batch (journal applied) without copying it: from
    /// memory when this engine has it open, else read from disk.
    ///
    /// # Errors
    /// As [`get_batch`](Self::get_batch).
    pub fn with_batch<T>(&self, batch_id: &str, f: impl FnOnce(&BatchManifest) -> T) -> Result<T> {
        if let Some(h) = self.batches().get(batch_id).cloned() {
            let store = h.store.lock().unwrap_or_else(PoisonError::into_inner);
            return Ok(f(store.manifest()));
        }
        let dir = batch_dir(self.ctx.root(), batch_id)?;
        if !dir.join(MANIFEST_FILE).exists() {
            return Err(BatchError::UnknownBatch {
                batch_id: batch_id.to_owned(),
                root: self.ctx.root().to_path_buf(),
            });
        }
        Ok(f(&read_batch(&dir)?))
    }

    fn create_batch(&self, csv_path: &Path, check_columns: impl Fn(&[String]) -> Result<()>) -> Result<NewBatch> {
        let run_id = self.ctx.run_id().to_owned();
        let batch_id = batch_id_for(&run_id);
        let created_at = OffsetDateTime::now_utc();
        let columns: std::cell::OnceCell<Arc<[String]>> = std::cell::OnceCell::new();
        let mut jobs: Vec<BatchJob> = Vec::new();
        // Streamed: rows become jobs as they are read.
        crate::csv_input::for_each_row(
            csv_path,
            &self.config.csv,
            |c| {
                check_columns(c)?;
                let _ = columns.set(c.to_vec().into());
                Ok(())
            },
            |_, record| {
                let i = jobs.len();
                jobs.push(BatchJob {
                    job_id: job_id_for(&run_id, i),
                    row_index: i,
                    row_data: RowData::from_values(
                        columns.get().map_or_else(|| Arc::from(Vec::new()), Arc::clone),
                        record.iter(),
                    ),
                    status: JobStatus::Pending,
                    attempts: 0,
                    error_message: None,
                    started_at: None,
                    completed_at: None,
                    process: None,
                    interrupted_attempts: None,
                });
                Ok(())
            },
        )?;
        jobs.shrink_to_fit();
        let metrics = BatchMetrics::new(self.collector(), &batch_id, &run_id)?;
        let manifest = BatchManifest {
            batch_id: batch_id.clone(),
            run_id: run_id.clone(),
            csv_path: csv_path.to_path_buf(),
            columns: columns.get().map(|c| c.to_vec()).unwrap_or_default(),
            total_jobs: jobs.len(),
            completed_jobs: 0,
            failed_jobs: 0,
            created_at,
            journal_seq: 0,
            jobs,
        };
        let dir = self.ctx.run_dir().join("batch");
        let store = BatchStore::create(&dir, manifest, self.config.journal_sync)?;
        let created = NewBatch {
            batch_id: batch_id.clone(),
            total_jobs: store.manifest().total_jobs,
            columns: store.manifest().columns.clone(),
        };
        metrics.batch_created.increment(1);
        metrics.batch_size.set(created.total_jobs as f64);
        metrics.status_n(JobStatus::Pending, created.total_jobs as u64);
        self.batches().insert(
            batch_id,
            Arc::new(BatchHandle {
                batch_dir: dir,
                store: Mutex::new(store),
                metrics,
                stop: StopToken::new(),
                running: Mutex::new(()),
            }),
        );
        Ok(created)
    }

    /// The open handle of `batch_id`, opening (locking, replaying,
    /// compacting) it on first use.
    fn handle(&self, batch_id: &str) -> Result<Arc<BatchHandle>> {
        if let Some(h) = self.batches().get(batch_id) {
            return Ok(Arc::clone(h));
        }
        let run_id = run_id_of(batch_id)?.to_owned();
        let dir = batch_dir(self.ctx.root(), batch_id)?;
        if !dir.join(MANIFEST_FILE).exists() {
            return Err(BatchError::UnknownBatch {
                batch_id: batch_id.to_owned(),
                root: self.ctx.root().to_path_buf(),
            });
        }
        let metrics = BatchMetrics::new(self.collector(), batch_id, &run_id)?;
        let mut batches = self.batches();
        if let Some(h) = batches.get(batch_id) {
            return Ok(Arc::clone(h));
        }
        let mut store = BatchStore::open(&dir, batch_id, self.config.journal_sync)?;
        self.warnings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append(&mut store.warnings);
        let handle = Arc::new(BatchHandle {
            batch_dir: dir,
            store: Mutex::new(store),
            metrics,
            stop: StopToken::new(),
            running: Mutex::new(()),
        });
        batches.insert(batch_id.to_owned(), Arc::clone(&handle));
        Ok(handle)
    }

    /// Changes one job's status along an allowed edge (see
    /// [`JobStatus::can_transition_to`]), journaled in O(1), and counts it
    /// in `job_status`. `error` is kept for `failed` and `stopped`.
    ///
    /// # Errors
    /// [`BatchError::InvalidId`] / [`BatchError::UnknownJob`] for a job id
    /// that is not in a batch under this engine's root;
    /// [`BatchError::InvalidTransition`]; I/O errors.
    pub fn update_job_status(&self, job_id: &str, status: JobStatus, error: Option<&str>) -> Result<()> {
        let (run_id, _) = parse_job_id(job_id).ok_or_else(|| BatchError::InvalidId {
            kind: "job",
            value: job_id.to_owned(),
            reason: "job ids look like <run_id>_0001",
        })?;
        let batch_id = batch_id_for(run_id);
        let handle = self.handle(&batch_id)?;
        let mut store = handle.store.lock().unwrap_or_else(PoisonError::into_inner);
        let idx = store
            .manifest()
            .index_of(job_id)
            .ok_or_else(|| BatchError::UnknownJob {
                batch_id: batch_id.clone(),
                job_id: job_id.to_owned(),
            })?;
        store.transition(idx, status, error.map(str::to_owned))?;
        handle.metrics.status(status);
        Ok(())
    }

    /// Runs every `pending` or `stopped` job of the batch with `runner`.
    /// Equivalent to [`execute_batch_with`](Self::execute_batch_with) with
    /// no observer.
    ///
    /// # Errors
    /// As [`execute_batch_with`](Self::execute_batch_with).
    pub fn execute_batch(
        &self,
        batch_id: &str,
        runner: &dyn JobRunner,
        options: &ExecuteOptions,
    ) -> Result<BatchReport> {
        self.execute_batch_with(batch_id, runner, options, &NoObserver)
    }

    /// Runs every `pending` or `stopped` job of the batch, in row order, on
    /// `options.concurrency` worker threads, reporting to `observer`. A stop
    /// requested before or during the run is honoured (see [`StopToken`]).
    /// At the end the journal is folded into the manifest, `failed_rows.csv`
    /// is written (or removed when nothing failed) and
    /// `batch_duration_seconds` is recorded.
    ///
    /// # Errors
    /// [`BatchError::InvalidOption`]; an unknown or busy batch; the first
    /// persistence error, which stops the run (jobs already finished stay
    /// recorded).
    pub fn execute_batch_with(
        &self,
        batch_id: &str,
        runner: &dyn JobRunner,
        options: &ExecuteOptions,
        observer: &dyn BatchObserver,
    ) -> Result<BatchReport> {
        options.validate()?;
        let handle = self.handle(batch_id)?;
        let _running = handle.running.lock().unwrap_or_else(PoisonError::into_inner);
        self.stop_orphans_of(batch_id, &handle, options.orphan_grace)?;
        let (queue, run_id) = {
            let store = handle.store.lock().unwrap_or_else(PoisonError::into_inner);
            let m = store.manifest();
            let queue: Vec<usize> = m
                .jobs
                .iter()
                .enumerate()
                .filter(|(_, j)| j.status.is_runnable())
                .map(|(i, _)| i)
                .collect();
            (queue, m.run_id.clone())
        };
        let started = Instant::now();
        let exec = Execution {
            store: &handle.store,
            metrics: &handle.metrics,
            runner,
            options,
            sleeper: self.sleeper.as_ref(),
            observer,
            stop: &handle.stop,
            batch_id,
            run_id: &run_id,
            failure: Mutex::new(None),
        };
        let result = exec.run(&queue);
        let elapsed = started.elapsed();
        // A run that had nothing to do is not a run of the batch.
        if !queue.is_empty() {
            handle.metrics.batch_duration.record(elapsed.as_secs_f64());
        }
        let mut store = handle.store.lock().unwrap_or_else(PoisonError::into_inner);
        // Fold the journal in even when the run failed, so that nothing
        // recorded is left only in the journal longer than needed.
        let compacted = store.compact();
        let counts = result?;
        compacted?;
        write_failed_rows(store.manifest(), &handle.batch_dir)?;
        let summary = BatchSummary::new(store.manifest(), self.collector(), &handle.batch_dir, true);
        Ok(BatchReport {
            counts,
            summary,
            elapsed,
            stop_requested: handle.stop.is_stopping(),
        })
    }

    /// The stop token of `batch_id` (opening the batch if needed). Hand it to
    /// a signal handler: [`StopToken::request_stop`] stops gracefully,
    /// [`StopToken::request_kill`] kills running jobs.
    ///
    /// # Errors
    /// An unknown or busy batch.
    pub fn stop_token(&self, batch_id: &str) -> Result<StopToken> {
        Ok(self.handle(batch_id)?.stop.clone())
    }

    /// Asks a running (or about to run) `execute_batch` of `batch_id` to
    /// stop: no new job starts, running jobs finish without further retries,
    /// the rest stay `pending`.
    ///
    /// # Errors
    /// An unknown or busy batch.
    pub fn stop_batch(&self, batch_id: &str) -> Result<()> {
        self.handle(batch_id)?.stop.request_stop();
        Ok(())
    }

    /// The batch with its journal applied: from memory when this engine has
    /// it open, else read from disk without locking.
    ///
    /// # Errors
    /// [`BatchError::InvalidId`], [`BatchError::UnknownBatch`], read errors.
    pub fn get_batch(&self, batch_id: &str) -> Result<BatchManifest> {
        if let Some(h) = self.batches().get(batch_id) {
            return Ok(h
                .store
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .manifest()
                .clone());
        }
        let dir = batch_dir(self.ctx.root(), batch_id)?;
        if !dir.join(MANIFEST_FILE).exists() {
            return Err(BatchError::UnknownBatch {
                batch_id: batch_id.to_owned(),
                root: self.ctx.root().to_path_buf(),
            });
        }
        read_batch(&dir)
    }

    /// Counts per status, `job_duration_seconds` percentiles of this batch
    /// from the engine's collector, and throughput.
    ///
    /// # Errors
    /// As [`get_batch`](Self::get_batch).
    pub fn get_batch_summary(&self, batch_id: &str) -> Result<BatchSummary> {
        let dir = batch_dir(self.ctx.root(), batch_id)?;
        let open_here = self.batches().contains_key(batch_id);
        self.with_batch(batch_id, |m| {
            // Probed only when a job says `running`: a finished batch needs no lock check.
            let has_running = m.jobs.iter().any(|j| j.status == JobStatus::Running);
            let alive = open_here || !has_running || crate::batch_store::is_batch_open(&dir);
            BatchSummary::new(m, self.collector(), &dir, alive)
        })
    }

    /// Folds the journal into the manifest and releases the batch's lock.
    /// A batch not open in this engine is left as it is.
    ///
    /// # Errors
    /// I/O errors of the compaction (the lock is released anyway).
    pub fn close_batch(&self, batch_id: &str) -> Result<()> {
        let Some(handle) = self.batches().remove(batch_id) else {
            return Ok(());
        };
        let mut store = handle.store.lock().unwrap_or_else(PoisonError::into_inner);
        store.compact()
    }
}
