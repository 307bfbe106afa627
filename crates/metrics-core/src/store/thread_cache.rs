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
//! placed ~20% more per lookup; and each way carries a 16-bit tag of the
//! call site that filled it, so a site skips its neighbour's way without
//! reading that slot. Then the
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

use std::cell::Cell;
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
    /// Cells: a hit from another copy of the same literals moves them
    /// ([`Slot::repin`]).
    pins: Box<[Cell<Pin>]>,
    /// Whether every piece is pinned: then a call passing the same
    /// literals is recognised from the pins alone ([`Slot::same_literals`]).
    all_pinned: Cell<bool>,
    /// Times [`Slot::repin`] ran, up to [`MAX_REPINS`].
    repins: Cell<u8>,
}

/// How often one slot's pins may move to another call's literals. A
/// program can hold several copies of one literal (code inlined into
/// several codegen units gets its own): the copy that filled the slot may
/// not be the one that keeps calling. Bounded, so that two call sites
/// alternating with different copies, or a caller passing heap strings,
/// stop paying for the attempt.
const MAX_REPINS: u8 = 4;

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
fn same_pairs(mut rest: &[u8], pairs: &[(&str, &str)], pins: &[[Cell<Pin>; 2]]) -> bool {
    for ((k, v), [kp, vp]) in pairs.iter().zip(pins) {
        if !take(&mut rest, k, kp.get()) || !take(&mut rest, v, vp.get()) {
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
        if self.all_pinned.get()
            && let Some(pairs) = tags.str_pairs()
            && self.collector == collector
            && self.same_literals(name, pairs)
        {
            return true;
        }
        if !self.same_text(collector, name, tags) {
            return false;
        }
        if self.repins.get() < MAX_REPINS {
            self.repin(name, tags);
        }
        true
    }

    /// Moves the pins to this call's pieces if all of them are literals:
    /// the call matched by its bytes, so it passed other copies (or other
    /// memory) than the ones the slot was filled from.
    #[cold]
    #[inline(never)]
    fn repin(&self, name: &str, tags: &impl Tags) {
        self.repins.set(self.repins.get().saturating_add(1));
        let mut all = crate::image::is_pinned(name);
        tags.for_each_tag(|k, v| all = all && crate::image::is_pinned(k) && crate::image::is_pinned(v));
        if !all {
            return;
        }
        let mut pins = self.pins.iter();
        let mut set = |piece: &str| {
            if let Some(pin) = pins.next() {
                pin.set(pin_of(piece));
            }
        };
        set(name);
        tags.for_each_tag(|k, v| {
            set(k);
            set(v);
        });
        self.all_pinned.set(true);
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
        if pins.len() != pairs.len() || !is_pinned_copy(name.as_bytes(), name_pin.get()) {
            return false;
        }
        // A plain loop: an iterator chain here compiled to an out-of-line
        // `try_fold` of twice the instructions.
        for i in 0..pairs.len() {
            let ((k, v), [kp, vp]) = (pairs[i], &pins[i]);
            if !is_pinned_copy(k.as_bytes(), kp.get()) || !is_pinned_copy(v.as_bytes(), vp.get()) {
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
            Some(stored) if is_pinned_copy(name, name_pin.get()) || same_bytes(stored, name) => &self.key[name.len()..],
            _ => return false,
        };
        let (pins, _) = pins.as_chunks::<2>();
        if let Some(pairs) = tags.str_pairs() {
            return same_pairs(rest, pairs, pins);
        }
        let mut ok = true;
        let mut pins = pins.iter();
        tags.for_each_tag(|k, v| {
            let [kp, vp] = pins.next().map_or([UNPINNED; 2], |[k, v]| [k.get(), v.get()]);
            ok = ok && take(&mut rest, k, kp) && take(&mut rest, v, vp);
        });
        ok && rest.is_empty()
    }
}

struct ResolvedCache {
    table: HashTable<Slot>,
    /// By caller identity ([`identity`]): per pair of ways, the
    /// buckets of `table` that the call sites mapped there reached last,
    /// the latest first. Only a guess, verified on use: a bucket emptied,
    /// refilled or moved by a resize fails the key comparison.
    /// Each entry is a [`Guess`].
    recent: Box<[Guess; RECENT]>,
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

/// One way of [`ResolvedCache::recent`]: a bucket of the table (low 16
/// bits) and the identity tag of the call site that reached it (high 16).
/// Two call sites that share a pair of ways tell their ways apart by the
/// tag, without reading the other's slot: a way whose tag differs is
/// skipped at the cost of a compare, where comparing the slot's key would
/// cost a few dozen instructions at every call of the site that came
/// second (which sites share a pair depends on where the linker put their
/// literals, so it came and went between builds).
type Guess = u32;

/// Where (`collector`, `name`, `tags`) guesses its slot in
/// [`ResolvedCache::recent`], and the identity tag its ways are marked
/// with: from the addresses and lengths of the pieces, not their bytes. A
/// call site passing the same strings (literals, or strings it keeps)
/// lands on the same entry, with the same tag, every time.
///
/// Only the name and the values are mixed in, one multiply each (what
/// tells call sites apart; keys are few and fixed). The index is taken
/// from the top bits, where a multiply has mixed every input bit, and the
/// tag from the 16 bits below them.
#[inline(always)]
fn identity(collector: u64, name: &str, tags: &impl Tags) -> (usize, u16) {
    let step = |h: u64, s: &str| (h.rotate_left(26) ^ s.as_ptr().addr() as u64 ^ s.len() as u64).wrapping_mul(K);
    let mut h = step(collector, name);
    tags.for_each_tag(|_, v| h = step(h, v));
    let index_bits = (RECENT / 2).trailing_zeros();
    let index = ((h >> (64 - index_bits)) as usize) * 2;
    (index, (h >> (48 - index_bits)) as u16)
}

/// The slot a way points at, if its tag is the caller's.
#[inline(always)]
fn guessed(table: &HashTable<Slot>, way: Guess, tag: u16) -> Option<&Slot> {
    if way >> 16 != u32::from(tag) {
        return None;
    }
    table.get_bucket((way & 0xffff) as usize)
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
            let (ways, tag) = identity(collector, name, tags);
            let ways = &mut recent[ways..ways + 2];
            let slot = match guessed(table, ways[0], tag) {
                Some(slot) if slot.matches(collector, name, tags) => slot,
                _ => match guessed(table, ways[1], tag) {
                    Some(slot) if slot.matches(collector, name, tags) => slot,
                    _ => find_by_key(table, (ways, tag), collector, name, tags)?,
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
    (ways, tag): (&mut [Guess], u16),
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
        *first = u32::from(b) | u32::from(tag) << 16;
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
                pins: pins.into_iter().map(Cell::new).collect(),
                all_pinned: Cell::new(all_pinned),
                repins: Cell::new(0),
            },
            |s| s.hash,
        );
    });
}

#[cfg(test)]
mod tests;
