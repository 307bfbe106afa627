//! The CSV export's directory swap: a new export is written into a fresh
//! sibling directory, synced, and exchanged for the old one, so a reader of
//! the directory sees one export's complete set of files, never a mix of
//! two. Only the CSV export replaces a directory, so this module exists
//! with the `csv` feature.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use super::durable::{
    RANDOM_CHARS, TMP_MARK, remove_dir_in_background, remove_stale_temporaries, sync_dir, temp_prefix,
};
use super::exchange;
use crate::error::{MetricsError, Result};

/// A new temporary directory in `parent` for `target` (mode 0o777 masked by
/// the umask, as `create_dir` makes it: it becomes the CSV export's
/// directory); removed with its content when dropped unless kept.
fn create_temp_dir(parent: &Path, target: &str) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&temp_prefix(target))
        .rand_bytes(RANDOM_CHARS)
        .tempdir_in(parent)
}

/// Replaces the directory `dir` as a whole with the files `fill` writes into
/// a fresh sibling directory (returning their paths there): the files are
/// synced, then the new directory is swapped in for `dir`, and the parent
/// directory is synced. On Linux the swap is one `renameat2` with
/// `RENAME_EXCHANGE`, so `dir` always names a complete export, the previous
/// one or this one; where the file system or system cannot exchange, two
/// renames (the previous export aside, the new one into place), between
/// which `dir` briefly does not exist. A reader that lists `dir` sees one
/// export's complete set of files, never a mix of two. On an error before
/// the swap, `dir` is left as it was. The previous export, under a
/// temporary name after the swap, is deleted before this returns when it
/// has at most `REMOVE_IN_PLACE_MAX` files, else in the background (what a
/// process that exits first leaves is removed by the next export).
///
/// An existing `dir` may hold only what an export writes (`*.csv` files and
/// temporaries), so that a mistyped path never deletes other files.
///
/// # Errors
/// [`MetricsError::Io`] naming `dir`, the file that failed, or the entry of
/// `dir` that no export wrote.
pub(crate) fn replace_dir(dir: &Path, fill: impl FnOnce(&Path) -> Result<Vec<PathBuf>>) -> Result<()> {
    let invalid = |what: &str| {
        MetricsError::io(
            "replacing directory",
            dir,
            io::Error::new(io::ErrorKind::InvalidInput, what.to_owned()),
        )
    };
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| invalid("the path must end in a UTF-8 directory name (not `.`, `..` or `/`)"))?
        .to_owned();
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| MetricsError::io("creating directory", parent, e))?;
    // How many entries the previous export has, if there is one.
    let previous = match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Some(check_only_export_files(dir)?),
        Ok(_) => {
            return Err(MetricsError::io(
                "replacing directory",
                dir,
                io::Error::new(io::ErrorKind::AlreadyExists, "it exists and is not a directory"),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(MetricsError::io("reading", dir, e)),
    };
    remove_stale_temporaries(parent);
    let staging =
        create_temp_dir(parent, &name).map_err(|e| MetricsError::io("creating a temporary directory in", parent, e))?;
    let files = fill(staging.path())?;
    sync_files(staging.path(), &files)?;
    sync_dir(staging.path())?;
    let Some(previous_entries) = previous else {
        return fs::rename(staging.path(), dir)
            .map_err(|e| MetricsError::io("renaming into place", dir, e))
            .and_then(|()| {
                // Renamed: nothing left for the guard to remove.
                let _ = staging.keep();
                sync_dir(parent)
            });
    };
    let aside = swap_in(staging, dir, parent, &name)?;
    sync_dir(parent)?;
    if previous_entries <= REMOVE_IN_PLACE_MAX {
        // A reader resolves names through `dir`, which is the new export
        // now, so the old one can go at once; a short-lived program (the
        // CLI) would otherwise exit before a background removal ran and
        // leave the old set beside the new one.
        if fs::remove_dir_all(&aside).is_err() {
            remove_dir_in_background(aside);
        }
    } else {
        remove_dir_in_background(aside);
    }
    Ok(())
}

/// Puts the new export `staging` in the place of the existing directory
/// `dir` and returns the temporary path in `parent` where the previous
/// export now is.
fn swap_in(staging: tempfile::TempDir, dir: &Path, parent: &Path, name: &str) -> Result<PathBuf> {
    match exchange::exchange(staging.path(), dir) {
        // The staging name now holds the previous export, to be deleted by
        // the caller rather than by the guard.
        Ok(true) => Ok(staging.keep()),
        Ok(false) => swap_in_by_renames(staging, dir, parent, name),
        Err(e) => Err(MetricsError::io("swapping the new export in for", dir, e)),
    }
}

/// [`swap_in`] where entries cannot be exchanged: the previous export moves
/// aside, then the new one into place; in between `dir` does not exist.
fn swap_in_by_renames(staging: tempfile::TempDir, dir: &Path, parent: &Path, name: &str) -> Result<PathBuf> {
    // The old export moves aside to a temporary name (onto an empty
    // directory made exclusively, so the name cannot be taken meanwhile).
    let aside =
        create_temp_dir(parent, name).map_err(|e| MetricsError::io("creating a temporary directory in", parent, e))?;
    fs::rename(dir, aside.path()).map_err(|e| MetricsError::io("moving the previous export aside", dir, e))?;
    if let Err(e) = fs::rename(staging.path(), dir) {
        // Put the previous export back; if another export took the place
        // meanwhile, the previous one is superseded and goes with `aside`.
        let _ = fs::rename(aside.path(), dir);
        return Err(MetricsError::io("renaming into place", dir, e));
    }
    let _ = staging.keep();
    Ok(aside.keep())
}

/// Previous exports of at most this many files are removed before
/// `replace_dir` returns; larger ones on a thread of their own.
const REMOVE_IN_PLACE_MAX: usize = 2_000;

/// Flushes every file of a new export to disk in one pass after all were
/// written: on Linux one `syncfs` of the file system holding `dir` (one
/// journal commit instead of one per file; 100k files went from 221 s to a
/// few seconds), elsewhere one `fsync` per file.
fn sync_files(dir: &Path, files: &[PathBuf]) -> Result<()> {
    #[cfg(target_os = "linux")]
    if let Ok(handle) = File::open(dir) {
        use std::os::fd::AsRawFd;
        // SAFETY: `syncfs` only reads the descriptor, which `handle` keeps
        // open for the duration of the call.
        if unsafe { libc::syncfs(handle.as_raw_fd()) } == 0 {
            return Ok(());
        }
        // An error (EIO, or no syncfs in this kernel): sync file by file,
        // which reports which file failed.
    }
    #[cfg(not(target_os = "linux"))]
    let _ = dir;
    for f in files {
        File::open(f)
            .and_then(|f| f.sync_all())
            .map_err(|e| MetricsError::io("syncing", f, e))?;
    }
    Ok(())
}

/// Refuses a directory that holds anything but an export's files; returns
/// how many entries it holds.
fn check_only_export_files(dir: &Path) -> Result<usize> {
    let entries = fs::read_dir(dir).map_err(|e| MetricsError::io("reading", dir, e))?;
    let mut count = 0;
    for entry in entries {
        count += 1;
        let entry = entry.map_err(|e| MetricsError::io("reading", dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        let exported = is_file && !name.starts_with('.') && name.ends_with(".csv");
        if !exported && !name.contains(TMP_MARK) {
            return Err(MetricsError::io(
                "replacing directory",
                entry.path(),
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "no CSV export wrote this entry; export into an empty directory or one that only an export writes",
                ),
            ));
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::durable::temp_owner;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The fallback of file systems without `RENAME_EXCHANGE`, which this
    /// machine's may not exercise through `replace_dir`.
    #[test]
    fn swapping_in_by_renames_moves_the_previous_export_aside() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("csv");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("old.csv"), b"").unwrap();
        let staging = create_temp_dir(parent.path(), "csv").unwrap();
        fs::write(staging.path().join("new.csv"), b"").unwrap();
        let aside = swap_in_by_renames(staging, &dir, parent.path(), "csv").unwrap();
        assert_eq!(names(&dir), ["new.csv"]);
        assert_eq!(names(&aside), ["old.csv"]);
        assert_eq!(
            temp_owner(&aside.file_name().unwrap().to_string_lossy()),
            Some(std::process::id())
        );
        fs::remove_dir_all(&aside).unwrap();
        assert_eq!(names(parent.path()), ["csv"], "no temporary is left");
    }
}
