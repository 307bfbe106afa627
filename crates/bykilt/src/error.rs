//! The CLI's errors. Every one maps to exit code 2.

use std::path::PathBuf;

use crate::progress::counted;

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
    /// The message the user sees. Engine errors about a limit or an option
    /// name the engine's field (`max_file_size`, `concurrency`); here they
    /// name the flag that set it instead.
    pub fn user_message(&self) -> String {
        use batch_engine::{BatchError, CsvError};
        match self {
            CliError::Batch(BatchError::Csv(CsvError::TooLarge { path, size, limit })) => format!(
                "{}: file is {}, over the --max-file-size limit of {}; \
                 raise it, e.g. --max-file-size {}",
                path.display(),
                counted(*size, "byte", "bytes"),
                counted(*limit, "byte", "bytes"),
                suggested_size(*size)
            ),
            CliError::Batch(BatchError::Csv(CsvError::OutsideRoot { path, resolved, root })) => format!(
                "{}: resolves to {}, outside the allowed input root {} (--allowed-root)",
                path.display(),
                resolved.display(),
                root.display()
            ),
            CliError::Batch(BatchError::InvalidOption { name, value, reason }) => {
                let flag = match *name {
                    "concurrency" => "--concurrency",
                    "max_retries" => "--retries",
                    "job_timeout" => "--timeout",
                    other => other,
                };
                format!("{flag} {value}: {reason}")
            }
            // Every ServerConfig field is set by the flag of the same name.
            CliError::Serve(metrics_api::ServerError::InvalidConfig { option, value, problem }) => {
                format!("--{} {value}: {problem}", option.replace('_', "-"))
            }
            other => other.to_string(),
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CliError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// A `--max-file-size` value that admits a file of `size` bytes, in the
/// largest unit that keeps it whole-numbered: `1K`, `3M`, `2G`.
fn suggested_size(size: u64) -> String {
    for (unit, scale) in [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)] {
        if size >= scale {
            return format!("{}{unit}", size.div_ceil(scale));
        }
    }
    size.to_string()
}

#[cfg(test)]
mod tests {
    use super::{CliError, suggested_size};

    /// clap checks these ranges first; an engine or server check that
    /// fires anyway still names the flag, not the field.
    #[test]
    fn option_errors_name_the_flag() {
        let e = CliError::Batch(batch_engine::BatchError::InvalidOption {
            name: "max_retries",
            value: "101".into(),
            reason: "must be at most 100",
        });
        assert_eq!(e.user_message(), "--retries 101: must be at most 100");
        let e = CliError::Serve(metrics_api::ServerError::InvalidConfig {
            option: "max_connections",
            value: "0".into(),
            problem: "must be at least 1",
        });
        assert_eq!(e.user_message(), "--max-connections 0: must be at least 1");
    }

    #[test]
    fn suggested_sizes_admit_the_file() {
        assert_eq!(suggested_size(5), "5");
        assert_eq!(suggested_size(1024), "1K");
        assert_eq!(suggested_size(1025), "2K");
        assert_eq!(suggested_size(300 << 20), "300M");
        assert_eq!(suggested_size((2 << 30) + 1), "3G");
    }
}
