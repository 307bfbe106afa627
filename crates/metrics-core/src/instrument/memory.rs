//! `#[record_memory_usage]`: per-outcome memory handles, a guard for
//! synchronous calls and a poll wrapper that swaps a future's counters in on
//! every poll.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use super::timing::Stage;
use super::{Classify, Outcome, call_tags};
use crate::alloc::{self, AllocationScope, MemoryDelta};
use crate::{
    Gauge, Histogram, MetricOptions, MetricType, MetricsCollector, Result, SamplePolicy, get_metrics_collector,
};

/// Histogram buckets for byte sizes: 1 KiB to 1 GiB in powers of 4.
const BYTE_BUCKETS: [f64; 11] = [
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
    1_073_741_824.0,
];

/// Where the figures of `#[record_memory_usage]` come from: the `source` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemorySource {
    /// The per-thread counters of an installed
    /// [`CountingAllocator`](crate::alloc::CountingAllocator): exact, per
    /// call, with peak and total allocated.
    Allocator,
    /// The process' resident set size before and after the call: page
    /// granular, process-wide (other threads' work shows up), net change
    /// only.
    Rss,
}

impl MemorySource {
    /// The tag value: `allocator` or `rss`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MemorySource::Allocator => "allocator",
            MemorySource::Rss => "rss",
        }
    }

    /// [`Allocator`](Self::Allocator) when the counting allocator is
    /// installed, else [`Rss`](Self::Rss).
    pub fn detect() -> Self {
        if alloc::is_installed() {
            MemorySource::Allocator
        } else {
            MemorySource::Rss
        }
    }
}

#[derive(Debug)]
struct OutcomeHandles {
    usage: Gauge,
    /// `None` for the RSS source, which cannot see a peak or a total.
    peak: Option<Histogram>,
    allocated: Option<Histogram>,
}

/// The memory metrics of one instrumented function: `<prefix>.memory_usage`
/// (gauge, net bytes), `<prefix>.memory_peak` and `<prefix>.memory_allocated`
/// (histograms, bytes; allocator source only), one tag set per [`Outcome`].
///
/// An outcome's handles are resolved at its first call, not before: a gauge
/// tag set that no call reached would otherwise be exported as a made-up 0.
#[derive(Debug)]
pub struct MemoryMetrics {
    source: MemorySource,
    collector: &'static MetricsCollector,
    usage: String,
    peak: String,
    allocated: String,
    function: String,
    module: String,
    tags: Vec<(String, String)>,
    by_outcome: [OnceLock<Option<OutcomeHandles>>; 4],
    /// Calls are kept as samples too (the default), unless the function
    /// opted out with `samples = false`.
    keep_samples: bool,
}

impl MemoryMetrics {
    /// The metrics under `prefix` in `collector` for `source`. Creates the
    /// histograms with byte-sized buckets (1 KiB–1 GiB) unless they already
    /// exist; the tag sets are created at each outcome's first call. Every
    /// call is kept as a sample too ([`SamplePolicy::EveryEvent`]; see
    /// [`resolve_with_policy`](Self::resolve_with_policy)).
    ///
    /// # Errors
    /// As [`MetricsCollector::describe_metric`]: a name is invalid or
    /// belongs to a series of another type.
    pub fn resolve(
        collector: &'static MetricsCollector,
        source: MemorySource,
        prefix: &str,
        function: &str,
        module: &str,
        tags: &[(&str, &str)],
    ) -> Result<Self> {
        Self::resolve_with_policy(
            collector,
            source,
            prefix,
            function,
            module,
            tags,
            SamplePolicy::EveryEvent,
        )
    }

