//! The facade's handle traits implemented on metrics-core handles.
//!
//! A `metrics::Counter` returned by [`MetricsRecorder`](super::MetricsRecorder)
//! is an `Arc` around one of these: an update is a call through the
//! facade's `dyn CounterFn` plus the metrics-core handle update (a few
//! atomic operations, no lookup). Whether the update also keeps a
//! timestamped sample is the series' `SamplePolicy`, read by the handle.

use metrics::{CounterFn, GaugeFn, HistogramFn};

/// A facade counter backed by a metrics-core [`Counter`](metrics_core::Counter).
#[derive(Debug)]
pub(crate) struct FacadeCounter(pub(crate) metrics_core::Counter);

impl CounterFn for FacadeCounter {
    #[inline]
    fn increment(&self, value: u64) {
        self.0.increment(value);
    }

    /// Raises the total to `value` if it is below. Two threads racing to set
    /// an absolute value may both add their difference; the facade documents
    /// `absolute` as a way to mirror an external counter from one place, and
    /// our counter (spread over per-thread cells) has no compare-and-set of
    /// its total.
    fn absolute(&self, value: u64) {
        let current = self.0.value();
        if value > current {
            self.0.increment(value - current);
        }
    }
}

/// A facade gauge backed by a metrics-core [`Gauge`](metrics_core::Gauge).
/// NaN and infinite values are ignored and counted in the series'
/// `rejected_values`.
#[derive(Debug)]
pub(crate) struct FacadeGauge(pub(crate) metrics_core::Gauge);

impl GaugeFn for FacadeGauge {
    #[inline]
    fn increment(&self, value: f64) {
        self.0.increment(value);
    }

    #[inline]
    fn decrement(&self, value: f64) {
        self.0.decrement(value);
    }

    #[inline]
    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

/// A facade histogram backed by a metrics-core histogram, or by a timer when
/// the series already exists as one (a facade `histogram!` of a name that a
/// `#[record_execution_time]` or the tracing layer created). NaN and
/// infinite values are ignored and counted in the series' `rejected_values`.
#[derive(Debug)]
pub(crate) enum FacadeHistogram {
    /// A series created as a histogram.
    Histogram(metrics_core::Histogram),
    /// A series created as a timer: values are seconds.
    Timer(metrics_core::Timer),
}

impl HistogramFn for FacadeHistogram {
    #[inline]
    fn record(&self, value: f64) {
        match self {
            FacadeHistogram::Histogram(h) => h.record(value),
            FacadeHistogram::Timer(t) => t.record_seconds(value),
        }
    }
}
