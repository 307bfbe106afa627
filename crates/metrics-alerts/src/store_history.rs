//! [`StoreHistory`]: a metrics database (metrics-store) as the
//! [`SampleHistory`] of alert windows.

use std::path::{Path, PathBuf};

use metrics_core::MetricType;
use metrics_store::{RunFilter, SampleQuery, StoreError, StoreReader};

use crate::history::{HistoryError, HistorySample, SampleHistory};

/// The samples of a metrics database (`metrics.db`), read with a
/// [`StoreReader`] while a writer may be writing it.
///
/// The database is opened at the first read and kept open; after a read
/// error it is opened again at the next one. A database that does not exist
/// (yet) reads as empty. By default windows read every run's samples
/// ([`RunFilter::All`]), so a window spans restarts and earlier batches, as
/// Prometheus' own history would.
///
/// ```
/// use std::sync::Arc;
/// use metrics_alerts::{Evaluator, JsonFileStore, RuleSet, StoreHistory};
/// use metrics_core::MetricsCollector;
///
/// let dir = tempfile::tempdir()?;
/// let rules = RuleSet::parse("alerts.toml", "[[rule]]\nname = \"Errors\"\nexpr = 'increase(job_errors_total[3d]) > 10'\n")?;
/// let evaluator = Evaluator::new(
///     rules,
///     Arc::new(MetricsCollector::default()),
///     Box::new(JsonFileStore::new(dir.path().join("alerts.json"))),
/// )?
/// .with_history(StoreHistory::new(dir.path().join("metrics.db")));
/// # drop(evaluator);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StoreHistory {
    path: PathBuf,
    runs: RunFilter,
    reader: Option<StoreReader>,
}

impl StoreHistory {
    /// The history of the database at `path`, every run.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StoreHistory {
            path: path.into(),
            runs: RunFilter::All,
            reader: None,
        }
    }

    /// Reads only the runs `runs` selects (e.g. [`RunFilter::Named`] for
    /// one batch's run).
    #[must_use = "with_runs returns the configured history"]
    pub fn with_runs(mut self, runs: RunFilter) -> Self {
        self.runs = runs;
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open reader; `None` while the database does not exist.
    fn reader(&mut self) -> Result<Option<&StoreReader>, HistoryError> {
        if self.reader.is_none() {
            match StoreReader::open(&self.path) {
                Ok(r) => self.reader = Some(r),
                Err(StoreError::Missing { .. }) => return Ok(None),
                Err(e) => return Err(HistoryError(e.to_string())),
            }
        }
        Ok(self.reader.as_ref())
    }

    /// Runs `read` on the reader; a failure closes it, so the next read
    /// opens the database again.
    fn read<T: Default>(
        &mut self,
        read: impl FnOnce(&StoreReader) -> Result<T, StoreError>,
    ) -> Result<T, HistoryError> {
        let Some(reader) = self.reader()? else {
            return Ok(T::default());
        };
        read(reader).map_err(|e| {
            self.reader = None;
            HistoryError(e.to_string())
        })
    }
}

impl SampleHistory for StoreHistory {
    fn metric_type(&mut self, name: &str) -> Result<Option<MetricType>, HistoryError> {
        self.read(|r| Ok(r.series()?.into_iter().find(|s| s.name == name).map(|s| s.metric_type)))
    }

    fn samples(
        &mut self,
        name: &str,
        tags: &[(String, String)],
        since: i64,
        until: i64,
    ) -> Result<Vec<HistorySample>, HistoryError> {
        let query = SampleQuery {
            name: name.to_owned(),
            runs: self.runs.clone(),
            since: Some(since),
            until: Some(until),
            tags: tags.to_vec(),
            limit: None,
        };
        self.read(|r| {
            Ok(r.query(&query)?
                .into_iter()
                .map(|s| HistorySample {
                    timestamp_nanos: s.timestamp_nanos,
                    value: s.value,
                    tags: s.tags,
                })
                .collect())
        })
    }
}
