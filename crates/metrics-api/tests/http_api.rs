//! Every route and every error of the HTTP API, over a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_api::{ApiState, ServerHandle, spawn_server};
use metrics_core::clock::ManualClock;
use metrics_core::{MetricType, MetricsCollector, MetricsConfig};
use serde_json::Value;

const T0: i64 = 1_800_000_000_000_000_000;

struct Api {
    server: ServerHandle,
    agent: ureq::Agent,
    clock: Arc<ManualClock>,
    collector: Arc<MetricsCollector>,
}

impl Api {
    fn start(token: Option<&str>) -> Api {
        let clock = Arc::new(ManualClock::new(T0));
        let collector = Arc::new(MetricsCollector::with_clock(MetricsConfig::default(), clock.clone()));
        let state = ApiState::new(Arc::clone(&collector)).with_token(token.map(str::to_owned));
        let server = spawn_server("127.0.0.1:0".parse().unwrap(), state).unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Api {
            server,
            agent,
            clock,
            collector,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.local_addr())
    }

    /// (status, content type, body)
    fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
        let mut req = self.agent.get(&self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.call().unwrap();
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = resp.body_mut().read_to_string().unwrap();
        (status, ctype, body)
    }

    fn get(&self, path: &str) -> (u16, String, String) {
        self.get_with(path, &[])
    }

    fn json(&self, path: &str) -> (u16, Value) {
        let (status, ctype, body) = self.get(path);
        assert!(ctype.starts_with("application/json"), "{path}: {ctype} {body}");
        (status, serde_json::from_str(&body).unwrap())
    }

    /// Records `job_seconds` samples 10 s apart, alternating status tags.
    fn seed(&self) {
        for i in 0..10 {
            let status = if i % 2 == 0 { "ok" } else { "failed" };
            self.collector
                .record_metric(
                    "job_seconds",
                    f64::from(i + 1),
                    &[("status", status)],
                    MetricType::Timer,
                )
                .unwrap();
            self.clock.advance(Duration::from_secs(10));
        }
        self.collector
            .record_metric("jobs", 3.0, &[("queue", "a")], MetricType::Counter)
            .unwrap();
        self.collector
            .record_metric("a/b c", 1.0, &[], MetricType::Gauge)
            .unwrap();
    }
}

/// The `value` of every sample in a series response.
fn sample_values(v: &Value) -> Vec<f64> {
    v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_f64().unwrap())
        .collect()
}

#[test]
fn healthz_answers_ok() {
    let api = Api::start(None);
    assert_eq!(
        api.get("/healthz"),
        (200, "text/plain; charset=utf-8".into(), "ok\n".into())
    );
}

#[test]
fn metrics_negotiates_prometheus_or_openmetrics() {
    let api = Api::start(None);
    api.seed();
    let (status, ctype, body) = api.get("/metrics");
    assert_eq!(status, 200);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert!(body.contains("jobs_total{queue=\"a\"} 3.0\n"), "{body}");
    assert!(body.contains("job_seconds_count{status=\"ok\"} 5.0\n"), "{body}");
    assert!(!body.contains("# EOF"));

    let (status, ctype, body) = api.get_with(
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    );
    assert_eq!(status, 200);
    assert_eq!(ctype, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(body.contains("# TYPE jobs counter\n"), "{body}");
    assert!(body.ends_with("# EOF\n"));
}

#[test]
fn series_list_names_types_and_counts() {
    let api = Api::start(None);
    api.seed();
    let (status, v) = api.json("/api/metrics/series");
    assert_eq!(status, 200);
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["a/b c", "job_seconds", "jobs"]);
    assert_eq!(v[1]["type"], "timer");
    assert_eq!(v[1]["samples"], 10);
    assert_eq!(v[1]["tag_sets"], 2);
    let (status, v) = api.json("/api/metrics/series?x=1");
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("\"x\""), "{v}");
}

