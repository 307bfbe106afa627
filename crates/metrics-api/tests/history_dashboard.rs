//! The dashboard over a metrics database (`bykilt serve --db`): the page
//! and its assets without the token, the stored runs with job counts from a
//! catalog, the overview, summaries, and a run that is still being recorded
//! showing up as its writer commits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_api::ServerConfig;
use metrics_api::dashboard::{RunCatalog, RunProgress};
use metrics_api::history::spawn_history_server_with_runs;
use metrics_core::{MetricType, MetricsCollector};
use metrics_store::{MetricsStore, RunInfo, StoreOptions};
use serde_json::Value;

#[derive(Debug, Default)]
struct Manifests(Mutex<Vec<RunProgress>>);

impl RunCatalog for Manifests {
    fn runs(&self) -> Result<Vec<RunProgress>, String> {
        Ok(self.0.lock().unwrap().clone())
    }
}

fn progress(id: &str, completed: usize, failed: usize, pending: usize) -> RunProgress {
    RunProgress {
        run_id: id.into(),
        batch_id: format!("batch-{id}"),
        created_at: 1.0,
        total: completed + failed + pending,
        pending,
        running: 0,
        interrupted: 0,
        completed,
        failed,
        stopped: 0,
        started_at: Some(10.0),
        last_completed_at: Some(20.0),
        duration_seconds: Some(10.0),
        run_seconds: Some(10.0),
        throughput_per_second: Some((completed + failed) as f64 / 10.0),
        live: false,
        // A process holds the batch: the newest run, not ended, is live.
        open: true,
        served: false,
    }
}

fn record_finished(path: &std::path::Path) {
    let c = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(path, StoreOptions::default()).unwrap();
    let id = store.begin_run(&RunInfo::current("first")).unwrap();
    let rec = store.record(Arc::clone(&c), id).unwrap();
    for (v, status) in [(1.0, "completed"), (2.0, "failed"), (3.0, "completed")] {
        c.record_metric("job_duration_seconds", v, &[("status", status)], MetricType::Timer)
            .unwrap();
    }
    rec.finish().unwrap();
}

