//! `HistogramCell`: count, sum, extremes, bucket counts and a quantile
//! sketch under one spin lock, spread over per-thread shards once contended.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use super::Applied;
use super::sketch::QuantileSketch;
use super::value::{Bucket, HistogramSnapshot, Quantiles};
use crate::sync::spin::SpinLock;
use crate::sync::stripe::{cell_count, probe, rehash_probe};

/// Prometheus' default histogram buckets, in seconds for timers: what a
/// histogram or timer counts in unless given bounds of its own.
pub const DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Clone)]
pub(super) struct HistogramState {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    /// Non-cumulative; the last slot counts values above every bound.
    buckets: Vec<u64>,
    sketch: QuantileSketch,
}

impl HistogramState {
    fn new(bounds: usize) -> Self {
        HistogramState {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            buckets: vec![0; bounds + 1],
            sketch: QuantileSketch::default(),
        }
    }

    /// A shard's state: its bucket counts are followed by two cache lines of
    /// spare capacity, so that the counts of shards allocated one after
    /// another (by one thread, in one `get_or_init`) never share a line.
    fn new_shard(bounds: usize) -> Self {
        let mut state = Self::new(bounds);
        state.buckets.reserve_exact(128 / size_of::<u64>());
        state
    }

    /// Records `v`; false (and nothing changed) when the sum would overflow
    /// to infinity.
    #[inline]
    fn observe(&mut self, v: f64, slot: usize) -> bool {
        let sum = self.sum + v;
        if !sum.is_finite() {
            return false;
        }
        self.observe_finite(v, sum, slot);
        true
    }

    /// `observe` once the new sum is known to be finite (and so, with the
    /// old sum finite, `v` too).
    #[inline]
    fn observe_finite(&mut self, v: f64, sum: f64, slot: usize) {
        self.count += 1;
        self.sum = sum;
        if v < self.min {
            self.min = v;
        }
        if v > self.max {
            self.max = v;
        }
        if let Some(b) = self.buckets.get_mut(slot) {
            *b += 1;
        }
        self.sketch.add_finite(v);
    }

    fn merge(&mut self, other: &HistogramState) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.buckets
            .iter_mut()
            .zip(other.buckets.iter())
            .for_each(|(a, b)| *a += b);
        self.sketch.merge(&other.sketch);
    }
}

#[cold]
#[inline(never)]
fn count_rejected(rejected: &AtomicU64) {
    rejected.fetch_add(1, Relaxed);
}

/// A histogram shard on its own cache lines.
#[derive(Debug)]
#[repr(align(128))]
pub(super) struct Shard(SpinLock<HistogramState>);

/// A distribution: bucket counts for exposition and a sketch for quantiles.
///
/// One lock-protected state while threads do not collide (an uncontended
/// [`SpinLock`] is one locked instruction). The first time an observation finds the
/// lock taken, the histogram spreads over per-thread-slot shards, as
/// counters do; a snapshot merges them. Each shard's count, sum, buckets and
/// sketch stay consistent with each other.
#[derive(Debug)]
pub(crate) struct HistogramCell {
    bounds: Arc<[f64]>,
    pub(super) state: SpinLock<HistogramState>,
    pub(super) shards: OnceLock<Box<[Shard]>>,
}

impl HistogramCell {
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        let n = bounds.len();
        HistogramCell {
            bounds,
            state: SpinLock::new(HistogramState::new(n)),
            shards: OnceLock::new(),
        }
    }

    /// Records `v`; false (nothing recorded) when the sum would overflow.
    /// Inlined into its two out-of-line callers (handles, `record_metric`).
    #[inline(always)]
    pub(crate) fn record(&self, v: f64) -> bool {
        // Bucket search outside the lock: `le` semantics (v ≤ bound).
        // Short bound lists (the usual 8–16): a branch-free count of the
        // bounds below `v`, which does not mispredict on varying values and
        // halves the cost of an observation. Long lists: binary search.
        let slot = if self.bounds.len() <= 32 {
            self.bounds.iter().fold(0usize, |n, &b| n + usize::from(b < v))
        } else {
            self.bounds.partition_point(|&b| b < v)
        };
        if let Some(shards) = self.shards.get() {
            return Self::record_sharded(shards, v, slot);
        }
        match self.state.try_lock() {
            Some(mut s) => s.observe(v, slot),
            None => self.record_contended(v, slot),
        }
    }

    /// A handle's observation of an admitted (finite) `v`: as
    /// [`record`](Self::record), counting a refused one in `rejected`.
    /// Out of line and returning nothing, so that a handle's call is a
    /// tail call.
    #[inline(never)]
    pub(crate) fn record_from_handle(&self, v: f64, rejected: &AtomicU64) {
        if !self.record(v) {
            count_rejected(rejected);
        }
    }

    /// [`record`](Self::record) for `record_metric` and the by-name calls,
    /// out of line (the aggregate dispatch that calls it is inlined).
    #[inline(never)]
    pub(crate) fn record_applied(&self, v: f64) -> Applied {
        if self.record(v) {
            Applied::Exact
        } else {
            Applied::Rejected
        }
    }

    #[inline]
    fn record_sharded(shards: &[Shard], v: f64, slot: usize) -> bool {
        let mask = shards.len() - 1;
        let shard = &shards[probe() & mask].0;
        match shard.try_lock() {
            Some(mut s) => s.observe(v, slot),
            None => shards[rehash_probe() & mask].0.lock().observe(v, slot),
        }
    }

    #[cold]
    fn record_contended(&self, v: f64, slot: usize) -> bool {
        let n = self.bounds.len();
        let shards = self.shards.get_or_init(|| {
            (0..cell_count())
                .map(|_| Shard(SpinLock::new(HistogramState::new_shard(n))))
                .collect()
        });
        Self::record_sharded(shards, v, slot)
    }

    /// The main state merged with every shard.
    fn merged(&self) -> HistogramState {
        let mut total = self.state.lock().clone();
        if let Some(shards) = self.shards.get() {
            for shard in shards.iter() {
                total.merge(&shard.0.lock());
            }
        }
        total
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let s = self.merged();
        let mut cumulative = 0u64;
        let buckets = self
            .bounds
            .iter()
            .zip(s.buckets.iter())
            .map(|(&le, &c)| {
                cumulative += c;
                Bucket { le, count: cumulative }
            })
            .collect();
        let q = |p: f64| s.sketch.quantile(p).map(|v| v.clamp(s.min, s.max)).unwrap_or(0.0);
        let empty = s.count == 0;
        HistogramSnapshot {
            count: s.count,
            // Each shard's sum is kept finite; their total can still pass
            // f64::MAX under contention, and saturates there (an export
            // never carries a non-finite number).
            sum: s.sum.clamp(-f64::MAX, f64::MAX),
            min: if empty { 0.0 } else { s.min },
            max: if empty { 0.0 } else { s.max },
            buckets,
            quantiles: Quantiles {
                p50: q(0.5),
                p90: q(0.9),
                p95: q(0.95),
                p99: q(0.99),
            },
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let one = |s: &HistogramState| s.buckets.capacity() * size_of::<u64>() + s.sketch.heap_bytes();
        let main = one(&self.state.lock());
        let shards = self.shards.get().map_or(0, |shards| {
            shards.iter().map(|sh| size_of::<Shard>() + one(&sh.0.lock())).sum()
        });
        main + shards
    }
}
