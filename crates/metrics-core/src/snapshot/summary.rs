//! Exact summaries over retained samples.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::tags::TagFilter;

/// Which samples a summary covers.
///
/// ```
/// use metrics_core::{SummaryQuery, TagFilter};
/// use time::{Duration, OffsetDateTime};
/// let q = SummaryQuery {
///     since: Some(OffsetDateTime::now_utc() - Duration::hours(1)),
///     tags: TagFilter::new().with("status", "completed"),
/// };
/// assert!(q.since.is_some());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryQuery {
    /// Only samples recorded at or after this time (all retained when `None`).
    pub since: Option<OffsetDateTime>,
    /// Only samples carrying every pair of this filter.
    pub tags: TagFilter,
}

impl SummaryQuery {
    /// Every retained sample.
    pub fn all() -> Self {
        SummaryQuery::default()
    }
}

/// Statistics over a set of samples. Percentiles are exact, by nearest rank:
/// `pN` is the smallest sample such that at least N% of samples are ≤ it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Sum of the values (saturated at ±`f64::MAX`).
    pub sum: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub avg: f64,
    /// Median (nearest rank).
    pub p50: f64,
    /// 90th percentile (nearest rank).
    pub p90: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
}

impl Summary {
    /// Summarizes `values` (any order; finite values only — the store never
    /// holds others). `None` when `values` is empty.
    ///
    /// ```
    /// use metrics_core::Summary;
    /// let s = Summary::from_values(vec![3.0, 1.0, 2.0, 4.0]).unwrap();
    /// assert_eq!((s.count, s.min, s.max, s.avg, s.p50), (4, 1.0, 4.0, 2.5, 2.0));
    /// ```
    pub fn from_values(mut values: Vec<f64>) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable_by(f64::total_cmp);
        let n = values.len();
        let total: f64 = values.iter().sum();
        // Finite samples can add up past f64::MAX: the mean is then taken
        // from scaled values, and the sum saturates (a summary never
        // carries a non-finite number).
        let (sum, avg) = if total.is_finite() {
            (total, total / n as f64)
        } else {
            let avg = values.iter().map(|v| v / n as f64).sum::<f64>();
            (total.clamp(-f64::MAX, f64::MAX), avg)
        };
        let rank = |p: f64| {
            let r = ((p / 100.0) * n as f64).ceil() as usize;
            values[r.clamp(1, n) - 1]
        };
        Some(Summary {
            count: n,
            sum,
            min: values[0],
            max: values[n - 1],
            avg,
            p50: rank(50.0),
            p90: rank(90.0),
            p95: rank(95.0),
            p99: rank(99.0),
        })
    }
}