fn get(addr: std::net::SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut req = agent.get(&format!("http://{addr}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.call().unwrap();
    (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap())
}

fn json(addr: std::net::SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path, Some("t0k"));
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn the_dashboard_reads_the_database_and_follows_a_run_being_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("metrics.db");
    record_finished(&db);
    // A second run, still recording (its writer holds the database).
    let live = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(&db, StoreOptions::default()).unwrap();
    let run = store.begin_run(&RunInfo::current("second")).unwrap();
    let recording = store.record(Arc::clone(&live), run).unwrap();
    live.record_metric(
        "job_duration_seconds",
        5.0,
        &[("status", "completed")],
        MetricType::Timer,
    )
    .unwrap();
    recording.flush().unwrap();

    let manifests = Arc::new(Manifests::default());
    *manifests.0.lock().unwrap() = vec![progress("first", 2, 1, 0), progress("second", 1, 0, 9)];
    let server = spawn_history_server_with_runs(
        "127.0.0.1:0".parse().unwrap(),
        db.clone(),
        Some("t0k".into()),
        Some(Arc::clone(&manifests) as Arc<dyn RunCatalog>),
        ServerConfig::default(),
    )
    .unwrap();
    let addr = server.local_addr();

    // The page and its scripts load without the token; the data does not.
    let (status, page) = get(addr, "/", None);
    assert_eq!(status, 200);
    assert!(page.contains("/dashboard/app.js"), "{page}");
    assert_eq!(get(addr, "/dashboard/chart.js", None).0, 200);
    for path in [
        "/api/runs",
        "/api/metrics/overview",
        "/api/alerts",
        "/api/metrics/series/job_duration_seconds/chart",
    ] {
        assert_eq!(get(addr, path, None).0, 401, "{path}");
    }

    // Both runs, the stored fields kept, the dashboard's beside them.
    let runs = json(addr, "/api/runs");
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["name"], "first");
    assert_eq!(runs[0]["run_id"], "first");
    assert_eq!(runs[0]["completed"], 2);
    assert_eq!(runs[0]["failed"], 1);
    assert_eq!(runs[0]["finished"], 3);
    assert_eq!(runs[0]["batch_id"], "batch-first");
    assert_eq!(runs[0]["live"], false);
    assert_eq!(runs[0]["served"], false);
    assert!(
        runs[0]["ended_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "RFC 3339: {}",
        runs[0]["ended_at"]
    );
    assert_eq!(runs[1]["run_id"], "second");
    assert_eq!(runs[1]["live"], true, "the newest run has not ended");
    assert_eq!(runs[1]["served"], true);
    assert_eq!(runs[1]["pending"], 9);
    assert!(runs[1]["eta_seconds"].as_f64().unwrap() > 0.0, "{:?}", runs[1]);
    // Throughput is jobs finished per second of run wall time: the catalog's
    // for an ended run; for the live one its earlier runs' time (10 s here)
    // plus its own since the stored start.
    assert_eq!(runs[0]["run_seconds"], 10.0);
    assert!((runs[0]["throughput_per_second"].as_f64().unwrap() - 0.3).abs() < 1e-9);
    let live_secs = runs[1]["run_seconds"].as_f64().unwrap();
    assert!(live_secs >= 10.0, "{live_secs}");
    let rate = runs[1]["throughput_per_second"].as_f64().unwrap();
    assert!((rate - 1.0 / live_secs).abs() < 1e-9, "{rate} vs 1 / {live_secs}");
    assert_eq!(json(addr, "/api/runs/first")["completed"], 2);
    let (status, body) = get(addr, "/api/runs/third", Some("t0k"));
    assert_eq!(status, 404);
    assert!(body.contains("third"), "{body}");
    assert_eq!(get(addr, "/api/runs?x=1", Some("t0k")).0, 400);
    assert_eq!(json(addr, "/api/alerts"), serde_json::json!([]));

    // The overview spans every run: tag sets with their newest value.
    let ov = json(addr, "/api/metrics/overview");
    assert_eq!(ov["source"], "database");
    let series = ov["series"].as_array().unwrap();
    let durations = series.iter().find(|s| s["name"] == "job_duration_seconds").unwrap();
    assert_eq!(durations["type"], "timer");
    assert_eq!(durations["samples"], 4);
    assert_eq!(durations["sparkline"], serde_json::json!([1.0, 2.0, 3.0, 5.0]));
    assert_eq!(durations["last"]["value"], 5.0);
    let mut sets: Vec<(String, f64)> = durations["tag_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tags"]["status"].as_str().unwrap().to_owned(),
                t["last"]["value"].as_f64().unwrap(),
            )
        })
        .collect();
    sets.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(sets, vec![("completed".into(), 5.0), ("failed".into(), 2.0)]);
    let first = json(addr, "/api/metrics/overview?run=first");
    let first = first["series"].as_array().unwrap();
    let first = first.iter().find(|s| s["name"] == "job_duration_seconds").unwrap();
    assert_eq!(first["samples"], 3);
    let (status, body) = get(addr, "/api/metrics/overview?colour=red", Some("t0k"));
    assert_eq!(status, 400);
    assert!(body.contains("colour"), "{body}");

    // Summaries with the series route's filters.
    let s = json(
        addr,
        "/api/metrics/series/job_duration_seconds/summary?run=all&tag=status:completed",
    );
    assert_eq!(s["type"], "timer");
    assert_eq!(s["summary"]["count"], 3);
    assert_eq!(s["summary"]["max"], 5.0);
    assert_eq!(
        json(addr, "/api/metrics/series/job_duration_seconds/summary?run=first")["summary"]["count"],
        3
    );
    assert_eq!(get(addr, "/api/metrics/series/nothing/summary", Some("t0k")).0, 404);
    assert_eq!(
        get(
            addr,
            "/api/metrics/series/job_duration_seconds/summary?tag=bad",
            Some("t0k")
        )
        .0,
        400
    );

    // The chart model the page paints, over the database's samples.
    let chart = json(
        addr,
        "/api/metrics/series/job_duration_seconds/chart?run=all&limit=100000",
    );
    assert_eq!(chart["unit"], "s");
    assert_eq!(chart["y_label"], "value (s)");
    assert_eq!(chart["samples"], 4);
    let labels: Vec<&str> = chart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, vec!["status=completed", "status=failed"]);
    assert_eq!(chart["percentiles"].as_array().unwrap().len(), 3);
    let counted: u64 = chart["distribution"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 4);
    let filtered = json(
        addr,
        "/api/metrics/series/job_duration_seconds/chart?run=first&tag=status:failed",
    );
    assert_eq!(filtered["samples"], 1);
    assert_eq!(get(addr, "/api/metrics/series/nothing/chart", Some("t0k")).0, 404);
    assert_eq!(
        get(
            addr,
            "/api/metrics/series/job_duration_seconds/chart?limit=0",
            Some("t0k")
        )
        .0,
        400
    );

    // What the writer commits next is served on the next request: the page
    // polls while the run is live, so it follows the run.
    for v in [6.0, 7.0] {
        live.record_metric("job_duration_seconds", v, &[("status", "failed")], MetricType::Timer)
            .unwrap();
    }
    manifests.0.lock().unwrap()[1] = progress("second", 1, 2, 7);
    recording.flush().unwrap();
    let values = json(addr, "/api/metrics/series/job_duration_seconds?run=second");
    let values: Vec<f64> = values["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, vec![5.0, 6.0, 7.0]);
    // `matching` counts what the filters select before `limit`, as the live server's.
    let limited = json(addr, "/api/metrics/series/job_duration_seconds?run=all&limit=2");
    assert_eq!(
        (limited["matching"].as_u64(), limited["returned"].as_u64()),
        (Some(6), Some(2)),
        "{limited}"
    );
    let failed = json(
        addr,
        "/api/metrics/series/job_duration_seconds?run=all&tag=status:failed&limit=1",
    );
    assert_eq!(failed["matching"], 3, "{failed}");
    let whole = json(addr, "/api/metrics/series/job_duration_seconds?run=all");
    assert_eq!(
        (whole["matching"].as_u64(), whole["returned"].as_u64()),
        (Some(6), Some(6)),
        "{whole}"
    );
    assert_eq!(json(addr, "/api/runs")[1]["failed"], 2);
    let ov = json(addr, "/api/metrics/overview?run=second");
    let series = ov["series"].as_array().unwrap();
    let durations = series.iter().find(|s| s["name"] == "job_duration_seconds").unwrap();
    assert_eq!(durations["last"]["value"], 7.0);

    // Once the run ends it is no longer live.
    recording.finish().unwrap();
    let runs = json(addr, "/api/runs");
    assert_eq!(runs[1]["live"], false);
    assert_eq!(runs[1]["eta_seconds"], Value::Null);
}

