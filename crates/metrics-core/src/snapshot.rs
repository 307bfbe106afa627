//! `Snapshot`: one consistent, serializable copy of the store that every
//! exporter reads. Taking it copies under each lock briefly; encoding happens
//! afterwards with no lock held.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::tags::TagSet;
use crate::types::{MetricType, MetricValue};

/// Every series of a collector at one moment, sorted by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When the snapshot was taken (from the collector's clock).
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
    /// The series, sorted by name.
    pub series: Vec<SeriesSnapshot>,
}

impl Snapshot {
    /// The series named `name`, if present.
    pub fn series(&self, name: &str) -> Option<&SeriesSnapshot> {
        self.series
            .binary_search_by(|s| s.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.series[i])
    }
}

/// One series: its retained samples, its per-tag-set aggregates and its
/// bookkeeping counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesSnapshot {
    /// The metric name as recorded.
    pub name: String,
    /// The series type.
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    /// Help text registered with [`describe_metric`](crate::MetricsCollector::describe_metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Retained samples, oldest first (empty when the snapshot was taken
    /// without samples).
    #[serde(default)]
    pub samples: Vec<MetricValue>,
    /// One cumulative aggregate per tag set, in the order the sets were first seen.
    #[serde(default)]
    pub aggregates: Vec<TagSetAggregate>,
    /// Samples evicted because the series held `max_samples_per_series`.
    #[serde(default)]
    pub dropped_samples: u64,
    /// Samples expired because they were older than the retention.
    #[serde(default)]
    pub expired_samples: u64,
    /// Updates folded into the `overflow="true"` tag set by the cardinality cap.
    #[serde(default)]
    pub overflow_updates: u64,
    /// Handle updates ignored because the value was NaN or infinite, or
    /// would have made the aggregate non-finite.
    #[serde(default)]
    pub rejected_values: u64,
    /// Counter increments that hit `u64::MAX` (the total saturated there).
    #[serde(default)]
    pub saturated_updates: u64,
}

/// The cumulative aggregate of one tag set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagSetAggregate {
    /// The tag set.
    pub tags: TagSet,
    /// Its aggregate.
    #[serde(flatten)]
    pub value: AggregateValue,
}

/// A cumulative aggregate: what exposition formats report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AggregateValue {
    /// A counter's total since the series was created.
    Counter {
        /// Sum of every increment.
        total: f64,
    },
    /// A gauge's last value.
    Gauge {
        /// The value.
        value: f64,
    },
    /// A histogram's or timer's distribution since the series was created.
    Histogram(HistogramSnapshot),
}

/// A distribution: count, sum, extremes, cumulative buckets and sketch quantiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramSnapshot {
    /// Number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// Smallest observation (0 when empty).
    pub min: f64,
    /// Largest observation (0 when empty).
    pub max: f64,
    /// Cumulative counts of observations ≤ each bound; `+Inf` is `count`.
    pub buckets: Vec<Bucket>,
    /// Quantiles from the sketch, within 1% relative error (0 when empty).
    pub quantiles: Quantiles,
}

/// One cumulative histogram bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Upper bound (inclusive).
    pub le: f64,
    /// Observations ≤ `le`.
    pub count: u64,
}

/// Quantile estimates.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// A line of [`list_series`](crate::MetricsCollector::list_series).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesInfo {
    /// The metric name.
    pub name: String,
    /// The series type.
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    /// Retained samples.
    pub samples: usize,
    /// Distinct tag sets (including the overflow set, if any).
    pub tag_sets: usize,
}
