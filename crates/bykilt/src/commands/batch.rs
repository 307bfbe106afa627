//! `bykilt batch run|status|list|resume|retry`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use batch_engine::{
    BatchConfig, BatchEngine, BatchObserver, BatchReport, CommandRunner, ExecuteOptions, JobRunner, NoObserver,
    ResumeOutcome, ResumeRequest, RetrySelection, RunContext, RunHooks, RunNotice, RunPlan, batch_dir, list_batches,
    run_id_of,
};
use metrics_core::MetricsCollector;

use crate::cli::{DbArgs, ExecOverrides, ExposeArgs, RunArgs};
use crate::commands::alerts::{AlertStates, Alerting};
use crate::commands::expose::Exposure;
use crate::commands::history::{has_stored_run, replay_stored_run};
use crate::commands::metrics::{export_run_metrics, import_run_metrics, long_retention_config, run_metrics_json};
use crate::commands::saved_command::{SAVED_FILE, SavedCommand};
use crate::commands::store::{BatchRecording, BatchStore};
use crate::error::CliError;
use crate::output::{self, Output, summary_table, unfinished_jobs};
use crate::progress::Progress;
use crate::signals::StopOnSignal;
use crate::{EXIT_ALL_COMPLETED, EXIT_NOT_ALL_COMPLETED};

/// An engine recording into a collector of its own that keeps everything
/// the run records (the process-wide collector is left alone).
fn engine(root: &Path, config: BatchConfig) -> BatchEngine {
    BatchEngine::with_config(RunContext::new(root), config)
        .with_collector(Arc::new(MetricsCollector::new(long_retention_config())))
}

/// `bykilt batch run`.
pub(crate) fn run(args: RunArgs, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let engine = engine(root, args.input.config());
    let saved = SavedCommand {
        exec: args.exec,
        concurrency: args
            .concurrency
            .map(usize::from)
            .unwrap_or_else(|| ExecuteOptions::default().concurrency),
        retries: args.retries,
        retry_delay_secs: args.retry_delay.as_secs_f64(),
        max_retry_delay_secs: args.max_retry_delay.as_secs_f64(),
        timeout_secs: args.timeout.map(|t| t.as_secs_f64()),
        log_limit: args.log_limit,
        db: args
            .store
            .db
            .as_deref()
            .map(std::path::absolute)
            .transpose()
            .map_err(|e| CliError::io("resolving", args.store.db.as_deref().unwrap_or(Path::new("")), e))?,
        kill_grace: None,
        show_output: args.show_output,
    };
    // Check the options before anything is created on disk; the engine
    // checks the CSV and its column names before it writes anything.
    let options = saved.options()?;
    options.validate()?;
    crate::commands::alerts::check_alert_args(&args.expose.alerts)?;
    let store = BatchStore::open(&args.store, root, out)?;
    let mut hooks = CliRun::new(&saved, &args.expose, store, root, out, Some(&args.csv), "");
    let report = engine.run_batch(&args.csv, &options, &mut hooks)?;
    hooks.report(&report, &engine)
}

/// What a run started by the CLI shows and watches: the saved command,
/// progress, signal handlers, the `--serve`/`--push` exposure, alerts and
/// the metrics database.
struct CliRun<'a> {
    saved: &'a SavedCommand,
    expose: &'a ExposeArgs,
    store: Option<BatchStore>,
    /// The recording, when attached before the engine opened the batch
    /// (`resume`); moved into [`Watch`] when jobs start.
    recording: Option<BatchRecording>,
    /// The database once the recording finished holding every sample of
    /// the run: the run's exports are made from it.
    stored: Option<PathBuf>,
    root: &'a Path,
    out: &'a mut Output,
    /// The input of `batch run` (for the "N jobs from" note).
    csv: Option<&'a Path>,
    /// The batch, once known (at once for `resume`, once created for `run`).
    batch_id: String,
    /// `<run dir>/jobs`, once the run started.
    logs: PathBuf,
    watch: Option<Watch>,
}

/// What watches a run while it lives.
struct Watch {
    progress: Arc<Progress>,
    signals: StopOnSignal,
    exposure: Exposure,
    alerting: Alerting,
    recording: BatchRecording,
}

impl<'a> CliRun<'a> {
    fn new(
        saved: &'a SavedCommand,
        expose: &'a ExposeArgs,
        store: BatchStore,
        root: &'a Path,
        out: &'a mut Output,
        csv: Option<&'a Path>,
        batch_id: &str,
    ) -> Self {
        CliRun {
            saved,
            expose,
            store: Some(store),
            recording: None,
            stored: None,
            root,
            out,
            csv,
            batch_id: batch_id.to_owned(),
            logs: PathBuf::new(),
            watch: None,
        }
    }

