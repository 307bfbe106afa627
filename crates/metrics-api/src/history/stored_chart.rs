//! The chart model of a stored series: the samples a [`SampleQuery`]
//! selects from the database, with the bucket bounds of the latest
//! aggregate snapshot of the runs asked for, into
//! [`series_chart`](crate::chart::series_chart). `bykilt metrics plot`
//! draws this over the database, from the samples the dashboard's
//! `/api/metrics/series/{name}/chart` route reads for the same run, tags,
//! window and limit.

use metrics_core::AggregateValue;
use metrics_store::{RunFilter, SampleQuery, StoreError, StoreReader};

use crate::chart::{ChartSample, SeriesChart, series_chart};

/// The most samples one chart is built from: the chart route's largest
/// `limit`.
pub const MAX_CHART_SAMPLES: usize = crate::query::MAX_LIMIT;

/// The bucket bounds of histogram `name` in the latest snapshot `runs` has
/// (empty for other series, or without a snapshot).
///
/// # Errors
/// A run that does not exist, or an SQLite error.
pub fn bucket_bounds(r: &StoreReader, name: &str, runs: &RunFilter) -> Result<Vec<f64>, StoreError> {
    Ok(r.latest_aggregates(runs)?
        .into_iter()
        .find_map(|a| match a.value {
            AggregateValue::Histogram(h) if a.name == name => Some(h.buckets.iter().map(|b| b.le).collect()),
            _ => None,
        })
        .unwrap_or_default())
}

/// The chart of the samples `q` selects; `None` when the database has no
/// series `q.name`.
///
/// # Errors
/// A run that does not exist, a damaged chunk, or an SQLite error.
pub fn stored_series_chart(r: &StoreReader, q: &SampleQuery) -> Result<Option<SeriesChart>, StoreError> {
    let Some(info) = r.series()?.into_iter().find(|s| s.name == q.name) else {
        return Ok(None);
    };
    let samples: Vec<ChartSample> = r
        .query(q)?
        .into_iter()
        .map(|s| ChartSample {
            time: s.timestamp_nanos as f64 / 1e9,
            value: s.value,
            tags: s.tags,
        })
        .collect();
    let bounds = bucket_bounds(r, &q.name, &q.runs)?;
    Ok(Some(series_chart(&info.name, info.metric_type, &bounds, &samples)))
}
