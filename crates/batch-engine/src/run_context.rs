//! `RunContext`: one run's id and where its artifacts go.
//!
//! Layout under the artifacts root:
//! ```text
//! <root>/runs/<run_id>/batch/batch_manifest.json   the batch (one per run)
//! <root>/runs/<run_id>/batch/journal.jsonl         status changes since the last compaction
//! <root>/runs/<run_id>/jobs/<job_id>.log           each job's output
//! <root>/runs/<run_id>/metrics/                    the run's metrics export
//! ```

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{BatchError, Result};

/// Environment variable naming the artifacts root.
pub const ARTIFACTS_DIR_ENV: &str = "BYKILT_ARTIFACTS_DIR";
/// The artifacts root when [`ARTIFACTS_DIR_ENV`] is unset or empty.
pub const DEFAULT_ARTIFACTS_DIR: &str = "artifacts";

/// A run: an id unique on this machine and the artifacts root it writes under.
///
/// ```
/// use batch_engine::RunContext;
/// let ctx = RunContext::new("/tmp/artifacts");
/// let dir = ctx.artifact_dir("metrics").unwrap();
/// assert!(dir.ends_with(format!("runs/{}/metrics", ctx.run_id())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    run_id: String,
    root: PathBuf,
}

impl RunContext {
    /// A new run under `root` with a fresh id. Creates nothing on disk.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunContext {
            run_id: new_run_id(),
            root: root.into(),
        }
    }

    /// The run `run_id` under `root` (to reopen an existing run).
    ///
    /// # Errors
    /// [`BatchError::InvalidId`] when `run_id` is not a valid run id.
    pub fn with_run_id(root: impl Into<PathBuf>, run_id: &str) -> Result<Self> {
        validate_run_id(run_id)?;
        Ok(RunContext {
            run_id: run_id.to_owned(),
            root: root.into(),
        })
    }

    /// A new run under the root named by `BYKILT_ARTIFACTS_DIR`, or
    /// `artifacts/` when it is unset or empty.
    pub fn from_env() -> Self {
        RunContext::new(artifacts_root_from_env())
    }

    /// The process-wide run, created by [`from_env`](Self::from_env) on first use.
    pub fn get() -> &'static RunContext {
        static GLOBAL: OnceLock<RunContext> = OnceLock::new();
        GLOBAL.get_or_init(RunContext::from_env)
    }

    /// The run id: `YYYYMMDD-HHMMSS-<micros>-<hex>`, UTC, so ids sort by start time.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The artifacts root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/runs/<run_id>`.
    pub fn run_dir(&self) -> PathBuf {
        run_dir(&self.root, &self.run_id)
    }

    /// `<root>/runs/<run_id>/<kind>`, created if missing.
    ///
    /// # Errors
    /// [`BatchError::InvalidId`] when `kind` is not a plain name of
    /// `[A-Za-z0-9_-]`; [`BatchError::Io`] when the directory cannot be created.
    pub fn artifact_dir(&self, kind: &str) -> Result<PathBuf> {
        if kind.is_empty()
            || !kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(BatchError::InvalidId {
                kind: "artifact kind",
                value: kind.to_owned(),
                reason: "use letters, digits, '_' or '-'",
            });
        }
        let dir = self.run_dir().join(kind);
        std::fs::create_dir_all(&dir).map_err(|e| BatchError::io("creating directory", &dir, e))?;
        Ok(dir)
    }
}

/// The root named by `BYKILT_ARTIFACTS_DIR`, or `artifacts/`.
pub fn artifacts_root_from_env() -> PathBuf {
    match std::env::var_os(ARTIFACTS_DIR_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_ARTIFACTS_DIR),
    }
}

/// `<root>/runs/<run_id>` (no validation).
pub(crate) fn run_dir(root: &Path, run_id: &str) -> PathBuf {
    root.join("runs").join(run_id)
}

/// A fresh run id, `YYYYMMDD-HHMMSS-<micros>-<hex>` in UTC.
pub fn new_run_id() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let now = time::OffsetDateTime::now_utc();
    let salt = (std::process::id().wrapping_mul(2_654_435_761) ^ SEQ.fetch_add(1, Ordering::Relaxed)) & 0xffff;
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}-{:06}-{salt:04x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

/// Checks that `id` can be a run id: 1–64 characters of `[A-Za-z0-9-]`
/// (no `_`, which separates the run id from the job number in job ids).
///
/// # Errors
/// [`BatchError::InvalidId`] naming the id.
pub fn validate_run_id(id: &str) -> Result<()> {
    let reason = if id.is_empty() {
        Some("it is empty")
    } else if id.len() > 64 {
        Some("it is longer than 64 characters")
    } else if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Some("only letters, digits and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(BatchError::InvalidId {
            kind: "run",
            value: id.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The run ids under `<root>/runs`, oldest first (ids sort by start time).
/// A missing root yields an empty list.
///
/// # Errors
/// [`BatchError::Io`] when the directory exists but cannot be read.
pub fn list_runs(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("runs");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BatchError::io("reading directory", &dir, e)),
    };
    let mut runs: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| validate_run_id(name).is_ok())
        .collect();
    runs.sort();
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_valid_unique_and_sortable() {
        let a = new_run_id();
        let b = new_run_id();
        validate_run_id(&a).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), "20261128-051430-123456-abcd".len());
    }

    #[test]
    fn bad_run_ids_are_rejected() {
        for id in ["", "../x", "a_b", "a/b", &"x".repeat(65)] {
            assert!(validate_run_id(id).is_err(), "{id:?}");
        }
    }

    #[test]
    fn artifact_kind_cannot_escape() {
        let ctx = RunContext::new(std::env::temp_dir());
        assert!(ctx.artifact_dir("../x").is_err());
        assert!(ctx.artifact_dir("").is_err());
    }
}
