//! `MetricsCollector::exposition`: Prometheus or OpenMetrics text written
//! straight from the live series.

use std::sync::Arc;

use super::MetricsCollector;
use crate::export::prometheus::{AggregateSource, Exposition, NameConflict, TextFormat, encode_from, exposition_of};
use crate::snapshot::exemplar::BucketExemplar;
use crate::snapshot::self_metrics::add_self_metrics;
use crate::snapshot::{AggregateValue, Snapshot};
use crate::store::series::MetricSeries;
use crate::tags::TagSet;

impl MetricsCollector {
    /// The aggregates as Prometheus text or OpenMetrics text: the same text
    /// and conflicts as
    /// [`encode`](crate::export::prometheus::encode)`(&self.aggregate_snapshot(), format)`,
    /// but each tag set is written from the live series under its read
    /// lock instead of being copied into a snapshot first. A scrape of
    /// 10,000 series so touches a third of the memory and allocates no
    /// per-tag-set copy (`docs/benchmarks.md`, scenario 7).
    ///
    /// ```
    /// use metrics_core::{MetricsCollector, MetricType};
    /// use metrics_core::export::prometheus::{encode, TextFormat};
    /// let c = MetricsCollector::default();
    /// c.increment_counter("jobs.completed", &[("queue", "a")], 3)?;
    /// let text = c.exposition(TextFormat::Prometheus).text;
    /// assert!(text.contains("jobs_completed_total{queue=\"a\"} 3.0\n"));
    /// assert_eq!(text, encode(&c.aggregate_snapshot(), TextFormat::Prometheus).text);
    /// # Ok::<(), metrics_core::MetricsError>(())
    /// ```
    pub fn exposition(&self, format: TextFormat) -> Exposition {
        exposition_of(|out| self.exposition_into(format, out))
    }

    /// [`exposition`](Self::exposition), appending the text (UTF-8) to
    /// `out` and returning the conflicts. A server that keeps `out` between
    /// scrapes, as the fastest peers' encoders do with theirs, writes into
    /// memory it already has.
    ///
    /// ```
    /// use metrics_core::MetricsCollector;
    /// use metrics_core::export::prometheus::TextFormat;
    /// let c = MetricsCollector::default();
    /// c.increment_counter("jobs", &[], 1)?;
    /// let mut body = Vec::new();
    /// for _ in 0..2 {
    ///     body.clear();
    ///     assert!(c.exposition_into(TextFormat::Prometheus, &mut body).is_empty());
    /// }
    /// assert!(String::from_utf8(body).unwrap().contains("jobs_total 1.0\n"));
    /// # Ok::<(), metrics_core::MetricsError>(())
    /// ```
    pub fn exposition_into(&self, format: TextFormat, out: &mut Vec<u8>) -> Vec<NameConflict> {
        self.expire_idle();
        let live = self.all_series();
        let mut shape: Vec<_> = live.iter().map(|s| s.shape_snapshot()).collect();
        add_self_metrics(&mut shape);
        // The shape holds every live series in order, plus the collector's
        // own series (which exist only in the shape): match them by name.
        let mut next = live.iter().peekable();
        let sources: Vec<Option<Arc<MetricSeries>>> = shape
            .iter()
            .map(|s| next.next_if(|l| l.name() == s.name).cloned())
            .collect();
        let shape = Snapshot {
            taken_at: self.now(),
            series: shape,
        };
        encode_from(&shape, &LiveSeries { shape: &shape, sources }, format, out)
    }
}

/// Aggregates read from the live series, or from the shape for the
/// collector's own series.
struct LiveSeries<'a> {
    shape: &'a Snapshot,
    sources: Vec<Option<Arc<MetricSeries>>>,
}

impl AggregateSource for LiveSeries<'_> {
    fn tag_sets(&self, series: usize) -> usize {
        match &self.sources[series] {
            Some(live) => live.live_tag_sets(),
            None => self.shape.tag_sets(series),
        }
    }

    fn for_each(&self, series: usize, f: &mut dyn FnMut(&TagSet, &AggregateValue, &[BucketExemplar])) {
        match &self.sources[series] {
            Some(live) => live.for_each_aggregate(|tags, value, exemplars| f(tags, &value, &exemplars)),
            None => self.shape.for_each(series, f),
        }
    }

    fn for_each_scalar(&self, series: usize, f: &mut dyn FnMut(&TagSet, f64)) -> bool {
        self.sources[series]
            .as_ref()
            .is_some_and(|live| live.for_each_scalar(f))
    }
}
