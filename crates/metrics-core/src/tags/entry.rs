//! `TagEntry`: one tag set of a series with its dense id and cumulative
//! aggregate, in the tag set's single allocation.

use std::fmt;

use super::block::TagBlock;
use super::set::TagSet;
use crate::cell::Aggregate;

/// One tag set of a series: its tags, its dense id (what retained samples
/// store) and its cumulative aggregate, in one allocation behind an 8-byte
/// pointer. Cloning is one atomic increment.
#[derive(Clone)]
pub(crate) struct TagEntry {
    /// The tag set; its block is always an entry block. Private, so that
    /// only this module builds or replaces it.
    tags: TagSet,
}

impl TagEntry {
    /// A new entry; `None` when the tag text is 4 GiB or longer (the store
    /// validates tags far below that).
    pub(crate) fn new(text: &[u8], id: u32, aggregate: Aggregate) -> Option<TagEntry> {
        let block = TagBlock::entry(text, id, aggregate)?;
        Some(TagEntry {
            tags: TagSet::from_block(block),
        })
    }

    /// The tag set.
    #[inline]
    pub(crate) fn tags(&self) -> &TagSet {
        &self.tags
    }

    /// The id that samples of this tag set carry.
    #[inline]
    pub(crate) fn id(&self) -> u32 {
        self.tags.block().header().id
    }

    /// The cumulative aggregate.
    #[inline]
    pub(crate) fn aggregate(&self) -> &Aggregate {
        // SAFETY: a `TagEntry` is only built by `TagEntry::new`, from a block
        // made by `TagBlock::entry`, and its field is never replaced.
        unsafe { self.tags.block().entry_aggregate() }
    }

    /// Heap bytes held: the block and what the aggregate owns.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.tags.block().heap_bytes() + self.aggregate().heap_bytes()
    }
}

impl fmt::Debug for TagEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TagEntry")
            .field("id", &self.id())
            .field("tags", &self.tags)
            .field("aggregate", self.aggregate())
            .finish()
    }
}
