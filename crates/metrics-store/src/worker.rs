//! The writer thread: drains the hand-off, commits flushes, snapshots
//! aggregates and applies retention.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use metrics_core::{Counter, MetricSeries, MetricsCollector, SeriesKey, TagSet};

use crate::db::{WriteDb, to_nanos};
use crate::error::{Result, StoreError};
use crate::handoff::{Handoff, Pending};
use crate::options::FlushReport;
use crate::writer::{MetricsStore, RunId, apply_retention, lock_db, write_snapshot};

/// Counters shared between the writer thread and the handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) written: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) flushes: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) first_error: Mutex<Option<String>>,
}

pub(crate) enum Control {
    Flush(Sender<Result<FlushReport>>),
    Stop,
}

/// The writer's self-metrics, as counter handles in the collector.
pub(crate) struct SelfMetrics {
    dropped: Option<Counter>,
    written: Option<Counter>,
    failed: Option<Counter>,
    last: (u64, u64, u64),
}

impl SelfMetrics {
    pub(crate) fn new(c: &MetricsCollector) -> SelfMetrics {
        SelfMetrics {
            dropped: c.counter("metrics_store_dropped_samples_total", &[]).ok(),
            written: c.counter("metrics_store_written_samples_total", &[]).ok(),
            failed: c.counter("metrics_store_failed_samples_total", &[]).ok(),
            last: (0, 0, 0),
        }
    }

    fn update(&mut self, dropped: u64, written: u64, failed: u64) {
        let add = |c: &Option<Counter>, now: u64, before: u64| {
            if let Some(c) = c
                && now > before
            {
                c.increment(now - before);
            }
        };
        add(&self.dropped, dropped, self.last.0);
        add(&self.written, written, self.last.1);
        add(&self.failed, failed, self.last.2);
        self.last = (dropped, written, failed);
    }
}

/// The writer thread's state.
pub(crate) struct Worker {
    pub(crate) store: MetricsStore,
    pub(crate) collector: Arc<MetricsCollector>,
    pub(crate) handoff: Arc<Handoff>,
    pub(crate) run: RunId,
    pub(crate) shared: Arc<Shared>,
    /// Series by address; holding them keeps the addresses unique.
    pub(crate) series: HashMap<SeriesKey, Arc<MetricSeries>>,
    pub(crate) tag_sets: HashMap<SeriesKey, Vec<TagSet>>,
    pub(crate) resolved: HashMap<(SeriesKey, u32), (i64, i64)>,
    pub(crate) staging: Vec<Pending>,
    pub(crate) spares: Vec<Vec<Pending>>,
    pub(crate) seq: u64,
    pub(crate) reported_error: bool,
    pub(crate) self_metrics: SelfMetrics,
}

