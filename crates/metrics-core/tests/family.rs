//! Typed label sets (`#[derive(LabelSet)]`) and bucket layouts, as a
//! program uses them: one family per metric, updated per call, naming the
//! same series as string tags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/capped.rs"]
mod capped;

use std::borrow::Cow;
use std::time::Duration;

use capped::assert_capped_at_three;
use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{
    AggregateValue, Buckets, BucketsError, LabelSet, LabelValue, MetricType, MetricsCollector, MetricsConfig,
};

#[derive(Clone, Copy, LabelValue)]
enum Method {
    #[label(name = "GET")]
    Get,
    #[label(name = "POST")]
    Post,
}

#[derive(Clone, Copy, LabelValue)]
enum Status {
    Ok,
    NotFound,
    ServerError,
}

#[derive(LabelSet)]
struct RouteLabels<'a> {
    method: Method,
    route: &'a str,
}

#[derive(LabelSet)]
struct FixedLabels {
    method: Method,
    status: Status,
    #[label(name = "cached")]
    hit: bool,
}

#[derive(LabelSet)]
struct MixedLabels {
    shard: u8,
    port: u16,
    code: i32,
    user: String,
    region: Cow<'static, str>,
}

fn counter_total(c: &MetricsCollector, name: &str, tags: &[(&str, &str)]) -> Option<AggregateValue> {
    c.get_metric_series(name)?.aggregate(tags)
}

#[test]
fn a_typed_family_and_string_tags_update_the_same_counter() {
    let c = MetricsCollector::default();
    let f = c.counter_family::<RouteLabels>("http_requests").unwrap();
    f.get(&RouteLabels {
        method: Method::Get,
        route: "/",
    })
    .unwrap()
    .increment(1);
    f.increment(
        &RouteLabels {
            method: Method::Get,
            route: "/",
        },
        2,
    )
    .unwrap();
    c.increment_counter("http_requests", &[("method", "GET"), ("route", "/")], 1)
        .unwrap();
    f.increment(
        &RouteLabels {
            method: Method::Post,
            route: "/jobs",
        },
        5,
    )
    .unwrap();

    assert_eq!(
        counter_total(&c, "http_requests", &[("method", "GET"), ("route", "/")]),
        Some(AggregateValue::Counter { total: 4.0 })
    );
    assert_eq!(
        counter_total(&c, "http_requests", &[("route", "/jobs"), ("method", "POST")]),
        Some(AggregateValue::Counter { total: 5.0 })
    );
    assert_eq!(c.get_metric_series("http_requests").unwrap().tag_sets().len(), 2);
}

#[test]
fn a_series_created_by_string_tags_is_found_by_the_family() {
    let c = MetricsCollector::default();
    c.increment_counter(
        "responses",
        &[("status", "not_found"), ("method", "GET"), ("cached", "false")],
        3,
    )
    .unwrap();
    let f = c.counter_family::<FixedLabels>("responses").unwrap();
    let h = f
        .get(&FixedLabels {
            method: Method::Get,
            status: Status::NotFound,
            hit: false,
        })
        .unwrap();
    assert_eq!(h.value(), 3);
    h.increment(1);
    assert_eq!(
        counter_total(
            &c,
            "responses",
            &[("status", "not_found"), ("method", "GET"), ("cached", "false")]
        ),
        Some(AggregateValue::Counter { total: 4.0 })
    );
}

#[test]
fn every_combination_of_a_fixed_label_set_is_its_own_series() {
    assert_eq!(FixedLabels::DENSE_SIZE, Some(2 * 3 * 2));
    assert_eq!(FixedLabels::NAMES, &["method", "status", "cached"]);
    let c = MetricsCollector::default();
    let f = c.counter_family::<FixedLabels>("responses").unwrap();
    let mut n = 0;
    for method in [Method::Get, Method::Post] {
        for status in [Status::Ok, Status::NotFound, Status::ServerError] {
            for hit in [false, true] {
                n += 1;
                f.increment(&FixedLabels { method, status, hit }, n).unwrap();
            }
        }
    }
    let s = c.get_metric_series("responses").unwrap();
    assert_eq!(s.tag_sets().len(), 12);
    assert_eq!(
        s.aggregate(&[("method", "POST"), ("status", "server_error"), ("cached", "true")]),
        Some(AggregateValue::Counter { total: 12.0 })
    );
    assert_eq!(
        s.aggregate(&[("method", "GET"), ("status", "ok"), ("cached", "false")]),
        Some(AggregateValue::Counter { total: 1.0 })
    );
}