    /// Attaches the metrics database to `collector` now, before the engine
    /// opens the batch: what opening records (interrupted jobs, jobs sent
    /// back to pending) is stored too. With `backfill`, what the collector
    /// holds already is stored first (a run the database does not have yet).
    fn attach_now(&mut self, collector: Arc<MetricsCollector>, run_id: &str, backfill: bool) {
        if let Some(store) = self.store.take() {
            self.recording = Some(store.attach(collector, run_id, backfill, self.out));
        }
    }

    /// Finishes a recording that no run took over (nothing was left to
    /// resume); the database when it holds the whole run.
    fn close_unstarted(mut self) -> Option<PathBuf> {
        self.recording.take()?.finish(self.out)
    }

    /// Exports the run's metrics, prints the summary, and returns the exit code.
    fn report(self, report: &BatchReport, engine: &BatchEngine) -> Result<i32, CliError> {
        let batch_id = &report.summary.batch_id;
        let ctx = RunContext::with_run_id(self.root, run_id_of(batch_id)?)?;
        let paths = match &self.stored {
            Some(db) => exports_from_store(db, &ctx, engine.collector(), self.out)?,
            None => export_run_metrics(engine.collector(), &ctx)?,
        };
        report_run(report, engine, batch_id, &paths, &self.logs, self.out)
    }
}

/// Writes the run's metrics.json and CSV from the metrics database `db`
/// (after the recording's final flush): every sample of every process that
/// recorded the run, a killed one's included. When the database cannot be
/// read back, a warning says so and they are written from `memory`.
fn exports_from_store(
    db: &Path,
    ctx: &RunContext,
    memory: &MetricsCollector,
    out: &mut Output,
) -> Result<output::MetricsPaths, CliError> {
    let from_db = || -> Result<MetricsCollector, CliError> {
        let reader = metrics_store::StoreReader::open(db)?;
        let collector = MetricsCollector::new(long_retention_config());
        replay_stored_run(&reader, ctx.run_id(), &collector)?;
        Ok(collector)
    };
    match from_db() {
        Ok(collector) => {
            // The database keeps no exemplars: this process's come back
            // from memory (a killed process's are lost with it).
            if let Err(e) = collector.merge_exemplars(&memory.snapshot()) {
                out.warn(&format!("the exemplars of run {} are left out: {e}", ctx.run_id()));
            }
            export_run_metrics(&collector, ctx)
        }
        Err(e) => {
            out.warn(&format!(
                "reading run {} back from {}: {e}; its metrics.json is written from this process's memory",
                ctx.run_id(),
                db.display()
            ));
            export_run_metrics(memory, ctx)
        }
    }
}

impl RunHooks for CliRun<'_> {
    type Error = CliError;

    fn notice(&mut self, notice: RunNotice<'_>) -> Result<(), CliError> {
        match notice {
            RunNotice::Created(batch) => {
                self.batch_id.clone_from(&batch.batch_id);
                self.saved.save(&batch_dir(self.root, &batch.batch_id)?)?;
                self.out.note(&format!(
                    "batch {}: {} jobs from {}",
                    batch.batch_id,
                    batch.total_jobs,
                    self.csv.map(Path::display).map(|d| d.to_string()).unwrap_or_default()
                ));
            }
            RunNotice::Warning(w) => self.out.warn(w),
            RunNotice::Interrupted(ids) => self.out.note(&format!(
                "{}: stopped {} job(s) a killed run left running ({}); recorded as interrupted",
                self.batch_id,
                ids.len(),
                ids.join(", ")
            )),
            RunNotice::Retried(ids) => {
                self.out
                    .note(&format!("{}: {} job(s) sent back to pending", self.batch_id, ids.len()))
            }
        }
        Ok(())
    }

    fn start(&mut self, plan: &RunPlan<'_>) -> Result<Box<dyn JobRunner>, CliError> {
        let ctx = RunContext::with_run_id(self.root, plan.run_id)?;
        self.logs = ctx.artifact_dir("jobs")?;
        let runner =
            CommandRunner::new(self.saved.exec.clone(), plan.columns, &self.logs)?.with_log_limit(self.saved.log_limit);
        let recording = match (self.recording.take(), self.store.take()) {
            (Some(recording), _) => recording,
            // A new batch's creation samples came before the writer: store them too.
            (None, Some(store)) => store.attach(Arc::clone(&plan.collector), plan.run_id, true, self.out),
            (None, None) => return Err(CliError::Usage("a batch run was started twice".to_owned())),
        };
        // The recording holds the database's one writer: alert states are saved through it.
        let states = AlertStates::of_batch(recording.state(), self.root);
        let alerting = Alerting::start(&self.expose.alerts, Arc::clone(&plan.collector), states, self.out)?;
        let exposure = Exposure::start(
            self.expose,
            plan.batch_id,
            self.root,
            Arc::clone(&plan.collector),
            alerting.board(),
            &recording,
            self.out,
        )?;
        let progress = Arc::new(Progress::new(self.out.quiet).with_logs(self.logs.clone(), self.saved.show_output));
        let signals = StopOnSignal::install(plan.stop.clone(), Arc::clone(&progress))
            .map_err(|e| CliError::io("installing signal handlers for", "SIGINT/SIGTERM", e))?;
        self.watch = Some(Watch {
            progress,
            signals,
            exposure,
            alerting,
            recording,
        });
        Ok(Box::new(runner))
    }

    fn observer(&self) -> &dyn BatchObserver {
        match &self.watch {
            Some(w) => w.progress.as_ref(),
            None => &NoObserver,
        }
    }

    fn finish(&mut self) {
        if let Some(w) = self.watch.take() {
            w.progress.finish();
            drop(w.signals);
            // Alerts save their last states through the recording's writer;
            // then the store flushes, so the final remote-write/OTLP send and
            // push carry its last self-metrics too.
            w.alerting.finish(self.out);
            self.stored = w.recording.finish(self.out);
            w.exposure.finish(self.out);
        }
    }
}

