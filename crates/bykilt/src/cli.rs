//! The command line, as clap types. Parsing only; the commands live in
//! the crate's private `commands` module.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::alerts_cli::{AlertArgs, AlertsCommand};
use crate::values::{parse_delimiter, parse_duration, parse_exec, parse_size, parse_tag, parse_timeout, parse_token};

// The durable store's arguments live in their own file.
mod store;
pub use store::{DbArgs, ImportArgs, QueryArgs, ReadDbArgs};

/// Run CSV-driven batches of shell commands, resumable after a crash, and
/// read their metrics.
///
/// Exit codes: 0 every job completed; 1 some job failed or was left
/// unfinished (stopped); 2 bad usage or input.
#[derive(Debug, Parser)]
#[command(name = "bykilt", version)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Artifacts root [default: $BYKILT_ARTIFACTS_DIR, else ./artifacts].
    #[arg(long, global = true, value_name = "DIR")]
    pub artifacts_dir: Option<PathBuf>,
    /// Print only the final result (no progress).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Print results as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Top-level commands.
// Parsed once per process: the size of the batch variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, run, inspect and resume batches.
    #[command(subcommand)]
    Batch(BatchCommand),
    /// Read the metrics a run exported.
    #[command(subcommand)]
    Metrics(MetricsCommand),
    /// Serve the stored metrics over HTTP: the dashboard at /,
    /// Prometheus/OpenMetrics at /metrics (the latest aggregates), the JSON
    /// API under /api/metrics/series and /api/runs, /healthz. Serves the
    /// metrics database (--db, else $BYKILT_METRICS_DB, else
    /// <artifacts>/metrics.db when it exists) across every stored run; with
    /// --run, or when there is no database, one run (from the database if
    /// it has it, else from its metrics.json).
    Serve {
        /// Address to listen on (loopback by default).
        #[arg(long, default_value = "127.0.0.1:9464", value_name = "ADDR")]
        listen: SocketAddr,
        /// Serve only this run [default: every run in the database, or the
        /// latest run with metrics when there is no database].
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// Require `Authorization: Bearer TOKEN` on every route but /healthz
        /// (an empty token is an error).
        #[arg(long, env = "BYKILT_METRICS_TOKEN", hide_env_values = true, value_name = "TOKEN", value_parser = parse_token)]
        token: Option<String>,
        /// Alert rules evaluated while serving (see `bykilt alerts`): against
        /// the latest stored run, states kept in the database (or, with no
        /// database, against the run served, states in the artifacts root).
        #[command(flatten)]
        alerts: AlertArgs,
        /// The metrics database to serve [default: $BYKILT_METRICS_DB, else
        /// <artifacts>/metrics.db when it exists]: the dashboard at / over
        /// every stored run (a run another process is recording shows up as
        /// it is written), /api/runs, /api/metrics/series (the list),
        /// /api/metrics/series/{name}?run=&since_seconds=&tag=&limit= (every
        /// run unless run= names one; tag=key=value or key:value), and the
        /// latest aggregates at /metrics. A missing or foreign file is an
        /// error.
        #[arg(long, value_name = "PATH", conflicts_with = "run")]
        db: Option<PathBuf>,
        /// Connection limits and the /metrics cache.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Check alert rules, show alert states, export Prometheus rules.
    #[command(subcommand)]
    Alerts(AlertsCommand),
}

