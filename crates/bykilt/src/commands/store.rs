//! The batch runner's metrics database: opened before a batch runs,
//! attached to the process collector while it runs, finished after.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use metrics_core::MetricsCollector;
use metrics_store::{MetricsStore, Recording, RunInfo, StateHandle, StoreError, StoreOptions};

use crate::cli::{DbArgs, ReadDbArgs};
use crate::error::CliError;
use crate::output::Output;

/// `<artifacts>/metrics.db`.
pub(crate) fn default_db(root: &Path) -> PathBuf {
    root.join("metrics.db")
}

/// The database a reading command uses.
pub(crate) fn read_path(args: &ReadDbArgs, root: &Path) -> PathBuf {
    args.db.clone().unwrap_or_else(|| default_db(root))
}

/// The store a batch writes, opened before anything runs so that a bad
/// `--db` fails the command before the batch starts.
#[derive(Debug)]
pub(crate) struct BatchStore {
    store: Option<(MetricsStore, PathBuf)>,
}

impl BatchStore {
    /// Opens the database `args` name (`None` with `--no-db`).
    ///
    /// A database named with `--db` / `BYKILT_METRICS_DB` that cannot be
    /// used is an error. The default `<artifacts>/metrics.db` held by
    /// another running batch is a warning: this run's metrics then stay in
    /// memory and metrics.json, as with `--no-db`.
    pub(crate) fn open(args: &DbArgs, root: &Path, out: &mut Output) -> Result<BatchStore, CliError> {
        if args.no_db {
            return Ok(BatchStore { store: None });
        }
        let (path, explicit) = match &args.db {
            Some(p) => (p.clone(), true),
            None => (default_db(root), false),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| CliError::io("creating", dir, e))?;
        }
        match MetricsStore::open(&path, StoreOptions::default()) {
            Ok(store) => Ok(BatchStore {
                store: Some((store, path)),
            }),
            Err(e @ StoreError::Locked { .. }) if !explicit => {
                out.warn(&format!(
                    "{e}; this run's metrics are not stored (pass --db PATH to use another database)"
                ));
                Ok(BatchStore { store: None })
            }
            // The run goes on without the store: its metrics.json keeps everything.
            Err(e @ StoreError::ReadOnly { .. }) => {
                out.warn(&format!("{e}; this run's metrics are kept in its metrics.json only"));
                Ok(BatchStore { store: None })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The database's file; `None` when the run is not stored.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.store.as_ref().map(|(_, p)| p.as_path())
    }

    /// Starts recording `collector`'s samples into run `run_id` (continued
    /// when it exists: a resumed batch). With `backfill` (a new run), what
    /// the collector holds already (the batch's creation: its size, its
    /// pending jobs) is stored first, so the database has every sample the
    /// run's metrics.json has; a resumed run's earlier samples are in the
    /// database from the process that recorded them. A store that fails
    /// now (a full disk) is reported and left out: the batch runs all the
    /// same.
    pub(crate) fn attach(
        self,
        collector: Arc<MetricsCollector>,
        run_id: &str,
        backfill: bool,
        out: &mut Output,
    ) -> BatchRecording {
        match self.try_attach(collector, run_id, backfill) {
            Ok(recording) => recording,
            Err(e) => {
                out.warn(&format!(
                    "metrics database: {e}; this run's metrics are kept in its metrics.json only"
                ));
                BatchRecording {
                    recording: None,
                    path: None,
                }
            }
        }
    }

    fn try_attach(
        self,
        collector: Arc<MetricsCollector>,
        run_id: &str,
        backfill: bool,
    ) -> Result<BatchRecording, CliError> {
        let Some((store, path)) = self.store else {
            return Ok(BatchRecording {
                recording: None,
                path: None,
            });
        };
        let run = store.begin_run(&RunInfo::current(run_id))?;
        if backfill {
            store.import_json(
                run,
                &collector.export_to_json(),
                "the samples recorded before the store was attached",
            )?;
        }
        Ok(BatchRecording {
            recording: Some(store.record(collector, run)?),
            path: Some(path),
        })
    }
}

/// A batch's recording into the store.
#[derive(Debug)]
pub(crate) struct BatchRecording {
    recording: Option<Recording>,
    path: Option<PathBuf>,
}

impl BatchRecording {
    /// The send positions of `target` for this run, in the database;
    /// `None` when the run is not stored.
    pub(crate) fn send_positions(&self, target: &str) -> Option<metrics_store::SendPositions> {
        Some(self.recording.as_ref()?.send_positions(target))
    }

    /// The database's file; `None` when the run is not stored.
    pub(crate) fn db_path(&self) -> Option<&Path> {
        self.recording.as_ref()?;
        self.path.as_deref()
    }

    /// Asks the writer for a flush from a sender's thread; `None` when the
    /// run is not stored.
    pub(crate) fn flusher(&self) -> Option<metrics_store::Flusher> {
        Some(self.recording.as_ref()?.flusher())
    }

    /// The recording's state table and the database's path; `None` when
    /// the run is not stored (`--no-db`, or the database was unusable).
    pub(crate) fn state(&self) -> Option<(StateHandle, PathBuf)> {
        Some((self.recording.as_ref()?.state_handle(), self.path.clone()?))
    }

    /// Commits what is left and reports, once, any write failure (full
    /// disk, read-only database): the run itself is not failed by it.
    /// Returns the database when it holds every sample the run recorded
    /// (nothing failed or was dropped), so the run's exports can be made
    /// from it.
    pub(crate) fn finish(self, out: &mut Output) -> Option<PathBuf> {
        let recording = self.recording?;
        match recording.finish() {
            Ok((_, status)) => {
                if status.first_error.is_none() && status.dropped == 0 && status.failed == 0 {
                    return self.path;
                }
                if let Some(first) = &status.first_error {
                    out.warn(&format!(
                        "metrics database: {first}; {} sample(s) not stored ({} stored); the run's metrics.json has them all",
                        status.failed, status.written
                    ));
                } else if status.dropped > 0 {
                    out.warn(&format!(
                        "metrics database: {} sample(s) dropped because the writer fell behind",
                        status.dropped
                    ));
                }
            }
            Err(e) => out.warn(&format!(
                "metrics database: {e}; the run's metrics.json has every sample"
            )),
        }
        None
    }
}
