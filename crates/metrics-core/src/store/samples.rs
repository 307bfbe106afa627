//! `SampleStore`: a series' retained samples, spread over per-thread
//! buffers once threads collide on it.
//!
//! While one thread at a time records, samples go straight into one
//! [`SampleRing`] under one [`SpinLock`] (a push holds it for a few dozen
//! instructions; a compare-and-swap to take it and a plain store to give it
//! back, where a `std` mutex adds a locked swap and its poison checks). The
//! first time a push finds that lock taken, the store grows per-thread-slot buffers (as counters grow cells
//! and histograms shards): from then on a push appends to its own slot's
//! buffer, and every [`BATCH`] samples the buffer is merged into the ring
//! under the ring's lock — so two threads recording into one series meet on
//! the shared lock once per batch instead of once per sample. A full buffer
//! that finds the ring busy keeps growing (to [`MAX_BUFFERED`]) instead of
//! waiting for it.
//!
//! Every read goes through [`SampleStore::lock`], which merges every buffer
//! first: a push that has returned is visible to every read that starts
//! after it. The count cap and retention apply at the merge, so a series
//! holds at most its cap plus [`MAX_BUFFERED`] samples per buffer.

use std::sync::{Mutex, OnceLock, PoisonError, TryLockError};

use crate::store::ring::{Sample, SampleRing};
use crate::sync::spin::{SpinGuard, SpinLock};
use crate::sync::stripe::{cell_count, probe, rehash_probe};

/// Samples a thread buffers before merging them into the ring.
pub(crate) const BATCH: usize = 64;

/// Samples a thread buffers while the ring is busy before it waits for it.
const MAX_BUFFERED: usize = 4 * BATCH;

/// One thread slot's buffer, on its own cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Buffer(Mutex<Vec<Sample>>);

/// The retained samples of one series.
#[derive(Debug, Default)]
pub(crate) struct SampleStore {
    /// Readers hold it while they copy or scan the samples; pushes never
    /// wait for it (they buffer instead), so only readers meet readers.
    ring: SpinLock<SampleRing>,
    buffers: OnceLock<Box<[Buffer]>>,
}

impl SampleStore {
    /// Keeps `sample`; `cutoff` (ns) and `max_len` are the retention limits
    /// applied when it reaches the ring.
    #[cfg(test)]
    pub(crate) fn push(&self, sample: Sample, cutoff: i64, max_len: usize) {
        self.keep(sample, cutoff, max_len, false);
    }

    /// Keeps `sample` (see [`SampleRing::push`]); `stamped` when its
    /// timestamp is the recent clock's (see
    /// [`SampleRing::push_stamped`]). Returns the timestamp kept: a
    /// buffered sample keeps its own, as the order of samples buffered by
    /// different threads is theirs to race for.
    #[inline(always)]
    pub(crate) fn keep(&self, sample: Sample, cutoff: i64, max_len: usize, stamped: bool) -> i64 {
        if let Some(buffers) = self.buffers.get() {
            self.push_buffered(buffers, sample, cutoff, max_len);
            return sample.ts;
        }
        match self.ring.try_lock() {
            Some(mut ring) if stamped => ring.push_stamped(sample, cutoff, max_len),
            Some(mut ring) => {
                ring.push(sample, cutoff, max_len);
                sample.ts
            }
            None => {
                self.push_contended(sample, cutoff, max_len);
                sample.ts
            }
        }
    }

    /// The first collision: grows the buffers.
    #[cold]
    fn push_contended(&self, sample: Sample, cutoff: i64, max_len: usize) {
        let buffers = self
            .buffers
            .get_or_init(|| (0..cell_count()).map(|_| Buffer::default()).collect());
        self.push_buffered(buffers, sample, cutoff, max_len);
    }

    fn push_buffered(&self, buffers: &[Buffer], sample: Sample, cutoff: i64, max_len: usize) {
        let mask = buffers.len() - 1;
        let mut buffer = match buffers[probe() & mask].0.try_lock() {
            Ok(b) => b,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            // Another thread shares this slot: move to another, as counters do.
            Err(TryLockError::WouldBlock) => buffers[rehash_probe() & mask]
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        };
        buffer.push(sample);
        if buffer.len() < BATCH {
            return;
        }
        // Merge if the ring is free; while another thread holds it, keep
        // buffering (up to `MAX_BUFFERED`) rather than wait for it.
        match self.ring.try_lock() {
            Some(mut ring) => return ring.push_batch(&mut buffer, cutoff, max_len),
            None if buffer.len() < MAX_BUFFERED => return,
            None => {}
        }
        let mut batch = std::mem::replace(&mut *buffer, Vec::with_capacity(BATCH));
        // Never wait for the ring while holding a buffer: `lock` takes them
        // in the other order.
        drop(buffer);
        self.lock_ring().push_batch(&mut batch, cutoff, max_len);
    }

