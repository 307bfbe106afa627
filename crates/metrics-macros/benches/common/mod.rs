//! What both macro benchmarks measure the same way: the work inside the
//! instrumented functions, and the allocation loops timed once with the
//! system allocator (`overhead`) and once with the counting one
//! (`allocator`).

use std::hint::black_box;

/// The body of every benchmarked function: a few cycles of arithmetic.
pub(crate) fn work(x: u64) -> u64 {
    black_box(x).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

/// The uninstrumented function.
#[inline(never)]
pub(crate) fn bare(x: u64) -> u64 {
    work(x)
}

/// One allocation of `size` bytes, freed at once.
pub(crate) fn alloc_free(size: usize) -> usize {
    let v: Vec<u8> = Vec::with_capacity(black_box(size));
    black_box(&v);
    v.capacity()
}

/// Growth by doubling to 64 KiB: reallocations.
pub(crate) fn realloc_growth() -> usize {
    let mut v: Vec<u8> = Vec::with_capacity(16);
    while v.capacity() < 65536 {
        v.reserve(v.capacity() + 1);
        black_box(&v);
    }
    v.capacity()
}
