//! Every file write of the crate: the JSON and CSV exports of a collector
//! (through `files`, atomic and crate-private; `durable`: unpredictable
//! exclusive temporaries, directory syncs and the clean-up of killed
//! exports; and `directory`, the CSV export's directory swap), [`export_all`], and
//! [`import_json`](MetricsCollector::import_json), which reads an export back.

#[cfg(feature = "csv")]
mod directory;
pub(crate) mod durable;
#[cfg(feature = "csv")]
mod exchange;
pub(crate) mod files;

use std::path::{Path, PathBuf};

use crate::collector::MetricsCollector;
use crate::error::Result;
#[cfg(feature = "csv")]
use crate::export::csv;
use crate::export::{ImportStats, json};
#[cfg(feature = "csv")]
use crate::snapshot::Snapshot;

/// Where an export was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportPaths {
    /// The JSON file (`<storage_path>/metrics.json`).
    pub json: PathBuf,
    /// One CSV file per series (`<storage_path>/csv/*.csv`).
    pub csv: Vec<PathBuf>,
}

/// Writes the JSON and CSV exports of `collector` under `storage`.
///
/// # Errors
/// [`MetricsError::Io`](crate::MetricsError::Io) naming the file or directory that failed.
pub fn export_all(collector: &MetricsCollector, storage: &Path) -> Result<ExportPaths> {
    let json = collector.export_json_to(storage.join("metrics.json"))?;
    #[cfg(feature = "csv")]
    let csv = collector.export_to_csv(storage.join("csv"))?;
    // Without the `csv` feature only the JSON file is written.
    #[cfg(not(feature = "csv"))]
    let csv = Vec::new();
    Ok(ExportPaths { json, csv })
}

/// Writes the CSV files of `snapshot` into `dir`, replacing the whole
/// directory: the files are written into a new sibling directory, synced in
/// one pass, and swapped in for `dir` (see [`directory::replace_dir`]), so a
/// reader never sees files of two exports side by side and files of series
/// that no longer exist disappear. An existing `dir` that holds anything
/// other than CSV files is refused.
#[cfg(feature = "csv")]
pub(crate) fn write_csv_dir(snapshot: &Snapshot, dir: &Path) -> Result<Vec<PathBuf>> {
    let files = csv::encode_files(snapshot)?;
    directory::replace_dir(dir, |staging| files::write_new_files(staging, &files))?;
    Ok(files.iter().map(|(name, _)| dir.join(name)).collect())
}

impl MetricsCollector {
    /// Every series with its retained samples and aggregates, as JSON (see
    /// [`export::json`](crate::export::json) for the shape).
    pub fn export_to_json(&self) -> String {
        json::encode(&self.snapshot())
    }

    /// Writes [`export_to_json`](Self::export_to_json) to `path` atomically,
    /// creating parent directories. The file gets the permissions
    /// `File::create` would give a new one (0o666 masked by the umask), so
    /// other users' tools can read it where the umask lets them.
    ///
    /// # Errors
    /// [`MetricsError::Io`](crate::MetricsError::Io) naming the path.
    pub fn export_json_to(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        let path = path.as_ref();
        files::write_atomic_creating_parent(path, self.export_to_json().as_bytes())?;
        Ok(path.to_path_buf())
    }

    /// Writes one CSV file per series into `dir` (see
    /// [`export::csv`](crate::export::csv)) and returns their paths, in
    /// series-name order. A file's name is
    /// [`csv_file_stem`](crate::export::csv_file_stem) of its series' name
    /// only.
    ///
    /// One export replaces the whole directory: the files are written into
    /// a new sibling directory, synced, and swapped in for `dir`, so a
    /// reader never sees files of two exports side by side and files of
    /// series that no longer exist disappear. On Linux the swap is one
    /// atomic exchange, so `dir` never stops existing while it is replaced
    /// (elsewhere, and on file systems that cannot exchange, it is missing
    /// for the moment between two renames). The previous export is then
    /// deleted. Files and directory get the permissions `File::create` and
    /// `create_dir` would give them. An existing `dir` that holds anything
    /// other than CSV files is refused.
    ///
    /// # Errors
    /// [`MetricsError::Io`](crate::MetricsError::Io) naming the directory or
    /// file; `dir` keeps the previous export then.
    #[cfg(feature = "csv")]
    pub fn export_to_csv(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        write_csv_dir(&self.snapshot(), dir.as_ref())
    }

    /// Replays the samples of a JSON export into this collector, with their
    /// original timestamps and tags, and the description and unit of each
    /// series that has them. Aggregates are rebuilt from the samples
    /// (cumulative totals of samples that had already been dropped are not
    /// recoverable from the samples alone). Samples older than the retention
    /// are expired at once.
    ///
    /// # Errors
    /// [`MetricsError::Json`](crate::MetricsError::Json) for malformed input; the record errors of
    /// [`record_metric`](Self::record_metric) for a bad name or value, and of
    /// [`describe_metric`](Self::describe_metric) for a bad unit, after
    /// which the samples before it remain recorded.
    ///
    /// Every series comes back with its description and histogram buckets,
    /// and every tag set the export lists in its aggregates comes back even
    /// when it has no samples (a counter that stayed at 0, a gauge that keeps
    /// no history): such a tag set gets the exported aggregate (counter
    /// total, gauge value; a histogram's distribution without samples is not
    /// recoverable and comes back empty). The exemplars of every tag set
    /// come back too, with their labels, values and times (an exemplar the
    /// collector already holds for the same bucket is kept if it is newer);
    /// one that cannot be exposed is a
    /// [`MetricsError::InvalidExemplar`](crate::MetricsError::InvalidExemplar)
    /// naming the series and its labels.
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
                    unit: series.unit.as_deref().map(str::to_owned),
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
                        unit: series.unit.as_deref().map(str::to_owned),
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
            // Exemplars last, with their own times: an exemplar in the
            // export is newer than any update the import made above.
            for agg in series.aggregates.iter() {
                self.restore_exemplars(name, &agg.tags, series.metric_type, &agg.exemplars)?;
            }
        }
        Ok(stats)
    }
}
