//! `MetricSeries`: everything recorded under one metric name.
//!
//! A series owns three things, each behind its own lock:
//! * the **tag index** (`RwLock`): the [`TagEntry`]s by id, each one
//!   allocation holding a tag set, its dense id and its cumulative aggregate,
//!   and a hash table from tags to id.
//!   Lookups of known tag sets take the read lock only and compare the
//!   caller's tags against the entry's stored text.
//! * the **samples** ([`SampleStore`]): retained timestamped samples, 24
//!   bytes each, tags stored as the id; one mutex-guarded ring, plus
//!   per-thread buffers merged in batches once threads collide on it.
//! * the **aggregates** themselves (atomics, or a mutex per histogram).

pub(crate) mod exemplars;
mod expiry;
mod resolve;
mod samples_read;

pub(crate) use resolve::Resolved;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use once_cell::race::OnceBox;

use crate::cell::histogram::DEFAULT_BUCKETS;
use crate::cell::{Aggregate, CounterCell, GaugeCell, HistogramCell};
use crate::kind::MetricType;
use crate::snapshot::exemplar::BucketExemplar;
use crate::snapshot::{AggregateValue, MetricValue, SeriesSnapshot, TagSetAggregate};
use crate::store::index::TagIndex;
use crate::store::overflow::OverflowReporter;
use crate::store::ring::Sample;
use crate::store::samples::SampleStore;
use crate::store::settings::Settings;
use crate::store::sink::SeriesKey;
use crate::tags::entry::TagEntry;
use crate::tags::{TagSet, Tags, hash_tags};

/// Whether handle updates are also kept as timestamped samples.
///
/// `record_metric` always keeps a sample. Handles ([`Counter`](crate::Counter),
/// [`Gauge`](crate::Gauge), [`Histogram`](crate::Histogram),
/// [`Timer`](crate::Timer)) update the aggregate, and additionally push a
/// sample when the series' policy is [`SamplePolicy::EveryEvent`].
///
/// The default is [`SamplePolicy::AggregateOnly`]: a handle update is then a
/// few atomic operations (~2 ns for a counter). The series of
/// `#[record_execution_time]` and `#[record_memory_usage]` become
/// `EveryEvent` at their first call (the macros keep every call), unless a
/// policy was chosen for the series with
/// [`MetricSeries::set_sample_policy`] or `describe_metric`. `EveryEvent` adds a clock read
/// and a mutex-protected push (~40–100 ns) and 24 bytes of retained memory
/// per update, bounded by `max_samples_per_series`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplePolicy {
    /// Handle updates change the aggregate only.
    #[default]
    AggregateOnly,
    /// Handle updates are also kept as timestamped samples.
    EveryEvent,
}

/// Every sample and aggregate recorded under one metric name.
///
/// Obtained from [`MetricsCollector::get_metric_series`](crate::MetricsCollector::get_metric_series).
/// All methods are safe to call while other threads record.
#[derive(Debug)]
pub struct MetricSeries {
    /// The collector's map holds the series itself, keyed by this name, so
    /// the name is stored once, here.
    name: Box<str>,
    metric_type: MetricType,
    /// `MODE_ENABLED | MODE_EVERY_EVENT` bits, read by every handle update
    /// with a single load.
    mode: AtomicU8,
    /// The policy was chosen for this series (`describe_metric` with a
    /// policy, or `set_sample_policy`), so instrumentation keeps it. Apart
    /// from `mode`, so that the handles' one-compare fast path stays.
    policy_chosen: AtomicBool,
    settings: Arc<Settings>,
    pub(super) index: RwLock<TagIndex>,
    /// The retained samples, allocated by the first sample kept: most
    /// series are updated through handles or by name and keep none.
    /// `OnceBox` rather than `OnceLock<Box<_>>`: 8 bytes instead of 16.
    samples: OnceBox<SampleStore>,
    rejected_values: AtomicU64,
    /// What few series use (help text, unit, exemplars, expiry state,
    /// overflow and saturation counts), allocated by the first of them.
    pub(super) extras: OnceBox<SeriesExtras>,
}

