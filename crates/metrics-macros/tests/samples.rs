//! The attributes keep every call as a timestamped sample with its tags, as
//! `record_metric` does; `samples = false` and a series' `SamplePolicy`
//! opt out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_core::{
    AggregateValue, MetricOptions, MetricType, SamplePolicy, TagFilter, get_metrics_collector, record_execution_time,
    record_memory_usage,
};

#[record_execution_time]
fn parse_number(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

#[record_execution_time(samples = false)]
fn aggregate_only(x: u32) -> u32 {
    x + 1
}

#[record_execution_time(name = "samples_test.opted_out_series")]
fn series_opted_out(x: u32) -> u32 {
    x * 2
}

#[record_memory_usage(name = "samples_test.fill")]
fn fill(n: usize) -> Vec<u8> {
    vec![1; n]
}

#[record_memory_usage(name = "samples_test.fill_no_samples", samples = false)]
fn fill_no_samples(n: usize) -> Vec<u8> {
    vec![1; n]
}

fn histogram_count(name: &str, outcome: &str, function: &str) -> u64 {
    let series = get_metric_series(name);
    let tags = [("function", function), ("module", module_path!()), ("outcome", outcome)];
    match series.aggregate(tags.as_slice()) {
        Some(AggregateValue::Histogram(h)) => h.count,
        other => panic!("{name}: {other:?}"),
    }
}

fn get_metric_series(name: &str) -> std::sync::Arc<metrics_core::MetricSeries> {
    get_metrics_collector()
        .get_metric_series(name)
        .unwrap_or_else(|| panic!("no series {name}"))
}

#[test]
fn every_call_is_kept_as_a_timestamped_sample_with_its_tags() {
    let before = get_metrics_collector().now();
    parse_number("1").unwrap();
    parse_number("x").unwrap_err();
    parse_number("3").unwrap();
    let name = concat!(module_path!(), ".parse_number.execution_time");
    let series = get_metric_series(name);
    let values = series.values();
    assert_eq!(values.len(), 3, "{values:?}");
    assert!(values.iter().all(|v| v.timestamp >= before && v.value >= 0.0));
    let errors = series.values_matching(&TagFilter::new().with("outcome", "error"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].tags.get("function"), Some("parse_number"));
    assert_eq!(errors[0].tags.get("module"), Some(module_path!()));
    assert_eq!(histogram_count(name, "ok", "parse_number"), 2);
    let json = get_metrics_collector().export_to_json();
    let exported = metrics_core::export::json::decode(&json).unwrap();
    assert_eq!(exported[name].values.len(), 3, "{:?}", exported[name]);
}

#[test]
fn samples_false_keeps_aggregates_only() {
    for i in 0..5 {
        aggregate_only(i);
    }
    let name = concat!(module_path!(), ".aggregate_only.execution_time");
    assert!(get_metric_series(name).values().is_empty());
    assert_eq!(histogram_count(name, "ok", "aggregate_only"), 5);
}

#[test]
fn a_sample_policy_chosen_for_the_series_is_kept() {
    get_metrics_collector()
        .describe_metric(
            "samples_test.opted_out_series",
            MetricType::Timer,
            MetricOptions {
                sample_policy: Some(SamplePolicy::AggregateOnly),
                ..MetricOptions::default()
            },
        )
        .unwrap();
    series_opted_out(1);
    series_opted_out(2);
    let series = get_metric_series("samples_test.opted_out_series");
    assert!(series.values().is_empty());
    assert_eq!(
        histogram_count("samples_test.opted_out_series", "ok", "series_opted_out"),
        2
    );
    // Opting the series back in takes effect at once.
    series.set_sample_policy(SamplePolicy::EveryEvent);
    series_opted_out(3);
    assert_eq!(series.values().len(), 1);
}

#[test]
fn the_memory_attribute_keeps_samples_unless_told_not_to() {
    fill(10);
    fill(20);
    assert_eq!(get_metric_series("samples_test.fill.memory_usage").values().len(), 2);
    fill_no_samples(10);
    let series = get_metric_series("samples_test.fill_no_samples.memory_usage");
    assert!(series.values().is_empty());
    assert_eq!(series.tag_sets().len(), 1, "the aggregate was updated");
}
