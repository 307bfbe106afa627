//! The metrics database through the CLI: batches write it by default,
//! `metrics query|runs|summary|import` read it, a bad `--db` is refused,
//! and `kill -9` then `batch resume` leaves every attempt stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Output;

use batch_engine::{BatchEngine, JobStatus, RunContext};
use common::{Sandbox, lines, text, wait_exit, wait_until};

fn run(s: &Sandbox, args: &[&str]) -> Output {
    s.cmd(args).env_remove("BYKILT_METRICS_DB").output().unwrap()
}

fn ok(s: &Sandbox, args: &[&str]) -> String {
    let out = run(s, args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

fn json(s: &Sandbox, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(s, &all)).unwrap()
}

#[test]
fn batches_write_the_database_and_the_metrics_commands_read_it_across_runs() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(5));
    ok(&s, &["batch", "run", "in.csv", "--exec", "true", "--quiet"]);
    ok(&s, &["batch", "run", "in.csv", "--exec", "true", "--quiet"]);
    assert!(s.root().join("metrics.db").exists());

    let runs = json(&s, &["metrics", "runs"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let first = runs[0]["name"].as_str().unwrap().to_owned();
    let durations = |r: &serde_json::Value| {
        r["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "job_duration_seconds")
            .map(|x| x["samples"].as_u64().unwrap())
    };
    assert_eq!(durations(&runs[0]), Some(5));
    let table = ok(&s, &["metrics", "runs"]);
    assert!(
        table.contains(&first) && table.contains("job_duration_seconds (5)"),
        "{table}"
    );

    let latest = json(&s, &["metrics", "query", "job_duration_seconds", "--limit", "3"]);
    let latest = latest.as_array().unwrap();
    assert_eq!(latest.len(), 3);
    assert_ne!(
        latest[0]["run"].as_str(),
        Some(first.as_str()),
        "the latest run by default"
    );
    assert!(latest[0]["tags"]["batch_id"].is_string() && latest[0]["timestamp"].is_string());
    let of_first = json(&s, &["metrics", "query", "job_duration_seconds", "--run", &first]);
    assert_eq!(of_first.as_array().unwrap().len(), 5);
    let completed = json(
        &s,
        &[
            "metrics",
            "query",
            "job_status",
            "--all-runs",
            "--tag",
            "status=completed",
            "--since",
            "1h",
        ],
    );
    assert_eq!(completed.as_array().unwrap().len(), 10);
    let until_past = json(
        &s,
        &[
            "metrics",
            "query",
            "job_status",
            "--all-runs",
            "--until",
            "2000-01-01T00:00:00Z",
        ],
    );
    assert_eq!(until_past.as_array().unwrap().len(), 0);
    let lines_text = ok(&s, &["metrics", "query", "job_duration_seconds", "--all-runs"]);
    assert_eq!(lines_text.lines().count(), 10, "{lines_text}");

    let summary = json(
        &s,
        &[
            "metrics",
            "summary",
            "job_duration_seconds",
            "--all-runs",
            "--since",
            "7d",
        ],
    );
    assert_eq!(summary["summary"]["count"], 10);
    let one = json(&s, &["metrics", "summary", "job_duration_seconds", "--run", &first]);
    assert_eq!(one["summary"]["count"], 5);

    let bad = run(&s, &["metrics", "query", "job_duration_seconds", "--until", "tomorrow"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("\"tomorrow\""), "{}", text(&bad.stderr));
    let missing = run(&s, &["metrics", "query", "no_such_metric"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("no_such_metric"));
}

#[test]
fn no_db_keeps_memory_only_and_the_environment_or_flag_moves_the_database() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(2));
    ok(&s, &["batch", "run", "in.csv", "--exec", "true", "--quiet", "--no-db"]);
    assert!(!s.root().join("metrics.db").exists());
    let elsewhere = s.path().join("kept").join("history.db");
    let out = s
        .cmd(&["batch", "run", "in.csv", "--exec", "true", "--quiet"])
        .env("BYKILT_METRICS_DB", &elsewhere)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(elsewhere.exists() && !s.root().join("metrics.db").exists());
    let db = elsewhere.to_str().unwrap();
    let runs = json(&s, &["metrics", "runs", "--db", db]);
    assert_eq!(runs.as_array().unwrap().len(), 1);
}

#[test]
fn a_foreign_or_corrupt_db_is_refused_by_name_before_the_batch_runs() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(2));
    let junk = s.write("junk.db", &b"not a database at all\n".repeat(100));
    let ran = s.path().join("ran.txt");
    let out = run(
        &s,
        &[
            "batch",
            "run",
            "in.csv",
            "--exec",
            "echo x >> ran.txt",
            "--db",
            junk.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("junk.db") && err.contains("not a metrics database"),
        "{err}"
    );
    assert_eq!(std::fs::read(&junk).unwrap(), b"not a database at all\n".repeat(100));
    assert!(lines(&ran).is_empty(), "no job ran");

    let foreign = s.path().join("foreign.db");
    let made = std::process::Command::new("sqlite3")
        .arg(&foreign)
        .arg("CREATE TABLE orders (id INTEGER);")
        .status();
    if test_support::require("sqlite3", made.is_ok()) {
        let before = std::fs::read(&foreign).unwrap();
        let out = run(&s, &["metrics", "runs", "--db", foreign.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains("foreign.db") && text(&out.stderr).contains("orders"));
        let out = run(
            &s,
            &[
                "batch",
                "run",
                "in.csv",
                "--exec",
                "true",
                "--db",
                foreign.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(std::fs::read(&foreign).unwrap(), before);
    }
}

#[test]
fn an_old_metrics_json_imports_as_a_run() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(3));
    ok(&s, &["batch", "run", "in.csv", "--exec", "true", "--quiet", "--no-db"]);
    let runs = std::fs::read_dir(s.root().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let run_id = runs.file_name().to_string_lossy().into_owned();
    let file = runs.path().join("metrics").join("metrics.json");
    let imported = json(&s, &["metrics", "import", file.to_str().unwrap()]);
    assert_eq!(imported["run"], run_id.as_str());
    assert!(imported["samples"].as_u64().unwrap() >= 3);
    let summary = json(&s, &["metrics", "summary", "job_duration_seconds", "--run", &run_id]);
    assert_eq!(summary["summary"]["count"], 3);
    let broken = s.write("broken.json", b"{\"m\": ");
    let out = run(&s, &["metrics", "import", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("broken.json"));
}

#[test]
fn sigkill_mid_batch_then_resume_stores_every_completed_job_and_attempt() {
    const ROWS: usize = 120;
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(ROWS));
    let done = s.path().join("done.txt");
    let pause = s.path().join("pause");
    // Jobs stall while `pause` exists, so nothing completes in the last
    // flush interval before the kill.
    let mut child = s
        .cmd(&[
            "batch",
            "run",
            "in.csv",
            "--concurrency",
            "3",
            "--exec",
            "while [ -e pause ]; do sleep 0.05; done; echo \"$BYKILT_ID\" >> done.txt",
        ])
        .env_remove("BYKILT_METRICS_DB")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = scopeguard_kill(child.id());
    wait_until("a third of the jobs", || (lines(&done).len() >= ROWS / 3).then_some(()));
    std::fs::write(&pause, b"").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child.kill().unwrap();
    wait_exit(&mut child);
    std::fs::remove_file(&pause).unwrap();
    let batch_id = s.wait_for_batch();
    let engine = BatchEngine::new(RunContext::new(s.root()));
    let at_kill = engine.get_batch(&batch_id).unwrap();
    let completed_before = at_kill.jobs.iter().filter(|j| j.status == JobStatus::Completed).count();
    let in_flight = at_kill.jobs.iter().filter(|j| j.status == JobStatus::Running).count();
    assert!((ROWS / 3..ROWS).contains(&completed_before));

    ok(&s, &["batch", "resume", &batch_id, "--quiet"]);
    let after = engine.get_batch(&batch_id).unwrap();
    assert_eq!(after.completed_jobs, ROWS);
    let run_id = batch_id.trim_start_matches("batch-").to_owned();
    let count = |name: &str, tag: Option<&str>| {
        let mut args = vec!["metrics", "summary", name, "--run", run_id.as_str()];
        if let Some(t) = tag {
            args.extend(["--tag", t]);
        }
        json(&s, &args)["summary"]["count"].as_u64().unwrap() as usize
    };
    // Every completed job has its duration, from either process.
    assert_eq!(count("job_duration_seconds", None), ROWS);
    assert_eq!(count("job_status", Some("status=completed")), ROWS);
    // Every attempt started: the ones killed in flight and their reruns.
    let attempts: usize = after.jobs.iter().map(|j| j.attempts as usize).sum();
    assert_eq!(count("job_status", Some("status=running")), attempts);
    assert_eq!(attempts, ROWS + in_flight, "each job killed in flight ran once more");
    // The jobs the kill left running were recorded interrupted when the
    // resume opened the batch, before any job ran: stored too.
    assert!(in_flight > 0, "no job was in flight at the kill");
    assert_eq!(count("job_status", Some("status=stopped")), in_flight);
    let runs = json(&s, &["metrics", "runs"]);
    assert_eq!(runs.as_array().unwrap().len(), 1, "the resume continued the same run");

    // The run's metrics.json, written at the end of the resume from the
    // database, holds both processes' samples.
    let exported: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.root().join("runs").join(&run_id).join("metrics").join("metrics.json")).unwrap(),
    )
    .unwrap();
    let values = |name: &str, status: Option<&str>| {
        exported[name]["values"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| status.is_none_or(|st| v["tags"]["status"] == st))
            .count()
    };
    assert_eq!(
        values("job_duration_seconds", None),
        ROWS,
        "one duration per completed attempt"
    );
    assert_eq!(values("job_status", Some("completed")), ROWS);
    assert_eq!(values("job_status", Some("running")), attempts);
    assert_eq!(values("job_status", Some("stopped")), in_flight);
    // And the CSV export, from the same source.
    let csv = std::fs::read_to_string(
        s.root()
            .join("runs")
            .join(&run_id)
            .join("metrics")
            .join("csv")
            .join("job_duration_seconds.csv"),
    )
    .unwrap();
    assert_eq!(csv.lines().count(), ROWS + 1, "a header and one row per attempt: {csv}");
}

/// Kills `pid` with SIGKILL when dropped (a failed test leaves no batch running).
fn scopeguard_kill(pid: u32) -> impl Drop {
    struct Guard(u32);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .args(["-9", &self.0.to_string()])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
    Guard(pid)
}

#[test]
fn a_read_only_database_is_reported_once_and_the_run_completes() {
    use std::os::unix::fs::PermissionsExt;
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(3));
    // Root writes through file permissions: run the CLI as nobody then.
    let root = std::process::Command::new("id").arg("-u").output().unwrap();
    let as_root = text(&root.stdout).trim() == "0";
    if as_root {
        std::fs::set_permissions(s.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::set_permissions(s.path().join("in.csv"), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    // A copy of the binary nobody can reach (the build directory may be
    // under a private home).
    let bin = s.path().join("bykilt-copy");
    std::fs::copy(common::BIN, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cli = |args: &[&str]| {
        let mut c = if as_root {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(&bin);
            c
        } else {
            std::process::Command::new(common::BIN)
        };
        c.args(args)
            .arg("--artifacts-dir")
            .arg(s.root())
            .current_dir(s.path())
            .env_remove("BYKILT_ARTIFACTS_DIR")
            .env_remove("BYKILT_METRICS_DB")
            .output()
            .unwrap()
    };
    let first = cli(&["batch", "run", "in.csv", "--exec", "true", "--quiet"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let db = s.root().join("metrics.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let second = cli(&["batch", "run", "in.csv", "--exec", "true"]);
    let err = text(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("read-only")).count(),
        1,
        "reported once: {err}"
    );
    assert!(err.contains("metrics.db"), "{err}");
    // The in-memory exports were written for both runs.
    let exports = std::fs::read_dir(s.root().join("runs"))
        .unwrap()
        .filter(|r| r.as_ref().unwrap().path().join("metrics").join("metrics.json").exists())
        .count();
    assert_eq!(exports, 2);
    let runs = json(&s, &["metrics", "runs"]);
    assert_eq!(
        runs.as_array().unwrap().len(),
        1,
        "the read-only database was not written"
    );
}

#[test]
fn serve_with_db_answers_from_the_database_across_runs() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(2));
    ok(&s, &["batch", "run", "in.csv", "--exec", "true", "--quiet"]);
    ok(&s, &["batch", "run", "in.csv", "--exec", "true", "--quiet"]);
    let db = s.root().join("metrics.db");
    let port = test_support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let _server = test_support::Killed(
        s.cmd(&["serve", "--db", db.to_str().unwrap(), "--listen", &listen])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let body = test_support::poll(std::time::Duration::from_secs(30), || {
        test_support::http_get(&format!("http://{listen}/api/runs"))
    })
    .expect("serve --db never answered /api/runs");
    let runs: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    let all = test_support::http_get(&format!(
        "http://{listen}/api/metrics/series/job_duration_seconds?run=all&limit=10"
    ))
    .unwrap();
    let all: serde_json::Value = serde_json::from_str(&all).unwrap();
    assert_eq!(all["returned"], 4);
    let text = test_support::http_get(&format!("http://{listen}/metrics")).unwrap();
    assert!(text.contains("job_duration_seconds"), "{text}");
    let bad = run(
        &s,
        &[
            "serve",
            "--db",
            s.path().join("none.db").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text_of(&bad).contains("none.db"));
}

fn text_of(o: &Output) -> String {
    text(&o.stderr)
}
