//! Where a sender stands: the timestamp of the last acknowledged sample of
//! each series, so that a restarted sender sends only what the receiver has
//! not acknowledged.
//!
//! The sender saves after every batch the receiver acknowledged (or
//! rejected for good), before it sends the next one. A crash can therefore
//! lose at most the save of the one batch in flight, and a restarted sender
//! re-sends at most that batch. Remote-write engines keep identical samples
//! once (Prometheus and VictoriaMetrics both do).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::RemoteError;

/// The last acknowledged timestamp of each series, keyed by the series'
/// identity (`name{label="value",…}` for remote write, the metric name and
/// tags for OTLP). Timestamps are in the protocol's unit: milliseconds for
/// remote write, nanoseconds for OTLP.
pub type Positions = HashMap<String, i64>;

/// Storage for a sender's [`Positions`].
///
/// `save` receives only the series a batch changed; an implementation merges
/// them into what it holds (a series' timestamp never moves backwards).
///
/// Before posting a batch the sender records it with
/// [`save_in_flight`](Self::save_in_flight), and `save` clears that record.
/// A sender restarted after a crash re-sends exactly the in-flight batch's
/// samples on their own first, so the one request the receiver may already
/// hold is never mixed with new samples (Prometheus answers a request with
/// any sample it already has with 400 and keeps nothing of it).
pub trait SendPosition: Send {
    /// Every saved position (empty when nothing was saved yet).
    ///
    /// # Errors
    /// When the storage cannot be read or is corrupt.
    fn load(&mut self) -> Result<Positions, RemoteError>;

    /// Records `updates` durably before returning.
    ///
    /// # Errors
    /// When the storage cannot be written.
    fn save(&mut self, updates: &Positions) -> Result<(), RemoteError>;

    /// Records, durably, the positions the batch about to be posted would
    /// move to. The default keeps nothing: a restarted sender then starts
    /// from the last `save` and its first request may mix the re-sent
    /// samples with new ones.
    ///
    /// # Errors
    /// When the storage cannot be written.
    fn save_in_flight(&mut self, updates: &Positions) -> Result<(), RemoteError> {
        let _ = updates;
        Ok(())
    }

    /// The in-flight record left by a `save_in_flight` that no `save`
    /// followed (the sender stopped while that batch was being posted).
    ///
    /// # Errors
    /// When the storage cannot be read.
    fn load_in_flight(&mut self) -> Result<Option<Positions>, RemoteError> {
        Ok(None)
    }
}

/// Positions kept in memory only: a sender restarted in another process
/// starts from scratch. What a single process (or a test) needs.
#[derive(Debug, Default, Clone)]
pub struct MemoryPosition {
    positions: Positions,
    in_flight: Option<Positions>,
}

impl MemoryPosition {
    /// An empty position.
    pub fn new() -> Self {
        Self::default()
    }

    /// What has been saved so far.
    pub fn positions(&self) -> &Positions {
        &self.positions
    }
}

fn merge(into: &mut Positions, updates: &Positions) {
    for (k, &ts) in updates {
        let e = into.entry(k.clone()).or_insert(ts);
        *e = (*e).max(ts);
    }
}

impl SendPosition for MemoryPosition {
    fn load(&mut self) -> Result<Positions, RemoteError> {
        Ok(self.positions.clone())
    }

    fn save(&mut self, updates: &Positions) -> Result<(), RemoteError> {
        merge(&mut self.positions, updates);
        self.in_flight = None;
        Ok(())
    }

    fn save_in_flight(&mut self, updates: &Positions) -> Result<(), RemoteError> {
        self.in_flight = Some(updates.clone());
        Ok(())
    }

    fn load_in_flight(&mut self) -> Result<Option<Positions>, RemoteError> {
        Ok(self.in_flight.clone())
    }
}

/// Positions in one JSON file, rewritten atomically (write to a temporary
/// file, then rename) on every save. `target` names the receiver: a file
/// saved for another target is ignored, so pointing a run at a new engine
/// sends it everything.
///
/// Each save rewrites every series, so it suits up to some tens of thousands
/// of series; the durable store keeps positions incrementally.
#[derive(Debug, Clone)]
pub struct FilePosition {
    path: PathBuf,
    target: String,
    positions: Positions,
    in_flight: Option<Positions>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PositionFile {
    target: String,
    positions: Positions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    in_flight: Option<Positions>,
}

impl FilePosition {
    /// Positions for `target` (the receiver's URL) stored at `path`.
    pub fn new(path: impl Into<PathBuf>, target: impl Into<String>) -> Self {
        FilePosition {
            path: path.into(),
            target: target.into(),
            positions: Positions::new(),
            in_flight: None,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl SendPosition for FilePosition {
    fn load(&mut self) -> Result<Positions, RemoteError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Positions::new()),
            Err(e) => return Err(RemoteError::io("reading", &self.path, e)),
        };
        let file: PositionFile = serde_json::from_slice(&bytes).map_err(|e| RemoteError::Position {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        (self.positions, self.in_flight) = if file.target == self.target {
            (file.positions, file.in_flight)
        } else {
            (Positions::new(), None)
        };
        Ok(self.positions.clone())
    }

    fn save(&mut self, updates: &Positions) -> Result<(), RemoteError> {
        merge(&mut self.positions, updates);
        self.in_flight = None;
        self.write()
    }

    fn save_in_flight(&mut self, updates: &Positions) -> Result<(), RemoteError> {
        self.in_flight = Some(updates.clone());
        self.write()
    }

    fn load_in_flight(&mut self) -> Result<Option<Positions>, RemoteError> {
        Ok(self.in_flight.clone())
    }
}

impl FilePosition {
    fn write(&self) -> Result<(), RemoteError> {
        let file = PositionFile {
            target: self.target.clone(),
            positions: self.positions.clone(),
            in_flight: self.in_flight.clone(),
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| RemoteError::Position {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        if let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| RemoteError::io("creating directory", dir, e))?;
        }
        write_replacing(&self.path, &bytes).map_err(|e| RemoteError::io("writing", &self.path, e))
    }
}

/// Replaces `path` with `bytes` so a crash leaves the old or the new file,
/// never a torn one: an exclusively created temp file beside it (no link is
/// followed), synced, renamed over it, then the directory synced.
fn write_replacing(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => dir,
        None => std::path::Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_position_survives_a_reopen_and_never_moves_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("pos.json");
        let mut p = FilePosition::new(&path, "http://a");
        assert!(p.load().unwrap().is_empty());
        p.save(&Positions::from([("x".into(), 5), ("y".into(), 7)])).unwrap();
        p.save(&Positions::from([("x".into(), 3)])).unwrap();
        let mut again = FilePosition::new(&path, "http://a");
        assert_eq!(
            again.load().unwrap(),
            Positions::from([("x".into(), 5), ("y".into(), 7)])
        );
        let mut other = FilePosition::new(&path, "http://b");
        assert!(other.load().unwrap().is_empty());
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pos.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = FilePosition::new(&path, "t").load().unwrap_err().to_string();
        assert!(err.contains("pos.json"), "{err}");
    }
}
