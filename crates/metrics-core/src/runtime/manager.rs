//! `MetricsManager`: configures a collector and runs its background work —
//! system sampling and periodic export — until shut down.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::collector::{MetricsCollector, global_collector_arc};
use crate::config::MetricsConfig;
use crate::error::{MetricsError, Result};
use crate::kind::MetricType;
use crate::persist::{ExportPaths, export_all};

#[derive(Debug, Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl StopSignal {
    /// Waits up to `timeout`; true when stop was requested.
    fn wait(&self, timeout: Duration) -> bool {
        let guard = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }

    fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cv.notify_all();
    }
}

/// Owns a collector's background threads.
///
/// ```no_run
/// use metrics_core::{MetricsConfig, MetricsManager};
/// let mut manager = MetricsManager::new(MetricsConfig::from_env()?);
/// manager.initialize()?;          // global collector configured, threads running
/// // ... the program records metrics ...
/// let written = manager.shutdown()?; // threads joined, final export written
/// println!("{}", written.json.display());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MetricsManager {
    config: MetricsConfig,
    collector: Arc<MetricsCollector>,
    stop: Arc<StopSignal>,
    threads: Vec<JoinHandle<()>>,
    last_error: Arc<Mutex<Option<String>>>,
    running: bool,
    /// The configured durable store, attached while running.
    store: Option<Box<dyn crate::runtime::durable::DurableStoreAttachment>>,
}

impl MetricsManager {
    /// A manager for the process-wide collector.
    pub fn new(config: MetricsConfig) -> Self {
        MetricsManager::for_collector(config, Arc::clone(global_collector_arc()))
    }

    /// A manager for a private collector.
    pub fn for_collector(config: MetricsConfig, collector: Arc<MetricsCollector>) -> Self {
        MetricsManager {
            config,
            collector,
            stop: Arc::new(StopSignal::default()),
            threads: Vec::new(),
            last_error: Arc::new(Mutex::new(None)),
            running: false,
            store: None,
        }
    }

    /// The managed collector.
    pub fn collector(&self) -> &Arc<MetricsCollector> {
        &self.collector
    }

    /// The configuration.
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// Whether background threads are running.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The last error met by a background export or sample, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Applies the configuration to the collector and, when enabled, starts
    /// the system sampler (every `system_metrics_interval`, if non-zero) and
    /// the exporter (every `export_interval`, if non-zero) and the idle-tag-set
    /// sweep (every half `idle_timeout`, at least a second, if set), and
    /// attaches the durable store `store` names (`METRICS_STORE`) through
    /// the backend its crate installed (`metrics_store::install()`).
    /// Calling it again while running does nothing.
    ///
    /// # Errors
    /// [`MetricsError::Io`] if `storage_path` cannot be created;
    /// [`MetricsError::Config`] naming `METRICS_STORE` when a store is
    /// configured but no backend is installed, or it cannot be opened;
    /// [`MetricsError::Thread`] if a thread cannot be spawned.
    pub fn initialize(&mut self) -> Result<()> {
        if self.running {
            return Ok(());
        }
        self.collector.configure(&self.config);
        if !self.config.enabled {
            return Ok(());
        }
        let storage = self.config.storage_path.clone();
        crate::persist::files::create_dir(&storage)?;
        if let Some(path) = &self.config.store {
            self.store = Some(attach_store(&self.collector, path)?);
        }
        self.stop = Arc::new(StopSignal::default());
        self.running = true;
        let interval = self.config.system_metrics_interval;
        // Without the `system` feature there is no sampler: the interval is ignored.
        #[cfg(feature = "system")]
        if !interval.is_zero() {
            let mut sampler = crate::runtime::system::SystemSampler::new()?;
            self.spawn("metrics-system", interval, move |c| sampler.sample(c).map(drop))?;
        }
        #[cfg(not(feature = "system"))]
        let _ = interval;
        let interval = self.config.export_interval;
        if !interval.is_zero() {
            self.spawn("metrics-export", interval, move |c| export_all(c, &storage).map(drop))?;
        }
        // Idle tag sets are also expired at every snapshot; this sweep frees
        // their memory when nothing scrapes or exports for a while.
        if let Some(idle) = self.config.idle_timeout {
            let every = (idle / 2).max(Duration::from_secs(1));
            self.spawn("metrics-idle", every, |c| {
                c.expire_idle();
                Ok(())
            })?;
        }
        Ok(())
    }

