//! A dropped collector's memory is returned when it is dropped: no
//! thread's resolution cache keeps its series alive, even a thread that
//! recorded into it and has been idle since.
#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::sync::{Arc, Weak};

use metrics_core::{MetricSeries, MetricType, MetricsCollector};

fn weak_series(c: &MetricsCollector, name: &str) -> Weak<MetricSeries> {
    Arc::downgrade(&c.get_metric_series(name).unwrap())
}

#[test]
fn series_cached_by_an_idle_thread_are_freed_when_the_collector_drops() {
    let c = Arc::new(MetricsCollector::default());
    let (recorded_tx, recorded_rx) = mpsc::channel();
    let (finish_tx, finish_rx) = mpsc::channel::<()>();
    let worker = {
        let c = Arc::clone(&c);
        std::thread::spawn(move || {
            for i in 0..100 {
                let route = format!("/r/{i}");
                c.increment_counter("requests", &[("route", route.as_str())], 1)
                    .unwrap();
                c.record_metric("latency", 0.5, &[("route", route.as_str())], MetricType::Histogram)
                    .unwrap();
            }
            drop(c);
            recorded_tx.send(()).unwrap();
            // Idle from here on: this thread never touches a cache again
            // until the test lets it finish.
            finish_rx.recv().unwrap();
        })
    };
    recorded_rx.recv().unwrap();
    // This thread caches the same series too.
    c.increment_counter("requests", &[("route", "/r/0")], 1).unwrap();
    let requests = weak_series(&c, "requests");
    let latency = weak_series(&c, "latency");
    let c = Arc::into_inner(c).unwrap();
    drop(c);
    assert!(requests.upgrade().is_none(), "a cache still holds the counter series");
    assert!(latency.upgrade().is_none(), "a cache still holds the histogram series");
    finish_tx.send(()).unwrap();
    worker.join().unwrap();
}

#[test]
fn dropping_one_collector_keeps_the_cached_series_of_another() {
    let kept = MetricsCollector::default();
    let dropped = MetricsCollector::default();
    kept.increment_counter("jobs", &[("k", "v")], 1).unwrap();
    dropped.increment_counter("jobs", &[("k", "v")], 1).unwrap();
    let gone = weak_series(&dropped, "jobs");
    drop(dropped);
    assert!(gone.upgrade().is_none());
    // The other collector's cached resolution still works and counts.
    kept.increment_counter("jobs", &[("k", "v")], 2).unwrap();
    let s = kept.get_metric_series("jobs").unwrap();
    assert_eq!(
        s.aggregate(&[("k", "v")]),
        Some(metrics_core::AggregateValue::Counter { total: 3.0 })
    );
}

#[test]
fn a_handle_the_program_holds_keeps_its_series_after_the_collector_drops() {
    let c = MetricsCollector::default();
    let counter = c.counter("held", &[]).unwrap();
    drop(c);
    counter.increment(2);
    assert_eq!(counter.value(), 2);
}

/// A sink that blocks its recording thread until told to go on.
#[derive(Debug)]
struct BlockingSink {
    entered: std::sync::Mutex<Option<mpsc::Sender<()>>>,
    proceed: std::sync::Mutex<mpsc::Receiver<()>>,
}

impl metrics_core::SampleSink for BlockingSink {
    fn accept(&self, _: metrics_core::SeriesKey, _: u32, _: i64, _: f64) {
        // Only the first sample taken through a cache hit blocks.
        if let Some(tx) = self.entered.lock().unwrap().take() {
            tx.send(()).unwrap();
            self.proceed.lock().unwrap().recv().unwrap();
        }
    }
}

#[test]
fn dropping_a_collector_does_not_wait_forever_on_a_thread_blocked_inside_a_cache_hit() {
    // Thread B records into `busy` through its cache (a hit: the second
    // call) and its sink blocks while B holds its cache. Dropping another
    // collector meanwhile must return (B's cache is skipped after bounded
    // attempts), not deadlock waiting for B.
    let busy = Arc::new(MetricsCollector::default());
    let dropped = MetricsCollector::default();
    dropped.increment_counter("jobs", &[("k", "v")], 1).unwrap();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (proceed_tx, proceed_rx) = mpsc::channel();
    let worker = {
        let busy = Arc::clone(&busy);
        std::thread::spawn(move || {
            busy.record_metric("events", 1.0, &[("k", "v")], MetricType::Counter)
                .unwrap();
            busy.attach_sink(Arc::new(BlockingSink {
                entered: std::sync::Mutex::new(Some(entered_tx)),
                proceed: std::sync::Mutex::new(proceed_rx),
            }));
            busy.record_metric("events", 1.0, &[("k", "v")], MetricType::Counter)
                .unwrap();
        })
    };
    entered_rx.recv().unwrap();
    let gone = weak_series(&dropped, "jobs");
    drop(dropped);
    assert!(gone.upgrade().is_none(), "this thread's cache is free and was cleared");
    proceed_tx.send(()).unwrap();
    worker.join().unwrap();
    let s = busy.get_metric_series("events").unwrap();
    assert_eq!(s.values().len(), 2);
}
