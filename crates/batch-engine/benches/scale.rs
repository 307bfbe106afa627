//! A million-row batch (issue 10, item 14): peak memory and time to create
//! it from a ~48 MB CSV, run every job with a no-op runner, and open it
//! again as `resume` does. A benchmark, not a test: it prints figures.
//!
//! `cargo bench -p batch-engine --bench scale` (ROWS=N to change the size).
//! Peak RSS is the process's high-water mark (`VmHWM` in /proc/self/status),
//! read after each phase; the phases run in order, so each figure is the
//! peak up to that point.

#![allow(clippy::print_stdout)] // a benchmark binary: its output is the figures

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use batch_engine::{BatchEngine, ExecuteOptions, JobContext, JobError, NoObserver, RunContext};
use metrics_core::{MetricsCollector, MetricsConfig};

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn collector() -> Arc<MetricsCollector> {
    // As the CLI keeps a run's metrics: the latest 100,000 samples per series.
    Arc::new(MetricsCollector::new(MetricsConfig {
        max_samples_per_series: 100_000,
        ..MetricsConfig::default()
    }))
}

fn main() {
    let rows: usize = std::env::var("ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let csv = dir.path().join("big.csv");
    {
        let file = std::fs::File::create(&csv).unwrap_or_else(|e| panic!("create: {e}"));
        let mut w = std::io::BufWriter::new(file);
        let _ = writeln!(w, "id,name,city,note");
        for i in 0..rows {
            let _ = writeln!(
                w,
                "{i},user{i:07},city{:04},note-{:012}-x",
                i % 997,
                (i as u64).wrapping_mul(2_654_435_761) % 1_000_000_000_000
            );
        }
    }
    let mb = std::fs::metadata(&csv).map_or(0, |m| m.len()) as f64 / 1e6;
    let root = dir.path().join("artifacts");
    let ctx = RunContext::new(&root);
    let engine = BatchEngine::new(ctx.clone()).with_collector(collector());

    let t = Instant::now();
    let created = engine
        .create_command_batch(&csv)
        .unwrap_or_else(|e| panic!("create: {e}"));
    let create_s = t.elapsed().as_secs_f64();
    let create_rss = peak_rss_mb();

    let noop = |_: &JobContext<'_>| -> Result<(), JobError> { Ok(()) };
    let t = Instant::now();
    let report = engine
        .execute_batch(&created.batch_id, &noop, &ExecuteOptions::default())
        .unwrap_or_else(|e| panic!("execute: {e}"));
    let run_s = t.elapsed().as_secs_f64();
    let run_rss = peak_rss_mb();
    engine
        .close_batch(&created.batch_id)
        .unwrap_or_else(|e| panic!("close: {e}"));
    drop(engine);

    let manifest_mb = std::fs::metadata(root.join("runs").join(ctx.run_id()).join("batch/batch_manifest.json"))
        .map_or(0, |m| m.len()) as f64
        / 1e6;
    // The manifest read both ways, alternately, in this run: serde_json's
    // stream reader (how it was read before) and BatchManifest::load.
    let manifest_path = root.join("runs").join(ctx.run_id()).join("batch/batch_manifest.json");
    let (mut stream_s, mut load_s) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        let file = std::fs::File::open(&manifest_path).unwrap_or_else(|e| panic!("open: {e}"));
        let m: batch_engine::BatchManifest = serde_json::from_reader(std::io::BufReader::with_capacity(1 << 20, file))
            .unwrap_or_else(|e| panic!("stream read: {e}"));
        stream_s.push(t.elapsed().as_secs_f64());
        drop(m);
        let t = Instant::now();
        let m = batch_engine::BatchManifest::load(&manifest_path).unwrap_or_else(|e| panic!("load: {e}"));
        load_s.push(t.elapsed().as_secs_f64());
        drop(m);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (stream_med, load_med) = (median(&mut stream_s), median(&mut load_s));
    let reopened = BatchEngine::new(ctx).with_collector(collector());
    let t = Instant::now();
    let resumed = reopened
        .resume_batch(&created.batch_id, &noop, &ExecuteOptions::default(), &NoObserver)
        .unwrap_or_else(|e| panic!("resume: {e}"));
    let open_s = t.elapsed().as_secs_f64();
    let open_rss = peak_rss_mb();

    println!("rows {rows}, CSV {mb:.1} MB, manifest {manifest_mb:.1} MB");
    println!("create  {create_s:>6.2} s   peak RSS {create_rss:>6.1} MB");
    println!(
        "run     {run_s:>6.2} s   peak RSS {run_rss:>6.1} MB   ({} completed, {:.0} jobs/s)",
        report.summary.completed,
        report.summary.throughput_per_second.unwrap_or(f64::NAN)
    );
    println!(
        "resume  {open_s:>6.2} s   peak RSS {open_rss:>6.1} MB   (open + nothing to run: {} started)",
        resumed.counts.started
    );
    println!(
        "manifest read: stream {stream_med:.2} s, BatchManifest::load {load_med:.2} s (median of 3; load / stream = {:.2})",
        load_med / stream_med
    );
}
