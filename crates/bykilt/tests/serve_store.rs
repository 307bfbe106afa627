//! Plain `bykilt serve` over the metrics database the batches wrote: every
//! stored run through the JSON API, the latest aggregates (with help text)
//! at /metrics, and one run's view with `--run` or without a database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Sandbox, text};
use test_support::{Killed, free_port, http_get, poll};

/// Runs a batch of `n` jobs (`extra` flags) and returns its run id.
fn batch(s: &Sandbox, n: usize, extra: &[&str]) -> String {
    s.write("in.csv", &common::numbered_csv(n));
    let mut args = vec!["batch", "run", "in.csv", "--exec", "true", "--quiet", "--json"];
    args.extend_from_slice(extra);
    let out = s.cmd(&args).env_remove("BYKILT_METRICS_DB").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    v["run_id"].as_str().unwrap().to_owned()
}

/// Starts `bykilt serve ARGS` on a free port and waits for /healthz.
fn serve(s: &Sandbox, args: &[&str]) -> (Killed, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut all = vec!["serve", "--listen", &listen];
    all.extend_from_slice(args);
    let child = s
        .cmd(&all)
        .env_remove("BYKILT_METRICS_DB")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = Killed(child);
    let base = format!("http://{listen}");
    poll(Duration::from_secs(30), || http_get(&format!("{base}/healthz"))).expect("serve is up");
    (server, base)
}

