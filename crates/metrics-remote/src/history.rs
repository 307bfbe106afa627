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
    /// Per series (same index), the value of a tag set just before its
    /// first sample read, where it is known exactly
    /// ([`read_until`](Self::read_until)): its history is summed forward
    /// from there, not taken back from the aggregate.
    pub(crate) bases: Vec<HashMap<TagSet, AggregateValue>>,
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
        let samples: Vec<_> = snapshot
            .series
            .iter()
            .map(|s| read.remove(&s.name).unwrap_or_default())
            .collect();
        let bases = vec![HashMap::new(); samples.len()];
        let taken_at = aggregate_time.unwrap_or_else(|| nanos(snapshot.taken_at));
        Collection {
            snapshot,
            samples,
            taken_at,
            started,
            bases,
        }
    }

    /// As [`read`](Self::read), for a sender that sends only what a
    /// durable store has committed: only the samples stamped at or before
    /// `until` (ns since the epoch; every sample when `None`) are kept, and
    /// the aggregates stand at that moment, stamped at `until`. The values
    /// sent are then those a process restarted from the store rebuilds.
    ///
    /// A store's replay records a tag set's samples oldest first, so its
    /// counter totals and histogram sums are sums in time order. Where the
    /// value before this read's first sample is known exactly, the values
    /// are summed forward from it in the same order:
    /// - for a series that keeps every update as a sample
    ///   (`SamplePolicy::EveryEvent`), a tag set's value is carried in
    ///   `carried` from one read to the next;
    /// - on the first read of such a series (`since` gives `None`) that has
    ///   evicted and expired no sample, a counter or histogram whose samples
    ///   make up its aggregate (the histogram's count, the counter's total
    ///   within rounding) starts from zero.
    ///
    /// Summing forward matters twice. The collector adds observations in
    /// the order threads keep them, which two threads between stamping and
    /// keeping a sample can swap, so its own sum may be a rounding away from
    /// the store's. And it updates an aggregate a moment before it keeps
    /// the sample: an aggregate read in between counts a sample no read
    /// returned. Other series (whose handle updates keep no sample), and
    /// gauges on a first read, are taken back from the collector's
    /// aggregate less each later sample.
    pub(crate) fn read_until(
        collector: &MetricsCollector,
        since: &dyn Fn(&str) -> Option<OffsetDateTime>,
        until: Option<i64>,
        carried: &mut HashMap<(String, TagSet), AggregateValue>,
    ) -> Collection {
        let mut c = Collection::read(collector, since, until);
        let cut = until.unwrap_or(i64::MAX);
        for ((series, values), bases) in c.snapshot.series.iter_mut().zip(c.samples.iter_mut()).zip(&mut c.bases) {
            let (mut kept, later): (Vec<MetricValue>, Vec<MetricValue>) =
                values.drain(..).partition(|v| nanos(v.timestamp) <= cut);
            kept.sort_by_key(|v| v.timestamp);
            *values = kept;
            let every_event = collector
                .get_metric_series(&series.name)
                .is_some_and(|s| s.sample_policy() == metrics_core::SamplePolicy::EveryEvent);
            let whole = every_event
                && since(&series.name).is_none()
                && series.dropped_samples == 0
                && series.expired_samples == 0;
            // Per tag set, the values kept (in time order) and those after
            // `until`: one pass over the samples, not one per tag set.
            let mut by_tags: HashMap<&TagSet, (Vec<f64>, Vec<f64>)> = HashMap::new();
            for v in values.iter() {
                by_tags.entry(&v.tags).or_default().0.push(v.value);
            }
            for v in &later {
                by_tags.entry(&v.tags).or_default().1.push(v.value);
            }
            for agg in &mut series.aggregates {
                let key = (series.name.clone(), agg.tags.clone());
                let (mine, after) = by_tags
                    .get(&agg.tags)
                    .map_or((&[][..], &[][..]), |(m, a)| (m.as_slice(), a.as_slice()));
                let base = match carried.get(&key) {
                    Some(prev) if every_event && std::mem::discriminant(prev) == std::mem::discriminant(&agg.value) => {
                        Some(prev.clone())
                    }
                    _ if whole && made_of(&agg.value, mine.iter().chain(after)) => zero_of(&agg.value),
                    _ => None,
                };
                match base {
                    Some(base) => {
                        let mut value = base.clone();
                        for &v in mine {
                            add(&mut value, v, 1.0);
                        }
                        agg.value = value;
                        bases.insert(agg.tags.clone(), base);
                    }
                    None => {
                        for &v in after {
                            add(&mut agg.value, v, -1.0);
                        }
                        if let (AggregateValue::Gauge { value }, Some(&last)) = (&mut agg.value, mine.last()) {
                            *value = last;
                        }
                    }
                }
                carried.insert(key, agg.value.clone());
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
        for ((series, samples), bases) in self.snapshot.series.iter().zip(&self.samples).zip(&self.bases) {
            let mut by_tags: HashMap<&TagSet, Vec<&MetricValue>> = HashMap::new();
            for v in samples {
                by_tags.entry(&v.tags).or_default().push(v);
            }
            for agg in &series.aggregates {
                let mut mine = by_tags.remove(&agg.tags).unwrap_or_default();
                // Kept in the order they were recorded, which a thread
                // descheduled between stamping and keeping a sample can
                // swap: the values are rebuilt in time order, as a store
                // that sorts them rebuilds them.
                mine.sort_by_key(|v| v.timestamp);
                out.push(rebuild(series, &agg.tags, &agg.value, bases.get(&agg.tags), &mine));
            }
        }
        out
    }
}

/// Rebuilds a tag set's values at its samples (oldest first): forward from
/// `base`, the value before the first of them, when it is known, else
/// backwards from `aggregate`.
fn rebuild<'a>(
    series: &'a SeriesSnapshot,
    tags: &'a TagSet,
    aggregate: &AggregateValue,
    base: Option<&AggregateValue>,
    samples: &[&MetricValue],
) -> Stream<'a> {
    let points = match base {
        Some(base) => {
            let mut value = base.clone();
            samples
                .iter()
                .map(|s| {
                    add(&mut value, s.value, 1.0);
                    (nanos(s.timestamp), point_of(&value))
                })
                .collect()
        }
        None => {
            let mut value = aggregate.clone();
            let mut points: Vec<_> = samples
                .iter()
                .rev()
                .map(|s| {
                    let point = match &value {
                        AggregateValue::Gauge { .. } => PointValue::Number(s.value),
                        other => point_of(other),
                    };
                    add(&mut value, s.value, -1.0);
                    (nanos(s.timestamp), point)
                })
                .collect();
            points.reverse();
            points
        }
    };
    let (bounds, min_max) = match aggregate {
        AggregateValue::Histogram(h) => (
            h.buckets.iter().map(|b| b.le).collect(),
            (h.count > 0).then_some((h.min, h.max)),
        ),
        _ => (Vec::new(), None),
    };
    Stream {
        series,
        tags,
        bounds,
        points,
        aggregate: point_of(aggregate),
        min_max,
    }
}

