//! `install()` when another library already set the global `metrics`
//! recorder (its own test binary: the global recorder is per process).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use metrics_core::MetricsCollector;

#[test]
fn install_after_another_recorder_fails_with_a_clear_error_and_records_nothing() {
    metrics::set_global_recorder(metrics::NoopRecorder).unwrap();
    let collector = Arc::new(MetricsCollector::default());
    let error = metrics_bridge::MetricsRecorder::new(Arc::clone(&collector))
        .install()
        .expect_err("a recorder is already set");
    let message = error.to_string();
    assert!(message.contains("already installed"), "{message}");
    assert!(message.contains("before any other"), "{message}");
    assert!(metrics_bridge::install().is_err());

    // The first recorder stays in charge: nothing reaches our collector.
    metrics::counter!("install_conflict_probe").increment(1);
    assert!(collector.get_metric_series("install_conflict_probe").is_none());
    assert!(
        metrics_core::get_metrics_collector()
            .get_metric_series("install_conflict_probe")
            .is_none()
    );
}
