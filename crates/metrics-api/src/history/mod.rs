//! The HTTP API over a metrics database (`metrics-store`): every run, not
//! only the live collector. `bykilt serve --db PATH` serves it.
//!
//! * `GET /api/runs`: the runs with their series and sample counts.
//! * `GET /api/metrics/series?run=`: every series the runs asked for
//!   (default: every run) hold, with its type, stored samples and tag
//!   sets (the live server's list, over the database).
//! * `GET /api/metrics/series/{name}?run=&since_seconds=&tag=K=V&limit=`:
//!   the newest `limit` samples (default 1,000, at most 100,000), oldest
//!   first; `run` is a run name (as the CLI takes it: `batch-<run_id>`,
//!   `<run_id>` or an unambiguous prefix) or `all` (the default: every
//!   run); `tag` is `key=value` or `key:value`.
//! * `GET /metrics`: the latest run's aggregates as its stored samples
//!   rebuild them ([`StoreReader::run_snapshot`], as `bykilt metrics export`
//!   reads a run: the latest aggregate snapshot only for tag sets that kept
//!   no samples, so a run being recorded or cut short by a crash shows
//!   every committed sample, not a snapshot up to a minute old; rebuilt
//!   again only when the store has changed), as
//!   Prometheus text or OpenMetrics (by `Accept`), with each series' help
//!   text and unit,
//!   gzipped for a scraper that accepts it, read at most once per
//!   `metrics_cache_ttl` however many scrape at once.
//! * `GET /healthz`.
//! * `GET /`: the dashboard, fed from the database, and the routes it
//!   reads: `/api/runs` (the stored runs with job counts from a
//!   [`RunCatalog`](crate::dashboard::RunCatalog), `live` and `served`),
//!   `/api/metrics/overview?run=`, `/api/metrics/series/{name}/summary` and
//!   `/api/metrics/series/{name}/chart` (the [`chart`](crate::chart) model)
//!   with the series route's parameters, and `/api/alerts`: the alerts of
//!   the [`AlertBoard`](crate::dashboard::AlertBoard) the server was given
//!   (`[]` without one).
//!
//! Every request opens its own read-only view, so the database may be
//! written (by a running batch) meanwhile, and what it wrote is served as
//! soon as its writer commits.

mod dashboard;
mod stored_chart;

pub use stored_chart::{MAX_CHART_SAMPLES, bucket_bounds, stored_series_chart};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_core::Snapshot;
use metrics_core::export::prometheus::encode;
use metrics_store::{RunFilter, SampleQuery, StoreError, StoreGeneration, StoreReader, time_spec};

use crate::ServerError;
use crate::error::quoted;
use crate::query::{DEFAULT_LIMIT, MAX_LIMIT, MAX_QUERY};

#[derive(Debug, Clone)]
struct History {
    db: Arc<PathBuf>,
    token: Option<Arc<str>>,
    /// Job counts of the stored runs, by run name.
    runs: dashboard::Catalog,
    /// The alerts of an evaluator running beside the server.
    alerts: Option<Arc<dyn crate::dashboard::AlertBoard>>,
    /// `/metrics` as last read, shared by concurrent scrapes.
    metrics: Arc<crate::metrics_cache::MetricsCache>,
    /// The latest run's rebuilt aggregates and the store generation they
    /// were read at: rebuilding a run replays its samples, which a store
    /// nobody writes need not do again.
    latest_run: Arc<std::sync::Mutex<Option<LatestRun>>>,
}

/// The latest run's aggregates as rebuilt, with the store generation they
/// were read at.
type LatestRun = (StoreGeneration, Arc<Snapshot>);

/// What a server over a database shows beside the database itself.
#[derive(Debug, Clone, Default)]
pub struct HistorySources {
    /// Job counts of the stored runs (matched by run name) for the
    /// dashboard's runs view.
    pub runs: Option<Arc<dyn crate::dashboard::RunCatalog>>,
    /// The alerts `GET /api/alerts` and the dashboard show.
    pub alerts: Option<Arc<dyn crate::dashboard::AlertBoard>>,
}

/// The routes over the database at `db`; with `token`, every route but
/// `/healthz` and the dashboard's page and assets requires
/// `Authorization: Bearer TOKEN`.
pub fn history_router(db: PathBuf, token: Option<String>) -> Router {
    history_router_with_runs(db, token, None)
}

/// [`history_router`], with the job counts of each stored run taken from
/// `runs` (matched by run name) for the dashboard's runs view.
pub fn history_router_with_runs(
    db: PathBuf,
    token: Option<String>,
    runs: Option<Arc<dyn crate::dashboard::RunCatalog>>,
) -> Router {
    history_router_with(db, token, HistorySources { runs, alerts: None })
}

/// [`history_router`], with the job counts and alerts of `sources`.
pub fn history_router_with(db: PathBuf, token: Option<String>, sources: HistorySources) -> Router {
    router_over(db, token, sources, crate::ServerConfig::DEFAULT_METRICS_CACHE_TTL)
}

