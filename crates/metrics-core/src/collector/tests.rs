//! Unit tests of the collector.

use super::*;
use crate::error::MetricsError;

#[test]
fn a_first_call_with_bad_tags_creates_no_series() {
    let c = MetricsCollector::default();
    let empty_key: &[(&str, &str)] = &[("", "v")];
    assert!(matches!(
        c.record_metric("m", 1.0, empty_key, MetricType::Gauge)
            .map_err(MetricsError::from),
        Err(MetricsError::EmptyTagKey { .. })
    ));
    assert!(matches!(
        c.counter("c", &[("overflow", "x")]),
        Err(MetricsError::ReservedTagKey { .. })
    ));
    assert!(c.list_series().is_empty());
    // The name stays free for any type.
    c.record_metric("m", 1.0, &[], MetricType::Counter).unwrap();
}
