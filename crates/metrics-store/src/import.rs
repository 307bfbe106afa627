//! Loading a run's `metrics.json` (the JSON export) into the store.

use std::collections::HashMap;

use metrics_core::{SeriesSnapshot, Snapshot, TagSet, validate_name};

use crate::db::to_nanos;
use crate::error::{Result, StoreError};
use crate::writer::{MetricsStore, RunId};

/// What [`MetricsStore::import_json`] loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// Series in the file.
    pub series: usize,
    /// Samples stored.
    pub samples: usize,
    /// Tag-set aggregates stored (as one snapshot).
    pub aggregates: usize,
    /// The oldest sample's time (ns since the epoch); `None` without samples.
    pub first_sample: Option<i64>,
    /// The newest sample's time (ns since the epoch); `None` without samples.
    pub last_sample: Option<i64>,
}

impl MetricsStore {
    /// Loads a JSON export (a run's `metrics.json`) into `run`: its samples
    /// with their timestamps and tags, and its aggregates as one snapshot
    /// taken at the newest sample's time. All or nothing: one transaction.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] naming `source` for malformed JSON, a bad
    /// series name or a non-finite value; nothing is stored then.
    pub fn import_json(&self, run: RunId, json: &str, source: &str) -> Result<Imported> {
        let export = metrics_core::export::json::decode(json)
            .map_err(|e| StoreError::Invalid(format!("{source}: not a metrics JSON export: {e}")))?;
        let mut imported = Imported::default();
        let mut newest = i64::MIN;
        let mut oldest = i64::MAX;
        let mut snapshot = Snapshot {
            taken_at: time::OffsetDateTime::UNIX_EPOCH,
            series: Vec::new(),
        };
        let mut db = self.db();
        db.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::sqlite(&db.path))?;
        let result = (|| -> Result<()> {
            for (name, series) in &export {
                validate_name(name).map_err(|e| StoreError::Invalid(format!("{source}: {e}")))?;
                imported.series += 1;
                let series_id = db
                    .series_id(name, series.metric_type, series.description.as_deref())
                    .map_err(StoreError::sqlite(&db.path))?;
                let mut groups: HashMap<&TagSet, Vec<(i64, f64)>> = HashMap::new();
                for v in &series.values {
                    if !v.value.is_finite() {
                        return Err(StoreError::Invalid(format!(
                            "{source}: series {name:?} has a non-finite value {}",
                            v.value
                        )));
                    }
                    let ts = to_nanos(v.timestamp);
                    newest = newest.max(ts);
                    oldest = oldest.min(ts);
                    groups.entry(&v.tags).or_default().push((ts, v.value));
                }
                for (tags, mut samples) in groups {
                    let tag_set_id = db.tag_set_id(tags).map_err(StoreError::sqlite(&db.path))?;
                    imported.samples += samples.len();
                    db.insert_samples(series_id, tag_set_id, run.0, &mut samples)
                        .map_err(StoreError::sqlite(&db.path))?;
                }
                imported.aggregates += series.aggregates.len();
                snapshot.series.push(SeriesSnapshot {
                    name: name.to_string(),
                    metric_type: series.metric_type,
                    description: series.description.as_deref().map(str::to_owned),
                    unit: series.unit.as_deref().map(str::to_owned),
                    samples: Vec::new(),
                    aggregates: series.aggregates.to_vec(),
                    dropped_samples: series.dropped_samples,
                    expired_samples: series.expired_samples,
                    overflow_updates: series.overflow_updates,
                    rejected_values: series.rejected_values,
                    saturated_updates: series.saturated_updates,
                });
            }
            if imported.aggregates > 0 {
                snapshot.taken_at = if newest == i64::MIN {
                    time::OffsetDateTime::now_utc()
                } else {
                    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(newest))
                        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
                };
                db.insert_snapshot(run.0, &snapshot)
                    .map_err(StoreError::sqlite(&db.path))?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                db.conn.execute_batch("COMMIT").map_err(StoreError::sqlite(&db.path))?;
                if newest != i64::MIN {
                    imported.first_sample = Some(oldest);
                    imported.last_sample = Some(newest);
                }
                Ok(imported)
            }
            Err(e) => {
                let _ = db.conn.execute_batch("ROLLBACK");
                db.forget_ids();
                Err(e)
            }
        }
    }
}
