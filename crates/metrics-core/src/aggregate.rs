//! Cumulative aggregates kept per (series, tag set), untouched by sample
//! eviction: counter totals, gauge values, histogram distributions.
//!
//! * [`CounterCell`] is a `LongAdder`: one atomic until two threads collide
//!   on it, then one cache-line-padded cell per thread slot, summed on read.
//! * [`GaugeCell`] is an `f64` in an atomic.
//! * [`HistogramCell`] is a [`SpinLock`] around count/sum/min/max, bucket
//!   counts and a [`QuantileSketch`] — one locked instruction per
//!   observation while uncontended, and per-thread shards once threads
//!   collide.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use crate::sketch::QuantileSketch;
use crate::snapshot::{AggregateValue, Bucket, HistogramSnapshot, Quantiles};
use crate::spin::SpinLock;

/// An atomic padded to its own cache line (two lines: adjacent-line prefetch).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

thread_local! {
    /// This thread's preferred cell; moved when a cell update collides.
    static PROBE: Cell<usize> = const { Cell::new(usize::MAX) };
}

static NEXT_PROBE: AtomicUsize = AtomicUsize::new(0);

#[inline]
pub(crate) fn probe() -> usize {
    PROBE.with(|p| {
        let v = p.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_PROBE.fetch_add(1, Relaxed);
        p.set(v);
        v
    })
}

#[cold]
pub(crate) fn rehash_probe() -> usize {
    PROBE.with(|p| {
        // xorshift: move to another cell, as LongAdder does after a collision.
        let mut x = p.get().wrapping_add(0x9e37_79b9);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.set(x);
        x
    })
}

pub(crate) fn cell_count() -> usize {
    static CELLS: OnceLock<usize> = OnceLock::new();
    *CELLS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
        (cpus * 2).next_power_of_two().clamp(4, 64)
    })
}

/// What an update did to an aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Applied as given.
    Exact,
    /// A counter stopped at `u64::MAX`: part of the increment was lost.
    Saturated,
    /// Refused (it would have made the aggregate non-finite); nothing changed.
    Rejected,
}

/// A monotonically increasing total that stays cheap under contention.
///
/// Integral increments go to the adder; fractional ones (`record_metric` with
/// `0.5`) to a separate `f64`. The integer part saturates at `u64::MAX`: a
/// counter never goes backwards. Each cell saturates on its own, and the
/// total saturates when the cells are summed; an increment that hits the
/// maximum of the cell it lands in reports it (`add` returns false). An idle
/// or single-threaded counter is 16 bytes: the cells and the fraction live
/// in an extension allocated the first time either is needed, behind one
/// pointer that the uncontended path tests with a single load.
#[derive(Debug, Default)]
pub(crate) struct CounterCell {
    base: AtomicU64,
    /// Null until the first collision or fraction; then owned by this cell
    /// (freed in `Drop`) and never replaced.
    ext: AtomicPtr<CounterExt>,
}

#[derive(Debug, Default)]
struct CounterExt {
    cells: OnceLock<Box<[Padded]>>,
    fraction: AtomicU64,
}

impl CounterCell {
    /// While uncontended: one load and one compare-and-swap, whose failure
    /// is how a collision with another thread is noticed (as in
    /// `LongAdder`). A plain `fetch_add` cannot notice one; the price is
    /// the load of the current value before the locked instruction.
    ///
    /// Returns false when the total saturated at `u64::MAX` (part of `n` was
    /// lost).
    #[inline]
    pub(crate) fn add(&self, n: u64) -> bool {
        if !self.ext.load(Relaxed).is_null() {
            return self.add_extended(n);
        }
        self.add_to_base(n)
    }

    #[inline]
    fn add_to_base(&self, n: u64) -> bool {
        let cur = self.base.load(Relaxed);
        let (sum, over) = cur.overflowing_add(n);
        // Strong: a spurious failure would spread an uncontended counter.
        if self
            .base
            .compare_exchange(cur, if over { u64::MAX } else { sum }, Relaxed, Relaxed)
            .is_err()
        {
            return self.add_contended(n);
        }
        !over
    }

