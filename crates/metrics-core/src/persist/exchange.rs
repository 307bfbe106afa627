//! Swapping two directory entries in one step, so that a path an export
//! replaces never stops existing: on Linux `renameat2(RENAME_EXCHANGE)`.

use std::io;
use std::path::Path;

/// Exchanges the entries at `a` and `b` atomically (both must exist, on the
/// same file system): afterwards `a` names what `b` named and `b` what `a`
/// named, and a reader resolving either path finds one or the other, never
/// nothing. `Ok(false)` when this system cannot (not Linux, a kernel without
/// `renameat2`, or a file system that refuses `RENAME_EXCHANGE`); nothing
/// changed then, and the caller falls back to renames.
///
/// # Errors
/// Any other error of `renameat2` (a missing entry, permissions, different
/// file systems); nothing changed then either.
#[cfg(target_os = "linux")]
pub(crate) fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    let c_path = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the path contains a NUL byte"))
    };
    let (a, b) = (c_path(a)?, c_path(b)?);
    // SAFETY: `a` and `b` are NUL-terminated strings that live until the
    // end of this function; `renameat2` only reads them during the call.
    // `AT_FDCWD` resolves relative paths against the working directory, as
    // `rename` does. No memory is handed to or kept by the kernel.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // EINVAL: the file system does not support the flag (renameat2(2));
        // ENOSYS: a kernel before 3.15 or a sandbox that filters the call;
        // EOPNOTSUPP: what some FUSE and network file systems answer.
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(err),
    }
}

/// No atomic exchange here: the caller falls back to renames.
#[cfg(not(target_os = "linux"))]
pub(crate) fn exchange(_a: &Path, _b: &Path) -> io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn exchange_swaps_two_directories() {
        let root = tempfile::tempdir().unwrap();
        let (a, b) = (root.path().join("a"), root.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("from_a"), b"").unwrap();
        std::fs::write(b.join("from_b"), b"").unwrap();
        if !exchange(&a, &b).unwrap() {
            // A file system without RENAME_EXCHANGE: nothing may have moved.
            assert!(a.join("from_a").exists() && b.join("from_b").exists());
            return;
        }
        assert!(a.join("from_b").exists() && b.join("from_a").exists());
    }

    #[test]
    fn exchange_with_a_missing_entry_changes_nothing() {
        let root = tempfile::tempdir().unwrap();
        let a = root.path().join("a");
        std::fs::create_dir(&a).unwrap();
        let swapped = exchange(&a, &root.path().join("missing"));
        assert!(!matches!(swapped, Ok(true)), "{swapped:?}");
        assert!(a.is_dir());
    }
}
