//! Alert states kept in the metrics database's state table, so that a
//! restarted evaluator neither fires a firing alert again nor forgets it.

use std::path::{Path, PathBuf};

use metrics_alerts::{Alert, AlertStateStore, StoreError};
use metrics_store::{MetricsStore, StateHandle, StoreOptions, StoreReader};

/// The state table's namespace for alerting.
pub(crate) const NAMESPACE: &str = "alerts";
/// The one key: every alert is saved at once, so a save is one atomic row
/// update and a crash mid-save leaves the previous states whole.
pub(crate) const KEY: &str = "states";

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    version: u32,
    alerts: Vec<Alert>,
}

/// How the database is reached.
#[derive(Debug)]
enum Access {
    /// Through a writer this process already holds (a batch's recording).
    Held(StateHandle),
    /// By path: read with a reader, written by opening the writer for the
    /// moment of the save, so a long-running `serve` does not keep other
    /// batches from writing the database.
    Path(PathBuf),
}

/// [`AlertStateStore`] over the metrics database.
#[derive(Debug)]
pub(crate) struct DbAlertStore {
    access: Access,
    path: PathBuf,
}

impl DbAlertStore {
    /// Saves through `handle`, the writer of the database at `path`.
    pub(crate) fn held(handle: StateHandle, path: PathBuf) -> Self {
        DbAlertStore {
            access: Access::Held(handle),
            path,
        }
    }

    /// Opens the database at `path` for each load and save.
    pub(crate) fn at(path: PathBuf) -> Self {
        DbAlertStore {
            access: Access::Path(path.clone()),
            path,
        }
    }

    fn backend(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend(format!("metrics database {}: {e}", self.path.display()))
    }

    fn decode(&self, bytes: Option<Vec<u8>>) -> Result<Vec<Alert>, StoreError> {
        let Some(bytes) = bytes else { return Ok(Vec::new()) };
        let saved: Saved = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            message: format!("state {NAMESPACE}/{KEY}: {e}"),
        })?;
        Ok(saved.alerts)
    }
}

/// The alerts saved in the database at `path`; none when it does not exist.
pub(crate) fn read_states(path: &Path) -> Result<Vec<Alert>, StoreError> {
    DbAlertStore::at(path.to_path_buf()).load()
}

/// Whether the database at `path` exists and holds alert states.
pub(crate) fn has_states(path: &Path) -> Result<bool, StoreError> {
    if !path.exists() {
        return Ok(false);
    }
    StoreReader::open(path)
        .and_then(|r| r.get_state(NAMESPACE, KEY))
        .map(|v| v.is_some())
        .map_err(|e| StoreError::Backend(format!("metrics database {}: {e}", path.display())))
}

impl AlertStateStore for DbAlertStore {
    fn load(&mut self) -> Result<Vec<Alert>, StoreError> {
        let bytes = match &self.access {
            Access::Held(h) => h.get_state(NAMESPACE, KEY).map_err(|e| self.backend(e))?,
            Access::Path(p) if !p.exists() => None,
            Access::Path(p) => StoreReader::open(p)
                .and_then(|r| r.get_state(NAMESPACE, KEY))
                .map_err(|e| self.backend(e))?,
        };
        self.decode(bytes)
    }

    fn save(&mut self, alerts: &[Alert]) -> Result<(), StoreError> {
        let body = serde_json::to_vec(&Saved {
            version: 1,
            alerts: alerts.to_vec(),
        })
        .map_err(|e| self.backend(e))?;
        match &self.access {
            Access::Held(h) => h.put_state(NAMESPACE, KEY, &body),
            Access::Path(p) => {
                MetricsStore::open(p, StoreOptions::default()).and_then(|s| s.put_state(NAMESPACE, KEY, &body))
            }
        }
        .map_err(|e| self.backend(e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use metrics_alerts::AlertStatus;

    use super::*;

    fn firing(rule: &str) -> Alert {
        let at = time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(100);
        Alert {
            rule: rule.into(),
            labels: BTreeMap::from([("alertname".to_owned(), rule.to_owned())]),
            annotations: BTreeMap::new(),
            value: 4.0,
            status: AlertStatus::Firing,
            since: at,
            active_at: Some(at),
            fired_at: Some(at),
            resolved_at: None,
            metric: "m".into(),
        }
    }

    #[test]
    fn saved_through_the_writer_read_by_path_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.db");
        assert!(read_states(&path).unwrap().is_empty(), "no database: no states");
        let store = MetricsStore::open(&path, StoreOptions::default()).unwrap();
        let mut held = DbAlertStore::held(store.state_handle(), path.clone());
        held.save(&[firing("A"), firing("B")]).unwrap();
        assert_eq!(read_states(&path).unwrap(), [firing("A"), firing("B")]);
        held.save(&[firing("B")]).unwrap();
        assert_eq!(held.load().unwrap(), [firing("B")]);
        drop(held);
        drop(store);
        // Without a writer held, a save opens one for the moment.
        let mut by_path = DbAlertStore::at(path.clone());
        by_path.save(&[]).unwrap();
        assert!(read_states(&path).unwrap().is_empty());
        assert!(has_states(&path).unwrap());
    }

    #[test]
    fn a_corrupt_state_row_is_an_error_naming_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.db");
        MetricsStore::open(&path, StoreOptions::default())
            .unwrap()
            .put_state(NAMESPACE, KEY, b"{not json")
            .unwrap();
        let e = read_states(&path).unwrap_err().to_string();
        assert!(e.contains("metrics.db") && e.contains("alerts/states"), "{e}");
    }
}
