//! A traced async service (tokio, `#[tracing::instrument]`) run under
//! [`MetricsLayer`]: its spans become timers tagged with the allowed
//! fields, its prefixed event fields become updates, and a function both
//! traced and `#[record_execution_time]`d is measured once by each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_bridge::{LayerConfig, LayerConfigError, MetricsLayer};
use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{AggregateValue, HistogramSnapshot, MetricType, MetricsCollector, MetricsConfig};
use tracing_subscriber::layer::SubscriberExt;

const SLEEP: Duration = Duration::from_millis(20);

/// A request handler: waits on a timer (idle, not busy), works a little
/// (busy), reports its status on the span, and emits metric events.
#[tracing::instrument(target = "shop", skip_all, fields(route = route, user_id = user_id, status = tracing::field::Empty))]
async fn handle_request(route: &'static str, user_id: u64) -> u16 {
    tokio::time::sleep(SLEEP).await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(200) {
        std::hint::spin_loop();
    }
    let status = if route == "/b" { 404 } else { 200 };
    tracing::Span::current().record("status", status);
    tracing::info!(counter.requests_served = 1u64, route, user_id, "served");
    tracing::info!(histogram.response_size = 512.0, gauge.last_user = user_id as f64, route);
    status
}

/// The service: five concurrent requests on a current-thread runtime.
fn run_service(layer: MetricsLayer) {
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut tasks = Vec::new();
            for (route, user) in [("/a", 1), ("/a", 2), ("/a", 3), ("/b", 4), ("/b", 5)] {
                tasks.push(tokio::spawn(handle_request(route, user)));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
    });
}

fn histogram(c: &MetricsCollector, name: &str, tags: &[(&str, &str)]) -> HistogramSnapshot {
    match c.get_metric_series(name).unwrap().aggregate(tags) {
        Some(AggregateValue::Histogram(h)) => h,
        other => panic!("{name} {tags:?}: {other:?}"),
    }
}

fn layer(c: &Arc<MetricsCollector>, fields: &[&str]) -> MetricsLayer {
    MetricsLayer::new(
        Arc::clone(c),
        LayerConfig::default().with_fields(fields.iter().copied()),
    )
    .unwrap()
}

#[test]
fn spans_of_an_async_service_are_timers_tagged_with_allowed_fields() {
    let c = Arc::new(MetricsCollector::default());
    let l = layer(&c, &["route", "status"]);
    run_service(l.clone());
    let name = "shop.handle_request.duration";
    let series = c.get_metric_series(name).unwrap();
    assert_eq!(series.metric_type(), MetricType::Timer);

    let a_busy = histogram(&c, name, &[("route", "/a"), ("status", "200"), ("time", "busy")]);
    let a_total = histogram(&c, name, &[("route", "/a"), ("status", "200"), ("time", "total")]);
    let b_total = histogram(&c, name, &[("route", "/b"), ("status", "404"), ("time", "total")]);
    assert_eq!((a_busy.count, a_total.count, b_total.count), (3, 3, 2));
    // Total time includes the awaited sleep; busy time is only while polled.
    assert!(a_total.min >= SLEEP.as_secs_f64(), "total {a_total:?}");
    assert!(
        a_busy.sum + 3.0 * SLEEP.as_secs_f64() <= a_total.sum + 1e-9,
        "busy {a_busy:?} total {a_total:?}"
    );
    assert!(a_busy.min > 0.0, "{a_busy:?}");

    // user_id is not allowed: no tag set carries it.
    let keys: Vec<Vec<String>> = series
        .tag_sets()
        .iter()
        .map(|t| t.keys().map(str::to_owned).collect())
        .collect();
    assert_eq!(series.tag_sets().len(), 4, "{keys:?}");
    assert!(keys.iter().all(|k| k == &["route", "status", "time"]), "{keys:?}");
    assert_eq!(l.rejected_updates(), 0, "{:?}", l.last_error());

    // And in the exposition, under the sanitized timer name.
    let text = encode(&c.aggregate_snapshot(), TextFormat::Prometheus).text;
    let count = test_support::sample_value(
        &text,
        "shop_handle_request_duration_seconds_count{",
        &["route=\"/a\"", "status=\"200\"", "time=\"total\""],
    );
    assert_eq!(count, Some(3.0), "{text}");
}

