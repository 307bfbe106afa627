//! Exposing metrics: `bykilt serve`, and `--serve` / `--push-gateway` during
//! a batch.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use metrics_api::{ApiState, PushGateway, ServerHandle, spawn_server};
use metrics_core::MetricsCollector;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::EXIT_ALL_COMPLETED;
use crate::cli::ExposeArgs;
use crate::commands::metrics::load;
use crate::error::CliError;
use crate::output::Output;

/// `bykilt serve`: serves a run's stored metrics until SIGINT or SIGTERM.
pub(crate) fn serve(
    listen: std::net::SocketAddr,
    run: Option<&str>,
    token: Option<String>,
    root: &Path,
    out: &mut Output,
) -> Result<i32, CliError> {
    let (ctx, collector) = load(root, run)?;
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| CliError::io("installing signal handlers for", "SIGINT/SIGTERM", e))?;
    let server = spawn_server(listen, ApiState::new(Arc::new(collector)).with_token(token))?;
    out.text(&format!(
        "serving run {} on http://{}/metrics (JSON API under /api/metrics/series); Ctrl-C stops\n",
        ctx.run_id(),
        server.local_addr()
    ));
    out.json(&serde_json::json!({ "run_id": ctx.run_id(), "listening": server.local_addr().to_string() }));
    let _ = signals.forever().next();
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
    server: Option<ServerHandle>,
    gateway: Option<PushGateway>,
    periodic: Option<PeriodicPush>,
    failures: Arc<Mutex<Vec<String>>>,
    collector: Arc<MetricsCollector>,
}

impl Exposure {
    /// Starts the live server and the periodic pusher, as asked, over
    /// `collector` (the one the batch engine records into).
    pub(crate) fn start(
        args: &ExposeArgs,
        batch_id: &str,
        collector: Arc<MetricsCollector>,
        out: &mut Output,
    ) -> Result<Exposure, CliError> {
        let gateway = args
            .push_gateway
            .as_deref()
            .map(|url| PushGateway::new(url, "bykilt", &[("batch_id", batch_id)]))
            .transpose()?;
        let server = match args.serve {
            Some(addr) => {
                let s = spawn_server(
                    addr,
                    ApiState::new(Arc::clone(&collector)).with_token(args.token.clone()),
                )?;
                out.note(&format!("serving live metrics on http://{}/metrics", s.local_addr()));
                Some(s)
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
        Ok(Exposure {
            server,
            gateway,
            periodic,
            failures,
            collector,
        })
    }

    /// Stops periodic pushes, makes the final push, and stops the server.
    /// Push failures are reported as warnings: they never change the
    /// batch's result.
    pub(crate) fn finish(mut self, out: &mut Output) {
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
                "{} periodic push(es) failed; the last: {last}",
                failures.len()
            ));
        }
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }
}