    /// [`resolve`](Self::resolve) with the function's sample policy:
    /// `EveryEvent` keeps every call as a timestamped sample (unless a
    /// series has a policy chosen for it), `AggregateOnly`
    /// (`#[record_memory_usage(samples = false)]`) updates aggregates only.
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve).
    pub fn resolve_with_policy(
        collector: &'static MetricsCollector,
        source: MemorySource,
        prefix: &str,
        function: &str,
        module: &str,
        tags: &[(&str, &str)],
        policy: SamplePolicy,
    ) -> Result<Self> {
        let usage = format!("{prefix}.memory_usage");
        let peak = format!("{prefix}.memory_peak");
        let allocated = format!("{prefix}.memory_allocated");
        crate::validate_name(&usage)?;
        if let Some(series) = collector.get_metric_series(&usage)
            && series.metric_type() != MetricType::Gauge
        {
            return Err(crate::MetricsError::TypeMismatch {
                name: usage,
                existing: series.metric_type(),
                requested: MetricType::Gauge,
            });
        }
        if source == MemorySource::Allocator {
            for name in [&peak, &allocated] {
                let options = MetricOptions {
                    buckets: Some(BYTE_BUCKETS.to_vec()),
                    ..MetricOptions::default()
                };
                match collector.describe_metric(name, MetricType::Histogram, options) {
                    // An existing histogram keeps its buckets.
                    Ok(_) | Err(crate::MetricsError::InvalidBuckets { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(MemoryMetrics {
            source,
            collector,
            usage,
            peak,
            allocated,
            function: function.to_owned(),
            module: module.to_owned(),
            tags: tags.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect(),
            by_outcome: Default::default(),
            keep_samples: policy == SamplePolicy::EveryEvent,
        })
    }

    fn outcome_handles(&self, outcome: Outcome) -> Result<OutcomeHandles> {
        let extra: Vec<(&str, &str)> = self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let tags = call_tags(
            &self.function,
            &self.module,
            outcome,
            &extra,
            Some(self.source.as_str()),
        );
        let tags = tags.as_slice();
        let collector = self.collector;
        let handles = match self.source {
            MemorySource::Allocator => OutcomeHandles {
                usage: collector.gauge(&self.usage, tags)?,
                peak: Some(collector.histogram(&self.peak, tags)?),
                allocated: Some(collector.histogram(&self.allocated, tags)?),
            },
            MemorySource::Rss => OutcomeHandles {
                usage: collector.gauge(&self.usage, tags)?,
                peak: None,
                allocated: None,
            },
        };
        if self.keep_samples {
            handles.usage.series().adopt_sample_policy(SamplePolicy::EveryEvent);
            for h in [&handles.peak, &handles.allocated].into_iter().flatten() {
                h.series().adopt_sample_policy(SamplePolicy::EveryEvent);
            }
        }
        Ok(handles)
    }

    fn set_usage(&self, handles: &OutcomeHandles, bytes: f64) {
        if self.keep_samples {
            handles.usage.set(bytes);
        } else {
            handles.usage.set_aggregate_only(bytes);
        }
    }

    fn observe(&self, histogram: &Histogram, bytes: f64) {
        if self.keep_samples {
            histogram.record(bytes);
        } else {
            histogram.record_aggregate_only(bytes);
        }
    }

    /// The metrics in `cell`, set up against the process-wide collector
    /// with [`MemorySource::detect`] on the first call; `None` (for good)
    /// when that failed. After the first call this is one atomic load.
    /// Every call is kept as a sample.
    #[inline]
    pub fn get_or_resolve(
        cell: &'static OnceLock<Option<MemoryMetrics>>,
        prefix: &str,
        function: &str,
        module: &str,
        tags: &[(&str, &str)],
    ) -> Option<&'static MemoryMetrics> {
        Self::get_or_resolve_with_policy(cell, prefix, function, module, tags, SamplePolicy::EveryEvent)
    }

    /// [`get_or_resolve`](Self::get_or_resolve) with the function's sample
    /// policy: what the attribute expands to.
    #[inline]
    pub fn get_or_resolve_with_policy(
        cell: &'static OnceLock<Option<MemoryMetrics>>,
        prefix: &str,
        function: &str,
        module: &str,
        tags: &[(&str, &str)],
        policy: SamplePolicy,
    ) -> Option<&'static MemoryMetrics> {
        cell.get_or_init(|| {
            alloc::uncounted(|| {
                let source = MemorySource::detect();
                Self::resolve_with_policy(get_metrics_collector(), source, prefix, function, module, tags, policy).ok()
            })
        })
        .as_ref()
    }

    #[inline]
    fn handles(&self, outcome: Outcome) -> Option<&OutcomeHandles> {
        self.by_outcome[outcome.index()]
            .get_or_init(|| self.outcome_handles(outcome).ok())
            .as_ref()
    }

    /// Where the figures come from.
    pub fn source(&self) -> MemorySource {
        self.source
    }

    /// Records one call's figures under `outcome`.
    /// Recording is [`uncounted`](alloc::uncounted): it does not show up in
    /// the figures of an enclosing call.
    /// Nothing is recorded when the outcome's handles cannot be resolved.
    pub fn record(&self, outcome: Outcome, delta: MemoryDelta) {
        alloc::uncounted(|| {
            let Some(handles) = self.handles(outcome) else {
                return;
            };
            self.set_usage(handles, delta.net as f64);
            if let Some(peak) = &handles.peak {
                self.observe(peak, delta.peak as f64);
            }
            if let Some(allocated) = &handles.allocated {
                self.observe(allocated, delta.allocated as f64);
            }
        });
    }

    /// Records an RSS-source call from two readings; nothing when either
    /// reading failed (never a made-up zero).
    fn record_rss(&self, outcome: Outcome, before: Option<u64>, after: Option<u64>) {
        if let (Some(before), Some(after), Some(handles)) = (before, after, self.handles(outcome)) {
            let net = i64::try_from(after).unwrap_or(i64::MAX) - i64::try_from(before).unwrap_or(i64::MAX);
            self.set_usage(handles, net as f64);
        }
    }
}

#[derive(Debug)]
enum Measurement {
    Allocator(AllocationScope),
    Rss(Option<u64>),
}

/// Measures one synchronous call on the current thread. Dropped without
/// [`finish`](Self::finish) while a panic unwinds, it records
/// [`Outcome::Panic`].
#[derive(Debug)]
#[must_use = "the call is recorded by finish, or as a panic when the guard is dropped"]
pub struct MeasuredCall<'a> {
    metrics: Option<&'a MemoryMetrics>,
    measurement: Option<Measurement>,
}

impl<'a> MeasuredCall<'a> {
    /// Starts measuring. With `None` (unresolved metrics) nothing is
    /// measured or recorded.
    #[inline]
    pub fn start(metrics: Option<&'a MemoryMetrics>) -> Self {
        let measurement = metrics.map(|m| match m.source {
            MemorySource::Allocator => Measurement::Allocator(AllocationScope::enter()),
            MemorySource::Rss => Measurement::Rss(alloc::resident_set_bytes()),
        });
        MeasuredCall { metrics, measurement }
    }

    /// Records the figures under the outcome `classify` gives `value`.
    #[inline]
    pub fn finish<T: ?Sized>(mut self, classify: impl Classify<T>, value: &T) {
        self.record(classify.outcome(value));
    }

    fn record(&mut self, outcome: Outcome) {
        let (Some(metrics), Some(measurement)) = (self.metrics, self.measurement.take()) else {
            return;
        };
        match measurement {
            Measurement::Allocator(scope) => metrics.record(outcome, scope.exit()),
            Measurement::Rss(before) => metrics.record_rss(outcome, before, alloc::resident_set_bytes()),
        }
    }
}

impl Drop for MeasuredCall<'_> {
    fn drop(&mut self) {
        if self.measurement.is_some() {
            self.record(Outcome::unfinished());
        }
    }
}