    /// `add` once the extension exists: into the cells if there are any.
    #[inline]
    fn add_extended(&self, n: u64) -> bool {
        match self.ext().and_then(|e| e.cells.get()) {
            Some(cells) => Self::add_to_cells(cells, n),
            None => self.add_to_base(n),
        }
    }

    #[inline]
    fn ext(&self) -> Option<&CounterExt> {
        let p = self.ext.load(Acquire);
        // SAFETY: a non-null `ext` was published by `ext_or_init` from a
        // `Box` (Release, paired with this Acquire) and is freed only in
        // `Drop`, which `&self` rules out.
        unsafe { p.as_ref() }
    }

    #[cold]
    fn ext_or_init(&self) -> &CounterExt {
        if let Some(ext) = self.ext() {
            return ext;
        }
        let fresh = Box::into_raw(Box::<CounterExt>::default());
        match self.ext.compare_exchange(std::ptr::null_mut(), fresh, AcqRel, Acquire) {
            // SAFETY: `fresh` is now published and lives until `Drop`.
            Ok(_) => unsafe { &*fresh },
            Err(winner) => {
                // SAFETY: `fresh` was never shared; `winner` was published
                // by another thread's successful exchange and lives until `Drop`.
                unsafe {
                    drop(Box::from_raw(fresh));
                    &*winner
                }
            }
        }
    }

    #[inline]
    fn add_to_cells(cells: &[Padded], n: u64) -> bool {
        let mask = cells.len() - 1;
        let cell = &cells[probe() & mask].0;
        let cur = cell.load(Relaxed);
        let (sum, over) = cur.overflowing_add(n);
        if cell
            .compare_exchange_weak(cur, if over { u64::MAX } else { sum }, Relaxed, Relaxed)
            .is_err()
        {
            let mut exact = true;
            let _ = cells[rehash_probe() & mask].0.fetch_update(Relaxed, Relaxed, |c| {
                let (sum, over) = c.overflowing_add(n);
                exact = !over;
                Some(if over { u64::MAX } else { sum })
            });
            return exact;
        }
        !over
    }

    #[cold]
    fn add_contended(&self, n: u64) -> bool {
        let cells = self
            .ext_or_init()
            .cells
            .get_or_init(|| (0..cell_count()).map(|_| Padded::default()).collect());
        Self::add_to_cells(cells, n)
    }

    /// Adds a finite, non-negative `f64`: rejected (nothing added) when the
    /// fractional part would overflow to infinity.
    pub(crate) fn add_f64(&self, v: f64) -> Applied {
        // `as` saturates, and every integer below 2^53 round-trips exactly.
        let n = v as u64;
        if n as f64 == v && v < 9.007_199_254_740_992e15 {
            if self.add(n) {
                Applied::Exact
            } else {
                Applied::Saturated
            }
        } else if atomic_f64_add(&self.ext_or_init().fraction, v) {
            Applied::Exact
        } else {
            Applied::Rejected
        }
    }

    /// The integer part of the total.
    pub(crate) fn total_u64(&self) -> u64 {
        let cells = self.ext().and_then(|e| e.cells.get()).map_or(0u64, |c| {
            c.iter().fold(0u64, |acc, p| acc.saturating_add(p.0.load(Relaxed)))
        });
        self.base.load(Relaxed).saturating_add(cells)
    }

    pub(crate) fn total(&self) -> f64 {
        let fraction = self.ext().map_or(0.0, |e| f64::from_bits(e.fraction.load(Relaxed)));
        self.total_u64() as f64 + fraction
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.ext().map_or(0, |e| {
            size_of::<CounterExt>() + e.cells.get().map_or(0, |c| size_of_val(&**c))
        })
    }
}

