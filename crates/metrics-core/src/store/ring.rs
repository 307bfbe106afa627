//! `SampleRing`: the retained, timestamped samples of one series.
//!
//! Samples are 24 bytes (timestamp, value, tag-set id) and live in fixed-size
//! chunks, so memory is the retained samples plus at most two partly used
//! chunks — never the doubling slack of a growing `Vec`. Inserting is O(1)
//! amortized: pruning pops from the front, and every sample is popped at most
//! once.

use std::collections::VecDeque;

/// Samples per chunk: 512 × 24 B = 12 KiB.
const CHUNK: usize = 512;

/// How far behind a series' newest sample one stamped by the recent clock
/// may be and still be moved past it ([`SampleRing::push_stamped`]): one
/// update period of the clock, what samples stamped alike can differ by.
const TIE_WINDOW: u64 = crate::clock::RECENT_PERIOD.as_nanos() as u64;

/// A chunk that holds [`CHUNK`] samples: one pointer, where a `Vec` is
/// three (the ring and its queue of chunks stay small).
type FullChunk = Box<[Sample; CHUNK]>;

/// One retained sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// Nanoseconds since the Unix epoch (UTC).
    pub(crate) ts: i64,
    pub(crate) value: f64,
    /// Index of the tag set in the series' tag index.
    pub(crate) tags: u32,
}

/// A FIFO of samples with age and count limits.
///
/// The samples, oldest first, are `oldest[head..]`, every chunk of
/// `middle`, then `back` (or `back[head..]` when there is no `oldest`:
/// `head` always counts the samples popped from the oldest chunk). Keeping
/// the chunk being filled and the oldest chunk apart from the ones between
/// makes the common push one look at `back` and one at the oldest sample,
/// with no index arithmetic over the chunk queue.
#[derive(Debug, Default)]
pub(crate) struct SampleRing {
    /// The oldest chunk (full, [`CHUNK`] samples) when the ring has more
    /// than one; else `back` is the oldest.
    oldest: Option<FullChunk>,
    /// Full chunks between `oldest` and `back`, oldest first; empty while
    /// `oldest` is `None`.
    middle: VecDeque<FullChunk>,
    /// The newest chunk: its capacity is at most [`CHUNK`], and it is empty
    /// (perhaps unallocated) only when it is the only chunk or just rotated.
    back: Vec<Sample>,
    /// Samples popped from the oldest chunk (`oldest`, else `back`).
    head: usize,
    len: usize,
    /// Samples evicted by the count cap (age-based expiry is not counted).
    dropped: u64,
    /// Samples expired by retention age.
    expired: u64,
    /// A chunk kept for reuse so a ring at its cap does not allocate.
    spare: Option<FullChunk>,
}

impl SampleRing {
    /// A ring that holds nothing (what a series that never kept a sample reads).
    pub(crate) const EMPTY: SampleRing = SampleRing {
        oldest: None,
        middle: VecDeque::new(),
        back: Vec::new(),
        head: 0,
        len: 0,
        dropped: 0,
        expired: 0,
        spare: None,
    };

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    pub(crate) fn expired(&self) -> u64 {
        self.expired
    }

    /// Inserts `sample` in timestamp order, then drops samples older than
    /// `cutoff` (ns) and the oldest samples beyond `max_len`.
    ///
    /// A sample already older than `cutoff` is not kept (it counts as
    /// expired). A sample older than the newest one (a backdated timestamp,
    /// or two threads racing between reading the clock and locking) is moved
    /// back to its place, at a cost proportional to the number of newer
    /// samples, so that the ring stays sorted and expiry from the front
    /// stays correct.
    ///
    /// Expiring after the append rather than before drops and counts the
    /// same samples: the new one is inside retention and the newest, so
    /// expiry from the front stops before it.
    #[inline]
    pub(crate) fn push(&mut self, sample: Sample, cutoff: i64, max_len: usize) {
        self.push_as(sample, cutoff, max_len, false);
    }

