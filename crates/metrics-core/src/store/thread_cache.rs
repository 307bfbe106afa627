//! `ResolvedCache`: a per-thread map from (collector, name, tags) to the
//! resolved series and tag-set entry.
//!
//! Lookups by name and tags (`record_metric`, `increment_counter`, ...) hit
//! this cache first. A hit touches only thread-local memory and the
//! aggregate itself: no shard lock, no tag-index lock, no reference-count
//! traffic — so two threads recording the same series do not fight over the
//! locks' cache lines. A miss takes the shared path and fills the cache.
//!
//! A hit is found in two steps. First by the caller's identity: the
//! addresses of the name and of every tag value pick a pair of entries of
//! a small two-way array ([`RECENT`]) that remembers which slots the call
//! sites mapped there reached last — a few instructions, no byte of the key
//! read. Two ways, because where the literals of a program land decides
//! which call sites share an entry: with one way, two of 18 call sites
//! sharing one (a one-in-four chance at 512 entries) cost every build so
//! placed ~20% more per lookup. Then the
//! slot's key is compared with the call's name and tags, byte for byte:
//! the identity only guesses, the comparison decides, so a reused address
//! holding other text (a freed and reallocated `String`) is a guess that
//! fails, never a wrong hit. A failed guess hashes the key's bytes and
//! looks it up in the table, as every miss does.
//!
//! Invalidation: every collector has a generation number, bumped by
//! `remove_series` and `clear_all`. A slot remembers the generation it was
//! filled in; a hit with an older generation flushes the thread's cache.
//! The cache holds at most [`MAX_SLOTS`] entries per thread and is emptied
//! when full.
//!
//! A dropped collector: its slots hold its series (`Arc`s), so every
//! thread's cache is reachable from a process-wide registry, and the
//! collector's `Drop` removes its slots from all of them
//! ([`forget_collector`]) — its memory is returned when it is dropped, not
//! when each thread next records. That is why a thread's cache sits behind
//! a [`SpinLock`] instead of a `RefCell`: the owning thread takes it with
//! one compare-and-swap on a line no other thread touches (only a dropping
//! collector does, once), and a thread that finds it taken treats the call
//! as a miss instead of waiting.

use std::sync::{Arc, Mutex, Weak};

use hashbrown::HashTable;

use crate::hash::{folded_multiply, mix, same_bytes};
use crate::store::series::MetricSeries;
use crate::sync::spin::SpinLock;
use crate::tags::entry::TagEntry;
use crate::tags::{SEP, Tags};

/// Entries cached per thread.
pub(crate) const MAX_SLOTS: usize = 1024;

/// Entries of the by-identity guess array (pairs of ways): a power of two,
/// large enough that a few dozen call sites rarely share a pair.
const RECENT: usize = 512;

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
    /// Per piece of `key` (the name, then each key and value): the address
    /// and length it was copied from when those bytes lie in the program's
    /// read-only image (a literal; [`crate::image`]), else [`UNPINNED`].
    /// A call passing that same literal is equal without a byte read.
    pins: Box<[Pin]>,
    /// Whether every piece is pinned: then a call passing the same
    /// literals is recognised from the pins alone ([`Slot::same_literals`]).
    all_pinned: bool,
}

/// Where a piece of a slot's key was copied from: (address, length).
type Pin = (usize, usize);

/// The pin of a piece copied from anywhere but the read-only image: no
/// `&str` has the null address, so it matches no call.
const UNPINNED: Pin = (0, 0);

/// The pin of `piece`.
fn pin_of(piece: &str) -> Pin {
    if crate::image::is_pinned(piece) {
        (piece.as_ptr().addr(), piece.len())
    } else {
        UNPINNED
    }
}

/// Whether `piece` is the very text `pin` was taken from: the same
/// address and length in memory that never changes.
#[inline(always)]
fn is_pinned_copy(piece: &[u8], pin: Pin) -> bool {
    piece.as_ptr().addr() == pin.0 && piece.len() == pin.1
}

/// Consumes `SEP piece` from the front of `rest`; `pin` is the pin of the
/// slot's copy of it.
#[inline(always)]
fn take(rest: &mut &[u8], piece: &str, pin: Pin) -> bool {
    let piece = piece.as_bytes();
    let n = piece.len();
    match rest.get(..=n) {
        Some([SEP, stored @ ..]) if is_pinned_copy(piece, pin) || same_bytes(stored, piece) => {
            *rest = &rest[n + 1..];
            true
        }
        _ => false,
    }
}

