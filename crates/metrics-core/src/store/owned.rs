//! `OwnedBuffers`: sample buffers of a busy series that each belong to one
//! thread, so that a push takes no locked instruction.
//!
//! A push into the ring takes the ring's lock: one compare-and-swap, a
//! quarter of the cost of `record_metric` on this machine even when no
//! other thread is near. A thread that keeps samples in a busy series
//! (past [`BUSY`] samples) claims one of [`OWNERS`] buffers instead, and
//! from then on appends to it with plain stores and one release store of
//! its write index. The buffer is a single-producer ring of [`LEN`]
//! samples: its owner is the only writer; whoever holds the series' ring
//! lock is its only reader, and drains it into the ring (every read of the
//! samples does, first). When the buffer is full its owner takes the ring
//! lock and drains it itself, once per [`LEN`] samples.
//!
//! A thread keeps its claim for the life of the series (thread tokens are
//! never reused; an exited owner's buffer is still drained by readers). The
//! threads past the first [`OWNERS`] use the ring and the collision
//! buffers as before.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};

use crate::store::ring::{Sample, SampleRing, past_tie};

/// Threads per series that get a buffer of their own.
pub(crate) const OWNERS: usize = 4;

/// Samples per owned buffer (a power of two).
pub(crate) const LEN: usize = 64;

/// Samples a series has seen (kept, dropped or expired) before a thread
/// keeping one more claims a buffer: one chunk's worth. A series that
/// records a sample now and then never pays for buffers.
pub(crate) const BUSY: u64 = 512;