    /// [`push`](Self::push) of a sample stamped by the collector's recent
    /// clock, which many samples read alike: at or at most [`TIE_WINDOW`]
    /// behind the newest sample, it is moved to one nanosecond past it, so
    /// that the ring's samples strictly increase in the order they arrived
    /// and every later sort by time keeps that order (across tag sets, in a
    /// durable store). Returns the timestamp kept.
    #[inline]
    pub(crate) fn push_stamped(&mut self, sample: Sample, cutoff: i64, max_len: usize) -> i64 {
        self.push_as(sample, cutoff, max_len, true)
    }

    /// [`push`](Self::push), moving a tie first when `stamped`
    /// ([`push_stamped`](Self::push_stamped)); returns the timestamp kept.
    #[inline(always)]
    fn push_as(&mut self, mut sample: Sample, cutoff: i64, max_len: usize, stamped: bool) -> i64 {
        if let Some(&Sample { ts: newest, .. }) = self.back.last() {
            if stamped {
                sample.ts = past_tie(newest, sample.ts);
            }
            // The common case: inside retention, room in the back chunk
            // without growing it, and no older than the newest sample.
            if sample.ts >= cutoff && self.back.len() < self.back.capacity() && newest <= sample.ts {
                self.back.push(sample);
                self.len += 1;
                // The oldest chunk, found once for the expiry check and the pop.
                let oldest = self.oldest_chunk();
                let (oldest_len, expired) = (oldest.len(), oldest.get(self.head).is_none_or(|f| f.ts < cutoff));
                // Sorted: when the oldest sample is inside retention, all are.
                if expired {
                    self.trim(cutoff, max_len);
                    return sample.ts;
                }
                if self.len > max_len {
                    // A ring at its cap (the steady state of a busy series):
                    // one sample out for the one in.
                    self.head += 1;
                    self.len -= 1;
                    self.dropped += 1;
                    if self.head >= oldest_len {
                        self.drop_oldest_chunk();
                    }
                    if self.len > max_len {
                        // The cap was lowered.
                        self.trim(cutoff, max_len);
                    }
                }
                return sample.ts;
            }
        } else if stamped && let Some(newest) = self.newest_ts() {
            // `back` is empty just after a rotation.
            sample.ts = past_tie(newest, sample.ts);
        }
        self.push_uncommon(sample, cutoff, max_len);
        sample.ts
    }

    /// The newest sample's timestamp, wherever it is (`back` is empty just
    /// after a rotation).
    #[cold]
    fn newest_ts(&self) -> Option<i64> {
        self.iter_newest_first().next().map(|s| s.ts)
    }

    /// [`push`](Self::push) of a sample outside retention, out of order, or
    /// into a back chunk that must grow or rotate first.
    #[cold]
    #[inline(never)]
    fn push_uncommon(&mut self, sample: Sample, cutoff: i64, max_len: usize) {
        self.expire(cutoff);
        if sample.ts < cutoff {
            self.expired += 1;
            return;
        }
        self.push_back(sample);
        self.sift_back_into_order();
        self.cap(max_len);
    }

    /// Expires samples older than `cutoff`, then caps the length at `max_len`.
    #[cold]
    #[inline(never)]
    fn trim(&mut self, cutoff: i64, max_len: usize) {
        self.expire(cutoff);
        self.cap(max_len);
    }

