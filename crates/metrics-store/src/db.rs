//! `WriteDb`: the writer's connection and the row-level writes every
//! writing path shares (flushes, snapshots, imports, state, retention).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use metrics_core::{MetricType, Snapshot, TagSet};
use rusqlite::{Connection, params};

use crate::chunk::{self, MAX_CHUNK_SAMPLES};
use crate::error::StoreError;
use crate::schema::id_for;

/// The writer's connection, with the ids it has already looked up.
#[derive(Debug)]
pub(crate) struct WriteDb {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    series_ids: HashMap<String, i64>,
    tag_set_ids: HashMap<String, i64>,
    blob: Vec<u8>,
}

/// What a tag set looks like in `tag_sets.tags`: a JSON object, keys
/// sorted (so `json_extract(tags, '$.status')` works in `sqlite3`).
pub(crate) fn tags_text(tags: &TagSet) -> String {
    let map: serde_json::Map<String, serde_json::Value> = tags
        .iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// The unit a series' name or type implies (Prometheus' suffix rules).
fn unit_of(name: &str, ty: MetricType) -> Option<&'static str> {
    let base = name.strip_suffix("_total").unwrap_or(name);
    for (suffix, unit) in [
        ("_seconds", "seconds"),
        ("_bytes", "bytes"),
        ("_ratio", "ratio"),
        ("_percent", "percent"),
    ] {
        if base.ends_with(suffix) {
            return Some(unit);
        }
    }
    (ty == MetricType::Timer).then_some("seconds")
}

/// Summary columns of one chunk.
struct ChunkStats {
    sum: f64,
    min: f64,
    max: f64,
}

fn stats(samples: &[(i64, f64)]) -> ChunkStats {
    samples.iter().fold(
        ChunkStats {
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        },
        |s, &(_, v)| ChunkStats {
            sum: s.sum + v,
            min: s.min.min(v),
            max: s.max.max(v),
        },
    )
}

impl WriteDb {
    pub(crate) fn new(conn: Connection, path: &Path) -> WriteDb {
        WriteDb {
            conn,
            path: path.to_owned(),
            series_ids: HashMap::new(),
            tag_set_ids: HashMap::new(),
            blob: Vec::new(),
        }
    }