/// Measures a future's allocations over all its polls, as
/// `#[record_memory_usage]` does for an `async fn`.
///
/// With the counting allocator, each poll runs in its own
/// [`AllocationScope`] and the deltas are added up, so other tasks that run
/// on the same thread between polls are not counted, and a future that
/// moves between threads is followed. With the RSS source the figure is the
/// process' RSS change between the first poll and completion.
/// Outcomes are recorded as by [`TimedFuture`](super::TimedFuture).
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct MeasuredFuture<F, K> {
    inner: F,
    metrics: Option<&'static MemoryMetrics>,
    classify: K,
    total: MemoryDelta,
    rss_before: Option<u64>,
    stage: Stage,
}

impl<F: Future, K: Classify<F::Output>> MeasuredFuture<F, K> {
    /// Wraps `inner`; `classify` decides the outcome of its output.
    #[inline]
    pub fn new(metrics: Option<&'static MemoryMetrics>, classify: K, inner: F) -> Self {
        MeasuredFuture {
            inner,
            metrics,
            classify,
            total: MemoryDelta::default(),
            rss_before: None,
            stage: Stage::Idle,
        }
    }
}

fn record_future(metrics: Option<&MemoryMetrics>, outcome: Outcome, total: MemoryDelta, rss_before: Option<u64>) {
    if let Some(metrics) = metrics {
        match metrics.source {
            MemorySource::Allocator => metrics.record(outcome, total),
            MemorySource::Rss => metrics.record_rss(outcome, rss_before, alloc::resident_set_bytes()),
        }
    }
}

