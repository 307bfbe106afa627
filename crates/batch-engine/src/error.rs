//! Errors of the batch engine: bad CSV input, bad identifiers, invalid job
//! transitions, and persistence failures. Each names the offending value and
//! where it came from.

use std::path::PathBuf;

use crate::job::JobStatus;

/// A CSV file that cannot become a batch. Every variant names the file; the
/// ones about content also name the 1-based line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// The path does not exist.
    #[error("{path}: no such file; check the path")]
    Missing {
        /// The path as given.
        path: PathBuf,
    },
    /// The path is a directory.
    #[error("{path}: is a directory, not a CSV file")]
    Directory {
        /// The path as given.
        path: PathBuf,
    },
    /// The path resolves outside the configured input root.
    #[error("{path}: resolves to {resolved}, outside the allowed input root {root}")]
    OutsideRoot {
        /// The path as given.
        path: PathBuf,
        /// The canonical path it resolves to.
        resolved: PathBuf,
        /// The allowed root (canonical).
        root: PathBuf,
    },
    /// The file is larger than the configured limit.
    #[error("{path}: file is {size} bytes, over the limit of {limit} bytes (raise max_file_size)")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file holds nothing (or only a byte-order mark or blank lines).
    #[error("{path}: file is empty; a header row and at least one data row are required")]
    Empty {
        /// The path.
        path: PathBuf,
    },
    /// The file has a header row but no data rows.
    #[error("{path}: only a header row (line 1); add at least one data row")]
    HeaderOnly {
        /// The path.
        path: PathBuf,
    },
    /// The file is not valid UTF-8.
    #[error("{path}:{line}: not valid UTF-8 at byte offset {byte_offset}; re-encode the file as UTF-8")]
    NotUtf8 {
        /// The path.
        path: PathBuf,
        /// 1-based line of the bad byte.
        line: u64,
        /// Offset of the first invalid byte from the start of the file.
        byte_offset: usize,
    },
    /// A data row has a different number of fields than the header.
    #[error("{path}:{line}: row has {found} fields, the header has {expected}")]
    RaggedRow {
        /// The path.
        path: PathBuf,
        /// 1-based line where the row starts.
        line: u64,
        /// Number of header columns.
        expected: usize,
        /// Number of fields in the row.
        found: usize,
    },
    /// A header column name is empty.
    #[error("{path}:1: column {column} has an empty name; every column needs a name")]
    EmptyColumnName {
        /// The path.
        path: PathBuf,
        /// 1-based column number.
        column: usize,
    },
    /// Two header columns have the same name.
    #[error("{path}:1: column name {name:?} appears more than once")]
    DuplicateColumn {
        /// The path.
        path: PathBuf,
        /// The repeated name.
        name: String,
    },
    /// The CSV reader rejected the content.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The path.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The reader's message.
        message: String,
    },
    /// Reading the file failed.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Everything the engine can report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The input CSV is unusable.
    #[error(transparent)]
    Csv(#[from] CsvError),
    /// A file-system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("writing", "opening", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A manifest could not be parsed.
    #[error("{path}: not a valid batch manifest: {source}")]
    Manifest {
        /// The manifest path.
        path: PathBuf,
        /// The parser's error, with line and column.
        source: serde_json::Error,
    },
    /// A journal line other than the last one could not be parsed.
    #[error("{path}:{line}: corrupt journal entry ({reason}); only a torn last line is tolerated")]
    JournalCorrupt {
        /// The journal path.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What was wrong.
        reason: String,
    },
    /// No batch with this id exists under the artifacts root.
    #[error("batch {batch_id:?} not found under {root}; `bykilt batch list` shows the known batches")]
    UnknownBatch {
        /// The id asked for.
        batch_id: String,
        /// The artifacts root searched.
        root: PathBuf,
    },
    /// No run under the artifacts root matches the id or prefix given.
    #[error("batch or run {input:?} not found under {root}{}", suggest(closest))]
    UnknownRun {
        /// The id as given.
        input: String,
        /// The artifacts root searched.
        root: PathBuf,
        /// The nearest known batch ids.
        closest: Vec<String>,
    },
    /// A prefix that more than one run has.
    #[error("{input:?} is ambiguous: it starts {}; give more characters", matches.join(", "))]
    AmbiguousId {
        /// The prefix as given.
        input: String,
        /// The batch ids it matches.
        matches: Vec<String>,
    },
    /// A batch or run id has the wrong shape.
    #[error("{kind} id {value:?} is malformed: {reason}")]
    InvalidId {
        /// "batch", "run" or "job".
        kind: &'static str,
        /// The id as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The job id does not belong to the batch.
    #[error("job {job_id:?} is not part of batch {batch_id:?}")]
    UnknownJob {
        /// The batch searched.
        batch_id: String,
        /// The job id as given.
        job_id: String,
    },
    /// The requested status change is not allowed.
    #[error("job {job_id}: cannot go from {from} to {to}{hint}")]
    InvalidTransition {
        /// The job.
        job_id: String,
        /// Its current status.
        from: JobStatus,
        /// The requested status.
        to: JobStatus,
        /// How to get there, when there is a way.
        hint: &'static str,
    },
    /// Another process holds the batch's lock.
    #[error("batch {batch_id} is in use by another process (lock {path}); wait for it to finish")]
    Busy {
        /// The batch.
        batch_id: String,
        /// The lock file.
        path: PathBuf,
    },
    /// The run already holds a batch; one run holds one batch.
    #[error("run {run_id} already has a batch ({path}); start a new RunContext for another batch")]
    RunHasBatch {
        /// The run.
        run_id: String,
        /// The existing manifest.
        path: PathBuf,
    },
    /// Columns whose environment-variable names collide.
    #[error("columns {first:?} and {second:?} both map to the environment variable {var}; rename one")]
    EnvNameCollision {
        /// The first column.
        first: String,
        /// The second column (or the reserved name it collides with).
        second: String,
        /// The shared variable name.
        var: String,
    },
    /// An option value is out of range.
    #[error("option {name} = {value}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Its value as given.
        value: String,
        /// The accepted range.
        reason: &'static str,
    },
    /// An attempt a killed run left behind is still running and could not
    /// be stopped; nothing was started.
    #[error(
        "batch {batch_id}: job {job_id} still has processes of an earlier attempt running (process group {pgid}): \
         {reason}; nothing was started. Stop them (e.g. `kill -TERM -- -{pgid}` as their owner) and run the command again"
    )]
    OrphansRemain {
        /// The batch.
        batch_id: String,
        /// The job whose attempt is still running.
        job_id: String,
        /// The attempt's process group.
        pgid: u32,
        /// Why it could not be stopped.
        reason: String,
    },
    /// Recording a metric failed (e.g. a name already used with another type).
    #[error(transparent)]
    Metrics(#[from] metrics_core::MetricsError),
}

fn suggest(closest: &[String]) -> String {
    if closest.is_empty() {
        "; there are no batches there yet".to_owned()
    } else {
        format!("; the closest: {}", closest.join(", "))
    }
}

impl BatchError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BatchError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Whether the error comes from the caller's input (a bad file, id or
    /// option) rather than from the environment. The CLI maps these to exit
    /// code 2.
    pub fn is_input_error(&self) -> bool {
        !matches!(self, BatchError::Io { .. } | BatchError::Metrics(_))
    }
}

/// Result alias of this crate.
pub type Result<T, E = BatchError> = std::result::Result<T, E>;
