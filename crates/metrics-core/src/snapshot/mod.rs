//! Read-only values copied out of the store: `Snapshot`, `SeriesSnapshot`,
//! `MetricValue`, `Summary`. Taking a snapshot copies under each series'
//! locks in turn (see `MetricsCollector::snapshot`); encoding happens
//! afterwards with no lock held.

pub(crate) mod exemplar;
pub(crate) mod self_metrics;
pub(crate) mod summary;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use crate::cell::value::{AggregateValue, Bucket, HistogramSnapshot, Quantiles};
use crate::kind::MetricType;
use crate::tags::TagSet;

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
    /// Unit registered with [`describe_metric`](crate::MetricsCollector::describe_metric)
    /// (absent in exports written before units existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
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
    /// The latest exemplar of each bucket that had one (OpenMetrics text
    /// writes them; absent in exports without exemplars).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exemplars: Vec<exemplar::BucketExemplar>,
}

impl TagSetAggregate {
    /// The aggregate of `tags` (cloned: a reference count).
    pub(crate) fn of(tags: &TagSet, value: AggregateValue, exemplars: Vec<exemplar::BucketExemplar>) -> Self {
        TagSetAggregate {
            tags: tags.clone(),
            value,
            exemplars,
        }
    }
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

/// One retained sample: a value, when it was recorded, and its tags.
///
/// Samples are stored compactly inside a series (24 bytes each, tags as an
/// interned id); a `MetricValue` is the materialized form handed to callers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    /// The recorded value (seconds for timers).
    pub value: f64,
    /// When it was recorded, in UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// The tags of the sample.
    pub tags: TagSet,
    /// The type of the series the sample belongs to.
    #[serde(rename = "type")]
    pub metric_type: MetricType,
}
