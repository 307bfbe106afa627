//! Exporters: pure functions over a [`Snapshot`](crate::Snapshot), plus the
//! file plumbing they share (atomic writes, safe file names).

pub mod csv;
pub mod json;
pub mod prometheus;

mod durable;
mod files;

pub use files::{csv_file_stem, sanitize_file_stem, write_atomic};

use std::path::{Path, PathBuf};

use crate::MetricsCollector;
use crate::error::{MetricsError, Result};

/// What [`MetricsCollector::import_json`] replayed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Series found in the input.
    pub series: usize,
    /// Samples recorded.
    pub samples: usize,
}

impl MetricsCollector {
    /// Every series with its retained samples and aggregates, as JSON in the
    /// seed's shape (see [`json`]).
    pub fn export_to_json(&self) -> String {
        json::encode(&self.snapshot())
    }

    /// Writes [`export_to_json`](Self::export_to_json) to `path` atomically,
    /// creating parent directories.
    ///
    /// # Errors
    /// [`MetricsError::Io`] naming the path.
    pub fn export_json_to(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| MetricsError::io("creating directory", parent, e))?;
        }
        write_atomic(path, self.export_to_json().as_bytes())?;
        Ok(path.to_path_buf())
    }

    /// Writes one CSV file per series into `dir` (see [`csv`]) and returns
    /// their paths.
    ///
    /// # Errors
    /// [`MetricsError::Io`] naming the directory or file.
    pub fn export_to_csv(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        csv::write_dir(&self.snapshot(), dir.as_ref())
    }

    /// Replays the samples of a JSON export into this collector, with their
    /// original timestamps and tags. Aggregates are rebuilt from the samples
    /// (cumulative totals of samples that had already been dropped are not
    /// recoverable from the samples alone). Samples older than the retention
    /// are expired at once.
    ///
    /// # Errors
    /// [`MetricsError::Json`] for malformed input; the record errors of
    /// [`record_metric`](Self::record_metric) for a bad name or value, after
    /// which the samples before it remain recorded.
    pub fn import_json(&self, input: &str) -> Result<ImportStats> {
        let export = json::decode(input)?;
        let mut stats = ImportStats::default();
        for (name, series) in &export {
            stats.series += 1;
            for v in &series.values {
                self.record_metric_at(name, v.value, &v.tags, series.metric_type, v.timestamp)?;
                stats.samples += 1;
            }
        }
        Ok(stats)
    }
}
