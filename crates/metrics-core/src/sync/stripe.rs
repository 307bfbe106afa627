//! Striping: which per-thread slot (counter cell, histogram shard, sample
//! buffer) this thread uses, and how many slots a striped value has.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// An atomic padded to its own cache line (two lines: adjacent-line prefetch).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded(pub(crate) AtomicU64);

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
