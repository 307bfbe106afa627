//! Removing tag sets from a series: one by its tags
//! ([`MetricsCollector::remove`](crate::MetricsCollector::remove)), or every
//! one that went idle for `idle_timeout`.
//!
//! Idleness is seen by the sweep, not by the update path: each sweep notes a
//! fingerprint of every tag set's aggregate (a counter's total, a gauge's
//! value, a histogram's count and sum) and when it last changed, so updates
//! pay nothing for expiry. A tag set whose fingerprint has not changed for
//! `idle_timeout` is removed. The consequence: a gauge set again and again
//! to the same value looks idle, and a counter incremented by 0 too.
//!
//! A removed tag set leaves the hash table (the next update of those tags
//! creates a new entry, a counter restarting from 0) and the exposition; its
//! slot keeps the tags with a fresh aggregate, so the old aggregate is freed
//! once no handle holds it and retained samples still map to their tags.
//! The collector bumps its generation after a removal, so no per-thread cache
//! resolves to the removed entry; a handle resolved before keeps updating the
//! detached aggregate, which nothing exposes, and never another tag set's.

use std::sync::PoisonError;

use super::MetricSeries;
use crate::snapshot::AggregateValue;
use crate::tags::{Tags, hash_tags};

/// What the last sweep saw of one tag set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Activity {
    fingerprint: u64,
    /// When the fingerprint last changed (ns since the epoch); `i64::MIN`
    /// for a tag set no sweep has seen yet.
    changed_at: i64,
}

const UNSEEN: Activity = Activity {
    fingerprint: 0,
    changed_at: i64::MIN,
};

fn fingerprint(value: &AggregateValue) -> u64 {
    match value {
        AggregateValue::Counter { total } => total.to_bits(),
        AggregateValue::Gauge { value } => value.to_bits(),
        AggregateValue::Histogram(h) => h.count ^ h.sum.to_bits().rotate_left(17),
    }
}

impl MetricSeries {
    /// Every tag set by its id — the index a [`SampleSink`](crate::SampleSink)
    /// receives with each sample, and retained samples refer to — removed
    /// tag sets included (their slot keeps the tags; a re-created tag set
    /// gets a new id). [`tag_sets`](Self::tag_sets) lists the live ones only,
    /// so after a removal its positions are not ids.
    pub fn tag_sets_by_id(&self) -> Vec<crate::TagSet> {
        self.all_tag_sets()
    }

    /// Removes the tag set `tags` (in any order); false when the series has
    /// no such tag set. The overflow set cannot be removed this way.
    pub(crate) fn remove_tag_set(&self, tags: &impl Tags) -> bool {
        let hash = hash_tags(tags);
        let id = {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            match index.find(hash, tags) {
                Some(e) => e.id(),
                None => return false,
            }
        };
        self.remove_id(id)
    }

    /// Removes the entry `id` if it is still live.
    fn remove_id(&self, id: u32) -> bool {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = index.entries().get(id as usize) else {
            return false;
        };
        if !index.is_live(id as usize) || index.overflow() == Some(id) {
            return false;
        }
        let tags = entry.tags().clone();
        let hash = hash_tags(&&tags);
        let pairs: Vec<(&str, &str)> = tags.iter().collect();
        // Rebuilding validated tags cannot fail; if it ever did, the entry stays.
        let Ok(replacement) = self.new_entry(id, &pairs, hash) else {
            return false;
        };
        let removed = index.remove(hash, id, replacement);
        if removed && let Some(extras) = self.extras.get() {
            extras.exemplars.forget(id);
        }
        removed
    }

    /// Removes every regular tag set whose aggregate has not changed since
    /// `now - timeout` (ns); returns how many were removed.
    pub(crate) fn expire_idle(&self, now: i64, timeout: i64) -> usize {
        let mut activity = self.extras().activity.lock().unwrap_or_else(PoisonError::into_inner);
        let mut idle = Vec::new();
        {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            activity.resize(index.entries().len(), UNSEEN);
            for (id, entry) in index.entries().iter().enumerate() {
                if !index.is_live(id) || index.overflow() == Some(id as u32) {
                    continue;
                }
                let fp = fingerprint(&entry.aggregate().value());
                let seen = &mut activity[id];
                if seen.changed_at == i64::MIN || seen.fingerprint != fp {
                    *seen = Activity {
                        fingerprint: fp,
                        changed_at: now,
                    };
                } else if now.saturating_sub(seen.changed_at) >= timeout {
                    idle.push(entry.id());
                }
            }
        }
        idle.into_iter().filter(|&id| self.remove_id(id)).count()
    }
}
