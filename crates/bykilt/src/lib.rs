//! The `bykilt` command line: argument types ([`cli`]), the commands, and
//! the output layer ([`output`]). The binary only parses arguments and calls
//! [`run`]; everything else is here so it can be tested in-process.

#![forbid(unsafe_code)]

pub mod alerts_cli;
pub mod cli;
mod commands;
pub mod error;
pub mod log_lines;
pub mod output;
pub mod progress;
pub mod remote_args;
pub mod signals;
pub mod values;

use batch_engine::{RetrySelection, resolve_batch_id};

use crate::cli::{BatchCommand, Cli, Command, MetricsCommand};
use crate::commands::{alerts, batch, expose, history, metrics, plot, remote, serve_db};
use crate::error::CliError;
use crate::output::Output;

/// Exit code: every job completed (or the command succeeded).
pub const EXIT_ALL_COMPLETED: i32 = 0;
/// Exit code: some job failed or was left unfinished.
pub const EXIT_NOT_ALL_COMPLETED: i32 = 1;
/// Exit code: bad usage or input (also used by clap for argument errors).
pub const EXIT_BAD_INPUT: i32 = 2;

/// Runs a parsed command line, printing through `out`, and returns the
/// process exit code. Errors are printed and give [`EXIT_BAD_INPUT`].
pub fn run(cli: Cli, out: &mut Output) -> i32 {
    match dispatch(cli, out) {
        Ok(code) => code,
        Err(e) => {
            out.error(&e.user_message());
            EXIT_BAD_INPUT
        }
    }
}

fn dispatch(cli: Cli, out: &mut Output) -> Result<i32, CliError> {
    let root = batch::artifacts_root(cli.global.artifacts_dir);
    let mut command = cli.command;
    remote::prepare(&mut command, &root)?;
    match command {
        Command::Batch(cmd) => match cmd {
            BatchCommand::Run(args) => batch::run(args, &root, out),
            BatchCommand::Status { batch_id } => batch::status(&resolve_batch_id(&root, &batch_id)?, &root, out),
            BatchCommand::List => batch::list(&root, out),
            BatchCommand::Resume {
                batch_id,
                overrides,
                expose,
                store,
            } => batch::resume(
                &resolve_batch_id(&root, &batch_id)?,
                None,
                &overrides,
                &expose,
                &store,
                &root,
                out,
            ),
            BatchCommand::Retry {
                batch_id,
                failed,
                job,
                overrides,
                expose,
                store,
            } => {
                let batch_id = resolve_batch_id(&root, &batch_id)?;
                let selection = if failed {
                    RetrySelection::Failed
                } else {
                    let run_id = batch_engine::run_id_of(&batch_id)?;
                    RetrySelection::Jobs(job.iter().map(|j| batch::job_id_in(run_id, j)).collect())
                };
                batch::resume(&batch_id, Some(selection), &overrides, &expose, &store, &root, out)
            }
        },
        Command::Metrics(cmd) => match cmd {
            MetricsCommand::Push(args) => remote::push(&args, &root, out),
            MetricsCommand::Summary {
                name,
                tag,
                since,
                run,
                all_runs,
                db,
            } => match history::summary(&name, &tag, since, run.as_deref(), all_runs, &db, &root, out) {
                Ok(Some(code)) => Ok(code),
                Ok(None) => {
                    let lacking = Some(commands::store::read_path(&db, &root)).filter(|p| p.exists());
                    metrics::summary(&name, &tag, since, run.as_deref(), lacking.as_deref(), &root, out)
                }
                // "No samples matching the filters" is misleading when no
                // run has the metric at all: say that instead.
                Err(e) => Err(metrics::unknown_metric_in_db(&name, &db, &root).unwrap_or(e)),
            },
            MetricsCommand::Query(args) => history::query(&args, &root, out),
            MetricsCommand::Runs { db } => history::runs(&db, &root, out),
            MetricsCommand::Import(args) => history::import(&args, &root, out),
            MetricsCommand::Plot(args) => plot::plot(&args, &root, out),
            MetricsCommand::Export {
                format,
                run,
                output,
                db,
            } => metrics::export(format, run.as_deref(), output.as_deref(), &db, &root, out),
        },
        Command::Serve {
            listen,
            run,
            token,
            alerts,
            db,
            server,
        } => match serve_db::served_db(db.as_deref(), run.as_deref(), &root) {
            Some(db) => serve_db::serve(listen, &db, token, &alerts, &server, &root, out),
            None => expose::serve(listen, run.as_deref(), token, &alerts, &server, &root, out),
        },
        Command::Alerts(cmd) => alerts::run(cmd, &root, out),
    }
}