/// Whether `rest` is exactly `(SEP key SEP value)*` of `pairs`. Out of
/// line: a leaf with every register free for the comparison, where inlined
/// into the lookup it would spill its cursor at every piece.
/// `pins` holds one pin per key and value, in order (the caller checked
/// that there are two per pair).
#[inline(never)]
fn same_pairs(mut rest: &[u8], pairs: &[(&str, &str)], pins: &[[Pin; 2]]) -> bool {
    for ((k, v), [kp, vp]) in pairs.iter().zip(pins) {
        if !take(&mut rest, k, *kp) || !take(&mut rest, v, *vp) {
            return false;
        }
    }
    rest.is_empty()
}

impl Slot {
    /// Whether this slot is exactly (`collector`, `name`, `tags`): every
    /// byte of every piece, and no piece more or less.
    #[inline(always)]
    fn matches(&self, collector: u64, name: &str, tags: &impl Tags) -> bool {
        if self.all_pinned
            && let Some(pairs) = tags.str_pairs()
            && self.collector == collector
            && self.same_literals(name, pairs)
        {
            return true;
        }
        self.same_text(collector, name, tags)
    }

    /// Whether `name` and `pairs` are the very literals this slot's key was
    /// copied from: addresses and lengths only, no byte read. `false` says
    /// nothing (the same text may sit elsewhere); the caller compares bytes.
    #[inline(always)]
    fn same_literals(&self, name: &str, pairs: &[(&str, &str)]) -> bool {
        let Some((name_pin, pins)) = self.pins.split_first() else {
            return false;
        };
        let (pins, _) = pins.as_chunks::<2>();
        if pins.len() != pairs.len() || !is_pinned_copy(name.as_bytes(), *name_pin) {
            return false;
        }
        // A plain loop: an iterator chain here compiled to an out-of-line
        // `try_fold` of twice the instructions.
        for i in 0..pairs.len() {
            let ((k, v), [kp, vp]) = (pairs[i], pins[i]);
            if !is_pinned_copy(k.as_bytes(), kp) || !is_pinned_copy(v.as_bytes(), vp) {
                return false;
            }
        }
        true
    }

    /// Whether this slot's key is the text of (`collector`, `name`,
    /// `tags`), piece by piece: a pinned piece passed as the same literal
    /// by its address, any other by its bytes.
    #[inline(always)]
    fn same_text(&self, collector: u64, name: &str, tags: &impl Tags) -> bool {
        let Some((name_pin, pins)) = self.pins.split_first() else {
            return false;
        };
        // One pin per piece: a call with another number of tags is
        // another key, and the pins below pair up with the pieces.
        if self.collector != collector || pins.len() != 2 * tags.tag_count() {
            return false;
        }
        let name = name.as_bytes();
        let mut rest = match self.key.get(..name.len()) {
            Some(stored) if is_pinned_copy(name, *name_pin) || same_bytes(stored, name) => &self.key[name.len()..],
            _ => return false,
        };
        let (pins, _) = pins.as_chunks::<2>();
        if let Some(pairs) = tags.str_pairs() {
            return same_pairs(rest, pairs, pins);
        }
        let mut ok = true;
        let mut pins = pins.iter();
        tags.for_each_tag(|k, v| {
            let [kp, vp] = pins.next().copied().unwrap_or([UNPINNED; 2]);
            ok = ok && take(&mut rest, k, kp) && take(&mut rest, v, vp);
        });
        ok && rest.is_empty()
    }
}

struct ResolvedCache {
    table: HashTable<Slot>,
    /// By caller identity ([`identity_index`]): per pair of ways, the
    /// buckets of `table` that the call sites mapped there reached last,
    /// the latest first. Only a guess, verified on use: a bucket emptied,
    /// refilled or moved by a resize fails the key comparison.
    recent: Box<[u16; RECENT]>,
}

impl Default for ResolvedCache {
    fn default() -> Self {
        ResolvedCache {
            table: HashTable::new(),
            recent: Box::new([0; RECENT]),
        }
    }
}

type SharedCache = Arc<SpinLock<ResolvedCache>>;

thread_local! {
    static CACHE: SharedCache = register();
}

/// Every live thread's cache, for [`forget_collector`]. Entries of exited
/// threads are dead `Weak`s, pruned when a thread registers.
static REGISTRY: Mutex<Vec<Weak<SpinLock<ResolvedCache>>>> = Mutex::new(Vec::new());

