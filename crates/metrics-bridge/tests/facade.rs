//! A library that only knows the `metrics` facade (`facade-library`),
//! instrumented through [`MetricsRecorder`]: its series reach the
//! collector, the durable store (a real `metrics.db` through
//! metrics-store), `export_to_json()`, the Prometheus and OpenMetrics text, `/metrics`
//! (checked by promtool and the strict OpenMetrics parser) and a real
//! Prometheus scraping it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_bridge::MetricsRecorder;
use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{AggregateValue, MetricType, MetricsCollector, SamplePolicy};
use metrics_store::{MetricsStore, RunFilter, SampleQuery, StoreOptions, StoreReader};
use test_support::{Prometheus, have_openmetrics_parser, have_promtool, http_get, require, runs, sample_value};

/// Runs the library's traffic: 3 GET 200, 1 POST 500, and an absolute gauge.
fn run_library(recorder: &MetricsRecorder) {
    metrics::with_local_recorder(recorder, || {
        facade_library::describe();
        for i in 0..3 {
            facade_library::request("GET", 200, 0.010 * f64::from(i + 1), 512);
        }
        facade_library::request("POST", 500, 1.5, 64);
        facade_library::set_in_flight(2.0);
    });
}

fn instrumented() -> (Arc<MetricsCollector>, MetricsRecorder) {
    let collector = Arc::new(MetricsCollector::default());
    let recorder = MetricsRecorder::new(Arc::clone(&collector));
    run_library(&recorder);
    (collector, recorder)
}

#[test]
fn the_library_series_are_in_the_store_with_tags_and_help() {
    let (c, r) = instrumented();
    let requests = c.get_metric_series(facade_library::REQUESTS).unwrap();
    assert_eq!(
        requests.aggregate(&[("method", "GET"), ("status", "200")]),
        Some(AggregateValue::Counter { total: 3.0 })
    );
    assert_eq!(
        requests.aggregate(&[("method", "POST"), ("status", "500")]),
        Some(AggregateValue::Counter { total: 1.0 })
    );
    assert_eq!(
        requests.description().as_deref(),
        Some("Requests sent, by method and status.")
    );
    let Some(AggregateValue::Histogram(latency)) = c
        .get_metric_series(facade_library::LATENCY)
        .unwrap()
        .aggregate(&[("method", "GET")])
    else {
        panic!("no latency histogram for GET");
    };
    assert_eq!(latency.count, 3);
    assert!((latency.sum - 0.06).abs() < 1e-9, "sum {}", latency.sum);
    assert_eq!(
        c.get_metric_series(facade_library::IN_FLIGHT).unwrap().aggregate(&[]),
        Some(AggregateValue::Gauge { value: 2.0 })
    );
    assert_eq!(r.unit(facade_library::LATENCY), Some(metrics::Unit::Seconds));
    assert_eq!(r.unit(facade_library::RESPONSE_BYTES), Some(metrics::Unit::Bytes));
    assert_eq!(r.rejected_registrations(), 0);
}

/// Runs the library through `recorder` while `collector` records into a
/// new `metrics.db`, finishes the recording, and opens the database again
/// for reading, as a later process would.
fn run_into_a_database(
    collector: &Arc<MetricsCollector>,
    recorder: &MetricsRecorder,
) -> (tempfile::TempDir, StoreReader) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let store = MetricsStore::open(&path, StoreOptions::default()).unwrap();
    let run = store.begin_run(&metrics_store::RunInfo::current("facade-run")).unwrap();
    let recording = store.record(Arc::clone(collector), run).unwrap();
    run_library(recorder);
    let (store, status) = recording.finish().unwrap();
    assert_eq!(status.dropped, 0, "{status:?}");
    assert_eq!(status.first_error, None, "{status:?}");
    drop(store);
    let reader = StoreReader::open(&path).unwrap();
    (dir, reader)
}

