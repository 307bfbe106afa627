//! What one send interval reads from a collector: the samples recorded since
//! the last read, the cumulative aggregates, and, per tag set, the
//! aggregate's value as it stood at each retained sample.
//!
//! A retained sample of a counter is an increment and one of a histogram an
//! observation, but what an engine stores is the cumulative value. So the
//! history of a tag set is rebuilt backwards from its aggregate: the total
//! just after sample *i* is the current total less every later increment
//! (for histograms: count, sum and each bucket less the later
//! observations). The values are exact when every update was kept as a
//! sample (`record_metric`, or handles with `SamplePolicy::EveryEvent`);
//! updates that left no sample show up at the next sample or aggregate, so
//! a rebuilt counter never decreases.

use std::collections::HashMap;

use metrics_core::{AggregateValue, SeriesSnapshot, Snapshot};
use metrics_core::{MetricType, MetricValue, MetricsCollector, TagFilter, TagSet};
use time::OffsetDateTime;

/// A value of a tag set at one moment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PointValue {
    /// A counter total or a gauge value.
    Number(f64),
    /// A distribution: cumulative bucket counts (one per bound, `+Inf` is
    /// `count`).
    Histogram {
        /// Observations.
        count: u64,
        /// Their sum.
        sum: f64,
        /// Cumulative counts per bound.
        cumulative: Vec<u64>,
    },
}

/// The history of one tag set of one series.
#[derive(Debug)]
pub(crate) struct Stream<'a> {
    /// The series (from the aggregate snapshot).
    pub(crate) series: &'a SeriesSnapshot,
    /// The tag set.
    pub(crate) tags: &'a TagSet,
    /// Histogram bounds (empty for counters and gauges).
    pub(crate) bounds: Vec<f64>,
    /// Rebuilt values at the retained samples read, oldest first
    /// (timestamps in ns since the epoch).
    pub(crate) points: Vec<(i64, PointValue)>,
    /// The aggregate at [`Collection::taken_at`].
    pub(crate) aggregate: PointValue,
    /// Smallest and largest observation (histograms).
    pub(crate) min_max: Option<(f64, f64)>,
}

/// One read of a collector.
#[derive(Debug)]
pub(crate) struct Collection {
    /// The aggregates (no samples).
    pub(crate) snapshot: Snapshot,
    /// Per series of `snapshot` (same index), the samples read.
    pub(crate) samples: Vec<Vec<MetricValue>>,
    /// The time the aggregates are sent at, ns since the epoch.
    pub(crate) taken_at: i64,
    /// The collector's time when the read began: every sample recorded
    /// later is stamped at or after it, so the next read can start there.
    pub(crate) started: OffsetDateTime,
}

/// Nanoseconds since the epoch, saturating.
pub(crate) fn nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(if t.year() < 1970 { i64::MIN } else { i64::MAX })
}

impl Collection {
    /// Reads `collector`: for each series the retained samples newer than
    /// `since(name)` (all when `None`), then the aggregates. Samples are read
    /// first so that every sample read is already in the aggregates.
    ///
    /// `aggregate_time` replaces the snapshot time as the aggregates'
    /// timestamp (a stored run's history is sent with its aggregates at its
    /// newest sample, not at the time of the push).
    pub(crate) fn read(
        collector: &MetricsCollector,
        since: &dyn Fn(&str) -> Option<OffsetDateTime>,
        aggregate_time: Option<i64>,
    ) -> Collection {
        let started = collector.now();
        let all = TagFilter::new();
        let mut read: HashMap<String, Vec<MetricValue>> = HashMap::new();
        for info in collector.list_series() {
            if let Some(series) = collector.get_metric_series(&info.name) {
                let (_, values) = series.newest_values(&all, since(&info.name), usize::MAX);
                read.insert(info.name, values);
            }
        }
        let snapshot = collector.aggregate_snapshot();
        let samples = snapshot
            .series
            .iter()
            .map(|s| read.remove(&s.name).unwrap_or_default())
            .collect();
        let taken_at = aggregate_time.unwrap_or_else(|| nanos(snapshot.taken_at));
        Collection {
            snapshot,
            samples,
            taken_at,
            started,
        }
    }