    fn lock_ring(&self) -> SpinGuard<'_, SampleRing> {
        self.ring.lock()
    }

    /// The ring with every buffered sample merged in and samples older than
    /// `cutoff` expired; `max_len` caps what the merge adds.
    pub(crate) fn lock(&self, cutoff: i64, max_len: usize) -> SpinGuard<'_, SampleRing> {
        let mut ring = self.lock_ring();
        if let Some(buffers) = self.buffers.get() {
            for buffer in buffers.iter() {
                let mut buffer = buffer.0.lock().unwrap_or_else(PoisonError::into_inner);
                if !buffer.is_empty() {
                    ring.push_batch(&mut buffer, cutoff, max_len);
                }
            }
        }
        ring.expire(cutoff);
        ring
    }

    /// Heap bytes of the ring and the buffers.
    pub(crate) fn heap_bytes(&self) -> usize {
        let buffers = self.buffers.get().map_or(0, |buffers| {
            size_of_val(&**buffers)
                + buffers
                    .iter()
                    .map(|b| b.0.lock().unwrap_or_else(PoisonError::into_inner).capacity() * size_of::<Sample>())
                    .sum::<usize>()
        });
        self.lock_ring().heap_bytes() + buffers
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn s(ts: i64, tags: u32) -> Sample {
        Sample {
            ts,
            value: ts as f64,
            tags,
        }
    }

    #[test]
    fn a_push_that_finds_the_ring_locked_is_buffered_and_seen_by_the_next_read() {
        let store = SampleStore::default();
        store.push(s(10, 0), i64::MIN, usize::MAX);
        {
            let _held = store.lock_ring();
            std::thread::scope(|scope| {
                scope.spawn(|| store.push(s(5, 1), i64::MIN, usize::MAX));
            });
        }
        assert!(store.buffers.get().is_some(), "the collision grew the buffers");
        let ring = store.lock(i64::MIN, usize::MAX);
        let kept: Vec<(i64, u32)> = ring.iter().map(|s| (s.ts, s.tags)).collect();
        assert_eq!(kept, vec![(5, 1), (10, 0)]);
    }

    #[test]
    fn a_full_buffer_keeps_growing_while_another_thread_holds_the_ring() {
        let store = SampleStore::default();
        let held = store.lock_ring();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for i in 0..3 * BATCH as i64 {
                    store.push(s(i, 0), i64::MIN, usize::MAX);
                }
                done.send(()).unwrap();
            });
            // Pushes past a full batch must not wait for the held ring.
            let waited = finished.recv_timeout(std::time::Duration::from_secs(30));
            drop(held);
            assert!(
                waited.is_ok(),
                "a push waited for the ring with fewer than MAX_BUFFERED samples buffered"
            );
        });
        let ring = store.lock(i64::MIN, usize::MAX);
        assert_eq!(ring.len(), 3 * BATCH);
        assert!(ring.iter().zip(ring.iter().skip(1)).all(|(a, b)| a.ts < b.ts));
    }

    #[test]
    fn threads_lose_no_sample_and_the_cap_holds_after_a_read() {
        let store = Arc::new(SampleStore::default());
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        store.push(s(i64::from(i * 4 + t as i32), t), i64::MIN, usize::MAX);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let ring = store.lock(i64::MIN, usize::MAX);
        assert_eq!(ring.len(), 40_000);
        assert!(ring.iter().zip(ring.iter().skip(1)).all(|(a, b)| a.ts <= b.ts));
        for t in 0..4 {
            assert_eq!(ring.iter().filter(|s| s.tags == t).count(), 10_000);
        }
    }

    #[test]
    fn buffered_samples_obey_cap_and_retention_when_merged() {
        let store = SampleStore::default();
        store.push_contended(s(1, 0), i64::MIN, 2);
        store.push(s(50, 0), i64::MIN, 2);
        store.push(s(60, 0), i64::MIN, 2);
        store.push(s(70, 0), i64::MIN, 2);
        let ring = store.lock(55, 2);
        let kept: Vec<i64> = ring.iter().map(|s| s.ts).collect();
        assert_eq!(kept, vec![60, 70]);
        assert_eq!(ring.expired() + ring.dropped(), 2);
    }
}
