//! Exposing metrics: `bykilt serve`, and `--serve` / `--push-gateway` during
//! a batch.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use metrics_api::{ApiState, PushGateway, ServerConfig, ServerHandle, spawn_server_with};
use metrics_core::MetricsCollector;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::EXIT_ALL_COMPLETED;
use crate::alerts_cli::AlertArgs;
use crate::cli::{ExposeArgs, ServerArgs};
use crate::commands::alerts::{AlertStates, Alerting};
use crate::commands::metrics::load_preferring_db;
use crate::commands::run_catalog::ArtifactRuns;
use crate::error::CliError;
use crate::output::Output;

/// The server limits asked for, the library's defaults for the rest.
pub(crate) fn server_config(args: &ServerArgs) -> ServerConfig {
    let mut config = ServerConfig::default();
    if let Some(t) = args.header_read_timeout {
        config = config.with_header_read_timeout(t);
    }
    if let Some(t) = args.idle_timeout {
        config = config.with_idle_timeout(t);
    }
    if let Some(n) = args.max_connections {
        config = config.with_max_connections(n);
    }
    if let Some(t) = args.metrics_cache_ttl {
        config = config.with_metrics_cache_ttl(t);
    }
    config
}

/// Starts the HTTP server for `collector` with `token` and `limits`.
fn start_server(
    addr: std::net::SocketAddr,
    collector: Arc<MetricsCollector>,
    token: Option<String>,
    limits: &ServerArgs,
    runs: Arc<dyn metrics_api::dashboard::RunCatalog>,
    alerts: Option<Arc<dyn metrics_api::dashboard::AlertBoard>>,
) -> Result<ServerHandle, CliError> {
    let mut state = ApiState::new(collector)
        .with_token(token)
        .map_err(|e| CliError::Usage(format!("{e} (the token comes from --token or BYKILT_METRICS_TOKEN)")))?
        .with_runs(runs);
    if let Some(alerts) = alerts {
        state = state.with_alerts(alerts);
    }
    Ok(spawn_server_with(addr, state, server_config(limits))?)
}

/// `bykilt serve`: serves a run's stored metrics until SIGINT or SIGTERM.
pub(crate) fn serve(
    listen: std::net::SocketAddr,
    run: Option<&str>,
    token: Option<String>,
    alert_args: &AlertArgs,
    limits: &ServerArgs,
    root: &Path,
    out: &mut Output,
) -> Result<i32, CliError> {
    // Bad limits are reported before the run is loaded.
    server_config(limits).validate()?;
    // The run as the default metrics database has it, else its metrics.json.
    let (ctx, collector) = load_preferring_db(root, run, &crate::cli::ReadDbArgs::default(), out)?;
    let collector = Arc::new(collector);
    let alerting = Alerting::start(alert_args, Arc::clone(&collector), AlertStates::of_serve(root), out)?;
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| CliError::io("installing signal handlers for", "SIGINT/SIGTERM", e))?;
    let runs = Arc::new(ArtifactRuns::new(root.to_path_buf(), ctx.run_id(), false));
    let server = start_server(listen, Arc::clone(&collector), token, limits, runs, alerting.board())?;
    out.text(&format!(
        "serving run {} on http://{} (dashboard at /, /metrics, JSON API under /api/metrics/series); Ctrl-C stops\n",
        ctx.run_id(),
        server.local_addr()
    ));
    out.json(&serde_json::json!({ "run_id": ctx.run_id(), "listening": server.local_addr().to_string() }));
    let _ = signals.forever().next();
    alerting.finish(out);
    server.shutdown();
    Ok(EXIT_ALL_COMPLETED)
}

#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

