//! `StoreReader::tag_set_index`: every tag set of every series with its
//! sample count and newest sample, for a dashboard's series list.

use rusqlite::params;
use serde::Serialize;

use super::{ChunkRow, StoreReader, StoredTags};
use crate::error::Result;

/// One tag set of one series in the store, over the runs asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredTagSet {
    /// The series name.
    pub series: String,
    /// The tag set.
    pub tags: StoredTags,
    /// Samples stored for it.
    pub samples: u64,
    /// Its newest sample: (ns since the epoch, value).
    pub last: Option<(i64, f64)>,
}

impl StoreReader {
    /// Every (series, tag set) with samples in the runs `runs` names, by
    /// series name, with its sample count and newest sample. One grouped
    /// scan of the chunk index plus one chunk decoded per tag set, so it
    /// stays cheap while a writer appends.
    ///
    /// # Errors
    /// A run that does not exist, a damaged chunk, or an SQLite error.
    pub fn tag_set_index(&self, runs: &super::RunFilter) -> Result<Vec<StoredTagSet>> {
        let run = self.resolve_run(runs)?;
        let sets = self.tag_sets()?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.name, c.series_id, c.tag_set_id, sum(c.count), max(c.last_ts)
                 FROM chunks c JOIN series s USING (series_id)
                 WHERE (?1 IS NULL OR c.run_id = ?1)
                 GROUP BY c.series_id, c.tag_set_id ORDER BY s.name, c.tag_set_id",
            )
            .map_err(self.err())?;
        let groups: Vec<(String, i64, i64, i64, i64)> = stmt
            .query_map(params![run], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        let mut newest = self
            .conn
            .prepare(
                "SELECT chunk_id, run_id, first_ts, count, data FROM chunks
                 WHERE series_id = ?1 AND tag_set_id = ?2 AND last_ts = ?3 AND (?4 IS NULL OR run_id = ?4)
                 ORDER BY chunk_id DESC LIMIT 1",
            )
            .map_err(self.err())?;
        let mut out = Vec::with_capacity(groups.len());
        let mut buf = Vec::new();
        for (series, series_id, tag_set, samples, last_ts) in groups {
            let row = newest
                .query_row(params![series_id, tag_set, last_ts, run], |r| {
                    Ok(ChunkRow {
                        id: r.get(0)?,
                        tag_set,
                        run: r.get(1)?,
                        first_ts: r.get(2)?,
                        last_ts,
                        count: r.get(3)?,
                        data: r.get(4)?,
                    })
                })
                .map_err(self.err())?;
            self.decode(&row, &mut buf)?;
            out.push(StoredTagSet {
                series,
                tags: sets.get(&tag_set).cloned().unwrap_or_default(),
                samples: u64::try_from(samples).unwrap_or(0),
                last: buf.iter().copied().max_by_key(|s| s.0),
            });
        }
        Ok(out)
    }

    /// Every (series, tag set) that the aggregate snapshots of the runs
    /// `runs` names hold, by series name: aggregate-only series (a counter
    /// total, a gauge without retained samples) have no samples but are
    /// known all the same.
    ///
    /// # Errors
    /// A run that does not exist, or an SQLite error.
    pub fn aggregate_tag_sets(&self, runs: &super::RunFilter) -> Result<Vec<(String, StoredTags)>> {
        let run = self.resolve_run(runs)?;
        let sets = self.tag_sets()?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT s.name, a.tag_set_id FROM aggregates a
                 JOIN snapshots sn USING (snapshot_id) JOIN series s USING (series_id)
                 WHERE (?1 IS NULL OR sn.run_id = ?1) ORDER BY s.name, a.tag_set_id",
            )
            .map_err(self.err())?;
        stmt.query_map(params![run], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(self.err())?
            .map(|row| {
                let (name, tag_set) = row.map_err(self.err())?;
                Ok((name, sets.get(&tag_set).cloned().unwrap_or_default()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use metrics_core::{MetricType, MetricsCollector};

    use crate::{MetricsStore, RunFilter, RunInfo, StoreOptions, StoreReader};

    fn record(path: &std::path::Path, run: &str, samples: &[(f64, &str)]) {
        let c = Arc::new(MetricsCollector::default());
        let store = MetricsStore::open(path, StoreOptions::default()).unwrap();
        let id = store.begin_run(&RunInfo::current(run)).unwrap();
        let rec = store.record(Arc::clone(&c), id).unwrap();
        for &(v, status) in samples {
            c.record_metric("job_seconds", v, &[("status", status)], MetricType::Timer)
                .unwrap();
        }
        rec.finish().unwrap();
    }

    #[test]
    fn every_tag_set_with_its_count_and_newest_sample_per_run_or_all() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        record(&db, "a", &[(1.0, "ok"), (2.0, "failed"), (3.0, "ok")]);
        record(&db, "b", &[(4.0, "ok")]);
        let r = StoreReader::open(&db).unwrap();
        let of = |runs: &RunFilter| -> Vec<(String, u64, f64)> {
            r.tag_set_index(runs)
                .unwrap()
                .into_iter()
                .filter(|t| t.series == "job_seconds")
                .map(|t| (t.tags["status"].clone(), t.samples, t.last.unwrap().1))
                .collect()
        };
        let mut all = of(&RunFilter::All);
        all.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(all, vec![("failed".into(), 1, 2.0), ("ok".into(), 3, 4.0)]);
        let mut a = of(&RunFilter::Named("a".into()));
        a.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(a, vec![("failed".into(), 1, 2.0), ("ok".into(), 2, 3.0)]);
        assert!(r.tag_set_index(&RunFilter::Named("zzz".into())).is_err());
    }
}
