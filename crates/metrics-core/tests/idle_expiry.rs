//! Removing tag sets (issue 17): `MetricsCollector::remove` for one tag set,
//! and `idle_timeout`, driven by a `ManualClock`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_core::clock::{Clock, ManualClock};
use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{AggregateValue, MetricType, MetricsCollector, MetricsConfig, SamplePolicy};

fn collector(idle: Option<Duration>) -> (MetricsCollector, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_795_842_000_000_000_000));
    let config = MetricsConfig {
        idle_timeout: idle,
        ..MetricsConfig::default()
    };
    (
        MetricsCollector::with_clock(config, Arc::clone(&clock) as Arc<dyn Clock>),
        clock,
    )
}

fn prom(c: &MetricsCollector) -> String {
    encode(&c.aggregate_snapshot(), TextFormat::Prometheus).text
}

fn total(c: &MetricsCollector, name: &str, tags: &[(&str, &str)]) -> Option<f64> {
    match c.get_metric_series(name)?.aggregate(tags)? {
        AggregateValue::Counter { total } => Some(total),
        other => panic!("not a counter: {other:?}"),
    }
}

#[test]
fn a_tag_set_idle_for_the_timeout_leaves_exposition_and_memory() {
    let (c, clock) = collector(Some(Duration::from_secs(60)));
    let busy = c.counter("requests", &[("route", "/busy")]).unwrap();
    c.increment_counter("requests", &[("route", "/idle")], 5).unwrap();
    c.record_metric("latency", 0.2, &[("route", "/idle")], MetricType::Histogram)
        .unwrap();
    busy.increment(1);
    assert!(prom(&c).contains("requests_total{route=\"/idle\"} 5.0\n"));
    let bytes_before = c.get_metric_series("latency").unwrap().heap_bytes();
    for _ in 0..3 {
        clock.advance(Duration::from_secs(30));
        busy.increment(1);
        let _ = prom(&c);
    }
    // 90 s without an update of /idle: gone; /busy stays.
    let text = prom(&c);
    assert!(!text.contains("route=\"/idle\""), "{text}");
    assert!(text.contains("requests_total{route=\"/busy\"} 4.0\n"), "{text}");
    assert_eq!(total(&c, "requests", &[("route", "/idle")]), None);
    assert_eq!(c.get_metric_series("requests").unwrap().tag_sets().len(), 1);
    let latency = c.get_metric_series("latency").unwrap();
    assert!(latency.tag_sets().is_empty());
    assert!(
        latency.heap_bytes() < bytes_before,
        "{} vs {bytes_before}",
        latency.heap_bytes()
    );
    // The retained sample of the expired histogram stays, with its tags.
    let values = latency.values();
    assert_eq!(values.len(), 1);
    assert_eq!(values[0].tags.get("route"), Some("/idle"));
}

#[test]
fn a_tag_set_updated_within_the_timeout_is_kept() {
    let (c, clock) = collector(Some(Duration::from_secs(60)));
    c.set_gauge("depth", &[("queue", "a")], 1.0).unwrap();
    for i in 0..10 {
        clock.advance(Duration::from_secs(59));
        c.set_gauge("depth", &[("queue", "a")], f64::from(i)).unwrap();
        assert_eq!(c.expire_idle(), 0, "round {i}");
    }
    assert!(prom(&c).contains("depth{queue=\"a\"} 9.0\n"));
}

#[test]
fn a_re_created_counter_restarts_from_zero() {
    let (c, clock) = collector(Some(Duration::from_secs(10)));
    c.increment_counter("jobs", &[("status", "ok")], 7).unwrap();
    assert_eq!(c.expire_idle(), 0);
    clock.advance(Duration::from_secs(10));
    assert_eq!(c.expire_idle(), 1);
    c.increment_counter("jobs", &[("status", "ok")], 1).unwrap();
    assert_eq!(total(&c, "jobs", &[("status", "ok")]), Some(1.0));
    assert!(prom(&c).contains("jobs_total{status=\"ok\"} 1.0\n"));
}

#[test]
fn without_a_timeout_nothing_expires() {
    let (c, clock) = collector(None);
    c.increment_counter("jobs", &[], 1).unwrap();
    clock.advance(Duration::from_secs(365 * 24 * 3600));
    assert_eq!(c.expire_idle(), 0);
    assert_eq!(total(&c, "jobs", &[]), Some(1.0));
}

#[test]
fn remove_drops_one_tag_set_and_bumps_the_generation() {
    let (c, _) = collector(None);
    c.increment_counter("jobs", &[("queue", "a"), ("status", "ok")], 2)
        .unwrap();
    c.increment_counter("jobs", &[("queue", "b"), ("status", "ok")], 3)
        .unwrap();
    let g = c.generation();
    assert!(
        c.remove("jobs", &[("status", "ok"), ("queue", "a")]),
        "tags in any order"
    );
    assert!(c.generation() > g);
    let g = c.generation();
    assert!(!c.remove("jobs", &[("queue", "a"), ("status", "ok")]));
    assert!(!c.remove("no_such_series", &[("queue", "a")]));
    assert_eq!(c.generation(), g, "nothing removed, nothing bumped");
    let text = prom(&c);
    assert!(!text.contains("queue=\"a\""), "{text}");
    assert!(text.contains("jobs_total{queue=\"b\",status=\"ok\"} 3.0\n"), "{text}");
    assert_eq!(c.list_series()[0].tag_sets, 1);
}

