//! `MetricsCollector`: the concurrent store of series, and the process-wide
//! collector.

mod attachments;
mod by_name;
mod exemplars;
mod exposition;
mod removal;
mod series_cap;

pub use series_cap::REJECTED_SERIES_METRIC;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use time::OffsetDateTime;

use crate::clock::{self, Clock};
use crate::config::MetricsConfig;
use crate::error::{RecordError, RecordErrorKind, Result};
use crate::handles::{Counter, Gauge, Histogram, Timer};
use crate::kind::MetricType;
use crate::snapshot::self_metrics::add_self_metrics;
use crate::snapshot::{SeriesInfo, Snapshot};
use crate::store::overflow::OverflowEvent;
use crate::store::series::{MetricSeries, Resolved, SamplePolicy};
use crate::store::settings::Settings;
use crate::store::sink::{SampleSink, SinkSlot};
use crate::store::thread_cache;
use crate::store::update::{Keep, Update, admit};
use crate::store::validate::{sorted_tags, validate_buckets, validate_name, validate_unit};
use crate::tags::Tags;
use crate::tags::entry::TagEntry;
use by_name::SeriesByName;

pub use crate::cell::histogram::DEFAULT_BUCKETS;

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
    /// The unit of the values (`seconds`, `bytes`, …): `[a-z][a-z0-9_]*`,
    /// at most 64 bytes. OpenMetrics text writes it as `# UNIT` when the
    /// family name ends with `_<unit>` (see `docs/prometheus.md`); the JSON
    /// export keeps it. A later `Some` replaces it; `None` leaves it.
    pub unit: Option<String>,
}

/// The series by name: each slot holds only the series' pointer (the
/// series carries its name), 8 bytes where a name key beside a series
/// value took 24 and a second copy of the name.
type SeriesMap = DashMap<SeriesByName, (), foldhash::fast::RandomState>;

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
    settings: Arc<Settings>,
    /// Distinguishes this collector in the per-thread resolution cache.
    id: u64,
    /// Bumped after series are removed, invalidating cached resolutions.
    generation: AtomicU64,
    /// Series in `series`, kept beside the map so that the `max_series` cap
    /// is checked without walking its shards.
    series_count: AtomicUsize,
}

static NEXT_COLLECTOR_ID: AtomicU64 = AtomicU64::new(1);

/// A dropped collector takes its series out of every thread's resolution
/// cache, so that its memory is returned now (less what handles and
/// families the program still holds keep alive).
impl Drop for MetricsCollector {
    fn drop(&mut self) {
        thread_cache::forget_collector(self.id);
    }
}

impl Default for MetricsCollector {
    fn default() -> Self {
        MetricsCollector::new(MetricsConfig::default())
    }
}

impl MetricsCollector {
    /// A private collector using the system clock, as of its last update
    /// at most [`RECENT_PERIOD`](clock::RECENT_PERIOD) ago ([`RecentClock`](clock::RecentClock):
    /// a timestamp costs two loads, not a clock read). For timestamps read
    /// at each call, pass [`SystemClock`](clock::SystemClock) to
    /// [`with_clock`](Self::with_clock).
    pub fn new(config: MetricsConfig) -> Self {
        MetricsCollector::with_settings(Settings::new(&config, None))
    }

    /// A private collector whose samples are timestamped by `clock`.
    pub fn with_clock(config: MetricsConfig, clock: Arc<dyn Clock>) -> Self {
        MetricsCollector::with_settings(Settings::new(&config, Some(clock)))
    }

    fn with_settings(settings: Settings) -> Self {
        clock::warm_up();
        MetricsCollector {
            series: SeriesMap::default(),
            settings: Arc::new(settings),
            id: NEXT_COLLECTOR_ID.fetch_add(1, Relaxed),
            generation: AtomicU64::new(0),
            series_count: AtomicUsize::new(0),
        }
    }

