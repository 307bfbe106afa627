//! Exemplars (issue 17): a counter increment or histogram observation can
//! carry one; the latest per bucket is kept and written in OpenMetrics text
//! (checked by the strict OpenMetrics parser), never in Prometheus 0.0.4.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_core::clock::{Clock, ManualClock};
use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{MetricOptions, MetricType, MetricsCollector, MetricsConfig, MetricsError};
use test_support::{have_openmetrics_parser, have_promtool, openmetrics_parse, promtool_check};

const T0: i64 = 1_795_842_000_000_000_000;

fn collector() -> (MetricsCollector, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let c = MetricsCollector::with_clock(MetricsConfig::default(), Arc::clone(&clock) as Arc<dyn Clock>);
    c.describe_metric(
        "job_duration_seconds",
        MetricType::Histogram,
        MetricOptions {
            buckets: Some(vec![1.0, 10.0]),
            ..Default::default()
        },
    )
    .unwrap();
    (c, clock)
}

fn with_exemplars() -> MetricsCollector {
    let (c, clock) = collector();
    let h = c.histogram("job_duration_seconds", &[("status", "ok")]).unwrap();
    h.record_with_exemplar(0.5, &[("job_id", "j-1")]).unwrap();
    clock.advance(Duration::from_millis(1500));
    // Latest wins within a bucket.
    h.record_with_exemplar(0.7, &[("job_id", "j-2")]).unwrap();
    h.record_with_exemplar(42.0, &[("job_id", "j-3")]).unwrap();
    h.record(5.0);
    let counter = c.counter("requests", &[("route", "/a")]).unwrap();
    counter
        .increment_with_exemplar(2, &[("trace_id", "4bf92f3577b34da6")])
        .unwrap();
    c
}

