//! A batch on disk, opened for update: the manifest in memory, the journal
//! open for appending, and an exclusive lock so that one process at a time
//! changes it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::error::{BatchError, Result};
use crate::job::{JobProcess, JobStatus};
use crate::journal::{JOURNAL_FILE, JobJournal, JournalEntry, JournalSync};
use crate::manifest::{BatchManifest, MANIFEST_FILE};

const LOCK_FILE: &str = ".lock";

/// Error message given to jobs found `running` when a batch is opened.
pub(crate) const INTERRUPTED: &str = "interrupted: the process running this job ended before it finished";

#[derive(Debug)]
pub(crate) struct BatchStore {
    manifest: BatchManifest,
    manifest_path: PathBuf,
    journal: JobJournal,
    next_seq: u64,
    /// The journal sequence number the manifest on disk holds: when nothing
    /// was journaled past it, compaction has nothing to write.
    saved_seq: u64,
    /// What opening found and repaired, for the caller to tell the user.
    pub(crate) warnings: Vec<String>,
    _lock: File,
}

fn lock(batch_dir: &Path, batch_id: &str) -> Result<File> {
    let path = batch_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| BatchError::io("opening lock file", &path, e))?;
    // A reader probing whether the batch is open ([`is_batch_open`]: `batch
    // status`, a dashboard polling) holds a shared lock for microseconds;
    // a run that starts meanwhile waits that out instead of failing as
    // busy. Another run holds it for good, and is reported.
    let patience = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if patience.elapsed() < PROBE_PATIENCE => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(BatchError::Busy {
                    batch_id: batch_id.to_owned(),
                    path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(BatchError::io("locking", &path, e)),
        }
    }
}

/// How long opening a batch waits for a lock held by someone else before
/// calling the batch busy: far longer than a reader's probe, far shorter
/// than anything a person would notice.
const PROBE_PATIENCE: std::time::Duration = std::time::Duration::from_millis(250);

/// Whether a process (this one included) has the batch in `batch_dir` open
/// for update, i.e. holds its lock. Jobs journaled `running` while nobody
/// holds it were left by a run that ended before they finished.
///
/// Probes with a shared lock released at once, so a reader never keeps a
/// run from starting for longer than the probe itself.
pub fn is_batch_open(batch_dir: &Path) -> bool {
    let Ok(file) = File::open(batch_dir.join(LOCK_FILE)) else {
        return false;
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(TryLockError::WouldBlock) => true,
        // A lock that cannot be probed: say running, the cautious answer.
        Err(TryLockError::Error(_)) => true,
    }
}

/// Applies a journal entry to the manifest, ignoring ones already folded in
/// or naming a job that does not exist.
fn apply_entry(manifest: &mut BatchManifest, folded_seq: u64, entry: &JournalEntry) {
    if entry.seq <= folded_seq {
        return;
    }
    if let Some(job) = manifest.jobs.get_mut(entry.job) {
        job.status = entry.status;
        job.attempts = entry.attempts;
        job.error_message = entry.error.as_deref().map(Box::from);
        job.started_at = entry.started_at;
        job.completed_at = entry.completed_at;
        job.process = entry.process;
        job.interrupted_attempts.clone_from(&entry.interrupted);
    }
}

/// The manifest with the journal applied, read without taking the lock or
/// writing anything (for status queries while a run may be going on).
pub(crate) fn read_batch(batch_dir: &Path) -> Result<BatchManifest> {
    let mut manifest = BatchManifest::load(&batch_dir.join(MANIFEST_FILE))?;
    let base_seq = manifest.journal_seq;
    let replay = JobJournal::replay_with(&batch_dir.join(JOURNAL_FILE), |e| {
        apply_entry(&mut manifest, base_seq, &e)
    })?;
    manifest.journal_seq = manifest.journal_seq.max(replay.last_seq);
    manifest.recount();
    Ok(manifest)
}