    pub(crate) fn err(&self) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        StoreError::sqlite(&self.path)
    }

    /// Forgets cached ids (after a rolled-back transaction that may have
    /// inserted them).
    pub(crate) fn forget_ids(&mut self) {
        self.series_ids.clear();
        self.tag_set_ids.clear();
    }

    /// The id of series `name`, creating or updating its row.
    pub(crate) fn series_id(&mut self, name: &str, ty: MetricType, description: Option<&str>) -> rusqlite::Result<i64> {
        if let Some(&id) = self.series_ids.get(name) {
            return Ok(id);
        }
        self.conn.execute(
            "INSERT INTO series (name, type, description, unit) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET type = excluded.type,
                 description = coalesce(excluded.description, series.description)",
            params![name, ty.as_str(), description, unit_of(name, ty)],
        )?;
        let id = self
            .conn
            .query_row("SELECT series_id FROM series WHERE name = ?1", [name], |r| r.get(0))?;
        self.series_ids.insert(name.to_owned(), id);
        Ok(id)
    }

    /// The id of tag set `tags`, creating its row.
    pub(crate) fn tag_set_id(&mut self, tags: &TagSet) -> rusqlite::Result<i64> {
        let text = tags_text(tags);
        if let Some(&id) = self.tag_set_ids.get(&text) {
            return Ok(id);
        }
        let id = id_for(
            &self.conn,
            "SELECT tag_set_id FROM tag_sets WHERE tags = ?1",
            "INSERT INTO tag_sets (tags) VALUES (?1)",
            &text,
        )?;
        self.tag_set_ids.insert(text, id);
        Ok(id)
    }

    /// Writes `samples` (sorted here by time) of one (series, tag set,
    /// run) as chunks of at most [`MAX_CHUNK_SAMPLES`].
    pub(crate) fn insert_samples(
        &mut self,
        series_id: i64,
        tag_set_id: i64,
        run_id: i64,
        samples: &mut [(i64, f64)],
    ) -> rusqlite::Result<()> {
        samples.sort_by_key(|s| s.0);
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO chunks (series_id, tag_set_id, run_id, first_ts, last_ts, count, sum, min, max, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for part in samples.chunks(MAX_CHUNK_SAMPLES) {
            let (Some(first), Some(last)) = (part.first(), part.last()) else {
                continue;
            };
            self.blob.clear();
            chunk::encode(part, &mut self.blob);
            let s = stats(part);
            stmt.execute(params![
                series_id,
                tag_set_id,
                run_id,
                first.0,
                last.0,
                part.len() as i64,
                s.sum,
                s.min,
                s.max,
                &self.blob
            ])?;
        }
        Ok(())
    }

    /// Writes every aggregate of `snapshot` as one snapshot of `run_id`.
    pub(crate) fn insert_snapshot(&mut self, run_id: i64, snapshot: &Snapshot) -> rusqlite::Result<i64> {
        self.conn.execute(
            "INSERT INTO snapshots (run_id, taken_at) VALUES (?1, ?2)",
            params![run_id, to_nanos(snapshot.taken_at)],
        )?;
        let snapshot_id = self.conn.last_insert_rowid();
        for series in &snapshot.series {
            if series.aggregates.is_empty() {
                continue;
            }
            let series_id = self.series_id(&series.name, series.metric_type, series.description.as_deref())?;
            for agg in &series.aggregates {
                let tag_set_id = self.tag_set_id(&agg.tags)?;
                let value =
                    serde_json::to_string(&agg.value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
                self.conn
                    .prepare_cached(
                        "INSERT OR REPLACE INTO aggregates (snapshot_id, series_id, tag_set_id, value) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![snapshot_id, series_id, tag_set_id, value])?;
            }
        }
        Ok(snapshot_id)
    }

    /// Deletes at most `batch` chunks and snapshots older than `cutoff`;
    /// returns how many rows went.
    pub(crate) fn delete_older_than(&mut self, cutoff: i64, batch: usize) -> rusqlite::Result<usize> {
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        let tx = self.conn.transaction()?;
        let chunks = tx.execute(
            "DELETE FROM chunks WHERE chunk_id IN (SELECT chunk_id FROM chunks WHERE last_ts < ?1 LIMIT ?2)",
            params![cutoff, batch],
        )?;
        let old: Vec<i64> = {
            let mut stmt = tx.prepare("SELECT snapshot_id FROM snapshots WHERE taken_at < ?1 LIMIT ?2")?;
            stmt.query_map(params![cutoff, batch], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        for id in &old {
            tx.execute("DELETE FROM aggregates WHERE snapshot_id = ?1", [id])?;
            tx.execute("DELETE FROM snapshots WHERE snapshot_id = ?1", [id])?;
        }
        // A run that ended before the cutoff and has nothing left goes too.
        let runs = tx.execute(
            "DELETE FROM runs WHERE ended_at IS NOT NULL AND ended_at < ?1
               AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.run_id = runs.run_id)
               AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.run_id = runs.run_id)",
            [cutoff],
        )?;
        tx.commit()?;
        Ok(chunks + old.len() + runs)
    }

    /// Returns at most `pages` free pages to the file system.
    pub(crate) fn incremental_vacuum(&self, pages: u32) -> rusqlite::Result<()> {
        self.conn.execute_batch(&format!("PRAGMA incremental_vacuum({pages});"))
    }

    /// Sets `namespace`/`key` to `value`.
    pub(crate) fn put_state(&self, namespace: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO state (namespace, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?
            .execute(params![
                namespace,
                key,
                value,
                to_nanos(time::OffsetDateTime::now_utc())
            ])?;
        Ok(())
    }

    /// Removes `namespace`/`key`; whether it existed.
    pub(crate) fn delete_state(&self, namespace: &str, key: &str) -> rusqlite::Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM state WHERE namespace = ?1 AND key = ?2",
            params![namespace, key],
        )? > 0)
    }
}

/// Nanoseconds since the epoch, saturating outside i64's ±292 years.
pub(crate) fn to_nanos(at: time::OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos()).unwrap_or(if at.year() < 1970 { i64::MIN } else { i64::MAX })
}
