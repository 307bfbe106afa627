//! JSON export: the seed's shape, a lossless round trip through
//! `export::json::decode`, and `import_json` into a fresh collector.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_core::clock::{Clock, ManualClock};
use metrics_core::export::json::decode;
use metrics_core::{AggregateValue, MetricType, MetricValue, MetricsCollector, MetricsConfig, MetricsError, TagSet};
use time::format_description::well_known::Rfc3339;

/// 2026-11-28T05:00:00.123456789Z: nanoseconds must survive the round trip.
const BASE_NANOS: i64 = 1_795_842_000_123_456_789;

fn collector() -> (MetricsCollector, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(BASE_NANOS));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    (MetricsCollector::with_clock(MetricsConfig::default(), dyn_clock), clock)
}

/// Deterministic values whose decimal forms are awkward: tiny, huge,
/// negative, non-terminating binary fractions, and raw bit patterns.
fn awkward_values() -> Vec<f64> {
    let mut values = vec![
        0.1 + 0.2,
        1e-300,
        -2.5e300,
        123_456.789e10,
        -0.0,
        5e-324,
        1.0 / 3.0,
        -7.0,
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while values.len() < 200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = f64::from_bits(x);
        if v.is_finite() {
            values.push(v);
        }
    }
    values
}

/// A collector holding every metric type, varied tags (unicode, quotes,
/// newlines, commas) and awkward values.
fn populated() -> MetricsCollector {
    let (c, clock) = collector();
    let tags: [&[(&str, &str)]; 4] = [
        &[],
        &[("status", "completed"), ("batch_id", "b-1")],
        &[("note", "said \"hi\",\nthen left"), ("ünï", "cødé ✓")],
        &[("route", "/jobs/{id}")],
    ];
    for (i, v) in awkward_values().into_iter().enumerate() {
        let t = tags[i % tags.len()];
        c.record_metric("gauge.value", v, t, MetricType::Gauge).unwrap();
        c.record_metric("histogram \"quoted\" name", v, t, MetricType::Histogram)
            .unwrap();
        c.record_metric("counter_total", v.abs(), t, MetricType::Counter)
            .unwrap();
        c.record_metric("timer_seconds", v.abs() % 1e6, t, MetricType::Timer)
            .unwrap();
        clock.advance(Duration::from_nanos(1_000_001 * (i as u64 % 7)));
    }
    c
}

fn as_values(export_values: &[metrics_core::export::json::JsonSample<'_>]) -> Vec<MetricValue> {
    export_values
        .iter()
        .map(|s| MetricValue {
            value: s.value,
            timestamp: s.timestamp,
            tags: s.tags.clone(),
            metric_type: s.metric_type,
        })
        .collect()
}

type Exact = (u64, i128, TagSet, MetricType);

fn bits(values: &[MetricValue]) -> Vec<Exact> {
    values
        .iter()
        .map(|v| {
            (
                v.value.to_bits(),
                v.timestamp.unix_timestamp_nanos(),
                v.tags.clone(),
                v.metric_type,
            )
        })
        .collect()
}

/// Asserts equal lists, reporting the first difference (values as floats).
fn assert_same(got: &[Exact], expected: &[Exact], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: lengths differ");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != expected[i]) {
        panic!(
            "{what}: sample {i} differs: got {:?} (value {:e}), expected {:?} (value {:e})",
            got[i],
            f64::from_bits(got[i].0),
            expected[i],
            f64::from_bits(expected[i].0)
        );
    }
}

#[test]
fn decoded_export_matches_values_of_every_series_bit_for_bit() {
    let c = populated();
    let export = decode(&c.export_to_json()).unwrap();
    let names: Vec<&str> = export.keys().map(|k| k.as_ref()).collect();
    let listed: Vec<String> = c.list_series().into_iter().map(|s| s.name).collect();
    assert_eq!(names, listed);
    for (name, series) in &export {
        let live = c.get_metric_series(name).unwrap();
        assert_eq!(series.metric_type, live.metric_type(), "{name}");
        assert!(series.values.iter().all(|s| s.name == *name), "{name}: sample names");
        assert_same(&bits(&as_values(&series.values)), &bits(&live.values()), name);
    }
}

#[test]
fn export_has_the_seed_shape() {
    let c = populated();
    let json: serde_json::Value = serde_json::from_str(&c.export_to_json()).unwrap();
    let top = json.as_object().unwrap();
    assert_eq!(top.len(), 4);
    for (name, series) in top {
        let ty = series["type"].as_str().unwrap();
        assert!(ty.parse::<MetricType>().is_ok(), "{name}: type {ty}");
        let values = series["values"].as_array().unwrap();
        assert_eq!(values.len(), 200, "{name}");
        for v in values {
            let obj = v.as_object().unwrap();
            for key in ["name", "value", "timestamp", "tags", "type"] {
                assert!(obj.contains_key(key), "{name}: sample without {key}: {v}");
            }
            assert_eq!(obj["name"].as_str(), Some(name.as_str()));
            assert!(obj["value"].is_number());
            assert_eq!(obj["type"].as_str(), Some(ty));
            assert!(
                obj["tags"]
                    .as_object()
                    .unwrap()
                    .values()
                    .all(serde_json::Value::is_string)
            );
            let ts = obj["timestamp"].as_str().unwrap();
            let parsed = time::OffsetDateTime::parse(ts, &Rfc3339).unwrap();
            assert_eq!(parsed.offset(), time::UtcOffset::UTC, "{ts}");
        }
    }
    let first = &top["counter_total"]["values"][0];
    assert_eq!(first["timestamp"].as_str(), Some("2026-11-28T05:00:00.123456789Z"));
    assert_eq!(first["tags"], serde_json::json!({}));
    assert_eq!(top["counter_total"]["type"], serde_json::json!("counter"));
    assert_eq!(top["timer_seconds"]["type"], serde_json::json!("timer"));
    assert_eq!(top["gauge.value"]["dropped_samples"], serde_json::json!(0));
}

