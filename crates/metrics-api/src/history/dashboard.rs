//! The dashboard over a metrics database: the same page as the live server,
//! fed from the store. Every request reads the database afresh (its own
//! read-only view, off the async thread), so a run that another process is
//! recording shows up as its writer commits, and the page, which polls
//! while a run is live, follows it.
//!
//! * `GET /api/runs`, `GET /api/runs/{run}`: the stored runs (their
//!   `name`, `started_at`/`ended_at` as RFC 3339, series and samples)
//!   with the dashboard's fields beside them: `run_id`, job counts,
//!   duration, throughput and ETA from the [`RunCatalog`] the server was
//!   given (the CLI reads the batch manifests under the artifacts root;
//!   `null` counts for a run without one), `live` (the newest run, not
//!   ended, its batch held open by a process) and `served` (the newest
//!   run: what the page's "run" range asks for by name).
//! * `GET /api/metrics/overview?run=`: every series the runs asked for
//!   (default: every run) have samples or aggregate snapshots of (an
//!   aggregate-only series with `samples: 0`), its tag sets with their
//!   newest value (a tag set without samples: its aggregate in the latest
//!   snapshot, see [`aggregate_value`]), and the newest 60 values for a
//!   sparkline.
//! * `GET /api/metrics/series/{name}/summary?run=&since_seconds=&tag=K=V`
//!   and `.../chart` (the [`crate::chart`] model) with the same filters.
//! * `GET /api/alerts`: the alerts of the server's
//!   [`AlertBoard`](crate::dashboard::AlertBoard), `[]` without one.
//! * `GET /api/metrics/series?run=`: every series with its type, stored
//!   samples and tag sets.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use metrics_core::{AggregateValue, MetricType};
use metrics_store::{RunFilter, SampleQuery, StoreReader, StoredRun, StoredTags, time_spec};
use serde::Serialize;

use super::{History, error, parse_query, with_reader};
use crate::dashboard::{
    LastValue, Overview, RunCatalog, RunProgress, SPARKLINE_POINTS, SeriesView, Source, TagSetView,
    aggregate_series_value, aggregate_value,
};

/// A stored run as the dashboard lists it. The job counts come from the
/// run's batch manifest; a run without one (imported, or recorded by a
/// library user) has them `null`: nothing is known of its jobs.
#[derive(Debug, Serialize)]
struct StoredRunView {
    #[serde(flatten)]
    stored: StoredRun,
    /// The run's name, as the live server's `run_id`.
    run_id: String,
    /// The batch of the run, when the artifacts root has its manifest.
    batch_id: Option<String>,
    total: Option<usize>,
    pending: Option<usize>,
    running: Option<usize>,
    /// Jobs left `running` by a process that ended (see
    /// [`RunProgress::interrupted`]).
    interrupted: Option<usize>,
    completed: Option<usize>,
    failed: Option<usize>,
    stopped: Option<usize>,
    finished: Option<usize>,
    /// First job start, from the manifest (RFC 3339 in JSON).
    #[serde(serialize_with = "crate::rfc3339::opt_secs")]
    first_job_started_at: Option<f64>,
    #[serde(serialize_with = "crate::rfc3339::opt_secs")]
    last_completed_at: Option<f64>,
    duration_seconds: Option<f64>,
    /// Wall time of the processes that ran the batch (see
    /// [`RunProgress::run_seconds`]).
    run_seconds: Option<f64>,
    /// Jobs finished per second of `run_seconds`.
    throughput_per_second: Option<f64>,
    eta_seconds: Option<f64>,
    live: bool,
    served: bool,
}

