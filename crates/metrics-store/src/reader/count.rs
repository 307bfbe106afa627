//! How many samples a query selects, without decoding what need not be:
//! the `matching` of the database server's series route.

use rusqlite::params;

use super::{ChunkRow, SampleQuery, StoreReader, matches};
use crate::error::Result;

impl StoreReader {
    /// How many samples `q` selects (its limit is ignored), as the live
    /// server's `matching`. Chunks wholly inside the time range count by
    /// their stored counts, summed per tag set by SQLite, undecoded; only
    /// the chunks `since`/`until` cut through are read.
    ///
    /// # Errors
    /// As [`query`](Self::query).
    pub fn count(&self, q: &SampleQuery) -> Result<u64> {
        let Some(series_id) = self.series_id(&q.name)? else {
            return Ok(0);
        };
        let run = self.resolve_run(&q.runs)?;
        let sets = self.tag_sets()?;
        let wanted = |id: i64| sets.get(&id).is_some_and(|t| matches(t, &q.tags));
        let (since, until) = (q.since.unwrap_or(i64::MIN), q.until.unwrap_or(i64::MAX));
        let mut count = 0u64;
        let mut whole = self
            .conn
            .prepare_cached(
                "SELECT tag_set_id, sum(count) FROM chunks
                 WHERE series_id = ?1 AND last_ts >= ?2 AND last_ts <= ?3 AND first_ts >= ?2
                   AND (?4 IS NULL OR run_id = ?4)
                 GROUP BY tag_set_id",
            )
            .map_err(self.err())?;
        let mut rows = whole.query(params![series_id, since, until, run]).map_err(self.err())?;
        while let Some(r) = rows.next().map_err(self.err())? {
            if wanted(r.get(0).map_err(self.err())?) {
                count += u64::try_from(r.get::<_, i64>(1).map_err(self.err())?).unwrap_or(0);
            }
        }
        if q.since.is_none() && q.until.is_none() {
            return Ok(count);
        }
        let mut cut = self
            .conn
            .prepare_cached(
                "SELECT chunk_id, tag_set_id, run_id, first_ts, last_ts, count, data FROM chunks
                 WHERE series_id = ?1 AND last_ts >= ?2 AND first_ts <= ?3 AND (first_ts < ?2 OR last_ts > ?3)
                   AND (?4 IS NULL OR run_id = ?4)",
            )
            .map_err(self.err())?;
        let mut rows = cut.query(params![series_id, since, until, run]).map_err(self.err())?;
        let mut buf = Vec::new();
        while let Some(r) = rows.next().map_err(self.err())? {
            let row = ChunkRow::read(r).map_err(self.err())?;
            if wanted(row.tag_set) {
                self.decode(&row, &mut buf)?;
                count += buf.iter().filter(|s| s.0 >= since && s.0 <= until).count() as u64;
            }
        }
        Ok(count)
    }
}
