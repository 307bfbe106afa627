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
use std::sync::Arc;

use hashbrown::HashTable;

use crate::series::{MetricSeries, TagEntry};
use crate::tags::Tags;

/// Entries cached per thread.
pub(crate) const MAX_SLOTS: usize = 1024;

/// Most tags a cached resolution may have (more are resolved the shared way).
const MAX_CACHED_TAGS: usize = 16;

struct Slot {
    collector: u64,
    generation: u64,
    hash: u64,
    series: Arc<MetricSeries>,
    entry: Arc<TagEntry>,
    /// For the i-th pair in the order the caller passed them, its index in
    /// the entry's sorted tag set: a hit compares pair by pair, no search.
    order: [u8; MAX_CACHED_TAGS],
    len: u8,
}

impl Slot {
    #[inline]
    fn matches(&self, collector: u64, name: &str, tags: &impl Tags) -> bool {
        if self.collector != collector || usize::from(self.len) != tags.tag_count() || self.series.name() != name {
            return false;
        }
        let mut i = 0;
        let mut ok = true;
        tags.for_each_tag(|k, v| {
            if ok {
                ok = self
                    .entry
                    .tags
                    .pair(usize::from(self.order[i]))
                    .is_some_and(|(sk, sv)| sk == k.as_bytes() && sv == v.as_bytes());
                i += 1;
            }
        });
        ok
    }
}

#[derive(Default)]
struct ResolvedCache {
    table: HashTable<Slot>,
}

thread_local! {
    static CACHE: RefCell<ResolvedCache> = RefCell::new(ResolvedCache::default());
}

/// Multiplier of the key hash (the 64-bit golden ratio, odd).
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Folds `bytes` into `h` eight at a time; the length goes into the last
/// word so that ("ab", "c") and ("a", "bc") hash apart.
#[inline]
fn mix(mut h: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let word = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    let mut tail = 0u64;
    for (i, &b) in chunks.remainder().iter().enumerate() {
        tail |= u64::from(b) << (8 * i);
    }
    (h.rotate_left(5) ^ tail ^ ((bytes.len() as u64) << 56)).wrapping_mul(K)
}

/// The cache key's hash: collector id, name and the tags in the order given.
/// One multiply per eight bytes (a hit re-checks every byte, so the hash
/// needs speed more than strength); the same tags in another order are
/// another key and another slot, which only costs a miss.
#[inline]
pub(crate) fn key_hash(collector: u64, name: &str, tags: &impl Tags) -> u64 {
    let mut h = mix(collector.wrapping_mul(K), name.as_bytes());
    tags.for_each_tag(|k, v| {
        h = mix(mix(h, k.as_bytes()), v.as_bytes());
    });
    h = (h ^ (h >> 29)).wrapping_mul(K);
    h ^ (h >> 32)
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
                let slot = cache.table.find(hash, |s| s.matches(collector, name, tags))?;
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

/// Remembers a resolution made on the shared path. `entry` must be the
/// tag set of exactly `tags` (not the overflow set).
pub(crate) fn insert(
    collector: u64,
    generation: u64,
    hash: u64,
    tags: &impl Tags,
    series: &Arc<MetricSeries>,
    entry: &Arc<TagEntry>,
) {
    let mut order = [0u8; MAX_CACHED_TAGS];
    let mut len = 0usize;
    let mut ok = tags.tag_count() <= MAX_CACHED_TAGS;
    tags.for_each_tag(|k, _| {
        if !ok {
            return;
        }
        match entry.tags.position(k).and_then(|p| u8::try_from(p).ok()) {
            Some(p) => {
                order[len] = p;
                len += 1;
            }
            None => ok = false,
        }
    });
    if !ok {
        return;
    }
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
                order,
                // ≤ MAX_CACHED_TAGS, checked above.
                len: len as u8,
            },
            |s| s.hash,
        );
    });
}