fn nanos_to_unix(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// Whether `stored` is being recorded: the newest run, not ended, and (when
/// its batch is known) a process holds the batch open. An older run that
/// never ended, or one whose process died (`kill -9` leaves no end in the
/// database), was cut short.
fn is_live(stored: &StoredRun, progress: Option<&RunProgress>, newest: bool) -> bool {
    newest && stored.ended_at.is_none() && progress.is_none_or(|p| p.open)
}

fn view_of(stored: StoredRun, progress: Option<&RunProgress>, newest: bool, now: f64) -> StoredRunView {
    let live = is_live(&stored, progress, newest);
    let run_id = stored.name.clone();
    let started = nanos_to_unix(stored.started_at);
    let end = stored.ended_at.map(nanos_to_unix).or(live.then_some(now));
    let (duration, run_seconds) = match progress {
        Some(p) if live => {
            // The manifest's clock stops at the last completion; a live run's
            // runs on to now. The run's own wall time is not recorded until
            // it ends (its writer exports `batch_duration_seconds` last), so
            // it is counted from the stored start, on top of the earlier
            // runs' recorded time.
            let d = p.started_at.map(|s| (now - s).max(0.0));
            (d, Some(p.run_seconds.unwrap_or(0.0) + (now - started).max(0.0)))
        }
        Some(p) => (p.duration_seconds, p.run_seconds),
        None => (end.map(|e| (e - started).max(0.0)), None),
    };
    let throughput = progress.and_then(|p| RunProgress::throughput_over(p.completed + p.failed, run_seconds));
    let count = |f: fn(&RunProgress) -> usize| progress.map(f);
    StoredRunView {
        run_id,
        batch_id: progress.map(|p| p.batch_id.clone()),
        total: count(|p| p.total),
        pending: count(|p| p.pending),
        running: count(|p| p.running),
        interrupted: count(|p| p.interrupted),
        completed: count(|p| p.completed),
        failed: count(|p| p.failed),
        stopped: count(|p| p.stopped),
        finished: count(RunProgress::finished),
        first_job_started_at: progress.and_then(|p| p.started_at),
        last_completed_at: progress.and_then(|p| p.last_completed_at),
        duration_seconds: duration,
        run_seconds,
        throughput_per_second: throughput,
        eta_seconds: progress.filter(|_| live).and_then(|p| {
            RunProgress {
                throughput_per_second: throughput,
                live,
                ..p.clone()
            }
            .eta_seconds()
        }),
        live,
        served: newest,
        stored,
    }
}

/// The stored runs with the catalog's progress beside them, oldest first.
async fn run_views(state: &History) -> Result<Vec<StoredRunView>, Response> {
    let stored = with_reader(state, |r| r.runs()).await?;
    let catalog = state.runs.clone();
    let progress = match catalog {
        Some(c) => tokio::task::spawn_blocking(move || c.runs())
            .await
            .unwrap_or_else(|_| Err("reading the runs failed".to_owned()))
            .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the runs: {e}")))?,
        None => Vec::new(),
    };
    let by_id: HashMap<&str, &RunProgress> = progress.iter().map(|p| (p.run_id.as_str(), p)).collect();
    let now = nanos_to_unix(time_spec::unix_nanos(time::OffsetDateTime::now_utc()));
    let newest = stored.len().checked_sub(1);
    Ok(stored
        .into_iter()
        .enumerate()
        .map(|(i, run)| {
            let p = by_id.get(run.name.as_str()).copied();
            view_of(run, p, Some(i) == newest, now)
        })
        .collect())
}

pub(super) async fn list_runs(State(state): State<History>, RawQuery(raw): RawQuery) -> Response {
    if raw.as_deref().is_some_and(|r| !r.is_empty()) {
        return error(
            StatusCode::BAD_REQUEST,
            "parameter (query): unknown parameter; this route takes none".to_owned(),
        );
    }
    match run_views(&state).await {
        Ok(runs) => axum::Json(runs).into_response(),
        Err(e) => e,
    }
}

pub(super) async fn one_run(State(state): State<History>, Path(run): Path<String>) -> Response {
    // As `?run=` takes it: `batch-<run_id>`, `<run_id>`, a unique prefix.
    let asked = RunFilter::Named(run.clone());
    let run = match with_reader(&state, move |r| r.named_run(&asked)).await {
        Ok(name) => name.unwrap_or(run),
        Err(e) => return e,
    };
    match run_views(&state).await {
        Ok(runs) => match runs
            .into_iter()
            .find(|r| r.run_id == run || r.stored.id.to_string() == run)
        {
            Some(r) => axum::Json(r).into_response(),
            None => error(
                StatusCode::NOT_FOUND,
                format!("no run {} in the database", crate::error::quoted(&run)),
            ),
        },
        Err(e) => e,
    }
}

/// Parses the overview's only parameter, `run` (a name or `all`; default all).
fn overview_runs(raw: Option<&str>) -> Result<RunFilter, String> {
    let mut runs = RunFilter::All;
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match &*k {
            "run" if v == "all" => runs = RunFilter::All,
            "run" => runs = RunFilter::Named(v.into_owned()),
            other => {
                return Err(format!(
                    "parameter {}: unknown parameter (run)",
                    crate::error::quoted(other)
                ));
            }
        }
    }
    Ok(runs)
}