/// Exposing a batch's metrics while and after it runs.
#[derive(Debug, Args, Default, Clone)]
pub struct ExposeArgs {
    /// Serve the live metrics and the dashboard on ADDR while the batch runs
    /// (as `bykilt serve`).
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<SocketAddr>,
    /// Bearer token for --serve (an empty token is an error).
    #[arg(long, env = "BYKILT_METRICS_TOKEN", hide_env_values = true, value_name = "TOKEN", value_parser = parse_token)]
    pub token: Option<String>,
    /// Push the batch's metrics to this Pushgateway (http://host:port) when
    /// the run ends, grouped under job="bykilt" and the batch id. A failed
    /// push is retried and reported; it never fails the batch.
    #[arg(long, value_name = "URL")]
    pub push_gateway: Option<String>,
    /// Also push every DURATION while the batch runs.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", requires = "push_gateway")]
    pub push_interval: Option<Duration>,
    /// Alert rules evaluated while the batch runs (see `bykilt alerts`).
    #[command(flatten)]
    pub alerts: AlertArgs,
    /// Remote write and OTLP export (see `remote_args`).
    #[command(flatten)]
    pub remote: crate::remote_args::RemoteArgs,
    /// Connection limits and the /metrics cache of --serve.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Limits of the HTTP server (`bykilt serve`, `--serve`): a slow or idle
/// client costs a bounded time, never the service. Unset options take
/// `metrics_api::ServerConfig`'s defaults.
#[derive(Debug, Args, Default, Clone)]
#[command(next_help_heading = "HTTP server (serve, --serve)")]
pub struct ServerArgs {
    /// Close a connection whose request headers are not complete DURATION
    /// after it started waiting for them [default: 10s].
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    pub header_read_timeout: Option<Duration>,
    /// Close a connection with no request being answered and no bytes
    /// moving for DURATION [default: 5s].
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    pub idle_timeout: Option<Duration>,
    /// Most connections open at once; past it the one idle longest is
    /// closed [default: 256].
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: Option<usize>,
    /// Serve an encoded /metrics body again for DURATION; 0 shares it only
    /// with scrapes that arrive while it is encoded [default: 1s].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub metrics_cache_ttl: Option<Duration>,
}

/// `bykilt batch ...`
#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Run COMMAND once per row of CSV.
    ///
    /// Each row reaches the command as environment variables named BYKILT_
    /// and the column name (upper-cased, other characters as _), plus BYKILT_JOB_ID,
    /// BYKILT_BATCH_ID, BYKILT_ROW_INDEX and BYKILT_ATTEMPT, and as one JSON
    /// object on stdin. Row values never become part of the command line.
    Run(RunArgs),
    /// Show one batch: counts, durations, failed jobs.
    Status {
        /// The batch id (`bykilt batch list` shows them).
        batch_id: String,
    },
    /// List the batches under the artifacts root.
    List,
    /// Run what a stopped or killed batch left unfinished.
    Resume {
        /// The batch id.
        batch_id: String,
        /// Overrides of the options the batch was started with.
        #[command(flatten)]
        overrides: ExecOverrides,
        /// Live exposition and pushing.
        #[command(flatten)]
        expose: ExposeArgs,
        /// The metrics database.
        #[command(flatten)]
        store: DbArgs,
    },
    /// Send failed (or chosen) jobs back to pending and run them.
    Retry {
        /// The batch id.
        batch_id: String,
        /// Retry every failed job.
        #[arg(long, conflicts_with = "job", required_unless_present = "job")]
        failed: bool,
        /// Retry this job (repeatable).
        #[arg(long, value_name = "JOB_ID")]
        job: Vec<String>,
        /// Overrides of the options the batch was started with.
        #[command(flatten)]
        overrides: ExecOverrides,
        /// Live exposition and pushing.
        #[command(flatten)]
        expose: ExposeArgs,
        /// The metrics database.
        #[command(flatten)]
        store: DbArgs,
    },
}

/// `bykilt batch run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The input CSV (header row required; `,` `;` or tab delimited).
    pub csv: PathBuf,
    /// The shell command to run per row (under `sh -c`).
    #[arg(long, value_name = "COMMAND", value_parser = parse_exec)]
    pub exec: String,
    /// How the input CSV is read.
    #[command(flatten)]
    pub input: InputArgs,
    /// Jobs running at once, 1..=1024 [default: number of CPUs].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: Option<u16>,
    /// Extra attempts for a failed job, at most 100.
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retries: u32,
    /// Delay before the first retry, doubled each retry, with jitter.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub retry_delay: Duration,
    /// Longest delay between retries.
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub max_retry_delay: Duration,
    /// Kill a job (its whole process group) running longer than this (> 0).
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Cap of each attempt's output in its job's log (e.g. 64K, 1M, 1048576).
    #[arg(long, default_value = "1M", value_parser = parse_size, value_name = "BYTES")]
    pub log_limit: u64,
    /// Print every line each job's command wrote, prefixed with the job
    /// id, as each job finishes (by default only its last line is shown).
    #[arg(long)]
    pub show_output: bool,
    /// Live exposition and pushing.
    #[command(flatten)]
    pub expose: ExposeArgs,
    /// The metrics database.
    #[command(flatten)]
    pub store: DbArgs,
}

/// How `batch run` reads its input CSV (the engine's `BatchConfig`).
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Field delimiter: `auto` (the most frequent of `,` `;` tab in the
    /// header line), `tab`, or one ASCII character such as `,` `;` `|`.
    #[arg(long, default_value = "auto", value_parser = parse_delimiter, value_name = "CHAR")]
    pub delimiter: batch_engine::Delimiter,
    /// Larger input files are rejected before they are read (e.g. 300M, 2G, 1048576).
    #[arg(long, default_value = "256M", value_parser = parse_size, value_name = "BYTES")]
    pub max_file_size: u64,
    /// Only read an input that resolves (symlinks and `..` followed) to a
    /// path inside this directory.
    #[arg(long, value_name = "DIR")]
    pub allowed_root: Option<PathBuf>,
}

impl InputArgs {
    /// The engine configuration these flags describe.
    pub fn config(&self) -> batch_engine::BatchConfig {
        batch_engine::BatchConfig {
            csv: batch_engine::CsvOptions {
                max_file_size: self.max_file_size,
                delimiter: self.delimiter,
                allowed_root: self.allowed_root.clone(),
                ..batch_engine::CsvOptions::default()
            },
            ..batch_engine::BatchConfig::default()
        }
    }
}

