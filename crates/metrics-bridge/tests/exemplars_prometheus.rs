//! Exemplars end to end (issue 17): a real Prometheus 2.42 started with
//! `--enable-feature=exemplar-storage` scrapes our `/metrics` (OpenMetrics,
//! which it asks for) and returns the exemplars from `/api/v1/query_exemplars`.
//! Fails under `CI=true` when prometheus is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_core::{MetricOptions, MetricType, MetricsCollector};
use test_support::{Prometheus, have_prometheus, poll};

#[test]
fn prometheus_with_exemplar_storage_returns_our_exemplars() {
    let c = Arc::new(MetricsCollector::default());
    c.describe_metric(
        "job_duration_seconds",
        MetricType::Histogram,
        MetricOptions {
            buckets: Some(vec![1.0, 10.0]),
            ..Default::default()
        },
    )
    .unwrap();
    let h = c.histogram("job_duration_seconds", &[("status", "completed")]).unwrap();
    h.record_with_exemplar(7.5, &[("job_id", "job-0042")]).unwrap();
    let requests = c.counter("requests", &[("route", "/cart")]).unwrap();
    requests
        .increment_with_exemplar(1, &[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")])
        .unwrap();
    if !have_prometheus() {
        return;
    }
    let server = metrics_api::spawn_server(
        "127.0.0.1:0".parse().unwrap(),
        metrics_api::ApiState::new(Arc::clone(&c)),
    )
    .unwrap();
    let prometheus =
        Prometheus::scraping_with(&server.local_addr().to_string(), &["--enable-feature=exemplar-storage"]);
    let data = poll(Duration::from_secs(40), || {
        prometheus.query_exemplars("job_duration_seconds_bucket")
    })
    .unwrap_or_else(|| panic!("no exemplars; target: {:?}", prometheus.first_target()));
    let text = data.to_string();
    assert!(text.contains("\"job_id\":\"job-0042\""), "{text}");
    assert!(text.contains("\"value\":\"7.5\""), "{text}");
    let data =
        poll(Duration::from_secs(20), || prometheus.query_exemplars("requests_total")).expect("no counter exemplars");
    assert!(data.to_string().contains("4bf92f3577b34da6a3ce929d0e0e4736"), "{data}");
    drop(server);
}