/// This thread's cache, entered in the registry.
fn register() -> SharedCache {
    let cache = Arc::new(SpinLock::new(ResolvedCache::default()));
    let mut registry = match REGISTRY.lock() {
        Ok(r) => r,
        Err(poisoned) => poisoned.into_inner(),
    };
    registry.retain(|w| w.strong_count() > 0);
    registry.push(Arc::downgrade(&cache));
    cache
}

/// Attempts at another thread's cache before [`forget_collector`] leaves
/// it: its owner holds it for one lookup and update, so this is only
/// reached if that update blocks (a sample sink waiting on a lock the
/// dropping thread holds); waiting on would deadlock.
const FORGET_TRIES: u32 = 10_000;

/// The cache's lock within `tries` attempts, yielding between them.
fn lock_within(cache: &SpinLock<ResolvedCache>, tries: u32) -> Option<crate::sync::spin::SpinGuard<'_, ResolvedCache>> {
    for attempt in 0..tries {
        if let Some(guard) = cache.try_lock() {
            return Some(guard);
        }
        if attempt < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    None
}

/// Removes the slots of `collector` from every thread's cache, dropping
/// the series they hold: called when the collector is dropped. Another
/// thread's cache is waited for (its owner holds it for one lookup), up to
/// [`FORGET_TRIES`] attempts; this thread's own is taken only if free,
/// since a collector dropped by code running inside a cache hit (a sample
/// sink) finds it held by this very thread. A cache left out keeps the
/// slots until its thread next flushes it (full, or a generation change)
/// or exits; they are never hit again (collector ids are not reused).
pub(crate) fn forget_collector(collector: u64) {
    let own = CACHE.try_with(Arc::clone).ok();
    let caches: Vec<SharedCache> = {
        let registry = match REGISTRY.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        registry.iter().filter_map(Weak::upgrade).collect()
    };
    for cache in caches {
        let is_own = own.as_ref().is_some_and(|o| Arc::ptr_eq(o, &cache));
        let tries = if is_own { 1 } else { FORGET_TRIES };
        let Some(mut guard) = lock_within(&cache, tries) else {
            continue;
        };
        // Move the slots out under the lock, drop them (and the series
        // they may free) after releasing it.
        let mut gone = Vec::new();
        guard.table.retain(|slot| {
            if slot.collector == collector {
                gone.push(slot.series.clone());
                false
            } else {
                true
            }
        });
        drop(guard);
        drop(gone);
    }
}

/// The key hash's multiplier (the 64-bit golden ratio).
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// The cache key's hash: collector id, name, and the tags in the order
/// given. A hit re-checks every byte, so the hash needs speed more than
/// strength: of a tag key only the length is hashed (keys are few and
/// fixed; values are what tell a series' tag sets apart), so keys of one
/// length with the same values share a hash and are told apart by the
/// byte check. The same tags in another order are another key and another
/// slot, which only costs a miss.
#[inline]
pub(crate) fn key_hash(collector: u64, name: &str, tags: &impl Tags) -> u64 {
    let mut h = mix(collector.wrapping_mul(K), name.as_bytes());
    tags.for_each_tag(|k, v| {
        h = mix(h.rotate_left(23) ^ (k.len() as u64), v.as_bytes());
    });
    folded_multiply(h, K)
}

/// Where (`collector`, `name`, `tags`) guesses its slot in
/// [`ResolvedCache::recent`]: from the addresses and lengths of the pieces,
/// not their bytes. A call site passing the same strings (literals, or
/// strings it keeps) lands on the same entry every time.
///
/// Only the name and the values are mixed in, one multiply each (what
/// tells call sites apart; keys are few and fixed), and the index is taken
/// from the top bits, where a multiply has mixed every input bit.
#[inline(always)]
fn identity_index(collector: u64, name: &str, tags: &impl Tags) -> usize {
    let step = |h: u64, s: &str| (h.rotate_left(26) ^ s.as_ptr().addr() as u64 ^ s.len() as u64).wrapping_mul(K);
    let mut h = step(collector, name);
    tags.for_each_tag(|_, v| h = step(h, v));
    ((h >> (64 - (RECENT / 2).trailing_zeros())) as usize) * 2
}

