//! A stored run rebuilt into a collector: the one rebuild behind every
//! reader that shows a run's aggregates (`bykilt metrics export`, the
//! database server's `/metrics`, a resumed batch that continues a run).
//!
//! The aggregate snapshots a writer stores come every `snapshot_interval`
//! (a minute by default) and at the end of a run, so for a run still being
//! recorded, or one whose writer was killed, the latest snapshot lags its
//! samples by up to a minute, or is missing. The run's counts are rebuilt
//! from what is durable first: its samples, and the latest snapshot only
//! for tag sets that kept no samples (a counter kept as a total, a gauge
//! without history).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use metrics_core::export::json::{JsonExport, JsonSample, JsonSeries};
use metrics_core::{
    AggregateValue, MetricOptions, MetricType, MetricsCollector, MetricsConfig, Snapshot, TagSet, TagSetAggregate,
};

use super::{RunFilter, SampleQuery, StoreReader};
use crate::error::{Result, StoreError};

/// The newest samples of each series a replay reads: a huge run reads no
/// more than its `metrics.json` would hold.
pub const REPLAYED_SAMPLES_PER_SERIES: usize = 100_000;

/// A collector configuration that keeps what a replayed run recorded:
/// nothing expires for ten years, and each series keeps
/// [`REPLAYED_SAMPLES_PER_SERIES`] samples.
pub fn replay_config() -> MetricsConfig {
    MetricsConfig {
        retention: Duration::from_secs(10 * 365 * 86_400),
        max_samples_per_series: REPLAYED_SAMPLES_PER_SERIES,
        ..MetricsConfig::default()
    }
}

/// Where a store stands: a [`StoreReader::generation`] that has not
/// changed means every run reads back as it did (no chunk, snapshot, run or
/// series was added or deleted meanwhile), so a replay of it may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreGeneration([i64; 6]);

impl StoreReader {
    /// The store's [`StoreGeneration`] now: the newest id and the number of
    /// rows of its chunks and snapshots, and of its runs and series (each
    /// commit of a writer adds chunks, a snapshot or a run; retention and
    /// deleting a run remove some).
    ///
    /// # Errors
    /// An SQLite error naming the file.
    pub fn generation(&self) -> Result<StoreGeneration> {
        self.conn
            .query_row(
                "SELECT (SELECT coalesce(max(chunk_id), 0) FROM chunks), (SELECT count(*) FROM chunks),
                        (SELECT coalesce(max(snapshot_id), 0) FROM snapshots), (SELECT count(*) FROM snapshots),
                        (SELECT coalesce(max(run_id), 0) FROM runs), (SELECT count(*) FROM series)",
                [],
                |r| {
                    Ok(StoreGeneration([
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ]))
                },
            )
            .map_err(self.err())
    }

    /// Replays the one run `filter` names into `collector` and returns the
    /// run's name: per series its newest [`REPLAYED_SAMPLES_PER_SERIES`]
    /// samples with their times and tags (a series with more has its older
    /// samples counted in its aggregates first, so they are the run's
    /// whole, while the collector keeps the newest), each series'
    /// description and unit, then the aggregates of the run's latest
    /// snapshot for the tag sets without samples. Goes through the JSON export's types and
    /// [`MetricsCollector::import_json`], the one decoder of that shape, so
    /// every format reads a stored run as it would the run's metrics.json.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for [`RunFilter::All`] (a replay is of one
    /// run) or a run the collector cannot take back; a run that does not
    /// exist, a damaged chunk, or an SQLite error.
    pub fn replay_run(&self, filter: &RunFilter, collector: &MetricsCollector) -> Result<String> {
        let name = match self.named_run(filter)? {
            Some(name) => name,
            None => {
                return Err(StoreError::Invalid(format!(
                    "{}: a run is replayed one at a time; name one",
                    self.path().display()
                )));
            }
        };
        let mut export = self.run_export(&name)?;
        for (series, stored) in &mut export {
            // Past the newest samples replayed, the older ones still count:
            // in the aggregates (a run of a million jobs exports a million,
            // not the newest 100,000), never in the retained samples.
            if stored.values.len() >= REPLAYED_SAMPLES_PER_SERIES
                && let Some(oldest) = stored.values.first()
            {
                let before = crate::time_spec::unix_nanos(oldest.timestamp);
                let counted = self.replay_older(&name, series, stored, before, collector)?;
                // Their totals are in the older samples now: a snapshot's
                // aggregate stands only for a tag set that kept none.
                let mut aggregates = stored.aggregates.to_vec();
                aggregates.retain(|a| !counted.contains(&a.tags));
                stored.aggregates = Cow::Owned(aggregates);
            }
        }
        let text = serde_json::to_string(&export)
            .map_err(|e| StoreError::Invalid(format!("{}: run {name}: {e}", self.path().display())))?;
        collector
            .import_json(&text)
            .map_err(|e| StoreError::Invalid(format!("{}: run {name}: {e}", self.path().display())))?;
        Ok(name)
    }

