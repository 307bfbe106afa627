//! `bykilt metrics export` and `bykilt serve --run` read a run from the
//! metrics database: after the run's metrics.json is deleted, every format
//! gives what it gave from metrics.json.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{Sandbox, text};

fn run(s: &Sandbox, args: &[&str]) -> Output {
    s.cmd(args).env_remove("BYKILT_METRICS_DB").output().unwrap()
}

/// stdout and stderr of a command that must succeed.
fn ok(s: &Sandbox, args: &[&str]) -> (String, String) {
    let out = run(s, args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
    (text(&out.stdout), text(&out.stderr))
}

/// Every file under `dir` by name, with its content.
fn files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect()
}

/// An export with the series units and the exemplars left out: the store
/// records a unit from the name's suffix (`_seconds`), which the run's
/// metrics.json lacks; metrics.json carries the exemplars (job_id on
/// job_duration_seconds, which its import restores), the database keeps
/// none.
fn without_units(format: &str, export: &str) -> String {
    if format == "json" {
        let mut v: serde_json::Value = serde_json::from_str(export).unwrap();
        for series in v.as_object_mut().unwrap().values_mut() {
            let series = series.as_object_mut().unwrap();
            series.remove("unit");
            for agg in series
                .get_mut("aggregates")
                .and_then(|a| a.as_array_mut())
                .into_iter()
                .flatten()
            {
                agg.as_object_mut().unwrap().remove("exemplars");
            }
        }
        return serde_json::to_string_pretty(&v).unwrap();
    }
    export
        .lines()
        .filter(|l| !l.starts_with("# UNIT "))
        .map(|l| format!("{}\n", l.split_once(" # {").map_or(l, |(sample, _)| sample)))
        .collect()
}

const FORMATS: [&str; 3] = ["json", "prometheus", "openmetrics"];

/// A batch with a failing job (two tag sets of job_status), its run id and
/// its metrics.json.
fn batch(s: &Sandbox) -> (String, PathBuf) {
    s.write("in.csv", &common::numbered_csv(4));
    let args = [
        "batch",
        "run",
        "in.csv",
        "--exec",
        r#"test "$BYKILT_ID" -ne 2"#,
        "--quiet",
    ];
    let out = run(s, &args);
    // 1: the batch finished with a failed job.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let entry = std::fs::read_dir(s.root().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let run_id = entry.file_name().to_string_lossy().into_owned();
    (run_id, entry.path().join("metrics").join("metrics.json"))
}

