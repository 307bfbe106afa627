//! `METRICS_STORE=sqlite:PATH` through `MetricsManager`: with
//! `metrics_store::install()`, the manager's collector is recorded into the
//! configured database until shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use metrics_core::{MetricType, MetricsCollector, MetricsConfig, MetricsError, MetricsManager};
use metrics_store::{RunFilter, SampleQuery, StoreReader};

fn config(dir: &std::path::Path, store: std::path::PathBuf) -> MetricsConfig {
    MetricsConfig {
        store: Some(store),
        storage_path: dir.join("exports"),
        system_metrics_interval: std::time::Duration::ZERO,
        export_interval: std::time::Duration::ZERO,
        ..MetricsConfig::default()
    }
}

#[test]
fn a_manager_records_into_the_configured_store_until_shutdown() {
    metrics_store::install();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested").join("metrics.db");
    let collector = Arc::new(MetricsCollector::default());
    let mut manager = MetricsManager::for_collector(config(dir.path(), db.clone()), Arc::clone(&collector));
    manager.initialize().unwrap();
    for i in 0..5 {
        collector
            .record_metric(
                "job_duration_seconds",
                f64::from(i),
                &[("status", "ok")],
                MetricType::Timer,
            )
            .unwrap();
    }
    manager.shutdown().unwrap();

    let reader = StoreReader::open(&db).unwrap();
    let runs = reader.runs().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].name.contains(&format!("-{}-", std::process::id())), "{runs:?}");
    let samples = reader
        .query(&SampleQuery {
            runs: RunFilter::Named(runs[0].name.clone()),
            ..SampleQuery::new("job_duration_seconds")
        })
        .unwrap();
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    assert_eq!(values, [0.0, 1.0, 2.0, 3.0, 4.0]);
    assert_eq!(samples[0].tags["status"], "ok");
}

#[test]
fn a_store_that_cannot_be_opened_is_an_initialize_error_naming_it() {
    metrics_store::install();
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("notes.db");
    std::fs::write(&foreign, b"not a database, and not to be overwritten").unwrap();
    let mut manager = MetricsManager::for_collector(
        config(dir.path(), foreign.clone()),
        Arc::new(MetricsCollector::default()),
    );
    let err = manager.initialize().unwrap_err();
    assert!(matches!(err, MetricsError::Config(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("METRICS_STORE") && text.contains("notes.db"), "{text}");
    assert_eq!(
        std::fs::read(&foreign).unwrap(),
        b"not a database, and not to be overwritten"
    );
}