fn report_run(
    report: &BatchReport,
    engine: &BatchEngine,
    batch_id: &str,
    paths: &output::MetricsPaths,
    logs: &Path,
    out: &mut Output,
) -> Result<i32, CliError> {
    let s = &report.summary;
    let code = if s.all_completed() {
        EXIT_ALL_COMPLETED
    } else {
        EXIT_NOT_ALL_COMPLETED
    };
    let mut extra = vec![(
        "this run",
        format!(
            "{} in {} ({} completed, {} failed, {} stopped, {})",
            crate::progress::counted(report.counts.started as u64, "job", "jobs"),
            output::fmt_secs(report.elapsed.as_secs_f64()),
            report.counts.completed,
            report.counts.failed,
            report.counts.stopped,
            crate::progress::counted(report.counts.retries as u64, "retry", "retries")
        ),
    )];
    extra.extend(paths.rows(logs));
    let mut text = summary_table(s, &extra);
    if report.stop_requested {
        text.push_str(&format!(
            "stopped on request; continue with: bykilt batch resume {batch_id}\n"
        ));
    }
    let (unfinished, results) = engine.with_batch(batch_id, |m| {
        (
            unfinished_jobs(&m.jobs, 20, Some(logs)),
            (m.jobs.len() <= output::RESULTS_TABLE_MAX).then(|| output::job_results(&m.jobs, logs)),
        )
    })?;
    if s.failed > 0 || s.stopped > 0 {
        text.push_str("unfinished jobs:\n");
        text.push_str(&unfinished);
    }
    if let Some(results) = &results {
        text.push_str(&output::results_table(results));
    }
    out.text(&text);
    out.json(&serde_json::json!({
        "batch_id": s.batch_id,
        "run_id": s.run_id,
        "exit_code": code,
        "stop_requested": report.stop_requested,
        "elapsed_seconds": report.elapsed.as_secs_f64(),
        "this_run": {
            "started": report.counts.started,
            "completed": report.counts.completed,
            "failed": report.counts.failed,
            "stopped": report.counts.stopped,
            "retries": report.counts.retries,
        },
        "summary": s,
        "logs": logs,
        "metrics": paths,
        "results": results,
    }));
    Ok(code)
}

