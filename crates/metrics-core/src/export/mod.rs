//! Exporters: pure functions over a [`Snapshot`](crate::Snapshot), plus the
//! file plumbing they share (atomic writes, safe file names).

pub mod csv;
pub mod json;
pub mod prometheus;

mod files;

pub use files::{sanitize_file_stem, write_atomic};

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
    ///
    /// Every series comes back with its description and histogram buckets,
    /// and every tag set the export lists in its aggregates comes back even
    /// when it has no samples (a counter that stayed at 0, a gauge that keeps
    /// no history): such a tag set gets the exported aggregate (counter
    /// total, gauge value; a histogram's distribution without samples is not
    /// recoverable and comes back empty).
    pub fn import_json(&self, input: &str) -> Result<ImportStats> {
        let export = json::decode(input)?;
        let mut stats = ImportStats::default();
        for (name, series) in &export {
            stats.series += 1;
            let buckets = series.aggregates.iter().find_map(|a| match &a.value {
                crate::AggregateValue::Histogram(h) => Some(
                    h.buckets
                        .iter()
                        .map(|b| b.le)
                        .filter(|le| le.is_finite())
                        .collect::<Vec<f64>>(),
                ),
                _ => None,
            });
            let described = self.describe_metric(
                name,
                series.metric_type,
                crate::MetricOptions {
                    description: series.description.as_deref().map(str::to_owned),
                    buckets: buckets.clone(),
                    sample_policy: None,
                },
            );
            if described.is_err() {
                // An existing series with other buckets keeps them; the
                // description still comes back.
                self.describe_metric(
                    name,
                    series.metric_type,
                    crate::MetricOptions {
                        description: series.description.as_deref().map(str::to_owned),
                        buckets: None,
                        sample_policy: None,
                    },
                )?;
            }
            // Tag sets first, in the export's (creation) order, so that
            // exposition lists them as the run did.
            for agg in series.aggregates.iter() {
                match series.metric_type {
                    crate::MetricType::Counter => drop(self.counter(name, &agg.tags)?),
                    crate::MetricType::Gauge => drop(self.gauge(name, &agg.tags)?),
                    crate::MetricType::Histogram => drop(self.histogram(name, &agg.tags)?),
                    crate::MetricType::Timer => drop(self.timer(name, &agg.tags)?),
                }
            }
            for v in &series.values {
                self.record_metric_at(name, v.value, &v.tags, series.metric_type, v.timestamp)?;
                stats.samples += 1;
            }
            for agg in series.aggregates.iter() {
                if series.values.iter().any(|v| v.tags == agg.tags) {
                    continue;
                }
                match &agg.value {
                    crate::AggregateValue::Counter { total } => {
                        if *total > 0.0 && total.fract() == 0.0 && *total <= u64::MAX as f64 {
                            self.counter(name, &agg.tags)?.increment(*total as u64);
                        }
                    }
                    crate::AggregateValue::Gauge { value } => self.gauge(name, &agg.tags)?.set(*value),
                    crate::AggregateValue::Histogram(_) => {}
                }
            }
        }
        Ok(stats)
    }
}