fn last_of((ts, value): (i64, f64)) -> LastValue {
    LastValue {
        value,
        timestamp: nanos_to_unix(ts),
        aggregate: None,
    }
}

fn overview_of(r: &StoreReader, runs: &RunFilter) -> metrics_store::Result<Overview<StoredTags>> {
    let index = r.tag_set_index(runs)?;
    // Bucket bounds come with a histogram's aggregates.
    let mut buckets: HashMap<String, Vec<f64>> = HashMap::new();
    let latest = r.latest_aggregates(runs)?;
    for a in &latest {
        if let AggregateValue::Histogram(h) = &a.value {
            buckets
                .entry(a.name.clone())
                .or_insert_with(|| h.buckets.iter().map(|b| b.le).filter(|le| le.is_finite()).collect());
        }
    }
    // Tag sets with aggregates but no samples (aggregate-only series, or a
    // tag set whose samples were not retained) have their aggregate as their
    // value (none when the latest snapshot lacks the tag set).
    let by_tag_set: HashMap<(&str, &StoredTags), _> = latest.iter().map(|a| ((a.name.as_str(), &a.tags), a)).collect();
    let aggregate_of = |name: &str, tags: &StoredTags| {
        by_tag_set
            .get(&(name, tags))
            .map(|a| aggregate_value(&a.value, nanos_to_unix(a.taken_at)))
    };
    let mut aggregate_only: HashMap<String, Vec<StoredTags>> = HashMap::new();
    for (name, tags) in r.aggregate_tag_sets(runs)? {
        if !index.iter().any(|t| t.series == name && t.tags == tags) {
            aggregate_only.entry(name).or_default().push(tags);
        }
    }
    let mut series = Vec::new();
    for info in r.series()? {
        let sets: Vec<_> = index.iter().filter(|t| t.series == info.name).collect();
        let without_samples = aggregate_only.remove(&info.name).unwrap_or_default();
        if sets.is_empty() && without_samples.is_empty() {
            continue;
        }
        let newest = r.query(&SampleQuery {
            runs: runs.clone(),
            limit: Some(SPARKLINE_POINTS),
            ..SampleQuery::new(info.name.clone())
        })?;
        let last = sets.iter().filter_map(|t| t.last).max_by_key(|l| l.0);
        let tag_sets: Vec<_> = sets
            .iter()
            .map(|t| TagSetView {
                tags: t.tags.clone(),
                last: t.last.map(last_of),
            })
            .chain(without_samples.into_iter().map(|tags| TagSetView {
                last: aggregate_of(&info.name, &tags),
                tags,
            }))
            .collect();
        let last = last
            .map(last_of)
            .or_else(|| aggregate_series_value(info.metric_type, &tag_sets));
        series.push(SeriesView {
            buckets: if matches!(info.metric_type, MetricType::Histogram | MetricType::Timer) {
                buckets.remove(&info.name).unwrap_or_default()
            } else {
                Vec::new()
            },
            samples: sets
                .iter()
                .map(|t| usize::try_from(t.samples).unwrap_or(usize::MAX))
                .sum(),
            tag_sets,
            sparkline: newest.iter().map(|s| s.value).collect(),
            last,
            unit: crate::chart::unit_of(&info.name, info.metric_type),
            name: info.name,
            metric_type: info.metric_type,
            description: info.description,
        });
    }
    Ok(Overview {
        now: nanos_to_unix(time_spec::unix_nanos(time::OffsetDateTime::now_utc())),
        source: Source::Database,
        series,
    })
}