/// What is sent of an aggregate.
fn point_of(value: &AggregateValue) -> PointValue {
    match value {
        AggregateValue::Counter { total } => PointValue::Number(*total),
        AggregateValue::Gauge { value } => PointValue::Number(*value),
        AggregateValue::Histogram(h) => PointValue::Histogram {
            count: h.count,
            sum: h.sum,
            cumulative: h.buckets.iter().map(|b| b.count).collect(),
        },
    }
}

/// Whether `samples` are every update `aggregate` counts: a histogram's
/// count, or a counter's total to within the rounding of adding them up.
/// Not so for an update whose sample is not kept yet, nor for a tag set
/// whose aggregate came from elsewhere (a stored run's snapshot, replayed).
fn made_of<'a>(aggregate: &AggregateValue, samples: impl Iterator<Item = &'a f64>) -> bool {
    let (mut n, mut sum, mut magnitude) = (0u64, 0.0f64, 0.0f64);
    for &v in samples {
        n += 1;
        sum += v;
        magnitude += v.abs();
    }
    match aggregate {
        AggregateValue::Histogram(h) => h.count == n,
        AggregateValue::Counter { total } => (total - sum).abs() <= 1e-9 * magnitude,
        AggregateValue::Gauge { .. } => false,
    }
}

/// A counter or histogram (with `value`'s bounds) before any update;
/// `None` for a gauge, which has no value before its first.
fn zero_of(value: &AggregateValue) -> Option<AggregateValue> {
    match value {
        AggregateValue::Counter { .. } => Some(AggregateValue::Counter { total: 0.0 }),
        AggregateValue::Gauge { .. } => None,
        AggregateValue::Histogram(h) => {
            let mut zero = h.clone();
            zero.count = 0;
            zero.sum = 0.0;
            zero.min = 0.0;
            zero.max = 0.0;
            for b in &mut zero.buckets {
                b.count = 0;
            }
            zero.quantiles = Default::default();
            Some(AggregateValue::Histogram(zero))
        }
    }
}

