//! `--remote-write` / `--otlp` beside a batch run, and `bykilt metrics
//! push`: the run's samples and aggregates sent with `metrics-remote`.
//!
//! Send positions live in the run's `metrics/` directory
//! (`remote-write-position.json`, `otlp-position.json`), so a resumed or
//! retried batch, or a later push of the same run to the same URL, sends
//! only what the receiver has not acknowledged yet.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use batch_engine::RunContext;
use batch_engine::list_runs;
use metrics_core::MetricsCollector;
use metrics_remote::{EventSink, FilePosition, SendConfig, SendEvent, SendStats, Sender, Target, push_history};

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
        "sent {} samples in {} requests to {url}",
        stats.sent_samples, stats.sent_batches
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

/// The senders running beside one batch execution.
pub(crate) struct RemoteSenders {
    senders: Vec<(String, Sender)>,
}

impl RemoteSenders {
    /// Starts one sender per receiver on the global collector (what the
    /// batch engine records into), resuming from the positions saved in
    /// the batch's run. `None` when nothing is to be sent.
    pub(crate) fn start(
        args: &RemoteArgs,
        batch_id: &str,
        collector: &Arc<MetricsCollector>,
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
            let position: Box<dyn metrics_remote::SendPosition> = match &dir {
                Some(d) => Box::new(FilePosition::new(d.join(file), url.clone())),
                None => Box::new(metrics_remote::MemoryPosition::new()),
            };
            let sender = Sender::start(
                Arc::clone(collector),
                target,
                config(args),
                position,
                Some(stderr_events()),
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
    targets: &[(Target, &'static str)],
    config: &SendConfig,
    out: &mut Output,
) -> Result<bool, CliError> {
    let mut all = true;
    for (target, file) in targets {
        let url = target.url().to_owned();
        let mut position = FilePosition::new(dir.join(file), url.clone());
        let stats =
            push_history(collector, target.clone(), config, &mut position, Some(stderr_events())).map_err(usage)?;
        report(&url, &stats, out);
        all &= stats.all_sent();
    }
    Ok(all)
}

/// `bykilt metrics push`: sends stored runs' metrics (every sample at its
/// own time, then the aggregates at the run's newest sample). Exit 0 when
/// every sample was acknowledged, 1 otherwise.
pub(crate) fn push(args: &PushArgs, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let targets = targets(&args.remote)?;
    if targets.is_empty() {
        return Err(CliError::Usage(
            "metrics push needs --remote-write URL or --otlp URL".into(),
        ));
    }
    let config = config(&args.remote);
    let runs: Vec<Option<String>> = if args.all_runs {
        let runs: Vec<Option<String>> = list_runs(root)?
            .into_iter()
            .filter(|id| {
                RunContext::with_run_id(root, id)
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
    let mut all = true;
    for run in runs {
        let (ctx, collector) = crate::commands::metrics::load(root, run.as_deref())?;
        out.note(&format!("pushing run {}", ctx.run_id()));
        all &= push_one(&collector, &metrics_dir(&ctx), &targets, &config, out)?;
    }
    Ok(if all {
        EXIT_ALL_COMPLETED
    } else {
        EXIT_NOT_ALL_COMPLETED
    })
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
