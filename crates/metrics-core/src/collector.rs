//! `MetricsCollector`: the concurrent store of series, and the process-wide
//! collector.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use time::OffsetDateTime;

use crate::clock::{self, Clock, SystemClock};
use crate::config::MetricsConfig;
use crate::error::{MetricsError, Result};
use crate::handles::{Counter, Gauge, Histogram, Timer};
use crate::local_cache;
use crate::series::{MetricSeries, SamplePolicy, TagEntry, Update};
use crate::snapshot::{SeriesInfo, Snapshot};
use crate::tags::Tags;
use crate::types::MetricType;
use crate::validate::{MAX_TAGS_LIMIT, sorted_tags, validate_buckets, validate_name, validate_value};

/// The counter in which a collector counts new metric names it refused
/// because it held `max_series` series already (exported like any series).
pub const REJECTED_SERIES_METRIC: &str = "metrics.rejected_series";

/// Prometheus' default histogram buckets, in seconds for timers.
pub const DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Settings every series reads on its hot path, kept in atomics so that a
/// running collector can be reconfigured without replacing it.
#[derive(Debug)]
pub(crate) struct Shared {
    clock: Arc<dyn Clock>,
    enabled: AtomicBool,
    retention_nanos: AtomicI64,
    max_samples: AtomicUsize,
    max_tag_sets: AtomicUsize,
    max_tags: AtomicUsize,
    max_series: AtomicUsize,
}

impl Shared {
    fn new(config: &MetricsConfig, clock: Arc<dyn Clock>) -> Self {
        let shared = Shared {
            clock,
            enabled: AtomicBool::new(true),
            retention_nanos: AtomicI64::new(0),
            max_samples: AtomicUsize::new(0),
            max_tag_sets: AtomicUsize::new(0),
            max_tags: AtomicUsize::new(0),
            max_series: AtomicUsize::new(0),
        };
        shared.apply(config);
        shared
    }

    fn apply(&self, config: &MetricsConfig) {
        self.enabled.store(config.enabled, SeqCst);
        self.retention_nanos
            .store(clock::duration_nanos(config.retention), Relaxed);
        self.max_samples.store(config.max_samples_per_series, Relaxed);
        self.max_tag_sets.store(config.max_tag_sets_per_series, Relaxed);
        self.max_tags
            .store(config.max_tags_per_sample.min(MAX_TAGS_LIMIT), Relaxed);
        self.max_series.store(config.max_series, Relaxed);
    }

    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(SeqCst)
    }
    #[inline]
    pub(crate) fn now_nanos(&self) -> i64 {
        self.clock.now_nanos()
    }
    #[inline]
    pub(crate) fn retention_nanos(&self) -> i64 {
        self.retention_nanos.load(Relaxed)
    }
    /// Samples older than this (ns since epoch) are expired.
    #[inline]
    pub(crate) fn retention_cutoff(&self) -> i64 {
        self.now_nanos().saturating_sub(self.retention_nanos())
    }
    #[inline]
    pub(crate) fn max_samples(&self) -> usize {
        self.max_samples.load(Relaxed)
    }
    pub(crate) fn max_tag_sets(&self) -> usize {
        self.max_tag_sets.load(Relaxed)
    }
    pub(crate) fn max_tags(&self) -> usize {
        self.max_tags.load(Relaxed)
    }
}

/// Options for [`MetricsCollector::describe_metric`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricOptions {
    /// Help text, shown by exporters (`# HELP` in Prometheus).
    pub description: Option<String>,
    /// Histogram/timer bucket upper bounds (default [`DEFAULT_BUCKETS`]).
    /// Fixed once the series exists.
    pub buckets: Option<Vec<f64>>,
    /// Whether handle updates keep samples (default aggregate only).
    pub sample_policy: Option<SamplePolicy>,
}

type SeriesMap = DashMap<Arc<str>, Arc<MetricSeries>, foldhash::fast::RandomState>;

