//! The values cells report: `AggregateValue`, `HistogramSnapshot`, `Bucket`,
//! `Quantiles` (plain data, copied out of the cells by a read).

use serde::{Deserialize, Serialize};

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
