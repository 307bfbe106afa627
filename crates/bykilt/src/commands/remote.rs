//! `--remote-write` / `--otlp` beside a batch run, and `bykilt metrics
//! push`: the run's samples and aggregates sent with `metrics-remote`.
//!
//! Send positions (the last acknowledged timestamp per series and
//! receiver) live in the metrics database when the run is stored (table
//! `send_positions`), else in the run's `metrics/` directory
//! (`remote-write-position.json`, `otlp-position.json`, as before the
//! database; such a file is moved into the database the first time the
//! run is sent with one). So a resumed or retried batch, or a later push of
//! the same run to the same URL, sends only what the receiver has not
//! acknowledged yet.
//!
//! With the database, a batch's sender sends only samples the database has
//! committed (it flushes the writer before each send), and a resumed batch
//! starts from the run as the database holds it: what a killed process
//! recorded and stored but had not sent goes out with the resumed run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use batch_engine::RunContext;
use batch_engine::list_runs;
use metrics_core::MetricsCollector;
use metrics_remote::{
    DurableUntil, EventSink, FilePosition, Positions, RemoteError, SendConfig, SendEvent, SendPosition, SendStats,
    Sender, Target, push_history,
};
use metrics_store::{MetricsStore, SendPositions, StoreError, StoreOptions};

use crate::commands::store::{BatchRecording, read_path};
use crate::error::CliError;
use crate::output::Output;
use crate::remote_args::{PushArgs, RemoteArgs};
use crate::{EXIT_ALL_COMPLETED, EXIT_NOT_ALL_COMPLETED};

fn usage(e: metrics_remote::RemoteError) -> CliError {
    CliError::Usage(e.to_string())
}

/// The receivers named on the command line, with the file each one's
/// position is kept in (relative to the run's metrics directory).
fn targets(args: &RemoteArgs) -> Result<Vec<(Target, &'static str)>, CliError> {
    let mut out = Vec::new();
    if let Some(url) = &args.remote_write {
        let mut t = Target::remote_write(url).map_err(usage)?;
        for h in &args.remote_write_header {
            t = t.with_header(h).map_err(usage)?;
        }
        if let Some(user) = &args.remote_write_user {
            t = t.with_basic_auth(user, args.remote_write_password.as_deref().unwrap_or(""));
        }
        if let Some(token) = &args.remote_write_bearer_token {
            t = t.with_bearer_token(token);
        }
        out.push((t, "remote-write-position.json"));
    }
    if let Some(url) = &args.otlp {
        let service = args.otlp_service_name.as_deref().unwrap_or("bykilt");
        let mut t = Target::otlp(url, service).map_err(usage)?;
        for h in &args.otlp_header {
            t = t.with_header(h).map_err(usage)?;
        }
        out.push((t, "otlp-position.json"));
    }
    Ok(out)
}

fn config(args: &RemoteArgs) -> SendConfig {
    let mut c = SendConfig::default();
    if let Some(every) = args.remote_write_interval {
        c.interval = every;
    }
    c
}

/// One line on stderr per event, as it happens (a batch can run for hours).
fn stderr_events() -> EventSink {
    // The output layer is owned by the command's thread; a send event
    // happens on the sender's, and is worth seeing when it happens.
    #[allow(clippy::print_stderr)]
    Arc::new(|e: &SendEvent| eprintln!("bykilt: warning: {e}"))
}

fn report(url: &str, stats: &SendStats, out: &mut Output) {
    out.note(&format!(
        "sent {} in {} to {url}",
        crate::progress::counted(stats.sent_samples, "sample", "samples"),
        crate::progress::counted(stats.sent_batches, "request", "requests")
    ));
    if !stats.all_sent() {
        out.warn(&format!(
            "{url}: {} batch(es) rejected ({} samples), {} given up ({} samples), {} dropped on a full queue ({} samples); last error: {}",
            stats.rejected_batches,
            stats.rejected_samples,
            stats.failed_batches,
            stats.failed_samples,
            stats.overflowed_batches,
            stats.overflowed_samples,
            stats.last_error.as_deref().unwrap_or("none")
        ));
    }
}

fn metrics_dir(ctx: &RunContext) -> PathBuf {
    ctx.run_dir().join("metrics")
}

/// A sender's position kept in the metrics database.
struct StorePosition {
    positions: SendPositions,
    db: PathBuf,
}

impl StorePosition {
    fn err(&self, e: &StoreError) -> RemoteError {
        RemoteError::Position {
            path: self.db.clone(),
            reason: e.to_string(),
        }
    }

