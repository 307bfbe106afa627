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

/// The longest newer tail a batch merge copies onto the stack (6 KiB);
/// a longer one is popped sample by sample.
const MERGE_ON_STACK: usize = 256;

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

impl Sample {
    /// A placeholder: the fill of buffers whose slots are written before
    /// they are read.
    pub(crate) const ZERO: Sample = Sample {
        ts: 0,
        value: 0.0,
        tags: 0,
    };
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
        self.push_slice(batch, cutoff, max_len);
        batch.clear();
    }

    /// [`push_batch`](Self::push_batch) of a slice, in time order and no
    /// older than the newest sample or than `cutoff` (what one thread's
    /// buffer of stamped samples holds): appended chunk by chunk, then
    /// capped, with no merge. Any other slice goes to
    /// [`push_slice`](Self::push_slice).
    pub(crate) fn push_newer(&mut self, batch: &mut [Sample], cutoff: i64, max_len: usize) {
        let in_order = batch.windows(2).all(|w| w[0].ts <= w[1].ts);
        let Some(first) = batch.first().map(|s| s.ts) else {
            return;
        };
        if !in_order || first < cutoff || self.newest().is_some_and(|newest| newest > first) {
            return self.push_slice(batch, cutoff, max_len);
        }
        let mut rest = &batch[..];
        while !rest.is_empty() {
            if self.back.len() == self.back.capacity() {
                self.grow_back();
            }
            let room = self.back.capacity() - self.back.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.back.extend_from_slice(now);
            self.len += now.len();
            rest = later;
        }
        self.expire(cutoff);
        self.cap(max_len);
    }

    /// The newest sample's timestamp.
    #[inline]
    pub(crate) fn newest(&self) -> Option<i64> {
        match self.back.last() {
            Some(s) => Some(s.ts),
            None => self.newest_ts(),
        }
    }

    /// [`push_batch`](Self::push_batch) of a slice, left sorted by time.
    pub(crate) fn push_slice(&mut self, batch: &mut [Sample], cutoff: i64, max_len: usize) {
        self.expire(cutoff);
        // Stable: samples of one thread with equal timestamps keep their order.
        batch.sort_by_key(|s| s.ts);
        let Some(oldest) = batch.first().map(|s| s.ts) else {
            return;
        };
        // The samples newer than the batch come off the back, then the two
        // sorted runs are merged back in. Two threads' buffers of the same
        // millisecond overlap by a batch or so: that tail is one copy out of
        // the back chunk, onto the stack.
        let mut on_stack = [Sample::ZERO; MERGE_ON_STACK];
        let mut on_heap = Vec::new();
        let tail: &[Sample] = match self.newer_in_back(oldest) {
            Some(n) if n <= MERGE_ON_STACK => {
                let start = self.back.len() - n;
                on_stack[..n].copy_from_slice(&self.back[start..]);
                // An emptied ring stays consistent: `head` indexes the
                // back chunk's next sample.
                self.back.truncate(start);
                self.len -= n;
                &on_stack[..n]
            }
            _ => {
                while let Some(back) = self.pop_back_newer_than(oldest) {
                    on_heap.push(back);
                }
                on_heap.reverse();
                &on_heap
            }
        };
        let (mut kept, mut new) = (0, 0);
        while kept < tail.len() || new < batch.len() {
            // Equal timestamps: the samples already kept come first.
            let sample = if new == batch.len() || (kept < tail.len() && tail[kept].ts <= batch[new].ts) {
                kept += 1;
                tail[kept - 1]
            } else {
                new += 1;
                batch[new - 1]
            };
            if sample.ts < cutoff {
                self.expired += 1;
            } else {
                self.push_back(sample);
            }
        }
        self.cap(max_len);
    }

    /// How many samples are newer than `ts`, if all of them are in the
    /// back chunk.
    fn newer_in_back(&self, ts: i64) -> Option<usize> {
        let from = if self.oldest.is_none() { self.head } else { 0 };
        let live = &self.back[from..];
        let not_newer = live.partition_point(|s| s.ts <= ts);
        // With a sample of the back chunk at or before `ts`, every earlier
        // chunk is too (sorted); without one, only if there is none.
        (not_newer > 0 || self.oldest.is_none()).then_some(live.len() - not_newer)
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
            chunk.resize(CHUNK, Sample::ZERO);
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
            // As many as the oldest chunk holds at once.
            let oldest_len = self.oldest_chunk().len();
            let n = (self.len - max_len).min(oldest_len - self.head);
            if n == 0 {
                // Not reached: a ring holding samples has one at `head`.
                debug_assert!(false, "no sample at the head of a non-empty ring");
                break;
            }
            self.head += n;
            self.len -= n;
            self.dropped += n as u64;
            if self.head >= oldest_len {
                self.drop_oldest_chunk();
            }
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
pub(crate) fn past_tie(newest: i64, ts: i64) -> i64 {
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
mod tests;
