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

/// One retained sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// Nanoseconds since the Unix epoch (UTC).
    pub(crate) ts: i64,
    pub(crate) value: f64,
    /// Index of the tag set in the series' tag index.
    pub(crate) tags: u32,
}

#[derive(Debug)]
struct Chunk {
    samples: Vec<Sample>,
    /// Samples before `head` have been popped.
    head: usize,
}

/// A FIFO of samples with age and count limits.
#[derive(Debug, Default)]
pub(crate) struct SampleRing {
    chunks: VecDeque<Chunk>,
    len: usize,
    /// Samples evicted by the count cap (age-based expiry is not counted).
    dropped: u64,
    /// Samples expired by retention age.
    expired: u64,
    /// A chunk kept for reuse so a ring at its cap does not allocate.
    spare: Option<Vec<Sample>>,
}

impl SampleRing {
    /// A ring that holds nothing (what a series that never kept a sample reads).
    pub(crate) const EMPTY: SampleRing = SampleRing {
        chunks: VecDeque::new(),
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
    pub(crate) fn push(&mut self, sample: Sample, cutoff: i64, max_len: usize) {
        self.expire(cutoff);
        if sample.ts < cutoff {
            self.expired += 1;
            return;
        }
        // The common case in one look at the back chunk: room in it, and
        // the sample no older than its newest (what `push_back` and
        // `sift_back_into_order` would do, without finding the back chunk
        // three times).
        match self.chunks.back_mut() {
            Some(back)
                if back.samples.len() < CHUNK
                    && back.samples[back.head..].last().is_some_and(|l| l.ts <= sample.ts) =>
            {
                back.samples.push(sample);
                self.len += 1;
            }
            _ => {
                self.push_back(sample);
                self.sift_back_into_order();
            }
        }
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
    ///
    /// The first chunk of a ring starts with room for one sample and grows
    /// by doubling to a full chunk, so a series that holds one sample costs
    /// 24 bytes for it, not 12 KiB (a million series with a sample each
    /// would otherwise reserve 12 GiB). Later chunks are allocated whole:
    /// a ring that filled one chunk is busy.
    fn push_back(&mut self, sample: Sample) {
        let need_chunk = self.chunks.back().is_none_or(|c| c.samples.len() == CHUNK);
        if need_chunk {
            let samples = match self.spare.take() {
                Some(spare) => spare,
                None if self.chunks.is_empty() => Vec::with_capacity(1),
                None => Vec::with_capacity(CHUNK),
            };
            if self.chunks.capacity() == 0 {
                // Most series never need a second chunk.
                self.chunks.reserve_exact(1);
            }
            self.chunks.push_back(Chunk { samples, head: 0 });
        }
        if let Some(back) = self.chunks.back_mut() {
            back.samples.push(sample);
            self.len += 1;
        }
    }

    /// Removes and returns the newest sample if it is newer than `ts`.
    fn pop_back_newer_than(&mut self, ts: i64) -> Option<Sample> {
        let back = self.chunks.back_mut()?;
        let newest = *back.samples.last()?;
        if newest.ts <= ts || back.samples.len() == back.head {
            return None;
        }
        back.samples.pop();
        self.len -= 1;
        if back.samples.len() == back.head
            && let Some(mut chunk) = self.chunks.pop_back()
            && self.spare.is_none()
            && chunk.samples.capacity() == CHUNK
        {
            chunk.samples.clear();
            self.spare = Some(chunk.samples);
        }
        Some(newest)
    }

    /// Drops the oldest samples beyond `max_len`.
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
        if let Some(back) = self.chunks.back()
            && let [.., before, newest] = &back.samples[back.head..]
            && before.ts <= newest.ts
        {
            return;
        }
        let mut newest_first = self.chunks.iter_mut().rev().flat_map(|c| {
            let head = c.head;
            c.samples[head..].iter_mut().rev()
        });
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
    pub(crate) fn expire(&mut self, cutoff: i64) {
        while let Some(front) = self.front() {
            if front.ts >= cutoff {
                break;
            }
            self.pop_front();
            self.expired += 1;
        }
    }

    fn front(&self) -> Option<&Sample> {
        self.chunks.front().and_then(|c| c.samples.get(c.head))
    }

    fn pop_front(&mut self) {
        let Some(front) = self.chunks.front_mut() else {
            return;
        };
        front.head += 1;
        self.len -= 1;
        if front.head == front.samples.len()
            && let Some(mut chunk) = self.chunks.pop_front()
            && self.spare.is_none()
            && chunk.samples.capacity() == CHUNK
        {
            chunk.samples.clear();
            self.spare = Some(chunk.samples);
        }
    }

    /// Every retained sample, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Sample> + '_ {
        self.chunks.iter().flat_map(|c| c.samples[c.head..].iter())
    }

    /// Every retained sample, newest first.
    pub(crate) fn iter_newest_first(&self) -> impl Iterator<Item = &Sample> + '_ {
        self.chunks.iter().rev().flat_map(|c| c.samples[c.head..].iter().rev())
    }

    /// The newest sample for which `keep` holds.
    pub(crate) fn last_where(&self, mut keep: impl FnMut(&Sample) -> bool) -> Option<Sample> {
        self.chunks
            .iter()
            .rev()
            .flat_map(|c| c.samples[c.head..].iter().rev())
            .find(|s| keep(s))
            .copied()
    }

    /// Heap bytes held by the ring.
    pub(crate) fn heap_bytes(&self) -> usize {
        let chunks: usize = self
            .chunks
            .iter()
            .map(|c| c.samples.capacity() * size_of::<Sample>())
            .sum();
        let spare = self.spare.as_ref().map_or(0, |s| s.capacity() * size_of::<Sample>());
        chunks + spare + self.chunks.capacity() * size_of::<Chunk>()
    }
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