/// The rarely used parts of a series, behind one pointer.
#[derive(Debug, Default)]
pub(super) struct SeriesExtras {
    /// Bucket bounds given by `describe_metric`, fixed at creation; a
    /// series without them has the defaults of its type (most series), so
    /// that the bounds cost the series no 16-byte field.
    buckets: Option<Arc<[f64]>>,
    description: RwLock<Option<String>>,
    unit: RwLock<Option<String>>,
    /// What the idle sweep saw of each tag set (see `expiry.rs`).
    pub(super) activity: Mutex<Vec<expiry::Activity>>,
    /// Exemplars by tag set and bucket, allocated by the first one.
    pub(super) exemplars: exemplars::ExemplarSlots,
    overflow_updates: AtomicU64,
    overflow_reporter: OverflowReporter,
    saturated_updates: AtomicU64,
}

/// The default bucket bounds, shared by every histogram cell that uses them.
static DEFAULT_BUCKET_LIST: OnceLock<Arc<[f64]>> = OnceLock::new();

/// Recording is enabled (mirrors the collector's flag).
pub(crate) const MODE_ENABLED: u8 = 1;
/// Handle updates keep samples ([`SamplePolicy::EveryEvent`]).
pub(crate) const MODE_EVERY_EVENT: u8 = 2;

/// How many entries ahead an exposition's scan asks for a tag set's block:
/// about the memory latency divided by the time to write one line.
const PREFETCH_AHEAD: usize = 8;

