//! `TagEntry`: one tag set of a series with its dense id and cumulative
//! aggregate, in the tag set's single allocation.

use std::fmt;

#[cfg(test)]
use super::block::SHORT_HASH_MASK;
use super::block::TagBlock;
use super::set::{TagSet, encoded_len, write_encoded};
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
    #[cfg(test)]
    pub(crate) fn new(text: &[u8], id: u32, aggregate: Aggregate) -> Option<TagEntry> {
        let hash = TagSet::from_block(TagBlock::plain(text)?).stored_hash();
        Self::with_hash(text, id, hash, aggregate)
    }

    /// A new entry whose stored text is `text` and whose tags hash to
    /// `hash` ([`hash_tags`](crate::tags::hash_tags) of the same tags,
    /// computed by the caller); `None` as for `new`.
    #[cfg(test)]
    pub(crate) fn with_hash(text: &[u8], id: u32, hash: u64, aggregate: Aggregate) -> Option<TagEntry> {
        let block = TagBlock::entry(text, id, Self::short_hash(hash) & SHORT_HASH_MASK, aggregate)?;
        Some(TagEntry {
            tags: TagSet::from_block(block),
        })
    }

    /// A new entry for `pairs`, sorted by key and unique, which hash to
    /// `hash` ([`hash_tags`](crate::tags::hash_tags)), encoded straight
    /// into the entry's allocation; `None` as for `new`.
    #[inline]
    pub(crate) fn from_sorted_pairs(
        pairs: &[(&str, &str)],
        id: u32,
        hash: u64,
        aggregate: Aggregate,
    ) -> Option<TagEntry> {
        let block = TagBlock::entry_with(encoded_len(pairs), id, Self::short_hash(hash), aggregate, |w| {
            write_encoded(pairs, w)
        })?;
        Some(TagEntry {
            tags: TagSet::from_block(block),
        })
    }

    /// The 24 bits of a tag hash that an entry keeps (its block keeps the
    /// text length in the other 8 of the same word).
    #[inline]
    fn short_hash(hash: u64) -> u32 {
        (hash ^ (hash >> 32)) as u32 >> 8
    }

    /// Whether this entry's tags may hash to `hash`: its kept bits match.
    /// Checked before comparing the tags themselves, so that a table probe
    /// that lands on another tag set (1 in 128 per filled slot, by the
    /// table's 7-bit tags) almost never reads and splits its text.
    #[inline]
    pub(crate) fn may_hash_to(&self, hash: u64) -> bool {
        self.tags.block().header().short_hash() == Self::short_hash(hash)
    }

    /// What a series' hash table files tags hashing to `hash` under: the
    /// entry's kept 24 bits, spread over 64 again (the table takes its
    /// probe position from the low bits and a tag from the top ones), so
    /// that a rehash reads it from the entry instead of hashing the text.
    /// 24 bits place up to 16M tag sets of one series apart; past that,
    /// lookups slow down but stay correct (the tags are compared).
    #[inline]
    pub(crate) fn table_hash(hash: u64) -> u64 {
        u64::from(Self::short_hash(hash)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    /// [`table_hash`](Self::table_hash) of this entry's tags.
    #[inline]
    pub(crate) fn own_table_hash(&self) -> u64 {
        u64::from(self.tags.block().header().short_hash()).wrapping_mul(0x9e37_79b9_7f4a_7c15)
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

    /// Starts loading this entry's block ahead of a read (see
    /// [`TagBlock::prefetch`]).
    #[inline(always)]
    pub(crate) fn prefetch(&self) {
        self.tags.block().prefetch();
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
