//! `ResolvedCache`: a per-thread map from (collector, name, tags) to the
//! resolved series and tag-set entry.
//!
//! Lookups by name and tags (`record_metric`, `increment_counter`, ...) hit
//! this cache first. A hit touches only thread-local memory and the
//! aggregate itself: no shard lock, no tag-index lock, no reference-count
//! traffic — so two threads recording the same series do not fight over the
//! locks' cache lines. A miss takes the shared path and fills the cache.
//!
//! Invalidation: every collector has a generation number, bumped by
//! `remove_series` and `clear_all`. A slot remembers the generation it was
//! filled in; a hit with an older generation flushes the thread's cache.
//! The cache holds at most [`MAX_SLOTS`] entries per thread and is emptied
//! when full.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::series::{MetricSeries, TagEntry};
use crate::tags::{Tags, hash_tags};

/// Entries cached per thread.
pub(crate) const MAX_SLOTS: usize = 1024;

struct Slot {
    collector: u64,
    generation: u64,
    hash: u64,
    series: Arc<MetricSeries>,
    entry: Arc<TagEntry>,
}

#[derive(Default)]
struct ResolvedCache {
    table: HashTable<Slot>,
}

thread_local! {
    static CACHE: RefCell<ResolvedCache> = RefCell::new(ResolvedCache::default());
}

/// The cache key's hash: collector id, name and the order-independent tag hash.
#[inline]
pub(crate) fn key_hash(collector: u64, name: &str, tags: &impl Tags) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0x51_7cc1_b727_220a).build_hasher();
    h.write_u64(collector);
    h.write(name.as_bytes());
    h.write_u64(hash_tags(tags));
    h.finish()
}

/// Runs `f` on the cached resolution of (`collector`, `name`, `tags`), or
/// returns `None` on a miss (or when the thread's cache is unavailable).
#[inline]
pub(crate) fn with_cached<R>(
    collector: u64,
    generation: u64,
    hash: u64,
    name: &str,
    tags: &impl Tags,
    f: impl FnOnce(&Arc<MetricSeries>, &Arc<TagEntry>) -> R,
) -> Option<R> {
    CACHE
        .try_with(|cell| {
            let stale = {
                let cache = cell.try_borrow().ok()?;
                let slot = cache.table.find(hash, |s| {
                    s.collector == collector && s.series.name() == name && s.entry.tags.equals_tags(tags)
                })?;
                if slot.generation == generation {
                    // `f` only updates the aggregate and the ring: it never
                    // re-enters this cache while the borrow is held.
                    return Some(f(&slot.series, &slot.entry));
                }
                true
            };
            if stale && let Ok(mut cache) = cell.try_borrow_mut() {
                cache.table.clear();
            }
            None
        })
        .ok()
        .flatten()
}

/// Remembers a resolution made on the shared path.
pub(crate) fn insert(collector: u64, generation: u64, hash: u64, series: &Arc<MetricSeries>, entry: &Arc<TagEntry>) {
    let _ = CACHE.try_with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return;
        };
        if cache.table.len() >= MAX_SLOTS {
            cache.table.clear();
        }
        cache.table.insert_unique(
            hash,
            Slot {
                collector,
                generation,
                hash,
                series: Arc::clone(series),
                entry: Arc::clone(entry),
            },
            |s| s.hash,
        );
    });
}