#[test]
fn series_values_filter_by_tag_time_and_limit() {
    let api = Api::start(None);
    api.seed();
    let (status, v) = api.json("/api/metrics/series/job_seconds");
    assert_eq!(status, 200);
    assert_eq!(v["matching"], 10);
    assert_eq!(v["values"].as_array().unwrap().len(), 10);
    assert_eq!(v["values"][0]["value"], 1.0);
    assert_eq!(v["values"][0]["tags"]["status"], "ok");

    let (_, v) = api.json("/api/metrics/series/job_seconds?tag=status=failed");
    let values = sample_values(&v);
    assert_eq!(values, vec![2.0, 4.0, 6.0, 8.0, 10.0]);

    // The clock stands 100 s after the first sample; the last three are within 35 s.
    let (_, v) = api.json("/api/metrics/series/job_seconds?since_seconds=35");
    let values = sample_values(&v);
    assert_eq!(values, vec![8.0, 9.0, 10.0]);

    let (_, v) = api.json("/api/metrics/series/job_seconds?limit=2&tag=status%3Dok");
    assert_eq!(v["matching"], 5);
    assert_eq!(v["returned"], 2);
    let values = sample_values(&v);
    assert_eq!(values, vec![7.0, 9.0], "the newest two");

    let (status, v) = api.json("/api/metrics/series/a%2Fb%20c");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["name"], "a/b c");
}

#[test]
fn series_summary_over_filters() {
    let api = Api::start(None);
    api.seed();
    let (status, v) = api.json("/api/metrics/series/job_seconds/summary?tag=status=ok");
    assert_eq!(status, 200);
    let s = &v["summary"];
    assert_eq!(s["count"], 5);
    assert_eq!(s["sum"], 25.0);
    assert_eq!(s["min"], 1.0);
    assert_eq!(s["max"], 9.0);
    assert_eq!(s["avg"], 5.0);
    assert_eq!(s["p50"], 5.0);
    assert_eq!(s["p99"], 9.0);
    let (_, v) = api.json("/api/metrics/series/job_seconds/summary?tag=status=nope");
    assert_eq!(v["summary"], Value::Null);
    let (status, v) = api.json("/api/metrics/series/job_seconds/summary?limit=3");
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("\"limit\""), "{v}");
}

#[test]
fn errors_are_json_with_the_right_status() {
    let api = Api::start(None);
    api.seed();
    for (path, status, needle) in [
        ("/api/metrics/series/nope", 404, "\"nope\""),
        ("/api/metrics/series/nope/summary", 404, "\"nope\""),
        ("/no/such/route", 404, "/no/such/route"),
        ("/api/metrics/series/job_seconds?tag=status", 400, "\"tag\""),
        ("/api/metrics/series/job_seconds?since_seconds=soon", 400, "\"soon\""),
        ("/api/metrics/series/job_seconds?limit=-5", 400, "\"-5\""),
        ("/api/metrics/series/job_seconds?limit=100001", 400, "\"limit\""),
    ] {
        let (got, v) = api.json(path);
        assert_eq!(got, status, "{path}: {v}");
        assert!(v["error"].as_str().unwrap().contains(needle), "{path}: {v}");
    }
    let long = format!("/api/metrics/series/job_seconds?tag=k={}", "v".repeat(5000));
    let (status, v) = api.json(&long);
    assert_eq!(status, 414, "{v}");
}

#[test]
fn bearer_token_guards_everything_but_healthz() {
    let api = Api::start(Some("s3cret"));
    api.seed();
    assert_eq!(api.get("/healthz").0, 200);
    for path in ["/metrics", "/api/metrics/series", "/api/metrics/series/jobs", "/nope"] {
        let (status, _, body) = api.get(path);
        assert_eq!(status, 401, "{path}");
        assert!(body.contains("bearer token"), "{body}");
        assert_eq!(
            api.get_with(path, &[("Authorization", "Bearer wrong")]).0,
            401,
            "{path}"
        );
    }
    let (status, _, body) = api.get_with("/metrics", &[("Authorization", "Bearer s3cret")]);
    assert_eq!(status, 200);
    assert!(body.contains("jobs_total"));
    let (status, _, _) = api.get_with("/api/metrics/series/jobs", &[("Authorization", "Bearer s3cret")]);
    assert_eq!(status, 200);
}

#[test]
fn binding_a_busy_port_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let state = ApiState::new(Arc::new(MetricsCollector::default()));
    let err = spawn_server(addr, state).unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
