//! The clocks a timer could read (issue 18, "a cheaper clock"): `std`'s
//! `Instant` and `SystemTime`, `quanta`'s TSC clock, and `quanta`'s coarse
//! "recent" time, which a background thread refreshes every millisecond.
//! Each measures one start + elapsed pair (what a timer does), or one read
//! for the wall clock. Run with `cargo bench -p bykilt-bench --bench clock`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use divan::Bencher;

fn main() {
    divan::main();
}

/// `Instant::now()` + `elapsed()`: what timers use today.
#[divan::bench(threads = [1, 2])]
fn std_instant_pair(b: Bencher) {
    b.bench(|| {
        let start = Instant::now();
        black_box(start.elapsed())
    });
}

/// quanta's calibrated TSC clock: `now()` + `now() - start`.
#[divan::bench(threads = [1, 2])]
fn quanta_pair(b: Bencher) {
    let clock = quanta::Clock::new();
    b.bench(|| {
        let start = clock.now();
        black_box(clock.now().duration_since(start))
    });
}

/// quanta's `raw()` + `delta()`: the TSC read alone, scaled only when needed.
#[divan::bench(threads = [1, 2])]
fn quanta_raw_pair(b: Bencher) {
    let clock = quanta::Clock::new();
    b.bench(|| {
        let start = clock.raw();
        black_box(clock.delta(start, clock.raw()))
    });
}

/// quanta's coarse time, refreshed every millisecond by its upkeep thread:
/// a load, no clock read.
#[divan::bench(threads = [1, 2])]
fn quanta_recent_pair(b: Bencher) {
    let _upkeep = quanta::Upkeep::new(Duration::from_millis(1)).start().unwrap();
    b.bench(|| {
        let start = quanta::Instant::recent();
        black_box(quanta::Instant::recent().duration_since(start))
    });
}

/// The wall clock a sample's timestamp reads today.
#[divan::bench(threads = [1, 2])]
fn std_system_time(b: Bencher) {
    b.bench(|| black_box(SystemTime::now()));
}

/// What metrics-core's timers read now: `clock::Stopwatch` (quanta's
/// calibrated TSC, raw ticks scaled at the stop).
#[divan::bench(threads = [1, 2])]
fn ours_stopwatch_pair(b: Bencher) {
    // Calibrate first (once per process): not part of a pair's cost.
    let _ = metrics_core::clock::Stopwatch::start();
    b.bench(|| {
        let watch = metrics_core::clock::Stopwatch::start();
        black_box(watch.elapsed())
    });
}

/// What metrics-core's sample timestamps read now: `SystemClock` (the TSC's
/// monotonic time plus an offset to `SystemTime`, re-read once a second).
#[divan::bench(threads = [1, 2])]
fn ours_system_clock(b: Bencher) {
    use metrics_core::clock::Clock;
    let _ = metrics_core::clock::SystemClock.now_nanos();
    b.bench(|| black_box(metrics_core::clock::SystemClock.now_nanos()));
}
