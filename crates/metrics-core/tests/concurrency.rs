//! Many threads updating one series: no update is lost, through
//! `record_metric` and through every handle kind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};
use std::thread;

use metrics_core::{AggregateValue, MetricOptions, MetricType, MetricsCollector, MetricsConfig, SamplePolicy};

const THREADS: usize = 8;
const PER_THREAD: usize = 100_000;
const TOTAL: usize = THREADS * PER_THREAD;

/// Runs `work(thread_index)` on `THREADS` threads released together.
fn run_together(work: impl Fn(usize) + Send + Sync + 'static) {
    let work = Arc::new(work);
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let work = Arc::clone(&work);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                work(i);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("worker thread panicked");
    }
}

fn counter_total(value: Option<AggregateValue>) -> f64 {
    match value {
        Some(AggregateValue::Counter { total }) => total,
        other => panic!("expected a counter aggregate, got {other:?}"),
    }
}

fn config_with_cap(cap: usize) -> MetricsConfig {
    MetricsConfig {
        max_samples_per_series: cap,
        ..MetricsConfig::default()
    }
}

fn record_counter_from_all_threads(cap: usize) -> Arc<MetricsCollector> {
    let collector = Arc::new(MetricsCollector::new(config_with_cap(cap)));
    let c = Arc::clone(&collector);
    // The series does not exist yet: the threads race to create it too.
    run_together(move |_| {
        for _ in 0..PER_THREAD {
            c.record_metric("jobs_total", 1.0, &[], MetricType::Counter).unwrap();
        }
    });
    collector
}

#[test]
fn record_metric_on_one_counter_loses_no_update_and_caps_samples() {
    let cap = 100_000;
    let collector = record_counter_from_all_threads(cap);
    let series = collector.get_metric_series("jobs_total").unwrap();

    assert_eq!(counter_total(series.aggregate(&[])), TOTAL as f64);
    assert_eq!(series.len(), TOTAL.min(cap));
    assert_eq!(series.dropped_samples(), (TOTAL - cap) as u64);
    assert!(series.values().iter().all(|v| v.value == 1.0 && v.tags.is_empty()));

    let snapshot = collector.snapshot();
    let snap = snapshot.series("jobs_total").unwrap();
    assert_eq!(snap.aggregates.len(), 1);
    assert_eq!(
        snap.aggregates[0].value,
        AggregateValue::Counter { total: TOTAL as f64 }
    );
    assert_eq!(snap.samples.len(), cap);
    assert_eq!(snap.dropped_samples, (TOTAL - cap) as u64);
}

