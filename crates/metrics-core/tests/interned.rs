//! Interned string label values: interned once, keyed by their integer in a
//! family, and still the same series, export and cap as any string value.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/capped.rs"]
mod capped;

use std::collections::HashSet;
use std::time::Duration;

use capped::assert_capped_at_three;
use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{AggregateValue, Interned, LabelSet, LabelValue, MetricsCollector, MetricsConfig};

#[derive(Clone, Copy, LabelValue)]
enum Method {
    #[label(name = "GET")]
    Get,
    #[label(name = "POST")]
    Post,
}

#[derive(LabelSet)]
struct Request {
    method: Method,
    route: Interned,
}

#[test]
fn an_interned_field_names_the_same_series_as_string_tags_and_is_exported() {
    let c = MetricsCollector::default();
    let users = Interned::new("/api/v1/users").unwrap();
    let jobs = Interned::new("/api/v1/jobs").unwrap();
    let f = c.counter_family::<Request>("http_requests").unwrap();
    for _ in 0..3 {
        f.increment(
            &Request {
                method: Method::Get,
                route: users,
            },
            1,
        )
        .unwrap();
    }
    f.get(&Request {
        method: Method::Post,
        route: jobs,
    })
    .unwrap()
    .increment(5);
    c.increment_counter("http_requests", &[("method", "GET"), ("route", "/api/v1/users")], 10)
        .unwrap();

    let s = c.get_metric_series("http_requests").unwrap();
    assert_eq!(s.tag_sets().len(), 2);
    assert_eq!(
        s.aggregate(&[("route", "/api/v1/users"), ("method", "GET")]),
        Some(AggregateValue::Counter { total: 13.0 })
    );
    assert_eq!(
        s.aggregate(&[("method", "POST"), ("route", "/api/v1/jobs")]),
        Some(AggregateValue::Counter { total: 5.0 })
    );
    let text = encode(&c.aggregate_snapshot(), TextFormat::Prometheus).text;
    assert!(
        text.contains("http_requests_total{method=\"GET\",route=\"/api/v1/users\"} 13"),
        "{text}"
    );

    // A gauge family over the same label set keys by the same ids.
    let g = c.gauge_family::<Request>("in_flight").unwrap();
    g.set(
        &Request {
            method: Method::Get,
            route: users,
        },
        2.0,
    )
    .unwrap();
    g.increment(
        &Request {
            method: Method::Get,
            route: Interned::new("/api/v1/users").unwrap(),
        },
        1.0,
    )
    .unwrap();
    assert_eq!(
        c.get_metric_series("in_flight")
            .unwrap()
            .aggregate(&[("method", "GET"), ("route", "/api/v1/users")]),
        Some(AggregateValue::Gauge { value: 3.0 })
    );
}

#[test]
fn interned_values_past_the_cap_go_to_the_overflow_set_and_are_counted() {
    let c = MetricsCollector::new(MetricsConfig {
        max_tag_sets_per_series: 3,
        system_metrics_interval: Duration::ZERO,
        ..MetricsConfig::default()
    });
    let f = c.counter_family::<Request>("capped").unwrap();
    let routes: Vec<Interned> = (0..10)
        .map(|i| Interned::new(&format!("/capped/{i}")).unwrap())
        .collect();
    for _ in 0..2 {
        for &route in &routes {
            f.increment(
                &Request {
                    method: Method::Get,
                    route,
                },
                1,
            )
            .unwrap();
        }
    }
    assert_capped_at_three(&c, "capped", &[("method", "GET"), ("route", "/capped/0")]);
}

#[test]
fn a_value_no_tag_may_hold_is_refused_when_interned_naming_it() {
    let c = MetricsCollector::default();
    let f = c.counter_family::<Request>("rejected").unwrap();
    // Refused up front, where the store would refuse it at every update.
    let err = Interned::new("a\u{7}b").unwrap_err();
    assert!(err.to_string().contains("\"a\\u{7}b\""), "{err}");
    let long = "x".repeat(2000);
    let err = Interned::new(&long).unwrap_err();
    assert!(err.to_string().contains("2000 bytes"), "{err}");
    assert_eq!(Interned::get("a\u{7}b"), None);
    assert_eq!(Interned::get(&long), None);
    // Nothing recorded, and the family keeps working.
    f.increment(
        &Request {
            method: Method::Get,
            route: Interned::new("/ok").unwrap(),
        },
        1,
    )
    .unwrap();
    assert_eq!(c.get_metric_series("rejected").unwrap().tag_sets().len(), 1);
}

#[test]
fn threads_interning_one_text_get_one_id() {
    let ids: HashSet<u32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..100)
                        .map(|_| Interned::new("/shared/route").unwrap().id())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(ids.len(), 1);
    assert_eq!(Interned::get("/shared/route").map(|i| i.id()), ids.into_iter().next());
}