/// `bykilt batch resume` and `bykilt batch retry`.
pub(crate) fn resume(
    batch_id: &str,
    retry: Option<RetrySelection>,
    overrides: &ExecOverrides,
    expose: &ExposeArgs,
    db: &DbArgs,
    root: &Path,
    out: &mut Output,
) -> Result<i32, CliError> {
    let dir = batch_dir(root, batch_id)?;
    let engine = engine(root, BatchConfig::default());
    // Surfaces an unknown batch before the saved command is looked for
    // (without reading it: a large batch is read once, when opened).
    if !dir.join(batch_engine::MANIFEST_FILE).exists() {
        return Err(batch_engine::BatchError::UnknownBatch {
            batch_id: batch_id.to_owned(),
            root: root.to_path_buf(),
        }
        .into());
    }
    let mut saved = SavedCommand::load(&dir, batch_id, overrides, root)?;
    saved.apply(overrides);
    let options = saved.options()?;
    options.validate()?;
    // Without --db / BYKILT_METRICS_DB (or --no-db), the database the batch
    // was started with: a run is never split between two files.
    let remembered;
    let db = match &saved.db {
        Some(path) if db.db.is_none() && !db.no_db => {
            out.note(&format!(
                "recording into {}, the database the batch was started with",
                path.display()
            ));
            remembered = DbArgs {
                db: Some(path.clone()),
                no_db: false,
            };
            &remembered
        }
        _ => db,
    };
    let store = BatchStore::open(db, root, out)?;
    let run_id = run_id_of(batch_id)?;
    let ctx = RunContext::with_run_id(root, run_id)?;
    // The database has every process's samples of the run (a killed one's
    // too, up to its last flush); metrics.json only what the last process
    // that ended normally wrote.
    let stored_run = match store.path() {
        Some(path) => has_stored_run(path, run_id)?.then(|| path.to_path_buf()),
        None => None,
    };
    match &stored_run {
        Some(path) => replay_stored_run(&metrics_store::StoreReader::open(path)?, run_id, engine.collector())?,
        None => import_run_metrics(engine.collector(), &ctx)?,
    }
    let request = ResumeRequest {
        selection: retry,
        options,
    };
    let mut hooks = CliRun::new(&saved, expose, store, root, out, None, batch_id);
    // Attached before the engine opens the batch, whose first steps record
    // (interrupted jobs, retried jobs). A run the database lacks (recorded
    // with --no-db before) gets its metrics.json's samples first.
    hooks.attach_now(engine.shared_collector(), run_id, stored_run.is_none());
    // What a killed process journaled but never stored (its last flush
    // interval), recorded again at the journal's times.
    let caught = engine.catch_up_lost_events(batch_id)?;
    if !caught.is_empty() {
        hooks.out.note(&format!(
            "recorded again from the journal what the previous process's metrics lost: {} attempts started, {} jobs completed, {} failed{}",
            caught.started,
            caught.completed,
            caught.failed,
            caught
                .run_seconds
                .map(|s| format!(", and its run time ({s:.2}s)"))
                .unwrap_or_default()
        ));
    }
    match engine.resume(batch_id, &request, &mut hooks)? {
        ResumeOutcome::Ran(report) => hooks.report(&report, &engine),
        ResumeOutcome::Complete {
            completed,
            failed,
            total,
        } => {
            // A run killed after its last job wrote no metrics.json: make it.
            if let Some(db) = hooks.close_unstarted()
                && !run_metrics_json(&ctx).exists()
            {
                let paths = exports_from_store(&db, &ctx, engine.collector(), out)?;
                out.note(&format!("wrote {} from {}", paths.json.display(), db.display()));
            }
            // The receivers get what a killed process had not sent yet.
            if expose.remote.any() && !crate::commands::remote::push_unsent(&expose.remote, db, run_id, root, out)? {
                out.warn("not every sample of the run was acknowledged by its receivers");
            }
            let mut msg = format!(
                "batch {batch_id} is complete: nothing to resume ({completed} of {total} jobs completed, {failed} failed)\n"
            );
            if failed > 0 {
                msg.push_str(&format!(
                    "run the failed jobs again with: bykilt batch retry {batch_id} --failed\n"
                ));
            }
            out.text(&msg);
            out.json(&serde_json::json!({
                "batch_id": batch_id,
                "complete": true,
                "completed": completed,
                "failed": failed,
                "total": total,
            }));
            Ok(if failed == 0 {
                EXIT_ALL_COMPLETED
            } else {
                EXIT_NOT_ALL_COMPLETED
            })
        }
    }
}

/// The job id that `input` names in run `run_id`: a whole job id, or a job
/// number (`3`, `0003`).
pub(crate) fn job_id_in(run_id: &str, input: &str) -> String {
    match input.trim().parse::<usize>() {
        Ok(n) if n >= 1 => batch_engine::job_id_for(run_id, n - 1),
        _ => input.to_owned(),
    }
}

/// Whether the batch `batch_id` has a saved command (was started by `bykilt batch run`).
fn has_saved_command(root: &Path, batch_id: &str) -> bool {
    batch_dir(root, batch_id).is_ok_and(|d| d.join(SAVED_FILE).exists())
}

