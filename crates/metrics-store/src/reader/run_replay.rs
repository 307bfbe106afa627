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
use std::collections::HashMap;
use std::time::Duration;

use metrics_core::export::json::{JsonExport, JsonSample, JsonSeries};
use metrics_core::{MetricsCollector, MetricsConfig, Snapshot, TagSet, TagSetAggregate};

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

impl StoreReader {
    /// Replays the one run `filter` names into `collector` and returns the
    /// run's name: per series its newest [`REPLAYED_SAMPLES_PER_SERIES`]
    /// samples with their times and tags, each series' description and
    /// unit, then the aggregates of the run's latest snapshot for the tag
    /// sets without samples. Goes through the JSON export's types and
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
        let text = serde_json::to_string(&self.run_export(&name)?)
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