impl BatchStore {
    /// Writes a new batch's manifest and opens it. Fails if the directory
    /// already holds a manifest.
    pub(crate) fn create(batch_dir: &Path, mut manifest: BatchManifest, sync: JournalSync) -> Result<BatchStore> {
        std::fs::create_dir_all(batch_dir).map_err(|e| BatchError::io("creating directory", batch_dir, e))?;
        let lock = lock(batch_dir, &manifest.batch_id)?;
        let manifest_path = batch_dir.join(MANIFEST_FILE);
        if manifest_path.exists() {
            return Err(BatchError::RunHasBatch {
                run_id: manifest.run_id.clone(),
                path: manifest_path,
            });
        }
        let journal_path = batch_dir.join(JOURNAL_FILE);
        manifest.save(&manifest_path)?;
        let mut journal = JobJournal::open(&journal_path, sync)?;
        journal.clear()?;
        Ok(BatchStore {
            next_seq: manifest.journal_seq + 1,
            saved_seq: manifest.journal_seq,
            manifest,
            manifest_path,
            journal,
            warnings: Vec::new(),
            _lock: lock,
        })
    }

    /// Locks the batch, replays its journal, marks jobs left `running` by a
    /// previous process as `stopped` (interrupted, journaled). Jobs left
    /// `running` with a recorded process group stay `running`: their
    /// processes may still be alive, and [`crate::BatchEngine::stop_orphans`]
    /// deals with them before anything runs.
    pub(crate) fn open(batch_dir: &Path, batch_id: &str, sync: JournalSync) -> Result<BatchStore> {
        let lock = lock(batch_dir, batch_id)?;
        let manifest_path = batch_dir.join(MANIFEST_FILE);
        let journal_path = batch_dir.join(JOURNAL_FILE);
        let mut manifest = BatchManifest::load(&manifest_path)?;
        let base_seq = manifest.journal_seq;
        let journal_len = std::fs::metadata(&journal_path).map_or(0, |m| m.len());
        let replay = JobJournal::replay_with(&journal_path, |e| apply_entry(&mut manifest, base_seq, &e))?;
        manifest.journal_seq = manifest.journal_seq.max(replay.last_seq);
        let mut warnings = Vec::new();
        if replay.torn_tail {
            let len = std::fs::metadata(&journal_path).map_or(replay.valid_len, |m| m.len());
            JobJournal::truncate_to(&journal_path, replay.valid_len)?;
            warnings.push(format!(
                "{}: dropped a torn last line of {} bytes (a write cut short when the process died); \
                 the {} complete lines before it were kept",
                journal_path.display(),
                len.saturating_sub(replay.valid_len),
                replay.applied
            ));
        }
        let mut interrupted = Vec::new();
        for (i, job) in manifest.jobs.iter_mut().enumerate() {
            if job.status == JobStatus::Running && job.process.is_none() {
                job.status = JobStatus::Stopped;
                job.error_message = Some(INTERRUPTED.into());
                job.mark_latest_interrupted();
                interrupted.push(i);
            }
        }
        let journal = JobJournal::open(&journal_path, sync)?;
        let mut store = BatchStore {
            // A journal with lines (even ones already folded in) is emptied
            // by the next compaction.
            saved_seq: if journal_len == 0 {
                base_seq
            } else {
                base_seq.saturating_sub(1)
            },
            next_seq: manifest.journal_seq + 1,
            manifest,
            manifest_path,
            journal,
            warnings,
            _lock: lock,
        };
        // Journaled, not compacted: rewriting the manifest of a large batch
        // costs seconds, and the next compaction (at the end of a run)
        // folds these lines in anyway.
        for i in interrupted {
            store.journal_job(i)?;
        }
        store.journal.sync()?;
        Ok(store)
    }

    pub(crate) fn manifest(&self) -> &BatchManifest {
        &self.manifest
    }

    /// Folds the journal into the manifest: manifest written atomically with
    /// the last sequence number, then the journal emptied. A crash between
    /// the two leaves entries that replay skips by their sequence number.
    pub(crate) fn compact(&mut self) -> Result<()> {
        if self.next_seq - 1 == self.saved_seq {
            // Nothing journaled since the manifest was written: rewriting a
            // large manifest for nothing costs seconds.
            return Ok(());
        }
        self.journal.sync()?;
        self.manifest.journal_seq = self.next_seq - 1;
        self.manifest.save(&self.manifest_path)?;
        self.saved_seq = self.manifest.journal_seq;
        self.journal.clear()
    }

    pub(crate) fn sync(&mut self) -> Result<()> {
        self.journal.sync()
    }

    /// Records job `idx`'s latest attempt as interrupted (journaled with
    /// the transition that follows).
    pub(crate) fn mark_interrupted(&mut self, idx: usize) {
        if let Some(job) = self.manifest.jobs.get_mut(idx) {
            job.mark_latest_interrupted();
        }
    }

