//! Concurrency stress test (not timed): scenarios 1-5 of the benchmarks run
//! through metrics-core's API on every core at once, interleaved, for a
//! bounded number of operations, while a reader takes snapshots; afterwards
//! every total must be exact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use bykilt_bench::{GROUPS, KINDS, ROUTES, group};
use metrics_core::{AggregateValue, MetricOptions, MetricType, MetricsCollector, MetricsConfig};

/// Operations per scenario per thread.
const OPS: usize = 20_000;
/// A value whose sums stay exact in f64 at these counts.
const OBSERVED: f64 = 0.25;

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)
}

/// The group thread `t` uses at iteration `i`: every thread walks all 18
/// groups, starting at a different one, so threads collide on groups.
fn group_of(t: usize, i: usize) -> (&'static str, &'static str) {
    let (k, r) = group(t * 7 + i);
    (KINDS[k], ROUTES[r])
}

fn counter_total(c: &MetricsCollector, name: &str, tags: &[(&str, &str)]) -> f64 {
    match c.get_metric_series(name).unwrap().aggregate(tags) {
        Some(AggregateValue::Counter { total }) => total,
        other => panic!("{name} {tags:?}: expected a counter aggregate, got {other:?}"),
    }
}

fn histogram_count_sum(c: &MetricsCollector, name: &str, tags: &[(&str, &str)]) -> (u64, f64) {
    match c.get_metric_series(name).unwrap().aggregate(tags) {
        Some(AggregateValue::Histogram(h)) => (h.count, h.sum),
        other => panic!("{name} {tags:?}: expected a histogram aggregate, got {other:?}"),
    }
}

#[test]
fn every_scenario_on_all_cores_keeps_exact_totals() {
    let threads = threads();
    let total = threads * OPS;
    let c = MetricsCollector::new(MetricsConfig {
        max_samples_per_series: 2 * total,
        system_metrics_interval: Duration::ZERO,
        ..MetricsConfig::default()
    });
    c.describe_metric(
        "latency_seconds",
        MetricType::Histogram,
        MetricOptions {
            buckets: Some(vec![0.001, 0.01, 0.1, 1.0]),
            ..MetricOptions::default()
        },
    )
    .unwrap();
    let requests = c.counter("requests", &[("k", "v")]).unwrap();
    let latency = c.histogram("latency_seconds", &[("k", "v")]).unwrap();
    let section = c.timer("section_seconds", &[("k", "v")]).unwrap();

    let start = Barrier::new(threads + 1);
    let done = AtomicBool::new(false);
    let snapshots = std::thread::scope(|s| {
        let writers: Vec<_> = (0..threads)
            .map(|t| {
                let (c, requests, latency, section, start) = (&c, &requests, &latency, &section, &start);
                s.spawn(move || {
                    start.wait();
                    for i in 0..OPS {
                        let (kind, route) = group_of(t, i);
                        let tags = [("kind", kind), ("route", route)];
                        // 1: cached handle.
                        requests.increment(1);
                        // 2: label lookup + increment.
                        c.increment_counter("http_request_errors", &tags, 1).unwrap();
                        // 3: histogram through a handle, and with the lookup.
                        latency.record(OBSERVED);
                        c.observe_histogram("latency_seconds", &tags, OBSERVED).unwrap();
                        // 4: timer on one series, by guard and by duration.
                        drop(section.start());
                        section.record(Duration::from_millis(250));
                        // 5: the event path, sample kept.
                        c.record_metric("events", 1.0, &tags, MetricType::Counter).unwrap();
                    }
                })
            })
            .collect();
        // A reader that snapshots and encodes while the writers run.
        let reader = s.spawn(|| {
            start.wait();
            let mut taken = 0usize;
            while !done.load(Relaxed) {
                let snap = c.aggregate_snapshot();
                let text = metrics_core::export::prometheus::encode(
                    &snap,
                    metrics_core::export::prometheus::TextFormat::Prometheus,
                )
                .text;
                assert!(text.contains("# TYPE requests_total counter"), "{text}");
                taken += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            taken
        });
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Relaxed);
        reader.join().unwrap()
    });
    assert!(snapshots > 0);

    // 1
    assert_eq!(requests.value(), total as u64);
    assert_eq!(counter_total(&c, "requests", &[("k", "v")]), total as f64);
    // 2 and 5: per group, the exact number of updates every thread made.
    let mut expected = [0usize; GROUPS];
    for t in 0..threads {
        for i in 0..OPS {
            let (k, r) = group(t * 7 + i);
            expected[k * ROUTES.len() + r] += 1;
        }
    }
    let mut seen = 0usize;
    for (g, &want) in expected.iter().enumerate() {
        let (k, r) = group(g);
        let tags = [("kind", KINDS[k]), ("route", ROUTES[r])];
        assert_eq!(counter_total(&c, "http_request_errors", &tags), want as f64, "{tags:?}");
        assert_eq!(counter_total(&c, "events", &tags), want as f64, "{tags:?}");
        // 3 with the lookup
        assert_eq!(
            histogram_count_sum(&c, "latency_seconds", &tags),
            (want as u64, want as f64 * OBSERVED),
            "{tags:?}"
        );
        seen += want;
    }
    assert_eq!(seen, total);
    // 5: every event kept as a sample.
    assert_eq!(c.get_metric_series("events").unwrap().len(), total);
    // 3 through the handle
    assert_eq!(
        histogram_count_sum(&c, "latency_seconds", &[("k", "v")]),
        (total as u64, total as f64 * OBSERVED)
    );
    // 4: two records per iteration; the recorded durations sum to at least
    // the 250 ms ones.
    let (count, sum) = histogram_count_sum(&c, "section_seconds", &[("k", "v")]);
    assert_eq!(count, 2 * total as u64);
    assert!(sum >= total as f64 * 0.25, "{sum}");
}
