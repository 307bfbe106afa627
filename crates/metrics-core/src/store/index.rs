//! `TagIndex`: the tag sets of one series, by dense id and by tags.
//!
//! Most series only ever hold one tag set, so the index keeps that one
//! entry inline (one 8-byte pointer) and builds the entry vector and the
//! hash table only when a second tag set, the overflow set or a removal
//! arrives: a series with one tag set costs 16 bytes of index instead of a
//! table header, an entry vector and their bookkeeping (~80 bytes).

use hashbrown::HashTable;

use crate::error::RecordError;
use crate::tags::Tags;
use crate::tags::entry::TagEntry;

/// The tag sets of a series, by id (dense, in creation order, the overflow
/// set included) and by tags.
#[derive(Debug, Default)]
pub(super) struct TagIndex {
    sets: Sets,
}

/// How many tag sets an index holds, and where.
#[derive(Debug, Default)]
enum Sets {
    /// No tag set yet (a series made by `describe_metric`).
    #[default]
    Empty,
    /// One live regular tag set, id 0: no overflow set, nothing removed.
    One(TagEntry),
    /// One tag set, id 0, removed (idle expiry of a series' only tag set):
    /// its slot keeps the tags for retained samples, and the removal costs
    /// no allocation.
    OneRemoved(TagEntry),
    /// Anything else.
    Many(Box<ManySets>),
}

/// The index of a series with more than one tag set, an overflow set or a
/// removed one.
#[derive(Debug, Default)]
struct ManySets {
    /// Tag set → id, by the order-independent hash of the tags. 4-byte
    /// buckets; a probe compares the caller's tags with the entry's text.
    /// Empty while at most one regular tag set is live (`find` compares
    /// that one directly).
    table: HashTable<u32>,
    /// Every entry (8-byte pointers), at the index of its id: snapshots walk
    /// this in creation order, reading the entries in allocation order.
    entries: Vec<TagEntry>,
    /// The id of the `overflow="true"` set, once the cardinality cap was
    /// reached. Not in the table: `overflow` is a reserved key that callers
    /// cannot look up or record to directly.
    overflow: Option<u32>,
    /// Which ids were removed (`remove`, idle expiry); `None` until the
    /// first removal. A removed id keeps its slot in `entries` (with a fresh,
    /// unexposed aggregate) so that retained samples still map to their tags.
    removed: Option<Removed>,
}

/// The removed ids of a series, by id.
#[derive(Debug, Default)]
struct Removed {
    flags: Vec<bool>,
    /// How many entries `flags` marks.
    count: usize,
}

impl ManySets {
    fn is_live(&self, id: usize) -> bool {
        !self
            .removed
            .as_ref()
            .is_some_and(|r| r.flags.get(id).copied().unwrap_or(false))
    }

    fn regular_count(&self) -> usize {
        self.entries.len() - usize::from(self.overflow.is_some()) - self.removed.as_ref().map_or(0, |r| r.count)
    }

    /// Files entry `id`, whose tags hash to `hash`, in the table.
    fn insert_into_table(&mut self, id: u32, hash: u64) {
        let entries = &self.entries;
        self.table.insert_unique(TagEntry::table_hash(hash), id, |&i| {
            entries[i as usize].own_table_hash()
        });
    }

    /// Files every live regular entry but `except` in the table: what the
    /// second live tag set does (a series with one keeps the table empty).
    fn file_all_but(&mut self, except: u32) {
        for first in 0..self.entries.len() {
            let id = first as u32;
            if id != except && Some(id) != self.overflow && self.is_live(first) {
                let entries = &self.entries;
                let h = entries[first].own_table_hash();
                self.table
                    .insert_unique(h, id, |&i| entries[i as usize].own_table_hash());
            }
        }
    }
}

impl TagIndex {
    #[inline]
    pub(super) fn find(&self, hash: u64, tags: &impl Tags) -> Option<&TagEntry> {
        let many = match &self.sets {
            Sets::Empty | Sets::OneRemoved(_) => return None,
            Sets::One(entry) => return (entry.may_hash_to(hash) && entry.tags().equals_tags(tags)).then_some(entry),
            Sets::Many(many) => many,
        };
        let entries = &many.entries;
        if many.table.is_empty() {
            // At most one live regular tag set: compare it directly.
            return entries
                .iter()
                .enumerate()
                .find(|&(id, e)| {
                    many.overflow != Some(id as u32)
                        && many.is_live(id)
                        && e.may_hash_to(hash)
                        && e.tags().equals_tags(tags)
                })
                .map(|(_, e)| e);
        }
        many.table
            .find(TagEntry::table_hash(hash), |&id| {
                let entry = &entries[id as usize];
                entry.may_hash_to(hash) && entry.tags().equals_tags(tags)
            })
            .map(|&id| &entries[id as usize])
    }

    /// Every entry, at the index of its id (removed ones and the overflow
    /// set included).
    #[inline]
    pub(super) fn entries(&self) -> &[TagEntry] {
        match &self.sets {
            Sets::Empty => &[],
            Sets::One(entry) | Sets::OneRemoved(entry) => std::slice::from_ref(entry),
            Sets::Many(many) => &many.entries,
        }
    }