    /// Applies `config`'s `enabled` flag and limits to this running
    /// collector. Existing series keep their samples; a lower
    /// `max_samples_per_series` takes effect at each series' next insert.
    pub fn configure(&self, config: &MetricsConfig) {
        self.settings.apply(config);
        self.sync_enabled();
    }

    /// Whether recording is enabled. When disabled, `record_metric` and
    /// every handle update return at once without recording.
    pub fn is_enabled(&self) -> bool {
        self.settings.enabled()
    }

    /// Turns recording on or off.
    pub fn set_enabled(&self, enabled: bool) {
        self.settings.set_enabled(enabled);
        self.sync_enabled();
    }

    /// Copies the enabled flag into every series (handles read it there).
    /// A series created concurrently copies it itself after insertion.
    fn sync_enabled(&self) {
        for s in self.series.iter() {
            s.key().0.sync_enabled();
        }
    }

    /// The current time from the collector's clock.
    pub fn now(&self) -> OffsetDateTime {
        clock::to_datetime(self.settings.now_nanos())
    }

    /// Records one sample: updates the aggregate of (`name`, `tags`) and keeps
    /// the value as a timestamped sample until retention or the per-series
    /// cap drops it.
    ///
    /// The first call for a name creates its series with `metric_type`; later
    /// calls with another type are rejected. Timer values are seconds.
    ///
    /// # Errors
    /// A [`RecordError`] naming the bad input for an invalid name, a NaN or
    /// infinite value, a value that would make the aggregate non-finite
    /// ([`RecordErrorKind::AggregateOverflow`]), a negative counter
    /// increment, a negative timer duration, a type other than the series',
    /// or invalid tags, and for a new name past the `max_series` cap
    /// ([`RecordErrorKind::TooManySeries`]). Nothing is recorded then. `?`
    /// converts it into a [`MetricsError`](crate::MetricsError).
    #[inline]
    pub fn record_metric(
        &self,
        name: &str,
        value: f64,
        tags: impl Tags,
        metric_type: MetricType,
    ) -> Result<(), RecordError> {
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
    ) -> Result<(), RecordError> {
        self.record_inner(name, value, &tags, metric_type, Some(clock::to_nanos(at)))
    }

