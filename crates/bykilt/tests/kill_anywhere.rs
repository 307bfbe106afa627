//! `kill -9` at any moment of a batch, then `batch resume`: the run's
//! stored counts equal the journal's, including the jobs that finished in
//! the killed process's last flush interval (recorded again from the
//! journal at their own times).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use batch_engine::{BatchEngine, JobStatus, RunContext};
use common::{Sandbox, lines, text, wait_exit, wait_until};

fn json(s: &Sandbox, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = s.cmd(&all).env_remove("BYKILT_METRICS_DB").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
    serde_json::from_str(&text(&out.stdout)).unwrap()
}

/// Starts `batch run` over `rows` numbered rows, each job sleeping
/// `sleep` seconds then appending its id to `done.txt`, with `extra` flags.
fn start_batch(s: &Sandbox, rows: usize, sleep: &str, extra: &[&str]) -> std::process::Child {
    s.write("in.csv", &common::numbered_csv(rows));
    let exec = format!("sleep {sleep}; echo \"$BYKILT_ID\" >> done.txt");
    let mut args = vec!["batch", "run", "in.csv", "--exec", exec.as_str()];
    args.extend_from_slice(extra);
    s.cmd(&args)
        .env_remove("BYKILT_METRICS_DB")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills `child` with SIGKILL once `ready` holds for the jobs done so far.
fn kill_when(s: &Sandbox, child: &mut std::process::Child, mut ready: impl FnMut(usize) -> bool) {
    let done = s.path().join("done.txt");
    wait_until("jobs to finish", || ready(lines(&done).len()).then_some(()));
    child.kill().unwrap();
    wait_exit(child);
}

/// `batch resume BATCH_ID EXTRA...`, which must succeed; its stderr.
fn resume(s: &Sandbox, batch_id: &str, extra: &[&str]) -> String {
    let mut args = vec!["batch", "resume", batch_id];
    args.extend_from_slice(extra);
    let out = s.cmd(&args).env_remove("BYKILT_METRICS_DB").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stderr)
}

/// Runs a batch of `rows` jobs, kills it with SIGKILL once `kill_after`
/// jobs are done (jobs keep finishing right up to the kill: nothing waits
/// for a flush), resumes it, and checks the stored counts.
fn kill_and_resume(rows: usize, kill_after: usize, extra_wait: Duration) {
    let s = Sandbox::new();
    let mut child = start_batch(&s, rows, "0.02", &["--concurrency", "4"]);
    kill_when(&s, &mut child, |done| {
        if done < kill_after {
            return false;
        }
        std::thread::sleep(extra_wait);
        true
    });
    let batch_id = s.wait_for_batch();
    resume(&s, &batch_id, &["--quiet"]);

    let after = BatchEngine::new(RunContext::new(s.root()))
        .get_batch(&batch_id)
        .unwrap();
    assert_eq!(after.completed_jobs, rows);
    let run_id = batch_id.trim_start_matches("batch-").to_owned();
    let summary = |name: &str, tag: Option<&str>| {
        let mut args = vec!["metrics", "summary", name, "--run", run_id.as_str()];
        if let Some(t) = tag {
            args.extend(["--tag", t]);
        }
        json(&s, &args)["summary"].clone()
    };
    let attempts: u64 = after.jobs.iter().map(|j| u64::from(j.attempts)).sum();
    let interrupted: u64 = after
        .jobs
        .iter()
        .map(|j| j.interrupted_attempts.as_deref().map_or(0, <[u32]>::len) as u64)
        .sum();
    let durations = summary("job_duration_seconds", None);
    assert_eq!(
        durations["count"].as_u64().unwrap(),
        attempts - interrupted,
        "one duration per attempt that ended (killed after {kill_after} + {extra_wait:?})"
    );
    assert!(durations["min"].as_f64().unwrap() >= 0.0, "{durations}");
    let total = |status: &str| {
        summary("job_status", Some(&format!("status={status}")))["sum"]
            .as_f64()
            .unwrap() as u64
    };
    assert_eq!(
        total("completed"),
        rows as u64,
        "completed jobs (killed after {kill_after} + {extra_wait:?})"
    );
    assert_eq!(
        total("running"),
        attempts,
        "attempts started (killed after {kill_after} + {extra_wait:?})"
    );
    assert!(after.jobs.iter().all(|j| j.status == JobStatus::Completed));
}

#[test]
fn sigkill_at_any_moment_then_resume_stores_every_journaled_job_and_attempt() {
    // Kills at different points of the writer's flush interval.
    for (kill_after, wait_ms) in [(20, 0), (40, 330), (60, 670)] {
        kill_and_resume(120, kill_after, Duration::from_millis(wait_ms));
    }
}

#[test]
fn resume_without_db_records_into_the_database_the_batch_started_with() {
    let s = Sandbox::new();
    let custom = s.path().join("custom.db");
    let mut child = start_batch(&s, 60, "0.02", &["--db", custom.to_str().unwrap()]);
    kill_when(&s, &mut child, |done| done >= 15);
    let batch_id = s.wait_for_batch();
    let stderr = resume(&s, &batch_id, &[]);
    assert!(
        stderr.contains("custom.db, the database the batch was started with"),
        "{stderr}"
    );
    assert!(
        !s.root().join("metrics.db").exists(),
        "the run was split into the default database"
    );
    let run_id = batch_id.trim_start_matches("batch-").to_owned();
    let v = json(
        &s,
        &[
            "metrics",
            "summary",
            "job_duration_seconds",
            "--run",
            &run_id,
            "--db",
            custom.to_str().unwrap(),
        ],
    );
    assert_eq!(v["summary"]["count"], 60, "{v}");
}

#[test]
fn a_killed_runs_wall_time_counts_in_the_batch_throughput() {
    let s = Sandbox::new();
    let started = std::time::Instant::now();
    let mut child = start_batch(&s, 400, "0.03", &["--concurrency", "2"]);
    // Past the store's first flush (1 s after the store opens, later on a
    // slow machine), so the run's start is stored: the database holds a
    // queue time of the run.
    let stored = || {
        s.cmd(&["metrics", "summary", "job_queue_seconds", "--json"])
            .env_remove("BYKILT_METRICS_DB")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .and_then(|v| v["summary"]["count"].as_u64())
            .is_some_and(|n| n > 0)
    };
    kill_when(&s, &mut child, |done| {
        done >= 50 && started.elapsed() > Duration::from_millis(1500) && stored()
    });
    let killed_after = started.elapsed().as_secs_f64();
    let batch_id = s.wait_for_batch();
    let stderr = resume(&s, &batch_id, &[]);
    assert!(stderr.contains("and its run time"), "{stderr}");
    let status = json(&s, &["batch", "status", &batch_id])["summary"].clone();
    assert_eq!(status["runs"], 2, "the killed run and the resume: {status}");
    let run_seconds = status["run_seconds"].as_f64().unwrap();
    // The killed run lasted from its start (after the spawn) to its last
    // journaled event (before the kill).
    assert!(
        run_seconds > 1.0 && run_seconds < killed_after + 30.0,
        "{run_seconds} s: {status}"
    );
}
