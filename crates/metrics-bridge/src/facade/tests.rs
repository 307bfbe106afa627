//! Unit tests of the recorder's handle resolution and error paths.

use std::sync::Arc;

use metrics::Unit;
use metrics_core::{AggregateValue, MetricType, MetricsCollector, MetricsConfig, SamplePolicy};

use super::{MetricsRecorder, cache};

fn recorder() -> (Arc<MetricsCollector>, MetricsRecorder) {
    let collector = Arc::new(MetricsCollector::default());
    (Arc::clone(&collector), MetricsRecorder::new(collector))
}

fn counter_total(c: &MetricsCollector, name: &str, tags: &[(&str, &str)]) -> Option<f64> {
    match c.get_metric_series(name)?.aggregate(tags)? {
        AggregateValue::Counter { total } => Some(total),
        _ => None,
    }
}

#[test]
fn a_key_is_resolved_once_per_thread_and_reused() {
    let (c, r) = recorder();
    metrics::with_local_recorder(&r, || {
        for _ in 0..10 {
            metrics::counter!("hits", "route" => "/a").increment(1);
        }
        metrics::counter!("hits", "route" => "/b").increment(5);
    });
    assert_eq!(cache::cached_keys(r.inner.id), 2);
    assert_eq!(counter_total(&c, "hits", &[("route", "/a")]), Some(10.0));
    assert_eq!(counter_total(&c, "hits", &[("route", "/b")]), Some(5.0));
}

#[test]
fn labels_in_another_order_are_the_same_tag_set() {
    let (c, r) = recorder();
    metrics::with_local_recorder(&r, || {
        metrics::counter!("x", "a" => "1", "b" => "2").increment(1);
        metrics::counter!("x", "b" => "2", "a" => "1").increment(1);
    });
    assert_eq!(c.get_metric_series("x").unwrap().tag_sets().len(), 1);
    assert_eq!(counter_total(&c, "x", &[("a", "1"), ("b", "2")]), Some(2.0));
}

#[test]
fn forget_handles_rebinds_to_a_recreated_series() {
    let (c, r) = recorder();
    metrics::with_local_recorder(&r, || metrics::counter!("jobs").increment(2));
    c.remove_series("jobs");
    r.forget_handles();
    metrics::with_local_recorder(&r, || metrics::counter!("jobs").increment(3));
    assert_eq!(counter_total(&c, "jobs", &[]), Some(3.0));
}

#[test]
fn cached_handles_follow_removals_in_the_collector_by_themselves() {
    let (c, r) = recorder();
    metrics::with_local_recorder(&r, || {
        metrics::counter!("jobs", "queue" => "a").increment(2);
        metrics::counter!("jobs", "queue" => "b").increment(2);
    });
    // One tag set removed: the next facade call resolves a new one (from 0).
    assert!(c.remove("jobs", &[("queue", "a")]));
    metrics::with_local_recorder(&r, || {
        metrics::counter!("jobs", "queue" => "a").increment(3);
        metrics::counter!("jobs", "queue" => "b").increment(1);
    });
    assert_eq!(counter_total(&c, "jobs", &[("queue", "a")]), Some(3.0));
    assert_eq!(counter_total(&c, "jobs", &[("queue", "b")]), Some(3.0));
    // The whole series removed, without forget_handles.
    c.remove_series("jobs");
    metrics::with_local_recorder(&r, || metrics::counter!("jobs", "queue" => "a").increment(4));
    assert_eq!(counter_total(&c, "jobs", &[("queue", "a")]), Some(4.0));
}

#[test]
fn overflowing_label_sets_are_not_cached_and_each_is_counted() {
    let collector = Arc::new(MetricsCollector::new(MetricsConfig {
        max_tag_sets_per_series: 2,
        ..MetricsConfig::default()
    }));
    let r = MetricsRecorder::new(Arc::clone(&collector));
    metrics::with_local_recorder(&r, || {
        for user in ["a", "b", "c", "d"] {
            metrics::counter!("logins", "user" => user).increment(1);
            metrics::counter!("logins", "user" => user).increment(1);
        }
    });
    let series = collector.get_metric_series("logins").unwrap();
    assert_eq!(counter_total(&collector, "logins", &[("user", "a")]), Some(2.0));
    let overflow = series.aggregate(&[("overflow", "true")]);
    assert_eq!(overflow, Some(AggregateValue::Counter { total: 4.0 }));
    assert_eq!(series.overflow_updates(), 4, "each overflowing registration is counted");
    assert_eq!(
        cache::cached_keys(r.inner.id),
        2,
        "only the two real tag sets are cached"
    );
}

