//! The durable store a [`MetricsConfig`](crate::MetricsConfig) names
//! (`store`, `METRICS_STORE=sqlite:PATH`): this crate keeps no database
//! code, so the crate that has one (`metrics-store`) installs a
//! [`DurableStoreBackend`], and [`MetricsManager`](crate::MetricsManager)
//! attaches the configured store through it at `initialize` and finishes
//! it at `shutdown`.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::collector::MetricsCollector;

/// Opens a durable store and attaches it to a collector; installed once per
/// process with [`install_store_backend`] (`metrics_store::install()` does).
pub trait DurableStoreBackend: Send + Sync + 'static {
    /// Opens the store at `path` and attaches it to `collector`: from now on
    /// the samples the collector keeps are written to it. The error says
    /// what is wrong with `path`.
    fn attach(&self, collector: Arc<MetricsCollector>, path: &Path) -> Result<Box<dyn DurableStoreAttachment>, String>;
}

/// A store attached by a [`DurableStoreBackend`].
pub trait DurableStoreAttachment: Send + std::fmt::Debug {
    /// Writes what is left and detaches the store.
    fn finish(self: Box<Self>) -> Result<(), String>;
}

static BACKEND: OnceLock<Box<dyn DurableStoreBackend>> = OnceLock::new();

/// Installs the backend that attaches `MetricsConfig::store`. Only the
/// first call installs; returns whether this one did.
pub fn install_store_backend(backend: Box<dyn DurableStoreBackend>) -> bool {
    BACKEND.set(backend).is_ok()
}

/// The installed backend, if any.
pub(crate) fn store_backend() -> Option<&'static dyn DurableStoreBackend> {
    BACKEND.get().map(|b| &**b)
}
