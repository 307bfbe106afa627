//! Against the real thing: a Prometheus server scraping our `/metrics` and
//! answering PromQL over it, and a Pushgateway receiving a push.
//!
//! Needs Debian's `prometheus` and `prometheus-pushgateway` (installed by
//! `.ci/run`). Without them the tests fail when `CI=true` and are skipped
//! otherwise. Servers bind 127.0.0.1 on free ports and are killed when the
//! test ends, pass or fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_api::{ApiState, PushGateway, spawn_server};
use metrics_core::{MetricType, MetricsCollector};
use serde_json::Value;

/// Kills the child when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn require(cmd: &str) -> bool {
    if have(cmd) {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{cmd} is required when CI=true (see .ci/run)");
    }
    eprintln!("skipping: {cmd} is not installed");
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

fn get_text(url: &str) -> Option<String> {
    let mut resp = agent().get(url).call().ok()?;
    if resp.status() != 200 {
        return None;
    }
    resp.body_mut().read_to_string().ok()
}

/// Polls `f` every 500 ms until it returns Some, for at most `limit`.
fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    None
}

fn query(prom: u16, promql: &str) -> Option<f64> {
    let url = format!(
        "http://127.0.0.1:{prom}/api/v1/query?query={}",
        form_urlencoded::byte_serialize(promql.as_bytes()).collect::<String>()
    );
    let body = get_text(&url)?;
    let v: Value = serde_json::from_str(&body).ok()?;
    let result = v["data"]["result"].as_array()?.first()?.clone();
    result["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_our_endpoint_and_answers_promql() {
    if !require("prometheus") {
        return;
    }
    let collector = Arc::new(MetricsCollector::default());
    collector
        .record_metric(
            "batch.jobs_completed",
            42.0,
            &[("status", "completed")],
            MetricType::Counter,
        )
        .unwrap();
    let timer = collector.timer("job_duration", &[("queue", "default")]).unwrap();
    for ms in 1..=100u64 {
        timer.record(Duration::from_millis(ms * 10)); // 10 ms .. 1 s
    }
    let api = spawn_server("127.0.0.1:0".parse().unwrap(), ApiState::new(collector)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: bykilt\n    static_configs:\n      - targets: ['{}']\n",
            api.local_addr()
        ),
    )
    .unwrap();
    let port = free_port();
    let _prom = Server(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let total = poll(Duration::from_secs(40), || {
        query(port, "batch_jobs_completed_total{status=\"completed\",job=\"bykilt\"}")
    });
    assert_eq!(total, Some(42.0), "Prometheus never returned our counter");

    // The scrape target must be healthy (no parse errors on our exposition).
    let targets = get_text(&format!("http://127.0.0.1:{port}/api/v1/targets")).unwrap();
    let targets: Value = serde_json::from_str(&targets).unwrap();
    let active = &targets["data"]["activeTargets"][0];
    assert_eq!(active["health"], "up", "{active}");
    assert_eq!(active["lastError"], "", "{active}");

    // Median of 10 ms..1 s in the default buckets: between 0.25 and 0.5 s by
    // linear interpolation inside the (0.25, 0.5] bucket.
    let p50 = poll(Duration::from_secs(20), || {
        query(
            port,
            "histogram_quantile(0.5, sum by (le) (job_duration_seconds_bucket))",
        )
    })
    .expect("histogram_quantile over our timer");
    assert!((0.25..=0.5).contains(&p50), "p50 = {p50}");
    let count = query(port, "job_duration_seconds_count").unwrap();
    assert_eq!(count, 100.0);
}

#[test]
fn pushgateway_receives_and_serves_a_push() {
    if !require("prometheus-pushgateway") {
        return;
    }
    let port = free_port();
    let _gw = Server(
        Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    poll(Duration::from_secs(20), || get_text(&format!("{base}/-/ready"))).expect("pushgateway ready");

    let collector = MetricsCollector::default();
    collector
        .record_metric("jobs", 7.0, &[("status", "completed")], MetricType::Counter)
        .unwrap();
    collector.record_metric("job_run", 0.2, &[], MetricType::Timer).unwrap();
    let push = PushGateway::new(&base, "bykilt", &[("batch_id", "batch/one")]).unwrap();
    push.push(&collector).unwrap();

    let body = get_text(&format!("{base}/metrics")).unwrap();
    let line = body
        .lines()
        .find(|l| l.starts_with("jobs_total{"))
        .unwrap_or_else(|| panic!("no jobs_total in:\n{body}"));
    assert!(line.contains("batch_id=\"batch/one\""), "{line}");
    assert!(line.contains("job=\"bykilt\""), "{line}");
    assert!(line.contains("status=\"completed\""), "{line}");
    assert!(line.ends_with(" 7"), "{line}");
    let count = body
        .lines()
        .find(|l| l.starts_with("job_run_seconds_count{"))
        .unwrap_or_else(|| panic!("no job_run_seconds_count in:\n{body}"));
    assert!(
        count.contains("batch_id=\"batch/one\"") && count.ends_with(" 1"),
        "{count}"
    );

    // A second push replaces the group's values.
    collector
        .record_metric("jobs", 1.0, &[("status", "completed")], MetricType::Counter)
        .unwrap();
    push.push(&collector).unwrap();
    let body = get_text(&format!("{base}/metrics")).unwrap();
    assert!(
        body.lines().any(|l| l.starts_with("jobs_total{") && l.ends_with(" 8")),
        "{body}"
    );
}
