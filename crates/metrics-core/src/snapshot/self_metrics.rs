//! Series the store reports about itself, added to every snapshot so that
//! each exporter shows them like any series.

use crate::cell::value::AggregateValue;
use crate::kind::MetricType;
use crate::snapshot::{SeriesSnapshot, TagSetAggregate};
use crate::tags::TagSet;

/// The counter of updates folded into `overflow="true"` by the cardinality
/// cap, one tag set per capped series (`metric="<name>"`); exported by
/// Prometheus as `metrics_core_tag_set_overflow_updates_total`. Present once
/// some series has overflowed, and left out when a series of this name was
/// recorded by the program itself.
pub const OVERFLOW_SELF_METRIC: &str = "metrics_core_tag_set_overflow_updates";

/// Inserts the self-metric series into `series` (sorted by name), keeping
/// it sorted.
pub(crate) fn add_self_metrics(series: &mut Vec<SeriesSnapshot>) {
    let aggregates: Vec<TagSetAggregate> = series
        .iter()
        .filter(|s| s.overflow_updates > 0)
        .map(|s| TagSetAggregate {
            tags: TagSet::from_pairs([("metric", s.name.as_str())]),
            value: AggregateValue::Counter {
                total: s.overflow_updates as f64,
            },
            exemplars: Vec::new(),
        })
        .collect();
    if aggregates.is_empty() {
        return;
    }
    let Err(at) = series.binary_search_by(|s| s.name.as_str().cmp(OVERFLOW_SELF_METRIC)) else {
        return;
    };
    series.insert(
        at,
        SeriesSnapshot {
            name: OVERFLOW_SELF_METRIC.to_owned(),
            metric_type: MetricType::Counter,
            unit: None,
            description: Some(
                "Updates folded into the overflow=\"true\" tag set by max_tag_sets_per_series, per metric.".to_owned(),
            ),
            samples: Vec::new(),
            aggregates,
            dropped_samples: 0,
            expired_samples: 0,
            overflow_updates: 0,
            rejected_values: 0,
            saturated_updates: 0,
        },
    );
}
