//! The shell-command runner: row values travel only in environment
//! variables and stdin, output goes to capped logs, and a job's whole process
//! group dies on timeout, on kill, and when the job ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use batch_engine::{BatchEngine, BatchError, CommandRunner, ExecuteOptions, JobStatus, NoObserver, RunContext};
use metrics_core::MetricsCollector;

struct Setup {
    dir: tempfile::TempDir,
    engine: BatchEngine,
    batch_id: String,
    columns: Vec<String>,
}

fn setup(csv: &[u8]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.csv");
    std::fs::write(&path, csv).unwrap();
    let engine =
        BatchEngine::new(RunContext::new(dir.path().join("a"))).with_collector(Arc::new(MetricsCollector::default()));
    let m = engine.create_batch_jobs(&path).unwrap();
    Setup {
        dir,
        engine,
        batch_id: m.batch_id,
        columns: m.columns,
    }
}

impl Setup {
    fn work(&self) -> PathBuf {
        let w = self.dir.path().join("work");
        std::fs::create_dir_all(&w).unwrap();
        w
    }
    fn runner(&self, command: &str) -> CommandRunner {
        CommandRunner::new(command, &self.columns, self.dir.path().join("logs"))
            .unwrap()
            .with_working_dir(self.work())
    }
}

/// Whether process `pid` still exists (zombies count as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().and_then(|s| s.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

fn wait_gone(pid: u32) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn read_pid(path: &Path) -> u32 {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && let Ok(pid) = s.trim().parse()
        {
            return pid;
        }
        assert!(Instant::now() < until, "no pid in {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn hostile_values_arrive_byte_for_byte_and_run_nothing() {
    let hostile = [
        "$(touch pwned)",
        "`touch pwned2`",
        "\"; touch pwned3; echo \"",
        "it's a \"quote\"",
        "two\nlines\r\nand\ttab",
        "a;b|c&d>e<f",
        "${HOME}$PATH",
        "-n",
        "",
    ];
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["id", "payload value"]).unwrap();
    for (i, h) in hostile.iter().enumerate() {
        csv.write_record([i.to_string().as_str(), h]).unwrap();
    }
    let s = setup(&csv.into_inner().unwrap());
    let runner = s.runner(
        r#"printf '%s' "$BYKILT_PAYLOAD_VALUE" > "value_$BYKILT_ROW_INDEX"; cat > "stdin_$BYKILT_ROW_INDEX"; printf '%s|%s|%s' "$BYKILT_JOB_ID" "$BYKILT_BATCH_ID" "$BYKILT_ID" > "ids_$BYKILT_ROW_INDEX""#,
    );
    let r = s
        .engine
        .execute_batch(&s.batch_id, &runner, &ExecuteOptions::default())
        .unwrap();
    assert_eq!(
        r.summary.completed,
        hostile.len(),
        "{:?}",
        s.engine.get_batch(&s.batch_id).unwrap().jobs
    );
    let work = s.work();
    let run_id = s.engine.run_context().run_id().to_owned();
    for (i, h) in hostile.iter().enumerate() {
        assert_eq!(
            std::fs::read(work.join(format!("value_{i}"))).unwrap(),
            h.as_bytes(),
            "row {i}"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(work.join(format!("stdin_{i}"))).unwrap()).unwrap();
        assert_eq!(json, serde_json::json!({"id": i.to_string(), "payload value": h}));
        let ids = std::fs::read_to_string(work.join(format!("ids_{i}"))).unwrap();
        assert_eq!(ids, format!("{run_id}_{:04}|{}|{i}", i + 1, s.batch_id));
    }
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(!work.join(f).exists(), "{f} was created");
        assert!(!Path::new(f).exists(), "{f} was created");
    }
}

#[test]
fn exit_codes_and_spawn_failures_fail_jobs() {
    let s = setup(b"code\n0\n3\n");
    let runner = s.runner("echo out; echo err >&2; exit \"$BYKILT_CODE\"");
    let r = s
        .engine
        .execute_batch(&s.batch_id, &runner, &ExecuteOptions::default())
        .unwrap();
    assert_eq!((r.summary.completed, r.summary.failed), (1, 1));
    let m = s.engine.get_batch(&s.batch_id).unwrap();
    assert_eq!(m.jobs[1].error_message.as_deref(), Some("exited with code 3"));
    let log = std::fs::read_to_string(runner.log_path(&m.jobs[1].job_id)).unwrap();
    assert!(log.contains("out\n") && log.contains("err\n"), "{log:?}");

    let s = setup(b"x\n1\n");
    let runner = s.runner("true").with_shell("/nonexistent/shell");
    let r = s
        .engine
        .execute_batch(&s.batch_id, &runner, &ExecuteOptions::default())
        .unwrap();
    let m = s.engine.get_batch(&s.batch_id).unwrap();
    assert_eq!(r.summary.failed, 1);
    assert!(
        m.jobs[0]
            .error_message
            .as_deref()
            .unwrap()
            .starts_with("could not start"),
        "{:?}",
        m.jobs[0]
    );
}

#[test]
fn timeout_kills_the_child_and_its_children() {
    let s = setup(b"x\n1\n");
    let runner = s.runner("sleep 60 & echo $! > bg.pid; echo $$ > sh.pid; sleep 60");
    let options = ExecuteOptions {
        job_timeout: Some(Duration::from_millis(1500)),
        ..ExecuteOptions::default()
    };
    let r = s.engine.execute_batch(&s.batch_id, &runner, &options).unwrap();
    assert_eq!(r.summary.failed, 1);
    let m = s.engine.get_batch(&s.batch_id).unwrap();
    assert!(
        m.jobs[0]
            .error_message
            .as_deref()
            .unwrap()
            .starts_with("timed out after 1.500s")
    );
    let work = s.work();
    for f in ["bg.pid", "sh.pid"] {
        let pid = read_pid(&work.join(f));
        assert!(wait_gone(pid), "{f}: process {pid} survived the timeout");
    }
}

