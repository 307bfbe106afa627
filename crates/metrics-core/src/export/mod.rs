//! Exporters: pure functions from a [`Snapshot`](crate::Snapshot) to text or
//! bytes (JSON, CSV, Prometheus/OpenMetrics). None touches the file system:
//! `MetricsCollector::export_json_to`, `export_to_csv` and [`export_all`](crate::export_all)
//! write their output.

#[cfg(feature = "csv")]
pub mod csv;
pub mod json;
pub mod prometheus;

mod file_names;

pub use file_names::{csv_file_stem, sanitize_file_stem};

use std::path::Path;

use crate::error::Result;

/// What [`MetricsCollector::import_json`](crate::MetricsCollector::import_json) replayed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Series found in the input.
    pub series: usize,
    /// Samples recorded.
    pub samples: usize,
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory is written, flushed to disk, then renamed over `path`.
///
/// # Errors
/// [`MetricsError::Io`](crate::MetricsError::Io) naming the path.
#[deprecated(
    note = "exporters do not write files; write your own files with your own atomic writer (the crate's is private)"
)]
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::persist::files::write_atomic(path, bytes)
}
