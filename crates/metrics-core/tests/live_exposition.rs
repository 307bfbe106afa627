//! `MetricsCollector::exposition` writes from the live series; it must say
//! exactly what `encode(&aggregate_snapshot())` says, for every kind of
//! family the encoder handles.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{MetricOptions, MetricType, MetricsCollector, MetricsConfig};

fn both_agree(c: &MetricsCollector) {
    for format in [TextFormat::Prometheus, TextFormat::OpenMetrics] {
        let live = c.exposition(format);
        let copied = encode(&c.aggregate_snapshot(), format);
        assert_eq!(live.text, copied.text, "{format:?}");
        assert_eq!(live.conflicts, copied.conflicts, "{format:?}");
        // Into a kept buffer: appended after what it holds, the same text.
        let mut kept = b"# earlier\n".to_vec();
        let conflicts = c.exposition_into(format, &mut kept);
        assert_eq!(kept, [b"# earlier\n".as_slice(), copied.text.as_bytes()].concat());
        assert_eq!(conflicts, copied.conflicts);
    }
}

#[test]
fn every_kind_of_family_reads_the_same_from_the_live_series() {
    let c = MetricsCollector::new(MetricsConfig {
        max_tag_sets_per_series: 3,
        ..MetricsConfig::default()
    });
    // Plain counters, several tag sets, one with a key that needs renaming.
    for (q, n) in [("a", 1), ("b", 2), ("c", 3)] {
        c.increment_counter("jobs.done", &[("queue", q)], n).unwrap();
    }
    c.increment_counter("http.requests", &[("http.method", "GET")], 4)
        .unwrap();
    // Past the cap: the overflow set and the collector's own series.
    for user in ["u1", "u2", "u3", "u4", "u5"] {
        c.increment_counter("logins", &[("user", user)], 1).unwrap();
    }
    // Two series that map to one family (merged), and a gauge pair that
    // clashes (reported).
    c.increment_counter("cache.hits", &[("tier", "l1")], 5).unwrap();
    c.increment_counter("cache_hits", &[("tier", "l1")], 6).unwrap();
    c.set_gauge("queue.depth", &[("q", "x")], 7.0).unwrap();
    c.set_gauge("queue_depth", &[("q", "x")], 8.0).unwrap();
    // A family of its own per kind, no exemplars, nothing removed: written
    // tag set by tag set from the cells (escaped values, fractions, signs).
    c.set_gauge("room.temperature", &[("room", "a \"b\"\n")], -3.25)
        .unwrap();
    c.set_gauge("room.temperature", &[("room", "c")], 1e21).unwrap();
    c.increment_counter("bytes.sent", &[("peer", "x"), ("proto", "tcp")], 1 << 60)
        .unwrap();
    // A histogram with its own buckets and a unit, a timer, exemplars.
    c.describe_metric(
        "payload.size",
        MetricType::Histogram,
        MetricOptions {
            buckets: Some(vec![10.0, 100.0, 1000.0]),
            unit: Some("bytes".into()),
            description: Some("Payload sizes".into()),
            ..MetricOptions::default()
        },
    )
    .unwrap();
    for v in [5.0, 50.0, 500.0, 5000.0] {
        c.observe_histogram("payload.size", &[("dir", "in")], v).unwrap();
    }
    c.observe_histogram_with_exemplar("payload.size", &[("dir", "out")], 42.0, &[("trace_id", "abc")])
        .unwrap();
    c.record_duration("step", &[("name", "build")], Duration::from_millis(30))
        .unwrap();
    c.increment_counter_with_exemplar("jobs.done", &[("queue", "a")], 1, &[("trace_id", "def")])
        .unwrap();
    // A removed tag set is left out of both.
    c.increment_counter("batches", &[("state", "kept")], 1).unwrap();
    c.increment_counter("batches", &[("state", "gone")], 1).unwrap();
    assert!(c.remove("batches", &[("state", "gone")]));
    // A series with no tag set yet.
    c.describe_metric("never.used", MetricType::Histogram, MetricOptions::default())
        .unwrap();
    both_agree(&c);
    let text = c.exposition(TextFormat::OpenMetrics).text;
    assert!(text.contains("jobs_done_total{queue=\"b\"} 2.0\n"), "{text}");
    assert!(text.contains("cache_hits_total{tier=\"l1\"} 11.0\n"), "{text}");
    assert!(text.contains("batches_total{state=\"kept\"} 1.0\n"), "{text}");
    assert!(
        text.contains("room_temperature{room=\"a \\\"b\\\"\\n\"} -3.25\n"),
        "{text}"
    );
    assert!(text.contains("bytes_sent_total{peer=\"x\",proto=\"tcp\"} "), "{text}");
    assert!(text.contains("trace_id=\"abc\""), "{text}");
    assert!(!text.contains("gone"), "{text}");
    assert!(text.contains("overflow"), "the cap's self-metric: {text}");
    assert!(text.ends_with("# EOF\n"));
    let conflicts = c.exposition(TextFormat::Prometheus).conflicts;
    assert!(conflicts.iter().any(|x| x.series == "queue_depth"), "{conflicts:?}");
}

#[test]
fn an_empty_collector_reads_the_same() {
    both_agree(&MetricsCollector::default());
}
