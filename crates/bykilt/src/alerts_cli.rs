//! The command line of alerting, as clap types: `bykilt alerts ...` and the
//! `--alerts` flags of `batch run|resume|retry` and `serve`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `--alerts FILE [--alertmanager URL] [--webhook URL]`: evaluate a rules
/// file against the live metrics while the command runs.
#[derive(Debug, Args, Default, Clone)]
pub struct AlertArgs {
    /// Evaluate the alerting rules of FILE (TOML, see docs/alerting.md)
    /// every `eval_interval` while this runs; one line per state change on
    /// stderr; states kept in the metrics database (ARTIFACTS/alerts/state.json
    /// with `--no-db`).
    #[arg(long, value_name = "FILE")]
    pub alerts: Option<PathBuf>,
    /// Send firing and resolved alerts to this Alertmanager (API v2).
    #[arg(long, value_name = "URL", requires = "alerts")]
    pub alertmanager: Option<String>,
    /// POST Alertmanager-style notifications to this URL, with retries.
    #[arg(long, value_name = "URL", requires = "alerts")]
    pub webhook: Option<String>,
}

/// `bykilt alerts ...`
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Check a rules file: errors (exit 2) and warnings for metrics no run
    /// under the artifacts root produced.
    Check {
        /// The rules file.
        file: PathBuf,
    },
    /// Show the alerts the evaluator holds (pending, firing, recently resolved).
    Status {
        /// Read this JSON state file (what runs with `--no-db` keep; wins over `--db`)
        /// [default: the metrics database's states when it holds any, else
        /// ARTIFACTS/alerts/state.json].
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Read the states kept in this metrics database [default:
        /// ARTIFACTS/metrics.db].
        #[arg(long, value_name = "PATH", env = "BYKILT_METRICS_DB")]
        db: Option<PathBuf>,
    },
    /// Print the rules file as Prometheus alerting and recording rules.
    ExportRules {
        /// The rules file.
        file: PathBuf,
        /// Name series by the kinds this run recorded [default: the latest run with metrics, if any].
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
    },
}