/// The routes, with `/metrics` read from the database at most once per
/// `metrics_cache_ttl` (as the live server encodes it).
fn router_over(
    db: PathBuf,
    token: Option<String>,
    sources: HistorySources,
    metrics_cache_ttl: std::time::Duration,
) -> Router {
    let state = History {
        db: Arc::new(db),
        token: token.map(Arc::from),
        runs: sources.runs,
        alerts: sources.alerts,
        metrics: Arc::new(crate::metrics_cache::MetricsCache::new(metrics_cache_ttl)),
        latest_run: Arc::default(),
    };
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/runs", get(dashboard::list_runs))
        .route("/api/runs/{run}", get(dashboard::one_run))
        .route("/api/alerts", get(dashboard::alerts))
        .route("/api/metrics/overview", get(dashboard::overview))
        .route("/api/metrics/series", get(dashboard::list_series))
        .route("/api/metrics/series/{name}", get(series))
        .route("/api/metrics/series/{name}/summary", get(dashboard::summary))
        .route("/api/metrics/series/{name}/chart", get(dashboard::chart))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route".to_owned()) })
        .layer(axum::middleware::from_fn(refuse_long_queries))
        .layer(axum::middleware::from_fn_with_state(state.clone(), require_token))
        // Open to everyone, as on the live server: whether a token is wanted.
        .route(
            "/api/auth",
            get(|State(state): State<History>, headers: HeaderMap| async move {
                crate::auth::auth_status(state.token.as_deref(), &headers)
            }),
        )
        .merge(crate::dashboard::page_routes())
        .with_state(state)
}

async fn require_token(
    State(state): State<History>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if crate::auth::authorized(state.token.as_deref(), &request) {
        next.run(request).await
    } else {
        crate::ApiError::Unauthorized.into_response()
    }
}

/// A query string over [`MAX_QUERY`] bytes is refused with 414 before any
/// route parses it, as the live server does.
async fn refuse_long_queries(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match request.uri().query() {
        Some(q) if q.len() > MAX_QUERY => crate::ApiError::QueryTooLong(q.len()).into_response(),
        _ => next.run(request).await,
    }
}

/// An error body `{"error": message}`; the message quotes what the client
/// sent through [`quoted`](crate::error::quoted) and is clipped as a whole,
/// so no request comes back whole.
fn error(status: StatusCode, message: String) -> Response {
    let message = crate::error::clipped(message);
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

fn store_error(e: &StoreError) -> Response {
    let status = match e {
        StoreError::Invalid(_) | StoreError::UnknownRun { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, e.to_string())
}

/// Runs `f` on a fresh reader, off the async runtime's thread.
async fn with_reader<T: Send + 'static>(
    state: &History,
    f: impl FnOnce(&StoreReader) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    let db = Arc::clone(&state.db);
    let done = tokio::task::spawn_blocking(move || StoreReader::open(&*db).and_then(|r| f(&r))).await;
    match done {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(store_error(&e)),
        Err(_) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, "the query failed".to_owned())),
    }
}

/// Parses `run`, `since_seconds`, `tag` (repeatable, `key=value` or
/// `key:value`) and `limit`.
fn parse_query(name: String, raw: Option<&str>) -> Result<SampleQuery, String> {
    let bad = |param: &str, problem: String| format!("parameter {}: {problem}", quoted(param));
    let raw = raw.unwrap_or("");
    if raw.len() > MAX_QUERY {
        return Err(bad("(query)", format!("longer than {MAX_QUERY} bytes")));
    }
    // Without `run`, every run: the database's point is history across runs.
    let mut q = SampleQuery {
        runs: RunFilter::All,
        limit: Some(DEFAULT_LIMIT),
        ..SampleQuery::new(name)
    };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match &*k {
            "run" if v == "all" => q.runs = RunFilter::All,
            "run" => q.runs = RunFilter::Named(v.into_owned()),
            "since_seconds" => {
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| {
                        bad(
                            "since_seconds",
                            format!("{} is not a number of seconds ≥ 0", quoted(&v)),
                        )
                    })?;
                let since = time::Duration::checked_seconds_f64(secs)
                    .and_then(|d| time::OffsetDateTime::now_utc().checked_sub(d))
                    .map_or(i64::MIN, time_spec::unix_nanos);
                q.since = Some(since);
            }
            "tag" => {
                let (key, value) = crate::query::split_tag(&v)
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| bad("tag", format!("{} is not key=value (or key:value)", quoted(&v))))?;
                q.tags.push((key.to_owned(), value.to_owned()));
            }
            "limit" => {
                let n: usize = v.parse().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                    bad(
                        "limit",
                        format!("{} is not a whole number from 1 to {MAX_LIMIT}", quoted(&v)),
                    )
                })?;
                q.limit = Some(n);
            }
            other => {
                return Err(bad(
                    other,
                    "unknown parameter (run, since_seconds, tag, limit)".to_owned(),
                ));
            }
        }
    }
    Ok(q)
}