#[test]
fn openmetrics_writes_the_latest_exemplar_of_each_bucket() {
    let text = encode(&with_exemplars().aggregate_snapshot(), TextFormat::OpenMetrics).text;
    assert!(
        text.contains(
            "job_duration_seconds_bucket{status=\"ok\",le=\"1.0\"} 2.0 # {job_id=\"j-2\"} 0.7 1795842001.5\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("job_duration_seconds_bucket{status=\"ok\",le=\"10.0\"} 3.0\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "job_duration_seconds_bucket{status=\"ok\",le=\"+Inf\"} 4.0 # {job_id=\"j-3\"} 42.0 1795842001.5\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("requests_total{route=\"/a\"} 2.0 # {trace_id=\"4bf92f3577b34da6\"} 2.0 1795842001.5\n"),
        "{text}"
    );
    assert!(!text.contains("j-1"), "{text}");
}

#[test]
fn prometheus_text_leaves_exemplars_out() {
    let text = encode(&with_exemplars().aggregate_snapshot(), TextFormat::Prometheus).text;
    assert!(
        text.lines().filter(|l| !l.starts_with('#')).all(|l| !l.contains('#')),
        "{text}"
    );
    assert!(
        text.contains("job_duration_seconds_bucket{status=\"ok\",le=\"1.0\"} 2.0\n"),
        "{text}"
    );
    if have_promtool() {
        let (code, out) = promtool_check(&text);
        assert_eq!(code, 0, "promtool said:\n{out}\n{text}");
    }
}

#[test]
fn the_strict_openmetrics_parser_accepts_the_exemplars() {
    if !have_openmetrics_parser() {
        return;
    }
    let text = encode(&with_exemplars().aggregate_snapshot(), TextFormat::OpenMetrics).text;
    let (code, out) = openmetrics_parse(&text);
    assert_eq!(code, 0, "parser said:\n{out}\n--- input ---\n{text}");
    // A broken exemplar is refused by the same parser, so the check can fail.
    let broken = text.replace("# {job_id=\"j-2\"} 0.7", "# {job_id=\"j-2\" 0.7");
    assert_ne!(openmetrics_parse(&broken).0, 0);
}

#[test]
fn bad_exemplars_are_refused_naming_them_and_the_update_still_counts() {
    let (c, _) = collector();
    let h = c.histogram("job_duration_seconds", &[]).unwrap();
    let long = "x".repeat(130);
    for labels in [
        vec![("job id", "1")],
        vec![("9x", "1")],
        vec![("job_id", long.as_str())],
    ] {
        let err = h.record_with_exemplar(0.5, &labels).unwrap_err();
        assert!(matches!(err, MetricsError::InvalidExemplar { .. }), "{err}");
        assert!(err.to_string().contains(labels[0].0), "{err}");
    }
    assert!(h.record_with_exemplar(f64::NAN, &[("job_id", "1")]).is_err());
    let snap = c.aggregate_snapshot();
    let agg = &snap.series("job_duration_seconds").unwrap().aggregates[0];
    assert!(agg.exemplars.is_empty());
    match &agg.value {
        metrics_core::AggregateValue::Histogram(h) => assert_eq!(h.count, 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn exemplars_survive_the_json_export_and_leave_with_their_tag_set() {
    let c = with_exemplars();
    let json = c.export_to_json();
    assert!(json.contains("\"trace_id\""), "{json}");
    assert!(c.remove("requests", &[("route", "/a")]));
    c.increment_counter("requests", &[("route", "/a")], 1).unwrap();
    let text = encode(&c.aggregate_snapshot(), TextFormat::OpenMetrics).text;
    assert!(text.contains("requests_total{route=\"/a\"} 1.0\n"), "{text}");
}

#[test]
fn by_name_calls_carry_exemplars_like_the_handles() {
    let (c, clock) = collector();
    c.increment_counter_with_exemplar("jobs_failed", &[("queue", "a")], 2, &[("job_id", "j-7")])
        .unwrap();
    c.observe_histogram_with_exemplar("job_duration_seconds", &[("status", "ok")], 0.4, &[("job_id", "j-1")])
        .unwrap();
    clock.advance(Duration::from_secs(2));
    // Latest wins within a bucket; another bucket keeps its own.
    c.observe_histogram_with_exemplar("job_duration_seconds", &[("status", "ok")], 0.9, &[("job_id", "j-2")])
        .unwrap();
    c.observe_histogram_with_exemplar("job_duration_seconds", &[("status", "ok")], 7.0, &[("job_id", "j-3")])
        .unwrap();
    c.record_duration_with_exemplar(
        "request",
        &[("route", "/jobs")],
        Duration::from_millis(20),
        &[("trace_id", "abc123")],
    )
    .unwrap();
    let text = encode(&c.aggregate_snapshot(), TextFormat::OpenMetrics).text;
    assert!(
        text.contains("jobs_failed_total{queue=\"a\"} 2.0 # {job_id=\"j-7\"} 2.0 1795842000.0\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "job_duration_seconds_bucket{status=\"ok\",le=\"1.0\"} 2.0 # {job_id=\"j-2\"} 0.9 1795842002.0\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "job_duration_seconds_bucket{status=\"ok\",le=\"10.0\"} 3.0 # {job_id=\"j-3\"} 7.0 1795842002.0\n"
        ),
        "{text}"
    );
    assert!(text.contains("# {trace_id=\"abc123\"} 0.02 1795842002.0\n"), "{text}");
    assert!(!text.contains("j-1"), "{text}");
    if have_openmetrics_parser() {
        let (code, out) = openmetrics_parse(&text);
        assert_eq!(code, 0, "parser said:\n{out}\n--- input ---\n{text}");
    }
    // Like the other by-name calls: aggregate only under the default policy.
    assert!(c.get_metric_series("jobs_failed").unwrap().values().is_empty());
}

#[test]
fn a_by_name_call_with_a_bad_exemplar_or_value_records_nothing_and_names_it() {
    let (c, _) = collector();
    let long = "x".repeat(130);
    for labels in [
        vec![("job id", "1")],
        vec![("9x", "1")],
        vec![("job_id", long.as_str())],
    ] {
        let err = c
            .observe_histogram_with_exemplar("job_duration_seconds", &[("status", "ok")], 0.5, &labels)
            .unwrap_err();
        assert!(matches!(err, MetricsError::InvalidExemplar { .. }), "{err}");
        assert!(err.to_string().contains(labels[0].0), "{err}");
        assert!(err.to_string().contains("job_duration_seconds"), "{err}");
        let err = c
            .increment_counter_with_exemplar("jobs_failed", &[("queue", "a")], 1, &labels)
            .unwrap_err();
        assert!(matches!(err, MetricsError::InvalidExemplar { .. }), "{err}");
    }
    let err = c
        .observe_histogram_with_exemplar(
            "job_duration_seconds",
            &[("status", "ok")],
            f64::NAN,
            &[("job_id", "1")],
        )
        .unwrap_err();
    assert!(matches!(err, MetricsError::NonFiniteValue { .. }), "{err}");
    assert!(err.to_string().contains("NaN"), "{err}");
    let err = c
        .record_duration_with_exemplar("job_duration_seconds", &[], Duration::from_secs(1), &[("job_id", "1")])
        .unwrap_err();
    assert!(matches!(err, MetricsError::TypeMismatch { .. }), "{err}");
    // Nothing was recorded: no tag set, no counter series, no exemplar.
    let series = c.get_metric_series("job_duration_seconds").unwrap();
    assert!(series.aggregates().is_empty(), "{:?}", series.aggregates());
    assert!(c.get_metric_series("jobs_failed").is_none());
    // A gauge has no by-name exemplar call; a value past the sum's range is refused.
    c.observe_histogram_with_exemplar(
        "job_duration_seconds",
        &[("status", "ok")],
        f64::MAX,
        &[("job_id", "big")],
    )
    .unwrap();
    let err = c
        .observe_histogram_with_exemplar(
            "job_duration_seconds",
            &[("status", "ok")],
            f64::MAX,
            &[("job_id", "bigger")],
        )
        .unwrap_err();
    assert!(matches!(err, MetricsError::AggregateOverflow { .. }), "{err}");
    let text = encode(&c.aggregate_snapshot(), TextFormat::OpenMetrics).text;
    assert!(text.contains("{job_id=\"big\"}") && !text.contains("bigger"), "{text}");
}

#[test]
fn exemplars_come_back_from_a_json_export() {
    let c = with_exemplars();
    let before = encode(&c.aggregate_snapshot(), TextFormat::OpenMetrics).text;
    let json = c.export_to_json();
    let (back, clock) = collector();
    clock.advance(Duration::from_secs(3600));
    back.import_json(&json).unwrap();
    let after = encode(&back.aggregate_snapshot(), TextFormat::OpenMetrics).text;
    // Each exemplar is back on the same sample line (bucket), with its
    // labels, value and time. (A histogram recorded without samples comes
    // back with empty counts: see `import_json`.)
    let exemplars = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .filter_map(|l| l.split_once(" # {"))
            .map(|(sample, exemplar)| (sample.split_once('}').unwrap().0.to_owned(), exemplar.to_owned()))
            .collect()
    };
    assert_eq!(exemplars(&before).len(), 3, "{before}");
    assert_eq!(exemplars(&before), exemplars(&after), "{after}");
    assert_eq!(
        c.aggregate_snapshot().series("requests").unwrap().aggregates[0].exemplars,
        back.aggregate_snapshot().series("requests").unwrap().aggregates[0].exemplars
    );
    // Importing into a collector that holds a newer exemplar keeps that one.
    let (live, clock) = collector();
    clock.advance(Duration::from_secs(3600));
    live.increment_counter_with_exemplar("requests", &[("route", "/a")], 1, &[("trace_id", "newer")])
        .unwrap();
    live.import_json(&json).unwrap();
    let text = encode(&live.aggregate_snapshot(), TextFormat::OpenMetrics).text;
    assert!(text.contains("{trace_id=\"newer\"}"), "{text}");
    assert!(text.contains("{job_id=\"j-2\"}"), "{text}");
}

#[test]
fn an_export_with_a_bad_exemplar_is_refused_naming_it() {
    let json = with_exemplars().export_to_json();
    assert!(json.contains("\"trace_id\""), "{json}");
    let bad = json.replace("\"trace_id\"", "\"trace id\"");
    let (c, _) = collector();
    let err = c.import_json(&bad).unwrap_err();
    assert!(matches!(err, MetricsError::InvalidExemplar { .. }), "{err}");
    assert!(
        err.to_string().contains("trace id") && err.to_string().contains("requests"),
        "{err}"
    );
    // The series' aggregate came back before the exemplar was refused.
    assert_eq!(
        c.get_metric_series("requests").unwrap().aggregate(&[("route", "/a")]),
        Some(metrics_core::AggregateValue::Counter { total: 2.0 })
    );
}
