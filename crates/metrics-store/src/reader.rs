//! `StoreReader`: queries over a store, safe while a writer writes it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};

use metrics_core::{AggregateValue, MetricType, Summary};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::chunk;
use crate::error::{Result, StoreError};
use crate::schema;

mod count;
mod run_replay;
mod runs;
mod tag_set_index;
pub use run_replay::{REPLAYED_SAMPLES_PER_SERIES, StoreGeneration, replay_config};
pub use tag_set_index::StoredTagSet;

/// Tags of a stored sample, by key.
pub type StoredTags = BTreeMap<String, String>;

/// Which runs a query covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RunFilter {
    /// The run that started last.
    #[default]
    Latest,
    /// The run with this name, `batch-<name>`, the store's numeric id, or a
    /// prefix of a name that only one run has (as batch ids are typed).
    Named(String),
    /// Every run.
    All,
}

/// Which samples of one series a query returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleQuery {
    /// The series name.
    pub name: String,
    /// The runs covered.
    pub runs: RunFilter,
    /// Only samples at or after this time (ns since the epoch).
    pub since: Option<i64>,
    /// Only samples at or before this time (ns since the epoch).
    pub until: Option<i64>,
    /// Only samples carrying every one of these tags.
    pub tags: Vec<(String, String)>,
    /// At most this many samples: the newest ones. `None`: all.
    pub limit: Option<usize>,
}

impl SampleQuery {
    /// Every sample of `name` in the latest run.
    pub fn new(name: impl Into<String>) -> SampleQuery {
        SampleQuery {
            name: name.into(),
            ..SampleQuery::default()
        }
    }
}

/// One stored sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredSample {
    /// When it was recorded, ns since the epoch.
    pub timestamp_nanos: i64,
    /// The value.
    pub value: f64,
    /// Its tags.
    pub tags: StoredTags,
    /// The name of the run that recorded it.
    pub run: String,
}

/// A series' samples in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSeries {
    /// The series name.
    pub name: String,
    /// Samples stored.
    pub samples: u64,
}

/// A run in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRun {
    /// The store's id of the run.
    pub id: i64,
    /// The run's name.
    pub name: String,
    /// Start, ns since the epoch (RFC 3339 text when serialized).
    #[serde(serialize_with = "rfc3339_nanos")]
    pub started_at: i64,
    /// End, ns since the epoch; `None` while running or after a crash
    /// (RFC 3339 text or `null` when serialized).
    #[serde(serialize_with = "rfc3339_opt_nanos")]
    pub ended_at: Option<i64>,
    /// The command line that recorded it.
    pub command: String,
    /// The host it ran on.
    pub host: String,
    /// Its series, by name: those with samples and those with aggregate
    /// snapshots only (0 samples).
    pub series: Vec<RunSeries>,
    /// Samples in all.
    pub samples: u64,
}

fn rfc3339_nanos<S: serde::Serializer>(nanos: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time_spec::format_nanos(*nanos))
}

#[allow(clippy::ref_option)]
fn rfc3339_opt_nanos<S: serde::Serializer>(nanos: &Option<i64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match nanos {
        Some(n) => rfc3339_nanos(n, s),
        None => s.serialize_none(),
    }
}

/// A series in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredSeries {
    /// The name.
    pub name: String,
    /// The type.
    pub metric_type: MetricType,
    /// Help text.
    pub description: Option<String>,
    /// Unit, from the name's suffix or the type.
    pub unit: Option<String>,
}

/// One tag set's aggregate in the latest snapshot of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAggregate {
    /// The series name.
    pub name: String,
    /// The series type.
    pub metric_type: MetricType,
    /// The tag set.
    pub tags: StoredTags,
    /// The aggregate.
    pub value: AggregateValue,
    /// When the snapshot was taken, ns since the epoch.
    pub taken_at: i64,
}

