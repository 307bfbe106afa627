//! What `#[record_execution_time]` adds to a call: the bare function, the
//! attribute (which keeps every call as a sample), the same measurement
//! written by hand with `record_metric`, the attribute with
//! `samples = false`, and that measurement written by hand with a `Timer`
//! handle. Also the system allocator's alloc/free loop, the baseline for
//! `benches/allocator.rs` (the same loop with the counting allocator).
//!
//! Run with `cargo bench -p metrics-macros --bench overhead`.

mod common;

use std::hint::black_box;

use common::{bare, work};
use std::sync::OnceLock;
use std::time::Instant;

use metrics_core::{MetricType, Timer, get_metrics_collector, record_execution_time, record_memory_usage};

fn main() {
    // Resolve every call site's handles first, so that divan's first sample
    // measures the steady state; the call benchmarks also fix their sample
    // size, because an outlier in the first sample (a page fault) would
    // otherwise shrink every sample to one iteration.
    black_box(with_attribute(1));
    let _ = black_box(with_attribute_result(1));
    black_box(by_hand(1));
    black_box(with_attribute_no_samples(1));
    black_box(by_hand_record_metric(1));
    black_box(with_memory_attribute_rss(1));
    divan::main();
}

#[inline(never)]
#[record_execution_time(name = "bench.overhead.macro")]
fn with_attribute(x: u64) -> u64 {
    work(x)
}

#[inline(never)]
#[record_execution_time(name = "bench.overhead.macro_result")]
fn with_attribute_result(x: u64) -> Result<u64, ()> {
    Ok(work(x))
}

#[inline(never)]
fn by_hand(x: u64) -> u64 {
    static TIMER: OnceLock<Option<Timer>> = OnceLock::new();
    let timer = TIMER.get_or_init(|| {
        get_metrics_collector()
            .timer(
                "bench.overhead.by_hand",
                &[("function", "by_hand"), ("module", module_path!()), ("outcome", "ok")],
            )
            .ok()
    });
    let start = Instant::now();
    let result = work(x);
    if let Some(timer) = timer {
        timer.record(start.elapsed());
    }
    result
}

#[inline(never)]
#[record_execution_time(name = "bench.overhead.macro_no_samples", samples = false)]
fn with_attribute_no_samples(x: u64) -> u64 {
    work(x)
}

/// What the attribute with samples does, by hand: a clock read around the
/// call and one `record_metric` (a timestamped sample and the aggregate).
#[inline(never)]
fn by_hand_record_metric(x: u64) -> u64 {
    let start = Instant::now();
    let result = work(x);
    let _ = get_metrics_collector().record_metric(
        "bench.overhead.by_hand_record_metric",
        start.elapsed().as_secs_f64(),
        &[
            ("function", "by_hand_record_metric"),
            ("module", module_path!()),
            ("outcome", "ok"),
        ],
        MetricType::Timer,
    );
    result
}

#[inline(never)]
#[record_memory_usage(name = "bench.overhead.memory_rss")]
fn with_memory_attribute_rss(x: u64) -> u64 {
    work(x)
}

#[divan::bench(sample_count = 200, sample_size = 500)]
fn call_bare() -> u64 {
    bare(black_box(7))
}

#[divan::bench(sample_count = 200, sample_size = 500)]
fn call_with_attribute() -> u64 {
    with_attribute(black_box(7))
}

#[divan::bench(sample_count = 200, sample_size = 500)]
fn call_with_attribute_result() -> Result<u64, ()> {
    with_attribute_result(black_box(7))
}

#[divan::bench(sample_count = 200, sample_size = 500)]
fn call_by_hand() -> u64 {
    by_hand(black_box(7))
}

#[divan::bench(sample_count = 200, sample_size = 500)]
fn call_with_attribute_no_samples() -> u64 {
    with_attribute_no_samples(black_box(7))
}

#[divan::bench(sample_count = 200, sample_size = 500)]
fn call_by_hand_record_metric() -> u64 {
    by_hand_record_metric(black_box(7))
}

/// Without the counting allocator the memory attribute reads
/// `/proc/self/status` twice per call: the price of the RSS fallback.
#[divan::bench(sample_count = 200, sample_size = 500)]
fn call_with_memory_attribute_rss_fallback() -> u64 {
    with_memory_attribute_rss(black_box(7))
}

/// The system allocator, uncounted: 64 B and 4 KiB allocations freed at once.
#[divan::bench(args = [64, 4096], sample_count = 200, sample_size = 2000)]
fn alloc_free(size: usize) -> usize {
    common::alloc_free(size)
}

/// Growth by doubling to 64 KiB: reallocations.
#[divan::bench(sample_count = 200, sample_size = 200)]
fn realloc_growth() -> usize {
    common::realloc_growth()
}