    /// As [`read`](Self::read), but only the samples stamped at or before
    /// `until` (ns since the epoch) are kept, and the aggregates are taken
    /// back to that moment: each later sample's increment (counters) or
    /// observation (histograms) is taken off its tag set's aggregate, and
    /// a gauge shows its last sample at or before `until`. The aggregates
    /// are stamped at `until`. So a sender that sends only what the durable
    /// store has committed sends values consistent with what a restarted
    /// process rebuilds from the store.
    pub(crate) fn read_until(
        collector: &MetricsCollector,
        since: &dyn Fn(&str) -> Option<OffsetDateTime>,
        until: i64,
    ) -> Collection {
        let mut c = Collection::read(collector, since, Some(until));
        for (series, values) in c.snapshot.series.iter_mut().zip(c.samples.iter_mut()) {
            let (kept, later): (Vec<MetricValue>, Vec<MetricValue>) =
                values.drain(..).partition(|v| nanos(v.timestamp) <= until);
            *values = kept;
            for v in &later {
                let Some(agg) = series.aggregates.iter_mut().find(|a| a.tags == v.tags) else {
                    continue;
                };
                match &mut agg.value {
                    AggregateValue::Counter { total } => *total -= v.value,
                    AggregateValue::Gauge { value } => {
                        if let Some(last) = values.iter().rev().find(|k| k.tags == v.tags) {
                            *value = last.value;
                        }
                    }
                    AggregateValue::Histogram(h) => {
                        h.count = h.count.saturating_sub(1);
                        h.sum -= v.value;
                        for b in &mut h.buckets {
                            if v.value <= b.le {
                                b.count = b.count.saturating_sub(1);
                            }
                        }
                    }
                }
            }
        }
        c
    }

    /// The newest sample timestamp read, if any.
    pub(crate) fn newest_sample(&self) -> Option<i64> {
        self.samples.iter().flatten().map(|v| nanos(v.timestamp)).max()
    }

    /// Every tag set's history.
    pub(crate) fn streams(&self) -> Vec<Stream<'_>> {
        let mut out = Vec::new();
        for (series, samples) in self.snapshot.series.iter().zip(&self.samples) {
            let mut by_tags: HashMap<&TagSet, Vec<&MetricValue>> = HashMap::new();
            for v in samples {
                by_tags.entry(&v.tags).or_default().push(v);
            }
            for agg in &series.aggregates {
                let mine = by_tags.remove(&agg.tags).unwrap_or_default();
                out.push(rebuild(series, &agg.tags, &agg.value, &mine));
            }
        }
        out
    }
}

/// Rebuilds a tag set's values at its samples, backwards from `aggregate`.
fn rebuild<'a>(
    series: &'a SeriesSnapshot,
    tags: &'a TagSet,
    aggregate: &AggregateValue,
    samples: &[&MetricValue],
) -> Stream<'a> {
    let mut points = Vec::with_capacity(samples.len());
    let (bounds, agg, min_max) = match aggregate {
        AggregateValue::Counter { total } => {
            let mut total = *total;
            for s in samples.iter().rev() {
                points.push((nanos(s.timestamp), PointValue::Number(total)));
                total -= s.value;
            }
            (Vec::new(), PointValue::Number(*total_of(aggregate)), None)
        }
        AggregateValue::Gauge { value } => {
            for s in samples.iter().rev() {
                points.push((nanos(s.timestamp), PointValue::Number(s.value)));
            }
            (Vec::new(), PointValue::Number(*value), None)
        }
        AggregateValue::Histogram(h) => {
            let bounds: Vec<f64> = h.buckets.iter().map(|b| b.le).collect();
            let mut count = h.count;
            let mut sum = h.sum;
            let mut cumulative: Vec<u64> = h.buckets.iter().map(|b| b.count).collect();
            let agg = PointValue::Histogram {
                count,
                sum,
                cumulative: cumulative.clone(),
            };
            for s in samples.iter().rev() {
                points.push((
                    nanos(s.timestamp),
                    PointValue::Histogram {
                        count,
                        sum,
                        cumulative: cumulative.clone(),
                    },
                ));
                count = count.saturating_sub(1);
                sum -= s.value;
                for (c, le) in cumulative.iter_mut().zip(&bounds) {
                    if s.value <= *le {
                        *c = c.saturating_sub(1);
                    }
                }
            }
            (bounds, agg, (h.count > 0).then_some((h.min, h.max)))
        }
    };
    points.reverse();
    Stream {
        series,
        tags,
        bounds,
        points,
        aggregate: agg,
        min_max,
    }
}

