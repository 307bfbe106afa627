//! Handles: pre-resolved (name, tag set) pairs for the hot path.
//!
//! A handle is two `Arc`s — the series and its tag-set entry — so cloning is
//! two atomic increments and an update does no lookup, hashing or
//! allocation. Every update goes through the store's update rule
//! (`store::update`): whether it is also kept as a timestamped sample is
//! the series' [`SamplePolicy`](crate::SamplePolicy).

use std::sync::Arc;
use std::time::Duration;

use crate::cell::Aggregate;
use crate::clock::Stopwatch;
use crate::store::series::MetricSeries;
use crate::store::update::Update;
use crate::tags::TagSet;
use crate::tags::entry::TagEntry;

macro_rules! handle_common {
    ($ty:ident) => {
        impl $ty {
            pub(crate) fn new(series: Arc<MetricSeries>, entry: TagEntry) -> Self {
                $ty { series, entry }
            }

            /// The metric name.
            pub fn name(&self) -> &str {
                self.series.name()
            }

            /// The tag set this handle updates.
            pub fn tags(&self) -> &TagSet {
                self.entry.tags()
            }

            /// The series this handle updates.
            pub fn series(&self) -> &Arc<MetricSeries> {
                &self.series
            }
        }
    };
}

/// A monotonically increasing counter bound to one tag set.
///
/// Increments are exact under any number of threads. Under contention the
/// counter spreads over per-thread cells (like Java's `LongAdder`), so two
/// threads hammering one counter do not fight over one cache line.
/// The total saturates at `u64::MAX` (it never goes backwards); increments
/// that hit it are counted in [`MetricSeries::saturated_updates`].
///
/// ```
/// use metrics_core::{MetricsCollector, AggregateValue};
/// let c = MetricsCollector::default();
/// let jobs = c.counter("jobs_completed", &[("queue", "default")])?;
/// jobs.increment(1);
/// jobs.increment(2);
/// assert_eq!(jobs.value(), 3);
/// # Ok::<(), metrics_core::MetricsError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a handle does nothing until it is updated; keep it and call increment"]
pub struct Counter {
    series: Arc<MetricSeries>,
    entry: TagEntry,
}
handle_common!(Counter);

impl Counter {
    /// Adds `n`.
    #[inline]
    pub fn increment(&self, n: u64) {
        self.series.update_from_handle(&self.entry, Update::count(n));
    }

    /// Adds `n` and keeps `labels` (e.g. `[("trace_id", id)]`) as this tag
    /// set's exemplar, replacing the previous one; OpenMetrics text writes it
    /// after the `_total` line.
    ///
    /// # Errors
    /// [`MetricsError::InvalidExemplar`](crate::MetricsError::InvalidExemplar)
    /// when a label name is not `[a-zA-Z_][a-zA-Z0-9_]*` or the labels exceed
    /// 128 characters; the increment is counted all the same.
    pub fn increment_with_exemplar(&self, n: u64, labels: &[(&str, &str)]) -> crate::Result<()> {
        self.increment(n);
        self.series.keep_exemplar(self.entry.id(), n as f64, labels)
    }

    /// The integer total of this tag set (fractional `record_metric`
    /// increments are in the series' aggregate, not here).
    pub fn value(&self) -> u64 {
        match self.entry.aggregate() {
            Aggregate::Counter(c) => c.total_u64(),
            _ => 0,
        }
    }
}

/// A gauge bound to one tag set: a value that goes up and down.
///
/// NaN and infinite values, and increments that would take the value past
/// ±`f64::MAX`, are ignored and counted in
/// [`MetricSeries::rejected_values`].
///
/// ```
/// use metrics_core::MetricsCollector;
/// let c = MetricsCollector::default();
/// let g = c.gauge("jobs_in_flight", &[])?;
/// g.set(4.0);
/// g.increment(1.0);
/// g.decrement(2.0);
/// assert_eq!(g.value(), 3.0);
/// # Ok::<(), metrics_core::MetricsError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a handle does nothing until it is updated; keep it and call set"]
pub struct Gauge {
    series: Arc<MetricSeries>,
    entry: TagEntry,
}
handle_common!(Gauge);

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.series.update_from_handle(&self.entry, Update::value(v));
    }

    /// Sets the value in the aggregate only, whatever the series' sample
    /// policy: `#[record_memory_usage(samples = false)]`.
    pub(crate) fn set_aggregate_only(&self, v: f64) {
        self.series.update_aggregate_only(&self.entry, Update::value(v));
    }

    /// Adds `v`.
    #[inline]
    pub fn increment(&self, v: f64) {
        self.series.update_from_handle(&self.entry, Update::gauge_add(v));
    }

    /// Subtracts `v`.
    #[inline]
    pub fn decrement(&self, v: f64) {
        self.series.update_from_handle(&self.entry, Update::gauge_add(-v));
    }

    /// The current value (0 before the first update).
    pub fn value(&self) -> f64 {
        match self.entry.aggregate() {
            Aggregate::Gauge(g) => g.get(),
            _ => 0.0,
        }
    }
}

