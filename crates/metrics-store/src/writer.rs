//! `MetricsStore` (the one writer of a database) and `Recording` (a store
//! attached to a collector, with its background writer thread).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use metrics_core::MetricsCollector;
use rusqlite::{OptionalExtension, params};

use crate::db::{WriteDb, to_nanos};
use crate::error::{Result, StoreError};
use crate::handoff::Handoff;
use crate::lock::WriterLock;
use crate::options::{FlushReport, StoreOptions, StoreStatus};
use crate::schema;
use crate::worker::{Control, SelfMetrics, Shared, Worker};

/// A run in the store: one process's (or one resumed batch's) recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunId(pub i64);

/// What is recorded about a run when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// The run's name, unique in the store (a batch's run id). Beginning a
    /// run whose name exists continues it (a resumed batch).
    pub name: String,
    /// The command line.
    pub command: String,
    /// The host name.
    pub host: String,
}

impl RunInfo {
    /// A run named `name` for this process: its command line and host.
    pub fn current(name: impl Into<String>) -> RunInfo {
        RunInfo {
            name: name.into(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            host: crate::host_name(),
        }
    }
}

/// The writer of one database. Only one process at a time may hold one
/// per file ([`StoreError::Locked`] names the holder); any number of
/// [`StoreReader`](crate::StoreReader)s may read meanwhile.
#[derive(Debug)]
pub struct MetricsStore {
    pub(crate) db: Arc<Mutex<WriteDb>>,
    pub(crate) options: StoreOptions,
    _lock: WriterLock,
}

pub(crate) fn lock_db(db: &Mutex<WriteDb>) -> MutexGuard<'_, WriteDb> {
    db.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MetricsStore {
    /// Opens (creating when absent) the store at `path` for writing.
    ///
    /// # Errors
    /// [`StoreError::NotADatabase`] or [`StoreError::Foreign`] for a file
    /// that is not ours, [`StoreError::TooNew`] for a newer schema — all
    /// before anything is written to it — [`StoreError::Locked`] while
    /// another process writes it, and [`StoreError::ReadOnly`] for a file
    /// this process may not write.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<MetricsStore> {
        let path = path.as_ref();
        let conn = schema::open_checked(path)?;
        // SQLite silently opens a write-protected file read-only.
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(StoreError::ReadOnly { path: path.to_owned() });
        }
        let lock = WriterLock::acquire(path)?;
        schema::prepare_writer(&conn, path)?;
        if let Some(bytes) = options.max_size_bytes {
            let page: i64 = conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .map_err(StoreError::sqlite(path))?;
            let pages = i64::try_from(bytes).unwrap_or(i64::MAX) / page.max(1);
            conn.execute_batch(&format!("PRAGMA max_page_count = {};", pages.max(1)))
                .map_err(StoreError::sqlite(path))?;
        }
        Ok(MetricsStore {
            db: Arc::new(Mutex::new(WriteDb::new(conn, path))),
            options,
            _lock: lock,
        })
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        lock_db(&self.db).path.clone()
    }

    /// Starts run `info.name`, or continues it when it exists (its end time
    /// is cleared until this process ends it).
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn begin_run(&self, info: &RunInfo) -> Result<RunId> {
        let db = lock_db(&self.db);
        let now = to_nanos(time::OffsetDateTime::now_utc());
        let existing: Option<i64> = db
            .conn
            .query_row("SELECT run_id FROM runs WHERE name = ?1", [&info.name], |r| r.get(0))
            .optional()
            .map_err(db.err())?;
        if let Some(id) = existing {
            db.conn
                .execute("UPDATE runs SET ended_at = NULL WHERE run_id = ?1", [id])
                .map_err(db.err())?;
            return Ok(RunId(id));
        }
        db.conn
            .execute(
                "INSERT INTO runs (name, started_at, command, host) VALUES (?1, ?2, ?3, ?4)",
                params![info.name, now, info.command, info.host],
            )
            .map_err(db.err())?;
        Ok(RunId(db.conn.last_insert_rowid()))
    }

    /// The run named `name`, without continuing it; `None` when the store
    /// has no such run.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn find_run(&self, name: &str) -> Result<Option<RunId>> {
        let db = lock_db(&self.db);
        let id: Option<i64> = db
            .conn
            .query_row("SELECT run_id FROM runs WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(db.err())?;
        Ok(id.map(RunId))
    }

    /// Sets `run`'s start and end (ns since the epoch): an imported run
    /// keeps its own times, not the import's.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn set_run_span(&self, run: RunId, started_at: i64, ended_at: i64) -> Result<()> {
        let db = lock_db(&self.db);
        db.conn
            .execute(
                "UPDATE runs SET started_at = ?1, ended_at = ?2 WHERE run_id = ?3",
                params![started_at, ended_at, run.0],
            )
            .map_err(db.err())?;
        Ok(())
    }

    /// Deletes `run` when nothing is stored under it (no samples, no
    /// snapshots): a run begun for an import that failed. Returns whether it
    /// was deleted; a run with data is kept.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn delete_run_if_empty(&self, run: RunId) -> Result<bool> {
        let db = lock_db(&self.db);
        let deleted = db
            .conn
            .execute(
                "DELETE FROM runs WHERE run_id = ?1
                 AND NOT EXISTS (SELECT 1 FROM chunks WHERE run_id = ?1)
                 AND NOT EXISTS (SELECT 1 FROM snapshots WHERE run_id = ?1)",
                [run.0],
            )
            .map_err(db.err())?;
        Ok(deleted > 0)
    }

    /// Marks `run` ended now.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn end_run(&self, run: RunId) -> Result<()> {
        end_run(&lock_db(&self.db), run)
    }

    /// Writes every aggregate of `snapshot` (counter totals, gauge values,
    /// histogram buckets and quantiles) as a snapshot of `run`.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn write_snapshot(&self, run: RunId, snapshot: &metrics_core::Snapshot) -> Result<()> {
        let mut db = lock_db(&self.db);
        write_snapshot(&mut db, run, snapshot)
    }

    /// Stores `value` under `namespace`/`key` (alerting and remote-write
    /// keep their resume state here), replacing what was there.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn put_state(&self, namespace: &str, key: &str, value: &[u8]) -> Result<()> {
        let db = lock_db(&self.db);
        db.put_state(namespace, key, value).map_err(db.err())
    }

    /// The value under `namespace`/`key`.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn get_state(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let db = lock_db(&self.db);
        crate::reader::get_state(&db.conn, namespace, key).map_err(db.err())
    }

    /// Removes `namespace`/`key`; whether it existed.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn delete_state(&self, namespace: &str, key: &str) -> Result<bool> {
        let db = lock_db(&self.db);
        db.delete_state(namespace, key).map_err(db.err())
    }

    /// The send positions of `target` for `run` (`bykilt metrics push`
    /// keeps its place here).
    pub fn send_positions(&self, run: RunId, target: &str) -> crate::SendPositions {
        crate::SendPositions::new(Arc::clone(&self.db), run, target)
    }

    /// A handle on this store's state table that other threads may keep
    /// (an alert evaluator saves through it while the store records).
    pub fn state_handle(&self) -> StateHandle {
        StateHandle {
            db: Arc::clone(&self.db),
        }
    }

    /// Deletes data older than the retention, in bounded transactions, and
    /// returns free pages to the file system; the rows deleted.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn apply_retention(&self, now: time::OffsetDateTime) -> Result<u64> {
        apply_retention(&self.db, &self.options, to_nanos(now))
    }

    pub(crate) fn db(&self) -> MutexGuard<'_, WriteDb> {
        lock_db(&self.db)
    }

    /// Attaches the store to `collector`: from now on every sample the
    /// collector keeps is handed to a background writer and committed to
    /// `run` every `flush_interval`. The collector's own snapshot of
    /// aggregates is written every `snapshot_interval` and at the end.
    ///
    /// The writer also keeps `metrics_store_dropped_samples_total`,
    /// `metrics_store_written_samples_total` and
    /// `metrics_store_failed_samples_total` (counters) in the collector.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when the collector already has a sink.
    pub fn record(self, collector: Arc<MetricsCollector>, run: RunId) -> Result<Recording> {
        if collector.has_sink() {
            return Err(StoreError::Invalid(
                "the collector already has a sample sink attached; detach it first".to_owned(),
            ));
        }
        let handoff = Arc::new(Handoff::new(self.options.handoff_capacity));
        let db = Arc::clone(&self.db);
        collector.attach_sink(handoff.clone());
        let shared = Arc::new(Shared::default());
        let (control, inbox) = mpsc::channel();
        let mut worker = Worker {
            store: self,
            collector: Arc::clone(&collector),
            handoff: Arc::clone(&handoff),
            run,
            shared: Arc::clone(&shared),
            series: HashMap::new(),
            tag_sets: HashMap::new(),
            resolved: HashMap::new(),
            staging: Vec::new(),
            spares: Vec::new(),
            seq: 0,
            reported_error: false,
            self_metrics: SelfMetrics::new(&collector),
        };
        let thread = std::thread::Builder::new()
            .name("metrics-store-writer".to_owned())
            .spawn(move || {
                worker.serve(&inbox);
                worker
            })
            .map_err(|source| StoreError::Io {
                path: PathBuf::from("metrics-store-writer thread"),
                source,
            })?;
        Ok(Recording {
            db,
            run,
            collector,
            handoff,
            shared,
            control,
            thread: Some(thread),
        })
    }
}