/// The samples of one chunk, for readers that follow the store by position
/// ([`StoreReader::chunks_after`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredChunk {
    /// The chunk's position: ids only grow, and a committed chunk never
    /// changes, so "every chunk after N" misses nothing and repeats nothing.
    pub chunk_id: i64,
    /// The series name.
    pub series: String,
    /// The series type.
    pub metric_type: MetricType,
    /// The tag set.
    pub tags: StoredTags,
    /// The run's name.
    pub run: String,
    /// (ns since the epoch, value), in time order.
    pub samples: Vec<(i64, f64)>,
}

/// A read-only view of a store; any number may be open while one process
/// writes it.
#[derive(Debug)]
pub struct StoreReader {
    pub(crate) conn: Connection,
    path: PathBuf,
}

struct ChunkRow {
    id: i64,
    tag_set: i64,
    run: i64,
    first_ts: i64,
    last_ts: i64,
    count: i64,
    data: Vec<u8>,
}

impl ChunkRow {
    /// A chunk from a row whose first seven columns are `chunk_id,
    /// tag_set_id, run_id, first_ts, last_ts, count, data`.
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChunkRow> {
        Ok(ChunkRow {
            id: r.get(0)?,
            tag_set: r.get(1)?,
            run: r.get(2)?,
            first_ts: r.get(3)?,
            last_ts: r.get(4)?,
            count: r.get(5)?,
            data: r.get(6)?,
        })
    }
}

impl StoreReader {
    /// Opens the store at `path` for reading.
    ///
    /// # Errors
    /// [`StoreError::Missing`], [`StoreError::NotADatabase`],
    /// [`StoreError::Foreign`] or [`StoreError::TooNew`], naming the file.
    pub fn open(path: impl AsRef<Path>) -> Result<StoreReader> {
        let path = path.as_ref();
        Ok(StoreReader {
            conn: schema::open_reader(path)?,
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn err(&self) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        StoreError::sqlite(&self.path)
    }

    /// Every series, by name.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn series(&self) -> Result<Vec<StoredSeries>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, type, description, unit FROM series ORDER BY name")
            .map_err(self.err())?;
        stmt.query_map([], |r| {
            let ty: String = r.get(1)?;
            Ok(StoredSeries {
                name: r.get(0)?,
                metric_type: ty.parse().unwrap_or(MetricType::Gauge),
                description: r.get(2)?,
                unit: r.get(3)?,
            })
        })
        .map_err(self.err())?
        .collect::<rusqlite::Result<_>>()
        .map_err(self.err())
    }

    fn tag_sets(&self) -> Result<HashMap<i64, StoredTags>> {
        let mut stmt = self
            .conn
            .prepare("SELECT tag_set_id, tags FROM tag_sets")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.err())?;
        let mut sets = HashMap::new();
        for row in rows {
            let (id, text) = row.map_err(self.err())?;
            sets.insert(id, serde_json::from_str(&text).unwrap_or_default());
        }
        Ok(sets)
    }