/// Pushes every `interval` on a background thread until dropped.
struct PeriodicPush {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl PeriodicPush {
    fn start(
        gateway: PushGateway,
        collector: Arc<MetricsCollector>,
        interval: Duration,
        failures: Arc<Mutex<Vec<String>>>,
    ) -> Self {
        let stop = Arc::new(Stop::default());
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("bykilt-push".into())
            .spawn(move || {
                loop {
                    let guard = thread_stop.stopped.lock().unwrap_or_else(PoisonError::into_inner);
                    let (guard, _) = thread_stop
                        .cv
                        .wait_timeout_while(guard, interval, |s| !*s)
                        .unwrap_or_else(PoisonError::into_inner);
                    if *guard {
                        return;
                    }
                    drop(guard);
                    if let Err(e) = gateway.push(&collector) {
                        failures
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(e.to_string());
                    }
                }
            })
            .ok();
        PeriodicPush { stop, thread }
    }
}

impl Drop for PeriodicPush {
    fn drop(&mut self) {
        *self.stop.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.stop.cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What `--serve` and `--push-gateway` set up around one batch execution.
pub(crate) struct Exposure {
    server: Option<(ServerHandle, Arc<ArtifactRuns>)>,
    gateway: Option<PushGateway>,
    periodic: Option<PeriodicPush>,
    failures: Arc<Mutex<Vec<String>>>,
    remote: Option<crate::commands::remote::RemoteSenders>,
    collector: Arc<MetricsCollector>,
}

impl Exposure {
    /// Starts the live server and the periodic pusher, as asked, over
    /// `collector` (the one the batch engine records into).
    pub(crate) fn start(
        args: &ExposeArgs,
        batch_id: &str,
        root: &Path,
        collector: Arc<MetricsCollector>,
        alerts: Option<Arc<dyn metrics_api::dashboard::AlertBoard>>,
        recording: &crate::commands::store::BatchRecording,
        out: &mut Output,
    ) -> Result<Exposure, CliError> {
        let gateway = args
            .push_gateway
            .as_deref()
            .map(|url| PushGateway::new(url, "bykilt", &[("batch_id", batch_id)]))
            .transpose()?;
        let server = match args.serve {
            Some(addr) => {
                let run_id = batch_engine::run_id_of(batch_id)?;
                let runs = Arc::new(
                    ArtifactRuns::new(root.to_path_buf(), run_id, true)
                        .with_live_collector(Arc::clone(&collector), batch_id),
                );
                let s = start_server(
                    addr,
                    Arc::clone(&collector),
                    args.token.clone(),
                    &args.server,
                    Arc::clone(&runs) as Arc<dyn metrics_api::dashboard::RunCatalog>,
                    alerts,
                )?;
                out.note(&format!(
                    "serving live metrics on http://{0}/metrics, dashboard at http://{0}/",
                    s.local_addr()
                ));
                Some((s, runs))
            }
            None => None,
        };
        let failures = Arc::new(Mutex::new(Vec::new()));
        let periodic = match (&gateway, args.push_interval) {
            (Some(g), Some(every)) if !every.is_zero() => Some(PeriodicPush::start(
                g.clone(),
                Arc::clone(&collector),
                every,
                Arc::clone(&failures),
            )),
            _ => None,
        };
        let remote = crate::commands::remote::RemoteSenders::start(&args.remote, batch_id, &collector, recording, out)?;
        Ok(Exposure {
            server,
            gateway,
            periodic,
            failures,
            remote,
            collector,
        })
    }

    /// Stops periodic pushes, makes the final push, and stops the server.
    /// Push failures are reported as warnings: they never change the
    /// batch's result.
    pub(crate) fn finish(mut self, out: &mut Output) {
        if let Some(remote) = self.remote.take() {
            remote.finish(out);
        }
        drop(self.periodic.take());
        if let Some(gateway) = &self.gateway {
            match gateway.push(&self.collector) {
                Ok(()) => out.note(&format!("pushed metrics to {}", gateway.url())),
                Err(e) => out.warn(&e.to_string()),
            }
        }
        let failures = std::mem::take(&mut *self.failures.lock().unwrap_or_else(PoisonError::into_inner));
        if let Some(last) = failures.last() {
            out.warn(&format!(
                "{} failed; the last: {last}",
                crate::progress::counted(failures.len() as u64, "periodic push", "periodic pushes")
            ));
        }
        if let Some((server, runs)) = self.server.take() {
            runs.finished();
            server.shutdown();
        }
    }
}
