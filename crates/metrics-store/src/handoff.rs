//! `Handoff`: the bounded buffers between recording threads and the writer.
//!
//! Recording threads append to one of several shards (by a per-thread slot,
//! so two threads rarely share a lock); the writer swaps each shard's
//! buffer for an empty one once per drain. A shard that is full drops the
//! sample and counts it: recording never waits for the database.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

use metrics_core::{SampleSink, SeriesKey};

/// One sample on its way to the writer. `series` is the address of the
/// series it was kept by: the writer maps it back through the collector
/// (and holds the series, so the address cannot be reused meanwhile).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub(crate) series: SeriesKey,
    pub(crate) tag_set: u32,
    pub(crate) ts: i64,
    pub(crate) value: f64,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    buffer: Mutex<Vec<Pending>>,
    dropped: AtomicU64,
}

/// The shards, implementing [`SampleSink`].
#[derive(Debug)]
pub(crate) struct Handoff {
    shards: Box<[Shard]>,
    per_shard: usize,
    closed: AtomicBool,
}

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SLOT: usize = NEXT_SLOT.fetch_add(1, Relaxed);
}

impl Handoff {
    /// Room for `capacity` samples in all, spread over the shards.
    pub(crate) fn new(capacity: usize) -> Handoff {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let count = (threads * 2).next_power_of_two().clamp(2, 64);
        Handoff {
            shards: (0..count).map(|_| Shard::default()).collect(),
            per_shard: (capacity / count).max(1),
            closed: AtomicBool::new(false),
        }
    }

    /// Moves every buffered sample into `into`. Each shard gets back the
    /// buffer `spares` holds for it (emptied, its memory kept), so that
    /// in the steady state recording touches no fresh memory.
    pub(crate) fn drain(&self, spares: &mut Vec<Vec<Pending>>, into: &mut Vec<Pending>) {
        spares.resize_with(self.shards.len(), Vec::new);
        for (shard, spare) in self.shards.iter().zip(spares.iter_mut()) {
            {
                let mut buffer = shard.buffer.lock().unwrap_or_else(PoisonError::into_inner);
                if buffer.is_empty() {
                    continue;
                }
                std::mem::swap(&mut *buffer, spare);
            }
            into.extend_from_slice(spare);
            spare.clear();
        }
    }

    /// Samples buffered now (a moment's figure).
    pub(crate) fn pending(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.buffer.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Samples dropped so far because a shard was full or the store closed.
    pub(crate) fn dropped(&self) -> u64 {
        self.shards.iter().map(|s| s.dropped.load(Relaxed)).sum()
    }

    /// The room of one shard.
    pub(crate) fn per_shard(&self) -> usize {
        self.per_shard
    }

    /// From now on samples are dropped (counted): the writer has stopped.
    pub(crate) fn close(&self) {
        self.closed.store(true, Relaxed);
    }
}

impl SampleSink for Handoff {
    #[inline]
    fn accept(&self, series: SeriesKey, tag_set: u32, ts: i64, value: f64) {
        let slot = SLOT.try_with(|s| *s).unwrap_or(0);
        let shard = &self.shards[slot & (self.shards.len() - 1)];
        let mut buffer = shard.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        if buffer.len() >= self.per_shard || self.closed.load(Relaxed) {
            drop(buffer);
            shard.dropped.fetch_add(1, Relaxed);
            return;
        }
        buffer.push(Pending {
            series,
            tag_set,
            ts,
            value,
        });
    }
}
