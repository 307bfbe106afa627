//! The writer lock: one writing process per database.
//!
//! An advisory exclusive lock (`flock`) on `<database>-writer.lock`, held
//! for the writer's life. The kernel releases it when the process dies,
//! even by `kill -9`, so a crashed writer never blocks the next one. The
//! file holds a line naming the holder (pid, host, command line, start
//! time) for the error a second writer gets.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: File,
}

/// `<database>-writer.lock`, beside the database.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push("-writer.lock");
    db.with_file_name(name)
}

/// Who this process is, as written into the lock file.
pub(crate) fn holder_line() -> String {
    let command: Vec<String> = std::env::args().collect();
    format!(
        "pid {} on {} ({}) since {}",
        std::process::id(),
        crate::host_name(),
        command.join(" "),
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    )
}

impl WriterLock {
    /// Takes the lock of database `db`, or names who holds it.
    pub(crate) fn acquire(db: &Path) -> Result<WriterLock> {
        let path = lock_path(db);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process (it has not written its name yet)".to_owned(),
                    h => h.to_owned(),
                };
                return Err(StoreError::Locked {
                    path: db.to_owned(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(holder_line().as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        Ok(WriterLock { _file: file })
    }
}