#[test]
fn integer_and_owned_string_fields_become_their_text() {
    assert_eq!(MixedLabels::DENSE_SIZE, None);
    let c = MetricsCollector::default();
    let f = c.gauge_family::<MixedLabels>("connections").unwrap();
    let labels = MixedLabels {
        shard: 7,
        port: 8080,
        code: -1,
        user: "ann".to_owned(),
        region: Cow::Borrowed("eu"),
    };
    f.set(&labels, 4.0).unwrap();
    f.increment(&labels, 2.0).unwrap();
    f.decrement(&labels, 1.0).unwrap();
    let tags = [
        ("shard", "7"),
        ("port", "8080"),
        ("code", "-1"),
        ("user", "ann"),
        ("region", "eu"),
    ];
    assert_eq!(
        counter_total(&c, "connections", &tags),
        Some(AggregateValue::Gauge { value: 5.0 })
    );
    // The same text through string tags is the same gauge.
    c.set_gauge("connections", &tags, 9.0).unwrap();
    assert_eq!(f.get(&labels).unwrap().value(), 9.0);
}

#[test]
fn histogram_and_timer_families_use_the_given_buckets_and_are_exported() {
    let c = MetricsCollector::default();
    let buckets = Buckets::exponential(0.001, 10.0, 4).unwrap();
    let h = c
        .histogram_family_with_buckets::<RouteLabels>("payload_seconds", &buckets)
        .unwrap();
    h.record(
        &RouteLabels {
            method: Method::Get,
            route: "/a",
        },
        0.05,
    )
    .unwrap();
    assert_eq!(h.series().buckets(), &[0.001, 0.01, 0.1, 1.0]);

    let t = c
        .timer_family_with_buckets::<FixedLabels>("job_seconds", &Buckets::linear(1.0, 1.0, 3).unwrap())
        .unwrap();
    let labels = FixedLabels {
        method: Method::Post,
        status: Status::Ok,
        hit: true,
    };
    t.record(&labels, Duration::from_millis(1500)).unwrap();
    t.get(&labels).unwrap().record(Duration::from_millis(500));
    assert_eq!(t.series().buckets(), &[1.0, 2.0, 3.0]);

    let text = encode(&c.aggregate_snapshot(), TextFormat::Prometheus).text;
    assert!(
        text.contains("payload_seconds_bucket{method=\"GET\",route=\"/a\",le=\"0.1\"} 1.0\n"),
        "{text}"
    );
    assert!(
        text.contains("job_seconds_count{cached=\"true\",method=\"POST\",status=\"ok\"} 2.0\n"),
        "{text}"
    );
    assert!(
        text.contains("job_seconds_bucket{cached=\"true\",method=\"POST\",status=\"ok\",le=\"1.0\"} 1.0\n"),
        "{text}"
    );

    // A family with other buckets than the existing series is refused.
    let other = Buckets::linear(0.0, 1.0, 2).unwrap();
    assert!(
        c.histogram_family_with_buckets::<RouteLabels>("payload_seconds", &other)
            .is_err()
    );
    // A family of another type than the existing series is refused.
    assert!(c.counter_family::<RouteLabels>("payload_seconds").is_err());
    assert_eq!(
        c.get_metric_series("payload_seconds").unwrap().metric_type(),
        MetricType::Histogram
    );
}

#[test]
fn string_values_past_the_cap_go_to_the_overflow_set_and_are_counted() {
    let c = MetricsCollector::new(MetricsConfig {
        max_tag_sets_per_series: 3,
        system_metrics_interval: Duration::ZERO,
        ..MetricsConfig::default()
    });
    let f = c.counter_family::<RouteLabels>("hits").unwrap();
    let routes: Vec<String> = (0..10).map(|i| format!("/r{i}")).collect();
    for r in &routes {
        f.increment(
            &RouteLabels {
                method: Method::Get,
                route: r,
            },
            1,
        )
        .unwrap();
    }
    // Again: overflowing updates are counted every time, not cached.
    for r in &routes {
        f.increment(
            &RouteLabels {
                method: Method::Get,
                route: r,
            },
            1,
        )
        .unwrap();
    }
    assert_capped_at_three(&c, "hits", &[("method", "GET"), ("route", "/r0")]);
}