/// One series as `GET /api/metrics/series` lists it: the live server's
/// [`SeriesInfo`](metrics_core::SeriesInfo) fields, over the runs asked for.
#[derive(Debug, Serialize)]
struct StoredSeriesInfo {
    name: String,
    #[serde(rename = "type")]
    metric_type: MetricType,
    description: Option<String>,
    unit: Option<String>,
    /// Stored samples.
    samples: u64,
    /// Distinct tag sets, with samples or with aggregates only.
    tag_sets: usize,
}

fn series_list(r: &StoreReader, runs: &RunFilter) -> metrics_store::Result<Vec<StoredSeriesInfo>> {
    let mut sets: HashMap<String, Vec<StoredTags>> = HashMap::new();
    let mut samples: HashMap<String, u64> = HashMap::new();
    for t in r.tag_set_index(runs)? {
        *samples.entry(t.series.clone()).or_default() += t.samples;
        sets.entry(t.series).or_default().push(t.tags);
    }
    for (name, tags) in r.aggregate_tag_sets(runs)? {
        let known = sets.entry(name).or_default();
        if !known.contains(&tags) {
            known.push(tags);
        }
    }
    Ok(r.series()?
        .into_iter()
        .filter_map(|info| {
            let tag_sets = sets.get(&info.name).map_or(0, Vec::len);
            (tag_sets > 0).then(|| StoredSeriesInfo {
                samples: samples.get(&info.name).copied().unwrap_or(0),
                tag_sets,
                name: info.name,
                metric_type: info.metric_type,
                description: info.description,
                unit: info.unit,
            })
        })
        .collect())
}

pub(super) async fn list_series(State(state): State<History>, RawQuery(raw): RawQuery) -> Response {
    let runs = match overview_runs(raw.as_deref()) {
        Ok(r) => r,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match with_reader(&state, move |r| series_list(r, &runs)).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(e) => e,
    }
}

pub(super) async fn alerts(State(state): State<History>, RawQuery(raw): RawQuery) -> Response {
    if let Some((param, _)) = form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).next() {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "parameter {}: unknown parameter; this route takes none",
                crate::error::quoted(&param)
            ),
        );
    }
    let alerts = state
        .alerts
        .as_deref()
        .map(crate::dashboard::AlertBoard::alerts)
        .unwrap_or_default();
    axum::Json(alerts).into_response()
}

pub(super) async fn overview(State(state): State<History>, RawQuery(raw): RawQuery) -> Response {
    let runs = match overview_runs(raw.as_deref()) {
        Ok(r) => r,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match with_reader(&state, move |r| overview_of(r, &runs)).await {
        Ok(o) => axum::Json(o).into_response(),
        Err(e) => e,
    }
}

pub(super) async fn summary(
    State(state): State<History>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = match parse_query(name, raw.as_deref()) {
        Ok(q) => q,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let name = q.name.clone();
    let found = with_reader(&state, move |r| {
        let known = r.series()?.into_iter().find(|s| s.name == q.name);
        known.map(|s| Ok((s, r.summary(&q)?))).transpose()
    })
    .await;
    match found {
        Ok(Some((series, summary))) => axum::Json(serde_json::json!({
            "name": series.name,
            "type": series.metric_type,
            "summary": summary,
        }))
        .into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no series {} in the database", crate::error::quoted(&name)),
        ),
        Err(e) => e,
    }
}

/// The catalog handed to the database server, if any.
pub(super) type Catalog = Option<Arc<dyn RunCatalog>>;

pub(super) async fn chart(State(state): State<History>, Path(name): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = match parse_query(name, raw.as_deref()) {
        Ok(q) => q,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let name = q.name.clone();
    // The same model `bykilt metrics plot` draws over the database.
    let found = with_reader(&state, move |r| super::stored_series_chart(r, &q)).await;
    match found {
        Ok(Some(chart)) => axum::Json(chart).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no series {} in the database", crate::error::quoted(&name)),
        ),
        Err(e) => e,
    }
}
