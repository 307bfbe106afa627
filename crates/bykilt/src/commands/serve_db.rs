//! `bykilt serve` over the metrics database: which database a plain
//! `serve` serves, and the server over it (every stored run, the dashboard,
//! the alerts of `--alerts`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use metrics_api::history::{HistorySources, spawn_history_server_with};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::EXIT_ALL_COMPLETED;
use crate::alerts_cli::AlertArgs;
use crate::cli::{ReadDbArgs, ServerArgs};
use crate::commands::alert_store::DbAlertStore;
use crate::commands::alerts::{AlertStates, Alerting};
use crate::commands::metrics::load_preferring_db;
use crate::commands::run_catalog::ArtifactRuns;
use crate::commands::store::default_db;
use crate::error::CliError;
use crate::output::Output;

/// The environment variable that names the database every command reads.
const DB_ENV: &str = "BYKILT_METRICS_DB";

/// The database `bykilt serve` serves: `--db`, else (without `--run`, which
/// asks for one run's view) `$BYKILT_METRICS_DB`, else
/// `<artifacts>/metrics.db` when it exists. `None`: serve one run, from the
/// database if it has it, else from its metrics.json.
pub(crate) fn served_db(db: Option<&Path>, run: Option<&str>, root: &Path) -> Option<PathBuf> {
    if let Some(db) = db {
        return Some(db.to_owned());
    }
    if run.is_some() {
        return None;
    }
    if let Some(named) = std::env::var_os(DB_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(named));
    }
    Some(default_db(root)).filter(|p| p.exists())
}

/// `bykilt serve` over the database at `db`: the dashboard at / over every
/// stored run (a run another process is recording shows up as it is
/// written), with job counts from the batch manifests under `root`, until
/// SIGINT or SIGTERM. With `--alerts`, the rules are evaluated against the
/// latest stored run (windows read the whole database) and their states
/// are served at /api/alerts.
pub(crate) fn serve(
    listen: std::net::SocketAddr,
    db: &Path,
    token: Option<String>,
    alert_args: &AlertArgs,
    limits: &ServerArgs,
    root: &Path,
    out: &mut Output,
) -> Result<i32, CliError> {
    // Bad limits, and a missing, foreign or newer file, are refused before
    // anything listens.
    super::expose::server_config(limits).validate()?;
    drop(metrics_store::StoreReader::open(db)?);
    let alerting = match alert_args.alerts {
        Some(_) => {
            let read = ReadDbArgs {
                db: Some(db.to_owned()),
            };
            let (_, collector) = load_preferring_db(root, None, &read, out)?;
            let states = AlertStates::Db(DbAlertStore::at(db.to_owned()), db.to_owned());
            Some(Alerting::start(alert_args, Arc::new(collector), states, out)?)
        }
        None => None,
    };
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| CliError::io("installing signal handlers for", "SIGINT/SIGTERM", e))?;
    // Job counts of the stored runs come from their manifests, read on
    // every request (a batch in another process moves them on).
    let sources = HistorySources {
        runs: Some(Arc::new(ArtifactRuns::new(root.to_path_buf(), "", false))),
        alerts: alerting.as_ref().and_then(Alerting::board),
    };
    let server = spawn_history_server_with(
        listen,
        db.to_owned(),
        token,
        sources,
        super::expose::server_config(limits),
    )?;
    out.text(&format!(
        "serving {} on http://{} (dashboard at /, /metrics, runs at /api/runs, samples under /api/metrics/series); Ctrl-C stops\n",
        db.display(),
        server.local_addr()
    ));
    out.json(&serde_json::json!({ "db": db, "listening": server.local_addr().to_string() }));
    let _ = signals.forever().next();
    if let Some(alerting) = alerting {
        alerting.finish(out);
    }
    drop(server);
    Ok(EXIT_ALL_COMPLETED)
}
