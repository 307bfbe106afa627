//! Atomic file writes: every file the crate writes goes through here.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
#[cfg(feature = "csv")]
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{MetricsError, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory is written, flushed to disk, then renamed over `path`. Readers
/// see the old content or the new, never a torn file.
///
/// # Errors
/// [`MetricsError::Io`] naming the path.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| MetricsError::io("creating", &tmp, e))?;
        f.write_all(bytes).map_err(|e| MetricsError::io("writing", &tmp, e))?;
        f.sync_all().map_err(|e| MetricsError::io("syncing", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| MetricsError::io("renaming into place", path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `dir` and its parents if missing.
///
/// # Errors
/// [`MetricsError::Io`] naming the directory.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| MetricsError::io("creating directory", dir, e))
}

/// Writes `bytes` to `path` atomically, creating its parent directory.
///
/// # Errors
/// [`MetricsError::Io`] naming the directory or file.
pub(crate) fn write_atomic_creating_parent(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir(parent)?;
    }
    write_atomic(path, bytes)
}

/// Writes each `(file name, bytes)` atomically into `dir` (created if
/// missing) and returns the paths, in the order given. The names must be
/// plain file names (the exporters make them with
/// [`sanitize_file_stem`](crate::export::sanitize_file_stem)).
///
/// # Errors
/// [`MetricsError::Io`] naming the directory or file that could not be
/// written. Files written before the failure are left in place.
#[cfg(feature = "csv")]
pub(crate) fn write_files(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<Vec<PathBuf>> {
    create_dir(dir)?;
    let mut paths = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let path = dir.join(name);
        write_atomic(&path, bytes)?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp files left");
    }
}
