//! Errors of configuring a sender and of its position storage. Failures
//! of individual sends are not errors: they are counted in
//! [`SendStats`](crate::SendStats) and reported as
//! [`SendEvent`](crate::SendEvent)s, and never stop a batch run.

use std::path::{Path, PathBuf};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The receiver URL is not usable.
    #[error("bad receiver URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// A header given as `Name: value` is malformed.
    #[error("bad header {header:?}: {reason} (expected 'Name: value')")]
    Header {
        /// The header as given.
        header: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration value is out of range.
    #[error("bad {what}: {reason}")]
    Config {
        /// Which setting.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A position file exists but cannot be used.
    #[error("send position {}: {reason} (delete it to send everything again)", path.display())]
    Position {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The sender thread could not be started.
    #[error("starting the sender thread: {0}")]
    Thread(std::io::Error),
}

impl RemoteError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        RemoteError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