    /// The position of `url` in the database, taking over the run's
    /// position file of that receiver when the database has nothing yet
    /// (a run sent before positions moved into the database); the file is
    /// removed then, so one place holds the position.
    fn take_over(
        positions: SendPositions,
        db: &Path,
        file: Option<PathBuf>,
        url: &str,
        out: &mut Output,
    ) -> Result<StorePosition, CliError> {
        let store = StorePosition {
            positions,
            db: db.to_path_buf(),
        };
        let Some(file) = file.filter(|f| f.exists()) else {
            return Ok(store);
        };
        if !store.positions.acknowledged()?.is_empty() || store.positions.in_flight()?.is_some() {
            return Ok(store);
        }
        let mut old = FilePosition::new(&file, url);
        let acked = old.load().map_err(usage)?;
        let in_flight = old.load_in_flight().map_err(usage)?;
        if acked.is_empty() && in_flight.is_none() {
            // The file is another receiver's.
            return Ok(store);
        }
        store.positions.acknowledge(&acked)?;
        if let Some(f) = &in_flight {
            store.positions.set_in_flight(f)?;
        }
        std::fs::remove_file(&file).map_err(|e| CliError::io("removing", &file, e))?;
        out.note(&format!(
            "moved the send position of {url} from {} into {}",
            file.display(),
            db.display()
        ));
        Ok(store)
    }
}

impl SendPosition for StorePosition {
    fn load(&mut self) -> Result<Positions, RemoteError> {
        self.positions.acknowledged().map_err(|e| self.err(&e))
    }

    fn save(&mut self, updates: &Positions) -> Result<(), RemoteError> {
        self.positions.acknowledge(updates).map_err(|e| self.err(&e))
    }

    fn save_in_flight(&mut self, updates: &Positions) -> Result<(), RemoteError> {
        self.positions.set_in_flight(updates).map_err(|e| self.err(&e))
    }

    fn load_in_flight(&mut self) -> Result<Option<Positions>, RemoteError> {
        self.positions.in_flight().map_err(|e| self.err(&e))
    }
}

/// The senders running beside one batch execution.
pub(crate) struct RemoteSenders {
    senders: Vec<(String, Sender)>,
}

impl RemoteSenders {
    /// Starts one sender per receiver on `collector` (what the batch
    /// engine records into), resuming from the positions saved for the
    /// batch's run: in the metrics database when `recording` stores the
    /// run (then only committed samples are sent), else in the run's
    /// position files. `None` when nothing is to be sent.
    pub(crate) fn start(
        args: &RemoteArgs,
        batch_id: &str,
        collector: &Arc<MetricsCollector>,
        recording: &BatchRecording,
        out: &mut Output,
    ) -> Result<Option<Self>, CliError> {
        let targets = targets(args)?;
        if targets.is_empty() {
            return Ok(None);
        }
        let dir = match &args.artifacts_root {
            Some(root) => Some(metrics_dir(&RunContext::with_run_id(
                root,
                batch_engine::run_id_of(batch_id)?,
            )?)),
            None => None,
        };
        let mut senders = Vec::new();
        for (target, file) in targets {
            let url = target.url().to_owned();
            let file = dir.as_ref().map(|d| d.join(file));
            let position: Box<dyn SendPosition> = match (recording.send_positions(&url), recording.db_path(), file) {
                (Some(p), Some(db), file) => Box::new(StorePosition::take_over(p, db, file, &url, out)?),
                (_, _, Some(file)) => Box::new(FilePosition::new(file, url.clone())),
                _ => Box::new(metrics_remote::MemoryPosition::new()),
            };
            // A flush that fails (a full disk) holds nothing back: what
            // cannot be stored is still sent.
            let durable = recording.flusher().map(|f| {
                let until: DurableUntil = Arc::new(move || f.flush().ok().map(|r| r.durable_until));
                until
            });
            let sender = Sender::start_durable(
                Arc::clone(collector),
                target,
                config(args),
                position,
                Some(stderr_events()),
                durable,
            )
            .map_err(usage)?;
            out.note(&format!("sending metrics to {url}"));
            senders.push((url, sender));
        }
        Ok(Some(RemoteSenders { senders }))
    }

    /// Final flush of every sender, with a summary (and a warning for
    /// anything not delivered). Never changes the batch's result.
    pub(crate) fn finish(self, out: &mut Output) {
        for (url, sender) in self.senders {
            let stats = sender.shutdown();
            report(&url, &stats, out);
        }
    }
}