#[test]
fn export_reads_the_database_and_matches_metrics_json_in_every_format() {
    let s = Sandbox::new();
    let (run_id, metrics_json) = batch(&s);
    let db = s.root().join("metrics.db");
    assert!(db.exists() && metrics_json.exists());

    // From metrics.json: the database moved away.
    let aside = s.path().join("aside.db");
    std::fs::rename(&db, &aside).unwrap();
    let mut from_json = BTreeMap::new();
    for f in FORMATS {
        let (stdout, stderr) = ok(&s, &["metrics", "export", "--format", f, "--run", &run_id]);
        assert!(stderr.contains("metrics.json"), "{f}: {stderr}");
        from_json.insert(f, stdout);
    }
    // The run's exemplars come back from metrics.json (job_id on job_duration_seconds).
    assert!(
        from_json["openmetrics"]
            .lines()
            .any(|l| l.starts_with("job_duration_seconds_bucket{") && l.contains(" # {job_id=\"")),
        "{}",
        from_json["openmetrics"]
    );
    let csv_json = s.path().join("csv-json");
    ok(
        &s,
        &[
            "metrics",
            "export",
            "--format",
            "csv",
            "--run",
            &run_id,
            "-o",
            csv_json.to_str().unwrap(),
        ],
    );

    // From the database, metrics.json deleted.
    std::fs::rename(&aside, &db).unwrap();
    std::fs::remove_file(&metrics_json).unwrap();
    let mut from_db = BTreeMap::new();
    for f in FORMATS {
        let (stdout, stderr) = ok(&s, &["metrics", "export", "--format", f, "--run", &run_id]);
        assert!(
            stderr.contains("metrics database") && stderr.contains("metrics.db"),
            "{f}: {stderr}"
        );
        assert_eq!(
            without_units(f, &stdout),
            without_units(f, &from_json[f]),
            "{f} differs between metrics.json and the database"
        );
        from_db.insert(f, stdout);
    }
    let csv_db = s.path().join("csv-db");
    ok(
        &s,
        &[
            "metrics",
            "export",
            "--format",
            "csv",
            "--run",
            &run_id,
            "-o",
            csv_db.to_str().unwrap(),
        ],
    );
    assert_eq!(files(&csv_db), files(&csv_json));

    // What the database gave: descriptions, units (which the run's
    // metrics.json does not have), both tag sets, every sample.
    let export: serde_json::Value = serde_json::from_str(&from_db["json"]).unwrap();
    let durations = &export["job_duration_seconds"];
    assert_eq!(durations["unit"], "seconds");
    assert!(durations["description"].is_string(), "{durations}");
    assert_eq!(durations["values"].as_array().unwrap().len(), 4);
    let statuses: std::collections::BTreeSet<String> = export["job_status"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["tags"]["status"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        statuses.contains("completed") && statuses.contains("failed"),
        "{statuses:?}"
    );
    assert!(from_db["prometheus"].contains("# HELP job_duration_seconds"));
    assert!(from_db["openmetrics"].contains("# UNIT job_duration_seconds seconds"));

    // --db names another database; a prefix of the run id is resolved.
    let moved = s.path().join("moved.db");
    std::fs::rename(&db, &moved).unwrap();
    let (stdout, stderr) = ok(
        &s,
        &[
            "metrics",
            "export",
            "--format",
            "json",
            "--run",
            &run_id[..15],
            "--db",
            moved.to_str().unwrap(),
        ],
    );
    assert!(stderr.contains("moved.db"), "{stderr}");
    assert_eq!(stdout, from_db["json"]);
    // A run in neither place is a clear error.
    let out = run(&s, &["metrics", "export", "--format", "json", "--run", &run_id]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("metrics.json"), "{}", text(&out.stderr));
    // An explicit --db that does not exist is an error naming it.
    let out = run(
        &s,
        &[
            "metrics",
            "export",
            "--format",
            "json",
            "--run",
            &run_id,
            "--db",
            "nowhere.db",
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("nowhere.db"), "{}", text(&out.stderr));
}

#[test]
fn a_run_not_in_the_database_is_read_from_its_metrics_json() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(2));
    ok(&s, &["batch", "run", "in.csv", "--exec", "true", "--quiet"]);
    ok(&s, &["batch", "run", "in.csv", "--exec", "true", "--quiet", "--no-db"]);
    let mut runs: Vec<String> = std::fs::read_dir(s.root().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    runs.sort();
    // The latest run (the default) is not in the database.
    let (stdout, stderr) = ok(&s, &["metrics", "export", "--format", "prometheus"]);
    assert!(stderr.contains(&runs[1]) && stderr.contains("metrics.json"), "{stderr}");
    assert!(stdout.contains("job_duration_seconds"));
    let (_, stderr) = ok(&s, &["metrics", "export", "--format", "prometheus", "--run", &runs[0]]);
    assert!(stderr.contains("metrics database"), "{stderr}");
}

#[test]
fn serve_run_reads_the_run_from_the_database() {
    let s = Sandbox::new();
    let (run_id, metrics_json) = batch(&s);
    std::fs::remove_file(&metrics_json).unwrap();
    let listen = format!("127.0.0.1:{}", test_support::free_port());
    let log = s.path().join("serve.log");
    let mut server = test_support::Killed(
        s.cmd(&["serve", "--listen", &listen, "--run", &run_id])
            .env_remove("BYKILT_METRICS_DB")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let metrics = test_support::poll(Duration::from_secs(30), || {
        test_support::http_get(&format!("http://{listen}/metrics"))
    })
    .expect("serve --run never answered /metrics");
    assert!(metrics.contains("job_duration_seconds_count"), "{metrics}");
    assert!(metrics.contains(r#"status="failed""#), "{metrics}");
    common::send_signal(&server.0, 15);
    let status = common::wait_exit(&mut server.0);
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("metrics database"), "{stderr}");
}
