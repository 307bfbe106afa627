//! Typed label sets: a family is one metric name whose tag sets are the
//! values of a `#[derive(LabelSet)]` struct.
//! The derives come with the default `macros` feature.
//!
#![cfg_attr(feature = "macros", doc = "```")]
#![cfg_attr(not(feature = "macros"), doc = "```ignore")]
//! use metrics_core::{LabelSet, LabelValue, MetricsCollector, AggregateValue};
//!
//! #[derive(LabelValue)]
//! enum Method {
//!     #[label(name = "GET")]
//!     Get,
//!     #[label(name = "POST")]
//!     Post,
//! }
//!
//! #[derive(LabelSet)]
//! struct RouteLabels<'a> {
//!     method: Method,
//!     route: &'a str,
//! }
//!
//! let collector = MetricsCollector::default();
//! let f = collector.counter_family::<RouteLabels>("http_requests")?;
//! f.get(&RouteLabels { method: Method::Get, route: "/" })?.increment(1);
//! f.increment(&RouteLabels { method: Method::Post, route: "/jobs" }, 2)?;
//!
//! // The same series as string tags name.
//! collector.increment_counter("http_requests", &[("method", "GET"), ("route", "/")], 1)?;
//! let s = collector.get_metric_series("http_requests").unwrap();
//! assert_eq!(s.aggregate(&[("route", "/"), ("method", "GET")]), Some(AggregateValue::Counter { total: 2.0 }));
//! # Ok::<(), metrics_core::MetricsError>(())
//! ```
//!
//! A label set whose fields all have a fixed cardinality (enums, `bool`,
//! `u8`, `i8`) with at most [`MAX_DENSE`] combinations maps to a dense index:
//! an update computes the index, loads the pre-resolved handle (created on
//! first use) and updates it — no hashing, no string comparison. Other label
//! sets hash their fields (an enum by its index, a string by its bytes) and
//! look the handle up in a table read without any lock (see
//! `family/table.rs`): no shared write, so threads updating one family do
//! not slow each other down. A label set enters that table at its second
//! update: the first one, which creates its tag set, resolves through the
//! store, so a label set recorded once (a unique value) costs no slot.
//!
//! A string field can be interned instead: an [`Interned`] field is
//! interned once per value, then keyed by its integer id, so the table
//! hashes and compares 4 bytes instead of the text. A `&str` field is
//! hashed by its bytes, which is as fast as turning it into an id would
//! be; intern the values a program knows up front.
//!
//! The family holds its series like a handle does: after
//! `remove_series`/`clear_all` it keeps updating the removed series;
//! create the family again.

mod interned;
mod labels;
mod table;

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::collector::MetricsCollector;
use crate::error::{RecordError, Result};
use crate::handles::{Counter, Gauge, Histogram, Timer};
use crate::kind::MetricType;
use crate::store::series::{MetricSeries, Resolved};
use crate::tags::entry::TagEntry;

pub use interned::{InternError, Interned, MAX_INTERNED};
pub use labels::{LabelPart, LabelSet, LabelValue, MAX_LABELS, PartVisitor, dense_product};
use table::{HandleTable, parts_hash};

/// Bytes of a new label set's value texts copied on the stack: most fit.
const RESOLVE_TEXT: usize = 512;

/// The most label sets a dense family pre-allocates slots for; a fully
/// fixed label set with more combinations uses the integer-keyed table.
pub const MAX_DENSE: usize = 4096;

/// The handles a family can hand out: [`Counter`], [`Gauge`],
/// [`Histogram`], [`Timer`].
pub trait FamilyHandle: Clone + sealed::Sealed {
    /// The metric type of this handle.
    const TYPE: MetricType;
}

mod sealed {
    /// Only the crate's handles are family handles.
    pub trait Sealed {}
}

macro_rules! family_handle {
    ($($h:ident => $ty:ident),*) => {$(
        impl FamilyHandle for $h {
            const TYPE: MetricType = MetricType::$ty;
        }
        impl sealed::Sealed for $h {}
    )*};
}
family_handle!(Counter => Counter, Gauge => Gauge, Histogram => Histogram, Timer => Timer);

