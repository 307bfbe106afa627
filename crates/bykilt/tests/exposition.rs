//! The CLI's metrics exposition against the real Prometheus tools:
//! `metrics export --format prometheus|openmetrics` through promtool and the
//! strict OpenMetrics parser, `bykilt serve` scraped by a real Prometheus,
//! the live `--serve` endpoint during a batch, and `--push-gateway` into a
//! real Pushgateway.
//!
//! The tools come from Debian's `prometheus` and `prometheus-pushgateway`
//! and PyPI's `prometheus-client` (installed by `.ci/run`). Without them the
//! tests fail when `CI=true` and are skipped otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Sandbox, text};
use test_support::{
    Killed, Prometheus, Pushgateway, free_port, have_openmetrics_parser, have_promtool, http_get, openmetrics_parse,
    poll, promtool_check, require, runs, sample_value as sample,
};

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
    let promtool = have_promtool();
    let parser = have_openmetrics_parser();
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
        let (code, said) = promtool_check(&body);
        assert_eq!(code, 0, "promtool: {said}\n{body}");
    }

    let om = s.run(&["metrics", "export", "--format", "openmetrics"]);
    assert_eq!(om.status.code(), Some(0), "{}", text(&om.stderr));
    let body = text(&om.stdout);
    assert!(body.ends_with("# EOF\n"));
    if parser {
        let (code, said) = openmetrics_parse(&body);
        assert_eq!(code, 0, "parser: {said}\n{body}");
    }
}

#[test]
fn a_batch_push_reaches_a_real_pushgateway() {
    if !require("prometheus-pushgateway", runs("prometheus-pushgateway", &["--version"])) {
        return;
    }
    let gw = Pushgateway::start();
    let base = gw.url.clone();
    let s = Sandbox::new();
    let (batch_id, _) = completed_batch(&s, &["--push-gateway", &base]);
    let body = gw.metrics().unwrap();
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
    if !require("prometheus", runs("prometheus", &["--version"])) {
        return;
    }
    let s = Sandbox::new();
    let (batch_id, _) = completed_batch(&s, &[]);
    let listen = format!("127.0.0.1:{}", free_port());
    let _serve = Killed(s.spawn(&["serve", "--listen", &listen]));
    poll(Duration::from_secs(20), || {
        http_get(&format!("http://{listen}/healthz"))
    })
    .expect("bykilt serve is up");

    let prom = Prometheus::scraping(&listen);
    let completed = prom.query_until(
        &format!("job_status_total{{status=\"completed\",batch_id=\"{batch_id}\"}}"),
        Duration::from_secs(40),
    );
    assert_eq!(completed, Some(5.0), "Prometheus never returned the batch's counter");
    let p50 = prom.query_until(
        "histogram_quantile(0.5, sum by (le) (job_duration_seconds_bucket))",
        Duration::from_secs(20),
    );
    assert!(p50.is_some_and(|v| v.is_finite() && v >= 0.0), "p50 = {p50:?}");
}

#[test]
fn live_serve_exposes_metrics_while_the_batch_runs() {
    let s = Sandbox::new();
    // 16 jobs of 0.4 s, one at a time: the batch is in progress for ~6 s.
    s.write("in.csv", &common::numbered_csv(16));
    let listen = format!("127.0.0.1:{}", free_port());
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
        (1.0..16.0).contains(&done).then_some(body)
    })
    .expect("the live endpoint showed a batch in progress");
    assert!(mid.contains("# TYPE jobs_in_flight gauge"), "{mid}");
    if have_promtool() {
        let (code, said) = promtool_check(&mid);
        assert_eq!(code, 0, "promtool: {said}\n{mid}");
    }
    let status = common::wait_exit(&mut child.0);
    assert_eq!(status.code(), Some(0));
    assert!(
        http_get(&format!("http://{listen}/healthz")).is_none(),
        "the server stops with the batch"
    );
}
