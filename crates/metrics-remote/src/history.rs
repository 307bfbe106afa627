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
    /// `until` (ns since the epoch) are kept, and the aggregates stand at
    /// that moment, stamped at `until`. So a sender that sends only what
    /// the durable store has committed sends the values a process restarted
    /// from the store rebuilds.
    ///
    /// For a series that keeps every update as a sample
    /// (`SamplePolicy::EveryEvent`), a tag set's aggregate is carried in
    /// `carried` from one read to the next and moved forward by the samples
    /// read since (a counter's increments, a histogram's observations; a
    /// gauge's last value). The first read of a tag set, and every read of
    /// other series (whose handle updates keep no sample), take it back
    /// from the collector's aggregate less each later sample. Carrying
    /// matters because the collector updates an aggregate a moment before
    /// it keeps the sample: an aggregate read in between counts a sample
    /// no read returned, and would put every value of that read one update
    /// ahead of what the store rebuilds.
    pub(crate) fn read_until(
        collector: &MetricsCollector,
        since: &dyn Fn(&str) -> Option<OffsetDateTime>,
        until: i64,
        carried: &mut HashMap<(String, TagSet), AggregateValue>,
    ) -> Collection {
        let mut c = Collection::read(collector, since, Some(until));
        for (series, values) in c.snapshot.series.iter_mut().zip(c.samples.iter_mut()) {
            let (mut kept, later): (Vec<MetricValue>, Vec<MetricValue>) =
                values.drain(..).partition(|v| nanos(v.timestamp) <= until);
            kept.sort_by_key(|v| v.timestamp);
            *values = kept;
            let every_event = collector
                .get_metric_series(&series.name)
                .is_some_and(|s| s.sample_policy() == metrics_core::SamplePolicy::EveryEvent);
            for agg in &mut series.aggregates {
                let key = (series.name.clone(), agg.tags.clone());
                let mine = values.iter().filter(|v| v.tags == agg.tags);
                match carried.get(&key).filter(|_| every_event) {
                    Some(prev) if std::mem::discriminant(prev) == std::mem::discriminant(&agg.value) => {
                        let mut value = prev.clone();
                        for v in mine {
                            add(&mut value, v.value, 1.0);
                        }
                        // Caught up (as many observations as the collector
                        // holds, none after `until`): the collector's own
                        // value, exactly. The carried sum got there by
                        // other additions, and a first read's "aggregate
                        // less later samples" plus those samples again is
                        // off by a rounding: a sent sum one bit off.
                        let caught_up = matches!(
                            (&value, &agg.value),
                            (AggregateValue::Histogram(v), AggregateValue::Histogram(a)) if v.count == a.count
                        ) && !later.iter().any(|v| v.tags == agg.tags);
                        if !caught_up {
                            agg.value = value;
                        }
                    }
                    _ => {
                        for v in later.iter().filter(|v| v.tags == agg.tags) {
                            add(&mut agg.value, v.value, -1.0);
                        }
                        if let AggregateValue::Gauge { value } = &mut agg.value
                            && let Some(last) = values.iter().rev().find(|k| k.tags == agg.tags)
                        {
                            *value = last.value;
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
        for (series, samples) in self.snapshot.series.iter().zip(&self.samples) {
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

/// Adds (`sign` 1) or takes off (`sign` -1) one sample of `v` to or from
/// an aggregate: a counter's increment, a histogram's observation; a gauge
/// takes the value when added and is left as it is when taken off.
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
        let mut carried = HashMap::new();
        let col = Collection::read_until(&c, &|_| None, until, &mut carried);
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
        let next = Collection::read_until(&c, &|_| Some(since), until + 5_000_000_000, &mut carried);
        let streams = next.streams();
        let hits = streams.iter().find(|s| s.series.name == "hits").unwrap();
        assert_eq!(
            hits.points.iter().map(|p| p.1.clone()).collect::<Vec<_>>(),
            vec![PointValue::Number(7.0)]
        );
        assert_eq!(hits.aggregate, PointValue::Number(7.0));
    }

    #[test]
    fn a_carried_histogram_that_has_caught_up_sends_the_collectors_sum_exactly() {
        // Recorded in the order a, c, b but stamped a < b < c (two threads
        // between stamping and keeping): the collector sums (a + c) + b.
        // The first read carries that less the later c and b; the next adds
        // b and c back in time order, and for these three that is one bit
        // off.
        let (a, b, c_) = (0.800595321, 0.410461827, 0.150765374);
        let sum = (a + c_) + b;
        assert_ne!((((sum - c_) - b) + b) + c_, sum, "the values must round apart");
        // Recent times: older samples would be past the retention.
        let t0 = nanos(OffsetDateTime::now_utc()) - 60_000_000_000;
        let at = |secs: i64| OffsetDateTime::from_unix_timestamp_nanos(i128::from(t0 + secs * 1_000_000_000)).unwrap();
        let c = MetricsCollector::default();
        c.record_metric_at("lat", a, &[], MetricType::Histogram, at(0)).unwrap();
        c.get_metric_series("lat")
            .unwrap()
            .set_sample_policy(metrics_core::SamplePolicy::EveryEvent);
        c.record_metric_at("lat", c_, &[], MetricType::Histogram, at(2))
            .unwrap();
        c.record_metric_at("lat", b, &[], MetricType::Histogram, at(1)).unwrap();
        let mut carried = HashMap::new();
        let until = t0 + 500_000_000;
        let _first = Collection::read_until(&c, &|_| None, until, &mut carried);
        let since = OffsetDateTime::from_unix_timestamp_nanos(i128::from(until) + 1).unwrap();
        let next = Collection::read_until(&c, &|_| Some(since), t0 + 3_000_000_000, &mut carried);
        let streams = next.streams();
        let lat = streams.iter().find(|s| s.series.name == "lat").unwrap();
        let want = sum;
        match (&lat.aggregate, &lat.points.last().unwrap().1) {
            (PointValue::Histogram { count, sum, .. }, PointValue::Histogram { sum: last, .. }) => {
                assert_eq!((*count, *sum, *last), (3, want, want));
            }
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
