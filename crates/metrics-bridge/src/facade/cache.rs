//! Per-thread resolutions of facade keys to our handles.
//!
//! The facade's macros call `register_*` on every `counter!(...)`, so the
//! recorder sees one registration per update. Resolving each through a map
//! shared by all threads would make every thread touch the same lock word
//! and reference count; instead each thread keeps its own map from
//! [`Key`] (hashed by the hash the key already carries) to an `Arc` that
//! only this thread clones. After a thread's first registration of a key,
//! `counter!(name, labels).increment(1)` costs one hash-map probe, one
//! `Key` comparison, one uncontended reference-count increment and
//! decrement, and the metrics-core update.
//!
//! Bounds: [`MAX_KEYS_PER_KIND`] keys per recorder per thread and
//! [`MAX_RECORDERS`] recorders per thread; past them registrations still
//! work, resolved through the collector each time.

use std::cell::RefCell;
use std::sync::Arc;

use hashbrown::HashTable;
use metrics::Key;

use super::handles::{FacadeCounter, FacadeGauge, FacadeHistogram};

/// Keys of one kind (counters, gauges or histograms) a thread keeps per recorder.
pub(crate) const MAX_KEYS_PER_KIND: usize = 4096;
/// Recorders a thread keeps resolutions for; the oldest is forgotten first.
pub(crate) const MAX_RECORDERS: usize = 8;

/// Resolved keys of one kind, by the hash the key computed when it was built.
pub(crate) struct KeyMap<T> {
    table: HashTable<Entry<T>>,
}

/// A cached key, the address and length of each of its strings (name, then
/// each label's key and value), and its handle.
struct Entry<T> {
    key: Key,
    spans: Box<[(usize, usize)]>,
    handle: Arc<T>,
}

/// The address and length of `s`.
#[inline]
fn span(s: &str) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

/// The (address, length) of the key's strings, in [`Entry::spans`] order.
fn spans_of(key: &Key) -> impl Iterator<Item = (usize, usize)> + '_ {
    std::iter::once(span(key.name())).chain(key.labels().flat_map(move |l| [span(l.key()), span(l.value())]))
}

impl<T> Entry<T> {
    /// Whether `key` equals this entry's key. A call site passes the same
    /// `&'static str` name and label keys (and often values) every time, so
    /// most probes match by address and length alone, reading each of the
    /// probe's strings once and none of the entry's; any other probe is
    /// compared by text.
    #[inline]
    fn matches(&self, key: &Key) -> bool {
        let labels = key.labels();
        let Some((name_span, label_spans)) = self.spans.split_first() else {
            return false;
        };
        if labels.len() * 2 != label_spans.len() {
            return false;
        }
        let mut same_place = *name_span == span(key.name());
        for (label, pair) in labels.zip(label_spans.chunks_exact(2)) {
            same_place &= pair[0] == span(label.key()) && pair[1] == span(label.value());
        }
        same_place || self.key == *key
    }
}

impl<T> Default for KeyMap<T> {
    fn default() -> Self {
        KeyMap {
            table: HashTable::new(),
        }
    }
}

impl<T> KeyMap<T> {
    #[inline]
    fn get(&self, key: &Key) -> Option<&Arc<T>> {
        self.table.find(key.get_hash(), |e| e.matches(key)).map(|e| &e.handle)
    }

    fn insert(&mut self, key: &Key, handle: &Arc<T>) {
        if self.get(key).is_none() {
            let key = key.clone();
            // The spans are taken from the entry's own copy, never from the
            // caller's key: the copy's strings are `'static` or owned by the
            // entry, immutable and alive as long as it is, so no other text
            // can ever sit at those addresses. (A caller's owned label value
            // is freed after the call and its address reused by other text.)
            let spans = spans_of(&key).collect();
            let entry = Entry {
                key,
                spans,
                handle: Arc::clone(handle),
            };
            let hash = entry.key.get_hash();
            self.table.insert_unique(hash, entry, |e| e.key.get_hash());
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

/// One recorder's resolutions on one thread.
#[derive(Default)]
pub(crate) struct RecorderCache {
    recorder: u64,
    generation: u64,
    pub(crate) counters: KeyMap<FacadeCounter>,
    pub(crate) gauges: KeyMap<FacadeGauge>,
    pub(crate) histograms: KeyMap<FacadeHistogram>,
}

thread_local! {
    static CACHES: RefCell<Vec<RecorderCache>> = const { RefCell::new(Vec::new()) };
}

/// Picks the map of one kind out of a [`RecorderCache`].
pub(crate) type Select<T> = fn(&mut RecorderCache) -> &mut KeyMap<T>;

/// The cached handle of `key` for (`recorder`, `generation`) on this thread.
#[inline]
pub(crate) fn get<T>(recorder: u64, generation: u64, select: Select<T>, key: &Key) -> Option<Arc<T>> {
    CACHES
        .try_with(|caches| {
            let mut caches = caches.try_borrow_mut().ok()?;
            let cache = caches.iter_mut().find(|c| c.recorder == recorder)?;
            if cache.generation != generation {
                return None;
            }
            select(cache).get(key).cloned()
        })
        .ok()
        .flatten()
}

/// Remembers `handle` as the resolution of `key` on this thread. Does
/// nothing past the bounds, or while the thread is being torn down.
pub(crate) fn insert<T>(recorder: u64, generation: u64, select: Select<T>, key: &Key, handle: &Arc<T>) {
    let _ = CACHES.try_with(|caches| {
        let Ok(mut caches) = caches.try_borrow_mut() else {
            return;
        };
        let index = match caches.iter().position(|c| c.recorder == recorder) {
            Some(i) => i,
            None => {
                if caches.len() >= MAX_RECORDERS {
                    caches.remove(0);
                }
                caches.push(RecorderCache {
                    recorder,
                    generation,
                    ..RecorderCache::default()
                });
                caches.len() - 1
            }
        };
        let cache = &mut caches[index];
        if cache.generation != generation {
            *cache = RecorderCache {
                recorder,
                generation,
                ..RecorderCache::default()
            };
        }
        let map = select(cache);
        if map.len() < MAX_KEYS_PER_KIND {
            map.insert(key, handle);
        }
    });
}

/// How many keys of each kind this thread holds for `recorder` (tests).
#[cfg(test)]
pub(crate) fn cached_keys(recorder: u64) -> usize {
    CACHES.with(|caches| {
        caches
            .borrow()
            .iter()
            .filter(|c| c.recorder == recorder)
            .map(|c| c.counters.len() + c.gauges.len() + c.histograms.len())
            .sum()
    })
}
