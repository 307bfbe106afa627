//! The HTTP API over a metrics database: runs, samples across runs with
//! filters, the latest aggregates at /metrics, bad parameters named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use metrics_api::ServerConfig;
use metrics_api::history::spawn_history_server;
use metrics_core::{MetricType, MetricsCollector};
use metrics_store::{MetricsStore, RunInfo, StoreOptions};

fn record(path: &std::path::Path, run: &str, values: &[f64]) {
    let c = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(path, StoreOptions::default()).unwrap();
    let id = store.begin_run(&RunInfo::current(run)).unwrap();
    let rec = store.record(Arc::clone(&c), id).unwrap();
    for (i, v) in values.iter().enumerate() {
        let status = if i % 2 == 0 { "ok" } else { "failed" };
        c.record_metric("job_duration_seconds", *v, &[("status", status)], MetricType::Timer)
            .unwrap();
    }
    c.counter("jobs_total", &[]).unwrap().increment(values.len() as u64);
    rec.finish().unwrap();
}

fn get(addr: std::net::SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let mut req = agent.get(&format!("http://{addr}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.call().unwrap();
    (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap())
}

#[test]
fn the_database_is_served_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("metrics.db");
    record(&db, "first", &[1.0, 2.0, 3.0]);
    record(&db, "second", &[10.0, 20.0]);
    let server = spawn_history_server(
        "127.0.0.1:0".parse().unwrap(),
        db,
        Some("s3cret".into()),
        ServerConfig::default(),
    )
    .unwrap();
    let addr = server.local_addr();

    assert_eq!(get(addr, "/api/runs", None).0, 401);
    assert_eq!(get(addr, "/healthz", None).0, 200);
    let (status, body) = get(addr, "/api/runs", Some("s3cret"));
    assert_eq!(status, 200, "{body}");
    let runs: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    assert_eq!(runs[0]["name"], "first");

    let values = |q: &str| {
        let (status, body) = get(
            addr,
            &format!("/api/metrics/series/job_duration_seconds{q}"),
            Some("s3cret"),
        );
        assert_eq!(status, 200, "{q}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["value"].as_f64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(values("").len(), 5, "every run without run=");
    assert_eq!(values("?run=second"), vec![10.0, 20.0]);
    assert_eq!(values("?run=sec"), vec![10.0, 20.0], "a unique prefix");
    assert_eq!(
        values("?run=all&tag=status=ok"),
        vec![1.0, 3.0, 10.0],
        "key=value as key:value"
    );
    assert_eq!(values("?run=first"), vec![1.0, 2.0, 3.0]);
    assert_eq!(values("?run=all&tag=status:ok"), vec![1.0, 3.0, 10.0]);
    assert_eq!(values("?run=all&limit=2"), vec![10.0, 20.0]);
    assert_eq!(values("?run=all&since_seconds=3600").len(), 5);

    for (q, needle) in [
        ("?limit=0", "limit"),
        ("?since_seconds=-1", "since_seconds"),
        ("?tag=nocolon", "tag"),
        ("?colour=red", "colour"),
    ] {
        let (status, body) = get(
            addr,
            &format!("/api/metrics/series/job_duration_seconds{q}"),
            Some("s3cret"),
        );
        assert_eq!(status, 400, "{q}: {body}");
        assert!(body.contains(needle), "{q}: {body}");
    }
    let (status, body) = get(
        addr,
        "/api/metrics/series/job_duration_seconds?run=third",
        Some("s3cret"),
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("third"));
    assert_eq!(get(addr, "/api/metrics/series/nothing", Some("s3cret")).0, 404);

    let (status, text) = get(addr, "/metrics", Some("s3cret"));
    assert_eq!(status, 200);
    assert!(text.contains("jobs_total 2"), "{text}");
    if test_support::have_promtool() {
        let (code, out) = test_support::promtool_check(&text);
        assert!(code == 0 || code == 3, "promtool: {out}");
    }
}

/// A run being recorded has no aggregate snapshot newer than its writer's
/// last `snapshot_interval` (a minute by default), and one whose writer was
/// killed keeps the last it took: /metrics rebuilds the run from its
/// committed samples, as `metrics export` does, so it counts every job
/// recorded so far rather than the stale snapshot's zeros.
#[test]
fn metrics_of_a_run_being_recorded_counts_its_committed_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("metrics.db");
    record(&db, "finished", &[1.0]);

    let c = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(&db, StoreOptions::default()).unwrap();
    let run = store.begin_run(&RunInfo::current("live")).unwrap();
    // What a batch's first snapshot holds: its tag sets at zero, and a
    // total kept without samples.
    drop(c.counter("job_status_total", &[("status", "completed")]).unwrap());
    drop(c.counter("job_status_total", &[("status", "failed")]).unwrap());
    c.counter("retries_total", &[]).unwrap().increment(2);
    store.write_snapshot(run, &c.aggregate_snapshot()).unwrap();
    let recording = store.record(Arc::clone(&c), run).unwrap();
    for status in ["completed", "completed", "failed", "completed"] {
        c.record_metric("job_status_total", 1.0, &[("status", status)], MetricType::Counter)
            .unwrap();
    }
    for v in [0.5, 1.5, 2.5] {
        c.record_metric("job_duration_seconds", v, &[], MetricType::Timer)
            .unwrap();
    }
    recording.flush().unwrap();

    let server = spawn_history_server("127.0.0.1:0".parse().unwrap(), db, None, ServerConfig::default()).unwrap();
    let (status, text) = get(server.local_addr(), "/metrics", None);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("job_status_total{status=\"completed\"} 3.0\n"), "{text}");
    assert!(text.contains("job_status_total{status=\"failed\"} 1.0\n"), "{text}");
    assert!(text.contains("job_duration_seconds_count 3.0\n"), "{text}");
    assert!(text.contains("job_duration_seconds_sum 4.5\n"), "{text}");
    // A tag set without samples keeps the snapshot's total.
    assert!(text.contains("retries_total 2.0\n"), "{text}");
    assert!(!text.contains("jobs_total"), "only the latest run: {text}");

    // What the writer commits next is served once the cached reading is
    // older than the TTL: the rebuild follows the store.
    for _ in 0..2 {
        c.record_metric("job_status_total", 1.0, &[("status", "completed")], MetricType::Counter)
            .unwrap();
    }
    recording.flush().unwrap();
    let followed = (0..600).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        get(server.local_addr(), "/metrics", None)
            .1
            .contains("job_status_total{status=\"completed\"} 5.0\n")
    });
    assert!(followed, "the two later completions are served");
    drop(recording);
}
