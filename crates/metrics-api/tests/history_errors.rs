//! Error bodies of the database server (and the runs route of the live
//! one) never echo more than a few hundred bytes of the request, and a
//! query string over the cap is a 414, as on the live server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_api::ServerConfig;
use metrics_api::history::spawn_history_server;
use metrics_core::{MetricType, MetricsCollector};
use metrics_store::{MetricsStore, RunInfo, StoreOptions};

fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut resp = agent.get(&format!("http://{addr}{path}")).call().unwrap();
    (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap())
}

const MOST: usize = 500;

#[test]
fn the_database_server_quotes_at_most_a_few_hundred_bytes_of_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("metrics.db");
    {
        let c = Arc::new(MetricsCollector::default());
        let store = MetricsStore::open(&db, StoreOptions::default()).unwrap();
        let id = store.begin_run(&RunInfo::current("only")).unwrap();
        let rec = store.record(Arc::clone(&c), id).unwrap();
        c.record_metric("job_duration_seconds", 1.0, &[("status", "ok")], MetricType::Timer)
            .unwrap();
        rec.finish().unwrap();
    }
    let server = spawn_history_server("127.0.0.1:0".parse().unwrap(), db, None, ServerConfig::default()).unwrap();
    let addr = server.local_addr();
    let long = "a".repeat(60_000);
    let medium = "b".repeat(3_000);
    let cases = [
        (format!("/api/metrics/series/{long}"), 404),
        (format!("/api/metrics/series/{long}/summary"), 404),
        (format!("/api/metrics/series/{long}/chart"), 404),
        (format!("/api/runs/{long}"), 404),
        (format!("/api/metrics/series?run={medium}"), 404),
        (format!("/api/metrics/overview?run={medium}"), 404),
        (
            format!("/api/metrics/series/job_duration_seconds?since_seconds={medium}"),
            400,
        ),
        (format!("/api/metrics/series/job_duration_seconds?limit={medium}"), 400),
        (format!("/api/metrics/series/job_duration_seconds?tag={medium}"), 400),
        (format!("/api/metrics/series/job_duration_seconds?{medium}=1"), 400),
        (format!("/api/metrics/overview?run={long}"), 414),
        (format!("/api/metrics/series/job_duration_seconds?{long}"), 414),
    ];
    for (path, status) in cases {
        let (got, body) = get(addr, &path);
        assert_eq!(
            got,
            status,
            "{}…: {}",
            &path[..40.min(path.len())],
            &body[..body.len().min(300)]
        );
        assert!(
            body.len() <= MOST,
            "{} bytes for {}…",
            body.len(),
            &path[..40.min(path.len())]
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    }
}

#[test]
fn the_live_servers_runs_route_quotes_at_most_a_few_hundred_bytes() {
    let c = Arc::new(MetricsCollector::default());
    let server = metrics_api::spawn_server("127.0.0.1:0".parse().unwrap(), metrics_api::ApiState::new(c)).unwrap();
    let (status, body) = get(server.local_addr(), &format!("/api/runs/{}", "r".repeat(60_000)));
    assert_eq!(status, 404, "{}", &body[..body.len().min(300)]);
    assert!(body.len() <= MOST, "{} bytes", body.len());
}
