//! Metrics that outlive the process: a durable, crash-safe SQLite store for
//! the samples and aggregates of a [`metrics_core::MetricsCollector`].
//!
//! * [`MetricsStore`] opens a database for writing (one process at a time);
//!   [`MetricsStore::record`] attaches it to a collector, and a background
//!   writer commits every kept sample in one transaction per
//!   `flush_interval`. Recording never waits for the disk: when the writer
//!   falls behind, samples are dropped and counted.
//! * [`SendPositions`] keeps where a remote-write/OTLP sender of a run
//!   stands (the last acknowledged timestamp per series and receiver).
//! * [`install`] lets `MetricsManager` attach the store `METRICS_STORE`
//!   names (`sqlite:PATH`), one run per process.
//! * [`StoreReader`] queries it (runs, samples, summaries, positions), any
//!   number at once, while it is written, and rebuilds a stored run into a
//!   collector ([`StoreReader::replay_run`], [`StoreReader::run_snapshot`]):
//!   its samples, and its latest aggregate snapshot for what kept none, so
//!   a run still being written or cut short by a crash shows every sample
//!   committed so far.
//!
//! ```
//! use std::sync::Arc;
//! use metrics_core::{MetricsCollector, MetricType};
//! use metrics_store::{MetricsStore, RunInfo, SampleQuery, StoreOptions, StoreReader};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("metrics.db");
//! let collector = Arc::new(MetricsCollector::default());
//! let store = MetricsStore::open(&path, StoreOptions::default())?;
//! let run = store.begin_run(&RunInfo::current("run-1"))?;
//! let recording = store.record(Arc::clone(&collector), run)?;
//! collector.record_metric("job_duration_seconds", 1.5, &[("status", "completed")], MetricType::Timer)?;
//! recording.finish()?;
//!
//! let reader = StoreReader::open(&path)?;
//! let samples = reader.query(&SampleQuery::new("job_duration_seconds"))?;
//! assert_eq!(samples[0].value, 1.5);
//! assert_eq!(samples[0].tags["status"], "completed");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `docs/storage.md` in the repository describes the schema and what is
//! durable when.
#![forbid(unsafe_code)]

mod chunk;
mod configured;
mod db;
mod error;
mod handoff;
mod import;
mod lock;
mod options;
mod positions;
mod reader;
mod schema;
mod summary;
pub mod time_spec;
mod worker;
mod writer;

use std::path::PathBuf;

pub use configured::install;
pub use error::{Result, StoreError};
pub use import::Imported;
pub use lock::lock_path;
pub use options::{ErrorObserver, FlushObserver, FlushReport, StoreOptions, StoreStatus};
pub use positions::{Positions, SendPositions};
pub use reader::{
    REPLAYED_SAMPLES_PER_SERIES, RunFilter, RunSeries, SampleQuery, StoreGeneration, StoreReader, StoredAggregate,
    StoredChunk, StoredRun, StoredSample, StoredSeries, StoredTagSet, StoredTags, replay_config,
};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use writer::{Flusher, MetricsStore, Recording, RunId, RunInfo, StateHandle};

/// The store a [`metrics_core::MetricsConfig`] names (`METRICS_STORE=sqlite:PATH`);
/// [`install`] makes `MetricsManager` attach it.
pub fn configured_store(config: &metrics_core::MetricsConfig) -> Option<PathBuf> {
    config.store.clone()
}

/// This machine's host name, as recorded with runs and in the writer lock.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}
