//! Past `max_tag_sets_per_series` the program hears about it: a hook called
//! once per series, then at most once per `OVERFLOW_REPORT_INTERVAL`, and
//! a self-metric counting folded updates per series in every export.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_core::clock::ManualClock;
use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{AggregateValue, MetricsCollector, MetricsConfig, OVERFLOW_REPORT_INTERVAL, OVERFLOW_SELF_METRIC};

fn capped(cap: usize) -> (MetricsCollector, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000_000_000));
    let config = MetricsConfig {
        max_tag_sets_per_series: cap,
        system_metrics_interval: Duration::ZERO,
        ..MetricsConfig::default()
    };
    (MetricsCollector::with_clock(config, clock.clone()), clock)
}

type Reports = Arc<Mutex<Vec<(String, usize, u64)>>>;

fn listen(c: &MetricsCollector) -> Reports {
    let reports: Reports = Arc::default();
    let sink = Arc::clone(&reports);
    c.set_overflow_hook(move |e| {
        sink.lock()
            .unwrap()
            .push((e.metric.to_owned(), e.max_tag_sets, e.overflow_updates));
    });
    reports
}

#[test]
fn the_hook_hears_once_per_series_then_once_per_interval() {
    let (c, clock) = capped(2);
    let reports = listen(&c);
    for i in 0..50 {
        c.increment_counter("logins", &[("user", format!("u{i}").as_str())], 1)
            .unwrap();
    }
    assert_eq!(*reports.lock().unwrap(), vec![("logins".to_owned(), 2, 1)]);

    // Another series reports on its own.
    for i in 0..5 {
        c.set_gauge("sessions", &[("user", format!("u{i}").as_str())], 1.0)
            .unwrap();
    }
    assert_eq!(reports.lock().unwrap().len(), 2);
    assert_eq!(reports.lock().unwrap()[1], ("sessions".to_owned(), 2, 1));

    // Within the interval: silent; after it: one more report with the count.
    clock.advance(OVERFLOW_REPORT_INTERVAL - Duration::from_secs(1));
    c.increment_counter("logins", &[("user", "late")], 1).unwrap();
    assert_eq!(reports.lock().unwrap().len(), 2);
    clock.advance(Duration::from_secs(1));
    c.increment_counter("logins", &[("user", "later")], 1).unwrap();
    assert_eq!(reports.lock().unwrap().len(), 3);
    assert_eq!(reports.lock().unwrap()[2], ("logins".to_owned(), 2, 50));

    // Cleared: silent.
    c.clear_overflow_hook();
    clock.advance(OVERFLOW_REPORT_INTERVAL);
    c.increment_counter("logins", &[("user", "x")], 1).unwrap();
    assert_eq!(reports.lock().unwrap().len(), 3);
}

#[test]
fn the_hook_may_record_into_the_overflowing_series() {
    let (c, _clock) = capped(1);
    let c = Arc::new(c);
    let inner = Arc::clone(&c);
    c.set_overflow_hook(move |e| {
        inner.increment_counter(e.metric, &[("user", "from_hook")], 1).unwrap();
    });
    c.increment_counter("logins", &[("user", "a")], 1).unwrap();
    c.increment_counter("logins", &[("user", "b")], 1).unwrap();
    let s = c.get_metric_series("logins").unwrap();
    // b and the hook's own update both folded into overflow.
    assert_eq!(
        s.aggregate(&[("overflow", "true")]),
        Some(AggregateValue::Counter { total: 2.0 })
    );
    // Break the cycle between the collector and its hook.
    c.clear_overflow_hook();
}

#[test]
fn the_overflow_count_is_a_self_metric_in_every_export() {
    let (c, _clock) = capped(1);
    c.increment_counter("quiet", &[("user", "a")], 1).unwrap();
    let text = encode(&c.aggregate_snapshot(), TextFormat::Prometheus).text;
    assert!(!text.contains(OVERFLOW_SELF_METRIC), "no overflow yet: {text}");

    for user in ["a", "b", "c", "d"] {
        c.increment_counter("logins", &[("user", user)], 1).unwrap();
    }
    let snapshot = c.aggregate_snapshot();
    let me = snapshot.series(OVERFLOW_SELF_METRIC).expect("self-metric present");
    assert_eq!(me.aggregates.len(), 1);
    assert_eq!(me.aggregates[0].tags.get("metric"), Some("logins"));
    assert_eq!(me.aggregates[0].value, AggregateValue::Counter { total: 3.0 });
    assert_eq!(snapshot.series("logins").unwrap().overflow_updates, 3);

    let text = encode(&snapshot, TextFormat::Prometheus).text;
    assert!(
        text.contains("metrics_core_tag_set_overflow_updates_total{metric=\"logins\"} 3.0\n"),
        "{text}"
    );
    assert!(c.export_to_json().contains(OVERFLOW_SELF_METRIC));
}
