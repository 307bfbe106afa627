//! `#[record_memory_usage]` with the counting allocator installed: exact
//! per-call figures, nesting, threads and interleaved async tasks.
//! Installing a global allocator needs its own test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::hint::black_box;
use std::sync::Barrier;

use metrics_core::alloc::{self, CountingAllocator};
use metrics_core::{HistogramSnapshot, get_metrics_collector, record_memory_usage};
use support::{YieldOnce, gauge, histogram, interleave};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::system();

const MODULE: &str = module_path!();
const MIB: usize = 1 << 20;

fn tags<'a>(function: &'a str, outcome: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("function", function),
        ("module", MODULE),
        ("outcome", outcome),
        ("source", "allocator"),
    ]
}

fn peak(name: &str, function: &str) -> HistogramSnapshot {
    histogram(&format!("{name}.memory_peak"), &tags(function, "ok")).expect("peak recorded")
}

fn allocated(name: &str, function: &str) -> HistogramSnapshot {
    histogram(&format!("{name}.memory_allocated"), &tags(function, "ok")).expect("allocated recorded")
}

fn net(name: &str, function: &str) -> f64 {
    gauge(&format!("{name}.memory_usage"), &tags(function, "ok")).expect("usage recorded")
}

#[test]
fn the_installed_allocator_is_detected() {
    assert!(alloc::is_installed());
    let before = alloc::thread_allocations();
    let v = black_box(vec![0u8; 4096]);
    let after = alloc::thread_allocations();
    assert!(after.live - before.live >= 4096);
    assert!(after.allocated - before.allocated >= 4096);
    drop(v);
}

#[record_memory_usage(name = "mem.alloc_free")]
fn alloc_and_free() -> usize {
    let v = black_box(vec![1u8; MIB]);
    v.len()
}

#[test]
fn alloc_and_free_has_a_peak_and_no_net_change() {
    assert_eq!(alloc_and_free(), MIB);
    let p = peak("mem.alloc_free", "alloc_and_free");
    assert_eq!(p.count, 1);
    assert!(p.max >= MIB as f64, "peak {}", p.max);
    assert_eq!(net("mem.alloc_free", "alloc_and_free"), 0.0);
    assert!(allocated("mem.alloc_free", "alloc_and_free").max >= MIB as f64);
    // No call panicked: no made-up 0 for that outcome.
    assert_eq!(
        gauge("mem.alloc_free.memory_usage", &tags("alloc_and_free", "panic")),
        None
    );
}

#[record_memory_usage(name = "mem.returned")]
fn returns_buffer() -> Vec<u8> {
    vec![1u8; MIB]
}

#[test]
fn a_returned_buffer_is_net_growth() {
    let kept = returns_buffer();
    assert!(net("mem.returned", "returns_buffer") >= MIB as f64);
    drop(kept);
}

#[record_memory_usage(name = "mem.grow")]
fn grow_by_push() -> Vec<u64> {
    let mut v = Vec::new();
    for i in 0..100_000u64 {
        v.push(i);
    }
    v.shrink_to_fit();
    v
}

#[test]
fn reallocation_counts_growth_and_shrinking() {
    let v = grow_by_push();
    let exact = (v.capacity() * 8) as f64;
    assert_eq!(net("mem.grow", "grow_by_push"), exact);
    // The doubling went above the final size before shrink_to_fit.
    assert!(peak("mem.grow", "grow_by_push").max > exact);
}

#[record_memory_usage(name = "mem.child")]
fn child() {
    drop(black_box(vec![1u8; 2 * MIB]));
}

#[record_memory_usage(name = "mem.parent")]
fn parent() {
    let held = black_box(vec![1u8; MIB]);
    child();
    drop(held);
}

#[test]
fn nested_calls_are_exact_and_the_parent_includes_the_child() {
    parent();
    let child_peak = peak("mem.child", "child").max;
    assert!(
        (2 * MIB) as f64 <= child_peak && child_peak < (3 * MIB) as f64,
        "child peak {child_peak}"
    );
    let parent_peak = peak("mem.parent", "parent").max;
    assert!(parent_peak >= (3 * MIB) as f64, "parent peak {parent_peak}");
    let parent_allocated = allocated("mem.parent", "parent").max;
    assert!(
        parent_allocated >= (3 * MIB) as f64,
        "parent allocated {parent_allocated}"
    );
    assert!(parent_allocated < (4 * MIB) as f64, "counted twice: {parent_allocated}");
    assert_eq!(net("mem.parent", "parent"), 0.0);
    assert_eq!(net("mem.child", "child"), 0.0);
}

#[record_memory_usage(name = "mem.threads")]
fn hold_while_other_thread_allocates(bytes: usize, barrier: &Barrier) {
    let held = black_box(vec![1u8; bytes]);
    // Both threads hold their buffers at the same time.
    barrier.wait();
    barrier.wait();
    drop(held);
}

