//! `SampleSink` and the collector's `SinkSlot`: where every kept sample goes
//! besides the series' ring (a durable store, a remote-write queue).
//!
//! A collector holds at most one sink. With none attached, the record path
//! pays one relaxed load and a branch. With one attached, each kept sample
//! costs a thread-local epoch check and the sink's own
//! [`accept`](SampleSink::accept): the sink is read from a per-thread copy,
//! so recording threads never meet on a shared lock or reference count.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::sync::{Arc, Mutex, PoisonError};

/// Names the series a kept sample belongs to: equal to
/// [`MetricSeries::sink_key`](crate::MetricSeries::sink_key) of that series
/// for as long as it lives (a removed series' key may be reused by a later
/// one). A key, not the series, so that this layer sits below the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey(usize);

impl SeriesKey {
    /// The key of the value at `series` (its address).
    pub(crate) fn of<T>(series: &T) -> SeriesKey {
        SeriesKey(std::ptr::from_ref(series) as usize)
    }
}

/// Receives every sample a series keeps, on the recording thread, right
/// after it reached the series' ring.
///
/// `accept` runs inside `record_metric` (and inside handle updates of
/// `EveryEvent` series): it must not block or wait for I/O — hand the sample
/// off (bounded) and return. `series` is the [`SeriesKey`] of the series
/// (find it among [`MetricsCollector::series`](crate::MetricsCollector) by
/// [`MetricSeries::sink_key`](crate::MetricSeries::sink_key)); `tag_set` is
/// its dense tag-set id: the index into
/// [`MetricSeries::tag_sets_by_id`](crate::MetricSeries::tag_sets_by_id)
/// (removed tag sets included), stable for the series' life.
/// Samples already older than the collector's retention are not offered.
pub trait SampleSink: Send + Sync + fmt::Debug {
    /// Takes one kept sample of `series`, stamped `timestamp_nanos` (since
    /// the Unix epoch).
    fn accept(&self, series: SeriesKey, tag_set: u32, timestamp_nanos: i64, value: f64);
}

/// Epochs are drawn from one counter so that an epoch names one attachment
/// in one collector for the life of the process (0: none).
static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's copy of the last sink it offered to, by epoch.
    static CACHED: RefCell<Option<(u64, Arc<dyn SampleSink>)>> = const { RefCell::new(None) };
}

/// A collector's sink, shared with its series.
#[derive(Debug, Default)]
pub(crate) struct SinkSlot {
    active: AtomicBool,
    epoch: AtomicU64,
    sink: Mutex<Option<(u64, Arc<dyn SampleSink>)>>,
}

impl SinkSlot {
    /// Whether a sink is attached, by a relaxed load: the record path's
    /// test before [`offer_attached`](Self::offer_attached).
    #[inline(always)]
    pub(crate) fn is_attached(&self) -> bool {
        self.active.load(Relaxed)
    }

    /// Offers a sample kept by `series` to the attached sink, once
    /// [`is_attached`](Self::is_attached) said there is one.
    #[cold]
    #[inline(never)]
    pub(crate) fn offer_attached(&self, series: SeriesKey, tag_set: u32, ts: i64, value: f64) {
        let epoch = self.epoch.load(Acquire);
        let offered = CACHED.try_with(|cell| {
            if let Ok(cached) = cell.try_borrow()
                && let Some((e, sink)) = &*cached
                && *e == epoch
            {
                sink.accept(series, tag_set, ts, value);
                return true;
            }
            // Refresh this thread's copy; a re-entrant refresh (a sink that
            // records while accepting) falls through to the shared slot.
            let Ok(mut cached) = cell.try_borrow_mut() else {
                return false;
            };
            *cached = self.current();
            drop(cached);
            if let Some((_, sink)) = &*cell.borrow() {
                sink.accept(series, tag_set, ts, value);
            }
            true
        });
        if offered != Ok(true)
            && let Some((_, sink)) = self.current()
        {
            sink.accept(series, tag_set, ts, value);
        }
    }

