//! HTTP exposition for a [`MetricsCollector`].
//!
//! * `GET /metrics` — Prometheus text 0.0.4, or OpenMetrics 1.0 when the
//!   `Accept` header asks for `application/openmetrics-text`.
//! * `GET /api/metrics/series` — names, types, sample and tag-set counts.
//! * `GET /api/metrics/series/{name}` — retained samples, newest last;
//!   `?tag=k=v` (repeatable, every pair must match), `?since_seconds=N`,
//!   `?limit=N` (default 1,000, at most 100,000; the newest N are returned).
//! * `GET /api/metrics/series/{name}/summary` — count/sum/min/max/avg and
//!   nearest-rank p50/p90/p95/p99 over the same filters.
//! * `GET /api/metrics/series/{name}/chart` — the [`chart`] model of the
//!   same samples: the lines, distribution and percentiles the dashboard
//!   draws, built by the code that `bykilt metrics plot` draws from.
//! * `GET /healthz` — `ok`, never behind the token.
//! * `GET /` — the dashboard, and its routes under `/api/runs`,
//!   `/api/alerts` and `/api/metrics/overview` (see [`dashboard`]).
//!
//! Errors are JSON `{"error": "..."}`: 404 for an unknown series or route,
//! 400 naming the bad parameter, 401 without the bearer token when one is
//! set, 414 for a query string over 4 KiB. An error echoes at most a few
//! hundred bytes of the request.
//!
//! The server ([`serve`], [`spawn_server`], [`spawn_server_with`]) bounds
//! what a client can cost with a header-read timeout, an idle timeout and a
//! cap on open connections ([`ServerConfig`]), encodes `/metrics` off the
//! thread that talks to clients, and lets concurrent scrapes share one
//! encoding.
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

#![forbid(unsafe_code)]

mod auth;
pub mod chart;
mod config;
mod connections;
pub mod dashboard;
mod error;
pub mod history;
mod metrics_cache;
pub mod push;
mod query;
mod rfc3339;
mod routes;
mod server;

pub use auth::{TokenError, check_token};
pub use config::ServerConfig;
pub use error::ApiError;
pub use push::{PushError, PushGateway};
pub use routes::router;
pub use server::{ServerError, ServerHandle, serve, spawn_server, spawn_server_with};

use std::sync::Arc;
use std::time::Duration;

use metrics_core::MetricsCollector;

use crate::metrics_cache::MetricsCache;

/// What the routes serve, and who may read it.
#[derive(Debug, Clone)]
pub struct ApiState {
    collector: Arc<MetricsCollector>,
    token: Option<Arc<str>>,
    metrics: Arc<MetricsCache>,
    runs: Option<Arc<dyn dashboard::RunCatalog>>,
    alerts: Option<Arc<dyn dashboard::AlertBoard>>,
}

impl ApiState {
    /// Serves `collector` with no authentication, caching the encoded
    /// `/metrics` body for [`ServerConfig::DEFAULT_METRICS_CACHE_TTL`].
    pub fn new(collector: Arc<MetricsCollector>) -> Self {
        ApiState {
            collector,
            token: None,
            metrics: Arc::new(MetricsCache::new(ServerConfig::DEFAULT_METRICS_CACHE_TTL)),
            runs: None,
            alerts: None,
        }
    }

    /// Requires `Authorization: Bearer <token>` (the scheme name in any
    /// case) on every route but `/healthz`; `None` serves without one.
    ///
    /// # Errors
    /// [`TokenError`] for an empty token — it would silently turn
    /// authentication off — or one with characters an `Authorization`
    /// header cannot carry (anything but visible ASCII).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use metrics_api::{ApiState, TokenError};
    /// let state = ApiState::new(Arc::new(metrics_core::MetricsCollector::default()));
    /// assert_eq!(state.clone().with_token(Some(String::new())).unwrap_err(), TokenError::Empty);
    /// assert!(state.with_token(Some("s3cret".into())).is_ok());
    /// ```
    pub fn with_token(mut self, token: Option<String>) -> Result<Self, TokenError> {
        self.token = match token {
            Some(t) => {
                check_token(&t)?;
                Some(Arc::from(t))
            }
            None => None,
        };
        Ok(self)
    }

    /// Serves an encoded `/metrics` body again for `ttl` after encoding it
    /// (zero: only scrapes that arrive while an encoding runs share it).
    /// [`serve`] and [`spawn_server_with`] set this from
    /// [`ServerConfig::metrics_cache_ttl`].
    #[must_use = "with_metrics_cache_ttl returns the configured state"]
    pub fn with_metrics_cache_ttl(mut self, ttl: Duration) -> Self {
        if self.metrics.ttl() != ttl {
            self.metrics = Arc::new(MetricsCache::new(ttl));
        }
        self
    }

    /// Lists `runs` on the dashboard and at `/api/runs`.
    #[must_use = "with_runs returns the configured state"]
    pub fn with_runs(mut self, runs: Arc<dyn dashboard::RunCatalog>) -> Self {
        self.runs = Some(runs);
        self
    }

    /// Shows `alerts` on the dashboard's runs view and at `/api/alerts`.
    #[must_use = "with_alerts returns the configured state"]
    pub fn with_alerts(mut self, alerts: Arc<dyn dashboard::AlertBoard>) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// The served collector.
    pub fn collector(&self) -> &Arc<MetricsCollector> {
        &self.collector
    }
}
