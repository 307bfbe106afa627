//! The counting allocator's cost: the alloc/free loop of
//! `benches/overhead.rs` with `CountingAllocator` installed (compare the
//! same benchmark names there, which use the bare system allocator), and
//! what `#[record_memory_usage]` adds to a call when it counts bytes.
//!
//! Run with `cargo bench -p metrics-macros --bench allocator`.

mod common;

use std::hint::black_box;

use common::{bare, work};

use metrics_core::alloc::CountingAllocator;
use metrics_core::record_memory_usage;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::system();

fn main() {
    // Resolve every call site's handles first, so that divan's first sample
    // measures the steady state; the call benchmarks also fix their sample
    // size, because an outlier in the first sample (a page fault) would
    // otherwise shrink every sample to one iteration.
    black_box(with_memory_attribute(1));
    black_box(with_memory_attribute_allocating(1));
    divan::main();
}

#[inline(never)]
#[record_memory_usage(name = "bench.allocator.memory")]
fn with_memory_attribute(x: u64) -> u64 {
    work(x)
}

#[inline(never)]
#[record_memory_usage(name = "bench.allocator.memory_alloc")]
fn with_memory_attribute_allocating(size: usize) -> usize {
    let v: Vec<u8> = Vec::with_capacity(size);
    black_box(&v);
    v.capacity()
}

#[divan::bench(sample_count = 200, sample_size = 500)]
fn call_bare() -> u64 {
    bare(black_box(7))
}

#[divan::bench(sample_count = 200, sample_size = 500)]
fn call_with_memory_attribute() -> u64 {
    with_memory_attribute(black_box(7))
}

#[divan::bench(sample_count = 200, sample_size = 500)]
fn call_with_memory_attribute_allocating() -> usize {
    with_memory_attribute_allocating(black_box(64))
}

/// Counted: 64 B and 4 KiB allocations freed at once.
#[divan::bench(args = [64, 4096], sample_count = 200, sample_size = 2000)]
fn alloc_free(size: usize) -> usize {
    common::alloc_free(size)
}

/// Growth by doubling to 64 KiB: reallocations, counted.
#[divan::bench(sample_count = 200, sample_size = 200)]
fn realloc_growth() -> usize {
    common::realloc_growth()
}