/// A histogram bound to one tag set.
///
/// NaN and infinite values, and values that would take the sum past
/// ±`f64::MAX`, are ignored and counted in
/// [`MetricSeries::rejected_values`].
#[derive(Debug, Clone)]
#[must_use = "a handle does nothing until it is updated; keep it and call record"]
pub struct Histogram {
    series: Arc<MetricSeries>,
    entry: TagEntry,
}
handle_common!(Histogram);

impl Histogram {
    /// Records one observation.
    #[inline]
    pub fn record(&self, v: f64) {
        self.series.update_from_handle(&self.entry, Update::value(v));
    }

    /// Records one observation and keeps `labels` (e.g. `[("job_id", id)]`)
    /// as the exemplar of the bucket `v` falls in (latest wins); OpenMetrics
    /// text writes it after that bucket's line.
    ///
    /// # Errors
    /// [`MetricsError::InvalidExemplar`](crate::MetricsError::InvalidExemplar)
    /// for a non-finite `v` (which is not recorded either), a label name
    /// that is not `[a-zA-Z_][a-zA-Z0-9_]*`, or labels over 128 characters
    /// (the observation is recorded all the same).
    pub fn record_with_exemplar(&self, v: f64, labels: &[(&str, &str)]) -> crate::Result<()> {
        self.record(v);
        self.series.keep_exemplar(self.entry.id(), v, labels)
    }

    /// Records one observation in the aggregate only, whatever the series'
    /// sample policy: `#[record_memory_usage(samples = false)]`.
    pub(crate) fn record_aggregate_only(&self, v: f64) {
        self.series.update_aggregate_only(&self.entry, Update::value(v));
    }
}

/// A timer bound to one tag set; durations are kept in seconds.
///
/// ```
/// use metrics_core::MetricsCollector;
/// use std::time::Duration;
/// let c = MetricsCollector::default();
/// let t = c.timer("request_seconds", &[("route", "/")])?;
/// t.record(Duration::from_millis(250));
/// {
///     let _guard = t.start(); // records when dropped
/// }
/// # Ok::<(), metrics_core::MetricsError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a handle does nothing until it is updated; keep it and call record or start"]
pub struct Timer {
    series: Arc<MetricSeries>,
    entry: TagEntry,
}
handle_common!(Timer);

impl Timer {
    /// Records one duration.
    #[inline]
    pub fn record(&self, d: Duration) {
        self.series
            .update_from_handle(&self.entry, Update::duration(d.as_secs_f64()));
    }

    /// Records one duration with `labels` (e.g. `[("trace_id", id)]`) as the
    /// exemplar of its bucket, as [`Histogram::record_with_exemplar`] does.
    ///
    /// # Errors
    /// [`MetricsError::InvalidExemplar`](crate::MetricsError::InvalidExemplar)
    /// for labels that cannot be exposed; the duration is recorded all the same.
    pub fn record_with_exemplar(&self, d: Duration, labels: &[(&str, &str)]) -> crate::Result<()> {
        self.record(d);
        self.series.keep_exemplar(self.entry.id(), d.as_secs_f64(), labels)
    }

    /// Records `seconds` directly. A negative (or NaN, or infinite)
    /// duration is ignored and counted in [`MetricSeries::rejected_values`].
    #[inline]
    pub fn record_seconds(&self, seconds: f64) {
        self.series.update_from_handle(&self.entry, Update::duration(seconds));
    }

    /// Records `seconds` in the aggregate only, whatever the series'
    /// sample policy: `#[record_execution_time(samples = false)]`.
    #[inline]
    pub(crate) fn record_aggregate_only(&self, seconds: f64) {
        self.series
            .update_aggregate_only(&self.entry, Update::duration(seconds));
    }

    /// Starts timing; the returned guard records the elapsed time when it is
    /// dropped (including during a panic unwind) or stopped. It reads the
    /// calibrated monotonic clock of [`clock`](crate::clock) (a
    /// [`Stopwatch`]), not `std::time::Instant`.
    #[inline]
    pub fn start(&self) -> TimerGuard<'_> {
        TimerGuard {
            timer: self,
            start: Stopwatch::start(),
            armed: true,
        }
    }
}

/// Records the time since [`Timer::start`] when dropped.
#[derive(Debug)]
#[must_use = "the guard records when dropped; binding it to `_` drops it at once"]
pub struct TimerGuard<'a> {
    timer: &'a Timer,
    start: Stopwatch,
    armed: bool,
}

impl TimerGuard<'_> {
    /// Records now and returns the elapsed time.
    pub fn stop(mut self) -> Duration {
        let elapsed = self.start.elapsed();
        self.timer.record(elapsed);
        self.armed = false;
        elapsed
    }

    /// Drops the guard without recording.
    pub fn discard(mut self) {
        self.armed = false;
    }

    /// Time since start, without recording.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

impl Drop for TimerGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.timer.record_seconds(self.start.elapsed_seconds());
        }
    }
}
