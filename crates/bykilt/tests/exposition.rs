//! The CLI's metrics exposition against the real Prometheus tools:
//! `metrics export --format prometheus|openmetrics` through promtool and the
//! strict OpenMetrics parser, `bykilt serve` scraped by a real Prometheus,
//! the live `--serve` endpoint during a batch, and `--push-gateway` into a
//! real Pushgateway.
//!
//! The tools come from Debian's `prometheus` and `prometheus-pushgateway`
//! and PyPI's `prometheus-client` (installed by `.ci/run`). Without them the
//! tests fail when `CI=true` and are skipped otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Sandbox, text};

/// Kills the child when dropped, pass or fail.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn require(tool: &str, available: bool) -> bool {
    if available {
        return true;
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "{tool} is required when CI=true (see .ci/run)"
    );
    eprintln!("skipping: {tool} is not installed");
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(url: &str) -> Option<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    agent.get(url).call().ok()?.body_mut().read_to_string().ok()
}

fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

fn pipe(cmd: &str, args: &[&str], input: &str) -> (i32, String) {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// The value of the first sample line starting with `prefix` and containing
/// every `needle`.
fn sample(body: &str, prefix: &str, needles: &[&str]) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix) && needles.iter().all(|n| l.contains(n)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Runs a 5-row batch that completes and returns its batch id.
fn completed_batch(s: &Sandbox, extra: &[&str]) -> (String, std::process::Output) {
    s.write("in.csv", &common::numbered_csv(5));
    let mut args = vec!["batch", "run", "in.csv", "--exec", "true", "--quiet", "--json"];
    args.extend_from_slice(extra);
    let out = s.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (v["batch_id"].as_str().unwrap().to_owned(), out)
}

#[test]
fn metrics_export_in_prometheus_and_openmetrics_passes_the_validators() {
    let promtool = require("promtool", have("promtool", &["--version"]));
    let parser = require(
        "python3 prometheus_client",
        have("python3", &["-c", "import prometheus_client.openmetrics.parser"]),
    );
    let s = Sandbox::new();
    let (batch_id, _) = completed_batch(&s, &[]);

    let prom = s.run(&["metrics", "export", "--format", "prometheus"]);
    assert_eq!(prom.status.code(), Some(0), "{}", text(&prom.stderr));
    let body = text(&prom.stdout);
    let batch_tag = format!("batch_id=\"{batch_id}\"");
    assert_eq!(
        sample(&body, "job_status_total{", &[&batch_tag, "status=\"completed\""]),
        Some(5.0),
        "{body}"
    );
    assert!(body.contains("# TYPE job_duration_seconds histogram"), "{body}");
    if promtool {
        let (code, said) = pipe("promtool", &["check", "metrics"], &body);
        assert_eq!(code, 0, "promtool: {said}\n{body}");
    }

    let om = s.run(&["metrics", "export", "--format", "openmetrics"]);
    assert_eq!(om.status.code(), Some(0), "{}", text(&om.stderr));
    let body = text(&om.stdout);
    assert!(body.ends_with("# EOF\n"));
    if parser {
        let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
                      print(len(list(text_string_to_metric_families(sys.stdin.read()))))";
        let (code, said) = pipe("python3", &["-c", script], &body);
        assert_eq!(code, 0, "parser: {said}\n{body}");
    }
}

#[test]
fn a_batch_push_reaches_a_real_pushgateway() {
    if !require("prometheus-pushgateway", have("prometheus-pushgateway", &["--version"])) {
        return;
    }
    let port = free_port();
    let _gw = Killed(
        Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    poll(Duration::from_secs(20), || http_get(&format!("{base}/-/ready"))).expect("pushgateway ready");

    let s = Sandbox::new();
    let (batch_id, _) = completed_batch(&s, &["--push-gateway", &base]);
    let body = http_get(&format!("{base}/metrics")).unwrap();
    let batch_tag = format!("batch_id=\"{batch_id}\"");
    assert_eq!(
        sample(
            &body,
            "job_status_total{",
            &[&batch_tag, "job=\"bykilt\"", "status=\"completed\""]
        ),
        Some(5.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "batch_created_total{", &[&batch_tag, "job=\"bykilt\""]),
        Some(1.0),
        "{body}"
    );
}

#[test]
fn a_failed_push_is_reported_and_does_not_fail_the_batch() {
    let s = Sandbox::new();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (_, out) = completed_batch(&s, &["--push-gateway", &dead]);
    let err = text(&out.stderr);
    assert!(err.contains("warning") && err.contains(&dead), "{err}");
    // The run's own export is complete all the same.
    let summary = s.run(&["metrics", "summary", "job_duration_seconds"]);
    assert_eq!(summary.status.code(), Some(0), "{}", text(&summary.stderr));
}

#[test]
fn prometheus_scrapes_bykilt_serve() {
    if !require("prometheus", have("prometheus", &["--version"])) {
        return;
    }
    let s = Sandbox::new();
    let (batch_id, _) = completed_batch(&s, &[]);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _serve = Killed(s.spawn(&["serve", "--listen", &listen]));
    poll(Duration::from_secs(20), || {
        http_get(&format!("http://{listen}/healthz"))
    })
    .expect("bykilt serve is up");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: bykilt\n    static_configs:\n      - targets: ['{listen}']\n"
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let _prom = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let query = |promql: &str| -> Option<f64> {
        let url = format!(
            "http://127.0.0.1:{prom_port}/api/v1/query?query={}",
            form_urlencoded::byte_serialize(promql.as_bytes()).collect::<String>()
        );
        let v: serde_json::Value = serde_json::from_str(&http_get(&url)?).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    let completed = poll(Duration::from_secs(40), || {
        query(&format!(
            "job_status_total{{status=\"completed\",batch_id=\"{batch_id}\"}}"
        ))
    });
    assert_eq!(completed, Some(5.0), "Prometheus never returned the batch's counter");
    let p50 = poll(Duration::from_secs(20), || {
        query("histogram_quantile(0.5, sum by (le) (job_duration_seconds_bucket))")
    });
    assert!(p50.is_some_and(|v| v.is_finite() && v >= 0.0), "p50 = {p50:?}");
}

#[test]
fn live_serve_exposes_metrics_while_the_batch_runs() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(8));
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Killed(s.spawn(&[
        "batch",
        "run",
        "in.csv",
        "--exec",
        "sleep 0.4",
        "--concurrency",
        "1",
        "--quiet",
        "--serve",
        &listen,
    ]));
    // Mid-run: some jobs completed, not all.
    let mid = poll(Duration::from_secs(30), || {
        let body = http_get(&format!("http://{listen}/metrics"))?;
        let done = sample(&body, "job_status_total{", &["status=\"completed\""])?;
        (1.0..8.0).contains(&done).then_some(body)
    })
    .expect("the live endpoint showed a batch in progress");
    assert!(mid.contains("# TYPE jobs_in_flight gauge"), "{mid}");
    if require("promtool", have("promtool", &["--version"])) {
        let (code, said) = pipe("promtool", &["check", "metrics"], &mid);
        assert_eq!(code, 0, "promtool: {said}\n{mid}");
    }
    let status = common::wait_exit(&mut child.0);
    assert_eq!(status.code(), Some(0));
    assert!(
        http_get(&format!("http://{listen}/healthz")).is_none(),
        "the server stops with the batch"
    );
}
