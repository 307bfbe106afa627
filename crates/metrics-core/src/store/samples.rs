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
//! A busy series (past [`BUSY`] samples) also gives each of its first
//! [`OWNERS`](crate::store::owned::OWNERS) recording threads a buffer of
//! its own ([`crate::store::owned`]): a push there takes no locked
//! instruction at all, and the thread meets the ring's lock once per
//! [`LEN`](crate::store::owned::LEN) samples. While one thread owns a
//! buffer, its stamped samples break ties as the ring does (strictly
//! increasing in arrival order); once two or more do, samples stamped
//! alike keep the clock's time, as collision-buffered ones always have.
//!
//! Every read goes through [`SampleStore::lock`], which merges every buffer
//! first: a push that has returned is visible to every read that starts
//! after it. The count cap and retention apply at the merge, so a series
//! holds at most its cap plus [`MAX_BUFFERED`] samples per collision buffer
//! and `LEN` per owned buffer.

use std::sync::{Mutex, OnceLock, PoisonError, TryLockError};

use once_cell::race::OnceBox;

use crate::store::owned::{BUSY, OwnedBuffer, OwnedBuffers};
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
    /// The buffers of the first threads to keep samples in this series once
    /// it is busy ([`crate::store::owned`]).
    owned: OnceBox<OwnedBuffers>,
}

