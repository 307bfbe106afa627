//! Remote write into the real engines: Prometheus 2.42
//! (`--web.enable-remote-write-receiver`) and VictoriaMetrics 1.79. Every
//! series of the collector's own Prometheus exposition arrives with the
//! value the exposition shows, and the retained samples are stored at their
//! own timestamps with the values the JSON export implies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{collector_with_history, exported_samples, running_totals};
use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{MetricType, MetricsCollector};
use metrics_remote::{MemoryPosition, SendConfig, SendStats, Sender, Target};
use test_support::{Prometheus, VictoriaMetrics, poll};

const SAMPLES: i64 = 40;

/// Records history, sends it over a few intervals while recording more,
/// and shuts down. Returns the collector and the first sample's time.
fn run_sender(url: &str) -> (Arc<MetricsCollector>, time::OffsetDateTime, SendStats) {
    let (c, start) = collector_with_history(SAMPLES);
    let c = Arc::new(c);
    let config = SendConfig {
        interval: Duration::from_millis(300),
        max_samples_per_batch: 100,
        ..SendConfig::default()
    };
    let sender = Sender::start(
        Arc::clone(&c),
        Target::remote_write(url).unwrap(),
        config,
        Box::new(MemoryPosition::new()),
        None,
    )
    .unwrap();
    for i in 0..4 {
        std::thread::sleep(Duration::from_millis(250));
        c.record_metric("test.jobs", 1.0, &[("queue", "fast")], MetricType::Counter)
            .unwrap();
        c.record_metric("test.in_flight", f64::from(i), &[("host", "a")], MetricType::Gauge)
            .unwrap();
    }
    let stats = sender.shutdown();
    assert!(stats.all_sent(), "{stats:?}");
    (c, start, stats)
}

/// (PromQL selector, value) of every sample line of the exposition.
fn exposition_series(c: &MetricsCollector) -> Vec<(String, f64)> {
    encode(&c.aggregate_snapshot(), TextFormat::Prometheus)
        .text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap(),
            };
            (series.to_owned(), value)
        })
        .collect()
}

