//! The routes and their handlers.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_core::{MetricSeries, MetricType, MetricValue, Summary, SummaryQuery};
use serde::Serialize;
use std::sync::Arc;
use time::OffsetDateTime;

use crate::query::{self, SeriesQuery};
use crate::{ApiError, ApiState, auth};

/// The application: every route, the token check and the body limit.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/metrics/series", get(list_series))
        .route("/api/metrics/series/{name}", get(series_values))
        .route("/api/metrics/series/{name}/summary", get(series_summary))
        .route("/api/metrics/series/{name}/chart", get(series_chart))
        .merge(crate::dashboard::api_routes())
        .fallback(|uri: Uri| async move { ApiError::UnknownRoute(uri.path().to_owned()) })
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token))
        // Added after the token layer: whether a token is wanted is no secret.
        .route(
            "/api/auth",
            get(|State(state): State<ApiState>, headers: HeaderMap| async move {
                auth::auth_status(state.token.as_deref(), &headers)
            }),
        )
        // Merged after the token layer: the page and its scripts hold no data.
        .merge(crate::dashboard::page_routes())
        .layer(DefaultBodyLimit::max(1024))
        .with_state(state)
}

/// Builds an answer with `work` and serializes it on the blocking pool:
/// doing either for a large store must not hold up the task that talks to
/// other clients.
async fn json_off_thread<T: Serialize>(work: impl FnOnce() -> T + Send + 'static) -> Result<Response, ApiError> {
    let body = tokio::task::spawn_blocking(move || serde_json::to_vec(&work()))
        .await
        .map_err(|e| ApiError::Internal(format!("building the answer failed: {e}")))?
        .map_err(|e| ApiError::Internal(format!("serializing the answer failed: {e}")))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response())
}

async fn metrics(State(state): State<ApiState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (format, gzip) = crate::metrics_cache::negotiate(&headers);
    let collector = Arc::clone(state.collector());
    let body = state
        .metrics
        .body(format, gzip, move || {
            Ok::<_, std::convert::Infallible>(bytes::Bytes::from(collector.exposition(format).text))
        })
        .await
        .map_err(|_| ApiError::Internal("encoding /metrics failed".to_owned()))?;
    Ok(body.into_response(format))
}

async fn list_series(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > query::MAX_QUERY {
        return Err(ApiError::QueryTooLong(raw.len()));
    }
    if let Some((param, _)) = form_urlencoded::parse(raw.as_bytes()).next() {
        return Err(ApiError::BadParameter {
            param: param.into_owned(),
            problem: "unknown parameter; this route takes none".into(),
        });
    }
    let collector = Arc::clone(state.collector());
    json_off_thread(move || collector.list_series()).await
}

fn find(state: &ApiState, name: &str) -> Result<Arc<MetricSeries>, ApiError> {
    state
        .collector()
        .get_metric_series(name)
        .ok_or_else(|| ApiError::UnknownSeries(name.to_owned()))
}

fn since(state: &ApiState, q: &SeriesQuery) -> Option<OffsetDateTime> {
    q.since_seconds
        .and_then(time::Duration::checked_seconds_f64)
        .map(|d| state.collector().now() - d)
}

#[derive(Serialize)]
struct SeriesValues {
    name: String,
    #[serde(rename = "type")]
    metric_type: MetricType,
    /// Samples matching the filters.
    matching: usize,
    /// Samples in `values` (the newest `limit` of the matching ones).
    returned: usize,
    values: Vec<MetricValue>,
}

async fn series_values(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = query::parse(raw.as_deref(), true)?;
    let series = find(&state, &name)?;
    let since = since(&state, &q);
    json_off_thread(move || {
        // Only the newest `limit` samples are copied: a long series cannot
        // make one request allocate more than the limit allows.
        let (matching, values) = series.newest_values(&q.tags, since, q.limit);
        SeriesValues {
            name,
            metric_type: series.metric_type(),
            matching,
            returned: values.len(),
            values,
        }
    })
    .await
}

#[derive(Serialize)]
struct SeriesSummary {
    name: String,
    #[serde(rename = "type")]
    metric_type: MetricType,
    /// `null` when no sample matches.
    summary: Option<Summary>,
}

async fn series_summary(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = query::parse(raw.as_deref(), false)?;
    let series = find(&state, &name)?;
    let query = SummaryQuery {
        since: since(&state, &q),
        tags: q.tags,
    };
    json_off_thread(move || SeriesSummary {
        name,
        metric_type: series.metric_type(),
        summary: series.summary(&query),
    })
    .await
}

/// `GET /api/metrics/series/{name}/chart`: the [`crate::chart`] model of
/// the samples the series route would return (same `tag`, `since_seconds`
/// and `limit`), as the dashboard draws it and `bykilt metrics plot` does.
async fn series_chart(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = query::parse(raw.as_deref(), true)?;
    let series = find(&state, &name)?;
    let since = since(&state, &q);
    json_off_thread(move || {
        let (_, values) = series.newest_values(&q.tags, since, q.limit);
        let samples: Vec<crate::chart::ChartSample> = values.iter().map(crate::chart::ChartSample::from).collect();
        crate::chart::series_chart(&name, series.metric_type(), series.buckets(), &samples)
    })
    .await
}
