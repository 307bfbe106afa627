//! `CounterCell`: a counter total that stays cheap under contention (Java's
//! `LongAdder`: one atomic until two threads collide, then padded cells).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed};

use super::Applied;
use crate::sync::stripe::{Padded, cell_count, probe, rehash_probe};

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

/// Why [`CounterCell::try_add_uncontended`] did not add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FastAddMiss {
    /// Its compare-and-swap failed: another thread updated the base at once.
    Collided,
    /// The counter has an extension, or the sum would saturate.
    Other,
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

    /// The uncontended `add` and nothing else: one load of the extension
    /// pointer, one of the base, one compare-and-swap. `Err` when it did
    /// not add (the counter has cells, the sum would pass `u64::MAX`, or
    /// another thread collided with it); then the caller finishes with
    /// [`add_slow`](Self::add_slow), out of line, so that the hot caller
    /// keeps no register across a call and needs no stack frame.
    #[inline(always)]
    pub(crate) fn try_add_uncontended(&self, n: u64) -> Result<(), FastAddMiss> {
        if !self.ext.load(Relaxed).is_null() {
            return Err(FastAddMiss::Other);
        }
        let cur = self.base.load(Relaxed);
        let Some(sum) = cur.checked_add(n) else {
            return Err(FastAddMiss::Other);
        };
        // Strong: a spurious failure would spread an uncontended counter.
        match self.base.compare_exchange(cur, sum, Relaxed, Relaxed) {
            Ok(_) => Ok(()),
            Err(_) => Err(FastAddMiss::Collided),
        }
    }

    /// Completes an `add` that [`try_add_uncontended`](Self::try_add_uncontended)
    /// did not make; false when the total saturated (as `add`).
    #[cold]
    #[inline(never)]
    pub(crate) fn add_slow(&self, n: u64, miss: FastAddMiss) -> bool {
        match miss {
            // The failed compare-and-swap was a collision: spread, as `add` does.
            FastAddMiss::Collided => self.add_contended(n),
            FastAddMiss::Other => self.add(n),
        }
    }

    #[inline]
    fn add_to_base(&self, n: u64) -> bool {
        let cur = self.base.load(Relaxed);
        let Some(sum) = cur.checked_add(n) else {
            return self.saturate_base(cur, n);
        };
        // Strong: a spurious failure would spread an uncontended counter.
        if self.base.compare_exchange(cur, sum, Relaxed, Relaxed).is_err() {
            return self.add_contended(n);
        }
        true
    }

    /// `add_to_base` when `cur + n` passes `u64::MAX`: the total stops there
    /// (false: saturated). Out of line, so the common add carries no select.
    #[cold]
    #[inline(never)]
    fn saturate_base(&self, cur: u64, n: u64) -> bool {
        if self.base.compare_exchange(cur, u64::MAX, Relaxed, Relaxed).is_err() {
            return self.add_contended(n);
        }
        false
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
    #[inline]
    pub(crate) fn add_f64(&self, v: f64) -> Applied {
        // Every integer in [0, 2^53) round-trips exactly. The range is
        // tested first (NaN fails it), so that the conversion is the one
        // signed instruction each way, without the saturating checks of `as`.
        if (0.0..9.007_199_254_740_992e15).contains(&v) {
            // SAFETY: `v` is finite and in [0, 2^53), so its integer part
            // is representable in an i64.
            let i: i64 = unsafe { v.to_int_unchecked() };
            if i as f64 == v {
                let n = i as u64;
                // The uncontended add inline; cells and saturation out of line.
                return match self.try_add_uncontended(n) {
                    Ok(()) => Applied::Exact,
                    Err(miss) if self.add_slow(n, miss) => Applied::Exact,
                    Err(_) => Applied::Saturated,
                };
            }
        }
        self.add_fraction(v)
    }

    /// `add_f64` of a value with a fractional part (or past 2^53).
    #[cold]
    #[inline(never)]
    fn add_fraction(&self, v: f64) -> Applied {
        if atomic_f64_add(&self.ext_or_init().fraction, v) {
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
        if self.ext.load(Relaxed).is_null() {
            // No cells and no fraction (most counters): the base alone.
            return self.base.load(Relaxed) as f64;
        }
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
pub(crate) fn atomic_f64_add(cell: &AtomicU64, v: f64) -> bool {
    cell.fetch_update(Relaxed, Relaxed, |bits| {
        let sum = f64::from_bits(bits) + v;
        sum.is_finite().then(|| sum.to_bits())
    })
    .is_ok()
}
