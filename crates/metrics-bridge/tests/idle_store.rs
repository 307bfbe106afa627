//! Series that went idle (issue 17): a facade library's tag set not updated
//! for `idle_timeout` leaves the exposition and the collector's memory, and
//! its history stays in the durable store attached to the collector (a
//! real `metrics.db` through metrics-store). Driven by a manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_bridge::MetricsRecorder;
use metrics_core::clock::{Clock, ManualClock};
use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{MetricsCollector, MetricsConfig, SamplePolicy};
use metrics_store::{MetricsStore, RunInfo, SampleQuery, StoreOptions, StoreReader};

#[test]
fn an_idle_tag_set_leaves_exposition_and_memory_and_its_history_stays_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    // Now, so that the database's 30-day retention keeps the samples.
    let now = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let config = MetricsConfig {
        idle_timeout: Some(Duration::from_secs(60)),
        ..MetricsConfig::default()
    };
    let collector = Arc::new(MetricsCollector::with_clock(
        config,
        Arc::clone(&clock) as Arc<dyn Clock>,
    ));
    let store = MetricsStore::open(&path, StoreOptions::default()).unwrap();
    let run = store.begin_run(&RunInfo::current("idle-run")).unwrap();
    let recording = store.record(Arc::clone(&collector), run).unwrap();
    let recorder = MetricsRecorder::new(Arc::clone(&collector)).with_sample_policy(SamplePolicy::EveryEvent);

    metrics::with_local_recorder(&recorder, || {
        facade_library::request("GET", 200, 0.1, 10);
        facade_library::request("POST", 500, 0.2, 10);
    });
    let text = || encode(&collector.aggregate_snapshot(), TextFormat::Prometheus).text;
    assert!(text().contains("method=\"POST\""));
    // GET keeps going; POST goes quiet for 90 s.
    for _ in 0..3 {
        clock.advance(Duration::from_secs(30));
        metrics::with_local_recorder(&recorder, || facade_library::request("GET", 200, 0.1, 10));
        let _ = text();
    }
    let exposition = text();
    assert!(!exposition.contains("method=\"POST\""), "{exposition}");
    assert!(
        exposition.contains("client_requests_total{method=\"GET\",status=\"200\"} 4.0\n"),
        "{exposition}"
    );
    let requests = collector.get_metric_series(facade_library::REQUESTS).unwrap();
    assert_eq!(requests.tag_sets().len(), 1, "{:?}", requests.tag_sets());
    // A facade call after the expiry starts POST again from 0: a counter reset.
    metrics::with_local_recorder(&recorder, || facade_library::request("POST", 500, 0.3, 10));
    assert!(
        text().contains("client_requests_total{method=\"POST\",status=\"500\"} 1.0\n"),
        "{}",
        text()
    );
    // A tag set first recorded after the expiry is stored under its own tags.
    metrics::with_local_recorder(&recorder, || facade_library::request("PUT", 201, 0.4, 10));
    let (_, status) = recording.finish().unwrap();
    assert_eq!((status.failed, status.dropped), (0, 0), "{status:?}");

    // The database still has the expired tag set's history: both POST requests.
    let reader = StoreReader::open(&path).unwrap();
    let mut post = SampleQuery::new(facade_library::LATENCY);
    post.tags = vec![("method".into(), "POST".into())];
    let stored: Vec<f64> = reader.query(&post).unwrap().iter().map(|s| s.value).collect();
    assert_eq!(stored, [0.2, 0.3]);
    let mut get = SampleQuery::new(facade_library::REQUESTS);
    get.tags = vec![("method".into(), "GET".into())];
    assert_eq!(reader.query(&get).unwrap().len(), 4);
    let mut put = SampleQuery::new(facade_library::LATENCY);
    put.tags = vec![("method".into(), "PUT".into())];
    let stored: Vec<f64> = reader.query(&put).unwrap().iter().map(|s| s.value).collect();
    assert_eq!(stored, [0.4]);
    let all = reader.query(&SampleQuery::new(facade_library::LATENCY)).unwrap();
    assert_eq!(all.len(), 7, "{all:?}");
}