pub(crate) fn end_run(db: &WriteDb, run: RunId) -> Result<()> {
    db.conn
        .execute(
            "UPDATE runs SET ended_at = ?1 WHERE run_id = ?2",
            params![to_nanos(time::OffsetDateTime::now_utc()), run.0],
        )
        .map_err(db.err())?;
    Ok(())
}

pub(crate) fn write_snapshot(db: &mut WriteDb, run: RunId, snapshot: &metrics_core::Snapshot) -> Result<()> {
    db.conn.execute_batch("BEGIN IMMEDIATE").map_err(db.err())?;
    match db.insert_snapshot(run.0, snapshot) {
        Ok(_) => db.conn.execute_batch("COMMIT").map_err(db.err()),
        Err(e) => {
            let _ = db.conn.execute_batch("ROLLBACK");
            db.forget_ids();
            Err(db.err()(e))
        }
    }
}

pub(crate) fn apply_retention(db: &Mutex<WriteDb>, options: &StoreOptions, now: i64) -> Result<u64> {
    let cutoff = now.saturating_sub(i64::try_from(options.retention.as_nanos()).unwrap_or(i64::MAX));
    let batch = options.retention_batch.max(1);
    let mut deleted = 0u64;
    // Bounded: at most 100 batches a pass; the next pass goes on.
    for _ in 0..100 {
        let mut guard = lock_db(db);
        let n = guard.delete_older_than(cutoff, batch).map_err(guard.err())?;
        deleted += n as u64;
        if n < batch {
            break;
        }
    }
    if deleted > 0 {
        let guard = lock_db(db);
        guard.incremental_vacuum(4096).map_err(guard.err())?;
    }
    Ok(deleted)
}