    fn spawn(
        &mut self,
        name: &'static str,
        every: Duration,
        mut work: impl FnMut(&MetricsCollector) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let stop = Arc::clone(&self.stop);
        let collector = Arc::clone(&self.collector);
        let last_error = Arc::clone(&self.last_error);
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while !stop.wait(every) {
                    if let Err(e) = work(&collector) {
                        *last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
                        let _ = collector.record_metric(
                            "metrics.background_errors",
                            1.0,
                            &[("thread", name)],
                            MetricType::Counter,
                        );
                    }
                }
            })
            .map_err(|source| MetricsError::Thread { name, source })?;
        self.threads.push(handle);
        Ok(())
    }

    /// Stops and joins the background threads, finishes the durable store
    /// (its last samples written), then writes the final JSON and CSV
    /// exports to `storage_path` (when enabled).
    ///
    /// # Errors
    /// [`MetricsError::Io`] if the final export cannot be written;
    /// [`MetricsError::Store`] if the store's last write failed (the export
    /// is written first). The threads are stopped either way.
    pub fn shutdown(&mut self) -> Result<ExportPaths> {
        self.stop.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let was_running = std::mem::replace(&mut self.running, false);
        // The store's last samples are written whatever the export does.
        let stored = self.store.take().map(|s| s.finish());
        if !was_running || !self.config.enabled {
            return Ok(ExportPaths::default());
        }
        let paths = export_all(&self.collector, &self.config.storage_path)?;
        if let Some(Err(e)) = stored {
            return Err(MetricsError::Store(e));
        }
        Ok(paths)
    }
}

/// Attaches the store `config.store` names through the installed backend.
fn attach_store(
    collector: &Arc<MetricsCollector>,
    path: &std::path::Path,
) -> Result<Box<dyn crate::runtime::durable::DurableStoreAttachment>> {
    let setting = || format!("sqlite:{}", path.display());
    let backend = crate::runtime::durable::store_backend().ok_or_else(|| {
        MetricsError::Config(crate::error::ConfigError {
            variable: "METRICS_STORE".to_owned(),
            value: setting(),
            reason: "no durable store is linked into this program: depend on the metrics-store crate and call \
                     metrics_store::install() before initializing (or set METRICS_STORE=none)"
                .to_owned(),
        })
    })?;
    backend.attach(Arc::clone(collector), path).map_err(|reason| {
        MetricsError::Config(crate::error::ConfigError {
            variable: "METRICS_STORE".to_owned(),
            value: setting(),
            reason,
        })
    })
}

impl Drop for MetricsManager {
    fn drop(&mut self) {
        if self.running {
            let _ = self.shutdown();
        }
    }
}

static GLOBAL_MANAGER: Mutex<Option<MetricsManager>> = Mutex::new(None);

/// Initializes the process-wide collector from the environment
/// ([`MetricsConfig::from_env`]) and starts its background work. A second
/// call while initialized does nothing.
///
/// # Errors
/// A configuration error naming the bad variable, or the errors of
/// [`MetricsManager::initialize`].
pub fn initialize_metrics() -> Result<()> {
    let config = MetricsConfig::from_env()?;
    initialize_metrics_with(config)
}

/// Like [`initialize_metrics`] with an explicit configuration.
///
/// # Errors
/// As [`MetricsManager::initialize`].
pub fn initialize_metrics_with(config: MetricsConfig) -> Result<()> {
    let mut global = GLOBAL_MANAGER.lock().unwrap_or_else(PoisonError::into_inner);
    if global.as_ref().is_some_and(MetricsManager::is_running) {
        return Ok(());
    }
    let mut manager = MetricsManager::new(config);
    manager.initialize()?;
    *global = Some(manager);
    Ok(())
}

/// Stops the process-wide manager and writes the final exports; `None` when
/// it was not initialized.
///
/// # Errors
/// As [`MetricsManager::shutdown`].
pub fn shutdown_metrics() -> Result<Option<ExportPaths>> {
    let manager = GLOBAL_MANAGER.lock().unwrap_or_else(PoisonError::into_inner).take();
    match manager {
        Some(mut m) => m.shutdown().map(Some),
        None => Ok(None),
    }
}
