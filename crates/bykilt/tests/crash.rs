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

/// The jobs' own log: `start|end ID ATTEMPT NANOS [PGID]` lines.
#[derive(Debug, Default, Clone)]
struct AttemptTimes {
    start: Option<u128>,
    end: Option<u128>,
    pgid: Option<i32>,
}

fn attempt_log(path: &std::path::Path) -> BTreeMap<(String, u32), AttemptTimes> {
    let mut out: BTreeMap<(String, u32), AttemptTimes> = BTreeMap::new();
    for line in lines(path) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let key = (f[1].to_owned(), f[2].parse().unwrap());
        let t: u128 = f[3].parse().unwrap();
        let a = out.entry(key).or_default();
        match f[0] {
            "start" => {
                a.start = Some(t);
                a.pgid = Some(f[4].parse().unwrap());
            }
            "end" => a.end = Some(t),
            other => panic!("unexpected line {other:?}"),
        }
    }
    out
}

/// Processes (not zombies) whose process group is `pgid`.
fn group_alive(pgid: i32) -> Vec<String> {
    let mut alive = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else { continue };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if f[2].parse::<i32>() == Ok(pgid) && f[0] != "Z" {
            alive.push(stat);
        }
    }
    alive
}

/// Issue 10, item 1: `kill -9` of bykilt while 4 jobs sleep, then an
/// immediate `resume`: the killed run's jobs are stopped before their rows
/// run again (no two attempts of a row overlap, by the jobs' own clock), and
/// no process of the killed run is left.
#[test]
fn resume_after_sigkill_stops_the_orphaned_jobs_before_running_their_rows_again() {
    let s = Sandbox::new();
    s.write("s.csv", &common::numbered_csv(4));
    let log = s.path().join("o.txt");
    // The trap writes the end of an attempt that is stopped with SIGTERM;
    // stderr goes to /dev/null because the orphans' pipes to the killed run
    // are broken, and the shell's "Terminated" note would kill it with SIGPIPE
    // before the trap runs.
    let exec = "exec 2>/dev/null; trap 'echo end $BYKILT_ID $BYKILT_ATTEMPT $(date +%s%N) >> o.txt; exit 143' TERM; \
                echo start $BYKILT_ID $BYKILT_ATTEMPT $(date +%s%N) $$ >> o.txt; \
                sleep 60 & sleep 4; echo end $BYKILT_ID $BYKILT_ATTEMPT $(date +%s%N) >> o.txt";
    let launched = std::time::Instant::now();
    let mut child = s.spawn(&["batch", "run", "s.csv", "-j", "4", "--exec", exec]);
    wait_until("the 4 jobs to start", || (lines(&log).len() >= 4).then_some(()));
    let batch_id = s.wait_for_batch();
    // While the run lives, its jobs are running, not interrupted.
    let live = status_json(&s, &batch_id);
    assert_eq!(live["summary"]["running"], 4, "{live}");
    assert_eq!(live["summary"]["interrupted"], 0, "{live}");
    std::thread::sleep(std::time::Duration::from_secs(1).saturating_sub(launched.elapsed()));
    child.kill().unwrap(); // SIGKILL
    wait_exit(&mut child);
    let first: Vec<i32> = attempt_log(&log).values().filter_map(|a| a.pgid).collect();
    assert_eq!(first.len(), 4);
    assert!(
        first.iter().all(|g| !group_alive(*g).is_empty()),
        "the killed run's jobs outlive it until something stops them"
    );
    // Once it is dead, `batch status` says its attempts were interrupted
    // (their processes still run, but no run owns them) and how to go on.
    let dead = status_json(&s, &batch_id);
    assert_eq!(dead["summary"]["interrupted"], 4, "{dead}");
    assert!(
        dead["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["interrupted"] == true),
        "{dead}"
    );
    let shown = s.run(&["batch", "status", &batch_id]);
    let shown = text(&shown.stdout);
    assert!(shown.contains("4 interrupted"), "{shown}");
    assert!(shown.contains(&format!("bykilt batch resume {batch_id}")), "{shown}");
    assert!(!shown.contains("running"), "{shown}");

    let resumed = s.run(&["batch", "resume", &batch_id, "--kill-grace", "3s"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    assert!(
        text(&resumed.stderr).contains("recorded as interrupted"),
        "{}",
        text(&resumed.stderr)
    );

    let attempts = attempt_log(&log);
    for row in 1..=4 {
        let id = row.to_string();
        let mine: Vec<(&u32, &AttemptTimes)> = attempts
            .iter()
            .filter(|((r, _), _)| *r == id)
            .map(|((_, n), a)| (n, a))
            .collect();
        assert_eq!(mine.len(), 2, "row {id}: {mine:?}");
        for pair in mine.windows(2) {
            let (a, b) = (pair[0].1, pair[1].1);
            let end = a
                .end
                .unwrap_or_else(|| panic!("row {id}: attempt {} never ended: {a:?}", pair[0].0));
            assert!(
                end <= b.start.unwrap(),
                "row {id}: attempt {} ran until {end}, after attempt {} started at {:?}",
                pair[0].0,
                pair[1].0,
                b.start
            );
        }
    }
    for g in first {
        assert_eq!(group_alive(g), Vec::<String>::new(), "group {g} of the killed run");
    }
    let v = status_json(&s, &batch_id);
    assert_eq!(v["summary"]["completed"], 4, "{v}");
    // Each row's first attempt is on record as interrupted, its second as
    // completed, in the JSON and in the text.
    for job in v["jobs"].as_array().unwrap() {
        let outcomes: Vec<&str> = job["attempt_logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["outcome"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(outcomes, ["interrupted", "completed"], "{job}");
        assert_eq!(job["interrupted_attempts"], serde_json::json!([1]), "{job}");
    }
    let shown = text(&s.run(&["batch", "status", &batch_id]).stdout);
    assert!(shown.contains("interrupted  4 attempts of 4 jobs"), "{shown}");
}

fn status_json(s: &Sandbox, batch_id: &str) -> serde_json::Value {
    let st = s.run(&["batch", "status", batch_id, "--json"]);
    serde_json::from_slice(&st.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&st.stdout)))
}

/// A process group of another user: as root, a `sleep` started as user
/// 65534 in its own group; otherwise an existing group leader of another
/// user (a system daemon, or init). Returns its leader's pid and the child
/// to reap when we started it.
fn foreign_group() -> (u32, Option<std::process::Child>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    if me == 0 {
        let child = std::process::Command::new("sleep")
            .arg("60")
            .uid(65_534)
            .gid(65_534)
            .process_group(0)
            .spawn()
            .unwrap();
        return (child.id(), Some(child));
    }
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else { continue };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let uid = std::fs::read_to_string(e.path().join("status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|v| v.split_whitespace().next().map(str::to_owned))
            })
            .and_then(|v| v.parse::<u32>().ok());
        if f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pid) && f[0] != "Z" && uid.is_some_and(|u| u != me) {
            return (pid, None);
        }
    }
    panic!("no process group of another user to test with: run as root or on a machine with system daemons");
}