/// A thread-safe store of metric series, keyed by name.
///
/// There is no global lock: series live in a sharded map (`DashMap`), each
/// series guards its tag index, its samples and its aggregates separately.
/// See `docs/architecture.md` for where every lock is.
///
/// ```
/// use metrics_core::{MetricsCollector, MetricsConfig, MetricType, SummaryQuery};
///
/// let collector = MetricsCollector::new(MetricsConfig::default());
/// collector.record_metric("response_time", 0.245, &[("route", "/jobs")], MetricType::Histogram)?;
/// collector.record_metric("response_time", 0.120, &[("route", "/jobs")], MetricType::Histogram)?;
/// collector.record_metric("user_logins", 1.0, &[], MetricType::Counter)?;
///
/// let series = collector.get_metric_series("response_time").unwrap();
/// let summary = series.summary(&SummaryQuery::all()).unwrap();
/// assert_eq!(summary.count, 2);
/// assert_eq!(summary.max, 0.245);
/// # Ok::<(), metrics_core::MetricsError>(())
/// ```
#[derive(Debug)]
pub struct MetricsCollector {
    series: SeriesMap,
    shared: Arc<Shared>,
    /// Distinguishes this collector in the per-thread resolution cache.
    id: u64,
    /// Bumped after series are removed, invalidating cached resolutions.
    generation: AtomicU64,
    /// Series in `series`, kept beside the map so that the `max_series` cap
    /// is checked without walking its shards.
    series_count: AtomicUsize,
}

static NEXT_COLLECTOR_ID: AtomicU64 = AtomicU64::new(1);

impl Default for MetricsCollector {
    fn default() -> Self {
        MetricsCollector::new(MetricsConfig::default())
    }
}

impl MetricsCollector {
    /// A private collector using the system clock.
    pub fn new(config: MetricsConfig) -> Self {
        MetricsCollector::with_clock(config, Arc::new(SystemClock))
    }

    /// A private collector whose samples are timestamped by `clock`.
    pub fn with_clock(config: MetricsConfig, clock: Arc<dyn Clock>) -> Self {
        MetricsCollector {
            series: SeriesMap::default(),
            shared: Arc::new(Shared::new(&config, clock)),
            id: NEXT_COLLECTOR_ID.fetch_add(1, Relaxed),
            generation: AtomicU64::new(0),
            series_count: AtomicUsize::new(0),
        }
    }

    /// Applies `config`'s `enabled` flag and limits to this running
    /// collector. Existing series keep their samples; a lower
    /// `max_samples_per_series` takes effect at each series' next insert.
    pub fn configure(&self, config: &MetricsConfig) {
        self.shared.apply(config);
        self.sync_enabled();
    }