    /// Inserts `batch` (any order) as [`push`](Self::push) would insert each
    /// sample, in time O(batch + retained samples newer than the batch's
    /// oldest): the newer tail of the ring is taken off and merged with the
    /// sorted batch. Leaves `batch` empty.
    pub(crate) fn push_batch(&mut self, batch: &mut Vec<Sample>, cutoff: i64, max_len: usize) {
        self.expire(cutoff);
        // Stable: samples of one thread with equal timestamps keep their order.
        batch.sort_by_key(|s| s.ts);
        let Some(oldest) = batch.first().map(|s| s.ts) else {
            return;
        };
        let mut tail = Vec::new();
        while let Some(back) = self.pop_back_newer_than(oldest) {
            tail.push(back);
        }
        tail.reverse();
        let (mut kept, mut new) = (tail.into_iter().peekable(), batch.drain(..).peekable());
        loop {
            // Equal timestamps: the samples already kept come first.
            let take_kept = match (kept.peek(), new.peek()) {
                (Some(k), Some(n)) => k.ts <= n.ts,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let sample = if take_kept { kept.next() } else { new.next() };
            match sample {
                Some(s) if s.ts < cutoff => self.expired += 1,
                Some(s) => self.push_back(s),
                None => break,
            }
        }
        self.cap(max_len);
    }

    /// Appends without ordering or capping.
    fn push_back(&mut self, sample: Sample) {
        if self.back.len() == self.back.capacity() {
            self.grow_back();
        }
        self.back.push(sample);
        self.len += 1;
    }

    /// Makes room for one more sample in `back`.
    ///
    /// The first chunk of a ring starts with room for one sample and grows
    /// by doubling to a full chunk, so a series that holds one sample costs
    /// 24 bytes for it, not 12 KiB (a million series with a sample each
    /// would otherwise reserve 12 GiB). Later chunks are allocated whole:
    /// a ring that filled one chunk is busy.
    #[cold]
    fn grow_back(&mut self) {
        if self.back.len() == CHUNK {
            let next = self.take_spare().unwrap_or_else(|| Vec::with_capacity(CHUNK));
            let filled = match FullChunk::try_from(std::mem::replace(&mut self.back, next)) {
                Ok(filled) => filled,
                // Not reached (`back` holds CHUNK samples): it stays the
                // back chunk and grows, losing nothing.
                Err(not_full) => {
                    self.back = not_full;
                    return;
                }
            };
            if self.oldest.is_none() {
                // `head` indexes this chunk, the oldest, in its new place.
                self.oldest = Some(filled);
            } else {
                if self.middle.capacity() == 0 {
                    // Most series never need a third chunk.
                    self.middle.reserve_exact(1);
                }
                self.middle.push_back(filled);
            }
        } else if self.back.capacity() == 0 {
            // An empty ring.
            self.back = self.take_spare().unwrap_or_else(|| Vec::with_capacity(1));
        } else {
            let grown = (self.back.capacity() * 2).min(CHUNK);
            self.back.reserve_exact(grown - self.back.len());
        }
    }

    /// Keeps `chunk` as the spare if it is a whole chunk and there is none
    /// (rare: a back chunk given up by a batch merge or an emptied ring;
    /// its unused slots are filled so that it becomes a [`FullChunk`]).
    fn recycle(&mut self, mut chunk: Vec<Sample>) {
        if self.spare.is_none() && chunk.capacity() == CHUNK {
            chunk.resize(
                CHUNK,
                Sample {
                    ts: 0,
                    value: 0.0,
                    tags: 0,
                },
            );
            self.spare = FullChunk::try_from(chunk).ok();
        }
    }

    /// Keeps a full chunk as the spare if there is none.
    fn recycle_full(&mut self, chunk: FullChunk) {
        if self.spare.is_none() {
            self.spare = Some(chunk);
        }
    }

    /// The spare chunk as an empty `Vec` with room for [`CHUNK`] samples.
    fn take_spare(&mut self) -> Option<Vec<Sample>> {
        self.spare.take().map(|chunk| {
            let mut chunk = into_vec(chunk);
            chunk.clear();
            chunk
        })
    }

    /// Removes and returns the newest sample if it is newer than `ts`.
    fn pop_back_newer_than(&mut self, ts: i64) -> Option<Sample> {
        if self.len == 0 {
            return None;
        }
        if self.back.is_empty() {
            // Just rotated: the newest samples are in the last full chunk
            // (`oldest` when there is none between: it becomes `back`, the
            // oldest chunk, which `head` still indexes).
            let last = self.middle.pop_back().or_else(|| self.oldest.take())?;
            let empty = std::mem::replace(&mut self.back, into_vec(last));
            self.recycle(empty);
        }
        let newest = *self.back.last()?;
        if newest.ts <= ts {
            return None;
        }
        self.back.pop();
        self.len -= 1;
        if self.len == 0 {
            self.release_empty();
        }
        Some(newest)
    }

    /// Once the ring holds nothing: gives its chunks back (one as the spare).
    fn release_empty(&mut self) {
        self.head = 0;
        if let Some(chunk) = self.oldest.take() {
            self.recycle_full(chunk);
        }
        while let Some(chunk) = self.middle.pop_front() {
            self.recycle_full(chunk);
        }
        let back = std::mem::take(&mut self.back);
        self.recycle(back);
    }

    /// Drops the oldest samples beyond `max_len`.
    #[inline]
    fn cap(&mut self, max_len: usize) {
        while self.len > max_len {
            self.pop_front();
            self.dropped += 1;
        }
    }

    /// Moves the newest-pushed sample towards the front past every sample
    /// with a later timestamp (equal timestamps keep insertion order).
    fn sift_back_into_order(&mut self) {
        // The common case: the new sample is no older than the one before it
        // in the same chunk.
        let from = if self.oldest.is_none() { self.head } else { 0 };
        if let [.., before, newest] = &self.back[from..]
            && before.ts <= newest.ts
        {
            return;
        }
        let head = self.head;
        let oldest = self.oldest.as_mut().map(|c| &mut c[head..]);
        let back = if oldest.is_some() {
            &mut self.back[..]
        } else {
            &mut self.back[head..]
        };
        let mut newest_first = std::iter::once(back)
            .chain(self.middle.iter_mut().rev().map(|c| &mut c[..]))
            .chain(oldest)
            .flat_map(|c| c.iter_mut().rev());
        let Some(mut moving) = newest_first.next() else {
            return;
        };
        for earlier in newest_first {
            if earlier.ts <= moving.ts {
                break;
            }
            std::mem::swap(earlier, moving);
            moving = earlier;
        }
    }

    /// Drops samples at the front older than `cutoff` (ns since epoch).
    #[inline]
    pub(crate) fn expire(&mut self, cutoff: i64) {
        while let Some(front) = self.front() {
            if front.ts >= cutoff {
                break;
            }
            self.pop_front();
            self.expired += 1;
        }
    }

    /// The oldest chunk: `oldest`, else `back`.
    #[inline(always)]
    fn oldest_chunk(&self) -> &[Sample] {
        match &self.oldest {
            Some(oldest) => &oldest[..],
            None => &self.back,
        }
    }

    /// The oldest sample.
    #[inline]
    fn front(&self) -> Option<&Sample> {
        self.oldest_chunk().get(self.head)
    }

    /// Drops the oldest sample; the ring holds one.
    #[inline]
    fn pop_front(&mut self) {
        if self.len == 0 {
            return;
        }
        self.head += 1;
        self.len -= 1;
        let oldest_len = self.oldest_chunk().len();
        if self.head >= oldest_len {
            self.drop_oldest_chunk();
        }
    }

    /// The oldest chunk is used up: recycle it.
    #[cold]
    fn drop_oldest_chunk(&mut self) {
        self.head = 0;
        match self.oldest.take() {
            Some(chunk) => {
                self.oldest = self.middle.pop_front();
                self.recycle_full(chunk);
            }
            None => self.release_empty(),
        }
    }

    /// The retained samples in chunks, oldest first.
    fn slices(&self) -> impl DoubleEndedIterator<Item = &[Sample]> + '_ {
        let head = self.head;
        let oldest = self.oldest.as_ref().map(|c| &c[head..]);
        let back = if oldest.is_some() {
            &self.back[..]
        } else {
            &self.back[head..]
        };
        oldest
            .into_iter()
            .chain(self.middle.iter().map(|c| &c[..]))
            .chain(std::iter::once(back))
    }

