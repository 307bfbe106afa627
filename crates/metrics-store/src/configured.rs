//! `METRICS_STORE=sqlite:PATH` for programs that use `MetricsManager`:
//! [`install`] gives metrics-core the backend that opens the configured
//! database and records the manager's collector into it, one run per
//! process, until `shutdown`.

use std::path::Path;
use std::sync::Arc;

use metrics_core::{DurableStoreAttachment, DurableStoreBackend, MetricsCollector};

use crate::{MetricsStore, Recording, RunInfo, StoreOptions};

/// Lets [`MetricsManager`](metrics_core::MetricsManager) (and
/// `initialize_metrics`) attach the store `MetricsConfig::store` names
/// (`METRICS_STORE=sqlite:PATH`). Call it once before initializing; later
/// calls do nothing. Each initialized manager records into a run of its
/// own, named `<program>-<pid>-<unix seconds>`.
///
/// ```
/// use metrics_core::{MetricType, MetricsConfig, MetricsManager};
/// let dir = tempfile::tempdir()?;
/// metrics_store::install();
/// let config = MetricsConfig {
///     store: Some(dir.path().join("metrics.db")),
///     storage_path: dir.path().join("exports"),
///     ..MetricsConfig::default()
/// };
/// let mut manager = MetricsManager::for_collector(config, Default::default());
/// manager.initialize()?;
/// manager.collector().record_metric("jobs", 1.0, &[], MetricType::Counter)?;
/// manager.shutdown()?;
/// let stored = metrics_store::StoreReader::open(dir.path().join("metrics.db"))?
///     .query(&metrics_store::SampleQuery::new("jobs"))?;
/// assert_eq!(stored.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn install() {
    metrics_core::install_store_backend(Box::new(SqliteBackend));
}

struct SqliteBackend;

impl DurableStoreBackend for SqliteBackend {
    fn attach(&self, collector: Arc<MetricsCollector>, path: &Path) -> Result<Box<dyn DurableStoreAttachment>, String> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        let store = MetricsStore::open(path, StoreOptions::default()).map_err(|e| e.to_string())?;
        let run = store
            .begin_run(&RunInfo::current(run_name()))
            .map_err(|e| e.to_string())?;
        let recording = store.record(collector, run).map_err(|e| e.to_string())?;
        Ok(Box::new(ConfiguredRecording(recording)))
    }
}

/// `<program>-<pid>-<unix seconds>`: one run per initialized process.
fn run_name() -> String {
    let program = std::env::args()
        .next()
        .as_deref()
        .map(Path::new)
        .and_then(Path::file_name)
        .map_or_else(|| "metrics".to_owned(), |n| n.to_string_lossy().into_owned());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    format!("{program}-{}-{now}", std::process::id())
}

#[derive(Debug)]
struct ConfiguredRecording(Recording);

impl DurableStoreAttachment for ConfiguredRecording {
    fn finish(self: Box<Self>) -> Result<(), String> {
        let (_, status) = self.0.finish().map_err(|e| e.to_string())?;
        match status.first_error {
            Some(e) => Err(format!("{} samples not written: {e}", status.dropped + status.failed)),
            None => Ok(()),
        }
    }
}
