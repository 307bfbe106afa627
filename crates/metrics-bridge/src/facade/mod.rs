//! A [`metrics::Recorder`] that writes into a [`MetricsCollector`].
//!
//! | facade | metrics-core |
//! |---|---|
//! | `counter!(name, labels)` | the counter `name`, tagged with the labels |
//! | `gauge!` | a gauge |
//! | `histogram!` | a histogram (or the existing timer of that name, in seconds) |
//! | `describe_*!(name, unit, text)` | the series' help text (`# HELP`) and unit ([`Unit::as_str`]: `seconds`, `bytes`, …; OpenMetrics `# UNIT` where the name ends with it) |
//! | labels | tags, validated like any tag; past `max_tag_sets_per_series` they fold into `overflow="true"` |
//!
//! Handles are resolved once per thread and key (see `cache.rs`): after the
//! first registration, `counter!(name, labels).increment(1)` does no lookup
//! in the collector.
//!
//! **Samples.** A facade update is a metrics-core handle update, so it keeps
//! a timestamped sample only if the series' [`SamplePolicy`] is
//! `EveryEvent`. The default is metrics-core's, `AggregateOnly`: aggregates
//! (exposition, JSON `aggregates`) are complete, `values()` stays empty.
//! [`MetricsRecorder::with_sample_policy`] sets the policy of every series
//! the recorder creates; `describe_metric` or
//! [`MetricSeries::set_sample_policy`](metrics_core::MetricSeries::set_sample_policy)
//! sets it per series, and takes effect on handles already handed out.
//!
//! **Errors.** The facade has no way to return an error, so a registration
//! the store refuses (an invalid name or label, a name already used by
//! another type) yields a no-op handle; it is counted in
//! [`MetricsRecorder::rejected_registrations`] and the last one is kept in
//! [`MetricsRecorder::last_error`].

mod cache;
mod handles;
mod key_tags;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{Key, KeyName, Metadata, SharedString, Unit};
use metrics_core::{
    MetricOptions, MetricSeries, MetricType, MetricsCollector, MetricsError, OVERFLOW_TAG_KEY, SamplePolicy,
};

use self::handles::{FacadeCounter, FacadeGauge, FacadeHistogram};
use self::key_tags::KeyTags;

static NEXT_RECORDER_ID: AtomicU64 = AtomicU64::new(1);

/// Returned by [`install`] and [`MetricsRecorder::install`] when the process
/// already has a global `metrics` recorder.
#[derive(Debug, thiserror::Error)]
#[error(
    "a global `metrics` recorder is already installed, so metrics-bridge's recorder was not; \
     the facade accepts one global recorder per process: install this one before any other \
     (e.g. before metrics_exporter_prometheus::PrometheusBuilder::install), or use \
     metrics::with_local_recorder for a scope"
)]
pub struct InstallError(());

/// A [`metrics::Recorder`] writing into a [`MetricsCollector`].
///
/// Cheap to clone (one `Arc`); clones share the error counters and the per-thread handle caches. See the [module docs](self)
/// for how facade calls map onto the store.
///
/// ```
/// use std::sync::Arc;
/// use metrics_core::{MetricsCollector, export::prometheus::{encode, TextFormat}};
/// use metrics_bridge::MetricsRecorder;
///
/// let collector = Arc::new(MetricsCollector::default());
/// let recorder = MetricsRecorder::new(Arc::clone(&collector));
/// metrics::with_local_recorder(&recorder, || {
///     metrics::describe_histogram!("query_seconds", metrics::Unit::Seconds, "Query latency.");
///     metrics::histogram!("query_seconds", "table" => "users").record(0.012);
/// });
/// let text = encode(&collector.aggregate_snapshot(), TextFormat::Prometheus).text;
/// assert!(text.contains("# HELP query_seconds Query latency."));
/// assert!(text.contains("query_seconds_count{table=\"users\"} 1"));
/// assert_eq!(recorder.unit("query_seconds"), Some(metrics::Unit::Seconds));
/// ```
#[derive(Debug, Clone)]
pub struct MetricsRecorder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    collector: Arc<MetricsCollector>,
    /// Tells this recorder's entries apart in the per-thread caches.
    id: u64,
    /// Bumped by [`MetricsRecorder::forget_handles`]; stale caches are dropped.
    generation: AtomicU64,
    sample_policy: Option<SamplePolicy>,
    rejected: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// Installs a recorder writing into the process-wide collector
