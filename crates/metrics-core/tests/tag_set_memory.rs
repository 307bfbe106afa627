//! Heap held per tag set of a series, and that all of it is returned when
//! the collector goes: counted by a global allocator that tracks live bytes
//! across threads. One test only, so no other test allocates meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_core::{AggregateValue, MetricsCollector, MetricsConfig};
use std::time::Duration;

#[path = "common/live_bytes.rs"]
mod live_bytes;
use live_bytes::live;

const SETS: usize = 50_000;

#[test]
fn a_new_tag_set_costs_its_text_plus_a_bounded_overhead_and_is_freed_with_the_collector() {
    let config = MetricsConfig {
        max_tag_sets_per_series: 10 * SETS,
        system_metrics_interval: Duration::ZERO,
        ..MetricsConfig::default()
    };
    let names: Vec<String> = (0..SETS).map(|i| format!("user-{i:07}")).collect();
    // Stored text: keys and values, joined by one byte between pieces.
    let text: usize = names
        .iter()
        .map(|n| "kind".len() + "user".len() + "user_name".len() + n.len() + 3)
        .sum();
    let baseline = live();
    let collector = MetricsCollector::new(config);
    // The thread's resolution cache goes away with the thread, so what is
    // left afterwards is the collector's alone.
    let (per_set, total) = std::thread::scope(|s| {
        s.spawn(|| {
            collector
                .increment_counter("errors", &[("kind", "user"), ("user_name", "warm")], 1)
                .unwrap();
            let before = live();
            for name in &names {
                collector
                    .increment_counter("errors", &[("kind", "user"), ("user_name", name.as_str())], 2)
                    .unwrap();
            }
            let held = (live() - before) as usize;
            let series = collector.get_metric_series("errors").unwrap();
            (held.saturating_sub(text) / SETS, series.aggregates().len())
        })
        .join()
        .unwrap()
    });
    assert_eq!(total, SETS + 1);
    // One allocation per set: a 24-byte aggregate, a 16-byte header and the
    // text, padded to 8 bytes; plus its share of the index (an 8-byte slot
    // and a 5-byte bucket, each grown by doubling) and of the thread's
    // bounded resolution cache: 68 bytes here. Two allocations per set (an
    // `Arc`'d entry and an `Arc`'d text) held about 100.
    assert!(per_set <= 80, "a new tag set holds {per_set} bytes beyond its text");
    let series = collector.get_metric_series("errors").unwrap();
    let some = names[SETS / 2].as_str();
    assert_eq!(
        series.aggregate(&[("user_name", some), ("kind", "user")]),
        Some(AggregateValue::Counter { total: 2.0 })
    );
    drop(series);
    drop(collector);
    let left = live() - baseline;
    assert!(
        left.abs() < 4096,
        "{left} bytes are still held after the collector was dropped"
    );
}