    /// The run `filter` names, replayed ([`replay_run`](Self::replay_run))
    /// into a new collector of [`replay_config`], with the run's name.
    ///
    /// # Errors
    /// As [`replay_run`](Self::replay_run).
    pub fn run_collector(&self, filter: &RunFilter) -> Result<(String, MetricsCollector)> {
        let collector = MetricsCollector::new(replay_config());
        let name = self.replay_run(filter, &collector)?;
        Ok((name, collector))
    }

    /// The aggregates of the run `filter` names as its samples and latest
    /// snapshot rebuild them ([`replay_run`](Self::replay_run)): what
    /// `bykilt metrics export --format prometheus` of the run and the
    /// database server's `/metrics` expose.
    ///
    /// # Errors
    /// As [`replay_run`](Self::replay_run).
    pub fn run_snapshot(&self, filter: &RunFilter) -> Result<Snapshot> {
        Ok(self.run_collector(filter)?.1.aggregate_snapshot())
    }

    /// Records into `collector` the samples of series `name` of run `run`
    /// older than `before` (ns), which the replay's newest samples then
    /// push out of the collector's retained samples: they count in the
    /// aggregates only. The series is described and its tag sets created
    /// first, as the JSON import would (the snapshot's bucket bounds, the
    /// run's order of tag sets). Returns the tag sets that had such
    /// samples. Streams chunk by chunk: memory is bounded by one chunk and
    /// the tag sets.
    fn replay_older(
        &self,
        run: &str,
        name: &str,
        series: &JsonSeries<'_>,
        before: i64,
        collector: &MetricsCollector,
    ) -> Result<HashSet<TagSet>> {
        let invalid = |e: &dyn std::fmt::Display| {
            StoreError::Invalid(format!("{}: run {run}, series {name:?}: {e}", self.path().display()))
        };
        let buckets = series.aggregates.iter().find_map(|a| match &a.value {
            AggregateValue::Histogram(h) => Some(h.buckets.iter().map(|b| b.le).filter(|le| le.is_finite()).collect()),
            _ => None,
        });
        collector
            .describe_metric(
                name,
                series.metric_type,
                MetricOptions {
                    description: series.description.as_deref().map(str::to_owned),
                    buckets,
                    sample_policy: None,
                    unit: series.unit.as_deref().map(str::to_owned),
                },
            )
            .map_err(|e| invalid(&e))?;
        for a in series.aggregates.iter() {
            let created = match series.metric_type {
                MetricType::Counter => collector.counter(name, &a.tags).map(drop),
                MetricType::Gauge => collector.gauge(name, &a.tags).map(drop),
                MetricType::Histogram => collector.histogram(name, &a.tags).map(drop),
                MetricType::Timer => collector.timer(name, &a.tags).map(drop),
            };
            created.map_err(|e| invalid(&e))?;
        }
        let sets = self.tag_sets()?;
        let q = SampleQuery {
            name: name.to_owned(),
            runs: RunFilter::Named(run.to_owned()),
            until: Some(before.saturating_sub(1)),
            ..SampleQuery::default()
        };
        // Histograms and timers take each value through their handles
        // (aggregate only: nothing is retained, so nothing is pushed out);
        // a counter's older increments are one sum and a gauge's one latest
        // value per tag set, recorded once each below.
        let mut sums: HashMap<TagSet, (i64, f64)> = HashMap::new();
        let mut latest: HashMap<TagSet, (i64, f64)> = HashMap::new();
        let mut counted = HashSet::new();
        let mut buf = Vec::new();
        self.scan(&q, |row| {
            let Some(tags) = sets.get(&row.tag_set) else {
                return Ok(true);
            };
            let tags = TagSet::from_pairs(tags);
            self.decode(&row, &mut buf)?;
            let older = || buf.iter().filter(|s| s.0 < before);
            if older().next().is_none() {
                return Ok(true);
            }
            match series.metric_type {
                MetricType::Counter => {
                    let sum = sums.entry(tags.clone()).or_insert((i64::MAX, 0.0));
                    for &(ts, v) in older() {
                        *sum = (sum.0.min(ts), sum.1 + v);
                    }
                }
                MetricType::Gauge => {
                    let last = latest.entry(tags.clone()).or_insert((i64::MIN, 0.0));
                    for &(ts, v) in older() {
                        if ts >= last.0 {
                            *last = (ts, v);
                        }
                    }
                }
                MetricType::Histogram => {
                    let h = collector.histogram(name, &tags).map_err(|e| invalid(&e))?;
                    older().for_each(|&(_, v)| h.record(v));
                }
                MetricType::Timer => {
                    let t = collector.timer(name, &tags).map_err(|e| invalid(&e))?;
                    older().for_each(|&(_, v)| t.record_seconds(v));
                }
            }
            counted.insert(tags);
            Ok(true)
        })?;
        for (tags, (ts, value)) in sums.into_iter().chain(latest) {
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts)).map_err(|e| invalid(&e))?;
            collector
                .record_metric_at(name, value, &tags, series.metric_type, at)
                .map_err(|e| invalid(&e))?;
        }
        Ok(counted)
    }

    /// Run `name` in the JSON export's shape.
    fn run_export(&self, name: &str) -> Result<JsonExport<'static>> {
        let filter = RunFilter::Named(name.to_owned());
        let mut aggregates: HashMap<String, Vec<TagSetAggregate>> = HashMap::new();
        for a in self.latest_aggregates(&filter)? {
            aggregates.entry(a.name).or_default().push(TagSetAggregate {
                tags: TagSet::from_pairs(&a.tags),
                value: a.value,
                exemplars: Vec::new(),
            });
        }
        let mut export = JsonExport::new();
        for series in self.series()? {
            let q = SampleQuery {
                name: series.name.clone(),
                runs: filter.clone(),
                limit: Some(REPLAYED_SAMPLES_PER_SERIES),
                ..SampleQuery::default()
            };
            let mut values = Vec::new();
            for s in self.query(&q)? {
                let timestamp = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(s.timestamp_nanos))
                    .map_err(|e| {
                        StoreError::Invalid(format!(
                            "{}: sample time of {:?}: {e}",
                            self.path().display(),
                            series.name
                        ))
                    })?;
                values.push(JsonSample {
                    name: Cow::Owned(series.name.clone()),
                    value: s.value,
                    timestamp,
                    tags: TagSet::from_pairs(&s.tags),
                    metric_type: series.metric_type,
                });
            }
            let aggregates = aggregates.remove(&series.name).unwrap_or_default();
            if values.is_empty() && aggregates.is_empty() {
                continue;
            }
            export.insert(
                Cow::Owned(series.name.clone()),
                JsonSeries {
                    metric_type: series.metric_type,
                    description: series.description.map(Cow::Owned),
                    unit: series.unit.map(Cow::Owned),
                    values,
                    aggregates: Cow::Owned(aggregates),
                    dropped_samples: 0,
                    expired_samples: 0,
                    overflow_updates: 0,
                    rejected_values: 0,
                    saturated_updates: 0,
                },
            );
        }
        Ok(export)
    }
}
