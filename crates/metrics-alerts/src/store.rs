//! Where alert states survive a restart, so that a firing alert is neither
//! forgotten nor fired again.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::state::Alert;

/// A failed load or save.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing failed.
    #[error("alert state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a state file.
    #[error("alert state file {path} is not valid JSON alert state: {message} (move it away to start afresh)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A backend-specific failure.
    #[error("alert state store: {0}")]
    Backend(String),
}

/// Persists the alerts that are pending, firing or recently resolved.
///
/// The evaluator calls [`load`](Self::load) once when it starts and
/// [`save`](Self::save) after every evaluation that changed something or
/// holds any alert, with every alert it holds (a save replaces what was
/// stored).
pub trait AlertStateStore: Send {
    /// The alerts saved last; empty when nothing was saved yet.
    ///
    /// # Errors
    /// When the stored state cannot be read.
    fn load(&mut self) -> Result<Vec<Alert>, StoreError>;

    /// Replaces the stored alerts with `alerts`.
    ///
    /// # Errors
    /// When they cannot be written; what was stored before stays intact.
    fn save(&mut self, alerts: &[Alert]) -> Result<(), StoreError>;
}

/// Alert states in one JSON file, replaced atomically (written to a
/// temporary file in the same directory, then renamed over it).
#[derive(Debug, Clone)]
pub struct JsonFileStore {
    path: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StateFile {
    version: u32,
    alerts: Vec<Alert>,
}

impl JsonFileStore {
    /// A store at `path` (created, with its directory, on the first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonFileStore { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl AlertStateStore for JsonFileStore {
    fn load(&mut self) -> Result<Vec<Alert>, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let file: StateFile = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        Ok(file.alerts)
    }

    fn save(&mut self, alerts: &[Alert]) -> Result<(), StoreError> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let body = serde_json::to_vec_pretty(&StateFile {
            version: 1,
            alerts: alerts.to_vec(),
        })
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        let name = self
            .path
            .file_name()
            .map_or_else(|| "alerts".into(), |n| n.to_string_lossy().into_owned());
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut f = std::fs::File::create(&tmp).map_err(|e| self.io(e))?;
        f.write_all(&body).and_then(|()| f.sync_all()).map_err(|e| self.io(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))
    }
}