#[test]
fn record_metric_keeps_every_sample_when_the_cap_is_above_the_total() {
    let collector = record_counter_from_all_threads(1_000_000);
    let series = collector.get_metric_series("jobs_total").unwrap();
    assert_eq!(counter_total(series.aggregate(&[])), TOTAL as f64);
    assert_eq!(series.len(), TOTAL);
    assert_eq!(series.dropped_samples(), 0);
    // Threads race between reading the clock and storing the sample; the
    // series still hands them out oldest first.
    let values = series.values();
    assert!(values.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
}

#[test]
fn record_metric_with_a_tag_set_per_thread_keeps_each_total_exact() {
    let collector = Arc::new(MetricsCollector::new(config_with_cap(10)));
    let c = Arc::clone(&collector);
    run_together(move |i| {
        let worker = format!("w{i}");
        for _ in 0..PER_THREAD {
            c.record_metric(
                "work_done",
                2.0,
                &[("worker", worker.as_str()), ("pool", "main")],
                MetricType::Counter,
            )
            .unwrap();
        }
    });
    let series = collector.get_metric_series("work_done").unwrap();
    assert_eq!(series.tag_sets().len(), THREADS);
    for i in 0..THREADS {
        let worker = format!("w{i}");
        let total = counter_total(series.aggregate(&[("pool", "main"), ("worker", worker.as_str())]));
        assert_eq!(total, 2.0 * PER_THREAD as f64, "worker {worker}");
    }
}

#[test]
fn a_shared_counter_handle_loses_no_increment() {
    let collector = MetricsCollector::new(MetricsConfig::default());
    let counter = collector.counter("requests_total", &[("route", "/jobs")]).unwrap();
    let handle = counter.clone();
    run_together(move |_| {
        for _ in 0..PER_THREAD {
            handle.increment(1);
        }
    });
    assert_eq!(counter.value(), TOTAL as u64);
    let series = collector.get_metric_series("requests_total").unwrap();
    assert_eq!(counter_total(series.aggregate(&[("route", "/jobs")])), TOTAL as f64);
    assert_eq!(series.len(), 0, "handle updates keep no samples by default");
}

#[test]
fn a_counter_handle_keeping_every_event_keeps_one_sample_per_increment() {
    let collector = MetricsCollector::new(config_with_cap(1_000_000));
    collector
        .describe_metric(
            "events_total",
            MetricType::Counter,
            MetricOptions {
                sample_policy: Some(SamplePolicy::EveryEvent),
                ..MetricOptions::default()
            },
        )
        .unwrap();
    let counter = collector.counter("events_total", &[]).unwrap();
    let handle = counter.clone();
    run_together(move |_| {
        for _ in 0..PER_THREAD {
            handle.increment(3);
        }
    });
    let series = collector.get_metric_series("events_total").unwrap();
    assert_eq!(counter.value(), 3 * TOTAL as u64);
    assert_eq!(series.len(), TOTAL);
    assert_eq!(series.values().iter().map(|v| v.value).sum::<f64>(), 3.0 * TOTAL as f64);
}

#[test]
fn gauge_increments_and_decrements_from_many_threads_sum_exactly() {
    let collector = MetricsCollector::new(MetricsConfig::default());
    let gauge = collector.gauge("in_flight", &[]).unwrap();
    gauge.set(10.0);
    let handle = gauge.clone();
    // Even threads add 2 per step, odd threads subtract 0.5 per step: every
    // intermediate value is exactly representable, so the sum must be exact.
    run_together(move |i| {
        for _ in 0..PER_THREAD {
            if i % 2 == 0 {
                handle.increment(2.0);
            } else {
                handle.decrement(0.5);
            }
        }
    });
    let half = (THREADS / 2 * PER_THREAD) as f64;
    let expected = 10.0 + 2.0 * half - 0.5 * half;
    assert_eq!(gauge.value(), expected);
    let series = collector.get_metric_series("in_flight").unwrap();
    assert_eq!(series.aggregate(&[]), Some(AggregateValue::Gauge { value: expected }));
}

fn histogram_of(value: Option<AggregateValue>) -> metrics_core::HistogramSnapshot {
    match value {
        Some(AggregateValue::Histogram(h)) => h,
        other => panic!("expected a histogram aggregate, got {other:?}"),
    }
}

#[test]
fn histogram_handles_from_many_threads_count_every_observation() {
    let collector = MetricsCollector::new(MetricsConfig::default());
    collector
        .describe_metric(
            "batch_size",
            MetricType::Histogram,
            MetricOptions {
                buckets: Some(vec![1.0, 5.0, 9.0]),
                ..MetricOptions::default()
            },
        )
        .unwrap();
    let histogram = collector.histogram("batch_size", &[]).unwrap();
    let handle = histogram.clone();
    run_together(move |_| {
        for j in 0..PER_THREAD {
            handle.record((j % 10) as f64);
        }
    });
    let h = histogram_of(collector.get_metric_series("batch_size").unwrap().aggregate(&[]));
    assert_eq!(h.count, TOTAL as u64);
    // Each thread records 0..=9 ten thousand times: 45 per round.
    assert_eq!(h.sum, (THREADS * PER_THREAD / 10 * 45) as f64);
    assert_eq!((h.min, h.max), (0.0, 9.0));
    let per_value = (TOTAL / 10) as u64;
    let cumulative: Vec<u64> = h.buckets.iter().map(|b| b.count).collect();
    assert_eq!(cumulative, vec![2 * per_value, 6 * per_value, 10 * per_value]);
}

#[test]
fn histogram_record_metric_from_many_threads_counts_every_observation() {
    let collector = Arc::new(MetricsCollector::new(config_with_cap(1_000)));
    let c = Arc::clone(&collector);
    run_together(move |i| {
        let shard = if i % 2 == 0 { "even" } else { "odd" };
        for _ in 0..PER_THREAD {
            c.record_metric("payload_bytes", 4.0, &[("shard", shard)], MetricType::Histogram)
                .unwrap();
        }
    });
    let series = collector.get_metric_series("payload_bytes").unwrap();
    for shard in ["even", "odd"] {
        let h = histogram_of(series.aggregate(&[("shard", shard)]));
        assert_eq!(h.count, (TOTAL / 2) as u64, "shard {shard}");
        assert_eq!(h.sum, 4.0 * (TOTAL / 2) as f64, "shard {shard}");
    }
    assert_eq!(series.len(), 1_000);
    assert_eq!(series.dropped_samples(), (TOTAL - 1_000) as u64);
}