impl Drop for CounterCell {
    fn drop(&mut self) {
        let p = *self.ext.get_mut();
        if !p.is_null() {
            // SAFETY: a non-null `ext` came from `Box::into_raw` in
            // `ext_or_init` and is freed only here, once.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// Adds `v` unless the sum would not be finite; whether it was added.
fn atomic_f64_add(cell: &AtomicU64, v: f64) -> bool {
    cell.fetch_update(Relaxed, Relaxed, |bits| {
        let sum = f64::from_bits(bits) + v;
        sum.is_finite().then(|| sum.to_bits())
    })
    .is_ok()
}

/// The last value set, as `f64` bits.
#[derive(Debug, Default)]
pub(crate) struct GaugeCell(AtomicU64);

impl GaugeCell {
    #[inline]
    pub(crate) fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Relaxed);
    }
    /// Adds `v`; false (and the value unchanged) when the result would not
    /// be finite.
    #[inline]
    pub(crate) fn add(&self, v: f64) -> bool {
        atomic_f64_add(&self.0, v)
    }
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }
}

#[derive(Debug, Clone)]
struct HistogramState {
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
        self.sketch.add(v);
        true
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

/// A histogram shard on its own cache lines.
#[derive(Debug)]
#[repr(align(128))]
struct Shard(SpinLock<HistogramState>);

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
    state: SpinLock<HistogramState>,
    shards: OnceLock<Box<[Shard]>>,
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
    #[inline]
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

/// The aggregate of one (series, tag set).
#[derive(Debug)]
pub(crate) enum Aggregate {
    Counter(CounterCell),
    Gauge(GaugeCell),
    /// Boxed: a histogram is ~200 bytes, counters and gauges under 48.
    Histogram(Box<HistogramCell>),
}

impl Aggregate {
    /// Applies a validated `record_metric` value; false (and nothing
    /// changed) when it would make the aggregate non-finite.
    #[inline]
    pub(crate) fn apply(&self, value: f64) -> Applied {
        match self {
            Aggregate::Counter(c) => c.add_f64(value),
            Aggregate::Gauge(g) => {
                g.set(value);
                Applied::Exact
            }
            Aggregate::Histogram(h) if h.record(value) => Applied::Exact,
            Aggregate::Histogram(_) => Applied::Rejected,
        }
    }

    pub(crate) fn value(&self) -> AggregateValue {
        match self {
            Aggregate::Counter(c) => AggregateValue::Counter { total: c.total() },
            Aggregate::Gauge(g) => AggregateValue::Gauge { value: g.get() },
            Aggregate::Histogram(h) => AggregateValue::Histogram(h.snapshot()),
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Aggregate::Counter(c) => c.heap_bytes(),
            Aggregate::Gauge(_) => 0,
            Aggregate::Histogram(h) => h.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_is_exact_under_contention() {
        let c = Arc::new(CounterCell::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    for _ in 0..50_000 {
                        c.add(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.total_u64(), 200_000);
    }

    #[test]
    fn an_uncontended_counter_is_16_bytes() {
        assert_eq!(size_of::<CounterCell>(), 16);
        let c = CounterCell::default();
        c.add(5);
        assert_eq!(c.heap_bytes(), 0, "no extension until contention or a fraction");
        c.add_f64(0.25);
        assert!(c.heap_bytes() > 0);
        assert_eq!(c.total(), 5.25);
    }

    #[test]
    fn threads_taking_turns_keep_a_counter_small_and_exact() {
        let c = CounterCell::default();
        for round in 0..20u64 {
            // One thread at a time: no compare-and-swap fails, so no cells.
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    for _ in 0..1_000 {
                        c.add(round + 1);
                    }
                });
            });
            c.add(1);
        }
        assert_eq!(c.total_u64(), 1_000 * (1..=20).sum::<u64>() + 20);
        assert_eq!(c.heap_bytes(), 0, "turn-taking is not contention");
    }