/// `bykilt batch status`.
pub(crate) fn status(batch_id: &str, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let run_id = run_id_of(batch_id)?;
    let ctx = RunContext::with_run_id(root, run_id)?;
    let collector = Arc::new(MetricsCollector::new(long_retention_config()));
    if run_metrics_json(&ctx).exists() {
        import_run_metrics(&collector, &ctx)?;
    }
    let engine = BatchEngine::new(RunContext::new(root)).with_collector(collector);
    let summary = engine.get_batch_summary(batch_id)?;
    let manifest = engine.get_batch(batch_id)?;
    let logs = ctx.run_dir().join("jobs");
    let mut text = summary_table(
        &summary,
        &[
            ("run dir", ctx.run_dir().display().to_string()),
            (
                "logs",
                format!(
                    "{}/<job_id>.log: one per job, every attempt appended after a line \
                     \"{}N started <time> ---\"",
                    logs.display(),
                    batch_engine::ATTEMPT_HEADER
                ),
            ),
        ],
    );
    let (attempts_cut, jobs_cut) = manifest
        .jobs
        .iter()
        .filter_map(|j| j.interrupted_attempts.as_deref())
        .fold((0, 0), |(a, n), list| (a + list.len(), n + 1));
    if attempts_cut > 0 {
        text.push_str(&format!(
            "interrupted  {} of {}: the run that started them ended before they finished; \
             their rows ran again (see \"outcome\" in --json)\n",
            crate::progress::counted(attempts_cut as u64, "attempt", "attempts"),
            crate::progress::counted(jobs_cut, "job", "jobs"),
        ));
    }
    if summary.failed > 0 || summary.stopped > 0 {
        text.push_str("unfinished jobs:\n");
        text.push_str(&unfinished_jobs(&manifest.jobs, 50, Some(&logs)));
    }
    out.text(&text);
    let jobs: Vec<serde_json::Value> = manifest
        .jobs
        .iter()
        .map(|j| {
            let mut v = serde_json::to_value(j).unwrap_or_default();
            let log = logs.join(format!("{}.log", j.job_id));
            if let Some(o) = v.as_object_mut() {
                o.insert("job_id".into(), serde_json::json!(j.job_id));
                o.insert("row_index".into(), serde_json::json!(j.row_index));
                o.insert("log".into(), serde_json::json!(log));
                if summary.interrupted > 0 && j.status == batch_engine::JobStatus::Running {
                    // Journaled running, but no process holds the batch: the
                    // attempt was interrupted (resume runs it again).
                    o.insert("interrupted".into(), serde_json::json!(true));
                }
                let attempt_logs: Vec<serde_json::Value> = (1..=j.attempts)
                    .map(|n| {
                        let mut a = serde_json::json!({
                            "attempt": n,
                            "log": log,
                            "header": format!("{}{n} started ", batch_engine::ATTEMPT_HEADER),
                        });
                        let dead_run =
                            n == j.attempts && summary.interrupted > 0 && j.status == batch_engine::JobStatus::Running;
                        if j.was_interrupted(n) || dead_run {
                            a["outcome"] = serde_json::json!("interrupted");
                        } else if n == j.attempts {
                            a["outcome"] = serde_json::json!(j.status.as_str());
                        }
                        a
                    })
                    .collect();
                o.insert("attempt_logs".into(), serde_json::json!(attempt_logs));
            }
            v
        })
        .collect();
    out.json(&serde_json::json!({ "summary": summary, "jobs": jobs }));
    Ok(if summary.all_completed() {
        EXIT_ALL_COMPLETED
    } else {
        EXIT_NOT_ALL_COMPLETED
    })
}

/// `bykilt batch list`.
pub(crate) fn list(root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let batches = list_batches(root)?;
    let saved: Vec<bool> = batches.iter().map(|b| has_saved_command(root, &b.batch_id)).collect();
    out.text(&output::list_table(&batches, &saved));
    let rows: Vec<_> = batches
        .iter()
        .map(|b| {
            serde_json::json!({
                "batch_id": b.batch_id,
                "run_id": b.run_id,
                "csv_path": b.csv_path,
                "created_at": b.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                "command_saved": has_saved_command(root, &b.batch_id),
                "total_jobs": b.total_jobs,
                "completed_jobs": b.completed_jobs,
                "failed_jobs": b.failed_jobs,
            })
        })
        .collect();
    out.json(&rows);
    Ok(EXIT_ALL_COMPLETED)
}

/// The artifacts root: the flag, else `$BYKILT_ARTIFACTS_DIR`, else `artifacts/`.
pub(crate) fn artifacts_root(flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(batch_engine::artifacts_root_from_env)
}
