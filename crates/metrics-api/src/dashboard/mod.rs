//! The dashboard: a page at `/` with its own small scripts (no third-party
//! code, nothing from a CDN), served from the binary, and the JSON routes
//! it reads beyond the series API.
//!
//! * `GET /` — the page; `GET /dashboard/{style.css,chart.js,app.js}` — its
//!   assets. These carry no data, so they are served without the token; the
//!   page asks for the token and sends it as a header on its API requests.
//! * `GET /api/runs` — every run with status counts, duration, throughput,
//!   ETA (`[]` when the server was given no [`RunCatalog`]).
//! * `GET /api/runs/{run_id}` — one run (404 when unknown).
//! * `GET /api/alerts` — the alerts of the evaluator running beside the
//!   server: name, state, since, labels, value (`[]` without an
//!   [`AlertBoard`]).
//! * `GET /api/metrics/overview` — every series with its type, buckets, tag
//!   sets with their last value, and the newest values for a sparkline. A
//!   tag set with no sample kept (an aggregate-only series, or samples not
//!   retained) has its current aggregate as its value instead
//!   (`aggregate_value`).

mod alerts;
mod runs;

pub use alerts::{AlertBoard, AlertView};
pub use runs::{RunCatalog, RunProgress};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_core::{AggregateValue, MetricType, MetricsCollector, TagFilter, TagSet};
use serde::Serialize;

use crate::{ApiError, ApiState};
use runs::RunView;

const INDEX_HTML: &str = include_str!("assets/index.html");
const STYLE_CSS: &str = include_str!("assets/style.css");
const CHART_JS: &str = include_str!("assets/chart.js");
const APP_JS: &str = include_str!("assets/app.js");

/// Values per series in the overview's sparkline.
pub const SPARKLINE_POINTS: usize = 60;

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// The page and its assets (no token needed: they hold no data), for the
/// live server and the database server alike.
pub(crate) fn page_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route(
            "/dashboard/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route(
            "/dashboard/chart.js",
            get(|| async { asset("text/javascript; charset=utf-8", CHART_JS) }),
        )
        .route(
            "/dashboard/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
}

/// The JSON routes the page reads (behind the token like the rest).
pub(crate) fn api_routes() -> Router<ApiState> {
    Router::new()
        .route("/api/runs", get(list_runs))
        .route("/api/runs/{run_id}", get(one_run))
        .route("/api/alerts", get(list_alerts))
        .route("/api/metrics/overview", get(overview))
}

fn no_parameters(raw: Option<&str>) -> Result<(), ApiError> {
    if let Some((param, _)) = raw.and_then(|r| form_urlencoded::parse(r.as_bytes()).next()) {
        return Err(ApiError::BadParameter {
            param: param.into_owned(),
            problem: "unknown parameter; this route takes none".into(),
        });
    }
    Ok(())
}

/// The catalog's runs; the error is the catalog's message.
fn read_runs(state: &ApiState) -> Result<Vec<RunProgress>, String> {
    state.runs.as_deref().map_or_else(|| Ok(Vec::new()), RunCatalog::runs)
}

fn catalog_failed(e: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({ "error": format!("reading the runs: {e}") })),
    )
        .into_response()
}

async fn list_runs(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    if let Err(e) = no_parameters(raw.as_deref()) {
        return e.into_response();
    }
    match read_runs(&state) {
        Ok(runs) => Json(runs.iter().map(RunView::of).collect::<Vec<_>>()).into_response(),
        Err(e) => catalog_failed(&e),
    }
}

async fn list_alerts(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    if let Err(e) = no_parameters(raw.as_deref()) {
        return e.into_response();
    }
    let alerts = state.alerts.as_deref().map(AlertBoard::alerts).unwrap_or_default();
    Json(alerts).into_response()
}

async fn one_run(State(state): State<ApiState>, Path(run_id): Path<String>) -> Response {
    match read_runs(&state) {
        Ok(runs) => match runs.iter().find(|r| r.run_id == run_id) {
            Some(run) => Json(RunView::of(run)).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({ "error": format!("no run {}", crate::error::quoted(&run_id)) })),
            )
                .into_response(),
        },
        Err(e) => catalog_failed(&e),
    }
}

/// A value and when it was recorded.
#[derive(Serialize)]
pub(crate) struct LastValue {
    pub(crate) value: f64,
    /// Unix seconds.
    pub(crate) timestamp: f64,
    /// Set when the value is an aggregate, not a sample: which one
    /// (`total`, `value` or `sum`, see [`aggregate_value`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) aggregate: Option<&'static str>,
}

/// The value that stands for an aggregate where no sample is kept: a
/// counter's total, a gauge's value, a histogram's or timer's sum (in the
/// series' unit, as its samples are), with the name of what it is.
pub(crate) fn aggregate_value(a: &AggregateValue, timestamp: f64) -> LastValue {
    let (value, of) = match a {
        AggregateValue::Counter { total } => (*total, "total"),
        AggregateValue::Gauge { value } => (*value, "value"),
        AggregateValue::Histogram(h) => (h.sum, "sum"),
    };
    LastValue {
        value,
        timestamp,
        aggregate: Some(of),
    }
}

