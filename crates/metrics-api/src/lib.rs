//! HTTP exposition for a [`MetricsCollector`](metrics_core::MetricsCollector).
//!
//! * `GET /metrics` — Prometheus text 0.0.4, or OpenMetrics 1.0 when the
//!   `Accept` header asks for `application/openmetrics-text`.
//! * `GET /api/metrics/series` — names, types, sample and tag-set counts.
//! * `GET /api/metrics/series/{name}` — retained samples, newest last;
//!   `?tag=k=v` (repeatable, every pair must match), `?since_seconds=N`,
//!   `?limit=N` (default 1,000, at most 100,000; the newest N are returned).
//! * `GET /api/metrics/series/{name}/summary` — count/sum/min/max/avg and
//!   nearest-rank p50/p90/p95/p99 over the same filters.
//! * `GET /healthz` — `ok`, never behind the token.
//! * `GET /` — the dashboard, and its routes under `/api/runs` and
//!   `/api/metrics/overview` (see [`dashboard`]).
//!
//! Errors are JSON `{"error": "..."}`: 404 for an unknown series or route,
//! 400 naming the bad parameter, 401 without the bearer token when one is
//! set, 414 for a query string over 4 KiB.
//!
//! ```no_run
//! use std::sync::Arc;
//! use metrics_api::{ApiState, spawn_server};
//! use metrics_core::{MetricsCollector, global_metrics_collector};
//!
//! let server = spawn_server("127.0.0.1:9464".parse()?, ApiState::new(global_metrics_collector()))?;
//! println!("serving on http://{}/metrics", server.local_addr());
//! server.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod auth;
pub mod dashboard;
mod error;
pub mod push;
mod query;
mod routes;
mod server;

pub use error::ApiError;
pub use push::{PushError, PushGateway};
pub use routes::router;
pub use server::{ServerError, ServerHandle, serve, spawn_server};

use std::sync::Arc;

use metrics_core::MetricsCollector;

/// What the routes serve, and who may read it.
#[derive(Debug, Clone)]
pub struct ApiState {
    collector: Arc<MetricsCollector>,
    token: Option<Arc<str>>,
    runs: Option<Arc<dyn dashboard::RunCatalog>>,
}

impl ApiState {
    /// Serves `collector` with no authentication.
    pub fn new(collector: Arc<MetricsCollector>) -> Self {
        ApiState {
            collector,
            token: None,
            runs: None,
        }
    }

    /// Requires `Authorization: Bearer <token>` on every route but
    /// `/healthz`. An empty token is treated as no token.
    #[must_use = "with_token returns the configured state"]
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty()).map(Arc::from);
        self
    }

    /// Lists `runs` on the dashboard and at `/api/runs`.
    #[must_use = "with_runs returns the configured state"]
    pub fn with_runs(mut self, runs: Arc<dyn dashboard::RunCatalog>) -> Self {
        self.runs = Some(runs);
        self
    }

    /// The served collector.
    pub fn collector(&self) -> &Arc<MetricsCollector> {
        &self.collector
    }
}