    #[test]
    fn threads_colliding_on_a_counter_spread_it_over_cells() {
        // A collision needs both threads inside an add at once, which the
        // scheduler decides: run rounds until one happens (the first round
        // nearly always suffices), then check that nothing was lost.
        let c = CounterCell::default();
        let mut rounds = 0u64;
        while c.heap_bytes() == 0 && rounds < 500 {
            rounds += 1;
            let barrier = std::sync::Barrier::new(2);
            std::thread::scope(|scope| {
                for _ in 0..2 {
                    scope.spawn(|| {
                        barrier.wait();
                        for _ in 0..200_000 {
                            c.add(1);
                        }
                    });
                }
            });
        }
        assert!(
            c.heap_bytes() > 0,
            "two threads adding at once never grew cells in {rounds} rounds"
        );
        assert_eq!(c.total_u64(), rounds * 400_000);
    }

    #[test]
    fn counter_mixes_integral_and_fractional_increments() {
        let c = CounterCell::default();
        c.add_f64(2.0);
        c.add_f64(0.5);
        c.add(3);
        assert_eq!(c.total(), 5.5);
    }

    #[test]
    fn gauge_sets_and_adds() {
        let g = GaugeCell::default();
        g.set(3.0);
        g.add(-1.5);
        assert_eq!(g.get(), 1.5);
    }

    #[test]
    fn long_and_short_bound_lists_bucket_alike() {
        let bounds: Vec<f64> = (1..=40).map(f64::from).collect();
        let long = HistogramCell::new(Arc::from(bounds.as_slice()));
        let short = HistogramCell::new(Arc::from(&bounds[..20]));
        for v in [0.5, 1.0, 1.5, 7.0, 19.999, 20.0, 20.5, 39.0, 40.0, 41.0] {
            long.record(v);
            short.record(v);
        }
        let counts = |h: &HistogramCell| h.snapshot().buckets.iter().map(|b| b.count).collect::<Vec<u64>>();
        let long = counts(&long);
        let short = counts(&short);
        assert_eq!(
            &long[..20],
            &short[..],
            "the first 20 bounds count the same observations"
        );
        assert_eq!(long[0], 2, "le=1 holds 0.5 and 1.0");
        assert_eq!(long[19], 6, "le=20 holds everything up to 20.0");
        assert_eq!(long[39], 9, "le=40 holds all but 41");
    }

    #[test]
    fn a_contended_histogram_spreads_over_shards_and_loses_nothing() {
        let h = Arc::new(HistogramCell::new(Arc::from([0.5, 1.0])));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let h = Arc::clone(&h);
                std::thread::spawn(move || {
                    for i in 0..20_000u32 {
                        h.record(if (i + t) % 2 == 0 { 0.25 } else { 2.0 });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = h.snapshot();
        assert_eq!(s.count, 80_000);
        assert_eq!(s.sum, 40_000.0 * 0.25 + 40_000.0 * 2.0);
        assert_eq!((s.min, s.max), (0.25, 2.0));
        let counts: Vec<u64> = s.buckets.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![40_000, 40_000]);
        assert!(s.quantiles.p50 <= 0.26, "{:?}", s.quantiles);
    }

    #[test]
    fn an_observation_that_finds_the_lock_taken_moves_to_the_shards() {
        let h = HistogramCell::new(Arc::from([1.0]));
        h.record(0.5);
        {
            let _held = h.state.lock();
            std::thread::scope(|s| {
                s.spawn(|| h.record(3.0));
            });
        }
        assert!(h.shards.get().is_some(), "the collision inflated the shards");
        h.record(0.75);
        let s = h.snapshot();
        assert_eq!((s.count, s.sum, s.min, s.max), (3, 4.25, 0.5, 3.0));
        assert_eq!(s.buckets[0].count, 2);
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_le() {
        let h = HistogramCell::new(Arc::from([1.0, 2.0, 5.0]));
        for v in [0.5, 1.0, 1.5, 2.0, 3.0, 10.0] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 6);
        assert_eq!(s.sum, 18.0);
        assert_eq!((s.min, s.max), (0.5, 10.0));
        let counts: Vec<u64> = s.buckets.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![2, 4, 5]);
    }
}