impl MetricSeries {
    pub(crate) fn new(
        name: &str,
        metric_type: MetricType,
        settings: Arc<Settings>,
        buckets: Option<Arc<[f64]>>,
        policy: SamplePolicy,
    ) -> Self {
        let series = MetricSeries {
            name: Box::from(name),
            metric_type,
            settings,
            mode: AtomicU8::new(0),
            policy_chosen: AtomicBool::new(false),
            index: RwLock::new(TagIndex::default()),
            samples: OnceBox::new(),
            rejected_values: AtomicU64::new(0),
            extras: OnceBox::new(),
        };
        if buckets.is_some() {
            // Not shared yet: the extras cannot have been set.
            let _ = series.extras.set(Box::new(SeriesExtras {
                buckets,
                ..SeriesExtras::default()
            }));
        }
        series.apply_sample_policy(policy);
        series.sync_enabled();
        series
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The series type, fixed when the series was created.
    pub fn metric_type(&self) -> MetricType {
        self.metric_type
    }

    /// Histogram bucket bounds (empty for counters and gauges).
    pub fn buckets(&self) -> &[f64] {
        match self.extras.get().and_then(|e| e.buckets.as_deref()) {
            Some(custom) => custom,
            None if self.metric_type.is_distribution() => &DEFAULT_BUCKETS,
            None => &[],
        }
    }

    /// The bucket bounds a new histogram cell shares.
    fn bucket_list(&self) -> Arc<[f64]> {
        match self.extras.get().and_then(|e| e.buckets.as_ref()) {
            Some(custom) => Arc::clone(custom),
            // Allocated once per process rather than once per series.
            None => Arc::clone(DEFAULT_BUCKET_LIST.get_or_init(|| Arc::from(&DEFAULT_BUCKETS[..]))),
        }
    }

    /// The help text registered for this series.
    pub fn description(&self) -> Option<String> {
        let extras = self.extras.get()?;
        extras
            .description
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_description(&self, text: Option<String>) {
        if text.is_none() && self.extras.get().is_none() {
            return;
        }
        *self
            .extras()
            .description
            .write()
            .unwrap_or_else(PoisonError::into_inner) = text;
    }

    /// The unit registered for this series (`seconds`, `bytes`, …), if any.
    pub fn unit(&self) -> Option<String> {
        let extras = self.extras.get()?;
        extras.unit.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn set_unit(&self, unit: Option<String>) {
        if unit.is_none() && self.extras.get().is_none() {
            return;
        }
        *self.extras().unit.write().unwrap_or_else(PoisonError::into_inner) = unit;
    }

    /// The rarely used parts, allocated on first use.
    #[cold]
    pub(super) fn extras(&self) -> &SeriesExtras {
        self.extras.get_or_init(Box::default)
    }

    /// Whether handle updates are kept as samples.
    pub fn sample_policy(&self) -> SamplePolicy {
        if self.mode() & MODE_EVERY_EVENT != 0 {
            SamplePolicy::EveryEvent
        } else {
            SamplePolicy::AggregateOnly
        }
    }

    /// Changes whether handle updates are kept as samples; takes effect for
    /// every handle of the series at once. A policy chosen here (or with
    /// [`describe_metric`](crate::MetricsCollector::describe_metric)) is
    /// kept by `#[record_execution_time]` and `#[record_memory_usage]`,
    /// which otherwise make their series keep every call.
    pub fn set_sample_policy(&self, policy: SamplePolicy) {
        self.policy_chosen.store(true, Relaxed);
        self.apply_sample_policy(policy);
    }

    /// Sets `policy` unless one was chosen for this series
    /// ([`set_sample_policy`](Self::set_sample_policy)): what the
    /// instrumentation macros ask for.
    pub(crate) fn adopt_sample_policy(&self, policy: SamplePolicy) {
        if !self.policy_chosen.load(Relaxed) {
            self.apply_sample_policy(policy);
        }
    }

    fn apply_sample_policy(&self, policy: SamplePolicy) {
        match policy {
            SamplePolicy::AggregateOnly => self.mode.fetch_and(!MODE_EVERY_EVENT, Relaxed),
            SamplePolicy::EveryEvent => self.mode.fetch_or(MODE_EVERY_EVENT, Relaxed),
        };
    }

    /// Copies the collector's enabled flag into this series' mode.
    pub(crate) fn sync_enabled(&self) {
        if self.settings.enabled() {
            self.mode.fetch_or(MODE_ENABLED, SeqCst);
        } else {
            self.mode.fetch_and(!MODE_ENABLED, SeqCst);
        }
    }

    /// The mode bits: one load tells a handle whether to record and whether
    /// to keep a sample.
    #[inline]
    pub(crate) fn mode(&self) -> u8 {
        self.mode.load(Relaxed)
    }

    #[inline]
    pub(crate) fn keeps_handle_samples(&self) -> bool {
        self.mode() & MODE_EVERY_EVENT != 0
    }

    /// The collector's settings.
    #[inline]
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The counter of [`rejected_values`](Self::rejected_values), for a
    /// cell that counts its own refusals.
    #[inline]
    pub(crate) fn rejected_counter(&self) -> &AtomicU64 {
        &self.rejected_values
    }

    pub(crate) fn count_rejected(&self) {
        self.rejected_values.fetch_add(1, Relaxed);
    }

    #[cold]
    pub(crate) fn count_saturated(&self) {
        self.extras().saturated_updates.fetch_add(1, Relaxed);
    }

    #[cold]
    fn count_overflow(&self) {
        self.extras().overflow_updates.fetch_add(1, Relaxed);
    }

    fn new_aggregate(&self) -> Aggregate {
        match self.metric_type {
            MetricType::Counter => Aggregate::Counter(CounterCell::default()),
            MetricType::Gauge => Aggregate::Gauge(GaugeCell::default()),
            MetricType::Histogram | MetricType::Timer => {
                Aggregate::Histogram(Box::new(HistogramCell::new(self.bucket_list())))
            }
        }
    }

    /// Keeps `sample`; `stamped` when the recent clock gave its timestamp
    /// (which the ring may move past its newest, see
    /// [`SampleRing::push_stamped`](super::ring::SampleRing::push_stamped)).
    #[inline(always)]
    pub(super) fn push_sample(&self, sample: Sample, cutoff: i64, stamped: bool) {
        let max = self.settings.max_samples();
        let store = match self.samples.get() {
            Some(store) => store,
            None => self.first_sample_store(),
        };
        let ts = store.keep(sample, cutoff, max, stamped);
        // The hand-off to a durable store: one relaxed load when none is
        // attached (tested first, before anything of the sample is read).
        let sink = self.settings.sink();
        if sink.is_attached() && ts >= cutoff {
            sink.offer_attached(SeriesKey::of(self), sample.tags, ts, sample.value);
        }
    }

    /// The sample store, allocated by the first sample kept.
    #[cold]
    fn first_sample_store(&self) -> &SampleStore {
        self.samples.get_or_init(Box::default)
    }

    /// This series' key in what a [`SampleSink`](crate::SampleSink) receives.
    pub fn sink_key(&self) -> SeriesKey {
        SeriesKey::of(self)
    }

    /// Updates folded into the `overflow="true"` tag set.
    pub fn overflow_updates(&self) -> u64 {
        self.extras.get().map_or(0, |e| e.overflow_updates.load(Relaxed))
    }

    /// Handle updates ignored because their value was NaN or infinite, or
    /// would have made the aggregate non-finite.
    pub fn rejected_values(&self) -> u64 {
        self.rejected_values.load(Relaxed)
    }

    /// Counter increments that hit `u64::MAX`: the total stopped there
    /// instead of wrapping, and the excess was lost.
    pub fn saturated_updates(&self) -> u64 {
        self.extras.get().map_or(0, |e| e.saturated_updates.load(Relaxed))
    }

    /// Every tag set seen and not removed, in creation order.
    pub fn tag_sets(&self) -> Vec<TagSet> {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        let live = index.entries().iter().enumerate().filter(|(id, _)| index.is_live(*id));
        live.map(|(_, e)| e.tags().clone()).collect()
    }

    /// Every tag set by id, removed ones included: what retained samples refer to.
    fn all_tag_sets(&self) -> Vec<TagSet> {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        index.entries().iter().map(|e| e.tags().clone()).collect()
    }

    /// The cumulative aggregate of exactly `tags` (in any order), if that tag
    /// set was seen. Takes tags in the same forms as
    /// [`record_metric`](crate::MetricsCollector::record_metric). The
    /// `overflow="true"` set that absorbs tag sets past the cardinality cap
    /// is found too.
    ///
    /// ```
    /// use metrics_core::{AggregateValue, MetricsCollector, MetricType};
    /// let c = MetricsCollector::default();
    /// c.record_metric("jobs", 2.0, &[("status", "ok")], MetricType::Counter)?;
    /// c.record_metric("jobs", 1.0, &[], MetricType::Counter)?;
    /// let s = c.get_metric_series("jobs").unwrap();
    /// assert_eq!(s.aggregate(&[("status", "ok")]), Some(AggregateValue::Counter { total: 2.0 }));
    /// assert_eq!(s.aggregate(&[]), Some(AggregateValue::Counter { total: 1.0 }));
    /// assert_eq!(s.aggregate(&[("status", "failed")]), None);
    /// # Ok::<(), metrics_core::MetricsError>(())
    /// ```
    pub fn aggregate(&self, tags: impl Tags) -> Option<AggregateValue> {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        index
            .find(hash_tags(&tags), &tags)
            .or_else(|| {
                // The overflow set is kept out of the hash table (so records
                // cannot reach it), so look it up by hand.
                let id = index.overflow()?;
                index.entries().get(id as usize).filter(|e| e.tags().equals_tags(&tags))
            })
            .map(|e| e.aggregate().value())
    }

    /// Every tag set's cumulative aggregate, in the order the tag sets were
    /// first seen (the overflow set, if any, where the cap was reached);
    /// removed tag sets are left out.
    pub fn aggregates(&self) -> Vec<TagSetAggregate> {
        // Sized up front: growing by doubling would copy every element.
        let mut out = Vec::with_capacity(self.live_tag_sets());
        self.for_each_aggregate(|tags, value, exemplars| out.push(TagSetAggregate::of(tags, value, exemplars)));
        out
    }

    /// Calls `f` with what [`aggregates`](Self::aggregates) returns, one tag
    /// set at a time and without copying the tag sets: what an exposition
    /// written straight from the live series reads.
    pub(crate) fn for_each_aggregate(&self, mut f: impl FnMut(&TagSet, AggregateValue, Vec<BucketExemplar>)) {
        // Read under the read lock: records of known tag sets do not take
        // it for writing.
        let mut exemplars = self.extras.get().map(|e| e.exemplars.all()).unwrap_or_default();
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        if exemplars.is_empty() && !index.any_removed() {
            // The common case, in a loop of its own: every entry, no lookups.
            for e in index.entries() {
                f(e.tags(), e.aggregate().value(), Vec::new());
            }
            return;
        }
        let any_removed = index.any_removed();
        for (id, e) in index.entries().iter().enumerate() {
            if any_removed && !index.is_live(id) {
                continue;
            }
            // Most series have no exemplars: skip hashing the id then.
            let own = if exemplars.is_empty() {
                Vec::new()
            } else {
                exemplars.remove(&e.id()).unwrap_or_default()
            };
            f(e.tags(), e.aggregate().value(), own);
        }
    }

    /// [`for_each_aggregate`](Self::for_each_aggregate) for the common case
    /// of an exposition, a counter or gauge series without exemplars or
    /// removed tag sets: `f` gets each tag set's value, and no
    /// [`AggregateValue`] is built. False, having called nothing, for any
    /// other series.
    pub(crate) fn for_each_scalar(&self, mut f: impl FnMut(&TagSet, f64)) -> bool {
        if !matches!(self.metric_type(), MetricType::Counter | MetricType::Gauge)
            || self.extras.get().is_some_and(|e| e.exemplars.any())
        {
            return false;
        }
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        if index.any_removed() {
            return false;
        }
        let entries = index.entries();
        for (i, e) in entries.iter().enumerate() {
            // Entries are separate blocks, scattered over the heap in a
            // collector that grew beside others: load them ahead.
            if let Some(ahead) = entries.get(i + PREFETCH_AHEAD) {
                ahead.prefetch();
            }
            if let Some(v) = e.aggregate().scalar() {
                f(e.tags(), v);
            }
        }
        true
    }

    /// Live tag sets (removed ones left out).
    pub(crate) fn live_tag_sets(&self) -> usize {
        self.index.read().unwrap_or_else(PoisonError::into_inner).live_count()
    }

    /// A serializable copy; samples included when `with_samples`.
    pub fn snapshot(&self, with_samples: bool) -> SeriesSnapshot {
        let samples = if with_samples { self.values() } else { Vec::new() };
        self.snapshot_of(samples, self.aggregates())
    }

    /// [`snapshot`](Self::snapshot) without samples and with at most one
    /// aggregate (a histogram's first, which carries the bucket bounds):
    /// what an exposition needs of a series before it reads the aggregates
    /// one at a time ([`for_each_aggregate`](Self::for_each_aggregate)).
    pub(crate) fn shape_snapshot(&self) -> SeriesSnapshot {
        let mut first = Vec::new();
        if self.metric_type.is_distribution() {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            let live = index.entries().iter().enumerate().find(|&(id, _)| index.is_live(id));
            first.extend(live.map(|(_, e)| TagSetAggregate::of(e.tags(), e.aggregate().value(), Vec::new())));
        }
        self.snapshot_of(Vec::new(), first)
    }

    fn snapshot_of(&self, samples: Vec<MetricValue>, aggregates: Vec<TagSetAggregate>) -> SeriesSnapshot {
        let (dropped, expired) = {
            let ring = self.samples();
            (ring.dropped(), ring.expired())
        };
        SeriesSnapshot {
            name: self.name.to_string(),
            metric_type: self.metric_type,
            description: self.description(),
            unit: self.unit(),
            samples,
            aggregates,
            dropped_samples: dropped,
            expired_samples: expired,
            overflow_updates: self.overflow_updates(),
            rejected_values: self.rejected_values(),
            saturated_updates: self.saturated_updates(),
        }
    }

    /// Approximate heap bytes held by the series (samples, tag sets, aggregates).
    pub fn heap_bytes(&self) -> usize {
        let ring = self
            .samples
            .get()
            .map_or(0, |store| size_of::<SampleStore>() + store.heap_bytes());
        let extras = self.extras.get().map_or(0, |_| size_of::<SeriesExtras>());
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        let entries: usize = index.entries().iter().map(TagEntry::heap_bytes).sum();
        ring + extras + entries + index.heap_bytes()
    }
}
#[cfg(test)]
mod lazy_parts {
    use crate::{MetricType, MetricsCollector, MetricsConfig};

    #[test]
    fn a_series_allocates_samples_and_extras_only_when_it_uses_them() {
        let c = MetricsCollector::new(MetricsConfig::default());
        c.increment_counter("jobs", &[("queue", "a")], 1).unwrap();
        let s = c.get_metric_series("jobs").unwrap();
        let _ = c.snapshot();
        assert!(s.values().is_empty() && s.description().is_none() && s.overflow_updates() == 0);
        assert!(s.samples.get().is_none(), "reads allocate no sample store");
        assert!(s.extras.get().is_none(), "reads allocate no extras");

        c.record_metric("jobs", 1.0, &[("queue", "a")], MetricType::Counter)
            .unwrap();
        assert!(s.samples.get().is_some());
        assert_eq!(s.values().len(), 1);
        assert!(s.extras.get().is_none(), "a sample needs no extras");
        c.describe_metric(
            "jobs",
            MetricType::Counter,
            crate::MetricOptions {
                description: Some("jobs done".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.description().as_deref(), Some("jobs done"));
        assert!(s.extras.get().is_some());
    }
}