#[test]
fn concurrent_threads_see_only_their_own_bytes() {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| hold_while_other_thread_allocates(MIB, &barrier));
        s.spawn(|| hold_while_other_thread_allocates(4 * MIB, &barrier));
    });
    let p = peak("mem.threads", "hold_while_other_thread_allocates");
    assert_eq!(p.count, 2);
    assert!(
        p.min >= MIB as f64 && p.min < (2 * MIB) as f64,
        "small thread saw {}",
        p.min
    );
    assert!(
        p.max >= (4 * MIB) as f64 && p.max < (5 * MIB) as f64,
        "big thread saw {}",
        p.max
    );
}

#[record_memory_usage(name = "mem.tasks")]
async fn task(chunk: usize) -> usize {
    let first = black_box(vec![1u8; chunk]);
    YieldOnce::default().await;
    let second = black_box(vec![1u8; chunk]);
    YieldOnce::default().await;
    first.len() + second.len()
}

#[test]
fn interleaved_tasks_on_one_thread_see_only_their_own_bytes() {
    let (small, big) = interleave(task(MIB), task(4 * MIB));
    assert_eq!((small, big), (2 * MIB, 8 * MIB));
    let p = peak("mem.tasks", "task");
    assert_eq!(p.count, 2);
    assert!(
        p.min >= (2 * MIB) as f64 && p.min < (3 * MIB) as f64,
        "small task saw {}",
        p.min
    );
    assert!(
        p.max >= (8 * MIB) as f64 && p.max < (9 * MIB) as f64,
        "big task saw {}",
        p.max
    );
    let a = allocated("mem.tasks", "task");
    assert!(a.min < (3 * MIB) as f64 && a.max < (9 * MIB) as f64, "allocated {a:?}");
}

#[record_memory_usage(name = "mem.outcomes")]
fn maybe_fail(fail: bool) -> Result<Vec<u8>, String> {
    let v = vec![0u8; 1024];
    if fail {
        return Err("failed".into());
    }
    Ok(v)
}

#[test]
fn outcomes_are_tagged_like_the_timer() {
    maybe_fail(false).unwrap();
    maybe_fail(true).unwrap_err();
    let series = get_metrics_collector()
        .get_metric_series("mem.outcomes.memory_peak")
        .unwrap();

    assert_eq!(
        histogram("mem.outcomes.memory_peak", &tags("maybe_fail", "ok"))
            .unwrap()
            .count,
        1
    );
    assert_eq!(
        histogram("mem.outcomes.memory_peak", &tags("maybe_fail", "error"))
            .unwrap()
            .count,
        1
    );
    // Byte-sized buckets, not the seconds of the default buckets.
    assert_eq!(series.buckets().first(), Some(&1024.0));
}

#[record_memory_usage(name = "mem.panics")]
fn panic_holding(bytes: usize) {
    let held = black_box(vec![1u8; bytes]);
    if held.len() > MIB {
        panic!("holding {}", held.len());
    }
}

#[record_memory_usage(name = "mem.cancelled")]
async fn cancelled_holding() {
    let held = black_box(vec![1u8; MIB]);
    YieldOnce::default().await;
    drop(held);
}

#[test]
fn panics_and_cancellations_are_recorded() {
    std::panic::catch_unwind(|| panic_holding(2 * MIB)).unwrap_err();
    let panicked = histogram("mem.panics.memory_peak", &tags("panic_holding", "panic")).unwrap();
    assert!(panicked.max >= (2 * MIB) as f64);
    {
        let mut fut = std::pin::pin!(cancelled_holding());
        assert!(support::poll_once(fut.as_mut()).is_pending());
    }
    let cancelled = histogram("mem.cancelled.memory_peak", &tags("cancelled_holding", "cancelled")).unwrap();
    assert!(cancelled.max >= MIB as f64);
}

#[record_memory_usage]
fn default_named_buffer() -> Vec<u8> {
    vec![0u8; 2048]
}

#[test]
fn the_default_path_is_module_path_dot_function() {
    let kept = default_named_buffer();
    let prefix = format!("{MODULE}.default_named_buffer");
    assert_eq!(net(&prefix, "default_named_buffer"), 2048.0);
    assert!(peak(&prefix, "default_named_buffer").max >= 2048.0);
    drop(kept);
}

#[record_memory_usage(name = "mem.clash")]
fn clashing_buffer() -> usize {
    vec![0u8; 64].len()
}

#[test]
fn a_name_taken_by_another_type_records_nothing_and_still_runs() {
    let collector = get_metrics_collector();
    let counter = collector.counter("mem.clash.memory_usage", &[]).unwrap();
    assert_eq!(clashing_buffer(), 64);
    let series = collector.get_metric_series("mem.clash.memory_usage").unwrap();
    assert_eq!(series.tag_sets().len(), 1);
    assert_eq!(counter.value(), 0);
    assert!(collector.get_metric_series("mem.clash.memory_peak").is_none());
}
