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
//! The header holds the reference count, the text length and the entry's id
//! (or [`PLAIN`]). The pointer always points at the header, so the text is
//! at a fixed offset whatever the kind, and a [`TagSet`] cloned out of an
//! entry is the same pointer with one more reference: handles, snapshots and
//! the index share one block. An entry's aggregate sits right before the
//! header, so an update through a handle is one pointer load and a fixed
//! negative offset, as with an `Arc` field.
//!
//! The last reference frees the block and, for an entry, drops the
//! aggregate. A [`TagSet`] cloned out of an entry therefore keeps the
//! aggregate's memory alive until it is dropped too.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering, fence};

use crate::cell::Aggregate;

/// The part of a block every kind shares; the pointer of a block points here.
#[repr(C)]
pub(super) struct Header {
    /// 32 bits, so that the entry's hash fits in the same 16 bytes.
    refs: AtomicU32,
    /// Length of the tag text that follows the header.
    len: u32,
    /// The entry's id within its series, or [`PLAIN`].
    pub(super) id: u32,
    /// An entry's tag hash (see `TagEntry::table_hash`), so that its series'
    /// table rehashes without reading the text; 0 in a plain block.
    pub(super) hash: u32,
}

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

/// The allocation of a block with `len` bytes of text; `None` when the size
/// overflows `isize`.
fn block_layout(len: usize, entry: bool) -> Option<Layout> {
    let (prefix, align) = if entry {
        (ENTRY_HEADER_OFFSET, align_of::<Aggregate>().max(align_of::<Header>()))
    } else {
        (0, align_of::<Header>())
    };
    let size = prefix.checked_add(size_of::<Header>())?.checked_add(len)?;
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

impl TagBlock {
    /// A block holding `text` only. `None` when the text is 4 GiB or longer.
    pub(crate) fn plain(text: &[u8]) -> Option<TagBlock> {
        Self::allocate(text, None)
    }

    /// A block holding `text`, the entry id `id` (saturating below the
    /// plain marker) and `aggregate`. `None` when the text is 4 GiB or longer.
    pub(crate) fn entry(text: &[u8], id: u32, hash: u32, aggregate: Aggregate) -> Option<TagBlock> {
        Self::allocate(text, Some((id.min(LAST_ID), hash, aggregate)))
    }

    fn allocate(text: &[u8], entry: Option<(u32, u32, Aggregate)>) -> Option<TagBlock> {
        let len = u32::try_from(text.len()).ok()?;
        let layout = block_layout(text.len(), entry.is_some())?;
        // SAFETY: the layout has a non-zero size (it holds at least a header).
        let base = unsafe { alloc(layout) };
        if base.is_null() {
            handle_alloc_error(layout);
        }
        let header_offset = if entry.is_some() { ENTRY_HEADER_OFFSET } else { 0 };
        // SAFETY: `block_layout` sized the allocation as `header_offset`
        // bytes of prefix, a header, then `text.len()` bytes, and aligned it
        // for `Aggregate` and `Header`; `ENTRY_HEADER_OFFSET` is a multiple
        // of the header's alignment. So every write below is in bounds and
        // aligned, and the fresh allocation cannot overlap `text`.
        let header = unsafe {
            let header = base.add(header_offset).cast::<Header>();
            let (id, hash) = match entry {
                Some((id, hash, aggregate)) => {
                    base.cast::<Aggregate>().write(aggregate);
                    (id, hash)
                }
                None => (PLAIN, 0),
            };
            header.write(Header {
                refs: AtomicU32::new(1),
                len,
                id,
                hash,
            });
            ptr::copy_nonoverlapping(text.as_ptr(), header.cast::<u8>().add(size_of::<Header>()), text.len());
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
        let len = self.header().len as usize;
        // SAFETY: `len` initialised bytes follow the header (see `allocate`)
        // and are never written again; they live as long as `self`.
        unsafe { std::slice::from_raw_parts(self.header.as_ptr().cast::<u8>().add(size_of::<Header>()), len) }
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
    /// The block must have been built by [`TagBlock::entry`].
    #[inline]
    pub(super) unsafe fn entry_aggregate(&self) -> &Aggregate {
        // SAFETY: an entry block starts with an initialised `Aggregate`,
        // `ENTRY_HEADER_OFFSET` bytes before its header (see `allocate`);
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
        block_layout(self.header().len as usize, self.is_entry()).map_or(0, |l| l.size())
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
        let len = self.header().len as usize;
        let header_offset = if entry { ENTRY_HEADER_OFFSET } else { 0 };
        // SAFETY: this was the last reference, so nothing else can reach the
        // block. The base is `header_offset` bytes before the header (see
        // `allocate`); an entry block holds an initialised aggregate there,
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