    /// Every retained sample, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Sample> + '_ {
        self.slices().flat_map(|c| c.iter())
    }

    /// Every retained sample, newest first.
    pub(crate) fn iter_newest_first(&self) -> impl Iterator<Item = &Sample> + '_ {
        self.slices().rev().flat_map(|c| c.iter().rev())
    }

    /// The newest sample for which `keep` holds.
    pub(crate) fn last_where(&self, mut keep: impl FnMut(&Sample) -> bool) -> Option<Sample> {
        self.iter_newest_first().find(|s| keep(s)).copied()
    }

    /// Heap bytes held by the ring.
    pub(crate) fn heap_bytes(&self) -> usize {
        let whole = usize::from(self.oldest.is_some()) + self.middle.len() + usize::from(self.spare.is_some());
        whole * size_of::<[Sample; CHUNK]>()
            + self.back.capacity() * size_of::<Sample>()
            + self.middle.capacity() * size_of::<FullChunk>()
    }
}

/// `ts`, or one nanosecond past `newest` when `ts` is at or at most
/// [`TIE_WINDOW`] behind it.
#[inline(always)]
fn past_tie(newest: i64, ts: i64) -> i64 {
    // When `ts <= newest` their difference is in [0, 2^64): exact as the
    // unsigned reading of the wrapped difference.
    if ts <= newest && newest.wrapping_sub(ts) as u64 <= TIE_WINDOW {
        newest.saturating_add(1)
    } else {
        ts
    }
}