/// Runs `f` on the cached resolution of (`collector`, `name`, `tags`), or
/// returns `None` on a miss (or when the thread's cache is unavailable).
#[inline]
pub(crate) fn with_cached<R>(
    collector: u64,
    generation: u64,
    name: &str,
    tags: &impl Tags,
    f: impl FnOnce(&Arc<MetricSeries>, &TagEntry) -> R,
) -> Option<R> {
    CACHE
        .try_with(|cell| {
            // Taken: a dropping collector is clearing it, or `f` below
            // re-entered (a sample sink recording): a miss.
            let mut cache = cell.try_lock()?;
            let ResolvedCache { table, recent } = &mut *cache;
            let ways = identity_index(collector, name, tags);
            let ways = &mut recent[ways..ways + 2];
            let slot = match table.get_bucket(usize::from(ways[0])) {
                Some(slot) if slot.matches(collector, name, tags) => slot,
                _ => match table.get_bucket(usize::from(ways[1])) {
                    Some(slot) if slot.matches(collector, name, tags) => slot,
                    _ => find_by_key(table, ways, collector, name, tags)?,
                },
            };
            if slot.generation == generation {
                return Some(f(&slot.series, &slot.entry));
            }
            cache.table.clear();
            None
        })
        .ok()
        .flatten()
}

