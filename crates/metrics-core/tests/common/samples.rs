//! Reading retained samples back in integration tests (`#[path]`-included).

use metrics_core::MetricsCollector;

/// The values of the retained samples of series `name`, oldest first.
/// Panics when the series does not exist.
pub(crate) fn sample_values(collector: &MetricsCollector, name: &str) -> Vec<f64> {
    collector
        .get_metric_series(name)
        .unwrap()
        .values()
        .iter()
        .map(|v| v.value)
        .collect()
}
