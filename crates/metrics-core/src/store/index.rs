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
    /// Which ids were removed (`remove`, idle expiry), by id; empty until the
    /// first removal. A removed id keeps its slot in `entries` (with a fresh,
    /// unexposed aggregate) so that retained samples still map to their tags.
    pub(super) removed: Vec<bool>,
    /// How many entries `removed` marks.
    pub(super) removed_count: usize,
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
            .find(hash, |&id| entries[id as usize].tags().equals_tags(tags))
            .map(|&id| &entries[id as usize])
    }

    pub(super) fn regular_count(&self) -> usize {
        self.entries.len() - usize::from(self.overflow.is_some()) - self.removed_count
    }

    /// Whether the entry `id` is exposed (not removed).
    #[inline]
    pub(super) fn is_live(&self, id: usize) -> bool {
        !self.removed.get(id).copied().unwrap_or(false)
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
            let Ok(found) = self.table.find_entry(hash, |&i| i == id) else {
                return false;
            };
            found.remove();
        }
        if self.removed.len() < self.entries.len() {
            self.removed.resize(self.entries.len(), false);
        }
        self.removed[id as usize] = true;
        self.removed_count += 1;
        self.entries[id as usize] = replacement;
        true
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
        if !self.removed.is_empty() {
            self.removed.push(false);
        }
        Ok(id)
    }
}