#[test]
fn a_refused_registration_is_a_noop_handle_and_is_reported() {
    let (c, r) = recorder();
    c.gauge("busy", &[]).unwrap().set(1.0);
    metrics::with_local_recorder(&r, || {
        metrics::counter!("busy").increment(1); // a gauge already
        metrics::counter!("").increment(1); // empty name
        metrics::counter!("ok", "overflow" => "x").increment(1); // reserved tag key
    });
    assert_eq!(r.rejected_registrations(), 3);
    let last = r.last_error().unwrap();
    assert!(last.contains("overflow"), "{last}");
    assert_eq!(c.get_metric_series("busy").unwrap().metric_type(), MetricType::Gauge);
    assert!(c.get_metric_series("ok").is_none());
}

#[test]
fn absolute_raises_a_counter_and_never_lowers_it() {
    let (c, r) = recorder();
    metrics::with_local_recorder(&r, || {
        let counter = metrics::counter!("bytes_read");
        counter.absolute(10);
        counter.absolute(4);
        counter.increment(1);
        counter.absolute(20);
    });
    assert_eq!(counter_total(&c, "bytes_read", &[]), Some(20.0));
}

#[test]
fn gauges_follow_increment_decrement_and_set() {
    let (c, r) = recorder();
    metrics::with_local_recorder(&r, || {
        let g = metrics::gauge!("pool_size", "pool" => "db");
        g.set(4.0);
        g.increment(2.0);
        g.decrement(1.0);
        g.set(f64::NAN); // ignored, counted
    });
    let series = c.get_metric_series("pool_size").unwrap();
    assert_eq!(
        series.aggregate(&[("pool", "db")]),
        Some(AggregateValue::Gauge { value: 5.0 })
    );
    assert_eq!(series.rejected_values(), 1);
}

#[test]
fn a_histogram_of_an_existing_timer_records_seconds_into_it() {
    let (c, r) = recorder();
    c.timer("step_seconds", &[]).unwrap().record_seconds(1.0);
    metrics::with_local_recorder(&r, || {
        metrics::describe_histogram!("step_seconds", Unit::Seconds, "One step.");
        metrics::histogram!("step_seconds").record(0.5);
        metrics::histogram!("step_seconds").record_many(0.25, 2);
    });
    let series = c.get_metric_series("step_seconds").unwrap();
    assert_eq!(series.metric_type(), MetricType::Timer);
    assert_eq!(series.description().as_deref(), Some("One step."));
    let Some(AggregateValue::Histogram(h)) = series.aggregate(&[]) else {
        panic!("no histogram aggregate");
    };
    assert_eq!((h.count, h.sum), (4, 2.0));
    assert_eq!(r.rejected_registrations(), 0);
}

#[test]
fn samples_follow_the_series_policy() {
    let (c, r) = recorder();
    metrics::with_local_recorder(&r, || metrics::histogram!("default_policy").record(1.0));
    assert_eq!(
        c.get_metric_series("default_policy").unwrap().sample_policy(),
        SamplePolicy::AggregateOnly
    );
    assert!(c.get_metric_series("default_policy").unwrap().values().is_empty());

    let every = r.clone().with_sample_policy(SamplePolicy::EveryEvent);
    metrics::with_local_recorder(&every, || {
        metrics::histogram!("kept", "k" => "v").record(1.5);
        metrics::counter!("kept_count").increment(2);
    });
    let kept = c.get_metric_series("kept").unwrap();
    assert_eq!(kept.sample_policy(), SamplePolicy::EveryEvent);
    assert_eq!(kept.values().iter().map(|v| v.value).collect::<Vec<_>>(), vec![1.5]);
    assert_eq!(c.get_metric_series("kept_count").unwrap().values().len(), 1);

    // A policy changed on the series applies to handles already handed out.
    let series = c.get_metric_series("default_policy").unwrap();
    series.set_sample_policy(SamplePolicy::EveryEvent);
    metrics::with_local_recorder(&r, || metrics::histogram!("default_policy").record(2.0));
    assert_eq!(series.values().len(), 1);
}