impl Worker {
    pub(crate) fn serve(&mut self, inbox: &mpsc::Receiver<Control>) {
        let opts = self.store.options.clone();
        let mut next_flush = Instant::now() + opts.flush_interval;
        let mut next_snapshot = (!opts.snapshot_interval.is_zero()).then(|| Instant::now() + opts.snapshot_interval);
        let mut next_retention = Instant::now();
        let early = (self.handoff.per_shard() / 2).max(1);
        loop {
            let now = Instant::now();
            let wait = next_flush.saturating_duration_since(now).min(Duration::from_millis(20));
            match inbox.recv_timeout(wait) {
                Ok(Control::Flush(reply)) => {
                    let _ = reply.send(self.flush());
                    next_flush = Instant::now() + opts.flush_interval;
                }
                Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    if now >= next_flush || self.handoff.pending() >= early {
                        let _ = self.flush();
                        next_flush = now + opts.flush_interval;
                    }
                    if next_snapshot.is_some_and(|t| now >= t) {
                        self.snapshot();
                        next_snapshot = Some(now + opts.snapshot_interval);
                    }
                    if now >= next_retention {
                        match apply_retention(&self.store.db, &opts, to_nanos(time::OffsetDateTime::now_utc())) {
                            Ok(n) => {
                                self.shared.expired.fetch_add(n, Relaxed);
                            }
                            Err(e) => self.failed(&e),
                        }
                        next_retention = now + opts.retention_interval;
                    }
                }
            }
        }
    }

    fn failed(&mut self, e: &StoreError) {
        self.shared.errors.fetch_add(1, Relaxed);
        if !self.reported_error {
            self.reported_error = true;
            *self.shared.first_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
            if let Some(observer) = &self.store.options.on_error {
                observer(e);
            }
        }
    }

    fn snapshot(&mut self) {
        let snapshot = self.collector.aggregate_snapshot();
        let result = write_snapshot(&mut self.store.db(), self.run, &snapshot);
        if let Err(e) = result {
            self.failed(&e);
        }
    }

    /// The series at `addr`, looking the collector's series up again when
    /// it is new.
    fn series_at(&mut self, addr: SeriesKey) -> Option<Arc<MetricSeries>> {
        if let Some(s) = self.series.get(&addr) {
            return Some(Arc::clone(s));
        }
        for info in self.collector.list_series() {
            if let Some(s) = self.collector.get_metric_series(&info.name) {
                self.series.entry(s.sink_key()).or_insert(s);
            }
        }
        self.series.get(&addr).cloned()
    }

    fn tag_set_of(&mut self, addr: SeriesKey, series: &MetricSeries, id: u32) -> Option<TagSet> {
        let sets = self.tag_sets.entry(addr).or_default();
        if id as usize >= sets.len() {
            // By id, removed tag sets included: after an idle expiry or a
            // `remove` the live list's positions are no longer ids.
            *sets = series.tag_sets_by_id();
        }
        sets.get(id as usize).cloned()
    }

    fn ids(&mut self, db: &mut WriteDb, key: (SeriesKey, u32)) -> rusqlite::Result<Option<(i64, i64)>> {
        if let Some(&ids) = self.resolved.get(&key) {
            return Ok(Some(ids));
        }
        let Some(series) = self.series_at(key.0) else {
            return Ok(None);
        };
        let Some(tags) = self.tag_set_of(key.0, &series, key.1) else {
            return Ok(None);
        };
        let series_id = db.series_id(series.name(), series.metric_type(), series.description().as_deref())?;
        let tag_set_id = db.tag_set_id(&tags)?;
        self.resolved.insert(key, (series_id, tag_set_id));
        Ok(Some((series_id, tag_set_id)))
    }

    fn write(
        &mut self,
        db: &mut WriteDb,
        groups: &mut HashMap<(SeriesKey, u32), Vec<(i64, f64)>>,
    ) -> rusqlite::Result<u64> {
        let mut written = 0u64;
        db.conn.execute_batch("BEGIN IMMEDIATE")?;
        for (key, samples) in groups.iter_mut() {
            // A series removed from the collector before its samples were
            // written cannot be named any more: those samples are lost.
            let Some((series_id, tag_set_id)) = self.ids(db, *key)? else {
                self.shared.failed.fetch_add(samples.len() as u64, Relaxed);
                continue;
            };
            db.insert_samples(series_id, tag_set_id, self.run.0, samples)?;
            written += samples.len() as u64;
        }
        db.conn.execute_batch("COMMIT")?;
        Ok(written)
    }

    /// Commits everything handed off so far in one transaction.
    pub(crate) fn flush(&mut self) -> Result<FlushReport> {
        let durable_until = to_nanos(self.collector.now());
        let mut staging = std::mem::take(&mut self.staging);
        staging.clear();
        self.handoff.drain(&mut self.spares, &mut staging);
        let mut groups: HashMap<(SeriesKey, u32), Vec<(i64, f64)>> = HashMap::new();
        for p in &staging {
            groups.entry((p.series, p.tag_set)).or_default().push((p.ts, p.value));
        }
        let count = staging.len() as u64;
        self.staging = staging;
        let result = if count == 0 {
            Ok(0)
        } else {
            let db_arc = Arc::clone(&self.store.db);
            let mut db = lock_db(&db_arc);
            let r = self.write(&mut db, &mut groups);
            if r.is_err() {
                let _ = db.conn.execute_batch("ROLLBACK");
                db.forget_ids();
                self.resolved.clear();
            }
            r.map_err(db.err())
        };
        let dropped = self.handoff.dropped();
        let outcome = match result {
            Ok(n) => {
                self.seq += 1;
                let total = self.shared.written.fetch_add(n, Relaxed) + n;
                self.shared.flushes.fetch_add(1, Relaxed);
                let report = FlushReport {
                    seq: self.seq,
                    samples: n,
                    total_written: total,
                    dropped,
                    durable_until,
                };
                if let Some(observer) = &self.store.options.on_flush {
                    observer(&report);
                }
                Ok(report)
            }
            Err(e) => {
                self.shared.failed.fetch_add(count, Relaxed);
                self.failed(&e);
                Err(e)
            }
        };
        self.self_metrics.update(
            dropped,
            self.shared.written.load(Relaxed),
            self.shared.failed.load(Relaxed),
        );
        outcome
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("run", &self.run).finish_non_exhaustive()
    }
}
