//! `TagBlock`: the one allocation behind a `TagSet` and, for a series'
//! `TagEntry`, its id and aggregate too.
//!
//! A block is one heap allocation reached through an 8-byte pointer:
//!
//! ```text
//! plain tag set:   [ Header | tag text ]
//! series entry:    [ Aggregate | Header | tag text ]
//!                              ^ the pointer
//! ```
//!
//! The header holds the reference count, the entry's id (or [`PLAIN`]),
//! 24 bits of the entry's tag hash and the text length: 12 bytes, the length
//! in one byte when the text is under 255 bytes (every tag set of a few
//! tags), else in 4 more bytes after the header. The pointer always points
//! at the header, so a [`TagSet`] cloned out of an entry is the same pointer
//! with one more reference: handles, snapshots and the index share one
//! block. An entry's aggregate sits right before the header, so an update
//! through a handle is one pointer load and a fixed negative offset, as with
//! an `Arc` field.
//!
//! The last reference frees the block and, for an entry, drops the
//! aggregate. A [`TagSet`] cloned out of an entry therefore keeps the
//! aggregate's memory alive until it is dropped too.
//!
//! [`TagSet`]: super::TagSet

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering, fence};

use crate::cell::Aggregate;

/// The part of a block every kind shares; the pointer of a block points here.
///
/// 12 bytes: every byte of it is paid once per tag set, and a series may
/// hold millions of them.
#[repr(C)]
pub(super) struct Header {
    /// 32 bits, so that the entry's hash fits in the same 12 bytes.
    refs: AtomicU32,
    /// The entry's id within its series, or [`PLAIN`].
    pub(super) id: u32,
    /// The entry's kept hash (see `TagEntry::table_hash`) in the top 24
    /// bits, so that its series' table rehashes without reading the text (0
    /// in a plain block); the text length in the low 8 bits when under
    /// [`LONG`], else [`LONG`] and the length is the `u32` right after the
    /// header.
    hash_and_len: u32,
}

impl Header {
    /// The 24 hash bits an entry keeps.
    #[inline]
    pub(super) fn short_hash(&self) -> u32 {
        self.hash_and_len >> 8
    }
}

/// The low byte of `hash_and_len` that says the length follows the header.
const LONG: u32 = 0xFF;

/// The largest hash an entry keeps: 24 bits.
pub(super) const SHORT_HASH_MASK: u32 = 0x00FF_FFFF;

/// The `id` of a block that carries no aggregate.
const PLAIN: u32 = u32::MAX;

/// The largest id an entry can carry (everything below [`PLAIN`]).
const LAST_ID: u32 = PLAIN - 1;

/// Distance from the start of an entry block (its aggregate) to its header.
/// `Layout::extend` places a following field at the preceding size rounded
/// up to the field's alignment; this is that offset, usable in `const`.
const ENTRY_HEADER_OFFSET: usize = size_of::<Aggregate>().next_multiple_of(align_of::<Header>());

/// The refcount at which a clone aborts, as `Arc` does: a count this large
/// can only come from leaked clones, and wrapping would free a live block.
/// Half the 32-bit range: 2^31 live references (16 GiB of pointers) is
/// beyond any real use.
const MAX_REFS: u32 = i32::MAX as u32;

/// Bytes between the header and the text: the long form's length.
#[inline]
fn length_bytes(len: usize) -> usize {
    if len < LONG as usize { 0 } else { size_of::<u32>() }
}

/// The allocation of a block with `len` bytes of text; `None` when the size
/// overflows `isize`.
fn block_layout(len: usize, entry: bool) -> Option<Layout> {
    let (prefix, align) = if entry {
        (ENTRY_HEADER_OFFSET, align_of::<Aggregate>().max(align_of::<Header>()))
    } else {
        (0, align_of::<Header>())
    };
    let size = prefix
        .checked_add(size_of::<Header>() + length_bytes(len))?
        .checked_add(len)?;
    Layout::from_size_align(size, align).ok().map(|l| l.pad_to_align())
}