fn get_json(url: &str) -> serde_json::Value {
    let body = http_get(url).unwrap_or_else(|| panic!("GET {url} failed"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

#[test]
fn plain_serve_answers_from_the_database_across_runs() {
    let s = Sandbox::new();
    let first = batch(&s, 2, &[]);
    let second = batch(&s, 3, &[]);
    let (_server, base) = serve(&s, &[]);

    let runs = get_json(&format!("{base}/api/runs"));
    let names: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{runs}");
    for id in [&first, &second] {
        assert!(names.iter().any(|n| n.contains(id.as_str())), "{id} not in {names:?}");
    }
    // Without run=, every run's samples: 2 + 3 job durations.
    let all = get_json(&format!("{base}/api/metrics/series/job_duration_seconds?limit=100"));
    assert_eq!(all["returned"], 5, "{all}");
    let one = get_json(&format!(
        "{base}/api/metrics/series/job_duration_seconds?run={first}&limit=100"
    ));
    assert_eq!(one["returned"], 2, "{one}");
    let tagged = get_json(&format!(
        "{base}/api/metrics/series/job_duration_seconds?tag=run_id={second}&since_seconds=3600"
    ));
    assert_eq!(tagged["returned"], 3, "{tagged}");

    // The series list, over the database.
    let list = get_json(&format!("{base}/api/metrics/series"));
    let durations = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "job_duration_seconds")
        .unwrap_or_else(|| panic!("no job_duration_seconds in {list}"));
    assert_eq!(durations["samples"], 5, "{durations}");
    assert_eq!(durations["type"], "histogram", "{durations}");
    let only_first = get_json(&format!("{base}/api/metrics/series?run={first}"));
    let first_durations = only_first
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "job_duration_seconds")
        .unwrap();
    assert_eq!(first_durations["samples"], 2, "{first_durations}");

    // /metrics: the latest run's aggregates, with the series' help text.
    let text = http_get(&format!("{base}/metrics")).unwrap();
    assert!(text.contains("# HELP job_duration_seconds "), "{text}");
    assert!(
        text.contains(&format!("run_id=\"{second}\"")),
        "the latest run's aggregates: {text}"
    );
    assert!(
        !text.contains(&format!("run_id=\"{first}\"")),
        "an older run's aggregates: {text}"
    );
}

#[test]
fn plain_serve_with_run_or_without_a_database_serves_one_run() {
    let s = Sandbox::new();
    let first = batch(&s, 2, &[]);
    batch(&s, 3, &[]);
    let (_one, base) = serve(&s, &["--run", &first]);
    let v = get_json(&format!("{base}/api/metrics/series/job_duration_seconds?limit=100"));
    assert_eq!(v["values"].as_array().unwrap().len(), 2, "only the run asked for: {v}");

    // Runs recorded with --no-db: no database, the latest run's metrics.json.
    let bare = Sandbox::new();
    batch(&bare, 2, &["--no-db"]);
    batch(&bare, 4, &["--no-db"]);
    assert!(!bare.root().join("metrics.db").exists());
    let (_latest, base) = serve(&bare, &[]);
    let v = get_json(&format!("{base}/api/metrics/series/job_duration_seconds?limit=100"));
    assert_eq!(v["values"].as_array().unwrap().len(), 4, "the latest run: {v}");
}

#[test]
fn plain_serve_names_a_missing_database_given_by_the_environment() {
    let s = Sandbox::new();
    let missing = s.path().join("nowhere.db");
    let out = s
        .cmd(&["serve", "--listen", "127.0.0.1:0"])
        .env("BYKILT_METRICS_DB", &missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nowhere.db"), "{}", text(&out.stderr));
}

/// The run `serve` lists with run id `run_id` once `ready` holds for it.
fn run_when(base: &str, run_id: &str, what: &str, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    poll(Duration::from_secs(60), || {
        let runs = get_json(&format!("{base}/api/runs"));
        runs.as_array()?
            .iter()
            .find(|r| r["run_id"] == run_id && ready(r))
            .cloned()
    })
    .unwrap_or_else(|| panic!("{run_id} never {what}: {}", get_json(&format!("{base}/api/runs"))))
}

/// `kill -9` leaves a run without an end in the database; once its batch's
/// lock is free the dashboard calls it what `batch status` does: not live,
/// its running jobs interrupted, no ETA.
#[test]
fn a_run_killed_with_sigkill_stops_being_live_and_its_running_jobs_are_interrupted() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(4));
    // Killed on drop too, should an assertion fail before the kill.
    let mut batch = Killed(
        s.cmd(&[
            "batch",
            "run",
            "in.csv",
            "--concurrency",
            "2",
            "--exec",
            // Until the sandbox goes: the jobs outlive the killed batch.
            "while [ -e in.csv ]; do sleep 0.05; done",
        ])
        .env_remove("BYKILT_METRICS_DB")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap(),
    );
    let batch_id = s.wait_for_batch();
    let run_id = batch_id.trim_start_matches("batch-").to_owned();
    common::wait_until("the database", || s.root().join("metrics.db").exists().then_some(()));
    let (_server, base) = serve(&s, &[]);

    // Recorded by a live process: live, its two jobs running.
    let live = run_when(&base, &run_id, "ran two jobs", |r| {
        r["live"] == true && r["running"] == 2
    });
    assert_eq!(live["interrupted"], 0, "{live}");

    batch.0.kill().unwrap();
    common::wait_exit(&mut batch.0);
    let dead = run_when(&base, &run_id, "stopped being live", |r| r["live"] == false);
    assert_eq!(
        dead["ended_at"],
        serde_json::Value::Null,
        "a killed run has no end: {dead}"
    );
    assert_eq!(dead["running"], 0, "{dead}");
    assert_eq!(dead["interrupted"], 2, "{dead}");
    assert_eq!(dead["pending"], 2, "{dead}");
    assert_eq!(dead["eta_seconds"], serde_json::Value::Null, "{dead}");
    let status = s.run(&["batch", "status", &batch_id, "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        status["summary"]["interrupted"], dead["interrupted"],
        "as batch status: {status}"
    );
}

/// An imported run has no batch manifest: no job counts, not zeros.
#[test]
fn an_imported_run_without_a_manifest_has_no_job_counts() {
    let s = Sandbox::new();
    let run_id = batch(&s, 2, &["--no-db"]);
    let old = s.path().join("old.json");
    std::fs::copy(
        s.root().join("runs").join(&run_id).join("metrics").join("metrics.json"),
        &old,
    )
    .unwrap();
    let out = s.run(&["metrics", "import", old.to_str().unwrap(), "--run", "imported"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (_server, base) = serve(&s, &[]);
    let imported = run_when(&base, "imported", "listed", |_| true);
    for field in [
        "total",
        "completed",
        "failed",
        "running",
        "pending",
        "interrupted",
        "finished",
    ] {
        assert_eq!(imported[field], serde_json::Value::Null, "{field}: {imported}");
    }
    assert!(imported["samples"].as_u64().unwrap() >= 2, "{imported}");
}

/// The value of the sample line of `exposition` that starts with `series`
/// and carries `labels`.
fn sample(exposition: &str, series: &str, labels: &str) -> Option<f64> {
    exposition
        .lines()
        .find(|l| l.starts_with(series) && l.contains(labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A batch killed with SIGKILL never writes its final aggregate snapshot:
/// /metrics of plain `serve` rebuilds the run from its stored samples, as
/// `metrics export --format prometheus --run` does, and the two agree to
/// the byte, with every job that completed before the kill counted.
#[test]
fn metrics_of_a_killed_run_agrees_with_its_prometheus_export() {
    const ROWS: usize = 40;
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(ROWS));
    let done = s.path().join("done.txt");
    let pause = s.path().join("pause");
    let mut batch = Killed(
        s.cmd(&[
            "batch",
            "run",
            "in.csv",
            "--concurrency",
            "2",
            "--exec",
            "while [ -e pause ]; do sleep 0.05; done; echo \"$BYKILT_ID\" >> done.txt",
        ])
        .env_remove("BYKILT_METRICS_DB")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap(),
    );
    common::wait_until("some jobs done", || (common::lines(&done).len() >= 5).then_some(()));
    // Jobs stall while `pause` exists: nothing completes in the last flush
    // interval before the kill.
    std::fs::write(&pause, b"").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    batch.0.kill().unwrap();
    common::wait_exit(&mut batch.0);
    let completed = common::lines(&done).len();
    assert!(completed < ROWS, "the kill came before the end");
    let run = s.wait_for_batch().trim_start_matches("batch-").to_owned();
    assert!(
        !s.root()
            .join("runs")
            .join(&run)
            .join("metrics")
            .join("metrics.json")
            .exists(),
        "a killed run writes no metrics.json"
    );

    let out = s
        .cmd(&["metrics", "export", "--format", "prometheus", "--run", &run])
        .env_remove("BYKILT_METRICS_DB")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let exported = text(&out.stdout);
    let (_server, base) = serve(&s, &[]);
    let served = http_get(&format!("{base}/metrics")).unwrap();
    assert_eq!(served, exported, "/metrics and the run's Prometheus export");
    assert_eq!(
        sample(&served, "job_status_total{", "status=\"completed\""),
        Some(completed as f64),
        "{served}"
    );
    assert_eq!(
        sample(&served, "job_duration_seconds_count", ""),
        Some(completed as f64),
        "{served}"
    );
}