#[test]
fn the_library_series_reach_the_durable_store_with_their_samples() {
    // Facade updates keep samples when the series' policy says so.
    let collector = Arc::new(MetricsCollector::default());
    let recorder = MetricsRecorder::new(Arc::clone(&collector)).with_sample_policy(SamplePolicy::EveryEvent);
    let (_dir, reader) = run_into_a_database(&collector, &recorder);

    let series = reader.series().unwrap();
    let stored = |name: &str| {
        series
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} is not in the database: {series:?}"))
    };
    let requests = stored(facade_library::REQUESTS);
    assert_eq!(requests.metric_type, MetricType::Counter);
    assert_eq!(
        requests.description.as_deref(),
        Some("Requests sent, by method and status.")
    );
    let latency = stored(facade_library::LATENCY);
    assert_eq!(latency.metric_type, MetricType::Histogram);
    assert_eq!(latency.unit.as_deref(), Some("seconds"));
    assert_eq!(stored(facade_library::RESPONSE_BYTES).unit.as_deref(), Some("bytes"));

    let mut get = SampleQuery::new(facade_library::REQUESTS);
    get.tags = vec![("method".into(), "GET".into()), ("status".into(), "200".into())];
    let samples = reader.query(&get).unwrap();
    assert_eq!(samples.iter().map(|s| s.value).collect::<Vec<_>>(), [1.0, 1.0, 1.0]);
    assert!(samples.iter().all(|s| s.run == "facade-run"), "{samples:?}");
    let mut post = SampleQuery::new(facade_library::LATENCY);
    post.tags = vec![("method".into(), "POST".into())];
    let samples = reader.query(&post).unwrap();
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert_eq!(samples[0].value, 1.5);
    let all_latencies = reader.query(&SampleQuery::new(facade_library::LATENCY)).unwrap();
    assert_eq!(all_latencies.len(), 4, "{all_latencies:?}");
    // The gauge's increments, decrements and final set are all there, in order.
    let in_flight = reader.query(&SampleQuery::new(facade_library::IN_FLIGHT)).unwrap();
    assert_eq!(in_flight.last().map(|s| s.value), Some(2.0), "{in_flight:?}");
    assert_eq!(in_flight.len(), 9, "{in_flight:?}");
}

#[test]
fn the_library_aggregates_reach_the_durable_store_under_the_default_policy() {
    // The default policy keeps no samples: the store gets the aggregates.
    let collector = Arc::new(MetricsCollector::default());
    let recorder = MetricsRecorder::new(Arc::clone(&collector));
    let (_dir, reader) = run_into_a_database(&collector, &recorder);
    assert!(
        reader
            .query(&SampleQuery::new(facade_library::REQUESTS))
            .unwrap()
            .is_empty()
    );
    let aggregates = reader.latest_aggregates(&RunFilter::Latest).unwrap();
    let find = |name: &str, tags: &[(&str, &str)]| {
        aggregates
            .iter()
            .find(|a| a.name == name && tags.iter().all(|(k, v)| a.tags.get(*k).map(String::as_str) == Some(*v)))
            .map(|a| a.value.clone())
            .unwrap_or_else(|| panic!("no {name} {tags:?} in {aggregates:?}"))
    };
    assert_eq!(
        find(facade_library::REQUESTS, &[("method", "GET"), ("status", "200")]),
        AggregateValue::Counter { total: 3.0 }
    );
    assert_eq!(
        find(facade_library::REQUESTS, &[("method", "POST"), ("status", "500")]),
        AggregateValue::Counter { total: 1.0 }
    );
    assert_eq!(
        find(facade_library::IN_FLIGHT, &[]),
        AggregateValue::Gauge { value: 2.0 }
    );
    let AggregateValue::Histogram(latency) = find(facade_library::LATENCY, &[("method", "GET")]) else {
        panic!("latency is not a histogram");
    };
    assert_eq!(latency.count, 3);
    assert!((latency.sum - 0.06).abs() < 1e-9, "{}", latency.sum);
}

