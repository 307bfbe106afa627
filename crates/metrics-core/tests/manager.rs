//! Configuration errors and the manager's lifecycle: periodic export,
//! shutdown joins its threads and writes the final exports, disabled
//! configurations write nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use metrics_core::export::json::decode;
use metrics_core::{
    ConfigError, MetricType, MetricsCollector, MetricsConfig, MetricsError, MetricsManager, get_metrics_collector,
    initialize_metrics_with, shutdown_metrics,
};

/// Manager tests look at this process' threads, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Polls `done` every 10 ms for up to 20 s; true once it holds.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Names of this process' threads (Linux).
fn thread_names() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

fn background_threads() -> usize {
    thread_names()
        .iter()
        .filter(|n| *n == "metrics-export" || *n == "metrics-system")
        .count()
}

fn from(vars: &[(&str, &str)]) -> Result<MetricsConfig, ConfigError> {
    let map: HashMap<&str, &str> = vars.iter().copied().collect();
    MetricsConfig::from_lookup(|k| map.get(k).map(|v| (*v).to_owned()))
}

fn fast_config(storage: &Path) -> MetricsConfig {
    MetricsConfig {
        storage_path: storage.to_path_buf(),
        export_interval: Duration::from_millis(50),
        system_metrics_interval: Duration::from_millis(50),
        ..MetricsConfig::default()
    }
}

#[test]
fn every_bad_environment_value_is_an_error_naming_variable_and_value() {
    let cases = [
        ("METRICS_ENABLED", "maybe"),
        ("METRICS_ENABLED", ""),
        ("METRICS_ENABLED", "2"),
        ("METRICS_STORAGE_PATH", ""),
        ("METRICS_STORAGE_PATH", "   "),
        ("METRICS_RETENTION_HOURS", "0"),
        ("METRICS_RETENTION_HOURS", "-3"),
        ("METRICS_RETENTION_HOURS", "two"),
        ("METRICS_RETENTION_HOURS", "inf"),
        ("METRICS_RETENTION_HOURS", "NaN"),
        ("METRICS_RETENTION_HOURS", "1e300"),
        ("METRICS_EXPORT_INTERVAL_MINUTES", "-1"),
        ("METRICS_EXPORT_INTERVAL_MINUTES", "5m"),
        ("METRICS_SYSTEM_INTERVAL_SECONDS", "1e400"),
        ("METRICS_SYSTEM_INTERVAL_SECONDS", "ten"),
    ];
    for (var, value) in cases {
        let err = from(&[(var, value)]).unwrap_err();
        assert_eq!((err.variable.as_str(), err.value.as_str()), (var, value));
        assert!(!err.reason.is_empty());
        let msg = err.to_string();
        assert!(msg.contains(var) && msg.contains(&format!("{value:?}")), "{msg}");
        // It converts into the crate's error with the same message.
        let wrapped = MetricsError::from(err.clone());
        assert!(matches!(wrapped, MetricsError::Config(_)));
        assert_eq!(wrapped.to_string(), msg);
    }
}

#[test]
fn good_environment_values_are_read() {
    let c = from(&[
        ("METRICS_ENABLED", " No "),
        ("METRICS_STORAGE_PATH", "/srv/metrics"),
        ("METRICS_RETENTION_HOURS", "1.5"),
        ("METRICS_EXPORT_INTERVAL_MINUTES", "0"),
        ("METRICS_SYSTEM_INTERVAL_SECONDS", "0.25"),
    ])
    .unwrap();
    assert!(!c.enabled);
    assert_eq!(c.storage_path, Path::new("/srv/metrics"));
    assert_eq!(c.retention, Duration::from_secs(5400));
    assert_eq!(c.export_interval, Duration::ZERO);
    assert_eq!(c.system_metrics_interval, Duration::from_millis(250));
    for yes in ["1", "true", "YES", "on"] {
        assert!(from(&[("METRICS_ENABLED", yes)]).unwrap().enabled, "{yes}");
    }
    assert_eq!(from(&[]).unwrap(), MetricsConfig::default());
}