/// The slot of (`collector`, `name`, `tags`) by the hash of its bytes,
/// after both of the identity's guesses failed; the first way is pointed
/// at it and what it held moves to the second.
#[inline(never)]
fn find_by_key<'t>(
    table: &'t HashTable<Slot>,
    ways: &mut [u16],
    collector: u64,
    name: &str,
    tags: &impl Tags,
) -> Option<&'t Slot> {
    let hash = key_hash(collector, name, tags);
    let bucket = table.find_bucket_index(hash, |s| s.matches(collector, name, tags))?;
    // Tables of more than 65,536 buckets are never built (`MAX_SLOTS`);
    // a bucket past that would only go unguessed.
    if let (Ok(b), [first, second]) = (u16::try_from(bucket), ways) {
        *second = *first;
        *first = b;
    }
    table.get_bucket(bucket)
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
    let mut pins = Vec::with_capacity(1 + 2 * tags.tag_count());
    key.extend_from_slice(name.as_bytes());
    pins.push(pin_of(name));
    tags.for_each_tag(|k, v| {
        key.push(SEP);
        key.extend_from_slice(k.as_bytes());
        key.push(SEP);
        key.extend_from_slice(v.as_bytes());
        pins.extend([pin_of(k), pin_of(v)]);
    });
    let all_pinned = pins.iter().all(|p| *p != UNPINNED);
    let _ = CACHE.try_with(|cache| {
        let Some(mut cache) = cache.try_lock() else {
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
                pins: pins.into_boxed_slice(),
                all_pinned,
            },
            |s| s.hash,
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot of collector 7 for `requests_total{kind="user"}` with `pins`.
    fn requests_by_user_slot(pins: [Pin; 3]) -> Slot {
        let c = crate::MetricsCollector::default();
        c.increment_counter("requests_total", &[("kind", "user")], 1).unwrap();
        let series = c.get_metric_series("requests_total").unwrap();
        let entry = series.with_entry(&&[("kind", "user")], TagEntry::clone).unwrap();
        Slot {
            collector: 7,
            generation: 0,
            hash: 0,
            series,
            entry,
            key: b"requests_total\xFFkind\xFFuser".to_vec().into_boxed_slice(),
            pins: pins.into(),
            all_pinned: pins.iter().all(|p| *p != UNPINNED),
        }
    }

    #[test]
    fn the_hash_separates_piece_boundaries_and_orders() {
        let h = |name: &str, tags: &[(&str, &str)]| key_hash(1, name, &tags);
        assert_ne!(h("m", &[("ab", "c")]), h("m", &[("a", "bc")]));
        assert_ne!(h("m", &[("k", "v1")]), h("m", &[("key", "v1")]));
        assert_ne!(h("m", &[("k", "v1")]), h("m", &[("k", "v2")]));
        assert_ne!(h("m", &[("k", "v1"), ("j", "v2")]), h("m", &[("j", "v2"), ("k", "v1")]));
        assert_ne!(h("ma", &[]), h("m", &[("a", "")]));
        assert_eq!(
            h("a_long_metric_name_over_16", &[("k", "v")]),
            h("a_long_metric_name_over_16", &[("k", "v")])
        );
        assert_ne!(
            h("a_long_metric_name_over_16", &[]),
            h("a_long_metric_name_over_17", &[])
        );
        assert_ne!(key_hash(1, "m", &&[("k", "v")]), key_hash(2, "m", &&[("k", "v")]));
    }

    #[test]
    fn a_slot_matches_only_its_own_name_and_tags() {
        let slot = requests_by_user_slot([UNPINNED; 3]);
        assert!(slot.matches(7, "requests_total", &&[("kind", "user")]));
        assert!(!slot.matches(8, "requests_total", &&[("kind", "user")]));
        assert!(!slot.matches(7, "requests_tota", &&[("kind", "user")]));
        assert!(!slot.matches(7, "requests_total", &&[("kind", "use")]));
        assert!(!slot.matches(7, "requests_total", &&[("kind", "users")]));
        assert!(!slot.matches(7, "requests_total", &&[("kin", "duser")]));
        assert!(!slot.matches(7, "requests_total", &&[]));
        assert!(!slot.matches(7, "requests_total", &&[("kind", "user"), ("a", "b")]));
        // The same checks through `for_each_tag` (forms without `str_pairs`).
        let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert!(slot.matches(7, "requests_total", &&owned(&[("kind", "user")])));
        assert!(!slot.matches(7, "requests_total", &&owned(&[("kind", "use")])));
        assert!(!slot.matches(7, "requests_total", &&owned(&[("kin", "duser")])));
        assert!(!slot.matches(7, "requests_total", &&owned(&[])));
        assert!(!slot.matches(7, "requests_total", &&owned(&[("kind", "user"), ("a", "b")])));
    }

    #[test]
    fn a_pinned_piece_matches_its_literal_and_any_copy_of_its_text() {
        let (name, kind, user) = ("requests_total", "kind", "user");
        let slot = requests_by_user_slot([pin_of(name), pin_of(kind), pin_of(user)]);
        if cfg!(target_os = "linux") {
            assert_ne!(slot.pins[2], UNPINNED, "a literal is pinned");
        }
        assert!(slot.matches(7, name, &&[(kind, user)]));
        // The same text elsewhere is compared by its bytes.
        let (n, k, v) = (name.to_string(), kind.to_string(), user.to_string());
        assert!(slot.matches(7, &n, &&[(k.as_str(), v.as_str())]));
        // A shorter or longer piece at the pinned address is another piece.
        assert!(!slot.matches(7, name, &&[(kind, &user[..3])]));
        assert!(!slot.matches(7, &name[..13], &&[(kind, user)]));
        let longer = "users";
        assert!(!slot.matches(7, name, &&[(kind, longer)]));
        assert!(!slot.matches(7, name, &&[(kind, user), (kind, user)]));
        assert!(!slot.matches(7, name, &&[]));
    }

    #[test]
    fn a_guess_by_address_is_checked_against_the_bytes() {
        let c = crate::MetricsCollector::default();
        // One buffer, rewritten in place: the same address and length
        // (the same identity) holds another value on the second round.
        let mut value = String::with_capacity(8);
        for (text, calls) in [("aaaa", 3), ("bbbb", 2)] {
            value.clear();
            value.push_str(text);
            for _ in 0..calls {
                c.increment_counter("requests_total", &[("kind", value.as_str())], 1)
                    .unwrap();
            }
        }
        let series = c.get_metric_series("requests_total").unwrap();
        let total = |v: &str| series.aggregate(&[("kind", v)]);
        assert_eq!(total("aaaa"), Some(crate::AggregateValue::Counter { total: 3.0 }));
        assert_eq!(total("bbbb"), Some(crate::AggregateValue::Counter { total: 2.0 }));
    }

    #[test]
    fn call_sites_sharing_a_guess_each_reach_their_own_series() {
        let c = crate::MetricsCollector::default();
        // Many values in turn, so that some share an entry of the guess
        // array and overwrite each other's guess; every total stays exact.
        let values: Vec<String> = (0..4 * RECENT).map(|i| format!("v{i}")).collect();
        for round in 0..3 {
            for v in &values {
                c.increment_counter("requests_total", &[("kind", v.as_str())], round + 1)
                    .unwrap();
            }
        }
        let series = c.get_metric_series("requests_total").unwrap();
        for v in &values {
            assert_eq!(
                series.aggregate(&[("kind", v.as_str())]),
                Some(crate::AggregateValue::Counter { total: 6.0 }),
                "{v}"
            );
        }
    }
}