impl<F: Future, K: Classify<F::Output>> Future for MeasuredFuture<F, K> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of
        // `self`, not in `poll` and not in `Drop`; the other fields are not
        // pinned and are only read or overwritten.
        let this = unsafe { self.get_unchecked_mut() };
        let metrics = this.metrics;
        let source = metrics.map(MemoryMetrics::source);
        if this.stage == Stage::Idle && source == Some(MemorySource::Rss) {
            this.rss_before = alloc::resident_set_bytes();
        }
        let rss_before = this.rss_before;
        let poll_scope = PollScope {
            metrics,
            rss_before,
            total: &mut this.total,
            stage: &mut this.stage,
            scope: None,
        }
        .enter(source == Some(MemorySource::Allocator));
        // SAFETY: see above; `this` came from a pinned reference.
        let polled = unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx);
        let total = poll_scope.exit();
        match polled {
            Poll::Ready(output) => {
                this.stage = Stage::Done;
                let outcome = this.classify.outcome(&output);
                record_future(metrics, outcome, total, rss_before);
                Poll::Ready(output)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// One poll of a [`MeasuredFuture`]: its allocation scope, added to the
/// future's total when the poll returns, or recorded as a panic when the
/// poll unwinds.
struct PollScope<'a> {
    metrics: Option<&'a MemoryMetrics>,
    rss_before: Option<u64>,
    total: &'a mut MemoryDelta,
    stage: &'a mut Stage,
    scope: Option<AllocationScope>,
}

impl PollScope<'_> {
    fn enter(mut self, count_allocations: bool) -> Self {
        *self.stage = Stage::Polling;
        // Entered last, so that nothing above is counted.
        self.scope = count_allocations.then(AllocationScope::enter);
        self
    }

    fn close(&mut self) {
        let delta = self.scope.take().map(AllocationScope::exit).unwrap_or_default();
        *self.total = self.total.then(delta);
    }

    fn exit(mut self) -> MemoryDelta {
        self.close();
        *self.stage = Stage::Running;
        *self.total
    }
}

impl Drop for PollScope<'_> {
    fn drop(&mut self) {
        if *self.stage == Stage::Polling {
            // The inner poll panicked.
            self.close();
            *self.stage = Stage::Done;
            record_future(self.metrics, Outcome::Panic, *self.total, self.rss_before);
        }
    }
}

impl<F, K> Drop for MeasuredFuture<F, K> {
    fn drop(&mut self) {
        if let Some(outcome) = self.stage.outcome_at_drop() {
            self.stage = Stage::Done;
            record_future(self.metrics, outcome, self.total, self.rss_before);
        }
    }
}