#[test]
fn config_deserialization_rejects_negative_durations() {
    let err = serde_json::from_str::<MetricsConfig>(r#"{"retention": -5}"#).unwrap_err();
    assert!(err.to_string().contains("-5"), "{err}");
    let ok: MetricsConfig = serde_json::from_str(r#"{"export_interval": 0.05}"#).unwrap();
    assert_eq!(ok.export_interval, Duration::from_millis(50));
}

// The CSV files and the system sampler's thread are checked: both features.
#[cfg(all(feature = "csv", feature = "system"))]
#[test]
fn periodic_export_then_shutdown_joins_threads_and_writes_final_exports() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("metrics");
    let config = fast_config(&storage);
    let collector = Arc::new(MetricsCollector::new(config.clone()));
    let mut manager = MetricsManager::for_collector(config, Arc::clone(&collector));
    assert!(!manager.is_running());
    manager.initialize().unwrap();
    assert!(manager.is_running());
    // A second initialize while running starts nothing new.
    manager.initialize().unwrap();

    collector
        .record_metric("jobs_started", 1.0, &[], MetricType::Counter)
        .unwrap();
    let periodic = storage.join("metrics.json");
    let exported_jobs = || {
        std::fs::read_to_string(&periodic)
            .ok()
            .and_then(|t| decode(&t).ok())
            .is_some_and(|e| e.contains_key("jobs_started"))
    };
    assert!(
        eventually(exported_jobs),
        "no periodic export of jobs_started in {periodic:?}"
    );
    // One export writes the JSON file, then the CSV directory.
    assert!(
        eventually(|| storage.join("csv").is_dir()),
        "no periodic CSV export in {storage:?}"
    );
    assert!(
        eventually(|| collector.get_metric_series("system.memory_used_mb").is_some()),
        "the system sampler recorded nothing"
    );
    if cfg!(target_os = "linux") {
        assert_eq!(background_threads(), 2, "{:?}", thread_names());
    }

    collector
        .record_metric("last_before_shutdown", 42.0, &[("phase", "final")], MetricType::Gauge)
        .unwrap();
    let written = manager.shutdown().unwrap();
    assert!(!manager.is_running());
    if cfg!(target_os = "linux") {
        assert!(eventually(|| background_threads() == 0), "{:?}", thread_names());
    }
    assert_eq!(manager.last_error(), None);

    assert_eq!(written.json, periodic);
    let export = decode(&std::fs::read_to_string(&written.json).unwrap()).unwrap();
    let last = &export["last_before_shutdown"];
    assert_eq!(last.values.len(), 1);
    assert_eq!(last.values[0].value, 42.0);
    assert_eq!(last.values[0].tags.get("phase"), Some("final"));

    let csv_dir = storage.join("csv");
    assert!(written.csv.iter().all(|p| p.parent() == Some(csv_dir.as_path())));
    let last_csv = csv_dir.join("last_before_shutdown.csv");
    assert!(written.csv.contains(&last_csv), "{:?}", written.csv);
    let mut reader = csv::Reader::from_path(&last_csv).unwrap();
    assert_eq!(reader.headers().unwrap(), vec!["timestamp", "value", "phase"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!((&rows[0][1], &rows[0][2]), ("42", "final"));

    // A second shutdown has nothing left to do and writes nothing.
    assert_eq!(manager.shutdown().unwrap(), metrics_core::ExportPaths::default());
}

#[cfg(feature = "csv")]
#[test]
fn dropping_a_running_manager_shuts_it_down_with_a_final_export() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let config = MetricsConfig {
        storage_path: dir.path().to_path_buf(),
        export_interval: Duration::ZERO,
        system_metrics_interval: Duration::ZERO,
        ..MetricsConfig::default()
    };
    let collector = Arc::new(MetricsCollector::new(config.clone()));
    {
        let mut manager = MetricsManager::for_collector(config, Arc::clone(&collector));
        manager.initialize().unwrap();
        collector.record_metric("m", 1.0, &[], MetricType::Counter).unwrap();
        // Zero intervals: nothing runs in the background and nothing is exported yet.
        assert!(!dir.path().join("metrics.json").exists());
    }
    let export = decode(&std::fs::read_to_string(dir.path().join("metrics.json")).unwrap()).unwrap();
    assert!(export.contains_key("m"));
    assert!(dir.path().join("csv/m.csv").is_file());
}

#[test]
fn a_disabled_manager_records_nothing_and_writes_nothing() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("metrics");
    let config = MetricsConfig {
        enabled: false,
        ..fast_config(&storage)
    };
    // The collector starts enabled; the manager applies the configuration.
    let collector = Arc::new(MetricsCollector::new(MetricsConfig::default()));
    let mut manager = MetricsManager::for_collector(config, Arc::clone(&collector));
    manager.initialize().unwrap();
    assert!(!collector.is_enabled());
    assert!(!manager.is_running());
    if cfg!(target_os = "linux") {
        assert_eq!(background_threads(), 0, "{:?}", thread_names());
    }
    collector.record_metric("jobs", 1.0, &[], MetricType::Counter).unwrap();
    let counter = collector.counter("handled", &[]).unwrap();
    counter.increment(3);
    assert!(collector.get_metric_series("jobs").is_none());
    assert_eq!(counter.value(), 0);
    assert_eq!(manager.shutdown().unwrap(), metrics_core::ExportPaths::default());
    assert!(!storage.exists(), "a disabled manager created {storage:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_storage_path_that_is_a_file_fails_initialize_naming_it() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("occupied");
    std::fs::write(&file, b"not a directory").unwrap();
    let config = fast_config(&file);
    let collector = Arc::new(MetricsCollector::new(config.clone()));
    let mut manager = MetricsManager::for_collector(config, collector);
    let err = manager.initialize().unwrap_err();
    assert!(matches!(err, MetricsError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("occupied"), "{err}");
    assert!(!manager.is_running());
    if cfg!(target_os = "linux") {
        assert_eq!(background_threads(), 0, "{:?}", thread_names());
    }
}

#[test]
fn the_global_manager_initializes_and_shuts_down_the_global_collector() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let config = MetricsConfig {
        export_interval: Duration::from_secs(3600),
        system_metrics_interval: Duration::ZERO,
        ..fast_config(dir.path())
    };
    initialize_metrics_with(config.clone()).unwrap();
    // Initializing again while running is a no-op.
    initialize_metrics_with(config).unwrap();
    get_metrics_collector()
        .record_metric("global_jobs", 2.0, &[], MetricType::Counter)
        .unwrap();
    let written = shutdown_metrics().unwrap().expect("the manager was initialized");
    let export = decode(&std::fs::read_to_string(&written.json).unwrap()).unwrap();
    assert_eq!(export["global_jobs"].values[0].value, 2.0);
    assert_eq!(shutdown_metrics().unwrap(), None, "already shut down");
    if cfg!(target_os = "linux") {
        assert!(eventually(|| background_threads() == 0), "{:?}", thread_names());
    }
}

#[test]
fn a_configured_store_without_a_store_crate_is_an_error_naming_metrics_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = MetricsConfig {
        store: Some(dir.path().join("metrics.db")),
        storage_path: dir.path().join("exports"),
        ..MetricsConfig::default()
    };
    let mut manager = MetricsManager::for_collector(config, std::sync::Arc::new(MetricsCollector::default()));
    let err = manager.initialize().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("METRICS_STORE") && text.contains("metrics_store::install()"),
        "{text}"
    );
    assert!(!manager.is_running());
    assert!(!dir.path().join("metrics.db").exists());
}