/// A metric whose tag sets are values of the label set `L`, handing out
/// handles of type `H` ([`Counter`], [`Gauge`], [`Histogram`], [`Timer`]).
pub struct Family<L: LabelSet, H: FamilyHandle> {
    series: Arc<MetricSeries>,
    /// One slot per dense index (empty unless `L` is fully fixed).
    dense: Box<[OnceLock<H>]>,
    /// Handles of label sets with open fields (or too many combinations).
    sparse: HandleTable<H>,
    make: fn(Arc<MetricSeries>, TagEntry) -> H,
    labels: PhantomData<fn(&L)>,
}

/// A family of counters.
pub type CounterFamily<L> = Family<L, Counter>;
/// A family of gauges.
pub type GaugeFamily<L> = Family<L, Gauge>;
/// A family of histograms.
pub type HistogramFamily<L> = Family<L, Histogram>;
/// A family of timers.
pub type TimerFamily<L> = Family<L, Timer>;

impl<L: LabelSet, H: FamilyHandle> std::fmt::Debug for Family<L, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.series.name())
            .field("labels", &L::NAMES)
            .field("dense", &self.dense.len())
            .field("sparse", &self.sparse.len())
            .finish_non_exhaustive()
    }
}

impl<L: LabelSet, H: FamilyHandle> Family<L, H> {
    fn new(series: Arc<MetricSeries>, make: fn(Arc<MetricSeries>, TagEntry) -> H) -> Self {
        let dense_len = match L::DENSE_SIZE {
            Some(n) if n <= MAX_DENSE => n,
            _ => 0,
        };
        Family {
            series,
            dense: (0..dense_len).map(|_| OnceLock::new()).collect(),
            sparse: HandleTable::default(),
            make,
            labels: PhantomData,
        }
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        self.series.name()
    }

    /// The series this family updates.
    pub fn series(&self) -> &Arc<MetricSeries> {
        &self.series
    }

    /// The handle of `labels`, creating its tag set on first use. Keep it
    /// for the hottest paths; [`increment`](Family::increment) and the other
    /// per-call updates avoid the clone.
    ///
    /// # Errors
    /// A label value the store rejects (empty text, too long, control
    /// characters), naming it.
    pub fn get(&self, labels: &L) -> Result<H> {
        Ok(self.with(labels, H::clone)?)
    }

    /// Runs `f` on the handle of `labels`.
    ///
    /// # Errors
    /// As [`get`](Family::get).
    #[inline]
    pub fn with<R>(&self, labels: &L, f: impl FnOnce(&H) -> R) -> Result<R, RecordError> {
        if !self.dense.is_empty() {
            if let Some(slot) = self.dense.get(labels.dense_index()) {
                if let Some(h) = slot.get() {
                    return Ok(f(h));
                }
                return self.create(labels, Some(slot), f);
            }
            return self.create(labels, None, f);
        }
        let hash = parts_hash(labels);
        if let Some(h) = self.sparse.get(hash, labels) {
            return Ok(f(h));
        }
        self.create_sparse(labels, hash, f)
    }

    /// Resolves `labels` through the store; caches the handle in `slot`
    /// unless it was routed to the overflow set (each overflowing update
    /// must reach the store's cap check to be counted).
    #[cold]
    fn create<R>(&self, labels: &L, slot: Option<&OnceLock<H>>, f: impl FnOnce(&H) -> R) -> Result<R, RecordError> {
        let (handle, resolved) = self.resolve(labels)?;
        match slot {
            Some(slot) if resolved != Resolved::Overflow => Ok(f(slot.get_or_init(|| handle))),
            _ => Ok(f(&handle)),
        }
    }