/// ([`metrics_core::global_metrics_collector`]) as the global `metrics`
/// recorder, and returns a clone of it (for [`MetricsRecorder::unit`] and the
/// error counters).
///
/// # Errors
/// [`InstallError`] if a global recorder is already installed (the facade
/// allows one per process and keeps the first).
pub fn install() -> Result<MetricsRecorder, InstallError> {
    MetricsRecorder::new(metrics_core::global_metrics_collector()).install()
}

impl MetricsRecorder {
    /// A recorder writing into `collector`. Series it creates keep the
    /// collector's default sample policy (`AggregateOnly`).
    pub fn new(collector: Arc<MetricsCollector>) -> Self {
        MetricsRecorder {
            inner: Arc::new(Inner {
                collector,
                id: NEXT_RECORDER_ID.fetch_add(1, Relaxed),
                generation: AtomicU64::new(0),
                sample_policy: None,
                rejected: AtomicU64::new(0),
                last_error: Mutex::new(None),
            }),
        }
    }

    /// A recorder over the same collector whose new series get `policy`
    /// (series that already exist keep theirs). With `EveryEvent` every
    /// facade update is also a timestamped sample, which costs a clock read
    /// and a push per update. The returned recorder is a new one: it starts
    /// with a copy of this one's error counts, and has its own
    /// per-thread handle caches.
    #[must_use = "with_sample_policy returns the configured recorder"]
    pub fn with_sample_policy(self, policy: SamplePolicy) -> Self {
        let inner = Arc::new(Inner {
            collector: Arc::clone(&self.inner.collector),
            id: NEXT_RECORDER_ID.fetch_add(1, Relaxed),
            generation: AtomicU64::new(0),
            sample_policy: Some(policy),
            rejected: AtomicU64::new(self.rejected_registrations()),
            last_error: Mutex::new(self.last_error()),
        });
        MetricsRecorder { inner }
    }

    /// Sets this recorder as the process's global `metrics` recorder and
    /// returns a clone of it.
    ///
    /// # Errors
    /// [`InstallError`] if a global recorder is already installed.
    pub fn install(self) -> Result<MetricsRecorder, InstallError> {
        let kept = self.clone();
        metrics::set_global_recorder(self).map_err(|_| InstallError(()))?;
        Ok(kept)
    }

    /// The collector this recorder writes into.
    pub fn collector(&self) -> &Arc<MetricsCollector> {
        &self.inner.collector
    }

    /// The unit of the series `name` in the collector, as a facade [`Unit`]:
    /// the one given to `describe_*!` (stored on the series by
    /// `describe_metric`), or one set through metrics-core that the facade
    /// names. `None` when there is no such series, no unit, or a unit the
    /// facade has no variant for.
    pub fn unit(&self, name: &str) -> Option<Unit> {
        let unit = self.inner.collector.get_metric_series(name)?.unit()?;
        Unit::from_string(&unit)
    }

    /// Every (name, unit) of the collector's series that have a facade
    /// unit, sorted by name.
    pub fn units(&self) -> Vec<(String, Unit)> {
        self.inner
            .collector
            .list_series()
            .into_iter()
            .filter_map(|s| self.unit(&s.name).map(|u| (s.name, u)))
            .collect()
    }

    /// Registrations and descriptions the store refused (each gave a no-op
    /// handle or was ignored).
    pub fn rejected_registrations(&self) -> u64 {
        self.inner.rejected.load(Relaxed)
    }

    /// The most recent refusal's message, naming the bad name, label or type.
    pub fn last_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops every thread's cached handles of this recorder. Not needed after
    /// removals in the collector ([`MetricsCollector::remove_series`],
    /// [`remove`](MetricsCollector::remove), [`clear_all`](MetricsCollector::clear_all),
    /// idle expiry): the caches follow [`MetricsCollector::generation`] and
    /// drop their handles by themselves when it changes. Handles a library
    /// holds on to itself (a `metrics::Counter` kept in a struct) stay bound
    /// to the removed series or tag set.
    pub fn forget_handles(&self) {
        self.inner.generation.fetch_add(1, Relaxed);
    }

    fn reject(&self, error: MetricsError) {
        self.inner.rejected.fetch_add(1, Relaxed);
        *self.inner.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
    }

    /// The existing series `name`, before a registration creates it.
    fn existing(&self, name: &str) -> Option<Arc<MetricSeries>> {
        self.inner.collector.get_metric_series(name)
    }

