//! `StoreOptions` and the reports a writer gives back.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::StoreError;

/// Called on the writer thread after each committed flush.
pub type FlushObserver = Arc<dyn Fn(&FlushReport) + Send + Sync>;

/// Called on the writer thread the first time a write fails.
pub type ErrorObserver = Arc<dyn Fn(&StoreError) + Send + Sync>;

/// How a writer behaves.
#[derive(Clone)]
pub struct StoreOptions {
    /// How often buffered samples are committed (one transaction each);
    /// the most a `kill -9` can lose. Default 1 s.
    pub flush_interval: Duration,
    /// Data older than this is deleted in the background (`store_retention`).
    /// Default 30 days.
    pub retention: Duration,
    /// How often the retention pass runs. Default 60 s.
    pub retention_interval: Duration,
    /// Chunks (and snapshots) one retention transaction deletes at most, so
    /// that readers and the writer's flushes never wait long. Default 500.
    pub retention_batch: usize,
    /// Samples the hand-off holds between flushes; past it samples are
    /// dropped and counted instead of blocking the recording thread. A
    /// flush starts early once it is half full. Default 1,048,576.
    pub handoff_capacity: usize,
    /// How often the aggregates of every series are snapshotted (and at
    /// the end). Zero: only at the end. Default 60 s.
    pub snapshot_interval: Duration,
    /// Largest size the database may grow to (`PRAGMA max_page_count`);
    /// writes past it fail as on a full disk. Default none.
    pub max_size_bytes: Option<u64>,
    /// Told of every committed flush (the crash tests report it on a pipe).
    pub on_flush: Option<FlushObserver>,
    /// Told of the first failed write (disk full, read-only database);
    /// later failures are only counted in [`StoreStatus`].
    pub on_error: Option<ErrorObserver>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            flush_interval: Duration::from_secs(1),
            retention: Duration::from_secs(30 * 86_400),
            retention_interval: Duration::from_secs(60),
            retention_batch: 500,
            handoff_capacity: 1 << 20,
            snapshot_interval: Duration::from_secs(60),
            max_size_bytes: None,
            on_flush: None,
            on_error: None,
        }
    }
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreOptions")
            .field("flush_interval", &self.flush_interval)
            .field("retention", &self.retention)
            .field("retention_interval", &self.retention_interval)
            .field("retention_batch", &self.retention_batch)
            .field("handoff_capacity", &self.handoff_capacity)
            .field("snapshot_interval", &self.snapshot_interval)
            .field("max_size_bytes", &self.max_size_bytes)
            .field("on_flush", &self.on_flush.is_some())
            .field("on_error", &self.on_error.is_some())
            .finish()
    }
}

/// One committed flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushReport {
    /// 1 for the first flush of this writer, then counting up.
    pub seq: u64,
    /// Samples this flush committed.
    pub samples: u64,
    /// Samples committed by this writer so far: the high-water mark. Every
    /// sample handed off before this flush started is durable now (after
    /// an OS crash: once the WAL is synced, see `docs/storage.md`).
    pub total_written: u64,
    /// Samples dropped so far (hand-off full).
    pub dropped: u64,
    /// The collector's time (ns since the epoch) when this flush began to
    /// take samples: every sample stamped before it is committed (or
    /// counted dropped or failed), but for one a recording thread had
    /// stamped and not yet handed off at that instant. A sender that sends
    /// only samples up to here sends nothing a crash could take back.
    pub durable_until: i64,
}

/// What a writer has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// Samples committed.
    pub written: u64,
    /// Samples dropped because the hand-off was full (the writer fell behind).
    pub dropped: u64,
    /// Samples lost because their flush failed (disk full, read-only file).
    pub failed: u64,
    /// Committed flushes.
    pub flushes: u64,
    /// Failed flushes and snapshots.
    pub errors: u64,
    /// The first failure, as reported to [`StoreOptions::on_error`].
    pub first_error: Option<String>,
    /// Rows deleted by retention.
    pub expired_rows: u64,
}
