//! `Buckets`: histogram bucket layouts, checked when built, and handles
//! created with them.

use crate::collector::{MetricOptions, MetricsCollector};
use crate::error::Result;
use crate::handles::{Histogram, Timer};
use crate::kind::MetricType;
use crate::tags::Tags;

/// The most bounds a generated layout may have.
pub const MAX_BUCKETS: usize = 1024;

/// Histogram bucket upper bounds: finite, strictly increasing, at most
/// [`MAX_BUCKETS`].
///
/// ```
/// use metrics_core::Buckets;
/// assert_eq!(Buckets::exponential(0.001, 10.0, 4)?.bounds(), &[0.001, 0.01, 0.1, 1.0]);
/// assert_eq!(Buckets::linear(10.0, 5.0, 3)?.bounds(), &[10.0, 15.0, 20.0]);
/// assert!(Buckets::exponential(0.0, 2.0, 4).is_err());
/// # Ok::<(), metrics_core::BucketsError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    bounds: Vec<f64>,
}

/// Why a bucket layout was rejected, naming the bad value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BucketsError {
    /// `count` was 0 or above [`MAX_BUCKETS`].
    #[error("bucket count {count} must be between 1 and {MAX_BUCKETS}")]
    Count {
        /// The rejected count.
        count: usize,
    },
    /// An exponential layout's start was not finite and positive.
    #[error("exponential buckets need a finite start above 0, got {start}")]
    Start {
        /// The rejected start.
        start: f64,
    },
    /// An exponential layout's factor was not finite and above 1.
    #[error("exponential buckets need a finite factor above 1, got {factor}")]
    Factor {
        /// The rejected factor.
        factor: f64,
    },
    /// A linear layout's width was not finite and positive.
    #[error("linear buckets need a finite width above 0, got {width}")]
    Width {
        /// The rejected width.
        width: f64,
    },
    /// A bound was not finite, or not above the previous one.
    #[error("bucket bound {bound} at position {index} is not finite or not above the previous bound")]
    Bound {
        /// The rejected bound.
        bound: f64,
        /// Its position.
        index: usize,
    },
}

impl Buckets {
    /// `count` bounds `start`, `start·factor`, `start·factor²`, …
    ///
    /// # Errors
    /// `start` not finite and > 0, `factor` not finite and > 1, `count` 0 or
    /// above [`MAX_BUCKETS`], or a bound that overflows to infinity.
    pub fn exponential(start: f64, factor: f64, count: usize) -> Result<Self, BucketsError> {
        check_count(count)?;
        if !(start.is_finite() && start > 0.0) {
            return Err(BucketsError::Start { start });
        }
        if !(factor.is_finite() && factor > 1.0) {
            return Err(BucketsError::Factor { factor });
        }
        let mut bounds = Vec::with_capacity(count);
        let mut b = start;
        for _ in 0..count {
            bounds.push(b);
            b *= factor;
        }
        Buckets::from_bounds(bounds)
    }

    /// `count` bounds `start`, `start + width`, `start + 2·width`, …
    ///
    /// # Errors
    /// `start` not finite, `width` not finite and > 0, `count` 0 or above
    /// [`MAX_BUCKETS`], or bounds too close to tell apart in an `f64`.
    pub fn linear(start: f64, width: f64, count: usize) -> Result<Self, BucketsError> {
        check_count(count)?;
        if !start.is_finite() {
            return Err(BucketsError::Bound { bound: start, index: 0 });
        }
        if !(width.is_finite() && width > 0.0) {
            return Err(BucketsError::Width { width });
        }
        Buckets::from_bounds((0..count).map(|i| start + width * i as f64).collect())
    }

    /// Bounds given one by one.
    ///
    /// # Errors
    /// An empty list or one above [`MAX_BUCKETS`], a bound not finite, or
    /// not above the previous one.
    pub fn from_bounds(bounds: Vec<f64>) -> Result<Self, BucketsError> {
        check_count(bounds.len())?;
        let mut prev = f64::NEG_INFINITY;
        for (index, &bound) in bounds.iter().enumerate() {
            if !bound.is_finite() || bound <= prev {
                return Err(BucketsError::Bound { bound, index });
            }
            prev = bound;
        }
        Ok(Buckets { bounds })
    }

    /// The upper bounds, increasing.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }
}

fn check_count(count: usize) -> Result<(), BucketsError> {
    if count == 0 || count > MAX_BUCKETS {
        return Err(BucketsError::Count { count });
    }
    Ok(())
}

impl MetricsCollector {
    /// A histogram handle whose series uses `buckets` (created with them
    /// if new).
    ///
    /// ```
    /// use metrics_core::{Buckets, MetricsCollector};
    /// let c = MetricsCollector::default();
    /// let h = c.histogram_with_buckets("payload_bytes", &[], &Buckets::exponential(64.0, 4.0, 6)?)?;
    /// h.record(300.0);
    /// assert_eq!(h.series().buckets(), &[64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`histogram`](Self::histogram), or an existing series with other
    /// buckets.
    pub fn histogram_with_buckets(&self, name: &str, tags: impl Tags, buckets: &Buckets) -> Result<Histogram> {
        self.describe_buckets(name, MetricType::Histogram, buckets)?;
        self.histogram(name, tags)
    }

    /// A timer handle whose series uses `buckets` (in seconds).
    ///
    /// # Errors
    /// As [`histogram_with_buckets`](Self::histogram_with_buckets).
    pub fn timer_with_buckets(&self, name: &str, tags: impl Tags, buckets: &Buckets) -> Result<Timer> {
        self.describe_buckets(name, MetricType::Timer, buckets)?;
        self.timer(name, tags)
    }

    fn describe_buckets(&self, name: &str, ty: MetricType, buckets: &Buckets) -> Result<()> {
        let options = MetricOptions {
            buckets: Some(buckets.bounds().to_vec()),
            ..MetricOptions::default()
        };
        self.describe_metric(name, ty, options).map(drop)
    }
}