#[test]
fn kill_request_kills_running_commands() {
    let s = setup(b"x\n1\n2\n");
    let runner = s.runner("echo $$ > \"sh$BYKILT_X.pid\"; sleep 60");
    let stop = s.engine.stop_token(&s.batch_id).unwrap();
    let work = s.work();
    let killer = std::thread::spawn(move || {
        let a = read_pid(&work.join("sh1.pid"));
        let b = read_pid(&work.join("sh2.pid"));
        stop.request_stop();
        stop.request_kill();
        (a, b)
    });
    let options = ExecuteOptions {
        concurrency: 2,
        ..ExecuteOptions::default()
    };
    let r = s.engine.resume_batch(&s.batch_id, &runner, &options, &NoObserver);
    let (a, b) = killer.join().unwrap();
    let r = r.unwrap();
    assert_eq!((r.summary.stopped, r.summary.failed), (2, 0));
    assert!(wait_gone(a) && wait_gone(b));
    let m = s.engine.get_batch(&s.batch_id).unwrap();
    assert!(m.jobs.iter().all(|j| j.status == JobStatus::Stopped));
}

#[test]
fn background_processes_die_with_their_job() {
    let s = setup(b"x\n1\n");
    let runner = s.runner("sleep 60 > /dev/null 2>&1 & echo $! > bg.pid");
    let r = s
        .engine
        .execute_batch(&s.batch_id, &runner, &ExecuteOptions::default())
        .unwrap();
    assert_eq!(r.summary.completed, 1);
    let pid = read_pid(&s.work().join("bg.pid"));
    assert!(wait_gone(pid), "background process {pid} outlived its job");
}

#[test]
fn logs_are_capped() {
    let s = setup(b"x\n1\n");
    let runner = s
        .runner("i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done")
        .with_log_limit(1000);
    let r = s
        .engine
        .execute_batch(&s.batch_id, &runner, &ExecuteOptions::default())
        .unwrap();
    assert_eq!(r.summary.completed, 1);
    let m = s.engine.get_batch(&s.batch_id).unwrap();
    let log = std::fs::read_to_string(runner.log_path(&m.jobs[0].job_id)).unwrap();
    let (header, log) = log.split_once('\n').unwrap();
    assert!(header.starts_with("--- bykilt: attempt 1 started "), "{header}");
    assert!(log.starts_with("0123456789\n"));
    assert!(
        log.ends_with("--- bykilt: log cut at 1000 bytes ---\n"),
        "{:?}",
        &log[log.len() - 60..]
    );
    assert!(log.len() < 1100, "{} bytes", log.len());
}

#[test]
fn colliding_column_names_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cols = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let e = CommandRunner::new("true", &cols(&["a b", "A-B"]), dir.path()).unwrap_err();
    assert!(
        matches!(&e, BatchError::EnvNameCollision { first, second, var } if first == "a b" && second == "A-B" && var == "BYKILT_A_B"),
        "{e}"
    );
    let e = CommandRunner::new("true", &cols(&["job id"]), dir.path()).unwrap_err();
    assert!(e.to_string().contains("BYKILT_JOB_ID"), "{e}");
}

/// Issue 10, item 6: stdout and stderr lines reach the log in the order
/// the command wrote them.
#[test]
fn stdout_and_stderr_lines_keep_their_order() {
    let s = setup(b"x\n1\n");
    let runner = s.runner("i=0; while [ $i -lt 200 ]; do echo \"out $i\"; echo \"err $i\" >&2; i=$((i+1)); done");
    let r = s
        .engine
        .execute_batch(&s.batch_id, &runner, &ExecuteOptions::default())
        .unwrap();
    assert_eq!(r.summary.completed, 1);
    let m = s.engine.get_batch(&s.batch_id).unwrap();
    let log = std::fs::read_to_string(runner.log_path(&m.jobs[0].job_id)).unwrap();
    let lines: Vec<&str> = log.lines().skip(1).collect();
    let expected: Vec<String> = (0..200)
        .flat_map(|i| [format!("out {i}"), format!("err {i}")])
        .collect();
    assert_eq!(lines, expected);
}

/// Issue 10, item 4: a retry appends to the job's log after a header of its
/// own; the earlier attempts' output stays.
#[test]
fn every_attempt_keeps_its_output_in_the_log() {
    let s = setup(b"x\n1\n");
    let runner = s.runner("echo \"output of attempt $BYKILT_ATTEMPT\"; exit 1");
    let options = ExecuteOptions {
        max_retries: 1,
        retry_delay: Duration::ZERO,
        ..Default::default()
    };
    let r = s.engine.execute_batch(&s.batch_id, &runner, &options).unwrap();
    assert_eq!(r.summary.failed, 1);
    s.engine
        .retry_batch_jobs(&s.batch_id, &batch_engine::RetrySelection::Failed)
        .unwrap();
    let r = s
        .engine
        .resume_batch(&s.batch_id, &runner, &options, &NoObserver)
        .unwrap();
    assert_eq!(r.summary.failed, 1);
    let m = s.engine.get_batch(&s.batch_id).unwrap();
    let log = std::fs::read_to_string(runner.log_path(&m.jobs[0].job_id)).unwrap();
    for n in 1..=4 {
        assert!(log.contains(&format!("--- bykilt: attempt {n} started ")), "{log}");
        assert!(log.contains(&format!("output of attempt {n}\n")), "{log}");
    }
    assert_eq!(m.jobs[0].attempts, 4);
}
