//! `kill -9` in the middle of a run, then `batch resume`: every row ends up
//! completed, finished jobs never run again, and only jobs that were in
//! flight at the kill run twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use batch_engine::{BatchEngine, JobStatus, RunContext};
use common::{Sandbox, lines, text, wait_exit, wait_until};

const ROWS: usize = 300;
const CONCURRENCY: usize = 4;

#[test]
fn sigkill_mid_run_then_resume_loses_nothing() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(ROWS));
    let runs = s.path().join("runs.txt");
    let mut child = s.spawn(&[
        "batch",
        "run",
        "in.csv",
        "--concurrency",
        &CONCURRENCY.to_string(),
        "--exec",
        "echo \"$BYKILT_ID\" >> runs.txt; sleep 0.01",
    ]);
    wait_until("a third of the jobs to run", || {
        (lines(&runs).len() >= ROWS / 3).then_some(())
    });
    child.kill().unwrap(); // SIGKILL
    wait_exit(&mut child);
    let batch_id = s.wait_for_batch();

    // What the journal says at the moment of the kill.
    let engine = BatchEngine::new(RunContext::new(s.root()));
    let at_kill = engine.get_batch(&batch_id).unwrap();
    let ids_with = |status: JobStatus| -> BTreeSet<String> {
        at_kill
            .jobs
            .iter()
            .filter(|j| j.status == status)
            .map(|j| j.row_data.get("id").unwrap().to_owned())
            .collect()
    };
    let in_flight = ids_with(JobStatus::Running);
    let completed_before = ids_with(JobStatus::Completed);
    assert!(in_flight.len() <= CONCURRENCY, "{in_flight:?}");
    assert!(completed_before.len() < ROWS, "the kill came too late to test anything");

    let resumed = s.run(&["batch", "resume", &batch_id, "--quiet"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));

    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for id in lines(&runs) {
        *count.entry(id).or_default() += 1;
    }
    for i in 1..=ROWS {
        let id = i.to_string();
        let n = count.get(&id).copied().unwrap_or(0);
        assert!(n >= 1, "row {id} never ran");
        if n > 1 {
            assert_eq!(n, 2, "row {id} ran {n} times");
            assert!(
                in_flight.contains(&id),
                "row {id} ran twice but was not in flight at the kill"
            );
        }
        if completed_before.contains(&id) {
            assert_eq!(n, 1, "completed row {id} ran again");
        }
    }
    let after = engine.get_batch(&batch_id).unwrap();
    assert_eq!(after.completed_jobs, ROWS);
    assert!(after.jobs.iter().all(|j| j.status == JobStatus::Completed));
}