#[test]
fn prefixed_event_fields_become_counter_histogram_and_gauge_updates() {
    let c = Arc::new(MetricsCollector::default());
    let l = layer(&c, &["route"]);
    run_service(l.clone());
    let served = c.get_metric_series("requests_served").unwrap();
    assert_eq!(served.metric_type(), MetricType::Counter);
    assert_eq!(
        served.aggregate(&[("route", "/a")]),
        Some(AggregateValue::Counter { total: 3.0 })
    );
    assert_eq!(
        served.aggregate(&[("route", "/b")]),
        Some(AggregateValue::Counter { total: 2.0 })
    );
    assert_eq!(served.tag_sets().len(), 2, "user_id is an event field but not allowed");
    let size = histogram(&c, "response_size", &[("route", "/a")]);
    assert_eq!((size.count, size.sum), (3, 1536.0));
    let last_user = c.get_metric_series("last_user").unwrap();
    assert_eq!(last_user.metric_type(), MetricType::Gauge);
    assert!(
        matches!(last_user.aggregate(&[("route", "/b")]), Some(AggregateValue::Gauge { value }) if value == 4.0 || value == 5.0)
    );
    assert_eq!(l.rejected_updates(), 0, "{:?}", l.last_error());
}

#[test]
fn bad_event_values_are_refused_and_reported() {
    let c = Arc::new(MetricsCollector::default());
    let l = layer(&c, &[]);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(l.clone()), || {
        tracing::info!(counter.bad_text = "seven");
        tracing::info!(counter.bad_negative = -3i64);
        tracing::info!(gauge.bad_nan = f64::NAN);
        tracing::info!(counter.fraction = 0.5);
        tracing::info!(counter.fraction = 0.25);
    });
    assert_eq!(l.rejected_updates(), 3, "{:?}", l.last_error());
    assert!(c.get_metric_series("bad_text").is_none());
    assert!(c.get_metric_series("bad_negative").is_none());
    assert!(l.last_error().unwrap().contains("bad_nan"), "{:?}", l.last_error());
    assert_eq!(
        c.get_metric_series("fraction").unwrap().aggregate(&[]),
        Some(AggregateValue::Counter { total: 0.75 })
    );
}

#[test]
fn the_cardinality_cap_applies_to_allowed_fields() {
    let c = Arc::new(MetricsCollector::new(MetricsConfig {
        max_tag_sets_per_series: 2,
        ..MetricsConfig::default()
    }));
    let l = layer(&c, &["user_id"]);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(l), || {
        for user in 0..5u64 {
            tracing::info_span!(target: "auth", "login", user_id = user).in_scope(|| ());
        }
    });
    let series = c.get_metric_series("auth.login.duration").unwrap();
    // Two real tag sets (user 0 busy and total), everything else folded.
    assert_eq!(series.tag_sets().len(), 3);
    let overflow = histogram(&c, "auth.login.duration", &[("overflow", "true")]);
    assert_eq!(overflow.count, 8);
}

#[test]
fn the_timer_name_and_time_tag_are_configurable_and_checked() {
    let c = Arc::new(MetricsCollector::default());
    let config = LayerConfig::default()
        .with_span_metric_name("spans.{name}_seconds")
        .with_time_tag("phase");
    let l = MetricsLayer::new(Arc::clone(&c), config).unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(l), || {
        tracing::info_span!("compact").in_scope(|| ());
    });
    assert_eq!(histogram(&c, "spans.compact_seconds", &[("phase", "busy")]).count, 1);
    assert_eq!(histogram(&c, "spans.compact_seconds", &[("phase", "total")]).count, 1);

    let no_name = MetricsLayer::new(
        Arc::clone(&c),
        LayerConfig::default().with_span_metric_name("{target}.x"),
    );
    assert!(matches!(&no_name, Err(LayerConfigError::NoNamePlaceholder { template }) if template == "{target}.x"));
    assert!(no_name.unwrap_err().to_string().contains("{target}.x"));
    let clash = LayerConfig::default().with_fields(["time"]);
    assert!(matches!(clash.validate(), Err(LayerConfigError::BadTimeTag { tag }) if tag == "time"));
}

mod composed {
    //! A function both traced and timed by `#[record_execution_time]`.

    #[metrics_core::record_execution_time]
    #[tracing::instrument(skip_all, fields(shard = shard))]
    pub(super) fn compact_shard(shard: u32) -> u32 {
        shard * 2
    }
}

#[test]
fn a_traced_and_timed_function_is_measured_once_by_each() {
    // #[record_execution_time] records into the process-wide collector.
    let c = metrics_core::global_metrics_collector();
    let l = layer(&c, &["shard"]);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(l), || {
        assert_eq!(composed::compact_shard(3), 6);
    });
    let prefix = "tracing_layer::composed.compact_shard";
    let module = "tracing_layer::composed";
    let timed = histogram(
        &c,
        &format!("{prefix}.execution_time"),
        &[("function", "compact_shard"), ("module", module), ("outcome", "ok")],
    );
    assert_eq!(timed.count, 1);
    let busy = histogram(&c, &format!("{prefix}.duration"), &[("shard", "3"), ("time", "busy")]);
    let total = histogram(&c, &format!("{prefix}.duration"), &[("shard", "3"), ("time", "total")]);
    assert_eq!((busy.count, total.count), (1, 1));
}