/// A store attached to a collector, with its background writer. Finish it
/// with [`finish`](Recording::finish); dropping it finishes it too, without
/// reporting errors.
#[derive(Debug)]
pub struct Recording {
    db: Arc<Mutex<WriteDb>>,
    run: RunId,
    collector: Arc<MetricsCollector>,
    handoff: Arc<Handoff>,
    shared: Arc<Shared>,
    control: Sender<Control>,
    thread: Option<JoinHandle<Worker>>,
}

impl Recording {
    /// What the writer has done so far.
    pub fn status(&self) -> StoreStatus {
        StoreStatus {
            written: self.shared.written.load(Relaxed),
            dropped: self.handoff.dropped(),
            failed: self.shared.failed.load(Relaxed),
            flushes: self.shared.flushes.load(Relaxed),
            errors: self.shared.errors.load(Relaxed),
            first_error: self
                .shared
                .first_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            expired_rows: self.shared.expired.load(Relaxed),
        }
    }

    /// Stores state while recording, as [`MetricsStore::put_state`].
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn put_state(&self, namespace: &str, key: &str, value: &[u8]) -> Result<()> {
        let db = lock_db(&self.db);
        db.put_state(namespace, key, value).map_err(db.err())
    }

    /// As [`MetricsStore::state_handle`]: state written through the
    /// recording's own connection, so it needs no second writer.
    pub fn state_handle(&self) -> StateHandle {
        StateHandle {
            db: Arc::clone(&self.db),
        }
    }

    /// As [`MetricsStore::get_state`].
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn get_state(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let db = lock_db(&self.db);
        crate::reader::get_state(&db.conn, namespace, key).map_err(db.err())
    }