/// Options of `resume` and `retry` that replace the saved ones.
#[derive(Debug, Args)]
pub struct ExecOverrides {
    /// Run this command instead of the saved one.
    #[arg(long, value_name = "COMMAND", value_parser = parse_exec)]
    pub exec: Option<String>,
    /// Jobs running at once, 1..=1024.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: Option<u16>,
    /// Extra attempts for a failed job, at most 100.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retries: Option<u32>,
    /// Kill a job running longer than this (> 0).
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Jobs a killed run left running are stopped before anything runs
    /// again: SIGTERM to each one's process group, then SIGKILL after this
    /// grace period.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub kill_grace: Duration,
    /// Print every line each job's command wrote, prefixed with the job id.
    #[arg(long)]
    pub show_output: bool,
}

/// `bykilt metrics ...`
#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Send a stored run's metrics (every sample at its own time, then the
    /// aggregates) to a Prometheus remote-write URL or an OTLP endpoint.
    Push(crate::remote_args::PushArgs),
    /// Count, sum, min, max, average and percentiles of one metric.
    Summary {
        /// The metric name (e.g. job_duration_seconds).
        name: String,
        /// Only samples with this tag (repeatable), as key=value.
        #[arg(long, value_parser = parse_tag, value_name = "KEY=VALUE")]
        tag: Vec<(String, String)>,
        /// Only samples from the last DURATION (e.g. 90s, 15m, 1h, 2d).
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        since: Option<Duration>,
        /// The run to read [default: the latest run with metrics].
        #[arg(long, value_name = "RUN_ID", conflicts_with = "all_runs")]
        run: Option<String>,
        /// Every run in the metrics database.
        #[arg(long)]
        all_runs: bool,
        /// The metrics database (read when it exists).
        #[command(flatten)]
        db: ReadDbArgs,
    },
    /// List the samples of one metric in the metrics database, with their
    /// timestamps and tags.
    Query(QueryArgs),
    /// List the runs in the metrics database with their series and sample counts.
    Runs {
        /// The database.
        #[command(flatten)]
        db: ReadDbArgs,
    },
    /// Load a run's metrics.json (from before the database) into the database.
    Import(ImportArgs),
    /// Draw one metric into an SVG or PNG file (chosen by --out's extension).
    Plot(PlotArgs),
    /// Print (JSON, Prometheus, OpenMetrics) or write (CSV) a run's metrics.
    Export {
        /// Output format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The run to read [default: the latest run with metrics].
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// Where to write: a file for JSON, Prometheus and OpenMetrics
        /// (default stdout), a directory for CSV (default: the run's
        /// metrics/csv directory). Missing parent directories are created.
        #[arg(long, short, value_name = "PATH")]
        output: Option<PathBuf>,
        /// Read the run from this metrics database when it has the run
        /// (else from the run's metrics.json).
        #[command(flatten)]
        db: ReadDbArgs,
    },
}

/// What `bykilt metrics plot` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum PlotKind {
    /// Values over time, one line per tag set (up to a cap) with a legend.
    #[default]
    Line,
    /// How many samples fall in each value range.
    Histogram,
}

/// `bykilt metrics plot` arguments.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The metric name (e.g. job_duration_seconds).
    pub name: String,
    /// The run to read [default: the latest run with metrics].
    #[arg(long, value_name = "RUN_ID", conflicts_with = "all_runs")]
    pub run: Option<String>,
    /// Read every run in the metrics database (without one: every run
    /// with a metrics.json under the artifacts root).
    #[arg(long)]
    pub all_runs: bool,
    /// Only samples from the last DURATION (e.g. 90s, 15m, 1h, 2d).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub since: Option<Duration>,
    /// Only samples with this tag (repeatable), as key=value.
    #[arg(long, value_parser = parse_tag, value_name = "KEY=VALUE")]
    pub tag: Vec<(String, String)>,
    /// Read the run from this metrics database when it has the run (else
    /// from the run's metrics.json), as the dashboard reads it.
    #[command(flatten)]
    pub db: ReadDbArgs,
    /// The file to write: FILE.svg or FILE.png (missing parent directories are created).
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Line chart over time, or the value distribution.
    #[arg(long, value_enum, default_value_t = PlotKind::Line)]
    pub kind: PlotKind,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(200..=8000))]
    pub width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u32).range(150..=8000))]
    pub height: u32,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON document (the collector's export shape).
    Json,
    /// One CSV file per metric.
    Csv,
    /// Prometheus text format 0.0.4 (the cumulative aggregates).
    Prometheus,
    /// OpenMetrics 1.0 text (the cumulative aggregates), ending in `# EOF`.
    Openmetrics,
}