    #[inline]
    fn record_inner(
        &self,
        name: &str,
        value: f64,
        tags: &impl Tags,
        ty: MetricType,
        at: Option<i64>,
    ) -> Result<(), RecordError> {
        let update = Update::value(value);
        if !admit(&self.settings, name, ty, update)? {
            return Ok(());
        }
        let keep = at.map_or(Keep::Always, Keep::At);
        let applied = self.resolve(name, tags, ty, |series, entry| series.apply(entry, update, keep))?;
        if !applied {
            return Err(aggregate_overflow(name, update));
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
    ) -> Result<R, RecordError> {
        // Read the generation before the map: a removal that races with this
        // lookup bumps it afterwards, so the slot filled below goes stale.
        let generation = self.generation.load(SeqCst);
        // The hit path carries no `Result`: a type mismatch falls through
        // to the shared path, which reports it.
        let cached = thread_cache::with_cached(self.id, generation, name, tags, |series, entry| {
            (series.metric_type() == ty).then(|| f(series, entry))
        });
        if let Some(Some(result)) = cached {
            return Ok(result);
        }
        self.resolve_shared(name, tags, ty, generation, f)
    }

    /// `resolve` past a per-thread cache miss: the map, the tag index, and
    /// a new cache slot. Out of line, so that the hit path stays small.
    #[inline(never)]
    fn resolve_shared<R>(
        &self,
        name: &str,
        tags: &impl Tags,
        ty: MetricType,
        generation: u64,
        mut f: impl FnMut(&Arc<MetricSeries>, &TagEntry) -> R,
    ) -> Result<R, RecordError> {
        let series = match self.series.get(name) {
            Some(s) => {
                check_type(&s.key().0, ty)?;
                Arc::clone(&s.key().0)
            }
            None => self.create_series_for(name, ty, tags)?,
        };
        let (entry, resolved) = series.with_entry_resolved(tags, TagEntry::clone)?;
        // Updates routed to the overflow set are not cached: each must pass
        // the cap check so that it is counted. Nor is a tag set this call
        // created: most of those are recorded once (a unique label), and a
        // cache slot would cost them an allocation and a copy of the key;
        // the tag set's next update caches it.
        if resolved == Resolved::Existing {
            let hash = thread_cache::key_hash(self.id, name, tags);
            thread_cache::insert(self.id, generation, hash, (name, tags), &series, &entry);
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
    pub fn increment_counter(&self, name: &str, tags: impl Tags, n: u64) -> Result<(), RecordError> {
        self.update(name, &tags, MetricType::Counter, Update::count(n))
    }

    /// Sets the gauge (`name`, `tags`), creating it when new (aggregate
    /// only, as [`increment_counter`](Self::increment_counter)).
    ///
    /// # Errors
    /// As [`record_metric`](Self::record_metric), including NaN and infinite values.
    #[inline]
    pub fn set_gauge(&self, name: &str, tags: impl Tags, value: f64) -> Result<(), RecordError> {
        self.update(name, &tags, MetricType::Gauge, Update::value(value))
    }

    /// Observes `value` in the histogram (`name`, `tags`), creating it when
    /// new (aggregate only, as [`increment_counter`](Self::increment_counter)).
    ///
    /// # Errors
    /// As [`record_metric`](Self::record_metric), including NaN and infinite values.
    #[inline]
    pub fn observe_histogram(&self, name: &str, tags: impl Tags, value: f64) -> Result<(), RecordError> {
        self.update(name, &tags, MetricType::Histogram, Update::value(value))
    }

    /// Records `duration` in the timer (`name`, `tags`), in seconds, creating
    /// it when new (aggregate only, as [`increment_counter`](Self::increment_counter)).
    ///
    /// # Errors
    /// As [`record_metric`](Self::record_metric) for the name, tags and type.
    #[inline]
    pub fn record_duration(&self, name: &str, tags: impl Tags, duration: Duration) -> Result<(), RecordError> {
        self.update(name, &tags, MetricType::Timer, Update::duration(duration.as_secs_f64()))
    }

    #[inline]
    fn update(&self, name: &str, tags: &impl Tags, ty: MetricType, update: Update) -> Result<(), RecordError> {
        if !admit(&self.settings, name, ty, update)? {
            return Ok(());
        }
        let applied = self.resolve(name, tags, ty, |series, entry| {
            series.apply(entry, update, Keep::ByPolicy)
        })?;
        if !applied {
            return Err(aggregate_overflow(name, update));
        }
        Ok(())
    }

    /// Creates the series for a first record or handle, after checking the
    /// name and the tags, so that a rejected first call leaves no empty
    /// series behind.
    #[cold]
    fn create_series_for(
        &self,
        name: &str,
        ty: MetricType,
        tags: &impl Tags,
    ) -> Result<Arc<MetricSeries>, RecordError> {
        validate_name(name)?;
        sorted_tags(name, tags, self.settings.max_tags())?;
        self.create_series(name, ty, None)
    }

    /// The series named `name`, creating it with `ty` if absent.
    fn create_series(
        &self,
        name: &str,
        ty: MetricType,
        options: Option<&MetricOptions>,
    ) -> Result<Arc<MetricSeries>, RecordError> {
        validate_name(name)?;
        let buckets: Option<Arc<[f64]>> = match options.and_then(|o| o.buckets.as_deref()) {
            Some(b) => {
                validate_buckets(name, b)?;
                Some(Arc::from(b))
            }
            // The defaults of the type.
            None => None,
        };
        let policy = options.and_then(|o| o.sample_policy).unwrap_or_default();
        let series = match self.get_metric_series(name) {
            Some(existing) => existing,
            None => {
                // The map's key is the series itself: built before its slot
                // is looked for, and dropped if another thread's got there first.
                let new = Arc::new(MetricSeries::new(name, ty, Arc::clone(&self.settings), buckets, policy));
                match self.series.entry(SeriesByName(new)) {
                    dashmap::Entry::Occupied(e) => Arc::clone(&e.key().0),
                    dashmap::Entry::Vacant(v) => {
                        if !self.reserve_series_slot(name) {
                            // Release the shard before counting: the counter is a series too.
                            drop(v);
                            return Err(self.reject_series(name));
                        }
                        let series = Arc::clone(&v.key().0);
                        v.insert(());
                        series
                    }
                }
            }
        };
        // A racing set_enabled may have iterated before this insertion.
        series.sync_enabled();
        check_type(&series, ty)?;
        Ok(series)
    }

    /// Registers a metric ahead of use, with help text, a unit, buckets and a
    /// sample policy. Creates the series if needed; on an existing series
    /// updates the description, unit and policy (those given).
    ///
    /// # Errors
    /// An invalid name, a type other than the existing series', invalid
    /// buckets, buckets that differ from an existing series' buckets, or an
    /// invalid unit ([`MetricsError::InvalidUnit`](crate::MetricsError::InvalidUnit),
    /// checked before anything is created).
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
        if let Some(unit) = &options.unit {
            validate_unit(name, unit)?;
        }
        let series = self.create_series(name, ty, Some(&options))?;
        if let Some(b) = &options.buckets
            && series.buckets() != b.as_slice()
        {
            return Err(RecordError::from(RecordErrorKind::InvalidBuckets {
                name: name.to_owned(),
                buckets: b.clone(),
                reason: "the series already exists with other buckets",
            })
            .into());
        }
        if options.description.is_some() {
            series.set_description(options.description);
        }
        if options.unit.is_some() {
            series.set_unit(options.unit);
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
        Ok(self.resolve(name, &tags, ty, |series, entry| make(Arc::clone(series), entry.clone()))?)
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
        self.series.get(name).map(|s| Arc::clone(&s.key().0))
    }

    fn all_series(&self) -> Vec<Arc<MetricSeries>> {
        let mut all: Vec<Arc<MetricSeries>> = self.series.iter().map(|e| Arc::clone(&e.key().0)).collect();
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

    /// A copy of every series with its samples and aggregates, sorted by
    /// name. Each series is copied under its own locks in turn, so the copy
    /// is consistent within a series; a record that runs meanwhile may be
    /// in one series' copy and not yet in another's.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_with(true)
    }

    /// A copy of every series' aggregates only (what exposition formats
    /// need); much cheaper than [`snapshot`](Self::snapshot) with long histories.
    pub fn aggregate_snapshot(&self) -> Snapshot {
        self.snapshot_with(false)
    }

    fn snapshot_with(&self, samples: bool) -> Snapshot {
        self.expire_idle();
        let mut series: Vec<_> = self.all_series().iter().map(|s| s.snapshot(samples)).collect();
        add_self_metrics(&mut series);
        Snapshot {
            taken_at: self.now(),
            series,
        }
    }
}

#[inline]
fn check_type(series: &MetricSeries, requested: MetricType) -> Result<(), RecordError> {
    if series.metric_type() != requested {
        return Err(type_mismatch(series, requested));
    }
    Ok(())
}

#[cold]
fn aggregate_overflow(name: &str, update: Update) -> RecordError {
    RecordError::from(RecordErrorKind::AggregateOverflow {
        name: name.to_owned(),
        value: update.given(),
    })
}

#[cold]
fn type_mismatch(series: &MetricSeries, requested: MetricType) -> RecordError {
    RecordError::from(RecordErrorKind::TypeMismatch {
        name: series.name().to_owned(),
        existing: series.metric_type(),
        requested,
    })
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
mod tests;
