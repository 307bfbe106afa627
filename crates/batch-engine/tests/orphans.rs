//! Attempts a killed run left `running`: their recorded process groups are
//! stopped before the rows run again, and a pid reused by another process
//! is never taken for them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use batch_engine::{BatchEngine, ExecuteOptions, JobContext, JobError, JobStatus, NoObserver, RunContext, batch_dir};
use metrics_core::MetricsCollector;

fn start_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap()
}

struct Reaped(Child);
impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sleeper() -> Reaped {
    use std::os::unix::process::CommandExt;
    Reaped(Command::new("sleep").arg("60").process_group(0).spawn().unwrap())
}

/// A batch of one row whose job a "killed run" left running in `pgid`.
fn orphaned_batch(pgid: u32, ticks: u64) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "n\n1\n").unwrap();
    let root = dir.path().join("artifacts");
    let e = BatchEngine::new(RunContext::new(&root)).with_collector(Arc::new(MetricsCollector::default()));
    let m = e.create_batch_jobs(&csv).unwrap();
    e.close_batch(&m.batch_id).unwrap();
    let journal = batch_dir(&root, &m.batch_id).unwrap().join("journal.jsonl");
    std::fs::write(
        journal,
        format!(
            "{{\"seq\":7,\"job\":0,\"status\":\"running\",\"attempts\":1,\"process\":{{\"pgid\":{pgid},\"start_ticks\":{ticks}}}}}\n"
        ),
    )
    .unwrap();
    (dir, root, m.batch_id)
}

fn resume(root: &std::path::Path, batch_id: &str) -> batch_engine::BatchReport {
    let e = BatchEngine::new(RunContext::new(root)).with_collector(Arc::new(MetricsCollector::default()));
    let runner = |_: &JobContext<'_>| -> Result<(), JobError> { Ok(()) };
    let options = ExecuteOptions {
        orphan_grace: Duration::from_millis(500),
        ..Default::default()
    };
    e.resume_batch(batch_id, &runner, &options, &NoObserver).unwrap()
}

#[test]
fn the_recorded_group_is_stopped_and_the_attempt_recorded_interrupted() {
    let mut orphan = sleeper();
    let pid = orphan.0.id();
    let (_dir, root, batch_id) = orphaned_batch(pid, start_ticks(pid));
    let report = resume(&root, &batch_id);
    assert_eq!(report.summary.completed, 1);
    let status = orphan.0.try_wait().unwrap();
    assert!(status.is_some(), "the orphan was stopped before the row ran again");
}

#[test]
fn a_reused_pid_is_not_mistaken_for_the_orphan() {
    let mut stranger = sleeper();
    let pid = stranger.0.id();
    // The journal names this pid, but with another start time: the attempt's
    // own process is gone and the number now belongs to someone else.
    let (_dir, root, batch_id) = orphaned_batch(pid, start_ticks(pid) - 1);
    let e = BatchEngine::new(RunContext::new(&root)).with_collector(Arc::new(MetricsCollector::default()));
    let interrupted = e.stop_orphans(&batch_id, Duration::from_millis(100)).unwrap();
    assert_eq!(interrupted.len(), 1);
    let m = e.get_batch(&batch_id).unwrap();
    assert_eq!(m.jobs[0].status, JobStatus::Stopped);
    assert!(
        m.jobs[0].error_message.as_deref().unwrap().starts_with("interrupted"),
        "{:?}",
        m.jobs[0].error_message
    );
    assert!(stranger.0.try_wait().unwrap().is_none(), "the stranger was left alone");
}
