//! `JobJournal`: an append-only file of job status changes, one JSON line
//! each, beside the manifest.
//!
//! An update costs one `write(2)` of one line, whatever the batch size; the
//! manifest is rewritten only at compaction (end of a run, and when a batch
//! is opened for update). Each line holds the job's full mutable state, so
//! replaying is overwriting: applying a line twice changes nothing.
//!
//! Durability: a line handed to `write(2)` survives the death of the process
//! (SIGKILL included), because it is in the kernel's page cache. Surviving a
//! power loss needs `fsync`, which costs milliseconds on real disks; the
//! [`JournalSync`] policy chooses how often it happens.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{BatchError, Result};
use crate::job::{JobProcess, JobStatus};

/// File name of the journal inside `<run>/batch/`.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// When the journal is flushed to stable storage with `fsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalSync {
    /// After every line that finishes a job (completed or failed). Slowest;
    /// no finished job is lost even to a power failure.
    EveryFinishedJob,
    /// At most once per interval, on a line that finishes a job, and when the
    /// journal is compacted or closed. A power failure loses at most the
    /// interval's finished jobs (they run again); a process crash loses none.
    Interval(Duration),
    /// Only at compaction and close.
    Never,
}

impl Default for JournalSync {
    fn default() -> Self {
        JournalSync::Interval(Duration::from_millis(100))
    }
}

/// One line: the full mutable state of job `job` after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Sequence number, increasing across the batch's life.
    pub seq: u64,
    /// The job's index in the manifest (its row index).
    pub job: usize,
    /// The new status.
    pub status: JobStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// The error of the last failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the latest attempt started.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<OffsetDateTime>,
    /// When the job completed or failed.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_at: Option<OffsetDateTime>,
    /// The process group of the attempt in progress, once its runner
    /// started it: what a later resume stops if this process dies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<JobProcess>,
    /// Its interrupted attempts (see `BatchJob::interrupted_attempts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Box<[u32]>>,
}

/// What [`JobJournal::replay`] read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalReplay {
    /// Complete entries, in file order.
    pub entries: Vec<JournalEntry>,
    /// Length in bytes of the complete lines; anything after is a torn tail.
    pub valid_len: u64,
    /// Whether a torn (unterminated or unparsable) last line was ignored.
    pub torn_tail: bool,
    /// Complete entries read.
    pub applied: u64,
    /// The highest sequence number read (0 when none).
    pub last_seq: u64,
}

/// The open journal of one batch.
#[derive(Debug)]
pub struct JobJournal {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    sync: JournalSync,
    last_sync: Instant,
    unsynced: bool,
}

impl JobJournal {
    /// Opens (creating if needed) the journal at `path` for appending.
    ///
    /// # Errors
    /// [`BatchError::Io`] naming the path.
    pub fn open(path: &Path, sync: JournalSync) -> Result<JobJournal> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| BatchError::io("opening journal", path, e))?;
        Ok(JobJournal {
            path: path.to_path_buf(),
            file,
            buf: Vec::with_capacity(256),
            sync,
            last_sync: Instant::now(),
            unsynced: false,
        })
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry with a single `write(2)`; when it finishes a job,
    /// fsyncs according to the policy. When this returns `Ok`, the entry
    /// survives a crash of the process.
    ///
    /// # Errors
    /// [`BatchError::Io`] naming the journal.
    pub fn append(&mut self, entry: &JournalEntry) -> Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, entry).map_err(|e| BatchError::io("encoding", &self.path, e.into()))?;
        self.buf.push(b'\n');
        self.file
            .write_all(&self.buf)
            .map_err(|e| BatchError::io("appending to journal", &self.path, e))?;
        self.unsynced = true;
        if entry.status.is_finished() {
            let due = match self.sync {
                JournalSync::EveryFinishedJob => true,
                JournalSync::Interval(d) => self.last_sync.elapsed() >= d,
                JournalSync::Never => false,
            };
            if due {
                self.sync()?;
            }
        }
        Ok(())
    }

    /// Flushes everything appended so far to stable storage.
    ///
    /// # Errors
    /// [`BatchError::Io`] naming the journal.
    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(|e| BatchError::io("syncing journal", &self.path, e))?;
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Empties the journal (after its entries were folded into the manifest).
    ///
    /// # Errors
    /// [`BatchError::Io`] naming the journal.
    pub fn clear(&mut self) -> Result<()> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| BatchError::io("truncating journal", &self.path, e))?;
        self.unsynced = false;
        Ok(())
    }

    /// Reads every complete entry of the journal at `path`. A missing file is
    /// an empty journal. A last line that is unterminated or does not parse is
    /// a write cut short by a crash: it is ignored and reported in
    /// [`JournalReplay::torn_tail`].
    ///
    /// # Errors
    /// [`BatchError::JournalCorrupt`] for a bad line before the last one;
    /// [`BatchError::Io`] when the file cannot be read.
    pub fn replay(path: &Path) -> Result<JournalReplay> {
        let mut entries = Vec::new();
        let mut replay = JobJournal::replay_with(path, |e| entries.push(e))?;
        replay.entries = entries;
        Ok(replay)
    }

    /// [`replay`](Self::replay), handing each complete entry to `apply` as
    /// it is read instead of collecting them: the journal of a large batch
    /// is streamed, never held in memory. The returned
    /// [`JournalReplay::entries`] is empty; `count` is in
    /// [`JournalReplay::applied`].
    ///
    /// # Errors
    /// As [`replay`](Self::replay).
    pub fn replay_with(path: &Path, mut apply: impl FnMut(JournalEntry)) -> Result<JournalReplay> {
        use std::io::BufRead;
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(JournalReplay::default()),
            Err(e) => return Err(BatchError::io("reading journal", path, e)),
        };
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut replay = JournalReplay::default();
        let mut line = Vec::new();
        let mut line_no = 0u64;
        // A bad line is only a torn tail if nothing follows it.
        let mut bad: Option<(u64, String)> = None;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| BatchError::io("reading journal", path, e))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if let Some((at, reason)) = bad.take() {
                return Err(BatchError::JournalCorrupt {
                    path: path.to_path_buf(),
                    line: at,
                    reason,
                });
            }
            if line.last() != Some(&b'\n') {
                replay.torn_tail = true;
                break;
            }
            let body = &line[..line.len() - 1];
            if body.iter().all(u8::is_ascii_whitespace) {
                replay.valid_len += n as u64;
                continue;
            }
            match serde_json::from_slice::<JournalEntry>(body) {
                Ok(entry) => {
                    replay.last_seq = replay.last_seq.max(entry.seq);
                    replay.applied += 1;
                    apply(entry);
                    replay.valid_len += n as u64;
                }
                Err(e) => bad = Some((line_no, e.to_string())),
            }
        }
        if bad.is_some() {
            replay.torn_tail = true;
        }
        Ok(replay)
    }

    /// Cuts the file at `path` to `len` bytes (dropping a torn tail before
    /// new lines are appended after it).
    ///
    /// # Errors
    /// [`BatchError::Io`] naming the journal.
    pub fn truncate_to(path: &Path, len: u64) -> Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| BatchError::io("opening journal", path, e))?;
        file.set_len(len)
            .and_then(|()| file.sync_all())
            .map_err(|e| BatchError::io("truncating journal", path, e))
    }
}

impl Drop for JobJournal {
    fn drop(&mut self) {
        // Best effort: an error here has no caller to go to, and every line
        // is already in the kernel's hands.
        let _ = self.sync();
    }
}
