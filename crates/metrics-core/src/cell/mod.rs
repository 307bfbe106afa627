//! Cells: the cumulative aggregate of one (series, tag set), untouched by
//! sample eviction: counter totals, gauge values, histogram distributions.
//!
//! * [`CounterCell`] is a `LongAdder`: one atomic until two threads collide
//!   on it, then one cache-line-padded cell per thread slot, summed on read.
//! * [`GaugeCell`] is an `f64` in an atomic.
//! * [`HistogramCell`] is a spin lock around count/sum/min/max, bucket
//!   counts and a quantile sketch — one locked instruction per
//!   observation while uncontended, and per-thread shards once threads
//!   collide.

pub(crate) mod counter;
pub(crate) mod gauge;
pub(crate) mod histogram;
pub mod sketch;
pub(crate) mod value;

pub(crate) use counter::CounterCell;
pub(crate) use gauge::GaugeCell;
pub(crate) use histogram::HistogramCell;
use value::AggregateValue;

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
    ///
    /// Inlined: the dispatch is a compare or two in the caller, and each
    /// cell's update a call (a histogram's is out of line).
    #[inline(always)]
    pub(crate) fn apply(&self, value: f64) -> Applied {
        match self {
            Aggregate::Counter(c) => c.add_f64(value),
            Aggregate::Gauge(g) => {
                g.set(value);
                Applied::Exact
            }
            Aggregate::Histogram(h) => h.record_applied(value),
        }
    }

    pub(crate) fn value(&self) -> AggregateValue {
        match self {
            Aggregate::Counter(c) => AggregateValue::Counter { total: c.total() },
            Aggregate::Gauge(g) => AggregateValue::Gauge { value: g.get() },
            Aggregate::Histogram(h) => AggregateValue::Histogram(h.snapshot()),
        }
    }

    /// A counter's total or a gauge's value; `None` for a distribution.
    #[inline]
    pub(crate) fn scalar(&self) -> Option<f64> {
        match self {
            Aggregate::Counter(c) => Some(c.total()),
            Aggregate::Gauge(g) => Some(g.get()),
            Aggregate::Histogram(_) => None,
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
    use std::sync::Arc;

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