    fn journal_job(&mut self, idx: usize) -> Result<()> {
        let job = &self.manifest.jobs[idx];
        let entry = JournalEntry {
            seq: self.next_seq,
            job: idx,
            status: job.status,
            attempts: job.attempts,
            error: job.error_message.as_deref().map(str::to_owned),
            started_at: job.started_at,
            completed_at: job.completed_at,
            process: job.process,
            interrupted: job.interrupted_attempts.clone(),
        };
        self.journal.append(&entry)?;
        self.next_seq += 1;
        Ok(())
    }

    fn job_or_err(&self, idx: usize) -> Result<()> {
        if idx < self.manifest.jobs.len() {
            Ok(())
        } else {
            Err(BatchError::UnknownJob {
                batch_id: self.manifest.batch_id.clone(),
                job_id: format!("#{idx}"),
            })
        }
    }

    /// Moves job `idx` to `to` along an allowed edge and journals it.
    /// Returns the previous status.
    pub(crate) fn transition(&mut self, idx: usize, to: JobStatus, error: Option<String>) -> Result<JobStatus> {
        self.job_or_err(idx)?;
        let job = &mut self.manifest.jobs[idx];
        let from = job.status;
        if !from.can_transition_to(to) {
            let hint = if from.is_finished() && matches!(to, JobStatus::Pending | JobStatus::Running) {
                "; use an explicit retry (retry_batch_jobs / `bykilt batch retry`) to run it again"
            } else {
                ""
            };
            return Err(BatchError::InvalidTransition {
                job_id: job.job_id.clone(),
                from,
                to,
                hint,
            });
        }
        let now = OffsetDateTime::now_utc();
        job.process = None;
        match to {
            JobStatus::Running => {
                job.attempts += 1;
                job.started_at = Some(now);
                job.completed_at = None;
                job.error_message = None;
            }
            JobStatus::Completed => {
                job.completed_at = Some(now);
                job.error_message = None;
            }
            JobStatus::Failed | JobStatus::Stopped => {
                if to == JobStatus::Failed {
                    job.completed_at = Some(now);
                }
                job.error_message = error.map(String::into_boxed_str);
            }
            JobStatus::Pending => {}
        }
        job.status = to;
        self.journal_job(idx)?;
        Ok(from)
    }

    /// Starts another attempt of a running job (a retry within one run).
    pub(crate) fn next_attempt(&mut self, idx: usize, last_error: String) -> Result<()> {
        self.job_or_err(idx)?;
        let job = &mut self.manifest.jobs[idx];
        job.attempts += 1;
        job.started_at = Some(OffsetDateTime::now_utc());
        job.error_message = Some(last_error.into_boxed_str());
        job.process = None;
        self.journal_job(idx)
    }

    /// Records the process group of job `idx`'s attempt in progress.
    pub(crate) fn record_process(&mut self, idx: usize, process: JobProcess) -> Result<()> {
        self.job_or_err(idx)?;
        let job = &mut self.manifest.jobs[idx];
        if job.status != JobStatus::Running {
            return Ok(());
        }
        job.process = Some(process);
        // No fsync: the line survives the death of this process, and a power
        // loss ends the attempt's processes too.
        self.journal_job(idx)
    }

    /// The jobs left `running` with a recorded process group, by a process
    /// that ended (the lock is ours, so no live run owns them).
    pub(crate) fn orphans(&self) -> Vec<(usize, JobProcess)> {
        self.manifest
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| j.status == JobStatus::Running)
            .filter_map(|(i, j)| Some((i, j.process?)))
            .collect()
    }

    /// An explicit retry: a finished or stopped job goes back to `pending`
    /// (its attempt count kept, so each attempt keeps its own number and log
    /// header). Returns the previous status.
    pub(crate) fn retry(&mut self, idx: usize) -> Result<JobStatus> {
        self.job_or_err(idx)?;
        let job = &mut self.manifest.jobs[idx];
        let from = job.status;
        if from == JobStatus::Pending {
            return Ok(from);
        }
        if !from.can_retry() {
            return Err(BatchError::InvalidTransition {
                job_id: job.job_id.clone(),
                from,
                to: JobStatus::Pending,
                hint: "; a running job cannot be retried until it ends",
            });
        }
        job.status = JobStatus::Pending;
        job.error_message = None;
        job.process = None;
        job.started_at = None;
        job.completed_at = None;
        self.journal_job(idx)?;
        Ok(from)
    }
}