    /// The id of the `overflow="true"` set, once there is one.
    #[inline]
    pub(super) fn overflow(&self) -> Option<u32> {
        match &self.sets {
            Sets::Many(many) => many.overflow,
            Sets::Empty | Sets::One(_) | Sets::OneRemoved(_) => None,
        }
    }

    /// Entries not removed (the overflow set included).
    pub(super) fn live_count(&self) -> usize {
        match &self.sets {
            Sets::Many(many) => many.entries.len() - many.removed.as_ref().map_or(0, |r| r.count),
            Sets::One(_) => 1,
            Sets::Empty | Sets::OneRemoved(_) => 0,
        }
    }

    /// Whether any entry was ever removed.
    #[inline]
    pub(super) fn any_removed(&self) -> bool {
        match &self.sets {
            Sets::Many(many) => many.removed.is_some(),
            Sets::OneRemoved(_) => true,
            Sets::Empty | Sets::One(_) => false,
        }
    }

    pub(super) fn regular_count(&self) -> usize {
        match &self.sets {
            Sets::Many(many) => many.regular_count(),
            Sets::One(_) => 1,
            Sets::Empty | Sets::OneRemoved(_) => 0,
        }
    }

    /// Whether the entry `id` is exposed (not removed).
    #[inline]
    pub(super) fn is_live(&self, id: usize) -> bool {
        match &self.sets {
            Sets::Many(many) => many.is_live(id),
            Sets::OneRemoved(_) => id != 0,
            Sets::Empty | Sets::One(_) => true,
        }
    }

    /// The general form, built from the inline one when first needed.
    /// Inline: every new tag set of a series with many passes here.
    #[inline]
    fn many(&mut self) -> &mut ManySets {
        if !matches!(self.sets, Sets::Many(_)) {
            self.make_many();
        }
        match &mut self.sets {
            Sets::Many(many) => many,
            // Made `Many` just above.
            Sets::Empty | Sets::One(_) | Sets::OneRemoved(_) => unreachable!("the tag index was just made general"),
        }
    }

    #[cold]
    fn make_many(&mut self) {
        let (entries, removed) = match std::mem::take(&mut self.sets) {
            Sets::One(entry) => (vec![entry], None),
            Sets::OneRemoved(entry) => (
                vec![entry],
                Some(Removed {
                    flags: vec![true],
                    count: 1,
                }),
            ),
            Sets::Empty | Sets::Many(_) => (Vec::new(), None),
        };
        self.sets = Sets::Many(Box::new(ManySets {
            entries,
            removed,
            ..ManySets::default()
        }));
    }

    /// Removes `id` from the table and marks it removed, replacing its
    /// entry with `replacement` (same tags and id, a fresh aggregate), so
    /// the old aggregate is freed once no handle holds it. False when `id`
    /// is not a live regular entry.
    pub(super) fn remove(&mut self, hash: u64, id: u32, replacement: TagEntry) -> bool {
        if id as usize >= self.entries().len() || !self.is_live(id as usize) || self.overflow() == Some(id) {
            return false;
        }
        if let Sets::One(_) = self.sets {
            // The only tag set: stays inline, marked removed.
            self.sets = Sets::OneRemoved(replacement);
            return true;
        }
        let many = self.many();
        if !many.table.is_empty() {
            let Ok(found) = many.table.find_entry(TagEntry::table_hash(hash), |&i| i == id) else {
                return false;
            };
            found.remove();
        }
        let len = many.entries.len();
        let removed = many.removed.get_or_insert_with(Removed::default);
        if removed.flags.len() < len {
            removed.flags.resize(len, false);
        }
        removed.flags[id as usize] = true;
        removed.count += 1;
        many.entries[id as usize] = replacement;
        true
    }

    /// The next id an entry gets.
    fn next_id(&self) -> u32 {
        // Bounded by the cardinality cap plus one overflow set; saturates
        // rather than wraps in the (memory-bound) case past `u32::MAX`.
        u32::try_from(self.entries().len()).unwrap_or(u32::MAX)
    }

    /// Adds a regular entry made by `make` from the next id, its tags
    /// hashing to `hash`, and files it for lookups; returns that id.
    pub(super) fn push_regular(
        &mut self,
        hash: u64,
        make: impl FnOnce(u32) -> Result<TagEntry, RecordError>,
    ) -> Result<u32, RecordError> {
        let id = self.next_id();
        let entry = make(id)?;
        if let Sets::Empty = self.sets {
            self.sets = Sets::One(entry);
            return Ok(id);
        }
        let many = self.many();
        many.entries.push(entry);
        if let Some(removed) = &mut many.removed {
            removed.flags.push(false);
        }
        if many.regular_count() > 1 {
            if many.table.is_empty() {
                // The second live tag set: the first one joins the table too
                // (removed ones stay out, as `find` skips them).
                many.file_all_but(id);
            }
            many.insert_into_table(id, hash);
        }
        Ok(id)
    }

