//! The CLI's errors. Every one maps to exit code 2.

use std::path::PathBuf;

/// What can stop a command before it produces a result.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From the batch engine (bad CSV, unknown batch, ...).
    #[error(transparent)]
    Batch(#[from] batch_engine::BatchError),
    /// From the metrics store (bad export file, ...).
    #[error(transparent)]
    Metrics(#[from] metrics_core::MetricsError),
    /// From the metrics database (a foreign or damaged --db file, ...).
    #[error(transparent)]
    Store(#[from] metrics_store::StoreError),
    /// The HTTP server could not start (address in use, ...).
    #[error(transparent)]
    Serve(#[from] metrics_api::ServerError),
    /// A Pushgateway URL that cannot be used.
    #[error(transparent)]
    Push(#[from] metrics_api::PushError),
    /// A bad combination of arguments or a missing thing, explained.
    #[error("{0}")]
    Usage(String),
    /// A file the CLI reads or writes itself.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl CliError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CliError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
