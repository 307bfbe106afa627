//! Engine overhead: per-job cost with a no-op runner (10k and 100k rows),
//! `create_batch_jobs` on a 100k-row CSV, and one journaled status update.
//!
//! `cargo bench -p batch-engine --bench engine`

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use std::time::Duration;

use batch_engine::{
    BatchConfig, BatchEngine, CsvOptions, ExecuteOptions, JobContext, JobError, JobStatus, JournalSync, RunContext,
    parse_csv,
};
use divan::{Bencher, counter::ItemsCount};
use metrics_core::MetricsCollector;

fn main() {
    divan::main();
}

fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")))
        .path()
}

fn csv_with(rows: usize) -> PathBuf {
    let path = scratch().join(format!("rows_{rows}.csv"));
    if !path.exists() {
        let mut text = String::from("id,url,note\n");
        for i in 0..rows {
            text.push_str(&format!("{i},https://example.invalid/item/{i},\"note, {i}\"\n"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write: {e}"));
    }
    path
}

fn engine() -> BatchEngine {
    engine_with(JournalSync::default())
}

fn engine_with(journal_sync: JournalSync) -> BatchEngine {
    let config = BatchConfig {
        journal_sync,
        ..BatchConfig::default()
    };
    BatchEngine::with_config(RunContext::new(scratch().join("artifacts")), config)
        .with_collector(Arc::new(MetricsCollector::default()))
}

fn noop(_: &JobContext<'_>) -> Result<(), JobError> {
    Ok(())
}

/// Whole `execute_batch` of a fresh batch with a runner that does nothing:
/// two journaled status changes, the metrics, and the worker pool per job.
#[divan::bench(args = [10_000, 100_000], sample_count = 5, sample_size = 1)]
fn execute_noop(bencher: Bencher, rows: usize) {
    let csv = csv_with(rows);
    bencher
        .counter(ItemsCount::new(rows))
        .with_inputs(|| {
            let e = engine();
            let id = e
                .create_batch_jobs(&csv)
                .map(|m| m.batch_id)
                .unwrap_or_else(|e| panic!("{e}"));
            (e, id)
        })
        .bench_local_values(|(e, id)| {
            let options = ExecuteOptions {
                concurrency: 1,
                ..ExecuteOptions::default()
            };
            e.execute_batch(&id, &noop, &options).unwrap_or_else(|e| panic!("{e}"))
        });
}

/// The same on 1k rows under each journal fsync policy: `never` (fsync only
/// at compaction), `interval` (the default, at most every 100 ms) and
/// `every` (an fsync per finished job).
#[divan::bench(args = ["never", "interval", "every"], sample_count = 5, sample_size = 1)]
fn execute_noop_1k_by_fsync_policy(bencher: Bencher, policy: &str) {
    let csv = csv_with(1_000);
    let sync = match policy {
        "never" => JournalSync::Never,
        "every" => JournalSync::EveryFinishedJob,
        _ => JournalSync::Interval(Duration::from_millis(100)),
    };
    bencher
        .counter(ItemsCount::new(1_000usize))
        .with_inputs(|| {
            let e = engine_with(sync);
            let id = e
                .create_batch_jobs(&csv)
                .map(|m| m.batch_id)
                .unwrap_or_else(|e| panic!("{e}"));
            (e, id)
        })
        .bench_local_values(|(e, id)| {
            let options = ExecuteOptions {
                concurrency: 1,
                ..ExecuteOptions::default()
            };
            e.execute_batch(&id, &noop, &options).unwrap_or_else(|e| panic!("{e}"))
        });
}

/// Only reading and checking a 100k-row CSV (the first part of `create_batch_jobs`).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn parse_csv_100k(bencher: Bencher) {
    let csv = csv_with(100_000);
    bencher
        .counter(ItemsCount::new(100_000usize))
        .bench_local(|| parse_csv(&csv, &CsvOptions::default()).unwrap_or_else(|e| panic!("{e}")));
}

/// Parsing a 100k-row CSV into jobs and writing the manifest.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn create_batch_jobs_100k(bencher: Bencher) {
    let csv = csv_with(100_000);
    bencher
        .counter(ItemsCount::new(100_000usize))
        .with_inputs(engine)
        .bench_local_values(|e| e.create_batch_jobs(&csv).unwrap_or_else(|e| panic!("{e}")));
}

/// One `update_job_status`: a transition check, a journal line written
/// with one `write(2)`, a metric.
#[divan::bench(sample_count = 50, sample_size = 200)]
fn journaled_status_update(bencher: Bencher) {
    let e = engine();
    let m = e.create_batch_jobs(csv_with(1_000)).unwrap_or_else(|e| panic!("{e}"));
    let job = m.jobs[0].job_id.clone();
    e.update_job_status(&job, JobStatus::Running, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut running = true;
    bencher.bench_local(|| {
        let to = if running {
            JobStatus::Stopped
        } else {
            JobStatus::Running
        };
        running = !running;
        e.update_job_status(&job, to, None).unwrap_or_else(|e| panic!("{e}"));
    });
}