    /// Adds the `overflow="true"` entry made by `make` from the next id
    /// (kept out of the table); returns that id.
    pub(super) fn push_overflow(
        &mut self,
        make: impl FnOnce(u32) -> Result<TagEntry, RecordError>,
    ) -> Result<u32, RecordError> {
        let id = self.next_id();
        let entry = make(id)?;
        let many = self.many();
        many.entries.push(entry);
        if let Some(removed) = &mut many.removed {
            removed.flags.push(false);
        }
        many.overflow = Some(id);
        Ok(id)
    }

    /// Heap bytes of the index itself (the entries' blocks not included).
    pub(super) fn heap_bytes(&self) -> usize {
        match &self.sets {
            Sets::Empty | Sets::One(_) | Sets::OneRemoved(_) => 0,
            Sets::Many(many) => {
                size_of::<ManySets>()
                    + many.table.allocation_size()
                    + many.entries.capacity() * size_of::<TagEntry>()
                    + many.removed.as_ref().map_or(0, |r| r.flags.capacity())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::{Aggregate, CounterCell};
    use crate::tags::hash_tags;

    fn entry(id: u32, pairs: &[(&str, &str)]) -> Result<TagEntry, RecordError> {
        let hash = hash_tags(&pairs);
        Ok(TagEntry::from_sorted_pairs(pairs, id, hash, Aggregate::Counter(CounterCell::default())).unwrap())
    }

    fn push(index: &mut TagIndex, pairs: &[(&str, &str)]) -> u32 {
        index.push_regular(hash_tags(&pairs), |id| entry(id, pairs)).unwrap()
    }

    fn find(index: &TagIndex, pairs: &[(&str, &str)]) -> Option<u32> {
        index.find(hash_tags(&pairs), &pairs).map(TagEntry::id)
    }

    #[test]
    fn one_tag_set_stays_inline_and_a_second_builds_the_table() {
        let mut index = TagIndex::default();
        assert_eq!(find(&index, &[("q", "a")]), None);
        assert_eq!(push(&mut index, &[("q", "a")]), 0);
        assert!(matches!(index.sets, Sets::One(_)));
        assert_eq!(index.heap_bytes(), 0);
        assert_eq!(find(&index, &[("q", "a")]), Some(0));
        assert_eq!(find(&index, &[("q", "b")]), None);

        assert_eq!(push(&mut index, &[("q", "b")]), 1);
        assert_eq!(push(&mut index, &[("q", "c")]), 2);
        assert!(matches!(&index.sets, Sets::Many(many) if many.table.len() == 3));
        for (id, v) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(find(&index, &[("q", v)]), Some(id as u32));
        }
        assert_eq!((index.regular_count(), index.live_count()), (3, 3));
        assert!(!index.any_removed());
    }

    #[test]
    fn removing_the_only_tag_set_keeps_its_slot_inline() {
        let mut index = TagIndex::default();
        push(&mut index, &[("q", "a")]);
        let hash = hash_tags(&&[("q", "a")][..]);
        assert!(index.remove(hash, 0, entry(0, &[("q", "a")]).unwrap()));
        assert!(matches!(index.sets, Sets::OneRemoved(_)));
        assert!(!index.remove(hash, 0, entry(0, &[("q", "a")]).unwrap()), "removed once");
        assert_eq!(find(&index, &[("q", "a")]), None);
        assert_eq!(
            index.entries()[0].tags().get("q"),
            Some("a"),
            "samples still map to the tags"
        );
        assert!(index.any_removed() && !index.is_live(0));
        assert_eq!((index.regular_count(), index.live_count()), (0, 0));

        // The same tags again: a new id; the removed slot stays.
        assert_eq!(push(&mut index, &[("q", "a")]), 1);
        assert_eq!(find(&index, &[("q", "a")]), Some(1));
        assert!(!index.is_live(0) && index.is_live(1));
        assert_eq!(push(&mut index, &[("q", "b")]), 2);
        assert_eq!(find(&index, &[("q", "a")]), Some(1));
        assert_eq!(find(&index, &[("q", "b")]), Some(2));
        assert_eq!(
            (index.regular_count(), index.live_count(), index.entries().len()),
            (2, 2, 3)
        );
    }

    #[test]
    fn the_overflow_set_is_listed_but_not_found() {
        let mut index = TagIndex::default();
        let id = index.push_overflow(|id| entry(id, &[("overflow", "true")])).unwrap();
        assert_eq!((id, index.overflow()), (0, Some(0)));
        assert_eq!(find(&index, &[("overflow", "true")]), None);
        assert_eq!((index.regular_count(), index.live_count()), (0, 1));
        assert_eq!(push(&mut index, &[("q", "a")]), 1);
        assert_eq!(find(&index, &[("q", "a")]), Some(1));
        let hash = hash_tags(&&[("overflow", "true")][..]);
        assert!(!index.remove(hash, 0, entry(0, &[("overflow", "true")]).unwrap()));
    }
}