/// Issue 10, item 1: an orphaned attempt that cannot be stopped (another
/// user's process) makes `resume` and `retry` exit 2 without starting
/// anything, saying why.
#[test]
fn orphans_that_cannot_be_stopped_block_resume_and_retry_with_exit_2() {
    let (pid, mut foreign) = foreign_group();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start: u64 = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();

    let s = Sandbox::new();
    s.write("s.csv", &common::numbered_csv(2));
    let ok = s.run(&["batch", "run", "s.csv", "--exec", "true", "--quiet"]);
    assert_eq!(ok.status.code(), Some(0));
    let batch_id = s.wait_for_batch();
    let dir = batch_engine::batch_dir(&s.root(), &batch_id).unwrap();
    // What a run killed while job 1 ran in the foreign group leaves behind.
    std::fs::write(
        dir.join("journal.jsonl"),
        format!(
            "{{\"seq\":1000,\"job\":0,\"status\":\"running\",\"attempts\":2,\"process\":{{\"pgid\":{pid},\"start_ticks\":{start}}}}}\n"
        ),
    )
    .unwrap();
    for args in [
        vec![
            "batch",
            "resume",
            batch_id.as_str(),
            "--exec",
            "touch ran",
            "--kill-grace",
            "100ms",
        ],
        vec![
            "batch",
            "retry",
            batch_id.as_str(),
            "--job",
            "x",
            "--exec",
            "touch ran",
            "--kill-grace",
            "100ms",
        ],
    ] {
        let o = s.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(
            err.contains(&format!("process group {pid}")) && err.contains("nothing was started"),
            "{err}"
        );
        assert!(!s.path().join("ran").exists(), "{args:?} started a job");
    }
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the foreign process was left alone"
    );
    if let Some(child) = &mut foreign {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the foreign process was left alone"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// Issue 10, item 2: a torn journal tail is cut with a warning that names
/// the file and the bytes dropped.
#[test]
fn a_torn_journal_tail_is_cut_with_a_warning() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(2));
    let o = s.run(&["batch", "run", "in.csv", "--exec", "[ $BYKILT_ID = 1 ]", "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    let batch_id = s.wait_for_batch();
    let journal = batch_engine::batch_dir(&s.root(), &batch_id)
        .unwrap()
        .join("journal.jsonl");
    std::fs::write(&journal, b"{\"seq\":99,\"jo").unwrap();
    let r = s.run(&["batch", "retry", &batch_id, "--failed", "--exec", "true", "--quiet"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let err = text(&r.stderr);
    assert!(
        err.contains("warning") && err.contains(journal.to_str().unwrap()) && err.contains("13 bytes"),
        "{err}"
    );
}

/// Issue 10, item 3: resuming a finished batch changes nothing and says so.
#[test]
fn resuming_a_finished_batch_records_nothing_and_says_it_is_complete() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(2));
    assert_eq!(
        s.run(&["batch", "run", "in.csv", "--exec", "true", "--quiet"])
            .status
            .code(),
        Some(0)
    );
    let batch_id = s.wait_for_batch();
    let metrics_json = || -> serde_json::Value {
        serde_json::from_slice(&s.run(&["metrics", "export", "--format", "json"]).stdout).unwrap()
    };
    let before = metrics_json();
    let r = s.run(&["batch", "resume", &batch_id]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert!(text(&r.stdout).contains("is complete"), "{}", text(&r.stdout));
    let after = metrics_json();
    assert_eq!(after["batch_duration_seconds"]["values"].as_array().unwrap().len(), 1);
    assert_eq!(after, before, "nothing recorded");
}
