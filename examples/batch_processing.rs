//! The seed's "Batch Processing Integration", in Rust.
//!
//! Run with `cargo run --release --example batch_processing`. It creates a
//! batch from `examples/data/openings.csv` (metrics recorded automatically),
//! moves one job through its statuses by hand as the seed does, runs the
//! rest with a closure, prints the summary and exports the run's metrics
//! under `artifacts/runs/<run_id>/metrics/` (or `$BYKILT_ARTIFACTS_DIR`).
#![allow(clippy::print_stdout)]
#![forbid(unsafe_code)]

use batch_engine::{BatchEngine, ExecuteOptions, JobContext, JobError, RunContext};
use metrics_core::get_metrics_collector;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let run_context = RunContext::get();
    let engine = BatchEngine::new(run_context.clone());

    // Create batch - metrics automatically recorded.
    let manifest = engine.create_batch_jobs(concat!(env!("CARGO_MANIFEST_DIR"), "/data/openings.csv"))?;
    println!("batch {} with {} jobs", manifest.batch_id, manifest.total_jobs);

    // Update job status - metrics automatically recorded.
    let job_id = &manifest.jobs[0].job_id;
    engine.update_job_status(job_id, "running".parse()?, None)?;
    engine.update_job_status(job_id, "completed".parse()?, None)?;

    // Run the remaining jobs: count the words of each opening line.
    let runner = |job: &JobContext<'_>| -> Result<(), JobError> {
        let text = job.row.get("opening").unwrap_or_default();
        match text.split_whitespace().count() {
            0 => Err(JobError::runner("empty opening line")),
            _ => Ok(()),
        }
    };
    let report = engine.execute_batch(&manifest.batch_id, &runner, &ExecuteOptions::default())?;
    let s = &report.summary;
    println!(
        "{} completed, {} failed of {} ({} run now in {:?})",
        s.completed, s.failed, s.total, report.counts.started, report.elapsed
    );
    if let Some(d) = &s.duration {
        println!("job duration: p50 {:.6}s  p99 {:.6}s  max {:.6}s", d.p50, d.p99, d.max);
    }

    let metrics_dir = run_context.artifact_dir("metrics")?;
    let json = get_metrics_collector().export_json_to(metrics_dir.join("metrics.json"))?;
    let csv = get_metrics_collector().export_to_csv(metrics_dir.join("csv"))?;
    println!("metrics: {} and {} CSV files", json.display(), csv.len());
    // A library batch has no saved shell command: the CLI resumes or
    // retries it with --exec.
    println!(
        "retry its failed rows from the shell with: bykilt batch retry {} --failed --exec COMMAND",
        manifest.batch_id
    );
    Ok(())
}