/// A reference-counted, immutable tag text, optionally carrying the id and
/// aggregate of a series' tag set (see the module docs).
pub(crate) struct TagBlock {
    header: NonNull<Header>,
}

// SAFETY: a block is shared state made of an atomic refcount, text and ids
// that are never written after construction, and (for an entry) an
// `Aggregate`, which is `Send + Sync` (checked below). References to it are
// handed out only as `&`, and the last owner frees it after an acquire
// fence, as `Arc` does; so moving or sharing the pointer between threads is
// as safe as moving or sharing an `Arc<(Aggregate, [u8])>`.
unsafe impl Send for TagBlock {}
// SAFETY: see `Send` above.
unsafe impl Sync for TagBlock {}

const _: () = {
    const fn shared_between_threads<T: Send + Sync>() {}
    shared_between_threads::<Aggregate>();
};

/// Writes a block's text straight into its allocation, piece by piece, so
/// that a new tag set is not first assembled in a buffer and then copied.
pub(crate) struct TextWriter<'a> {
    at: *mut u8,
    left: usize,
    _text: PhantomData<&'a mut [u8]>,
}

impl TextWriter<'_> {
    /// Appends `bytes`.
    ///
    /// # Panics
    /// Past the length the block was allocated with (the allocation is
    /// freed, nothing is read).
    #[inline(always)]
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        assert!(n <= self.left, "tag text longer than its block");
        // SAFETY: `at` has `left >= n` writable bytes (see `TagBlock::build`),
        // and the block is a fresh allocation that cannot overlap `bytes`.
        unsafe {
            copy_piece(bytes, self.at);
            self.at = self.at.add(n);
        }
        self.left -= n;
    }

    /// Appends one byte.
    #[inline(always)]
    pub(crate) fn put_byte(&mut self, byte: u8) {
        assert!(self.left > 0, "tag text longer than its block");
        // SAFETY: as in `put`, with one byte.
        unsafe {
            self.at.write(byte);
            self.at = self.at.add(1);
        }
        self.left -= 1;
    }
}

/// Copies `src` to `dst` without a call to `memcpy` for the short pieces a
/// tag set is made of (keys, values: mostly under 16 bytes), where the call
/// costs more than the copy: two overlapping loads and stores.
///
/// # Safety
/// `dst` has `src.len()` writable bytes and does not overlap `src`.
#[inline(always)]
unsafe fn copy_piece(src: &[u8], dst: *mut u8) {
    let n = src.len();
    let s = src.as_ptr();
    // SAFETY: every access is within `src[..n]` and `dst[..n]` (the second
    // load and store of a pair start at `n - width`, at least 0); unaligned
    // accesses are used throughout.
    unsafe {
        if n >= 8 {
            if n > 16 {
                return ptr::copy_nonoverlapping(s, dst, n);
            }
            let head = s.cast::<u64>().read_unaligned();
            let tail = s.add(n - 8).cast::<u64>().read_unaligned();
            dst.cast::<u64>().write_unaligned(head);
            dst.add(n - 8).cast::<u64>().write_unaligned(tail);
        } else if n >= 4 {
            let head = s.cast::<u32>().read_unaligned();
            let tail = s.add(n - 4).cast::<u32>().read_unaligned();
            dst.cast::<u32>().write_unaligned(head);
            dst.add(n - 4).cast::<u32>().write_unaligned(tail);
        } else {
            for i in 0..n {
                dst.add(i).write(*s.add(i));
            }
        }
    }
}

/// Frees a block's allocation unless the block was completed: what a panic
/// while writing the text leaves behind.
struct Unfinished {
    base: *mut u8,
    layout: Layout,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        // SAFETY: `base` was allocated with `layout` and nothing else owns
        // it yet; the aggregate is only written after the text, so there is
        // nothing to drop in it.
        unsafe { dealloc(self.base, self.layout) }
    }
}

