//! Against the real thing: a Prometheus server scraping our `/metrics` and
//! answering PromQL over it, and a Pushgateway receiving a push.
//!
//! Needs Debian's `prometheus` and `prometheus-pushgateway` (installed by
//! `.ci/run`). Without them the tests fail when `CI=true` and are skipped
//! otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_api::{ApiState, PushGateway, spawn_server};
use metrics_core::{MetricType, MetricsCollector};
use test_support::{Prometheus, Pushgateway, require, runs, sample_value};

#[test]
fn prometheus_scrapes_our_endpoint_and_answers_promql() {
    if !require("prometheus", runs("prometheus", &["--version"])) {
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
    let prom = Prometheus::scraping(&api.local_addr().to_string());

    let total = prom.query_until(
        "batch_jobs_completed_total{status=\"completed\",job=\"bykilt\"}",
        Duration::from_secs(40),
    );
    assert_eq!(total, Some(42.0), "Prometheus never returned our counter");

    // The scrape target must be healthy (no parse errors on our exposition;
    // polled, since one scrape slower than the 1 s timeout on a loaded
    // machine marks it down until the next).
    let healthy = test_support::poll(Duration::from_secs(20), || {
        prom.first_target()
            .filter(|t| t["health"] == "up" && t["lastError"] == "")
    });
    assert!(healthy.is_some(), "{:?}", prom.first_target());

    // Median of 10 ms..1 s in the default buckets: between 0.25 and 0.5 s by
    // linear interpolation inside the (0.25, 0.5] bucket.
    let p50 = prom
        .query_until(
            "histogram_quantile(0.5, sum by (le) (job_duration_seconds_bucket))",
            Duration::from_secs(20),
        )
        .expect("histogram_quantile over our timer");
    assert!((0.25..=0.5).contains(&p50), "p50 = {p50}");
    assert_eq!(
        prom.query_until("job_duration_seconds_count", Duration::from_secs(20)),
        Some(100.0)
    );
}

#[test]
fn pushgateway_receives_and_serves_a_push() {
    if !require("prometheus-pushgateway", runs("prometheus-pushgateway", &["--version"])) {
        return;
    }
    let gw = Pushgateway::start();
    let collector = MetricsCollector::default();
    collector
        .record_metric("jobs", 7.0, &[("status", "completed")], MetricType::Counter)
        .unwrap();
    collector.record_metric("job_run", 0.2, &[], MetricType::Timer).unwrap();
    let push = PushGateway::new(&gw.url, "bykilt", &[("batch_id", "batch/one")]).unwrap();
    push.push(&collector).unwrap();

    let body = gw.metrics().unwrap();
    let group = ["batch_id=\"batch/one\"", "job=\"bykilt\""];
    assert_eq!(
        sample_value(&body, "jobs_total{", &[group[0], group[1], "status=\"completed\""]),
        Some(7.0),
        "{body}"
    );
    assert_eq!(
        sample_value(&body, "job_run_seconds_count{", &group),
        Some(1.0),
        "{body}"
    );

    // A second push replaces the group's values.
    collector
        .record_metric("jobs", 1.0, &[("status", "completed")], MetricType::Counter)
        .unwrap();
    push.push(&collector).unwrap();
    let body = gw.metrics().unwrap();
    assert_eq!(sample_value(&body, "jobs_total{", &group), Some(8.0), "{body}");
}