fn total_of(a: &AggregateValue) -> &f64 {
    match a {
        AggregateValue::Counter { total } => total,
        AggregateValue::Gauge { value } => value,
        AggregateValue::Histogram(h) => &h.sum,
    }
}

/// Whether a series is sent as a histogram.
pub(crate) fn is_histogram(ty: MetricType) -> bool {
    matches!(ty, MetricType::Histogram | MetricType::Timer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_totals_are_rebuilt_at_each_sample() {
        let c = MetricsCollector::default();
        for n in [1.0, 2.0, 4.0] {
            c.record_metric("hits", n, &[("q", "a")], MetricType::Counter).unwrap();
        }
        c.record_metric("hits", 10.0, &[("q", "b")], MetricType::Counter)
            .unwrap();
        let col = Collection::read(&c, &|_| None, None);
        let streams = col.streams();
        let a = streams.iter().find(|s| s.tags.get("q") == Some("a")).unwrap();
        let values: Vec<_> = a.points.iter().map(|p| p.1.clone()).collect();
        assert_eq!(
            values,
            vec![
                PointValue::Number(1.0),
                PointValue::Number(3.0),
                PointValue::Number(7.0)
            ]
        );
        assert_eq!(a.aggregate, PointValue::Number(7.0));
        assert!(a.points.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn a_read_until_keeps_earlier_samples_and_takes_the_aggregates_back_to_then() {
        let clock = std::sync::Arc::new(metrics_core::clock::ManualClock::new(1_000_000_000_000));
        let c = MetricsCollector::with_clock(metrics_core::MetricsConfig::default(), clock.clone());
        for (n, secs) in [(1.0, 0), (2.0, 1), (4.0, 2)] {
            clock.set(1_000_000_000_000 + secs * 1_000_000_000);
            c.record_metric("hits", n, &[], MetricType::Counter).unwrap();
            c.record_metric("level", n, &[], MetricType::Gauge).unwrap();
            c.record_metric("lat", n, &[], MetricType::Histogram).unwrap();
        }
        let until = 1_001_000_000_000;
        let col = Collection::read_until(&c, &|_| None, until);
        assert_eq!(col.taken_at, until);
        let streams = col.streams();
        let of = |name: &str| streams.iter().find(|s| s.series.name == name).unwrap();
        assert_eq!(of("hits").points.len(), 2);
        assert_eq!(of("hits").aggregate, PointValue::Number(3.0));
        assert_eq!(of("hits").points[1].1, PointValue::Number(3.0));
        assert_eq!(of("level").aggregate, PointValue::Number(2.0));
        match &of("lat").aggregate {
            PointValue::Histogram { count, sum, .. } => assert_eq!((*count, *sum), (2, 3.0)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn histogram_buckets_are_rebuilt_at_each_observation() {
        let c = MetricsCollector::default();
        c.describe_metric(
            "lat",
            MetricType::Histogram,
            metrics_core::MetricOptions {
                buckets: Some(vec![1.0, 2.0]),
                ..Default::default()
            },
        )
        .unwrap();
        for v in [0.5, 1.5, 3.0] {
            c.record_metric("lat", v, &[], MetricType::Histogram).unwrap();
        }
        let col = Collection::read(&c, &|_| None, None);
        let s = &col.streams()[0];
        let expected = [(1, 0.5, vec![1, 1]), (2, 2.0, vec![1, 2]), (3, 5.0, vec![1, 2])];
        for (p, (count, sum, cumulative)) in s.points.iter().zip(expected) {
            assert_eq!(p.1, PointValue::Histogram { count, sum, cumulative });
        }
        assert_eq!(s.min_max, Some((0.5, 3.0)));
    }
}
