//! metrics-core against measured, prometheus-client, prometheus and metrics,
//! in one run, on the scenarios of issue 6 (and of measured's own benches),
//! and scenario 10 (issue 17): the `metrics` facade through our recorder.
//!
//! Module names start with the scenario number (`s1_…`); inside each, one
//! function per library: `ours`, `measured` (dense label sets),
//! `measured_sparse` (hashed label sets), `prometheus`, `prometheus_client`,
//! `metrics` (the `metrics` facade with metrics-exporter-prometheus's
//! recorder, as measured's benches use it) and, where it applies,
//! `raw_atomic`. `scripts/bench_report.py` turns the output into
//! `docs/benchmarks.md`.
//!
//! Samples are long (tens of thousands of iterations each) so that at 2
//! threads both threads really run at once and contention shows; with short
//! samples on a busy 2-core machine the threads barely overlap and a
//! contended atomic looks free.
//!
//! Run with `cargo bench -p bykilt-bench --bench peers` (add a filter such
//! as `-- s2_` for one scenario).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

#[path = "peers/counters.rs"]
mod counters;
#[path = "peers/encoders.rs"]
mod encoders;
#[path = "peers/encoding.rs"]
mod encoding;
#[path = "peers/facade.rs"]
mod facade;
#[path = "peers/histograms.rs"]
mod histograms;
#[path = "peers/labels.rs"]
mod labels;

fn main() {
    // The process's first collector calibrates the timer clock on a thread
    // of its own (a busy core for up to 200 ms, ~150 ms on the VMs of
    // docs/benchmarks.md); a timer waits for it. Finish it before anything
    // is timed, so that whichever benchmark builds the first collector does
    // not share the machine with it (scenario 7 at 10,000 series, run
    // alone, took 370 µs instead of 212 µs when it did).
    drop(metrics_core::MetricsCollector::default());
    let _ = metrics_core::clock::Stopwatch::start().elapsed();
    divan::main();
}

/// Thread counts of every contended scenario.
pub const THREADS: &[usize] = &[1, 2];