/// A series' value when none of its tag sets has a sample: its tag sets'
/// aggregates summed (totals and sums add up), or a gauge's one value; a
/// gauge of several tag sets has none (their values do not add up).
pub(crate) fn aggregate_series_value<T: Serialize>(
    metric_type: MetricType,
    sets: &[TagSetView<T>],
) -> Option<LastValue> {
    let values: Vec<&LastValue> = sets.iter().filter_map(|t| t.last.as_ref()).collect();
    let first = values.first()?;
    if values.iter().any(|v| v.aggregate.is_none()) || (metric_type == MetricType::Gauge && values.len() > 1) {
        return None;
    }
    Some(LastValue {
        value: values.iter().map(|v| v.value).sum(),
        timestamp: values.iter().map(|v| v.timestamp).fold(f64::MIN, f64::max),
        aggregate: first.aggregate,
    })
}

/// One tag set of a series and its newest value.
#[derive(Serialize)]
pub(crate) struct TagSetView<T: Serialize> {
    pub(crate) tags: T,
    pub(crate) last: Option<LastValue>,
}

/// One row of the series view.
#[derive(Serialize)]
pub(crate) struct SeriesView<T: Serialize> {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) metric_type: MetricType,
    pub(crate) description: Option<String>,
    /// The unit of its values ([`crate::chart::unit_of`]).
    pub(crate) unit: &'static str,
    pub(crate) samples: usize,
    /// Histogram bucket bounds (empty for other types).
    pub(crate) buckets: Vec<f64>,
    pub(crate) tag_sets: Vec<TagSetView<T>>,
    /// The newest values across tag sets, oldest first.
    pub(crate) sparkline: Vec<f64>,
    pub(crate) last: Option<LastValue>,
}

/// Where the page's data comes from: it decides how the page asks for a
/// time range and a tag filter (`tag=k=v` and `since_seconds` for the live
/// collector; `tag=k:v`, `run=` and `since_seconds` for a database).
#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    /// The collector of the serving process.
    Live,
    /// A metrics database (`bykilt serve --db`).
    Database,
}

/// `GET /api/metrics/overview`.
#[derive(Serialize)]
pub(crate) struct Overview<T: Serialize> {
    /// The server's clock (Unix seconds): `since_seconds` counts back from it.
    pub(crate) now: f64,
    pub(crate) source: Source,
    pub(crate) series: Vec<SeriesView<T>>,
}

pub(crate) fn unix(t: time::OffsetDateTime) -> f64 {
    (t - time::OffsetDateTime::UNIX_EPOCH).as_seconds_f64()
}

fn last_of(v: metrics_core::MetricValue) -> LastValue {
    LastValue {
        value: v.value,
        timestamp: unix(v.timestamp),
        aggregate: None,
    }
}

/// Every series with its tag sets, last values and sparkline: a walk over
/// the whole collector, so it runs on the blocking pool, not on the thread
/// that answers `/healthz`.
fn overview_of(collector: &MetricsCollector) -> Overview<TagSet> {
    let now = unix(collector.now());
    let mut series = Vec::new();
    for info in collector.list_series() {
        let Some(s) = collector.get_metric_series(&info.name) else {
            continue;
        };
        let tag_sets = s
            .tag_sets()
            .into_iter()
            .map(|tags| {
                let filter = tags.iter().fold(TagFilter::new(), |f, (k, v)| f.with(k, v));
                let last = s.latest(&filter).map(last_of);
                // The aggregate is current: it is as of now.
                let last = last.or_else(|| s.aggregate(&tags).map(|a| aggregate_value(&a, now)));
                TagSetView { last, tags }
            })
            .collect::<Vec<_>>();
        let (_, newest) = s.newest_values(&TagFilter::new(), None, SPARKLINE_POINTS);
        let last = newest
            .last()
            .cloned()
            .map(last_of)
            .or_else(|| aggregate_series_value(info.metric_type, &tag_sets));
        series.push(SeriesView {
            unit: crate::chart::unit_of(&info.name, info.metric_type),
            name: info.name,
            metric_type: info.metric_type,
            description: s.description(),
            samples: info.samples,
            buckets: s.buckets().to_vec(),
            tag_sets,
            last,
            sparkline: newest.iter().map(|v| v.value).collect(),
        });
    }
    Overview {
        now,
        source: Source::Live,
        series,
    }
}

async fn overview(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> Result<Json<Overview<TagSet>>, ApiError> {
    no_parameters(raw.as_deref())?;
    let collector = std::sync::Arc::clone(state.collector());
    let overview = tokio::task::spawn_blocking(move || overview_of(&collector))
        .await
        .map_err(|e| ApiError::Internal(format!("building the overview failed: {e}")))?;
    Ok(Json(overview))
}