    /// `create` for the table of open label sets. A label set enters the
    /// table at its second update, not at the one that created its tag set:
    /// most of those are recorded once (a unique label), and a slot would
    /// cost them an allocation and a copy of the key — as the lookup cache
    /// of string tags does. The table holds at most the series'
    /// `max_tag_sets_per_series` label sets: past that (tag sets removed
    /// and created again) updates resolve through the store.
    #[cold]
    fn create_sparse<R>(&self, labels: &L, hash: u64, f: impl FnOnce(&H) -> R) -> Result<R, RecordError> {
        let (handle, resolved) = self.resolve(labels)?;
        if resolved != Resolved::Existing {
            return Ok(f(&handle));
        }
        let cap = self.series.settings().max_tag_sets();
        match self.sparse.insert(hash, labels, handle, cap) {
            Ok(stored) => Ok(f(stored)),
            Err(handle) => Ok(f(&handle)),
        }
    }

    /// The handle of `labels` from the store, and how its tag set was found
    /// (created now, existing, or the overflow set).
    ///
    /// A value's text may live only for the call that gives it (an
    /// integer's digits), so the texts are copied, all into one buffer on
    /// the stack when they fit (else on the heap); the pairs pointing into
    /// it sit on the stack too. A new label set allocates nothing here,
    /// where a `String` per value and two vectors cost five allocations.
    fn resolve(&self, labels: &L) -> Result<(H, Resolved), RecordError> {
        let mut on_stack = [0u8; RESOLVE_TEXT];
        let mut on_heap = Vec::new();
        let mut used = 0;
        // (name, start, end) of each value's text.
        let mut spans = [("", 0, 0); MAX_LABELS];
        let mut more = Vec::new();
        let mut n = 0;
        labels.for_each_label(&mut |k, v| {
            let v = v.as_bytes();
            if on_heap.is_empty() && used + v.len() > RESOLVE_TEXT {
                on_heap.extend_from_slice(&on_stack[..used]);
            }
            if on_heap.is_empty() {
                on_stack[used..used + v.len()].copy_from_slice(v);
            } else {
                on_heap.extend_from_slice(v);
            }
            let span = (k, used, used + v.len());
            used += v.len();
            match spans.get_mut(n) {
                Some(slot) => *slot = span,
                // Only a hand-written `LabelSet` has more fields.
                None => more.push(span),
            }
            n += 1;
        });
        let text: &[u8] = if on_heap.is_empty() {
            &on_stack[..used]
        } else {
            &on_heap
        };
        let piece = |&(k, start, end): &(&'static str, usize, usize)| {
            let bytes = text.get(start..end).unwrap_or_default();
            // SAFETY: `start..end` is exactly where one `&str`'s bytes were
            // copied, whole: valid UTF-8. (Checking it again cost as much
            // as the rest of this function.)
            (k, unsafe { std::str::from_utf8_unchecked(bytes) })
        };
        let mut pairs_on_stack = [("", ""); MAX_LABELS];
        let pairs: Vec<(&str, &str)>;
        let tags: &[(&str, &str)] = if more.is_empty() {
            let n = n.min(MAX_LABELS);
            for (pair, span) in pairs_on_stack.iter_mut().zip(&spans[..n]) {
                *pair = piece(span);
            }
            &pairs_on_stack[..n]
        } else {
            pairs = spans.iter().chain(&more).map(piece).collect();
            &pairs
        };
        let (entry, resolved) = self.series.with_entry_resolved(&tags, TagEntry::clone)?;
        Ok(((self.make)(Arc::clone(&self.series), entry), resolved))
    }
}

impl<L: LabelSet> Family<L, Counter> {
    /// Adds `n` to the counter of `labels`.
    ///
    /// # Errors
    /// As [`get`](Family::get).
    #[inline]
    pub fn increment(&self, labels: &L, n: u64) -> Result<(), RecordError> {
        self.with(labels, |h| h.increment(n))
    }
}

impl<L: LabelSet> Family<L, Gauge> {
    /// Sets the gauge of `labels`.
    ///
    /// # Errors
    /// As [`get`](Family::get).
    #[inline]
    pub fn set(&self, labels: &L, v: f64) -> Result<(), RecordError> {
        self.with(labels, |h| h.set(v))
    }