/// A run whose process was killed: it never ended in the database, and its
/// batch's lock is free. It is not live, its leftover running jobs are
/// interrupted, and it has no ETA. A run without a manifest (imported) has
/// no job counts at all rather than zeros.
#[test]
fn a_killed_run_is_not_live_and_a_run_without_a_manifest_has_no_job_counts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("metrics.db");
    record_finished(&db);
    let c = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(&db, StoreOptions::default()).unwrap();
    let run = store.begin_run(&RunInfo::current("killed")).unwrap();
    let rec = store.record(Arc::clone(&c), run).unwrap();
    c.record_metric("job_duration_seconds", 1.0, &[], MetricType::Timer)
        .unwrap();
    // Not finished, as a process killed mid-run leaves it; whether anyone
    // still executes it is the catalog's word (the batch lock).
    rec.flush().unwrap();

    let killed = RunProgress {
        running: 0,
        interrupted: 2,
        total: 5,
        open: false,
        ..progress("killed", 1, 0, 2)
    };
    let manifests = Arc::new(Manifests::default());
    *manifests.0.lock().unwrap() = vec![killed.clone()];
    let server = spawn_history_server_with_runs(
        "127.0.0.1:0".parse().unwrap(),
        db.clone(),
        Some("t0k".into()),
        Some(Arc::clone(&manifests) as Arc<dyn RunCatalog>),
        ServerConfig::default(),
    )
    .unwrap();
    let addr = server.local_addr();
    let runs = json(addr, "/api/runs");
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let first = &runs[0];
    assert_eq!(first["name"], "first");
    for field in [
        "total",
        "completed",
        "failed",
        "running",
        "pending",
        "finished",
        "interrupted",
    ] {
        assert_eq!(
            first[field],
            Value::Null,
            "{field} of a run without a manifest: {first}"
        );
    }
    assert_eq!(first["batch_id"], Value::Null);
    let dead = &runs[1];
    assert_eq!(dead["run_id"], "killed");
    assert_eq!(dead["ended_at"], Value::Null, "never ended in the database");
    assert_eq!(dead["live"], false, "nothing holds its batch: {dead}");
    assert_eq!(dead["running"], 0);
    assert_eq!(dead["interrupted"], 2);
    assert_eq!(dead["pending"], 2);
    assert_eq!(dead["eta_seconds"], Value::Null);

    // The same run while a process holds its batch is live, with an ETA.
    *manifests.0.lock().unwrap() = vec![RunProgress {
        running: 2,
        interrupted: 0,
        open: true,
        ..killed
    }];
    let runs = json(addr, "/api/runs");
    assert_eq!(runs[1]["live"], true);
    assert!(runs[1]["eta_seconds"].as_f64().unwrap() > 0.0, "{}", runs[1]);
}