fn push_one(
    collector: &MetricsCollector,
    dir: &Path,
    stored: Option<(&MetricsStore, metrics_store::RunId)>,
    targets: &[(Target, &'static str)],
    config: &SendConfig,
    out: &mut Output,
) -> Result<bool, CliError> {
    let mut all = true;
    for (target, file) in targets {
        let url = target.url().to_owned();
        let mut position: Box<dyn SendPosition> = match stored {
            Some((store, run)) => Box::new(StorePosition::take_over(
                store.send_positions(run, &url),
                &store.path(),
                Some(dir.join(file)),
                &url,
                out,
            )?),
            None => Box::new(FilePosition::new(dir.join(file), url.clone())),
        };
        let stats = push_history(
            collector,
            target.clone(),
            config,
            position.as_mut(),
            Some(stderr_events()),
        )
        .map_err(usage)?;
        report(&url, &stats, out);
        all &= stats.all_sent();
    }
    Ok(all)
}

/// The metrics database `metrics push` reads and keeps positions in:
/// `None` when it does not exist (and no `--db` was given), or another
/// process writes it (a warning says so: positions then stay in the runs'
/// files).
fn push_store(db: &crate::cli::ReadDbArgs, root: &Path, out: &mut Output) -> Result<Option<MetricsStore>, CliError> {
    let path = read_path(db, root);
    if db.db.is_none() && !path.exists() {
        return Ok(None);
    }
    match MetricsStore::open(&path, StoreOptions::default()) {
        Ok(store) => Ok(Some(store)),
        Err(e @ StoreError::Locked { .. }) => {
            out.warn(&format!(
                "{e}; send positions are kept in the runs' metrics directories this time"
            ));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// `bykilt metrics push`: sends stored runs' metrics (every sample at its
/// own time, then the aggregates at the run's newest sample), read from
/// the metrics database when it has the run, else from its metrics.json.
/// Exit 0 when every sample was acknowledged, 1 otherwise.
pub(crate) fn push(args: &PushArgs, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let targets = targets(&args.remote)?;
    if targets.is_empty() {
        return Err(CliError::Usage(
            "metrics push needs --remote-write URL or --otlp URL".into(),
        ));
    }
    let config = config(&args.remote);
    let store = push_store(&args.db, root, out)?;
    let stored_names: std::collections::HashSet<String> = match &store {
        Some(s) => metrics_store::StoreReader::open(s.path())?
            .runs()?
            .into_iter()
            .map(|r| r.name)
            .collect(),
        None => std::collections::HashSet::new(),
    };
    let runs: Vec<Option<String>> = if args.all_runs {
        let runs: Vec<Option<String>> = list_runs(root)?
            .into_iter()
            .filter(|id| {
                stored_names.contains(id)
                    || RunContext::with_run_id(root, id)
                        .is_ok_and(|ctx| crate::commands::metrics::run_metrics_json(&ctx).exists())
            })
            .map(Some)
            .collect();
        if runs.is_empty() {
            return Err(CliError::Usage(format!("no run with metrics under {}", root.display())));
        }
        runs
    } else {
        vec![args.run.clone()]
    };
    let all = push_each(store.as_ref(), runs, &targets, &config, root, out)?;
    Ok(if all {
        EXIT_ALL_COMPLETED
    } else {
        EXIT_NOT_ALL_COMPLETED
    })
}

/// Pushes each of `runs` (`None`: the latest) to every target, read from
/// `store` when it has the run; whether every sample was acknowledged.
fn push_each(
    store: Option<&MetricsStore>,
    runs: Vec<Option<String>>,
    targets: &[(Target, &'static str)],
    config: &SendConfig,
    root: &Path,
    out: &mut Output,
) -> Result<bool, CliError> {
    let mut all = true;
    for run in runs {
        let from_db = match store {
            Some(s) => {
                let db = crate::cli::ReadDbArgs { db: Some(s.path()) };
                crate::commands::history::load_stored_run(root, run.as_deref(), &db)?
            }
            None => None,
        };
        let (ctx, collector, stored) = match (from_db, store) {
            (Some((ctx, collector, _)), Some(s)) => {
                let id = s.find_run(ctx.run_id())?;
                (ctx, collector, id.map(|id| (s, id)))
            }
            _ => {
                let (ctx, collector) = crate::commands::metrics::load(root, run.as_deref())?;
                (ctx, collector, None)
            }
        };
        out.note(&format!("pushing run {}", ctx.run_id()));
        all &= push_one(&collector, &metrics_dir(&ctx), stored, targets, config, out)?;
    }
    Ok(all)
}

/// `batch resume` of a batch with nothing left to run, with
/// `--remote-write`/`--otlp`: sends what the run's receivers have not
/// acknowledged yet (a process killed after its last job, before its last
/// send), as `metrics push --run` would; whether all of it was acknowledged.
pub(crate) fn push_unsent(
    args: &RemoteArgs,
    db: &crate::cli::DbArgs,
    run_id: &str,
    root: &Path,
    out: &mut Output,
) -> Result<bool, CliError> {
    let targets = targets(args)?;
    if targets.is_empty() {
        return Ok(true);
    }
    let store = if db.no_db {
        None
    } else {
        push_store(&crate::cli::ReadDbArgs { db: db.db.clone() }, root, out)?
    };
    push_each(
        store.as_ref(),
        vec![Some(run_id.to_owned())],
        &targets,
        &config(args),
        root,
        out,
    )
}

/// Checks the batch commands' `--remote-write`/`--otlp` options before
/// anything is created on disk, and lets them find the run directory where
/// send positions are kept.
///
/// # Errors
/// [`CliError::Usage`] naming a bad URL or header.
pub(crate) fn prepare(command: &mut crate::cli::Command, root: &Path) -> Result<(), CliError> {
    use crate::cli::{BatchCommand, Command};
    let expose = match command {
        Command::Batch(BatchCommand::Run(args)) => &mut args.expose,
        Command::Batch(BatchCommand::Resume { expose, .. } | BatchCommand::Retry { expose, .. }) => expose,
        _ => return Ok(()),
    };
    targets(&expose.remote)?;
    expose.remote.artifacts_root = Some(root.to_path_buf());
    Ok(())
}
