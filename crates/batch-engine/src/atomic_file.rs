//! Every file this crate and the `bykilt` CLI write whole: written to a
//! temporary file in the same directory, fsynced, renamed over the target,
//! and the directory fsynced, so a crash leaves the old file or the new
//! one, never a mix.

use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically (see the module docs). The parent
/// directory must exist.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("state.json");
/// batch_engine::write_atomic(&path, b"{}").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"{}");
/// ```
///
/// # Errors
/// The I/O error of any step; the target is then unchanged.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], with the content streamed by `write` into a
/// buffered writer, so a large document never sits in memory whole.
///
/// # Errors
/// The error of `write` or of any I/O step; the target is then unchanged.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Readable as a file written with `std::fs::write` would be (a
    // temporary file is private by default).
    let tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)?;
    let mut w = BufWriter::with_capacity(1 << 20, tmp);
    write(&mut w)?;
    let tmp = w.into_inner().map_err(std::io::IntoInnerError::into_error)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}