#[test]
fn a_handle_of_a_removed_tag_set_never_updates_another_one() {
    let (c, _) = collector(None);
    let old = c.counter("jobs", &[("queue", "a")]).unwrap();
    old.increment(5);
    // The by-name path caches (jobs, queue=a) on this thread.
    c.increment_counter("jobs", &[("queue", "a")], 1).unwrap();
    assert!(c.remove("jobs", &[("queue", "a")]));
    // New tag sets take new ids; the old handle and the thread cache must
    // not reach them.
    c.increment_counter("jobs", &[("queue", "b")], 10).unwrap();
    c.increment_counter("jobs", &[("queue", "a")], 1).unwrap();
    old.increment(100);
    assert_eq!(total(&c, "jobs", &[("queue", "a")]), Some(1.0));
    assert_eq!(total(&c, "jobs", &[("queue", "b")]), Some(10.0));
    // A handle resolved afterwards updates the new tag set.
    c.counter("jobs", &[("queue", "a")]).unwrap().increment(2);
    assert_eq!(total(&c, "jobs", &[("queue", "a")]), Some(3.0));
}

#[test]
fn removed_tag_sets_free_room_under_the_cardinality_cap() {
    let clock = Arc::new(ManualClock::new(0));
    let c = MetricsCollector::with_clock(
        MetricsConfig {
            max_tag_sets_per_series: 2,
            ..MetricsConfig::default()
        },
        clock,
    );
    c.increment_counter("logins", &[("user", "1")], 1).unwrap();
    c.increment_counter("logins", &[("user", "2")], 1).unwrap();
    assert!(c.remove("logins", &[("user", "1")]));
    c.increment_counter("logins", &[("user", "3")], 1).unwrap();
    assert_eq!(total(&c, "logins", &[("user", "3")]), Some(1.0));
    assert_eq!(c.get_metric_series("logins").unwrap().overflow_updates(), 0);
}

#[test]
fn samples_of_a_removed_tag_set_keep_their_tags_and_new_ones_get_theirs() {
    let (c, _) = collector(None);
    c.describe_metric(
        "job_duration_seconds",
        MetricType::Timer,
        metrics_core::MetricOptions {
            sample_policy: Some(SamplePolicy::EveryEvent),
            ..Default::default()
        },
    )
    .unwrap();
    c.record_metric("job_duration_seconds", 1.0, &[("job", "a")], MetricType::Timer)
        .unwrap();
    assert!(c.remove("job_duration_seconds", &[("job", "a")]));
    c.record_metric("job_duration_seconds", 2.0, &[("job", "b")], MetricType::Timer)
        .unwrap();
    let values = c.get_metric_series("job_duration_seconds").unwrap().values();
    let tags: Vec<_> = values
        .iter()
        .map(|v| (v.value, v.tags.get("job").unwrap().to_owned()))
        .collect();
    assert_eq!(tags, vec![(1.0, "a".to_owned()), (2.0, "b".to_owned())]);
}

#[test]
fn the_manager_sweeps_idle_tag_sets_without_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_795_842_000_000_000_000));
    let config = MetricsConfig {
        storage_path: dir.path().to_path_buf(),
        export_interval: Duration::ZERO,
        system_metrics_interval: Duration::ZERO,
        idle_timeout: Some(Duration::from_secs(1)),
        ..MetricsConfig::default()
    };
    let c = Arc::new(MetricsCollector::with_clock(
        config.clone(),
        Arc::clone(&clock) as Arc<dyn Clock>,
    ));
    c.increment_counter("jobs", &[("queue", "a")], 1).unwrap();
    let mut manager = metrics_core::MetricsManager::for_collector(config, Arc::clone(&c));
    manager.initialize().unwrap();
    // No snapshot is taken here (`aggregate` does not sweep): only the
    // manager's thread (every second of real time) can remove the tag set.
    let gone = test_support::poll(Duration::from_secs(20), || {
        clock.advance(Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(200));
        total(&c, "jobs", &[("queue", "a")]).is_none().then_some(())
    });
    manager.shutdown().ok();
    assert!(gone.is_some(), "the idle tag set was never swept");
}

#[test]
fn a_series_only_tag_set_can_be_removed_and_comes_back_from_zero_beside_others() {
    let (c, _) = collector(None);
    c.increment_counter("jobs", &[("q", "a")], 5).unwrap();
    assert!(c.remove("jobs", &[("q", "a")]));
    assert!(!c.remove("jobs", &[("q", "a")]), "a removed tag set is gone");
    assert_eq!(total(&c, "jobs", &[("q", "a")]), None);
    c.increment_counter("jobs", &[("q", "a")], 1).unwrap();
    c.increment_counter("jobs", &[("q", "b")], 2).unwrap();
    assert_eq!(total(&c, "jobs", &[("q", "a")]), Some(1.0));
    assert_eq!(total(&c, "jobs", &[("q", "b")]), Some(2.0));
    assert!(c.remove("jobs", &[("q", "b")]));
    c.increment_counter("jobs", &[("q", "a")], 1).unwrap();
    assert_eq!(total(&c, "jobs", &[("q", "a")]), Some(2.0));
    assert_eq!(total(&c, "jobs", &[("q", "b")]), None);
}
