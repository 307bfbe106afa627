//! `#[record_memory_usage]` without the counting allocator: the process'
//! resident-set change, tagged `source="rss"`, and nothing it cannot see.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::hint::black_box;

use metrics_core::alloc;
use metrics_core::{get_metrics_collector, record_memory_usage};
use support::gauge;

const MIB: usize = 1 << 20;

#[record_memory_usage(name = "rss.fill")]
fn fill(bytes: usize) -> Vec<u8> {
    // Written, so every page is resident.
    black_box(vec![1u8; bytes])
}

#[test]
fn without_the_allocator_the_rss_delta_is_recorded_as_such() {
    assert!(!alloc::is_installed());
    let kept = fill(32 * MIB);
    let tags = [
        ("function", "fill"),
        ("module", module_path!()),
        ("outcome", "ok"),
        ("source", "rss"),
    ];
    let grown = gauge("rss.fill.memory_usage", &tags).expect("rss delta recorded");
    // Other threads of this process could only make it larger; pages of
    // 4 KiB or 64 KiB both fit well within 16 MiB of the 32 written.
    assert!(grown >= (16 * MIB) as f64, "rss grew by {grown}");
    let collector = get_metrics_collector();
    assert!(collector.get_metric_series("rss.fill.memory_peak").is_none());
    assert!(collector.get_metric_series("rss.fill.memory_allocated").is_none());
    drop(kept);
}