    /// Whether recording is enabled. When disabled, `record_metric` and
    /// every handle update return at once without recording.
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled()
    }

    /// Turns recording on or off.
    pub fn set_enabled(&self, enabled: bool) {
        self.shared.enabled.store(enabled, SeqCst);
        self.sync_enabled();
    }

    /// Copies the enabled flag into every series (handles read it there).
    /// A series created concurrently copies it itself after insertion.
    fn sync_enabled(&self) {
        for s in self.series.iter() {
            s.value().sync_enabled();
        }
    }

    /// The current time from the collector's clock.
    pub fn now(&self) -> OffsetDateTime {
        clock::to_datetime(self.shared.now_nanos())
    }

    /// Records one sample: updates the aggregate of (`name`, `tags`) and keeps
    /// the value as a timestamped sample until retention or the per-series
    /// cap drops it.
    ///
    /// The first call for a name creates its series with `metric_type`; later
    /// calls with another type are rejected. Timer values are seconds.
    ///
    /// # Errors
    /// [`MetricsError`] naming the bad input for an invalid name, a NaN or
    /// infinite value, a value that would make the aggregate non-finite
    /// ([`MetricsError::AggregateOverflow`]), a negative counter increment,
    /// a type other than the series', or invalid tags. Nothing is recorded
    /// then.
    #[inline]
    pub fn record_metric(&self, name: &str, value: f64, tags: impl Tags, metric_type: MetricType) -> Result<()> {
        self.record_inner(name, value, &tags, metric_type, None)
    }

    /// Like [`record_metric`](Self::record_metric) with an explicit timestamp
    /// (importing history, replaying a journal). The aggregate is updated;
    /// a sample already older than the retention is not kept (it counts as
    /// expired). A sample older than the series' newest one is inserted in
    /// time order, at a cost proportional to the number of newer samples.
    pub fn record_metric_at(
        &self,
        name: &str,
        value: f64,
        tags: impl Tags,
        metric_type: MetricType,
        at: OffsetDateTime,
    ) -> Result<()> {
        self.record_inner(name, value, &tags, metric_type, Some(clock::to_nanos(at)))
    }

    #[inline]
    fn record_inner(&self, name: &str, value: f64, tags: &impl Tags, ty: MetricType, at: Option<i64>) -> Result<()> {
        if !self.shared.enabled() {
            return Ok(());
        }
        validate_value(name, ty, value)?;
        let applied = self.resolve(name, tags, ty, |series, entry| series.record_entry(entry, value, at))?;
        if !applied {
            return Err(aggregate_overflow(name, value));
        }
        Ok(())
    }

    /// Runs `f` on the series and tag-set entry of (`name`, `tags`),
    /// creating them when new: from the per-thread cache when it has them
    /// (no shared lock touched), else through the map and the tag index.
    #[inline]
    fn resolve<R>(
        &self,
        name: &str,
        tags: &impl Tags,
        ty: MetricType,
        mut f: impl FnMut(&Arc<MetricSeries>, &TagEntry) -> R,
    ) -> Result<R> {
        // Read the generation before the map: a removal that races with this
        // lookup bumps it afterwards, so the slot filled below goes stale.
        let generation = self.generation.load(SeqCst);
        let hash = local_cache::key_hash(self.id, name, tags);
        // The hit path carries no `Result` (a `MetricsError` is large and
        // would be moved through every frame): a type mismatch falls
        // through to the shared path, which reports it.
        let cached = local_cache::with_cached(self.id, generation, hash, name, tags, |series, entry| {
            (series.metric_type() == ty).then(|| f(series, entry))
        });
        if let Some(Some(result)) = cached {
            return Ok(result);
        }
        self.resolve_shared(name, tags, ty, (generation, hash), f)
    }

    /// `resolve` past a per-thread cache miss: the map, the tag index, and
    /// a new cache slot. Out of line, so that the hit path stays small.
    #[inline(never)]
    fn resolve_shared<R>(
        &self,
        name: &str,
        tags: &impl Tags,
        ty: MetricType,
        (generation, hash): (u64, u64),
        mut f: impl FnMut(&Arc<MetricSeries>, &TagEntry) -> R,
    ) -> Result<R> {
        let series = match self.series.get(name) {
            Some(s) => {
                check_type(&s, ty)?;
                Arc::clone(&s)
            }
            None => self.create_series_for(name, ty, tags)?,
        };
        let entry = series.with_entry(tags, TagEntry::clone)?;
        // Updates routed to the overflow set are not cached: each must pass
        // the cap check so that it is counted.
        if entry.tags().equals_tags(tags) {
            local_cache::insert(self.id, generation, hash, (name, tags), &series, &entry);
        }
        Ok(f(&series, &entry))
    }

    /// Adds `n` to the counter (`name`, `tags`), creating it when new. Like a
    /// [`Counter`] handle: the aggregate is updated, and a sample is kept
    /// only when the series' [`SamplePolicy`] is `EveryEvent`.
    ///
    /// ```
    /// use metrics_core::{AggregateValue, MetricsCollector};
    /// let c = MetricsCollector::default();
    /// c.increment_counter("http_errors", &[("kind", "user"), ("route", "/api")], 1)?;
    /// c.increment_counter("http_errors", &[("route", "/api"), ("kind", "user")], 2)?;
    /// let s = c.get_metric_series("http_errors").unwrap();
    /// assert_eq!(s.aggregate(&[("kind", "user"), ("route", "/api")]), Some(AggregateValue::Counter { total: 3.0 }));
    /// # Ok::<(), metrics_core::MetricsError>(())
    /// ```
    ///
    /// # Errors
    /// As [`record_metric`](Self::record_metric) for the name, tags and type.
    #[inline]
    pub fn increment_counter(&self, name: &str, tags: impl Tags, n: u64) -> Result<()> {
        self.update(name, &tags, MetricType::Counter, Update::Count(n))
    }

    /// Sets the gauge (`name`, `tags`), creating it when new (aggregate
    /// only, as [`increment_counter`](Self::increment_counter)).
    ///
    /// # Errors
    /// As [`record_metric`](Self::record_metric), including NaN and infinite values.
    #[inline]
    pub fn set_gauge(&self, name: &str, tags: impl Tags, value: f64) -> Result<()> {
        self.update(name, &tags, MetricType::Gauge, Update::Value(value))
    }

    /// Observes `value` in the histogram (`name`, `tags`), creating it when
    /// new (aggregate only, as [`increment_counter`](Self::increment_counter)).
    ///
    /// # Errors
    /// As [`record_metric`](Self::record_metric), including NaN and infinite values.
    #[inline]
    pub fn observe_histogram(&self, name: &str, tags: impl Tags, value: f64) -> Result<()> {
        self.update(name, &tags, MetricType::Histogram, Update::Value(value))
    }

    /// Records `duration` in the timer (`name`, `tags`), in seconds, creating
    /// it when new (aggregate only, as [`increment_counter`](Self::increment_counter)).
    ///
    /// # Errors
    /// As [`record_metric`](Self::record_metric) for the name, tags and type.
    #[inline]
    pub fn record_duration(&self, name: &str, tags: impl Tags, duration: Duration) -> Result<()> {
        self.update(name, &tags, MetricType::Timer, Update::Value(duration.as_secs_f64()))
    }

    #[inline]
    fn update(&self, name: &str, tags: &impl Tags, ty: MetricType, update: Update) -> Result<()> {
        if !self.shared.enabled() {
            return Ok(());
        }
        if let Update::Value(v) = update {
            validate_value(name, ty, v)?;
        }
        let applied = self.resolve(name, tags, ty, |series, entry| series.update_entry(entry, update))?;
        if !applied {
            let value = match update {
                Update::Value(v) => v,
                Update::Count(n) => n as f64,
            };
            return Err(aggregate_overflow(name, value));
        }
        Ok(())
    }

    /// Creates the series for a first record or handle, after checking the
    /// name and the tags, so that a rejected first call leaves no empty
    /// series behind.
    #[cold]
    fn create_series_for(&self, name: &str, ty: MetricType, tags: &impl Tags) -> Result<Arc<MetricSeries>> {
        validate_name(name)?;
        sorted_tags(name, tags, self.shared.max_tags())?;
        self.create_series(name, ty, None)
    }

    /// The series named `name`, creating it with `ty` if absent.
    fn create_series(&self, name: &str, ty: MetricType, options: Option<&MetricOptions>) -> Result<Arc<MetricSeries>> {
        validate_name(name)?;
        let buckets: Arc<[f64]> = match options.and_then(|o| o.buckets.as_deref()) {
            Some(b) => {
                validate_buckets(name, b)?;
                Arc::from(b)
            }
            None if ty.is_distribution() => shared_buckets(&DEFAULT_BUCKET_LIST, &DEFAULT_BUCKETS),
            None => shared_buckets(&NO_BUCKETS, &[]),
        };
        let policy = options.and_then(|o| o.sample_policy).unwrap_or_default();
        let entry = match self.series.entry(Arc::from(name)) {
            dashmap::Entry::Occupied(e) => e.into_ref(),
            dashmap::Entry::Vacant(v) => {
                if !self.reserve_series_slot(name) {
                    // Release the shard before counting: the counter is a series too.
                    drop(v);
                    return Err(self.reject_series(name));
                }
                let s = MetricSeries::new(Arc::clone(v.key()), ty, Arc::clone(&self.shared), buckets, policy);
                v.insert(Arc::new(s))
            }
        };
        // A racing set_enabled may have iterated before this insertion.
        entry.sync_enabled();
        check_type(&entry, ty)?;
        Ok(Arc::clone(&entry))
    }

    /// Takes one of the `max_series` slots for a new series named `name`;
    /// false when they are all taken. The collector's own
    /// [`REJECTED_SERIES_METRIC`] takes none, so that rejections can be
    /// counted at the cap without costing a slot.
    fn reserve_series_slot(&self, name: &str) -> bool {
        if name == REJECTED_SERIES_METRIC {
            return true;
        }
        let max = self.shared.max_series.load(Relaxed);
        self.series_count
            .fetch_update(SeqCst, SeqCst, |n| (n < max).then_some(n + 1))
            .is_ok()
    }

    /// Counts a new name refused by the cap and returns the error naming it.
    #[cold]
    fn reject_series(&self, name: &str) -> MetricsError {
        let _ = self.increment_counter(REJECTED_SERIES_METRIC, &[], 1);
        MetricsError::TooManySeries {
            name: name.chars().take(64).collect(),
            max: self.shared.max_series.load(Relaxed),
        }
    }

    /// Registers a metric ahead of use, with help text, buckets and a sample
    /// policy. Creates the series if needed; on an existing series updates the
    /// description and policy.
    ///
    /// # Errors
    /// An invalid name, a type other than the existing series', invalid
    /// buckets, or buckets that differ from an existing series' buckets.
    ///
    /// ```
    /// use metrics_core::{MetricOptions, MetricsCollector, MetricType};
    /// let c = MetricsCollector::default();
    /// c.describe_metric("job_duration_seconds", MetricType::Timer, MetricOptions {
    ///     description: Some("Run time of one job".into()),
    ///     buckets: Some(vec![0.1, 1.0, 10.0, 60.0]),
    ///     ..Default::default()
    /// })?;
    /// assert_eq!(c.get_metric_series("job_duration_seconds").unwrap().buckets(), &[0.1, 1.0, 10.0, 60.0]);
    /// # Ok::<(), metrics_core::MetricsError>(())
    /// ```
    pub fn describe_metric(&self, name: &str, ty: MetricType, options: MetricOptions) -> Result<Arc<MetricSeries>> {
        let series = self.create_series(name, ty, Some(&options))?;
        if let Some(b) = &options.buckets
            && series.buckets() != b.as_slice()
        {
            return Err(MetricsError::InvalidBuckets {
                name: name.to_owned(),
                buckets: b.clone(),
                reason: "the series already exists with other buckets",
            });
        }
        if options.description.is_some() {
            series.set_description(options.description);
        }
        if let Some(p) = options.sample_policy {
            series.set_sample_policy(p);
        }
        Ok(series)
    }

    fn entry_handle<T>(
        &self,
        name: &str,
        tags: impl Tags,
        ty: MetricType,
        make: impl Fn(Arc<MetricSeries>, TagEntry) -> T,
    ) -> Result<T> {
        self.resolve(name, &tags, ty, |series, entry| make(Arc::clone(series), entry.clone()))
    }

    /// A handle to the counter (`name`, `tags`). Resolve it once and keep it:
    /// updates through it do no lookup or hashing.
    ///
    /// # Errors
    /// As [`record_metric`](Self::record_metric) for the name and tags.
    pub fn counter(&self, name: &str, tags: impl Tags) -> Result<Counter> {
        self.entry_handle(name, tags, MetricType::Counter, Counter::new)
    }

    /// A handle to the gauge (`name`, `tags`).
    ///
    /// # Errors
    /// As [`record_metric`](Self::record_metric) for the name and tags.
    pub fn gauge(&self, name: &str, tags: impl Tags) -> Result<Gauge> {
        self.entry_handle(name, tags, MetricType::Gauge, Gauge::new)
    }

    /// A handle to the histogram (`name`, `tags`).
    ///
    /// # Errors
    /// As [`record_metric`](Self::record_metric) for the name and tags.
    pub fn histogram(&self, name: &str, tags: impl Tags) -> Result<Histogram> {
        self.entry_handle(name, tags, MetricType::Histogram, Histogram::new)
    }

    /// A handle to the timer (`name`, `tags`); durations are kept in seconds.
    ///
    /// # Errors
    /// As [`record_metric`](Self::record_metric) for the name and tags.
    pub fn timer(&self, name: &str, tags: impl Tags) -> Result<Timer> {
        self.entry_handle(name, tags, MetricType::Timer, Timer::new)
    }

    /// The series named `name`.
    pub fn get_metric_series(&self, name: &str) -> Option<Arc<MetricSeries>> {
        self.series.get(name).map(|s| Arc::clone(&s))
    }

    fn all_series(&self) -> Vec<Arc<MetricSeries>> {
        let mut all: Vec<Arc<MetricSeries>> = self.series.iter().map(|e| Arc::clone(e.value())).collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Every series' name, type and size, sorted by name.
    pub fn list_series(&self) -> Vec<SeriesInfo> {
        self.all_series()
            .iter()
            .map(|s| SeriesInfo {
                name: s.name().to_owned(),
                metric_type: s.metric_type(),
                samples: s.len(),
                tag_sets: s.tag_sets().len(),
            })
            .collect()
    }

    /// Removes the series `name` and returns it. Handles to it keep working
    /// but update a detached series that no export sees.
    pub fn remove_series(&self, name: &str) -> Option<Arc<MetricSeries>> {
        let removed = self.series.remove(name).map(|(_, s)| s);
        if removed.is_some() && name != REJECTED_SERIES_METRIC {
            self.series_count.fetch_sub(1, SeqCst);
        }
        self.generation.fetch_add(1, SeqCst);
        removed
    }

    /// Removes every series.
    pub fn clear_all(&self) {
        let mut removed = 0;
        self.series.retain(|name, _| {
            removed += usize::from(&**name != REJECTED_SERIES_METRIC);
            false
        });
        self.series_count.fetch_sub(removed, SeqCst);
        self.generation.fetch_add(1, SeqCst);
    }

    /// A consistent copy of every series with samples and aggregates.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_with(true)
    }

    /// A copy of every series' aggregates only (what exposition formats
    /// need); much cheaper than [`snapshot`](Self::snapshot) with long histories.
    pub fn aggregate_snapshot(&self) -> Snapshot {
        self.snapshot_with(false)
    }

    fn snapshot_with(&self, samples: bool) -> Snapshot {
        Snapshot {
            taken_at: self.now(),
            series: self.all_series().iter().map(|s| s.snapshot(samples)).collect(),
        }
    }
}