thread_local! {
    /// This thread's owner token; 0 until it first claims a buffer.
    static TOKEN: Cell<u64> = const { Cell::new(0) };
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// This thread's token, or 0 if it never claimed a buffer.
#[inline(always)]
fn current_token() -> u64 {
    TOKEN.with(Cell::get)
}

/// This thread's token, assigned on first use (never 0, never reused).
fn claim_token() -> u64 {
    TOKEN.with(|t| {
        if t.get() == 0 {
            t.set(NEXT_TOKEN.fetch_add(1, Relaxed));
        }
        t.get()
    })
}

/// One thread's buffer: the owner writes `slots[write % LEN]` and then
/// publishes `write`; a reader (holding the ring lock) copies
/// `slots[read..write]` and then publishes `read`. On cache lines of its
/// own: its owner writes them at every push.
#[repr(align(128))]
pub(crate) struct OwnedBuffer {
    /// Samples ever pushed; stored only by the owner.
    write: AtomicUsize,
    /// Samples ever drained; stored only under the ring lock.
    read: AtomicUsize,
    /// The newest timestamp the owner kept (for ties of the recent clock,
    /// as [`SampleRing::push_stamped`] breaks them); the owner's alone.
    newest: AtomicI64,
    slots: [UnsafeCell<Sample>; LEN],
}

// SAFETY: a slot is written only by the owner, and only while it is outside
// `read..write` (the owner checked `write - read < LEN` with an Acquire load
// of `read`, which the reader stored with Release after copying it out); it
// is read only under the ring lock, inside `read..write` (an Acquire load of
// `write`, which the owner stored with Release after writing it). So no slot
// is written and read at once, and every read sees the finished write.
unsafe impl Sync for OwnedBuffer {}

impl OwnedBuffer {
    fn new() -> Self {
        OwnedBuffer {
            write: AtomicUsize::new(0),
            read: AtomicUsize::new(0),
            newest: AtomicI64::new(i64::MIN),
            slots: std::array::from_fn(|_| UnsafeCell::new(Sample::ZERO)),
        }
    }

    /// Appends `sample` (its timestamp moved past a tie when `stamped`);
    /// the timestamp kept, or the sample back when the buffer is full. Only
    /// the owner calls it.
    #[inline(always)]
    pub(crate) fn push(&self, mut sample: Sample, stamped: bool) -> Result<i64, Sample> {
        let newest = self.newest.load(Relaxed);
        if stamped {
            sample.ts = past_tie(newest, sample.ts);
        }
        let write = self.write.load(Relaxed);
        if write.wrapping_sub(self.read.load(Acquire)) >= LEN {
            return Err(sample);
        }
        // SAFETY: only the owner (this thread) writes slots, and this slot is
        // outside `read..write` (checked above); see `Sync`.
        unsafe { *self.slots[write % LEN].get() = sample };
        self.write.store(write.wrapping_add(1), Release);
        self.newest.store(newest.max(sample.ts), Relaxed);
        Ok(sample.ts)
    }

    /// Moves every published sample into `ring`.
    ///
    /// # Safety
    /// The caller holds the lock of the ring this buffer drains into: that
    /// lock is what makes the caller the buffer's only reader.
    pub(crate) unsafe fn drain_into(&self, ring: &mut SampleRing, cutoff: i64, max_len: usize) {
        let read = self.read.load(Relaxed);
        let write = self.write.load(Acquire);
        let n = write.wrapping_sub(read);
        if n == 0 {
            return;
        }
        let mut batch = [Sample::ZERO; LEN];
        // `read..write` as at most two runs of slots (it may wrap).
        let start = read % LEN;
        let first = n.min(LEN - start);
        let slots = UnsafeCell::raw_get(self.slots.as_ptr());
        // SAFETY: the slots copied are inside `read..write`, published by
        // the owner's Release store of `write`, and the caller is the only
        // reader (the ring lock); see `Sync`. `UnsafeCell<Sample>` has the
        // layout of `Sample`, so the array is `LEN` samples in a row; both
        // runs lie within it (`start + first <= LEN`, `n - first <= start`)
        // and `batch` holds `n <= LEN`.
        unsafe {
            std::ptr::copy_nonoverlapping(slots.add(start), batch.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(slots, batch.as_mut_ptr().add(first), n - first);
        }
        self.read.store(write, Release);
        ring.push_newer(&mut batch[..n], cutoff, max_len);
    }
}

/// A busy series' owned buffers.
pub(crate) struct OwnedBuffers {
    /// Each buffer's owner token, 0 while unclaimed. Apart from the
    /// buffers, on a line written only by claims: every push of every
    /// thread reads it, and a token beside a buffer's indices would pull
    /// that line away from its owner at each look.
    owners: [AtomicU64; OWNERS],
    /// Buffers not claimed yet: a thread past the last one does not look.
    unclaimed: AtomicUsize,
    buffers: [OwnedBuffer; OWNERS],
}

impl Default for OwnedBuffers {
    fn default() -> Self {
        OwnedBuffers {
            owners: std::array::from_fn(|_| AtomicU64::new(0)),
            unclaimed: AtomicUsize::new(OWNERS),
            buffers: std::array::from_fn(|_| OwnedBuffer::new()),
        }
    }
}

impl std::fmt::Debug for OwnedBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedBuffers")
            .field("unclaimed", &self.unclaimed.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl OwnedBuffers {
    /// This thread's buffer, if it claimed one.
    #[inline(always)]
    pub(crate) fn mine(&self) -> Option<&OwnedBuffer> {
        let token = current_token();
        if token == 0 {
            return None;
        }
        let i = self.owners.iter().position(|owner| owner.load(Relaxed) == token)?;
        self.buffers.get(i)
    }

    /// Whether exactly one thread owns a buffer. Only then are a stamped
    /// sample's ties broken: each owner breaks them against its own newest
    /// sample, so two owners would number the same millisecond alike, and
    /// every merge of their buffers would interleave instead of append.
    /// With two or more, samples stamped alike keep the clock's time, as
    /// the collision buffers' samples do.
    #[inline(always)]
    pub(crate) fn has_one_owner(&self) -> bool {
        self.unclaimed.load(Relaxed) == OWNERS - 1
    }

    /// Whether a buffer is left to claim.
    #[inline(always)]
    pub(crate) fn claimable(&self) -> bool {
        self.unclaimed.load(Relaxed) > 0
    }

    /// Claims a buffer for this thread (which has none), starting its tie
    /// breaking from `newest`, the ring's newest timestamp. The caller
    /// holds the ring lock, so `newest` is current.
    pub(crate) fn claim(&self, newest: i64) {
        let token = claim_token();
        for (owner, buffer) in self.owners.iter().zip(&self.buffers) {
            if owner.compare_exchange(0, token, Relaxed, Relaxed).is_ok() {
                // Before the owner's first push, which this thread makes.
                buffer.newest.store(newest, Relaxed);
                self.unclaimed.fetch_sub(1, Relaxed);
                return;
            }
        }
    }

    /// Drains every buffer into `ring`.
    ///
    /// # Safety
    /// As [`OwnedBuffer::drain_into`]: the caller holds `ring`'s lock.
    pub(crate) unsafe fn drain_all(&self, ring: &mut SampleRing, cutoff: i64, max_len: usize) {
        for buffer in &self.buffers {
            // SAFETY: the caller holds the ring lock (this function's contract).
            unsafe { buffer.drain_into(ring, cutoff, max_len) };
        }
    }
}
