//! The command and options a batch was started with (`bykilt_command.json`
//! beside its manifest), so `resume` and `retry` run the same thing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use batch_engine::{ExecuteOptions, batch_dir, list_batches};
use serde::{Deserialize, Serialize};

use crate::cli::ExecOverrides;
use crate::error::CliError;

/// The command and options a batch was started with, kept beside its
/// manifest so `resume` and `retry` run the same thing.
pub(crate) const SAVED_FILE: &str = "bykilt_command.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SavedCommand {
    pub(crate) exec: String,
    pub(crate) concurrency: usize,
    pub(crate) retries: u32,
    pub(crate) retry_delay_secs: f64,
    pub(crate) max_retry_delay_secs: f64,
    pub(crate) timeout_secs: Option<f64>,
    pub(crate) log_limit: u64,
    /// The database named with `--db` / `BYKILT_METRICS_DB` (absolute), so
    /// a resume without one records into the same file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) db: Option<PathBuf>,
    /// `--kill-grace` of this invocation (not saved).
    #[serde(skip)]
    pub(crate) kill_grace: Option<Duration>,
    /// `--show-output` of this invocation (not saved).
    #[serde(skip)]
    pub(crate) show_output: bool,
}

impl SavedCommand {
    pub(crate) fn options(&self) -> Result<ExecuteOptions, CliError> {
        let secs = |name: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .map_err(|_| CliError::Usage(format!("{SAVED_FILE}: {name} = {v} is not a duration")))
        };
        Ok(ExecuteOptions {
            concurrency: self.concurrency,
            max_retries: self.retries,
            retry_delay: secs("retry_delay_secs", self.retry_delay_secs)?,
            max_retry_delay: secs("max_retry_delay_secs", self.max_retry_delay_secs)?,
            job_timeout: self.timeout_secs.map(|t| secs("timeout_secs", t)).transpose()?,
            orphan_grace: self.kill_grace.unwrap_or(ExecuteOptions::default().orphan_grace),
        })
    }

    pub(crate) fn apply(&mut self, o: &ExecOverrides) {
        if let Some(e) = &o.exec {
            self.exec.clone_from(e);
        }
        if let Some(c) = o.concurrency {
            self.concurrency = usize::from(c);
        }
        if let Some(r) = o.retries {
            self.retries = r;
        }
        self.kill_grace = Some(o.kill_grace);
        self.show_output = o.show_output;
        if let Some(t) = o.timeout {
            self.timeout_secs = Some(t.as_secs_f64());
        }
    }

    /// The saved command of the batch in `dir`; for a batch created
    /// through the library (no saved command), the defaults of `batch run`
    /// with `overrides.exec`, or an error saying to pass `--exec`.
    pub(crate) fn load(
        dir: &Path,
        batch_id: &str,
        overrides: &ExecOverrides,
        root: &Path,
    ) -> Result<SavedCommand, CliError> {
        let path = dir.join(SAVED_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(exec) = &overrides.exec else {
                    let with_command: Vec<String> = list_batches(root)?
                        .into_iter()
                        .filter(|b| batch_dir(root, &b.batch_id).is_ok_and(|d| d.join(SAVED_FILE).exists()))
                        .map(|b| b.batch_id)
                        .collect();
                    return Err(CliError::Usage(format!(
                        "batch {batch_id} was created through the library, not by `bykilt batch run`, so no \
                         command was saved for it ({} does not exist); pass --exec COMMAND to run its rows with \
                         a shell command. Batches that resume without --exec: {}",
                        path.display(),
                        if with_command.is_empty() {
                            "none".to_owned()
                        } else {
                            with_command.join(", ")
                        }
                    )));
                };
                let defaults = ExecuteOptions::default();
                return Ok(SavedCommand {
                    exec: exec.clone(),
                    concurrency: defaults.concurrency,
                    retries: defaults.max_retries,
                    retry_delay_secs: defaults.retry_delay.as_secs_f64(),
                    max_retry_delay_secs: defaults.max_retry_delay.as_secs_f64(),
                    timeout_secs: None,
                    log_limit: batch_engine::DEFAULT_LOG_LIMIT,
                    db: None,
                    kill_grace: None,
                    show_output: false,
                });
            }
            Err(e) => return Err(CliError::io("reading", &path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<(), CliError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| CliError::Usage(e.to_string()))?;
        let path = dir.join(SAVED_FILE);
        batch_engine::write_atomic(&path, &bytes).map_err(|e| CliError::io("writing", &path, e))?;
        Ok(())
    }
}
