//! Scenario: a CSV export of 100,000 series (one tagged sample each) onto
//! disk, with the export's crash safety (files synced before the directory
//! swap). For comparison, the earlier scheme — one `write_atomic` per file,
//! each with its own fsync — on a fiftieth of the series, scaled up.
//!
//! Writes under the target directory (a real disk, where syncs cost what
//! they cost; `/tmp` may be memory). Run with
//! `cargo bench -p metrics-core --bench csv_export` (`CSV_EXPORT_SERIES`
//! overrides the series count).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]
// The earlier scheme is measured through the deprecated public per-file writer.
#![allow(deprecated)]

use std::path::Path;
use std::time::Instant;

use metrics_core::export::{csv, csv_file_stem, write_atomic};
use metrics_core::{MetricType, MetricsCollector, MetricsConfig};

fn collector(series: usize) -> MetricsCollector {
    let c = MetricsCollector::new(MetricsConfig::default());
    for i in 0..series {
        c.record_metric(
            &format!("job_{i:06}.duration_seconds"),
            0.25,
            &[("status", "ok")],
            MetricType::Timer,
        )
        .unwrap();
    }
    c
}

fn main() {
    let series: usize = std::env::var("CSV_EXPORT_SERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let c = collector(series);

    // Twice: the second export replaces the first (the swap and the removal
    // of the previous directory are part of the cost).
    for round in ["first", "replacing"] {
        let started = Instant::now();
        let paths = c.export_to_csv(root.path().join("csv")).unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(paths.len(), series);
        println!("csv export {round:<9} {series:>7} series  {secs:7.2} s");
    }
    // The previous export, moved aside, is deleted in the background.
    let started = Instant::now();
    while std::fs::read_dir(root.path()).unwrap().count() > 1 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let secs = started.elapsed().as_secs_f64();
    println!("csv background removal of the previous {series} files done {secs:.2} s after the export returned");

    // The earlier scheme: one atomic, fsynced write per file.
    let sample = series / 50;
    let snapshot = collector(sample).snapshot();
    let old = root.path().join("per-file");
    std::fs::create_dir_all(&old).unwrap();
    let started = Instant::now();
    for s in &snapshot.series {
        let path = old.join(format!("{}.csv", csv_file_stem(&s.name)));
        write_atomic(&path, &csv::encode_series(s).unwrap()).unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let scaled = secs * series as f64 / sample as f64;
    println!(
        "csv per-file fsync {sample:>7} series  {secs:7.2} s  (x{} = {scaled:.1} s for {series})",
        series / sample
    );
    drop_dir(root.path());
}

fn drop_dir(p: &Path) {
    let _ = std::fs::remove_dir_all(p);
}