/// Adds (`sign` 1) or takes off (`sign` -1) one sample of `v` to or from
/// an aggregate: a counter's increment, a histogram's observation; a gauge
/// takes the value when added and is left as it is when taken off. An
/// observation added widens a histogram's extremes; one taken off leaves
/// them (they cannot be narrowed without the others).
fn add(agg: &mut AggregateValue, v: f64, sign: f64) {
    match agg {
        AggregateValue::Counter { total } => *total += sign * v,
        AggregateValue::Gauge { value } => {
            if sign > 0.0 {
                *value = v;
            }
        }
        AggregateValue::Histogram(h) => {
            let step = |n: u64| {
                if sign > 0.0 {
                    n.saturating_add(1)
                } else {
                    n.saturating_sub(1)
                }
            };
            if sign > 0.0 {
                (h.min, h.max) = if h.count == 0 {
                    (v, v)
                } else {
                    (h.min.min(v), h.max.max(v))
                };
            }
            h.count = step(h.count);
            h.sum += sign * v;
            for b in &mut h.buckets {
                if v <= b.le {
                    b.count = step(b.count);
                }
            }
        }
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
        let mut carried = HashMap::new();
        let col = Collection::read_until(&c, &|_| None, Some(until), &mut carried);
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
        // The next read moves the carried aggregates forward by what it
        // reads, whatever the collector's aggregate says meanwhile (an
        // update whose sample is not kept yet).
        // An update the aggregate counts but whose sample is not kept (yet):
        // a handle update while the series keeps none, then every one.
        let hits = c.get_metric_series("hits").unwrap();
        c.counter("hits", &[]).unwrap().increment(100);
        hits.set_sample_policy(metrics_core::SamplePolicy::EveryEvent);
        let since = OffsetDateTime::from_unix_timestamp_nanos(i128::from(until) + 1).unwrap();
        let next = Collection::read_until(&c, &|_| Some(since), Some(until + 5_000_000_000), &mut carried);
        let streams = next.streams();
        let hits = streams.iter().find(|s| s.series.name == "hits").unwrap();
        assert_eq!(
            hits.points.iter().map(|p| p.1.clone()).collect::<Vec<_>>(),
            vec![PointValue::Number(7.0)]
        );
        assert_eq!(hits.aggregate, PointValue::Number(7.0));
    }

    #[test]
    fn histories_are_summed_in_time_order_as_a_store_replays_them() {
        // Recorded in the order a, c, b but stamped a < b < c (two threads
        // between stamping and keeping): the collector sums (a + c) + b,
        // a store's replay (oldest first) (a + b) + c, and for these three
        // the two round apart.
        let (a, b, c_) = (0.800595321, 0.410461827, 0.150765374);
        assert_ne!((a + c_) + b, (a + b) + c_, "the values must round apart");
        // Recent times: older samples would be past the retention.
        let t0 = nanos(OffsetDateTime::now_utc()) - 60_000_000_000;
        let at = |secs: i64| OffsetDateTime::from_unix_timestamp_nanos(i128::from(t0 + secs * 1_000_000_000)).unwrap();
        let live = MetricsCollector::default();
        let replayed = MetricsCollector::default();
        for c in [&live, &replayed] {
            c.describe_metric(
                "lat",
                MetricType::Histogram,
                metrics_core::MetricOptions {
                    sample_policy: Some(metrics_core::SamplePolicy::EveryEvent),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        for (v, secs) in [(a, 0), (c_, 2), (b, 1)] {
            live.record_metric_at("lat", v, &[], MetricType::Histogram, at(secs))
                .unwrap();
        }
        for (v, secs) in [(a, 0), (b, 1), (c_, 2)] {
            replayed
                .record_metric_at("lat", v, &[], MetricType::Histogram, at(secs))
                .unwrap();
        }
        let sum_of = |c: &MetricsCollector| match &c.aggregate_snapshot().series[0].aggregates[0].value {
            AggregateValue::Histogram(h) => h.sum,
            other => panic!("{other:?}"),
        };
        let want = sum_of(&replayed);
        assert_ne!(sum_of(&live), want);
        let sums = |col: &Collection| -> Vec<f64> {
            let streams = col.streams();
            let lat = streams.iter().find(|s| s.series.name == "lat").unwrap();
            lat.points
                .iter()
                .map(|p| &p.1)
                .chain([&lat.aggregate])
                .map(|p| match p {
                    PointValue::Histogram { sum, .. } => *sum,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        // Every sample in one read, from zero (a first read of a series
        // that has dropped none).
        let mut carried = HashMap::new();
        let whole = Collection::read_until(&live, &|_| None, None, &mut carried);
        assert_eq!(sums(&whole), vec![a, a + b, want, want]);
        // The same history over two reads: the second carries the first.
        let mut carried = HashMap::new();
        let until = t0 + 500_000_000;
        let first = Collection::read_until(&live, &|_| None, Some(until), &mut carried);
        assert_eq!(sums(&first), vec![a, a]);
        let since = OffsetDateTime::from_unix_timestamp_nanos(i128::from(until) + 1).unwrap();
        let next = Collection::read_until(&live, &|_| Some(since), None, &mut carried);
        assert_eq!(sums(&next), vec![a + b, want, want]);
        match &next.streams()[0].aggregate {
            PointValue::Histogram { count, .. } => assert_eq!(*count, 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(next.streams()[0].min_max, Some((c_, a)));
    }

    #[test]
    fn a_first_read_starts_from_zero_only_when_the_samples_make_up_the_aggregate() {
        let c = MetricsCollector::default();
        // Updates that kept no sample, then one that did.
        c.counter("hits", &[]).unwrap().increment(100);
        c.get_metric_series("hits")
            .unwrap()
            .set_sample_policy(metrics_core::SamplePolicy::EveryEvent);
        c.record_metric("hits", 1.0, &[], MetricType::Counter).unwrap();
        // A series whose every update is a sample.
        c.describe_metric(
            "errors",
            MetricType::Counter,
            metrics_core::MetricOptions {
                sample_policy: Some(metrics_core::SamplePolicy::EveryEvent),
                ..Default::default()
            },
        )
        .unwrap();
        for _ in 0..3 {
            c.record_metric("errors", 0.1, &[], MetricType::Counter).unwrap();
        }
        let col = Collection::read_until(&c, &|_| None, None, &mut HashMap::new());
        let streams = col.streams();
        let of = |name: &str| streams.iter().find(|s| s.series.name == name).unwrap();
        assert_eq!(of("hits").aggregate, PointValue::Number(101.0));
        assert_eq!(
            of("hits").points,
            vec![(of("hits").points[0].0, PointValue::Number(101.0))]
        );
        let errors: Vec<_> = of("errors").points.iter().map(|p| p.1.clone()).collect();
        assert_eq!(
            errors,
            [0.1, 0.1 + 0.1, 0.1 + 0.1 + 0.1].map(PointValue::Number).to_vec()
        );
        assert_eq!(of("errors").aggregate, PointValue::Number(0.1 + 0.1 + 0.1));
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