impl TagBlock {
    /// Asks the CPU to start loading the block's first two cache lines (the
    /// header, an entry's aggregate and the start of the text). A scan of
    /// many entries issues it some entries ahead, so that blocks scattered
    /// over the heap arrive before they are read. Only a hint: it reads
    /// nothing and cannot fault; elsewhere than x86-64 it does nothing.
    #[inline(always)]
    pub(crate) fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let at = self.header.as_ptr().cast::<i8>();
            // SAFETY: SSE, which `_mm_prefetch` needs, is part of every
            // x86-64 target; a prefetch dereferences nothing, so any address
            // (here the block and the line after it) is sound.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(at);
                _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(64));
            }
        }
    }

    /// A block holding `text` only. `None` when the text is 4 GiB or longer.
    pub(crate) fn plain(text: &[u8]) -> Option<TagBlock> {
        Self::build(text.len(), None, |w| w.put(text))
    }

    /// A block holding `text`, the entry id `id` (saturating below the
    /// plain marker), the low 24 bits of `hash` and `aggregate`. `None`
    /// when the text is 4 GiB or longer.
    #[cfg(test)]
    pub(crate) fn entry(text: &[u8], id: u32, hash: u32, aggregate: Aggregate) -> Option<TagBlock> {
        Self::entry_with(text.len(), id, hash, aggregate, |w| w.put(text))
    }

    /// A tag set's block holding the `len` bytes of text written by `fill`
    /// (tests build one from its text with `entry`).
    ///
    /// # Panics
    /// When `fill` writes more or fewer than `len` bytes.
    #[inline]
    pub(crate) fn entry_with(
        len: usize,
        id: u32,
        hash: u32,
        aggregate: Aggregate,
        fill: impl FnOnce(&mut TextWriter<'_>),
    ) -> Option<TagBlock> {
        Self::build(len, Some((id.min(LAST_ID), hash & SHORT_HASH_MASK, aggregate)), fill)
    }

    #[inline]
    fn build(
        len: usize,
        entry: Option<(u32, u32, Aggregate)>,
        fill: impl FnOnce(&mut TextWriter<'_>),
    ) -> Option<TagBlock> {
        let long_len = u32::try_from(len).ok()?;
        let layout = block_layout(len, entry.is_some())?;
        // SAFETY: the layout has a non-zero size (it holds at least a header).
        let base = unsafe { alloc(layout) };
        if base.is_null() {
            handle_alloc_error(layout);
        }
        let unfinished = Unfinished { base, layout };
        let header_offset = if entry.is_some() { ENTRY_HEADER_OFFSET } else { 0 };
        let text_offset = header_offset + size_of::<Header>() + length_bytes(len);
        // SAFETY: `block_layout` sized the allocation as `header_offset`
        // bytes of prefix, a header, the long form's length when `len` needs
        // it, then `len` bytes, so the writer's `len` bytes are in bounds.
        let text = unsafe { base.add(text_offset) };
        let mut writer = TextWriter {
            at: text,
            left: len,
            _text: PhantomData,
        };
        fill(&mut writer);
        assert!(writer.left == 0, "tag text shorter than its block");
        std::mem::forget(unfinished);
        // SAFETY: as above, and the allocation is aligned for `Aggregate` and
        // `Header`; `ENTRY_HEADER_OFFSET` and the header's size are multiples
        // of the header's alignment (so the long form's `u32` is aligned).
        // So every write below is in bounds and aligned.
        let header = unsafe {
            let header = base.add(header_offset).cast::<Header>();
            let (id, hash) = match entry {
                Some((id, hash, aggregate)) => {
                    base.cast::<Aggregate>().write(aggregate);
                    (id, hash)
                }
                None => (PLAIN, 0),
            };
            let short_len = if len < LONG as usize {
                len as u32
            } else {
                header.add(1).cast::<u32>().write(long_len);
                LONG
            };
            header.write(Header {
                refs: AtomicU32::new(1),
                id,
                hash_and_len: hash << 8 | short_len,
            });
            NonNull::new_unchecked(header)
        };
        Some(TagBlock { header })
    }

    #[inline]
    pub(super) fn header(&self) -> &Header {
        // SAFETY: the header was initialised at construction and the block
        // stays allocated while this reference to it exists.
        unsafe { self.header.as_ref() }
    }

    /// The tag text.
    #[inline]
    pub(crate) fn text(&self) -> &[u8] {
        let short_len = self.header().hash_and_len & 0xFF;
        // SAFETY: the text follows the header, after the long form's `u32`
        // length when the low byte says so (see `build`); its bytes were
        // initialised there and are never written again, and they live as
        // long as `self`. The pointer was derived from the allocation, so
        // the offsets stay inside it.
        unsafe {
            let after = self.header.as_ptr().add(1).cast::<u8>();
            if short_len != LONG {
                std::slice::from_raw_parts(after, short_len as usize)
            } else {
                let len = after.cast::<u32>().read() as usize;
                std::slice::from_raw_parts(after.add(size_of::<u32>()), len)
            }
        }
    }

    /// Whether the block carries an entry's id and aggregate.
    #[inline]
    fn is_entry(&self) -> bool {
        self.header().id != PLAIN
    }

    /// The aggregate of an entry block, `None` for a plain one.
    #[cfg(test)]
    pub(crate) fn aggregate(&self) -> Option<&Aggregate> {
        // SAFETY: checked to be an entry block just before.
        self.is_entry().then(|| unsafe { self.entry_aggregate() })
    }

    /// The aggregate of an entry block, without checking the kind.
    ///
    /// # Safety
    /// The block must have been built by [`TagBlock::entry_with`].
    #[inline]
    pub(super) unsafe fn entry_aggregate(&self) -> &Aggregate {
        // SAFETY: an entry block starts with an initialised `Aggregate`,
        // `ENTRY_HEADER_OFFSET` bytes before its header (see `build`);
        // the pointer was derived from the allocation's base, so stepping
        // back stays inside it. It is only ever shared as `&`.
        unsafe {
            &*self
                .header
                .as_ptr()
                .cast::<u8>()
                .sub(ENTRY_HEADER_OFFSET)
                .cast::<Aggregate>()
        }
    }

    /// Heap bytes of the allocation (not counting what the aggregate owns).
    pub(crate) fn heap_bytes(&self) -> usize {
        block_layout(self.text().len(), self.is_entry()).map_or(0, |l| l.size())
    }
}

impl Clone for TagBlock {
    #[inline]
    fn clone(&self) -> Self {
        // Relaxed as in `Arc::clone`: a new reference can only be made from
        // an existing one, which already keeps the block alive.
        let old = self.header().refs.fetch_add(1, Ordering::Relaxed);
        if old > MAX_REFS {
            std::process::abort();
        }
        TagBlock { header: self.header }
    }
}

impl Drop for TagBlock {
    /// Inlined: dropping a clone (a snapshot's, a handle's) is one atomic
    /// decrement; freeing the block is out of line.
    #[inline]
    fn drop(&mut self) {
        // Release/acquire as in `Arc::drop`: every use of the block by other
        // owners happens before the last owner frees it.
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        self.free();
    }
}

impl TagBlock {
    /// Frees the block once its last reference is gone.
    #[inline(never)]
    fn free(&mut self) {
        fence(Ordering::Acquire);
        let entry = self.is_entry();
        let len = self.text().len();
        let header_offset = if entry { ENTRY_HEADER_OFFSET } else { 0 };
        // SAFETY: this was the last reference, so nothing else can reach the
        // block. The base is `header_offset` bytes before the header (see
        // `build`); an entry block holds an initialised aggregate there,
        // dropped exactly once here. The layout is recomputed from the same
        // length and kind it was allocated with, so it matches; it cannot
        // fail now since it succeeded then.
        unsafe {
            let base = self.header.as_ptr().cast::<u8>().sub(header_offset);
            if entry {
                ptr::drop_in_place(base.cast::<Aggregate>());
            }
            if let Some(layout) = block_layout(len, entry) {
                dealloc(base, layout);
            }
        }
    }
}

#[cfg(test)]
mod tests;