/// The bucket lists most series share, allocated once per process rather
/// than once per series (16 bytes for an empty list, 104 for the defaults).
static DEFAULT_BUCKET_LIST: OnceLock<Arc<[f64]>> = OnceLock::new();
static NO_BUCKETS: OnceLock<Arc<[f64]>> = OnceLock::new();

fn shared_buckets(cell: &'static OnceLock<Arc<[f64]>>, bounds: &[f64]) -> Arc<[f64]> {
    Arc::clone(cell.get_or_init(|| Arc::from(bounds)))
}

#[inline]
fn check_type(series: &MetricSeries, requested: MetricType) -> Result<()> {
    if series.metric_type() != requested {
        return Err(type_mismatch(series, requested));
    }
    Ok(())
}

#[cold]
fn aggregate_overflow(name: &str, value: f64) -> MetricsError {
    MetricsError::AggregateOverflow {
        name: name.to_owned(),
        value,
    }
}

#[cold]
fn type_mismatch(series: &MetricSeries, requested: MetricType) -> MetricsError {
    MetricsError::TypeMismatch {
        name: series.name().to_owned(),
        existing: series.metric_type(),
        requested,
    }
}

static GLOBAL: OnceLock<Arc<MetricsCollector>> = OnceLock::new();

/// The process-wide collector, created with [`MetricsConfig::default`] on
/// first use. [`MetricsManager::initialize`](crate::MetricsManager::initialize)
/// reconfigures it in place, so handles resolved before initialization stay
/// valid.
pub fn get_metrics_collector() -> &'static MetricsCollector {
    global_collector_arc()
}

/// The process-wide collector as a shared pointer, for components that hold
/// either it or a private collector (an HTTP server, a batch engine).
pub fn global_metrics_collector() -> Arc<MetricsCollector> {
    Arc::clone(global_collector_arc())
}

pub(crate) fn global_collector_arc() -> &'static Arc<MetricsCollector> {
    GLOBAL.get_or_init(|| Arc::new(MetricsCollector::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_call_with_bad_tags_creates_no_series() {
        let c = MetricsCollector::default();
        let empty_key: &[(&str, &str)] = &[("", "v")];
        assert!(matches!(
            c.record_metric("m", 1.0, empty_key, MetricType::Gauge),
            Err(MetricsError::EmptyTagKey { .. })
        ));
        assert!(matches!(
            c.counter("c", &[("overflow", "x")]),
            Err(MetricsError::ReservedTagKey { .. })
        ));
        assert!(c.list_series().is_empty());
        // The name stays free for any type.
        c.record_metric("m", 1.0, &[], MetricType::Counter).unwrap();
    }
}