/// Whether the ring has seen enough samples to be worth owned buffers.
#[inline(always)]
fn is_busy(ring: &SampleRing) -> bool {
    ring.len() as u64 + ring.dropped() + ring.expired() >= BUSY
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
        if let Some(owned) = self.owned.get()
            && let Some(mine) = owned.mine()
        {
            return match mine.push(sample, stamped && owned.has_one_owner()) {
                Ok(ts) => ts,
                Err(sample) => self.flush_owned(mine, sample, cutoff, max_len),
            };
        }
        if let Some(buffers) = self.buffers.get() {
            self.push_buffered(buffers, sample, cutoff, max_len);
            return sample.ts;
        }
        match self.ring.try_lock() {
            Some(mut ring) => {
                let ts = if stamped {
                    ring.push_stamped(sample, cutoff, max_len)
                } else {
                    ring.push(sample, cutoff, max_len);
                    sample.ts
                };
                self.claim_if_busy(&ring);
                ts
            }
            None => {
                self.push_contended(sample, cutoff, max_len);
                sample.ts
            }
        }
    }

    /// This thread's owned buffer is full: drain it into the ring, then
    /// keep `sample` (its timestamp already final) in it. While another
    /// thread holds the ring, `sample` goes to the collision buffers
    /// instead: a push never waits for the ring while there is room.
    #[cold]
    #[inline(never)]
    fn flush_owned(&self, mine: &OwnedBuffer, sample: Sample, cutoff: i64, max_len: usize) -> i64 {
        let Some(mut ring) = self.ring.try_lock() else {
            self.push_contended(sample, cutoff, max_len);
            return sample.ts;
        };
        // SAFETY: the ring lock is held.
        unsafe { mine.drain_into(&mut ring, cutoff, max_len) };
        match mine.push(sample, false) {
            Ok(ts) => ts,
            // Not reached: only this thread fills its buffer, just drained.
            Err(sample) => {
                ring.push(sample, cutoff, max_len);
                sample.ts
            }
        }
    }

    /// After a push into the held `ring` by a thread without an owned
    /// buffer: once the series is busy, gives this thread one if any is
    /// left (one relaxed load per push once all are claimed).
    #[inline(always)]
    fn claim_if_busy(&self, ring: &SampleRing) {
        if is_busy(ring) && self.owned.get().is_none_or(OwnedBuffers::claimable) {
            self.claim_owned(ring);
        }
    }

    #[cold]
    #[inline(never)]
    fn claim_owned(&self, ring: &SampleRing) {
        let owned = self.owned.get_or_init(Box::default);
        if owned.mine().is_none() && owned.claimable() {
            owned.claim(ring.newest().unwrap_or(i64::MIN));
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
            Some(mut ring) => {
                ring.push_batch(&mut buffer, cutoff, max_len);
                return self.claim_if_busy(&ring);
            }
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
        if let Some(owned) = self.owned.get() {
            // SAFETY: the ring lock is held.
            unsafe { owned.drain_all(&mut ring, cutoff, max_len) };
        }
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
        let owned = self.owned.get().map_or(0, |_| size_of::<OwnedBuffers>());
        self.lock_ring().heap_bytes() + buffers + owned
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

    use crate::store::owned::{BUSY, LEN, OWNERS};

    /// Pushes enough samples from this thread to make the series busy and
    /// give this thread an owned buffer.
    fn make_busy(store: &SampleStore, tags: u32) -> i64 {
        let n = i64::try_from(BUSY).unwrap();
        for ts in 0..n {
            store.push(s(ts, tags), i64::MIN, usize::MAX);
        }
        n
    }

    fn owns_a_buffer(store: &SampleStore) -> bool {
        store.owned.get().is_some_and(|o| o.mine().is_some())
    }

    #[test]
    fn a_busy_series_gives_its_thread_a_buffer_whose_samples_every_read_sees() {
        let store = SampleStore::default();
        let mut ts = make_busy(&store, 0);
        assert!(owns_a_buffer(&store), "{BUSY} samples make a series busy");
        // Fewer than a buffer's worth, so none has reached the ring yet.
        for _ in 0..LEN / 2 {
            store.push(s(ts, 1), i64::MIN, usize::MAX);
            ts += 1;
        }
        let ring = store.lock(i64::MIN, usize::MAX);
        let kept: Vec<i64> = ring.iter().map(|s| s.ts).collect();
        assert_eq!(kept, (0..ts).collect::<Vec<_>>());
        drop(ring);
        // Through many buffer flushes, capped when read.
        for _ in 0..10 * LEN {
            store.push(s(ts, 2), i64::MIN, 300);
            ts += 1;
        }
        let ring = store.lock(i64::MIN, 300);
        assert_eq!(ring.len(), 300);
        assert_eq!(ring.dropped(), u64::try_from(ts).unwrap() - 300);
        assert_eq!(ring.iter().next().map(|s| s.ts), Some(ts - 300));
        assert_eq!(ring.iter().last().map(|s| s.ts), Some(ts - 1));
    }

    #[test]
    fn stamped_ties_strictly_increase_through_a_single_owned_buffer() {
        let store = SampleStore::default();
        let mut kept = Vec::new();
        for i in 0..3 * BUSY {
            // Every sample read the clock alike.
            kept.push(store.keep(s(1_000, u32::try_from(i % 3).unwrap()), i64::MIN, usize::MAX, true));
        }
        assert!(owns_a_buffer(&store));
        let expected: Vec<i64> = (1_000..1_000 + 3 * i64::try_from(BUSY).unwrap()).collect();
        assert_eq!(kept, expected, "the timestamps handed back (to a sink)");
        let ring = store.lock(i64::MIN, usize::MAX);
        let in_ring: Vec<(i64, u32)> = ring.iter().map(|s| (s.ts, s.tags)).collect();
        let arrival: Vec<(i64, u32)> = expected.iter().zip((0..3).cycle()).map(|(t, g)| (*t, g)).collect();
        assert_eq!(in_ring, arrival);
    }

    #[test]
    fn threads_past_the_owners_lose_no_sample() {
        let store = SampleStore::default();
        let threads = OWNERS + 2;
        std::thread::scope(|scope| {
            for t in 0..threads {
                let store = &store;
                scope.spawn(move || {
                    for i in 0..5_000 {
                        store.keep(s(i, u32::try_from(t).unwrap()), i64::MIN, usize::MAX, true);
                    }
                });
            }
        });
        let owned = store.owned.get().expect("a busy series has owned buffers");
        assert!(!owned.claimable(), "{threads} threads claim all {OWNERS} buffers");
        let ring = store.lock(i64::MIN, usize::MAX);
        assert_eq!(ring.len(), 5_000 * threads);
        assert!(ring.iter().zip(ring.iter().skip(1)).all(|(a, b)| a.ts <= b.ts));
        for t in 0..threads {
            let t = u32::try_from(t).unwrap();
            assert_eq!(ring.iter().filter(|s| s.tags == t).count(), 5_000, "thread {t}");
        }
    }

    #[test]
    fn an_exited_owners_buffered_samples_are_still_read() {
        let store = SampleStore::default();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let ts = make_busy(&store, 0);
                assert!(owns_a_buffer(&store));
                for i in 0..LEN / 2 {
                    store.push(s(ts + i64::try_from(i).unwrap(), 7), i64::MIN, usize::MAX);
                }
            });
        });
        assert!(!owns_a_buffer(&store), "the claim was the other thread's");
        let ring = store.lock(i64::MIN, usize::MAX);
        assert_eq!(ring.len(), usize::try_from(BUSY).unwrap() + LEN / 2);
        assert_eq!(ring.iter().filter(|s| s.tags == 7).count(), LEN / 2);
    }

    #[test]
    fn a_full_owned_buffer_does_not_wait_for_a_held_ring() {
        let store = SampleStore::default();
        let ts = make_busy(&store, 0);
        assert!(owns_a_buffer(&store));
        let held = store.lock_ring();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            // The reader holds the ring on another thread while this
            // one, the owner, fills its buffer three times over.
            scope.spawn(move || {
                let waited = finished.recv_timeout(std::time::Duration::from_secs(30));
                drop(held);
                assert!(waited.is_ok(), "a push with a full buffer waited for the ring");
            });
            for i in 0..3 * LEN {
                store.push(s(ts + i64::try_from(i).unwrap(), 1), i64::MIN, usize::MAX);
            }
            done.send(()).unwrap();
        });
        let ring = store.lock(i64::MIN, usize::MAX);
        assert_eq!(ring.len(), usize::try_from(BUSY).unwrap() + 3 * LEN);
        assert!(ring.iter().zip(ring.iter().skip(1)).all(|(a, b)| a.ts < b.ts));
    }
}
