//! The tracing layer attaches a span's trace id (the field named by
//! `LayerConfig::exemplar_field`) as the exemplar of its timer's bucket
//! (issue 17), checked in OpenMetrics text and by the strict parser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use metrics_bridge::{LayerConfig, MetricsLayer};
use metrics_core::MetricsCollector;
use metrics_core::export::prometheus::{TextFormat, encode};
use test_support::{have_openmetrics_parser, openmetrics_parse};
use tracing_subscriber::layer::SubscriberExt;

fn run(config: LayerConfig) -> String {
    let c = Arc::new(MetricsCollector::default());
    let layer = MetricsLayer::new(Arc::clone(&c), config.with_fields(["route"])).unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!(target: "shop", "checkout", route = "/cart", trace_id = tracing::field::Empty);
        span.record("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
        span.in_scope(|| {});
        drop(span);
        // A span without the field gets no exemplar.
        tracing::info_span!(target: "shop", "browse", route = "/list").in_scope(|| {});
    });
    encode(&c.aggregate_snapshot(), TextFormat::OpenMetrics).text
}

#[test]
fn a_span_trace_id_becomes_its_timer_exemplar() {
    let text = run(LayerConfig::default().with_exemplar_field("trace_id"));
    let with: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("# {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"}"))
        .collect();
    // Busy and total each carry it, on the checkout timer only.
    assert_eq!(with.len(), 2, "{text}");
    assert!(
        with.iter()
            .all(|l| l.starts_with("shop_checkout_duration_seconds_bucket{")),
        "{text}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("shop_browse") && l.contains(" # {")),
        "{text}"
    );
    // The trace id is an exemplar, not a tag.
    assert!(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| !l.split(" # ").next().unwrap_or("").contains("trace_id")),
        "{text}"
    );
    if have_openmetrics_parser() {
        let (code, out) = openmetrics_parse(&text);
        assert_eq!(code, 0, "parser said:\n{out}\n{text}");
    }
}

#[test]
fn without_an_exemplar_field_no_exemplar_is_written() {
    let text = run(LayerConfig::default());
    assert!(
        !text.lines().any(|l| !l.starts_with('#') && l.contains(" # ")),
        "{text}"
    );
}