/// A series that keeps no samples (handles at the default policy) is in the
/// overview with its latest snapshot's aggregates as its tag sets' values: a
/// counter's total, a histogram's sum.
#[test]
fn aggregate_only_series_have_their_aggregates_as_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("metrics.db");
    let c = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(&db, StoreOptions::default()).unwrap();
    let id = store.begin_run(&RunInfo::current("only")).unwrap();
    let rec = store.record(Arc::clone(&c), id).unwrap();
    c.counter("job_errors", &[("error_type", "timeout")])
        .unwrap()
        .increment(3);
    c.counter("job_errors", &[("error_type", "spawn")])
        .unwrap()
        .increment(1);
    let h = c.histogram("batch_duration_seconds", &[]).unwrap();
    h.record(2.0);
    h.record(0.5);
    rec.finish().unwrap();
    let server = spawn_history_server_with_runs(
        "127.0.0.1:0".parse().unwrap(),
        db,
        Some("t0k".into()),
        None,
        ServerConfig::default(),
    )
    .unwrap();
    let ov = json(server.local_addr(), "/api/metrics/overview");
    let series = |name: &str| {
        ov["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    let errors = series("job_errors");
    assert_eq!(errors["samples"], 0, "{errors}");
    let total = |kind: &str| {
        errors["tag_sets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tags"]["error_type"] == kind)
            .unwrap()["last"]
            .clone()
    };
    assert_eq!(total("timeout")["value"].as_f64(), Some(3.0), "{errors}");
    assert_eq!(total("timeout")["aggregate"], "total");
    assert_eq!(total("spawn")["value"].as_f64(), Some(1.0));
    assert_eq!(errors["last"]["value"].as_f64(), Some(4.0));
    let batch = series("batch_duration_seconds");
    assert_eq!(batch["tag_sets"][0]["last"]["value"].as_f64(), Some(2.5), "{batch}");
    assert_eq!(batch["tag_sets"][0]["last"]["aggregate"], "sum");
    assert!(batch["tag_sets"][0]["last"]["timestamp"].as_f64().unwrap() > 1.7e9);
}
