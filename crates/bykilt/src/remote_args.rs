//! Command-line options of remote write and OTLP export (clap types):
//! `--remote-write` and `--otlp` beside a batch run, and
//! `bykilt metrics push`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::values::parse_duration;

/// Sending a batch's metrics to a remote-write engine or an OTLP endpoint
/// while it runs. Receivers are reached over http:// only (the build has
/// no TLS stack).
#[derive(Debug, Args, Default, Clone)]
pub struct RemoteArgs {
    /// Send every retained sample (at its own time) and the aggregates
    /// every --remote-write-interval to this Prometheus remote-write URL,
    /// e.g. http://127.0.0.1:9090/api/v1/write (Prometheus,
    /// VictoriaMetrics, Mimir, Thanos Receive). Failed sends are retried
    /// and reported; they never fail the batch.
    #[arg(long, value_name = "URL")]
    pub remote_write: Option<String>,
    /// How often aggregates and new samples are sent [default: 15s].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub remote_write_interval: Option<Duration>,
    /// An extra header for remote write, as 'Name: value' (repeatable),
    /// e.g. 'X-Scope-OrgID: team-a' for Mimir.
    #[arg(long, value_name = "'NAME: VALUE'")]
    pub remote_write_header: Vec<String>,
    /// Basic-auth user for remote write (with --remote-write-password).
    #[arg(long, env = "BYKILT_REMOTE_WRITE_USER", value_name = "USER")]
    pub remote_write_user: Option<String>,
    /// Basic-auth password for remote write.
    #[arg(
        long,
        env = "BYKILT_REMOTE_WRITE_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        requires = "remote_write_user"
    )]
    pub remote_write_password: Option<String>,
    /// Bearer token for remote write (`Authorization: Bearer TOKEN`).
    #[arg(
        long,
        env = "BYKILT_REMOTE_WRITE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        conflicts_with = "remote_write_user"
    )]
    pub remote_write_bearer_token: Option<String>,
    /// Send the metrics as OTLP/HTTP protobuf to this endpoint (an
    /// OpenTelemetry Collector, e.g. http://127.0.0.1:4318; /v1/metrics is
    /// added to a URL without a path), at the same interval.
    #[arg(long, value_name = "URL")]
    pub otlp: Option<String>,
    /// An extra header for OTLP, as 'Name: value' (repeatable).
    #[arg(long, value_name = "'NAME: VALUE'")]
    pub otlp_header: Vec<String>,
    /// The OTLP `service.name` resource attribute [default: bykilt].
    #[arg(long, env = "OTEL_SERVICE_NAME", value_name = "NAME")]
    pub otlp_service_name: Option<String>,
    /// Where send positions are kept: set by the command, not a flag.
    #[arg(skip)]
    pub artifacts_root: Option<PathBuf>,
}

impl RemoteArgs {
    /// Whether anything is to be sent.
    pub fn any(&self) -> bool {
        self.remote_write.is_some() || self.otlp.is_some()
    }
}

/// `bykilt metrics push` arguments.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Where to send, and how.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The run to push [default: the latest run with metrics].
    #[arg(long, value_name = "RUN_ID", conflicts_with = "all_runs")]
    pub run: Option<String>,
    /// Push every run under the artifacts root that has metrics, oldest first.
    #[arg(long)]
    pub all_runs: bool,
    /// The metrics database the runs are read from, and where the send
    /// positions are kept (a run it lacks is read from its metrics.json).
    #[command(flatten)]
    pub db: crate::cli::ReadDbArgs,
}
