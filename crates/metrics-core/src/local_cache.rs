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

/// Joins the name and the pieces of a cache key; never part of UTF-8 text,
/// so the encoding is unambiguous.
const SEP: u8 = 0xFF;

struct Slot {
    collector: u64,
    generation: u64,
    hash: u64,
    series: Arc<MetricSeries>,
    entry: TagEntry,
    /// The name and the tags in the order the caller passed them:
    /// `name (SEP key SEP value)*`. A hit compares the call's arguments
    /// against it in one forward pass.
    key: Box<[u8]>,
}

/// Consumes `SEP piece` from the front of `rest`.
#[inline]
fn take(rest: &mut &[u8], piece: &str) -> bool {
    match rest.split_first() {
        Some((&SEP, after)) if after.starts_with(piece.as_bytes()) => {
            *rest = &after[piece.len()..];
            true
        }
        _ => false,
    }
}

impl Slot {
    #[inline]
    fn matches(&self, collector: u64, name: &str, tags: &impl Tags) -> bool {
        if self.collector != collector {
            return false;
        }
        let Some(mut rest) = self.key.strip_prefix(name.as_bytes()) else {
            return false;
        };
        let mut ok = true;
        tags.for_each_tag(|k, v| {
            ok = ok && take(&mut rest, k) && take(&mut rest, v);
        });
        ok && rest.is_empty()
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
    // The last 0–7 bytes in at most two loads (overlapping when 5–7), as
    // wyhash and foldhash read short inputs.
    let rest = chunks.remainder();
    let n = rest.len();
    let tail = if n >= 4 {
        let lo = u32::from_le_bytes(rest[..4].try_into().unwrap_or([0; 4]));
        let hi = u32::from_le_bytes(rest[n - 4..].try_into().unwrap_or([0; 4]));
        u64::from(lo) | (u64::from(hi) << 32)
    } else if n > 0 {
        (u64::from(rest[0]) << 16) | (u64::from(rest[n / 2]) << 8) | u64::from(rest[n - 1])
    } else {
        0
    };
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
    f: impl FnOnce(&Arc<MetricSeries>, &TagEntry) -> R,
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
    (name, tags): (&str, &impl Tags),
    series: &Arc<MetricSeries>,
    entry: &TagEntry,
) {
    let mut key = Vec::with_capacity(name.len() + 16 * tags.tag_count());
    key.extend_from_slice(name.as_bytes());
    tags.for_each_tag(|k, v| {
        key.push(SEP);
        key.extend_from_slice(k.as_bytes());
        key.push(SEP);
        key.extend_from_slice(v.as_bytes());
    });
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
                entry: entry.clone(),
                key: key.into_boxed_slice(),
            },
            |s| s.hash,
        );
    });
}
