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
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use metrics::Key;

use super::handles::{FacadeCounter, FacadeGauge, FacadeHistogram};

/// Keys of one kind (counters, gauges or histograms) a thread keeps per recorder.
pub(crate) const MAX_KEYS_PER_KIND: usize = 4096;
/// Recorders a thread keeps resolutions for; the oldest is forgotten first.
pub(crate) const MAX_RECORDERS: usize = 8;

type KeyMap<T> = HashMap<Key, Arc<T>, BuildHasherDefault<PrehashedKey>>;

/// Passes on the hash a [`Key`] computed when it was built: `Key`'s `Hash`
/// makes exactly one `write_u64` call with it. Any other write (never made
/// by `Key`) is folded in, so the hasher stays correct for other types.
#[derive(Default)]
pub(crate) struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(5) ^ n;
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
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
            map.insert(key.clone(), Arc::clone(handle));
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
