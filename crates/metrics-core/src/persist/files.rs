//! Atomic file writes: every file the crate writes goes through here (or
//! through the CSV export's directory swap in `directory`).

use std::fs;
#[cfg(feature = "csv")]
use std::fs::File;
use std::io::Write;
use std::path::Path;
#[cfg(feature = "csv")]
use std::path::PathBuf;

use super::durable;
use crate::error::{MetricsError, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory is written, flushed to disk, renamed over `path`, and the
/// directory is synced. Readers see the old content or the new, never a torn
/// file; after a crash the file is the old one or the new one.
///
/// The temporary file has an unpredictable name and is created exclusively,
/// so a symlink planted in the directory cannot redirect the write; `path`
/// ends up with the mode `File::create` gives a new file (0o666 masked by
/// the umask). Temporary files of an export that was killed are removed first.
///
/// # Errors
/// [`MetricsError::Io`] naming the path.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    durable::remove_stale_temporaries(dir);
    let mut tmp = durable::create_temp_file(dir, &file_name)
        .map_err(|e| MetricsError::io("creating a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .map_err(|e| MetricsError::io("writing", tmp.path().to_path_buf(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| MetricsError::io("syncing", tmp.path().to_path_buf(), e))?;
    // On failure the temporary file comes back inside the error and is
    // deleted when that is dropped.
    tmp.persist(path)
        .map_err(|e| MetricsError::io("renaming into place", path, e.error))?;
    durable::sync_dir(dir)
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

/// Writes each `(file name, bytes)` into the fresh directory `dir`, not
/// yet visible under the export's name (a staging directory of [`replace_dir`](super::directory::replace_dir), which syncs them
/// all in one pass afterwards) and returns the paths, in the order given.
/// Each file is created exclusively. The names must be plain file names (the
/// exporters make them with [`csv_file_stem`](crate::export::csv_file_stem)).
///
/// # Errors
/// [`MetricsError::Io`] naming the file that could not be written.
#[cfg(feature = "csv")]
pub(crate) fn write_new_files(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let path = dir.join(name);
        File::create_new(&path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| MetricsError::io("writing", &path, e))?;
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