    /// Adds `v` to the gauge of `labels`.
    ///
    /// # Errors
    /// As [`get`](Family::get).
    #[inline]
    pub fn increment(&self, labels: &L, v: f64) -> Result<(), RecordError> {
        self.with(labels, |h| h.increment(v))
    }

    /// Subtracts `v` from the gauge of `labels`.
    ///
    /// # Errors
    /// As [`get`](Family::get).
    #[inline]
    pub fn decrement(&self, labels: &L, v: f64) -> Result<(), RecordError> {
        self.with(labels, |h| h.decrement(v))
    }
}

impl<L: LabelSet> Family<L, Histogram> {
    /// Records one observation in the histogram of `labels`.
    ///
    /// # Errors
    /// As [`get`](Family::get).
    #[inline]
    pub fn record(&self, labels: &L, v: f64) -> Result<(), RecordError> {
        self.with(labels, |h| h.record(v))
    }
}

impl<L: LabelSet> Family<L, Timer> {
    /// Records one duration in the timer of `labels`.
    ///
    /// # Errors
    /// As [`get`](Family::get).
    #[inline]
    pub fn record(&self, labels: &L, d: Duration) -> Result<(), RecordError> {
        self.with(labels, |h| h.record(d))
    }
}

impl MetricsCollector {
    fn family<L: LabelSet, H: FamilyHandle>(
        &self,
        name: &str,
        buckets: Option<&crate::Buckets>,
        make: fn(Arc<MetricSeries>, TagEntry) -> H,
    ) -> Result<Family<L, H>> {
        let options = crate::MetricOptions {
            buckets: buckets.map(|b| b.bounds().to_vec()),
            ..crate::MetricOptions::default()
        };
        let series = self.describe_metric(name, H::TYPE, options)?;
        Ok(Family::new(series, make))
    }

    /// A family of counters named `name`, tagged by the fields of `L`.
    /// Create it once and keep it.
    ///
    /// # Errors
    /// An invalid name, or an existing series of another type.
    pub fn counter_family<L: LabelSet>(&self, name: &str) -> Result<CounterFamily<L>> {
        self.family(name, None, Counter::new)
    }

    /// A family of gauges named `name`.
    ///
    /// # Errors
    /// As [`counter_family`](Self::counter_family).
    pub fn gauge_family<L: LabelSet>(&self, name: &str) -> Result<GaugeFamily<L>> {
        self.family(name, None, Gauge::new)
    }

    /// A family of histograms named `name`, with the series' buckets (the
    /// defaults unless described otherwise); see
    /// [`histogram_family_with_buckets`](Self::histogram_family_with_buckets).
    ///
    /// # Errors
    /// As [`counter_family`](Self::counter_family).
    pub fn histogram_family<L: LabelSet>(&self, name: &str) -> Result<HistogramFamily<L>> {
        self.family(name, None, Histogram::new)
    }

    /// A family of histograms named `name` with `buckets`.
    ///
    /// # Errors
    /// As [`counter_family`](Self::counter_family), or an existing series
    /// with other buckets.
    pub fn histogram_family_with_buckets<L: LabelSet>(
        &self,
        name: &str,
        buckets: &crate::Buckets,
    ) -> Result<HistogramFamily<L>> {
        self.family(name, Some(buckets), Histogram::new)
    }

    /// A family of timers named `name` (durations in seconds).
    ///
    /// # Errors
    /// As [`counter_family`](Self::counter_family).
    pub fn timer_family<L: LabelSet>(&self, name: &str) -> Result<TimerFamily<L>> {
        self.family(name, None, Timer::new)
    }

    /// A family of timers named `name` with `buckets` (in seconds).
    ///
    /// # Errors
    /// As [`histogram_family_with_buckets`](Self::histogram_family_with_buckets).
    pub fn timer_family_with_buckets<L: LabelSet>(
        &self,
        name: &str,
        buckets: &crate::Buckets,
    ) -> Result<TimerFamily<L>> {
        self.family(name, Some(buckets), Timer::new)
    }
}