/// Samples `q` selects before its limit, `returned` of them returned: only
/// a query the limit cut short is counted again (a count reads every
/// matching chunk's header; the query stopped at the limit).
fn matching(r: &StoreReader, q: &SampleQuery, returned: usize) -> metrics_store::Result<u64> {
    match q.limit {
        Some(limit) if returned >= limit => r.count(q),
        _ => Ok(returned as u64),
    }
}

async fn series(State(state): State<History>, Path(name): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = match parse_query(name, raw.as_deref()) {
        Ok(q) => q,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let name = q.name.clone();
    let found = with_reader(&state, move |r| {
        let known = r.series()?.into_iter().find(|s| s.name == q.name);
        Ok(known.map(|s| (s, r.query(&q).and_then(|v| Ok((matching(r, &q, v.len())?, v))))))
    })
    .await;
    match found {
        Ok(Some((series, Ok((matching, samples))))) => {
            let values: Vec<_> = samples
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "timestamp": time_spec::format_nanos(s.timestamp_nanos),
                        "value": s.value,
                        "tags": s.tags,
                        "run": s.run,
                    })
                })
                .collect();
            axum::Json(serde_json::json!({
                "name": series.name,
                "type": series.metric_type,
                // Samples matching the filters, before `limit` (as the live server).
                "matching": matching,
                "returned": values.len(),
                "values": values,
            }))
            .into_response()
        }
        Ok(Some((_, Err(e)))) => store_error(&e),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no series {} in the database", quoted(&name)),
        ),
        Err(e) => e,
    }
}

async fn metrics(State(state): State<History>, headers: HeaderMap) -> Response {
    let (format, gzip) = crate::metrics_cache::negotiate(&headers);
    let db = Arc::clone(&state.db);
    let latest_run = Arc::clone(&state.latest_run);
    let body = state
        .metrics
        .body(format, gzip, move || {
            let reader = StoreReader::open(&*db)?;
            let snapshot = latest_run_snapshot(&reader, &latest_run)?;
            Ok::<_, StoreError>(bytes::Bytes::from(encode(&snapshot, format).text))
        })
        .await;
    match body {
        Ok(body) => body.into_response(format),
        Err(crate::metrics_cache::CacheError::Encode(e)) => store_error(&e),
        Err(crate::metrics_cache::CacheError::Panicked) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, "reading /metrics failed".to_owned())
        }
    }
}

/// The latest run's aggregates ([`StoreReader::run_snapshot`]), read again
/// only when the store has changed since `last` was read.
fn latest_run_snapshot(
    reader: &StoreReader,
    last: &std::sync::Mutex<Option<LatestRun>>,
) -> Result<Arc<Snapshot>, StoreError> {
    let generation = reader.generation()?;
    if let Some((seen, snapshot)) = &*last.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        && *seen == generation
    {
        return Ok(Arc::clone(snapshot));
    }
    let snapshot = Arc::new(reader.run_snapshot(&RunFilter::Latest)?);
    *last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((generation, Arc::clone(&snapshot)));
    Ok(snapshot)
}

/// Serves the database at `db` with the same connection limits, token
/// rules and shutdown as [`spawn_server_with`](crate::spawn_server_with).
///
/// # Errors
/// [`ServerError::InvalidConfig`], [`ServerError::Bind`] naming the
/// address, [`ServerError::Io`], or [`ServerError::Token`] for a token that
/// [`check_token`](crate::check_token) refuses.
pub fn spawn_history_server(
    addr: SocketAddr,
    db: PathBuf,
    token: Option<String>,
    config: crate::ServerConfig,
) -> Result<crate::ServerHandle, ServerError> {
    spawn_history_server_with_runs(addr, db, token, None, config)
}

/// [`spawn_history_server`] with the dashboard's job counts from `runs`
/// (see [`history_router_with_runs`]).
///
/// # Errors
/// As [`spawn_history_server`].
pub fn spawn_history_server_with_runs(
    addr: SocketAddr,
    db: PathBuf,
    token: Option<String>,
    runs: Option<Arc<dyn crate::dashboard::RunCatalog>>,
    config: crate::ServerConfig,
) -> Result<crate::ServerHandle, ServerError> {
    spawn_history_server_with(addr, db, token, HistorySources { runs, alerts: None }, config)
}

/// [`spawn_history_server`] with the job counts and alerts of `sources`
/// (see [`history_router_with`]).
///
/// # Errors
/// As [`spawn_history_server`].
pub fn spawn_history_server_with(
    addr: SocketAddr,
    db: PathBuf,
    token: Option<String>,
    sources: HistorySources,
    config: crate::ServerConfig,
) -> Result<crate::ServerHandle, ServerError> {
    if let Some(t) = &token {
        crate::check_token(t)?;
    }
    let ttl = config.metrics_cache_ttl;
    crate::server::spawn_router(addr, router_over(db, token, sources, ttl), config)
}