/// VictoriaMetrics stores floats as decimals of about 15 significant
/// digits, so a value may come back off by its last bit (Prometheus keeps
/// them exactly, and is compared exactly).
fn vm_equal(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn value_of(result: &serde_json::Value) -> Option<f64> {
    result[0]["value"][1].as_str()?.parse().ok()
}

/// Raw samples of a range-vector query result: (ms, value).
fn raw_samples(result: &serde_json::Value) -> Vec<(i64, f64)> {
    result[0]["values"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|p| {
                    (
                        (p[0].as_f64().unwrap() * 1000.0).round() as i64,
                        p[1].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The counter's and the histogram count's samples, as the JSON export
/// implies them.
fn expected_history(c: &MetricsCollector) -> Vec<(&'static str, Vec<(i64, f64)>)> {
    let jobs = running_totals(&exported_samples(c, "test.jobs", Some(("queue", "slow"))));
    let latency: Vec<(i64, f64)> = exported_samples(c, "test.latency", None)
        .iter()
        .enumerate()
        .map(|(i, s)| (s.0, (i + 1) as f64))
        .collect();
    let gauge = exported_samples(c, "test.in_flight", None);
    vec![
        ("test_jobs_total{queue=\"slow\"}", jobs),
        ("test_latency_count{step=\"build\"}", latency),
        ("test_in_flight{host=\"a\"}", gauge),
    ]
}

#[test]
fn prometheus_stores_every_series_with_the_exported_values_at_their_own_timestamps() {
    if !test_support::have_prometheus() {
        return;
    }
    let prom = Prometheus::remote_write_receiver();
    let (c, start, _) = run_sender(&format!("{}/api/v1/write", prom.url()));
    let series = exposition_series(&c);
    assert!(series.len() > 10, "{series:?}");
    for (selector, value) in &series {
        let got = poll(Duration::from_secs(20), || value_of(&prom.query_result(selector)?));
        assert_eq!(got, Some(*value), "{selector}");
    }
    for (selector, expected) in expected_history(&c) {
        let result = prom.query_result(&format!("{selector}[1h]")).unwrap();
        let raw = raw_samples(&result);
        for e in &expected {
            assert!(raw.contains(e), "{selector}: {e:?} missing from {raw:?}");
        }
        let mut times: Vec<i64> = raw.iter().map(|s| s.0).collect();
        times.dedup();
        assert_eq!(times.len(), raw.len(), "{selector}: a timestamp twice");
    }
    // query_range over the run's window, one step per sample second: each
    // step shows the sample recorded at that second, not the push time.
    let first = start.unix_timestamp() as f64;
    let last = first + (SAMPLES - 1) as f64;
    let result = prom
        .query_range("test_jobs_total{queue=\"slow\"}", first, last, 1.0)
        .unwrap();
    let steps = raw_samples(&result);
    let expected = running_totals(&exported_samples(&c, "test.jobs", Some(("queue", "slow"))));
    assert_eq!(steps.first(), expected.first(), "{steps:?}");
    for (t, v) in &expected {
        // Before the next sample, each step holds this one's value.
        assert!(steps.contains(&(*t, *v)), "step at {t} should be {v}: {steps:?}");
    }
}

#[test]
fn victoria_metrics_stores_every_series_with_the_exported_values_at_their_own_timestamps() {
    if !test_support::have_victoria_metrics() {
        return;
    }
    let vm = VictoriaMetrics::start();
    let (c, start, _) = run_sender(&format!("{}/api/v1/write", vm.url));
    let series = exposition_series(&c);
    for (selector, value) in &series {
        // VictoriaMetrics makes samples searchable within a second or so.
        let _ = poll(Duration::from_secs(20), || {
            vm_equal(value_of(&vm.query_result(selector)?)?, *value).then_some(())
        });
        let got = value_of(&vm.query_result(selector).unwrap()).unwrap();
        assert!(vm_equal(got, *value), "{selector}: {got} != {value}");
    }
    for (selector, expected) in expected_history(&c) {
        let exported = poll(Duration::from_secs(20), || {
            let e = vm.export(selector);
            (!e.is_empty()).then_some(e)
        })
        .unwrap_or_default();
        assert_eq!(exported.len(), 1, "{selector}: {exported:?}");
        let times = exported[0]["timestamps"].as_array().unwrap();
        let values = exported[0]["values"].as_array().unwrap();
        let raw: Vec<(i64, f64)> = times
            .iter()
            .zip(values)
            .map(|(t, v)| (t.as_i64().unwrap(), v.as_f64().unwrap()))
            .collect();
        for e in &expected {
            assert!(raw.contains(e), "{selector}: {e:?} missing from {raw:?}");
        }
        let mut ts: Vec<i64> = raw.iter().map(|s| s.0).collect();
        ts.sort_unstable();
        ts.dedup();
        assert_eq!(ts.len(), raw.len(), "{selector}: a timestamp twice in {raw:?}");
        assert!(raw[0].0 >= start.unix_timestamp() * 1000);
    }
}

/// After a crash, the batch that was in flight may already be stored.
/// Prometheus answers a request holding any sample it already has with 400
/// and keeps nothing of it, so a restarted sender sends that batch alone:
/// its 400 costs nothing, and every newer sample still arrives.
#[test]
fn prometheus_gets_every_sample_once_when_a_restarted_sender_resends_its_in_flight_batch() {
    if !test_support::have_prometheus() {
        return;
    }
    let prom = Prometheus::remote_write_receiver();
    let url = format!("{}/api/v1/write", prom.url());
    let start = common::whole_seconds_ago(100).unix_timestamp();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("position.json");
    let config = SendConfig {
        max_samples_per_batch: 5,
        ..SendConfig::default()
    };
    // The first process: samples 0..10 sent in two batches of five; the
    // second was stored by Prometheus, but the process died before saving
    // that, so the position says 0..=4 acknowledged and 5..=9 in flight.
    let mut first = metrics_remote::FilePosition::new(&path, url.clone());
    let stats = metrics_remote::push_history(
        &common::gauge_history(start, 10),
        Target::remote_write(&url).unwrap(),
        &config,
        &mut first,
        None,
    )
    .unwrap();
    assert_eq!(stats.sent_batches, 2);
    let mut crashed = metrics_remote::MemoryPosition::new();
    let ms = |i: i64| (start + i) * 1000;
    use metrics_remote::SendPosition;
    crashed
        .save(&metrics_remote::Positions::from([("resume_gauge".to_owned(), ms(4))]))
        .unwrap();
    crashed
        .save_in_flight(&metrics_remote::Positions::from([("resume_gauge".to_owned(), ms(9))]))
        .unwrap();
    // The restarted process holds 20 samples.
    let stats = metrics_remote::push_history(
        &common::gauge_history(start, 20),
        Target::remote_write(&url).unwrap(),
        &config,
        &mut crashed,
        None,
    )
    .unwrap();
    assert_eq!(stats.rejected_batches, 1, "the re-sent batch: {stats:?}");
    assert_eq!(stats.sent_samples, 10, "{stats:?}");
    let raw = raw_samples(&prom.query_result("resume_gauge[1h]").unwrap());
    let expected: Vec<(i64, f64)> = (0..20).map(|i| (ms(i), i as f64)).collect();
    assert_eq!(raw, expected);
}

/// VictoriaMetrics takes a re-sent batch (any order is fine), and with
/// `-dedup.minScrapeInterval=1ms` (the configuration docs/scaling.md gives)
/// keeps each sample once.
#[test]
fn victoria_metrics_keeps_a_resent_batch_once_with_millisecond_dedup() {
    if !test_support::have_victoria_metrics() {
        return;
    }
    let vm = VictoriaMetrics::start_with(&["-dedup.minScrapeInterval=1ms"]);
    let url = format!("{}/api/v1/write", vm.url);
    let start = common::whole_seconds_ago(100).unix_timestamp();
    let config = SendConfig {
        max_samples_per_batch: 5,
        ..SendConfig::default()
    };
    let ms = |i: i64| (start + i) * 1000;
    use metrics_remote::SendPosition;
    let mut first = MemoryPosition::new();
    metrics_remote::push_history(
        &common::gauge_history(start, 10),
        Target::remote_write(&url).unwrap(),
        &config,
        &mut first,
        None,
    )
    .unwrap();
    let mut crashed = MemoryPosition::new();
    crashed
        .save(&metrics_remote::Positions::from([("resume_gauge".to_owned(), ms(4))]))
        .unwrap();
    crashed
        .save_in_flight(&metrics_remote::Positions::from([("resume_gauge".to_owned(), ms(9))]))
        .unwrap();
    let stats = metrics_remote::push_history(
        &common::gauge_history(start, 20),
        Target::remote_write(&url).unwrap(),
        &config,
        &mut crashed,
        None,
    )
    .unwrap();
    assert!(stats.all_sent(), "{stats:?}");
    let expected: Vec<i64> = (0..20).map(ms).collect();
    // Until the engine holds exactly the history (what it holds meanwhile,
    // unmerged, may still change); the last reading is what fails.
    let mut last = Vec::new();
    let times = poll(Duration::from_secs(20), || {
        let e = vm.export("resume_gauge");
        last = e.first()?["timestamps"]
            .as_array()?
            .iter()
            .filter_map(serde_json::Value::as_i64)
            .collect();
        (last == expected).then(|| last.clone())
    });
    assert_eq!(times.unwrap_or(last), expected);
}
