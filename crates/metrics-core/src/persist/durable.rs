//! Crash safety for exports: temporary names that cannot be predicted or
//! hijacked, directory syncs after renames, and clean-up of what a killed
//! export left behind.
//!
//! Every temporary file or directory an export creates is named
//! `.{target}.tmp-{pid}-{random}` and created exclusively (`O_EXCL`, so a
//! symlink planted at that name makes the creation fail instead of being
//! followed) by the `tempfile` crate. The pid in the name lets the next
//! export into the same directory tell a live export's temporaries from
//! those of a process that died mid-export, and remove only the latter.
//!
//! What an export leaves behind has the permissions a plain `File::create`
//! or `create_dir` would give it (0o666 or 0o777 masked by the umask), not
//! the owner-only 0o600 of `tempfile`'s defaults: an export is there to be
//! read by other tools, a web server or another user's job among them.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{MetricsError, Result};

/// Marks a temporary name; what follows is `{pid}-{random}`.
pub(super) const TMP_MARK: &str = ".tmp-";

/// Longest part of the target's name kept in a temporary name, in bytes, so
/// that the temporary name stays well below the 255-byte limit.
const MAX_TARGET_IN_NAME: usize = 100;

/// `.{target}.tmp-{pid}-`: the prefix of every temporary of `target` (a
/// file or directory name).
pub(super) fn temp_prefix(target: &str) -> String {
    let mut end = target.len().min(MAX_TARGET_IN_NAME);
    while !target.is_char_boundary(end) {
        end -= 1;
    }
    format!(".{}{TMP_MARK}{}-", &target[..end], std::process::id())
}

/// Random characters after the prefix: ~60 bits, not guessable.
pub(super) const RANDOM_CHARS: usize = 10;

/// A new temporary file in `dir` for `target`, created exclusively; it is
/// deleted when dropped unless persisted.
///
/// Its mode is the one `File::create` gives a new file: 0o666 handed to
/// `open`, which the kernel masks with the umask (so the umask is neither
/// read nor changed here, which would race with other threads). It is
/// renamed into place with that mode; until then its unpredictable name and
/// its content being a partial export are what keep it out of others'
/// hands, as for a file written in place.
pub(crate) fn create_temp_file(dir: &Path, target: &str) -> io::Result<tempfile::NamedTempFile> {
    let prefix = temp_prefix(target);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).rand_bytes(RANDOM_CHARS);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// The pid encoded in a temporary name made by `temp_prefix`.
pub(super) fn temp_owner(file_name: &str) -> Option<u32> {
    if !file_name.starts_with('.') {
        return None;
    }
    let after = &file_name[file_name.rfind(TMP_MARK)? + TMP_MARK.len()..];
    after.split('-').next()?.parse().ok()
}

/// Whether process `pid` is running (on Linux, from `/proc`; elsewhere every
/// process is assumed alive, so nothing of a live export is ever removed).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Removes the temporaries in `dir` left by exports whose process is gone
/// (killed mid-export). Best effort: a temporary that cannot be removed is
/// left for the next export. A symlink is removed, never followed.
pub(crate) fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(temp_owner) else {
            continue;
        };
        if owner == me || process_alive(owner) {
            continue;
        }
        let path = entry.path();
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => remove_dir_in_background(path),
            Ok(_) => {
                let _ = fs::remove_file(&path);
            }
            Err(_) => {}
        }
    }
}

/// Removes the directory `path` (a previous export moved aside, or a stale
/// temporary) on a thread of its own: the export is complete and durable
/// without it, and deleting 100k files can take minutes where every freed
/// block is discarded on the spot. Should the process end first, the rest
/// is a stale temporary that the next export into the directory removes.
pub(super) fn remove_dir_in_background(path: PathBuf) {
    let fallback = path.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-export-cleanup".into())
        .spawn(move || {
            // A reader that listed the previous export just before the swap
            // gets a moment to open its files (open files outlive unlinking).
            std::thread::sleep(std::time::Duration::from_millis(500));
            let _ = fs::remove_dir_all(&path);
        });
    if spawned.is_err() {
        let _ = fs::remove_dir_all(&fallback);
    }
}

/// Flushes `dir`'s entries (a rename into it) to disk.
///
/// # Errors
/// [`MetricsError::Io`] naming the directory.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    sync_dir_io(dir).map_err(|e| MetricsError::io("syncing directory", dir, e))
}

#[cfg(unix)]
fn sync_dir_io(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Directories cannot be opened for syncing here; renames are durable once
/// the file system says so.
#[cfg(not(unix))]
fn sync_dir_io(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_carry_the_pid_and_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let f = create_temp_file(dir.path(), "metrics.json").unwrap();
        let name = f.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with(".metrics.json.tmp-"), "{name}");
        assert_eq!(temp_owner(&name), Some(std::process::id()));
        assert_eq!(temp_owner("metrics.json"), None);
        assert_eq!(temp_owner(".x.tmp-abc-1"), None);
        let long = "é".repeat(200);
        let f = create_temp_file(dir.path(), &long).unwrap();
        assert!(f.path().file_name().unwrap().len() < 255);
    }
}