#[test]
fn the_library_series_are_in_the_json_export() {
    let (c, _r) = instrumented();
    let json: serde_json::Value = serde_json::from_str(&c.export_to_json()).unwrap();
    let text = json.to_string();
    for name in [
        facade_library::REQUESTS,
        facade_library::IN_FLIGHT,
        facade_library::LATENCY,
        facade_library::RESPONSE_BYTES,
    ] {
        assert!(text.contains(&format!("\"{name}\"")), "{name} missing from {text}");
    }
    assert!(text.contains("Time from sending a request to its last byte."), "{text}");
    // The counter's per-tag-set totals are in its aggregates.
    let series = &json[facade_library::REQUESTS];
    assert_eq!(series["type"], "counter", "{series}");
    assert_eq!(
        series["description"], "Requests sent, by method and status.",
        "{series}"
    );
    let get = series["aggregates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["tags"]["method"] == "GET" && a["tags"]["status"] == "200")
        .unwrap_or_else(|| panic!("no GET 200 aggregate in {series}"));
    assert_eq!(get["total"], 3.0, "{get}");
}

#[test]
fn the_library_series_are_valid_prometheus_and_openmetrics_text() {
    let (c, _r) = instrumented();
    let prom = encode(&c.aggregate_snapshot(), TextFormat::Prometheus).text;
    assert!(
        prom.contains("# HELP client_requests_total Requests sent, by method and status.\n"),
        "{prom}"
    );
    assert_eq!(
        sample_value(&prom, "client_requests_total{", &["method=\"GET\"", "status=\"200\""]),
        Some(3.0),
        "{prom}"
    );
    assert_eq!(
        sample_value(&prom, "client_request_duration_seconds_count{", &["method=\"POST\""]),
        Some(1.0),
        "{prom}"
    );
    assert_eq!(
        sample_value(&prom, "client_requests_in_flight", &[]),
        Some(2.0),
        "{prom}"
    );
    if have_promtool() {
        let (code, out) = test_support::promtool_check(&prom);
        assert_eq!(code, 0, "promtool check metrics: {out}\n{prom}");
    }
    let om = encode(&c.aggregate_snapshot(), TextFormat::OpenMetrics).text;
    assert!(
        om.contains(
            "# TYPE client_request_duration_seconds histogram\n# UNIT client_request_duration_seconds seconds\n"
        ),
        "{om}"
    );
    assert!(!prom.contains("# UNIT"), "{prom}");
    if have_openmetrics_parser() {
        let (code, out) = test_support::openmetrics_parse(&om);
        assert_eq!(code, 0, "strict OpenMetrics parser: {out}\n{om}");
        // The facade's units reach the exposition: `# UNIT` where the name ends with it.
        assert!(
            out.lines()
                .any(|l| l == "# UNIT client_request_duration_seconds seconds"),
            "{out}"
        );
        assert!(
            out.lines().any(|l| l == "# UNIT client_response_size_bytes bytes"),
            "{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with("client_requests counter client_requests_total")
                    && l.contains("('method', 'GET')")
                    && l.ends_with(" 3.0")),
            "{out}"
        );
    }
}

#[test]
fn the_library_series_are_served_on_metrics_and_scraped_by_prometheus() {
    let (c, _r) = instrumented();
    let server = metrics_api::spawn_server("127.0.0.1:0".parse().unwrap(), metrics_api::ApiState::new(c)).unwrap();
    let addr = server.local_addr();
    let body = http_get(&format!("http://{addr}/metrics")).expect("GET /metrics");
    assert_eq!(
        sample_value(&body, "client_requests_total{", &["method=\"POST\"", "status=\"500\""]),
        Some(1.0),
        "{body}"
    );
    assert!(
        body.contains("# HELP client_response_size_bytes Size of response bodies."),
        "{body}"
    );
    if !require("prometheus", runs("prometheus", &["--version"])) {
        return;
    }
    let prometheus = Prometheus::scraping(&addr.to_string());
    let got = prometheus.query_until(
        "client_requests_total{method=\"GET\",status=\"200\"}",
        Duration::from_secs(40),
    );
    assert_eq!(got, Some(3.0), "target: {:?}", prometheus.first_target());
    let sum = prometheus.query_until(
        "client_request_duration_seconds_sum{method=\"POST\"}",
        Duration::from_secs(20),
    );
    assert_eq!(sum, Some(1.5));
    drop(server);
}

#[test]
fn install_sets_the_global_recorder_once_and_explains_a_second_attempt() {
    // The only test in this binary that touches the global recorder.
    let installed = metrics_bridge::install().expect("first install");
    let error = metrics_bridge::install().expect_err("a second install must fail");
    let message = error.to_string();
    assert!(message.contains("already installed"), "{message}");
    assert!(message.contains("with_local_recorder"), "{message}");
    let again = MetricsRecorder::new(Arc::new(MetricsCollector::default())).install();
    assert!(again.is_err());

    // Without a local recorder, facade calls reach the process-wide collector.
    metrics::counter!("bridge_global_install_checks", "test" => "install").increment(7);
    let global = metrics_core::get_metrics_collector();
    assert!(Arc::ptr_eq(
        installed.collector(),
        &metrics_core::global_metrics_collector()
    ));
    assert_eq!(
        global
            .get_metric_series("bridge_global_install_checks")
            .unwrap()
            .aggregate(&[("test", "install")]),
        Some(AggregateValue::Counter { total: 7.0 })
    );
}

#[test]
fn a_local_recorder_overrides_the_global_one_for_its_scope() {
    let collector = Arc::new(MetricsCollector::default());
    let local = MetricsRecorder::new(Arc::clone(&collector));
    metrics::with_local_recorder(&local, || metrics::counter!("bridge_scoped_only").increment(1));
    assert!(collector.get_metric_series("bridge_scoped_only").is_some());
    assert!(
        metrics_core::get_metrics_collector()
            .get_metric_series("bridge_scoped_only")
            .is_none()
    );
}