#[test]
fn descriptions_and_units_are_kept() {
    let (c, r) = recorder();
    metrics::with_local_recorder(&r, || {
        metrics::describe_counter!("sent_bytes", Unit::Bytes, "Bytes sent.");
        metrics::describe_gauge!("temperature", "No unit given.");
        metrics::describe_counter!("", "An empty name is refused.");
    });
    assert_eq!(
        c.get_metric_series("sent_bytes").unwrap().description().as_deref(),
        Some("Bytes sent.")
    );
    assert_eq!(r.unit("sent_bytes"), Some(Unit::Bytes));
    // The unit is the series' own, not a table of the recorder's.
    assert_eq!(
        c.get_metric_series("sent_bytes").unwrap().unit().as_deref(),
        Some("bytes")
    );
    assert_eq!(r.unit("temperature"), None);
    assert_eq!(r.units(), vec![("sent_bytes".to_owned(), Unit::Bytes)]);
    assert_eq!(r.rejected_registrations(), 1);
}

#[test]
fn threads_each_resolve_once_and_lose_no_update() {
    let (c, r) = recorder();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                metrics::with_local_recorder(&r, || {
                    for i in 0..10_000u64 {
                        metrics::counter!("ops", "parity" => if i % 2 == 0 { "even" } else { "odd" }).increment(1);
                    }
                });
            });
        }
    });
    assert_eq!(counter_total(&c, "ops", &[("parity", "even")]), Some(10_000.0));
    assert_eq!(counter_total(&c, "ops", &[("parity", "odd")]), Some(10_000.0));
}

#[test]
fn equal_keys_built_from_different_strings_share_one_cached_handle() {
    let (c, r) = recorder();
    metrics::with_local_recorder(&r, || {
        for _ in 0..3 {
            // A fresh String each time: same text, other bytes in memory.
            let shard = format!("shard-{}", 0);
            let name = String::from("rows_written");
            metrics::counter!(name, "shard" => shard).increment(1);
        }
        metrics::counter!("rows_written", "shard" => "shard-1").increment(1);
    });
    assert_eq!(cache::cached_keys(r.inner.id), 2);
    assert_eq!(counter_total(&c, "rows_written", &[("shard", "shard-0")]), Some(3.0));
    assert_eq!(counter_total(&c, "rows_written", &[("shard", "shard-1")]), Some(1.0));
}

#[test]
fn owned_label_values_of_equal_length_never_share_a_handle() {
    // Each value is a fresh String freed after the call, so the allocator
    // may hand the next one the same address with other text of the same
    // length: the cache must tell them apart by text.
    let (c, r) = recorder();
    metrics::with_local_recorder(&r, || {
        for round in 0..3 {
            for user in 0..10 {
                metrics::counter!("logins_by_user", "user" => format!("u{user}")).increment(round + 1);
            }
        }
    });
    for user in 0..10 {
        let value = format!("u{user}");
        assert_eq!(
            counter_total(&c, "logins_by_user", &[("user", value.as_str())]),
            Some(6.0),
            "{value}"
        );
    }
}

#[test]
fn a_removed_series_gets_no_facade_update_after_its_removal() {
    let (c, r) = recorder();
    metrics::with_local_recorder(&r, || metrics::counter!("looked_up_once").increment(1));
    let removed = c.remove_series("looked_up_once").unwrap();
    // The collector's generation changed, so the cached handle (bound to the
    // removed series) is dropped and the call resolves the series anew.
    metrics::with_local_recorder(&r, || metrics::counter!("looked_up_once").increment(1));
    assert_eq!(counter_total(&c, "looked_up_once", &[]), Some(1.0));
    assert_eq!(removed.aggregate(&[]), Some(AggregateValue::Counter { total: 1.0 }));
    assert_eq!(cache::cached_keys(r.inner.id), 1);
}