/// A full chunk as a `Vec` of its [`CHUNK`] samples (the same allocation).
fn into_vec(chunk: FullChunk) -> Vec<Sample> {
    let chunk: Box<[Sample]> = chunk;
    chunk.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ts: i64) -> Sample {
        Sample {
            ts,
            value: ts as f64,
            tags: 0,
        }
    }

    #[test]
    fn sample_is_24_bytes() {
        assert_eq!(size_of::<Sample>(), 24);
    }

    #[test]
    fn keeps_order_and_caps_length() {
        let mut r = SampleRing::default();
        for i in 0..2_000 {
            r.push(s(i), i64::MIN, 1_000);
        }
        assert_eq!(r.len(), 1_000);
        assert_eq!(r.dropped(), 1_000);
        let ts: Vec<i64> = r.iter().map(|s| s.ts).collect();
        assert_eq!(ts, (1_000..2_000).collect::<Vec<_>>());
    }

    #[test]
    fn expires_by_age() {
        let mut r = SampleRing::default();
        for i in 0..10 {
            r.push(s(i * 10), i64::MIN, usize::MAX);
        }
        r.expire(45);
        assert_eq!(r.iter().map(|s| s.ts).collect::<Vec<_>>(), vec![50, 60, 70, 80, 90]);
        assert_eq!(r.expired(), 5);
        assert_eq!(r.dropped(), 0);
        r.push(s(200), 100, usize::MAX);
        assert_eq!(r.iter().map(|s| s.ts).collect::<Vec<_>>(), vec![200]);
    }

    #[test]
    fn out_of_order_samples_are_kept_in_time_order() {
        let mut r = SampleRing::default();
        for ts in (0..600).map(|i| i * 10) {
            r.push(s(ts), i64::MIN, usize::MAX);
        }
        // Lands in the first chunk, behind 595 newer samples across a chunk boundary.
        r.push(s(45), i64::MIN, usize::MAX);
        r.push(s(5_985), i64::MIN, usize::MAX);
        let ts: Vec<i64> = r.iter().map(|s| s.ts).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(r.len(), 602);
        r.expire(50);
        assert_eq!(r.iter().next().map(|s| s.ts), Some(50));
        assert_eq!(r.expired(), 6);
    }

    #[test]
    fn a_sample_older_than_the_cutoff_is_not_kept() {
        let mut r = SampleRing::default();
        r.push(s(100), 50, usize::MAX);
        r.push(s(10), 50, usize::MAX);
        assert_eq!(r.iter().map(|s| s.ts).collect::<Vec<_>>(), vec![100]);
        assert_eq!(r.expired(), 1);
    }

    #[test]
    fn a_ring_with_one_sample_allocates_for_one() {
        let mut r = SampleRing::default();
        assert_eq!(r.heap_bytes(), 0);
        r.push(s(1), i64::MIN, usize::MAX);
        assert!(r.heap_bytes() <= 64, "{} bytes for one sample", r.heap_bytes());
        for i in 2..=2_000 {
            r.push(s(i), i64::MIN, usize::MAX);
        }
        let ts: Vec<i64> = r.iter().map(|s| s.ts).collect();
        assert_eq!(ts, (1..=2_000).collect::<Vec<_>>());
    }

    #[test]
    fn memory_is_bounded_at_cap() {
        let mut r = SampleRing::default();
        for i in 0..100_000 {
            r.push(s(i), i64::MIN, 10_000);
        }
        let per_sample = r.heap_bytes() as f64 / r.len() as f64;
        assert!(per_sample <= 28.0, "{per_sample} bytes per sample");
    }

    #[test]
    fn a_batch_merges_into_time_order_like_single_pushes() {
        let mut one_by_one = SampleRing::default();
        let mut batched = SampleRing::default();
        // Two interleaved "threads" whose samples reach the ring in batches.
        let a: Vec<Sample> = (0..700).map(|i| s(i * 2)).collect();
        let b: Vec<Sample> = (0..700).map(|i| s(i * 2 + 1)).collect();
        for chunk in a.chunks(64).zip(b.chunks(64)) {
            for x in chunk.0.iter().chain(chunk.1) {
                one_by_one.push(*x, 100, 1_000);
            }
            batched.push_batch(&mut chunk.0.to_vec(), 100, 1_000);
            batched.push_batch(&mut chunk.1.to_vec(), 100, 1_000);
        }
        let ts = |r: &SampleRing| r.iter().map(|s| s.ts).collect::<Vec<_>>();
        assert_eq!(ts(&batched), ts(&one_by_one));
        assert_eq!(batched.len(), 1_000);
        assert_eq!(batched.dropped(), one_by_one.dropped());
        assert_eq!(batched.expired(), one_by_one.expired());
        assert_eq!(
            batched.expired(),
            100,
            "samples before the cutoff are counted, not kept"
        );
    }

    #[test]
    fn a_batch_older_than_everything_lands_in_front() {
        let mut r = SampleRing::default();
        for i in 100..1_200 {
            r.push(s(i), i64::MIN, usize::MAX);
        }
        r.push_batch(&mut vec![s(7), s(3), s(5)], i64::MIN, usize::MAX);
        let ts: Vec<i64> = r.iter().map(|s| s.ts).collect();
        assert_eq!(&ts[..4], &[3, 5, 7, 100]);
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(r.len(), 1_103);
        let mut empty = Vec::new();
        r.push_batch(&mut empty, i64::MIN, usize::MAX);
        assert_eq!(r.len(), 1_103);
    }

    /// The ring's contract in its simplest form: a sorted vector.
    #[derive(Default)]
    struct Model {
        samples: Vec<Sample>,
        dropped: u64,
        expired: u64,
    }

    impl Model {
        fn expire(&mut self, cutoff: i64) {
            let old = self.samples.iter().take_while(|s| s.ts < cutoff).count();
            self.samples.drain(..old);
            self.expired += old as u64;
        }
        fn insert(&mut self, sample: Sample, cutoff: i64) {
            if sample.ts < cutoff {
                self.expired += 1;
            } else {
                let at = self.samples.partition_point(|s| s.ts <= sample.ts);
                self.samples.insert(at, sample);
            }
        }
        fn cap(&mut self, max_len: usize) {
            let over = self.samples.len().saturating_sub(max_len);
            self.samples.drain(..over);
            self.dropped += over as u64;
        }
    }

    #[test]
    fn pushes_batches_and_expiry_agree_with_a_sorted_vector() {
        // A fixed xorshift sequence: mostly ordered pushes, some backdated,
        // some batches, expiry and caps that cross chunk boundaries.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for max_len in [1, 3, 700, 1_500, usize::MAX] {
            let (mut ring, mut model) = (SampleRing::default(), Model::default());
            let (mut now, mut cutoff) = (0i64, i64::MIN);
            for i in 0..6_000u32 {
                now += (next() % 3) as i64;
                let ts = if next() % 10 == 0 {
                    now - (next() % 600) as i64
                } else {
                    now
                };
                let sample = Sample {
                    ts,
                    value: f64::from(i),
                    tags: i,
                };
                match next() % 50 {
                    0 => {
                        let mut batch: Vec<Sample> = (0..(next() % 80))
                            .map(|j| Sample {
                                ts: now - (next() % 300) as i64,
                                value: 0.0,
                                tags: i + j as u32,
                            })
                            .collect();
                        model.expire(cutoff);
                        let mut sorted = batch.clone();
                        sorted.sort_by_key(|s| s.ts);
                        for s in sorted {
                            model.insert(s, cutoff);
                        }
                        model.cap(max_len);
                        ring.push_batch(&mut batch, cutoff, max_len);
                    }
                    1 => {
                        cutoff = now - (next() % 2_000) as i64;
                        model.expire(cutoff);
                        ring.expire(cutoff);
                    }
                    _ => {
                        model.expire(cutoff);
                        model.insert(sample, cutoff);
                        model.cap(max_len);
                        ring.push(sample, cutoff, max_len);
                    }
                }
                assert_eq!(ring.len(), model.samples.len(), "step {i}, cap {max_len}");
            }
            let kept: Vec<Sample> = ring.iter().copied().collect();
            assert_eq!(kept, model.samples, "cap {max_len}");
            let newest_first: Vec<Sample> = ring.iter_newest_first().copied().collect();
            assert!(newest_first.iter().rev().eq(model.samples.iter()));
            assert_eq!((ring.dropped(), ring.expired()), (model.dropped, model.expired));
            ring.expire(i64::MAX);
            assert_eq!(ring.len(), 0);
            // An emptied ring keeps one spare chunk and its queue's few slots.
            assert!(
                ring.heap_bytes() <= CHUNK * size_of::<Sample>() + 256,
                "{} bytes",
                ring.heap_bytes()
            );
        }
    }

    #[test]
    fn stamped_samples_that_tie_strictly_increase_in_arrival_order() {
        let mut r = SampleRing::default();
        let window = i64::try_from(TIE_WINDOW).unwrap();
        assert_eq!(r.push_stamped(s(1_000), i64::MIN, usize::MAX), 1_000);
        assert_eq!(r.push_stamped(s(1_000), i64::MIN, usize::MAX), 1_001);
        assert_eq!(r.push_stamped(s(1_000), i64::MIN, usize::MAX), 1_002);
        assert_eq!(
            r.push_stamped(s(5_000), i64::MIN, usize::MAX),
            5_000,
            "a later time is kept"
        );
        // Behind by more than one period: not a tie, sorted into place.
        let early = 5_000 - window - 1;
        assert_eq!(r.push_stamped(s(early), i64::MIN, usize::MAX), early);
        let kept: Vec<i64> = r.iter().map(|x| x.ts).collect();
        assert_eq!(kept, vec![early, 1_000, 1_001, 1_002, 5_000]);
        // An exact timestamp (a test clock, an explicit time) is never moved.
        r.push(s(5_000), i64::MIN, usize::MAX);
        assert_eq!(r.iter().last().map(|x| x.ts), Some(5_000));
        // Across a chunk rotation, where `back` starts empty.
        let mut r = SampleRing::default();
        for _ in 0..CHUNK + 3 {
            r.push_stamped(s(7), i64::MIN, usize::MAX);
        }
        let kept: Vec<i64> = r.iter().map(|x| x.ts).collect();
        assert_eq!(kept, (7..7 + CHUNK as i64 + 3).collect::<Vec<_>>());
    }

    #[test]
    fn last_where_finds_newest_match() {
        let mut r = SampleRing::default();
        for i in 0..1_500 {
            r.push(
                Sample {
                    ts: i,
                    value: 0.0,
                    tags: (i % 3) as u32,
                },
                i64::MIN,
                usize::MAX,
            );
        }
        assert_eq!(r.last_where(|s| s.tags == 1).map(|s| s.ts), Some(1_498));
        assert_eq!(r.last_where(|s| s.tags == 7), None);
    }
}
