//! Reading a series' retained samples: the copies, filters and summaries
//! that callers and the API get, taken under the ring's lock.

use time::OffsetDateTime;

use super::MetricSeries;
use crate::clock::{self, to_datetime};
use crate::snapshot::MetricValue;
use crate::snapshot::summary::{Summary, SummaryQuery};
use crate::store::ring::{Sample, SampleRing};
use crate::sync::spin::SpinGuard;
use crate::tags::{TagFilter, TagSet};

/// The retained samples of a series as a read sees them: under the ring's
/// lock, or the empty ring of a series that never kept one.
pub(super) enum RingRead<'a> {
    Locked(SpinGuard<'a, SampleRing>),
    Empty,
}

static EMPTY_RING: SampleRing = SampleRing::EMPTY;

impl std::ops::Deref for RingRead<'_> {
    type Target = SampleRing;
    fn deref(&self) -> &SampleRing {
        match self {
            RingRead::Locked(ring) => ring,
            RingRead::Empty => &EMPTY_RING,
        }
    }
}

impl MetricSeries {
    /// The retained samples, every per-thread buffer merged in and old
    /// samples expired; held under the ring's lock.
    pub(super) fn samples(&self) -> RingRead<'_> {
        match self.samples.get() {
            Some(store) => RingRead::Locked(store.lock(self.settings.retention_cutoff(), self.settings.max_samples())),
            None => RingRead::Empty,
        }
    }

    /// Copies the retained samples (after expiring old ones) and the tag sets
    /// they refer to; no lock is held while the caller works on the copy.
    pub(super) fn retained(&self) -> (Vec<Sample>, Vec<TagSet>) {
        let samples: Vec<Sample> = {
            let ring = self.samples();
            ring.iter().copied().collect()
        };
        (samples, self.all_tag_sets())
    }

    pub(super) fn materialize(&self, s: &Sample, tag_sets: &[TagSet]) -> MetricValue {
        MetricValue {
            value: s.value,
            timestamp: to_datetime(s.ts),
            tags: tag_sets.get(s.tags as usize).cloned().unwrap_or_default(),
            metric_type: self.metric_type,
        }
    }

    /// Every retained sample, oldest first.
    pub fn values(&self) -> Vec<MetricValue> {
        self.values_matching(&TagFilter::any())
    }

    /// Retained samples carrying every pair of `filter`, oldest first.
    pub fn values_matching(&self, filter: &TagFilter) -> Vec<MetricValue> {
        let (samples, sets) = self.retained();
        let keep: Vec<bool> = sets.iter().map(|t| filter.matches(t)).collect();
        samples
            .iter()
            .filter(|s| keep.get(s.tags as usize).copied().unwrap_or(false))
            .map(|s| self.materialize(s, &sets))
            .collect()
    }

    /// The newest `limit` retained samples matching `filter` and recorded at
    /// or after `since`, oldest first, with the number of samples that match
    /// in all. Memory is bounded by `limit`, however long the series: this is
    /// what an API serving samples to clients should call.
    ///
    /// ```
    /// use metrics_core::{MetricsCollector, MetricType, TagFilter};
    /// let c = MetricsCollector::default();
    /// for i in 0..10 {
    ///     c.record_metric("x", f64::from(i), &[("even", if i % 2 == 0 { "y" } else { "n" })], MetricType::Gauge)?;
    /// }
    /// let s = c.get_metric_series("x").unwrap();
    /// let (matching, newest) = s.newest_values(&TagFilter::new().with("even", "y"), None, 2);
    /// assert_eq!(matching, 5);
    /// assert_eq!(newest.iter().map(|v| v.value).collect::<Vec<_>>(), vec![6.0, 8.0]);
    /// # Ok::<(), metrics_core::MetricsError>(())
    /// ```
    pub fn newest_values(
        &self,
        filter: &TagFilter,
        since: Option<OffsetDateTime>,
        limit: usize,
    ) -> (usize, Vec<MetricValue>) {
        let sets = self.all_tag_sets();
        let keep: Vec<bool> = sets.iter().map(|t| filter.matches(t)).collect();
        let since = since.map_or(i64::MIN, clock::to_nanos);
        let mut picked: Vec<Sample> = Vec::with_capacity(limit.min(4096));
        let mut matching = 0usize;
        {
            let ring = self.samples();
            // Newest first, so the scan can stop at the first sample before `since`.
            for s in ring.iter_newest_first() {
                if s.ts < since {
                    break;
                }
                if keep.get(s.tags as usize).copied().unwrap_or(false) {
                    matching += 1;
                    if picked.len() < limit {
                        picked.push(*s);
                    }
                }
            }
        }
        let values = picked.iter().rev().map(|s| self.materialize(s, &sets)).collect();
        (matching, values)
    }

    /// The newest retained sample matching `filter`.
    pub fn latest(&self, filter: &TagFilter) -> Option<MetricValue> {
        let sets = self.all_tag_sets();
        let keep: Vec<bool> = sets.iter().map(|t| filter.matches(t)).collect();
        let found = {
            let ring = self.samples();
            ring.last_where(|s| keep.get(s.tags as usize).copied().unwrap_or(false))
        };
        found.map(|s| self.materialize(&s, &sets))
    }

    /// Exact statistics over the retained samples selected by `query`;
    /// `None` when no sample matches.
    pub fn summary(&self, query: &SummaryQuery) -> Option<Summary> {
        let since = query.since.map_or(i64::MIN, clock::to_nanos);
        let (samples, sets) = self.retained();
        let keep: Vec<bool> = sets.iter().map(|t| query.tags.matches(t)).collect();
        let values = samples
            .iter()
            .filter(|s| s.ts >= since && keep.get(s.tags as usize).copied().unwrap_or(false))
            .map(|s| s.value)
            .collect();
        Summary::from_values(values)
    }

    /// Number of retained samples.
    pub fn len(&self) -> usize {
        self.samples().len()
    }

    /// Whether no sample is retained.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Samples evicted by the `max_samples_per_series` cap since creation.
    pub fn dropped_samples(&self) -> u64 {
        self.samples().dropped()
    }

    /// Samples expired by the retention period since creation.
    pub fn expired_samples(&self) -> u64 {
        self.samples().expired()
    }

    /// The time of the newest retained sample.
    pub fn last_updated(&self) -> Option<OffsetDateTime> {
        self.latest(&TagFilter::any()).map(|v| v.timestamp)
    }
}