    /// Commits every sample handed off so far, now, and waits for it.
    ///
    /// # Errors
    /// The flush's error (it is also counted and, if first, reported).
    pub fn flush(&self) -> Result<FlushReport> {
        self.flusher().flush()
    }

    /// A handle that asks this recording's writer for a flush from any
    /// thread (a remote-write sender flushes before each send, so that it
    /// sends only what is durable).
    pub fn flusher(&self) -> Flusher {
        Flusher {
            control: self.control.clone(),
        }
    }

    /// The run this recording writes.
    pub fn run(&self) -> RunId {
        self.run
    }

    /// The send positions of `target` for this recording's run, written
    /// through the recording's own connection.
    pub fn send_positions(&self, target: &str) -> crate::SendPositions {
        crate::SendPositions::new(Arc::clone(&self.db), self.run, target)
    }

    /// Detaches the store, commits what is left, writes a last snapshot of
    /// the aggregates, marks the run ended, and returns the status. The
    /// returned store can be attached again or queried for state.
    ///
    /// # Errors
    /// The final flush's or snapshot's error; samples already committed
    /// stay.
    pub fn finish(mut self) -> Result<(MetricsStore, StoreStatus)> {
        let mut worker = self.stop()?;
        let flushed = worker.flush();
        self.handoff.close();
        let snapshot = self.collector.aggregate_snapshot();
        let snap = write_snapshot(&mut worker.store.db(), worker.run, &snapshot);
        let ended = end_run(&worker.store.db(), worker.run);
        let status = self.status();
        flushed?;
        snap?;
        ended?;
        Ok((worker.store, status))
    }

    fn stop(&mut self) -> Result<Worker> {
        // Detach first: nothing offered after the final drain is lost silently.
        self.collector.detach_sink();
        let _ = self.control.send(Control::Stop);
        let thread = self
            .thread
            .take()
            .ok_or_else(|| StoreError::Invalid("the store's writer has stopped".to_owned()))?;
        thread
            .join()
            .map_err(|_| StoreError::Invalid("the store's writer thread panicked".to_owned()))
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if self.thread.is_some()
            && let Ok(mut worker) = self.stop()
        {
            let _ = worker.flush();
            self.handoff.close();
            let snapshot = self.collector.aggregate_snapshot();
            let _ = write_snapshot(&mut worker.store.db(), worker.run, &snapshot);
            let _ = end_run(&worker.store.db(), worker.run);
        }
    }
}

/// Asks a [`Recording`]'s writer for a flush, from any thread; see
/// [`Recording::flusher`]. Once the recording has finished, every flush
/// fails with [`StoreError::Invalid`] ("the store's writer has stopped").
#[derive(Debug, Clone)]
pub struct Flusher {
    control: Sender<Control>,
}

impl Flusher {
    /// As [`Recording::flush`].
    ///
    /// # Errors
    /// The flush's error; [`StoreError::Invalid`] once the writer stopped.
    pub fn flush(&self) -> Result<FlushReport> {
        let (reply, answer) = mpsc::channel();
        let stopped = || StoreError::Invalid("the store's writer has stopped".to_owned());
        self.control.send(Control::Flush(reply)).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

/// The state table of an open [`MetricsStore`] or [`Recording`], shareable
/// across threads. It writes through the store's one writer connection, so
/// it respects the one-writer-per-database rule; it keeps that connection
/// open while any handle lives.
#[derive(Debug, Clone)]
pub struct StateHandle {
    db: Arc<Mutex<WriteDb>>,
}

impl StateHandle {
    /// As [`MetricsStore::put_state`].
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn put_state(&self, namespace: &str, key: &str, value: &[u8]) -> Result<()> {
        let db = lock_db(&self.db);
        db.put_state(namespace, key, value).map_err(db.err())
    }

    /// As [`MetricsStore::get_state`].
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn get_state(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let db = lock_db(&self.db);
        crate::reader::get_state(&db.conn, namespace, key).map_err(db.err())
    }

    /// As [`MetricsStore::delete_state`].
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn delete_state(&self, namespace: &str, key: &str) -> Result<bool> {
        let db = lock_db(&self.db);
        db.delete_state(namespace, key).map_err(db.err())
    }
}