#[test]
fn a_value_the_store_rejects_is_an_error_naming_it() {
    let c = MetricsCollector::default();
    let f = c.counter_family::<RouteLabels>("bad_values").unwrap();
    let err = f
        .increment(
            &RouteLabels {
                method: Method::Get,
                route: "a\u{7}b",
            },
            1,
        )
        .unwrap_err();
    assert!(err.to_string().contains("route"), "{err}");
    // Nothing recorded, and the family keeps working.
    f.increment(
        &RouteLabels {
            method: Method::Get,
            route: "/ok",
        },
        1,
    )
    .unwrap();
    assert_eq!(c.get_metric_series("bad_values").unwrap().tag_sets().len(), 1);
}

#[test]
fn families_are_shared_across_threads() {
    let c = MetricsCollector::default();
    let f = c.counter_family::<FixedLabels>("threads").unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    f.increment(
                        &FixedLabels {
                            method: Method::Get,
                            status: Status::Ok,
                            hit: true,
                        },
                        1,
                    )
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(
        f.get(&FixedLabels {
            method: Method::Get,
            status: Status::Ok,
            hit: true
        })
        .unwrap()
        .value(),
        4000
    );
}

#[test]
fn bucket_layouts_reject_bad_parameters_naming_them() {
    assert_eq!(
        Buckets::exponential(1.0, 2.0, 4).unwrap().bounds(),
        &[1.0, 2.0, 4.0, 8.0]
    );
    assert_eq!(Buckets::linear(0.0, 0.5, 3).unwrap().bounds(), &[0.0, 0.5, 1.0]);
    assert_eq!(
        Buckets::exponential(-1.0, 2.0, 4),
        Err(BucketsError::Start { start: -1.0 })
    );
    assert_eq!(
        Buckets::exponential(1.0, 1.0, 4),
        Err(BucketsError::Factor { factor: 1.0 })
    );
    assert_eq!(Buckets::exponential(1.0, 2.0, 0), Err(BucketsError::Count { count: 0 }));
    assert_eq!(Buckets::linear(0.0, 0.0, 3), Err(BucketsError::Width { width: 0.0 }));
    assert_eq!(
        Buckets::linear(0.0, 1.0, 5000),
        Err(BucketsError::Count { count: 5000 })
    );
    assert!(matches!(
        Buckets::exponential(1e300, 1e10, 3),
        Err(BucketsError::Bound { index: 1, .. })
    ));
    assert!(matches!(
        Buckets::from_bounds(vec![1.0, 1.0]),
        Err(BucketsError::Bound { index: 1, .. })
    ));
    let msg = Buckets::exponential(1.0, 0.5, 3).unwrap_err().to_string();
    assert!(msg.contains("0.5"), "{msg}");
}

#[test]
fn single_handles_take_buckets_too() {
    let c = MetricsCollector::default();
    let h = c
        .histogram_with_buckets("sizes", &[("kind", "a")], &Buckets::linear(10.0, 10.0, 2).unwrap())
        .unwrap();
    h.record(15.0);
    assert_eq!(h.series().buckets(), &[10.0, 20.0]);
    let t = c
        .timer_with_buckets("waits", &[], &Buckets::exponential(0.01, 2.0, 3).unwrap())
        .unwrap();
    t.record(Duration::from_millis(15));
    assert_eq!(t.series().buckets(), &[0.01, 0.02, 0.04]);
}

#[test]
fn a_label_set_takes_a_cache_slot_at_its_second_update_not_at_the_one_that_creates_it() {
    // Unique values (a user id, a request id) are mostly recorded once:
    // they should cost their tag set, not also a slot of the family's table.
    let c = MetricsCollector::default();
    let f = c.counter_family::<RouteLabels>("requests").unwrap();
    let routes: Vec<String> = (0..1_000).map(|i| format!("/users/{i}")).collect();
    for route in &routes {
        f.increment(
            &RouteLabels {
                method: Method::Get,
                route,
            },
            1,
        )
        .unwrap();
    }
    assert!(format!("{f:?}").contains("sparse: 0"), "{f:?}");
    let again = RouteLabels {
        method: Method::Get,
        route: &routes[7],
    };
    f.increment(&again, 2).unwrap();
    assert!(format!("{f:?}").contains("sparse: 1"), "{f:?}");
    f.increment(&again, 3).unwrap();
    f.get(&again).unwrap().increment(4);
    assert!(format!("{f:?}").contains("sparse: 1"), "{f:?}");
    let total = |route: &str| counter_total(&c, "requests", &[("method", "GET"), ("route", route)]);
    assert_eq!(total("/users/7"), Some(AggregateValue::Counter { total: 10.0 }));
    assert_eq!(total("/users/8"), Some(AggregateValue::Counter { total: 1.0 }));
    assert_eq!(c.get_metric_series("requests").unwrap().tag_sets().len(), 1_000);
}
