//! `TagIndex`: the tag sets of one series, by dense id and by tags.

use hashbrown::HashTable;

use crate::error::RecordError;
use crate::tags::Tags;
use crate::tags::entry::TagEntry;

/// The tag sets of a series, by id (dense, in creation order, the overflow
/// set included) and by tags.
#[derive(Debug, Default)]
pub(super) struct TagIndex {
    /// Tag set → id, by the order-independent hash of the tags. 4-byte
    /// buckets; a probe compares the caller's tags with the entry's text.
    pub(super) table: HashTable<u32>,
    /// Every entry (8-byte pointers), at the index of its id: snapshots walk
    /// this in creation order, reading the entries in allocation order.
    pub(super) entries: Vec<TagEntry>,
    /// The id of the `overflow="true"` set, once the cardinality cap was
    /// reached. Not in the table: `overflow` is a reserved key that callers
    /// cannot look up or record to directly.
    pub(super) overflow: Option<u32>,
    /// Which ids were removed (`remove`, idle expiry); `None` until the
    /// first removal. A removed id keeps its slot in `entries` (with a fresh,
    /// unexposed aggregate) so that retained samples still map to their tags.
    removed: Option<Box<Removed>>,
}

/// The removed ids of a series, by id.
#[derive(Debug, Default)]
struct Removed {
    flags: Vec<bool>,
    /// How many entries `flags` marks.
    count: usize,
}

impl TagIndex {
    #[inline]
    pub(super) fn find(&self, hash: u64, tags: &impl Tags) -> Option<&TagEntry> {
        let entries = &self.entries;
        if self.table.is_empty() {
            // A series with one tag set (most of them) keeps it out of the
            // table, saving the table's allocation: compare it directly.
            return entries
                .iter()
                .enumerate()
                .find(|&(id, e)| self.overflow != Some(id as u32) && self.is_live(id) && e.tags().equals_tags(tags))
                .map(|(_, e)| e);
        }
        self.table
            .find(TagEntry::table_hash(hash), |&id| {
                entries[id as usize].tags().equals_tags(tags)
            })
            .map(|&id| &entries[id as usize])
    }

    /// Entries not removed (the overflow set included).
    pub(super) fn live_count(&self) -> usize {
        self.entries.len() - self.removed.as_ref().map_or(0, |r| r.count)
    }

    /// Whether any entry was ever removed.
    #[inline]
    pub(super) fn any_removed(&self) -> bool {
        self.removed.is_some()
    }

    pub(super) fn regular_count(&self) -> usize {
        self.entries.len() - usize::from(self.overflow.is_some()) - self.removed.as_ref().map_or(0, |r| r.count)
    }

    /// Whether the entry `id` is exposed (not removed).
    #[inline]
    pub(super) fn is_live(&self, id: usize) -> bool {
        !self
            .removed
            .as_ref()
            .is_some_and(|r| r.flags.get(id).copied().unwrap_or(false))
    }

    /// Removes `id` from the table and marks it removed, replacing its
    /// entry with `replacement` (same tags and id, a fresh aggregate), so
    /// the old aggregate is freed once no handle holds it. False when `id`
    /// is not a live regular entry.
    pub(super) fn remove(&mut self, hash: u64, id: u32, replacement: TagEntry) -> bool {
        if self.table.is_empty() {
            // One live tag set, kept out of the table (see `find`).
            if id as usize >= self.entries.len() || !self.is_live(id as usize) || self.overflow == Some(id) {
                return false;
            }
        } else {
            let Ok(found) = self.table.find_entry(TagEntry::table_hash(hash), |&i| i == id) else {
                return false;
            };
            found.remove();
        }
        let removed = self.removed.get_or_insert_with(Box::default);
        if removed.flags.len() < self.entries.len() {
            removed.flags.resize(self.entries.len(), false);
        }
        removed.flags[id as usize] = true;
        removed.count += 1;
        self.entries[id as usize] = replacement;
        true
    }

    /// Files entry `id`, whose tags hash to `hash`, in the table.
    pub(super) fn insert_into_table(&mut self, id: u32, hash: u64) {
        let entries = &self.entries;
        self.table.insert_unique(TagEntry::table_hash(hash), id, |&i| {
            entries[i as usize].own_table_hash()
        });
    }

    /// Files entry `id` in the table by the hash the entry keeps.
    fn refile(&mut self, id: u32) {
        let entries = &self.entries;
        let h = entries[id as usize].own_table_hash();
        self.table
            .insert_unique(h, id, |&i| entries[i as usize].own_table_hash());
    }

    /// Files every live regular entry but `except` in the table: what the
    /// second live tag set does (a series with one keeps the table empty).
    pub(super) fn file_all_but(&mut self, except: u32) {
        for first in 0..self.entries.len() {
            let id = first as u32;
            if id != except && Some(id) != self.overflow && self.is_live(first) {
                self.refile(id);
            }
        }
    }

    /// Adds an entry made by `make` from the next id; returns that id.
    pub(super) fn push(&mut self, make: impl FnOnce(u32) -> Result<TagEntry, RecordError>) -> Result<u32, RecordError> {
        // Bounded by the cardinality cap plus one overflow set; saturates
        // rather than wraps in the (memory-bound) case past `u32::MAX`.
        let id = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let entry = make(id)?;
        if self.entries.capacity() == 0 {
            // Most series hold one tag set: no room reserved for four.
            self.entries.reserve_exact(1);
        }
        self.entries.push(entry);
        if let Some(removed) = &mut self.removed {
            removed.flags.push(false);
        }
        Ok(id)
    }
}
