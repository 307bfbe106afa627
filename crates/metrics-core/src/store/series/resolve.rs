//! Finding a series' entry for a tag set, creating it when new, and routing
//! past the cardinality cap to the overflow set.

use std::mem::MaybeUninit;
use std::sync::PoisonError;

use super::MetricSeries;
use crate::error::{RecordError, RecordErrorKind};
use crate::store::overflow::OverflowEvent;
use crate::store::validate::{OVERFLOW_TAG_KEY, STACK_TAGS, sorted_tags_in};
use crate::tags::entry::TagEntry;
use crate::tags::{Tags, hash_tags};

/// What a lookup that did not find a tag set saw, for the insert after it.
#[derive(Debug, Clone, Copy)]
struct Missed {
    /// How many entries the index had.
    entries: usize,
    /// Whether the series was at its cardinality cap with an overflow set.
    at_cap: bool,
}

/// How [`MetricSeries::with_entry_resolved`] found a tag set's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// The tag set existed.
    Existing,
    /// The tag set is new: its entry was created by this call.
    Created,
    /// The series is at its cardinality cap: the update went to the
    /// `overflow="true"` set.
    Overflow,
}

impl MetricSeries {
    /// Runs `f` on the entry of `tags`, creating it (or routing to the
    /// overflow set past the cardinality cap) when new.
    #[cfg(test)]
    pub(crate) fn with_entry<R>(&self, tags: &impl Tags, f: impl FnOnce(&TagEntry) -> R) -> Result<R, RecordError> {
        self.with_entry_resolved(tags, f).map(|(r, _)| r)
    }

    /// [`with_entry`](Self::with_entry), also telling how the entry was found.
    #[inline]
    pub(crate) fn with_entry_resolved<R>(
        &self,
        tags: &impl Tags,
        f: impl FnOnce(&TagEntry) -> R,
    ) -> Result<(R, Resolved), RecordError> {
        let hash = hash_tags(tags);
        let missed = {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = index.find(hash, tags) {
                return Ok((f(entry), Resolved::Existing));
            }
            Missed {
                entries: index.entries().len(),
                at_cap: index.overflow().is_some() && index.regular_count() >= self.settings.max_tag_sets(),
            }
        };
        self.with_new_entry(hash, missed, tags, f)
    }

    #[cold]
    fn with_new_entry<R>(
        &self,
        hash: u64,
        missed: Missed,
        tags: &impl Tags,
        f: impl FnOnce(&TagEntry) -> R,
    ) -> Result<(R, Resolved), RecordError> {
        let mut stack = [const { MaybeUninit::uninit() }; STACK_TAGS];
        let mut heap = Vec::new();
        let pairs = sorted_tags_in(&self.name, tags, self.settings.max_tags(), &mut stack, &mut heap)?;
        let max_sets = self.settings.max_tag_sets();
        if missed.at_cap {
            // A series at its cap routes unknown sets to overflow under the
            // read lock. (One that reached the cap since the lookup is
            // routed under the write lock below.)
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            if index.regular_count() >= max_sets
                && let Some(id) = index.overflow()
            {
                self.count_overflow();
                let result = f(&index.entries()[id as usize]);
                drop(index);
                self.report_overflow(max_sets);
                return Ok((result, Resolved::Overflow));
            }
        }
        let mut guard = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let index = &mut *guard;
        // Entries are only ever added (a removed one keeps its slot and is
        // not found), so when none was added since the lookup missed, the
        // tags are still absent: no second comparison.
        if index.entries().len() != missed.entries
            && let Some(entry) = index.find(hash, tags)
        {
            return Ok((f(entry), Resolved::Existing));
        }
        if index.regular_count() >= max_sets {
            let id = match index.overflow() {
                Some(id) => id,
                None => {
                    let pairs = [(OVERFLOW_TAG_KEY, "true")];
                    index.push_overflow(|id| self.new_entry(id, &pairs, hash_tags(&&pairs[..])))?
                }
            };
            self.count_overflow();
            let result = f(&index.entries()[id as usize]);
            drop(guard);
            self.report_overflow(max_sets);
            return Ok((result, Resolved::Overflow));
        }
        let id = index.push_regular(hash, |id| self.new_entry(id, pairs, hash))?;
        Ok((f(&index.entries()[id as usize]), Resolved::Created))
    }

    /// Tells the program's overflow hook, rate-limited per series; no lock
    /// of this series is held.
    #[cold]
    fn report_overflow(&self, max_tag_sets: usize) {
        let event = OverflowEvent {
            metric: &self.name,
            max_tag_sets,
            overflow_updates: self.overflow_updates(),
        };
        self.extras()
            .overflow_reporter
            .report(&self.settings.overflow_hook, self.settings.now_nanos(), &event);
    }

    /// A new entry for validated `pairs`, sorted by key, which hash to
    /// `hash` ([`hash_tags`]).
    pub(in crate::store) fn new_entry(
        &self,
        id: u32,
        pairs: &[(&str, &str)],
        hash: u64,
    ) -> Result<TagEntry, RecordError> {
        TagEntry::from_sorted_pairs(pairs, id, hash, self.new_aggregate()).ok_or_else(|| {
            RecordError::from(RecordErrorKind::InvalidTagKey {
                // Validated tags are at most 64 x (255 + 1024) bytes: unreachable
                // from the store, but an error rather than a panic all the same.
                name: self.name.to_string(),
                key: pairs.first().map_or("", |(k, _)| k).chars().take(64).collect(),
                reason: "the tag set's keys and values add up to 4 GiB or more",
            })
        })
    }
}