    fn run_names(&self) -> Result<HashMap<i64, String>> {
        let mut stmt = self.conn.prepare("SELECT run_id, name FROM runs").map_err(self.err())?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())
    }

    fn series_id(&self, name: &str) -> Result<Option<i64>> {
        self.conn
            .query_row("SELECT series_id FROM series WHERE name = ?1", [name], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map_err(self.err())
    }

    /// Calls `f` with each chunk of the query's series, run and time range,
    /// newest last sample first, until it returns false.
    fn scan(&self, q: &SampleQuery, mut f: impl FnMut(ChunkRow) -> Result<bool>) -> Result<bool> {
        let Some(series_id) = self.series_id(&q.name)? else {
            return Ok(false);
        };
        let run = self.resolve_run(&q.runs)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT chunk_id, tag_set_id, run_id, first_ts, last_ts, count, data FROM chunks
                 WHERE series_id = ?1 AND last_ts >= ?2 AND first_ts <= ?3 AND (?4 IS NULL OR run_id = ?4)
                 ORDER BY last_ts DESC",
            )
            .map_err(self.err())?;
        let mut rows = stmt
            .query(params![
                series_id,
                q.since.unwrap_or(i64::MIN),
                q.until.unwrap_or(i64::MAX),
                run
            ])
            .map_err(self.err())?;
        while let Some(r) = rows.next().map_err(self.err())? {
            let row = ChunkRow::read(r).map_err(self.err())?;
            if !f(row)? {
                break;
            }
        }
        Ok(true)
    }

    fn decode(&self, row: &ChunkRow, out: &mut Vec<(i64, f64)>) -> Result<()> {
        out.clear();
        let count = usize::try_from(row.count).map_err(|_| self.corrupt(row.id, "a negative sample count"))?;
        chunk::decode(row.first_ts, count, &row.data, out).map_err(|reason| self.corrupt(row.id, reason))
    }

    fn corrupt(&self, chunk_id: i64, reason: &'static str) -> StoreError {
        StoreError::CorruptChunk {
            path: self.path.clone(),
            chunk_id,
            reason,
        }
    }

    /// The samples `q` selects, oldest first: with a limit, the newest
    /// `limit` of them. Memory is bounded by the limit.
    ///
    /// # Errors
    /// A run that does not exist, a damaged chunk, or an SQLite error.
    pub fn query(&self, q: &SampleQuery) -> Result<Vec<StoredSample>> {
        let sets = self.tag_sets()?;
        let runs = self.run_names()?;
        let wanted = |id: i64| sets.get(&id).is_some_and(|t| matches(t, &q.tags));
        let limit = q.limit.unwrap_or(usize::MAX);
        let (since, until) = (q.since.unwrap_or(i64::MIN), q.until.unwrap_or(i64::MAX));
        // The newest `limit`: a min-heap by (time, chunk, index).
        let mut heap: BinaryHeap<Reverse<(i64, i64, usize, u64)>> = BinaryHeap::new();
        let mut keep: HashMap<(i64, usize), (i64, i64)> = HashMap::new();
        let mut buf = Vec::new();
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.scan(q, |row| {
            if heap.len() >= limit && heap.peek().is_some_and(|Reverse(m)| row.last_ts < m.0) {
                return Ok(false);
            }
            if !wanted(row.tag_set) {
                return Ok(true);
            }
            self.decode(&row, &mut buf)?;
            for (i, &(ts, v)) in buf.iter().enumerate() {
                if ts < since || ts > until {
                    continue;
                }
                if heap.len() >= limit {
                    match heap.peek() {
                        Some(Reverse(m)) if (ts, row.id, i) > (m.0, m.1, m.2) => {
                            if let Some(Reverse(old)) = heap.pop() {
                                keep.remove(&(old.1, old.2));
                            }
                        }
                        _ => continue,
                    }
                }
                heap.push(Reverse((ts, row.id, i, v.to_bits())));
                keep.insert((row.id, i), (row.tag_set, row.run));
            }
            Ok(true)
        })?;
        let mut picked: Vec<(i64, i64, usize, u64)> = heap.into_iter().map(|Reverse(s)| s).collect();
        picked.sort_unstable();
        Ok(picked
            .into_iter()
            .map(|(ts, chunk_id, i, bits)| {
                let (tag_set, run) = keep.get(&(chunk_id, i)).copied().unwrap_or((0, 0));
                StoredSample {
                    timestamp_nanos: ts,
                    value: f64::from_bits(bits),
                    tags: sets.get(&tag_set).cloned().unwrap_or_default(),
                    run: runs.get(&run).cloned().unwrap_or_default(),
                }
            })
            .collect())
    }

    /// Count, sum, min, max, mean and exact percentiles of the samples `q`
    /// selects (its limit is ignored); `None` when there are none.
    ///
    /// # Errors
    /// As [`query`](Self::query).
    pub fn summary(&self, q: &SampleQuery) -> Result<Option<Summary>> {
        let sets = self.tag_sets()?;
        let (since, until) = (q.since.unwrap_or(i64::MIN), q.until.unwrap_or(i64::MAX));
        let mut values = Vec::new();
        let mut buf = Vec::new();
        self.scan(q, |row| {
            if !sets.get(&row.tag_set).is_some_and(|t| matches(t, &q.tags)) {
                return Ok(true);
            }
            self.decode(&row, &mut buf)?;
            if row.first_ts >= since && row.last_ts <= until {
                values.extend(buf.iter().map(|s| s.1));
            } else {
                values.extend(buf.iter().filter(|s| s.0 >= since && s.0 <= until).map(|s| s.1));
            }
            Ok(true)
        })?;
        Ok(crate::summary::summarize(values))
    }

    /// Up to `max` chunks committed after position `after` (0: from the
    /// start), in position order. Pass the last one's `chunk_id` next time.
    ///
    /// # Errors
    /// A damaged chunk, or an SQLite error.
    pub fn chunks_after(&self, after: i64, max: usize) -> Result<Vec<StoredChunk>> {
        let sets = self.tag_sets()?;
        let runs = self.run_names()?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT c.chunk_id, c.tag_set_id, c.run_id, c.first_ts, c.last_ts, c.count, c.data, s.name, s.type
                 FROM chunks c JOIN series s USING (series_id) WHERE c.chunk_id > ?1 ORDER BY c.chunk_id LIMIT ?2",
            )
            .map_err(self.err())?;
        let mut rows = stmt
            .query(params![after, i64::try_from(max).unwrap_or(i64::MAX)])
            .map_err(self.err())?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(self.err())? {
            let row = ChunkRow::read(r).map_err(self.err())?;
            let ty: String = r.get(8).map_err(self.err())?;
            let mut samples = Vec::new();
            self.decode(&row, &mut samples)?;
            out.push(StoredChunk {
                chunk_id: row.id,
                series: r.get(7).map_err(self.err())?,
                metric_type: ty.parse().unwrap_or(MetricType::Gauge),
                tags: sets.get(&row.tag_set).cloned().unwrap_or_default(),
                run: runs.get(&row.run).cloned().unwrap_or_default(),
                samples,
            });
        }
        Ok(out)
    }

    /// The aggregates of the latest snapshot of the run `filter` names (for
    /// [`RunFilter::All`], of the latest snapshot of any run), by series.
    ///
    /// # Errors
    /// A run that does not exist, or an SQLite error.
    pub fn latest_aggregates(&self, filter: &RunFilter) -> Result<Vec<StoredAggregate>> {
        let run = self.resolve_run(filter)?;
        let snapshot: Option<(i64, i64)> = self
            .conn
            .query_row(
                "SELECT snapshot_id, taken_at FROM snapshots WHERE (?1 IS NULL OR run_id = ?1)
                 ORDER BY taken_at DESC, snapshot_id DESC LIMIT 1",
                [run],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        let Some((snapshot_id, taken_at)) = snapshot else {
            return Ok(Vec::new());
        };
        let sets = self.tag_sets()?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.name, s.type, a.tag_set_id, a.value FROM aggregates a JOIN series s USING (series_id)
                 WHERE a.snapshot_id = ?1 ORDER BY s.name, a.tag_set_id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([snapshot_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (name, ty, tag_set, value) = row.map_err(self.err())?;
            let Ok(value) = serde_json::from_str::<AggregateValue>(&value) else {
                continue;
            };
            out.push(StoredAggregate {
                name,
                metric_type: ty.parse().unwrap_or(MetricType::Gauge),
                tags: sets.get(&tag_set).cloned().unwrap_or_default(),
                value,
                taken_at,
            });
        }
        Ok(out)
    }

    /// The value under `namespace`/`key`.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn get_state(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>> {
        get_state(&self.conn, namespace, key).map_err(self.err())
    }

    /// Every key and value of `namespace`, by key.
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn list_state(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, value FROM state WHERE namespace = ?1 ORDER BY key")
            .map_err(self.err())?;
        stmt.query_map([namespace], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())
    }
}

fn matches(tags: &StoredTags, wanted: &[(String, String)]) -> bool {
    wanted.iter().all(|(k, v)| tags.get(k) == Some(v))
}

pub(crate) fn get_state(conn: &Connection, namespace: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row(
        "SELECT value FROM state WHERE namespace = ?1 AND key = ?2",
        params![namespace, key],
        |r| r.get(0),
    )
    .optional()
}