#[test]
fn import_json_into_a_fresh_collector_reproduces_the_samples() {
    let source = populated();
    let json = source.export_to_json();
    let (target, _clock) = collector();
    let stats = target.import_json(&json).unwrap();
    assert_eq!(stats.series, 4);
    assert_eq!(stats.samples, 800);
    assert_eq!(target.list_series(), source.list_series());
    for info in source.list_series() {
        let a = source.get_metric_series(&info.name).unwrap();
        let b = target.get_metric_series(&info.name).unwrap();
        assert_eq!(a.metric_type(), b.metric_type());
        assert_same(&bits(&b.values()), &bits(&a.values()), &info.name);
        assert_eq!(a.tag_sets().len(), b.tag_sets().len(), "{}", info.name);
    }
    // Nothing was dropped, so the aggregates rebuilt from the samples agree.
    let gauges = source.get_metric_series("gauge.value").unwrap();
    let imported = target.get_metric_series("gauge.value").unwrap();
    assert_eq!(gauges.aggregates(), imported.aggregates());
    let hist = |c: &MetricsCollector| match c
        .get_metric_series("histogram \"quoted\" name")
        .unwrap()
        .aggregate(&[("status", "completed"), ("batch_id", "b-1")])
    {
        Some(AggregateValue::Histogram(h)) => (h.count, h.min, h.max),
        other => panic!("expected a histogram, got {other:?}"),
    };
    assert_eq!(hist(&source), hist(&target));
    // A second export of the imported data is the same document.
    assert_eq!(
        decode(&target.export_to_json()).unwrap()["counter_total"].values,
        decode(&json).unwrap()["counter_total"].values
    );
}

#[test]
fn export_json_to_writes_the_same_document_and_creates_directories() {
    let c = populated();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/metrics.json");
    let written = c.export_json_to(&path).unwrap();
    assert_eq!(written, path);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(decode(&text).unwrap(), decode(&c.export_to_json()).unwrap());
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left beside the export");
}

#[test]
fn an_empty_collector_exports_an_empty_object() {
    let (c, _clock) = collector();
    let json: serde_json::Value = serde_json::from_str(&c.export_to_json()).unwrap();
    assert_eq!(json, serde_json::json!({}));
    assert!(decode(&c.export_to_json()).unwrap().is_empty());
}

#[test]
fn malformed_json_is_a_json_error_and_imports_nothing() {
    let (c, _clock) = collector();
    for bad in [
        "",
        "[]",
        "{\"m\": {\"type\": \"meter\", \"values\": []}}",
        "{\"m\": {\"type\": \"gauge\", \"values\": [{\"name\": \"m\", \"value\": 1, \"timestamp\": \"yesterday\", \"tags\": {}, \"type\": \"gauge\"}]}}",
        "{\"m\": {\"type\": \"gauge\", \"values\": [{\"name\": \"m\", \"value\": \"NaN\", \"timestamp\": \"2026-01-01T00:00:00Z\", \"tags\": {}, \"type\": \"gauge\"}]}}",
    ] {
        let err = c.import_json(bad).unwrap_err();
        assert!(matches!(err, MetricsError::Json(_)), "{bad:?}: {err:?}");
    }
    assert!(c.list_series().is_empty());
}

#[test]
fn import_rejects_a_negative_counter_sample_naming_it() {
    let (c, _clock) = collector();
    let json = r#"{"jobs": {"type": "counter", "values": [
        {"name": "jobs", "value": 2, "timestamp": "2026-11-28T05:00:00Z", "tags": {}, "type": "counter"},
        {"name": "jobs", "value": -4.5, "timestamp": "2026-11-28T05:00:01Z", "tags": {}, "type": "counter"}]}}"#;
    let err = c.import_json(json).unwrap_err();
    assert!(
        matches!(err, MetricsError::NegativeCounterIncrement { value, .. } if value == -4.5),
        "{err:?}"
    );
    assert!(err.to_string().contains("-4.5"), "{err}");
    // The sample before the bad one stays recorded, as documented.
    let values = c.get_metric_series("jobs").unwrap().values();
    assert_eq!(values.iter().map(|v| v.value).collect::<Vec<_>>(), vec![2.0]);
}
