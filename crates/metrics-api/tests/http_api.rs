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
        let state = ApiState::new(Arc::clone(&collector))
            .with_token(token.map(str::to_owned))
            .unwrap();
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

#[test]
fn an_empty_token_is_refused_instead_of_turning_authentication_off() {
    let state = ApiState::new(Arc::new(MetricsCollector::default()));
    let err = state.clone().with_token(Some(String::new())).unwrap_err();
    assert_eq!(err, metrics_api::TokenError::Empty);
    assert!(err.to_string().contains("empty"), "{err}");
    let err = state.clone().with_token(Some("two words".into())).unwrap_err();
    assert!(err.to_string().contains("' '"), "{err}");
    assert!(state.with_token(None).is_ok(), "no token at all still serves openly");
}

#[test]
fn the_bearer_scheme_name_is_case_insensitive() {
    let api = Api::start(Some("s3cret"));
    api.seed();
    for header in ["Bearer s3cret", "bearer s3cret", "BEARER s3cret", "bEaReR  s3cret"] {
        let (status, _, body) = api.get_with("/metrics", &[("Authorization", header)]);
        assert_eq!(status, 200, "{header:?}: {body}");
    }
    for header in ["Basic s3cret", "Bearer S3CRET", "Bearers3cret", "s3cret"] {
        assert_eq!(
            api.get_with("/metrics", &[("Authorization", header)]).0,
            401,
            "{header:?}: the token itself stays case-sensitive"
        );
    }
}

#[test]
fn error_bodies_echo_at_most_a_few_hundred_bytes_of_the_request() {
    let api = Api::start(None);
    api.seed();
    let huge = "x".repeat(60_000);
    let cases = [
        // 60 KB query strings, on the route that takes none and on a series.
        (format!("/api/metrics/series?{huge}=1"), 414),
        (format!("/api/metrics/series/job_seconds?tag=k={huge}"), 414),
        // 60 KB paths: an unknown route and an unknown series.
        (format!("/{huge}"), 404),
        (format!("/api/metrics/series/{huge}"), 404),
        (format!("/api/metrics/series/{huge}/summary"), 404),
        // Values under the query limit but long, each quoted in a 400.
        (
            format!("/api/metrics/series/job_seconds?limit={}", "9".repeat(4000)),
            400,
        ),
        (format!("/api/metrics/series/job_seconds?{}=1", "p".repeat(4000)), 400),
        (format!("/api/metrics/series?{}=1", "q".repeat(4000)), 400),
    ];
    for (path, status) in cases {
        let (got, ctype, body) = api.get(&path);
        assert_eq!(got, status, "{}…: {body}", &path[..40]);
        assert!(ctype.starts_with("application/json"), "{ctype}");
        assert!(body.len() <= 512, "{} bytes echoed: {body}", body.len());
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"].is_string(), "{body}");
    }
    // A short value is still quoted whole, so the mistake stays visible.
    let (_, v) = api.json("/api/metrics/series/job_seconds?limit=lots");
    assert!(v["error"].as_str().unwrap().contains("\"lots\""), "{v}");
    // A long one is quoted in part, with its length.
    let (_, v) = api.json(&format!("/api/metrics/series/{}", "n".repeat(5000)));
    assert!(v["error"].as_str().unwrap().contains("(5000 bytes)"), "{v}");
}

/// A server for `collector` whose `/metrics` cache lives `ttl`; its URL.
fn metrics_server(collector: &Arc<MetricsCollector>, ttl: Duration) -> (ServerHandle, String) {
    let server = metrics_api::spawn_server_with(
        "127.0.0.1:0".parse().unwrap(),
        ApiState::new(Arc::clone(collector)),
        metrics_api::ServerConfig::default().with_metrics_cache_ttl(ttl),
    )
    .unwrap();
    let url = format!("http://{}/metrics", server.local_addr());
    (server, url)
}

fn scrape(url: &str) -> String {
    ureq::get(url).call().unwrap().body_mut().read_to_string().unwrap()
}

#[test]
fn concurrent_scrapes_share_one_body_and_the_cache_expires() {
    let collector = Arc::new(MetricsCollector::default());
    let jobs = collector.counter("jobs", &[]).unwrap();
    jobs.increment(1);

    let (_long, url) = metrics_server(&collector, Duration::from_secs(600));
    let bodies: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| scrape(&url))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "every concurrent scrape got the same body"
    );
    assert!(bodies[0].contains("jobs_total 1.0\n"), "{}", bodies[0]);
    // Within the TTL the encoded body is served again.
    jobs.increment(1);
    assert!(scrape(&url).contains("jobs_total 1.0\n"), "served from the cache");

    // Once the TTL has passed, the new value shows.
    let ttl = Duration::from_millis(100);
    let (_short, url) = metrics_server(&collector, ttl);
    assert!(scrape(&url).contains("jobs_total 2.0\n"));
    jobs.increment(1);
    std::thread::sleep(ttl * 3);
    assert!(scrape(&url).contains("jobs_total 3.0\n"));

    // With a TTL of zero every scrape after a change sees it.
    let (_zero, url) = metrics_server(&collector, Duration::ZERO);
    assert!(scrape(&url).contains("jobs_total 3.0\n"));
    jobs.increment(1);
    assert!(scrape(&url).contains("jobs_total 4.0\n"));
}

#[test]
fn an_invalid_server_config_is_refused_naming_the_option() {
    let state = ApiState::new(Arc::new(MetricsCollector::default()));
    let config = metrics_api::ServerConfig::default().with_max_connections(0);
    let err = metrics_api::spawn_server_with("127.0.0.1:0".parse().unwrap(), state, config).unwrap_err();
    assert!(err.to_string().contains("max_connections"), "{err}");
}
