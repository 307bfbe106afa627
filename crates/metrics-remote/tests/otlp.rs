//! OTLP/HTTP export decoded by the official protobuf definitions (PyPI
//! `opentelemetry-proto`) in a small Python receiver the test starts:
//! names, types, temporality, attributes, bucket counts and timestamps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{collector_with_history, exported_samples, running_totals};
use metrics_remote::{MemoryPosition, SendConfig, Sender, Target};
use serde_json::Value;
use test_support::{Killed, poll};

const RECEIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/otlp_receiver.py");

fn ns(ms: i64) -> u64 {
    (ms * 1_000_000) as u64
}

#[test]
fn otlp_requests_decode_with_the_official_definitions() {
    if !test_support::have_otlp_proto() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let records = dir.path().join("records.jsonl");
    let _receiver = Killed(
        Command::new("python3")
            .arg(RECEIVER)
            .arg(&port_file)
            .arg(&records)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let port = poll(Duration::from_secs(20), || std::fs::read_to_string(&port_file).ok()).expect("receiver port");

    let (c, _) = collector_with_history(12);
    let c = Arc::new(c);
    let target = Target::otlp(&format!("http://127.0.0.1:{port}"), "bykilt-test").unwrap();
    let config = SendConfig {
        interval: Duration::from_secs(3600),
        max_samples_per_batch: 25,
        ..SendConfig::default()
    };
    let sender = Sender::start(Arc::clone(&c), target, config, Box::new(MemoryPosition::new()), None).unwrap();
    let stats = sender.shutdown();
    assert!(stats.all_sent(), "{stats:?}");
    assert!(stats.sent_batches > 1, "batches are bounded: {stats:?}");

    let text = std::fs::read_to_string(&records).unwrap();
    let recs: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(recs.iter().all(|r| r.get("error").is_none()), "{text}");
    for r in &recs {
        assert_eq!(r["path"], "/v1/metrics");
        assert_eq!(r["content_type"], "application/x-protobuf");
        assert_eq!(r["resource"]["service.name"], "bykilt-test");
        assert_eq!(r["scope"], "bykilt-metrics");
    }
    // Points of one metric (and tag value), across requests.
    let points = |name: &str, tag: Option<(&str, &str)>| -> (Vec<&Value>, Vec<Value>) {
        let ms: Vec<&Value> = recs.iter().filter(|r| r["name"] == name).collect();
        let pts = ms
            .iter()
            .flat_map(|r| r["points"].as_array().unwrap().clone())
            .filter(|p| tag.is_none_or(|(k, v)| p["attrs"][k] == v))
            .collect();
        (ms, pts)
    };

    let (ms, pts) = points("test.jobs", Some(("queue", "slow")));
    for m in &ms {
        assert_eq!(m["kind"], "sum");
        assert_eq!(m["temporality"], 2, "cumulative");
        assert_eq!(m["monotonic"], true);
    }
    let expected = running_totals(&exported_samples(&c, "test.jobs", Some(("queue", "slow"))));
    let got: Vec<(u64, f64)> = pts
        .iter()
        .map(|p| (p["time"].as_u64().unwrap(), p["value"].as_f64().unwrap()))
        .collect();
    // One point per sample at its own time; the aggregate (sent at the
    // time of the last read) closes the list with the same total.
    for (t, v) in &expected {
        assert!(got.contains(&(ns(*t), *v)), "{t} {v} missing from {got:?}");
    }
    assert_eq!(got.last().map(|p| p.1), expected.last().map(|p| p.1));
    let start = pts[0]["start"].as_u64().unwrap();
    assert!(start > 0 && pts.iter().all(|p| p["start"].as_u64() == Some(start)));
    assert!(pts.iter().all(|p| p["attrs"].as_object().unwrap().len() == 1));

    let (ms, pts) = points("test.in_flight", Some(("host", "a")));
    assert!(ms.iter().all(|m| m["kind"] == "gauge"));
    let gauge: Vec<(u64, f64)> = exported_samples(&c, "test.in_flight", None)
        .iter()
        .map(|s| (ns(s.0), s.1))
        .collect();
    let got: Vec<(u64, f64)> = pts
        .iter()
        .map(|p| (p["time"].as_u64().unwrap(), p["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(&got[..gauge.len()], &gauge[..]);

    let (ms, pts) = points("test.latency", Some(("step", "build")));
    assert!(ms.iter().all(|m| m["kind"] == "histogram" && m["temporality"] == 2));
    let observations = exported_samples(&c, "test.latency", None);
    assert_eq!(
        pts.len(),
        observations.len() + 1,
        "one point per observation, then the aggregate"
    );
    for (i, (p, o)) in pts.iter().zip(&observations).enumerate() {
        assert_eq!(p["time"].as_u64(), Some(ns(o.0)));
        assert_eq!(p["count"].as_u64(), Some(i as u64 + 1));
        assert_eq!(p["has_min"], false);
    }
    let last = pts.last().unwrap();
    assert_eq!(last["bounds"], serde_json::json!([0.5, 1.0, 2.5]));
    let mut buckets = [0u64; 4];
    for (_, v) in &observations {
        let i = [0.5, 1.0, 2.5].iter().position(|b| v <= b).unwrap_or(3);
        buckets[i] += 1;
    }
    assert_eq!(last["buckets"], serde_json::json!(buckets));
    assert_eq!(last["has_min"], true);
    let sum: f64 = observations.iter().map(|o| o.1).sum();
    assert!((last["sum"].as_f64().unwrap() - sum).abs() < 1e-9);

    let (ms, pts) = points("test.run", None);
    assert!(ms.iter().all(|m| m["kind"] == "histogram" && m["unit"] == "s"));
    assert_eq!(
        pts.last().unwrap()["count"].as_u64(),
        Some(exported_samples(&c, "test.run", None).len() as u64)
    );
}
