//! Summaries and filtered queries checked against a sorted-vector oracle
//! with random values (negatives included), tag mixes and time windows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_core::clock::{Clock, ManualClock};
use metrics_core::{MetricType, MetricsCollector, MetricsConfig, Summary, SummaryQuery, TagFilter, TagSet};
use proptest::prelude::*;

const BASE_NANOS: i64 = 1_795_842_000_000_000_000;

/// The tag sets a sample may carry.
const TAG_MIXES: [&[(&str, &str)]; 5] = [
    &[],
    &[("region", "eu")],
    &[("region", "us")],
    &[("region", "eu"), ("status", "ok")],
    &[("status", "ok")],
];

/// The filters a query may use; the last matches nothing.
const FILTERS: [&[(&str, &str)]; 6] = [
    &[],
    &[("region", "eu")],
    &[("status", "ok")],
    &[("region", "eu"), ("status", "ok")],
    &[("region", "us"), ("status", "ok")],
    &[("zone", "a")],
];

/// Nearest rank, by counting: the smallest sorted value such that at least
/// `p` percent of the values are at or below it.
fn nearest_rank(sorted: &[f64], p: u64) -> f64 {
    let n = sorted.len() as u64;
    let i = (1..=n).find(|k| k * 100 >= p * n).unwrap();
    sorted[(i - 1) as usize]
}

fn carries_all(tags: &[(&str, &str)], filter: &[(&str, &str)]) -> bool {
    filter.iter().all(|f| tags.contains(f))
}

struct Recorded {
    value: f64,
    mix: usize,
    ts: i64,
}

fn record_all(samples: &[(f64, usize, u64)]) -> (MetricsCollector, Vec<Recorded>) {
    let clock = Arc::new(ManualClock::new(BASE_NANOS));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let c = MetricsCollector::with_clock(MetricsConfig::default(), dyn_clock);
    let mut recorded = Vec::new();
    for &(value, mix, gap_ms) in samples {
        clock.advance(Duration::from_millis(gap_ms));
        c.record_metric("latency", value, TAG_MIXES[mix], MetricType::Histogram)
            .unwrap();
        recorded.push(Recorded {
            value,
            mix,
            ts: clock.now_nanos(),
        });
    }
    (c, recorded)
}

fn assert_close(actual: f64, expected: f64, scale: f64, what: &str) {
    let tolerance = 1e-9 * scale.max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: got {actual}, expected {expected}"
    );
}

fn sample_strategy() -> impl Strategy<Value = Vec<(f64, usize, u64)>> {
    let value = prop_oneof![
        -1.0e6..1.0e6f64,
        (-50i32..50).prop_map(f64::from),
        Just(0.0),
        -1.0e-6..1.0e-6f64,
    ];
    prop::collection::vec((value, 0..TAG_MIXES.len(), 0u64..3_000), 0..160)
}

proptest! {
    #[test]
    fn summary_matches_the_sorted_vector_oracle(
        samples in sample_strategy(),
        filter in 0..FILTERS.len(),
        since_ms in prop::option::of(0i64..500_000),
    ) {
        let (c, recorded) = record_all(&samples);
        let since_nanos = since_ms.map(|ms| BASE_NANOS + ms * 1_000_000);
        let mut expected: Vec<f64> = recorded
            .iter()
            .filter(|r| carries_all(TAG_MIXES[r.mix], FILTERS[filter]))
            .filter(|r| since_nanos.is_none_or(|s| r.ts >= s))
            .map(|r| r.value)
            .collect();
        expected.sort_by(|a, b| a.partial_cmp(b).unwrap());

        let query = SummaryQuery {
            since: since_nanos.map(|n| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).unwrap()),
            tags: TagFilter::from(FILTERS[filter]),
        };
        let summary = c.get_metric_series("latency").and_then(|s| s.summary(&query));
        if expected.is_empty() {
            prop_assert_eq!(summary, None);
            return Ok(());
        }
        let s = summary.expect("samples match, so a summary exists");
        let n = expected.len();
        let sum: f64 = expected.iter().sum();
        let scale: f64 = expected.iter().map(|v| v.abs()).sum();
        prop_assert_eq!(s.count, n);
        assert_close(s.sum, sum, scale, "sum");
        assert_close(s.avg, sum / n as f64, scale / n as f64, "avg");
        prop_assert_eq!(s.min, expected[0]);
        prop_assert_eq!(s.max, expected[n - 1]);
        prop_assert_eq!(s.p50, nearest_rank(&expected, 50));
        prop_assert_eq!(s.p90, nearest_rank(&expected, 90));
        prop_assert_eq!(s.p95, nearest_rank(&expected, 95));
        prop_assert_eq!(s.p99, nearest_rank(&expected, 99));
    }

    #[test]
    fn values_matching_returns_exactly_the_matching_samples_in_order(
        samples in sample_strategy(),
        filter in 0..FILTERS.len(),
    ) {
        let (c, recorded) = record_all(&samples);
        let expected: Vec<(f64, i64, TagSet)> = recorded
            .iter()
            .filter(|r| carries_all(TAG_MIXES[r.mix], FILTERS[filter]))
            .map(|r| (r.value, r.ts, TagSet::from_pairs(TAG_MIXES[r.mix].iter().copied())))
            .collect();
        let got: Vec<(f64, i64, TagSet)> = c
            .get_metric_series("latency")
            .map(|s| s.values_matching(&TagFilter::from(FILTERS[filter])))
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.value, i64::try_from(v.timestamp.unix_timestamp_nanos()).unwrap(), v.tags))
            .collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn summary_from_values_matches_the_oracle(values in prop::collection::vec(-1.0e9..1.0e9f64, 1..300)) {
        let mut sorted = values.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let s = Summary::from_values(values).unwrap();
        prop_assert_eq!(s.count, sorted.len());
        prop_assert_eq!((s.min, s.max), (sorted[0], sorted[sorted.len() - 1]));
        for (got, p) in [(s.p50, 50), (s.p90, 90), (s.p95, 95), (s.p99, 99)] {
            prop_assert_eq!(got, nearest_rank(&sorted, p), "p{}", p);
        }
    }
}

#[test]
fn nearest_rank_on_a_known_list() {
    // 1..=20: p50 = 10, p90 = 18, p95 = 19, p99 = 20.
    let s = Summary::from_values((1..=20).rev().map(f64::from).collect()).unwrap();
    assert_eq!((s.p50, s.p90, s.p95, s.p99), (10.0, 18.0, 19.0, 20.0));
    assert_eq!((s.count, s.sum, s.avg), (20, 210.0, 10.5));
    let one = Summary::from_values(vec![-3.5]).unwrap();
    assert_eq!((one.min, one.max, one.p50, one.p99), (-3.5, -3.5, -3.5, -3.5));
    assert_eq!(Summary::from_values(Vec::new()), None);
}
