//! Arguments of the durable metrics store: where batches write it, and the
//! commands that read it (`metrics query|runs|import`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::values::{parse_duration, parse_tag};

/// Where `batch run|resume|retry` store their metrics.
#[derive(Debug, Args, Default, Clone)]
pub struct DbArgs {
    /// The metrics database [default: $BYKILT_METRICS_DB, else <artifacts>/metrics.db].
    #[arg(long, env = "BYKILT_METRICS_DB", value_name = "PATH", conflicts_with = "no_db")]
    pub db: Option<PathBuf>,
    /// Keep metrics in memory only (and in the run's metrics.json), as before the store.
    #[arg(long)]
    pub no_db: bool,
}

/// The database a reading command opens.
#[derive(Debug, Args, Default, Clone)]
pub struct ReadDbArgs {
    /// The metrics database [default: $BYKILT_METRICS_DB, else <artifacts>/metrics.db].
    #[arg(long, env = "BYKILT_METRICS_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// `bykilt metrics query` arguments.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The metric name.
    pub name: String,
    /// Only this run: `batch-<run_id>`, `<run_id>` or an unambiguous prefix
    /// [default: the latest run in the store].
    #[arg(long, value_name = "RUN_ID", conflicts_with = "all_runs")]
    pub run: Option<String>,
    /// Every run in the store.
    #[arg(long)]
    pub all_runs: bool,
    /// Only samples from the last DURATION (e.g. 90s, 15m, 1h, 7d).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub since: Option<Duration>,
    /// Only samples up to TIME (RFC 3339, Unix seconds, or a DURATION ago).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only samples with this tag (repeatable), as key=value.
    #[arg(long, value_parser = parse_tag, value_name = "KEY=VALUE")]
    pub tag: Vec<(String, String)>,
    /// At most N samples: the newest N.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// The database.
    #[command(flatten)]
    pub db: ReadDbArgs,
}

/// `bykilt metrics import` arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A run's metrics.json (the JSON export).
    pub file: PathBuf,
    /// The run to store it as [default: the run directory the file is in,
    /// else the file's name]. A run the database has already is refused.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// The database.
    #[command(flatten)]
    pub db: ReadDbArgs,
}