    /// Applies the configured sample policy to a series this recorder just created.
    fn adopt(&self, existed: bool, series: &MetricSeries) {
        if let (false, Some(policy)) = (existed, self.inner.sample_policy) {
            series.set_sample_policy(policy);
        }
    }

    /// Looks `key` up in this thread's cache, or resolves it with `resolve`
    /// and caches the result unless it folded into the overflow set (so
    /// every overflowing registration is counted by the store).
    #[inline]
    fn cached<T: Send + Sync + 'static>(
        &self,
        select: cache::Select<T>,
        key: &Key,
        resolve: impl FnOnce() -> Result<(Arc<T>, bool), MetricsError>,
    ) -> Option<Arc<T>> {
        // Both counts only grow, so their sum changes whenever either does:
        // a removal in the collector drops this thread's stale handles.
        let generation = self
            .inner
            .generation
            .load(Relaxed)
            .wrapping_add(self.inner.collector.generation());
        if let Some(hit) = cache::get(self.inner.id, generation, select, key) {
            return Some(hit);
        }
        match resolve() {
            Ok((handle, overflowed)) => {
                if !overflowed {
                    cache::insert(self.inner.id, generation, select, key, &handle);
                }
                Some(handle)
            }
            Err(e) => {
                self.reject(e);
                None
            }
        }
    }

    fn describe(&self, key: KeyName, ty: MetricType, unit: Option<Unit>, description: SharedString) {
        let name = key.as_str();
        let existing = self.existing(name);
        // A facade histogram of a name that is already a timer describes the timer.
        let ty = match (&existing, ty) {
            (Some(s), MetricType::Histogram) if s.metric_type() == MetricType::Timer => MetricType::Timer,
            _ => ty,
        };
        let options = MetricOptions {
            description: Some(description.into_owned()),
            unit: unit.map(|u| u.as_str().to_owned()),
            sample_policy: if existing.is_none() {
                self.inner.sample_policy
            } else {
                None
            },
            ..MetricOptions::default()
        };
        if let Err(e) = self.inner.collector.describe_metric(name, ty, options) {
            self.reject(e);
        }
    }
}

fn overflowed(tags: &metrics_core::TagSet) -> bool {
    tags.get(OVERFLOW_TAG_KEY).is_some()
}

impl metrics::Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, MetricType::Counter, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, MetricType::Gauge, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, MetricType::Histogram, unit, description);
    }

    #[inline]
    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Counter {
        let handle = self.cached(
            |c| &mut c.counters,
            key,
            || {
                let existed = self.existing(key.name()).is_some();
                let counter = self.inner.collector.counter(key.name(), KeyTags(key))?;
                self.adopt(existed, counter.series());
                let overflow = overflowed(counter.tags());
                Ok((Arc::new(FacadeCounter(counter)), overflow))
            },
        );
        handle.map_or_else(metrics::Counter::noop, metrics::Counter::from_arc)
    }

    #[inline]
    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Gauge {
        let handle = self.cached(
            |c| &mut c.gauges,
            key,
            || {
                let existed = self.existing(key.name()).is_some();
                let gauge = self.inner.collector.gauge(key.name(), KeyTags(key))?;
                self.adopt(existed, gauge.series());
                let overflow = overflowed(gauge.tags());
                Ok((Arc::new(FacadeGauge(gauge)), overflow))
            },
        );
        handle.map_or_else(metrics::Gauge::noop, metrics::Gauge::from_arc)
    }

    #[inline]
    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Histogram {
        let handle = self.cached(
            |c| &mut c.histograms,
            key,
            || {
                let existing = self.existing(key.name());
                let collector = &self.inner.collector;
                let (handle, overflow) = match existing.as_ref().map(|s| s.metric_type()) {
                    Some(MetricType::Timer) => {
                        let t = collector.timer(key.name(), KeyTags(key))?;
                        let overflow = overflowed(t.tags());
                        (FacadeHistogram::Timer(t), overflow)
                    }
                    _ => {
                        let h = collector.histogram(key.name(), KeyTags(key))?;
                        self.adopt(existing.is_some(), h.series());
                        let overflow = overflowed(h.tags());
                        (FacadeHistogram::Histogram(h), overflow)
                    }
                };
                Ok((Arc::new(handle), overflow))
            },
        );
        handle.map_or_else(metrics::Histogram::noop, metrics::Histogram::from_arc)
    }
}

#[cfg(test)]
mod tests;