    /// Whether a sink is attached.
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Acquire)
    }

    fn current(&self) -> Option<(u64, Arc<dyn SampleSink>)> {
        self.sink.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn replace(&self, sink: Option<Arc<dyn SampleSink>>) -> Option<Arc<dyn SampleSink>> {
        let mut slot = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        let epoch = if sink.is_some() {
            NEXT_EPOCH.fetch_add(1, Relaxed)
        } else {
            0
        };
        let old = std::mem::replace(&mut *slot, sink.map(|s| (epoch, s)));
        self.epoch.store(epoch, Release);
        self.active.store(epoch != 0, Release);
        old.map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::{MetricOptions, MetricType, MetricsCollector, MetricsConfig, SamplePolicy};

    #[derive(Debug, Default)]
    struct Recorded(Mutex<Vec<(SeriesKey, u32, i64, f64)>>);
    impl SampleSink for Recorded {
        fn accept(&self, series: SeriesKey, tag_set: u32, ts: i64, value: f64) {
            self.0.lock().unwrap().push((series, tag_set, ts, value));
        }
    }

    fn name_of(c: &MetricsCollector, key: SeriesKey) -> String {
        ["d", "c", "e", "m"]
            .into_iter()
            .find(|n| c.get_metric_series(n).is_some_and(|s| s.sink_key() == key))
            .unwrap()
            .to_owned()
    }

    #[test]
    fn every_kept_sample_reaches_the_sink_with_its_tag_set_id() {
        let c = MetricsCollector::default();
        let sink = Arc::new(Recorded::default());
        assert!(c.attach_sink(sink.clone()).is_none());
        assert!(c.has_sink());
        c.record_metric("d", 1.0, &[("s", "a")], MetricType::Timer).unwrap();
        c.record_metric("d", 2.0, &[("s", "b")], MetricType::Timer).unwrap();
        // Aggregate-only handle updates keep no sample, so offer none.
        c.counter("c", &[]).unwrap().increment(1);
        c.describe_metric(
            "e",
            MetricType::Counter,
            MetricOptions {
                sample_policy: Some(SamplePolicy::EveryEvent),
                ..Default::default()
            },
        )
        .unwrap();
        c.counter("e", &[]).unwrap().increment(3);
        let got = sink.0.lock().unwrap().clone();
        let names: Vec<(String, u32, f64)> = got.iter().map(|(k, t, _, v)| (name_of(&c, *k), *t, *v)).collect();
        let want = vec![
            ("d".to_owned(), 0, 1.0),
            ("d".to_owned(), 1, 2.0),
            ("e".to_owned(), 0, 3.0),
        ];
        assert_eq!(names, want);
        let series = c.get_metric_series("d").unwrap();
        assert_eq!(series.tag_sets()[1].get("s"), Some("b"));
        let ring_ts: Vec<i64> = series
            .values()
            .iter()
            .map(|v| crate::clock::to_nanos(v.timestamp))
            .collect();
        assert_eq!(ring_ts, vec![got[0].2, got[1].2]);
    }

    #[test]
    fn a_sample_older_than_retention_is_not_offered_and_detach_stops_offers() {
        let c = MetricsCollector::new(MetricsConfig {
            retention: Duration::from_secs(60),
            ..MetricsConfig::default()
        });
        let first = Arc::new(Recorded::default());
        c.attach_sink(first.clone());
        let old = c.now() - Duration::from_secs(3600);
        c.record_metric_at("m", 1.0, &[], MetricType::Gauge, old).unwrap();
        c.record_metric("m", 2.0, &[], MetricType::Gauge).unwrap();
        // Replacing hands back the first sink; the next sample goes to the second.
        let second = Arc::new(Recorded::default());
        assert!(c.attach_sink(second.clone()).is_some());
        c.record_metric("m", 3.0, &[], MetricType::Gauge).unwrap();
        assert!(c.detach_sink().is_some());
        assert!(!c.has_sink());
        c.record_metric("m", 4.0, &[], MetricType::Gauge).unwrap();
        let values = |s: &Recorded| s.0.lock().unwrap().iter().map(|r| r.3).collect::<Vec<_>>();
        assert_eq!(values(&first), vec![2.0]);
        assert_eq!(values(&second), vec![3.0]);
    }

    #[test]
    fn threads_recording_at_once_lose_no_offer() {
        let c = Arc::new(MetricsCollector::default());
        let sink = Arc::new(Recorded::default());
        c.attach_sink(sink.clone());
        std::thread::scope(|s| {
            for t in 0..4 {
                let c = &c;
                s.spawn(move || {
                    for i in 0..1000 {
                        c.record_metric("m", f64::from(i), &[("t", t.to_string().as_str())], MetricType::Gauge)
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(sink.0.lock().unwrap().len(), 4000);
        assert_eq!(c.get_metric_series("m").unwrap().len(), 4000);
    }
}
