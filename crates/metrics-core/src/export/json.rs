//! JSON export: every series keyed by name with its samples and aggregates
//! (the layout of the Python metrics foundation's export), and its decoding
//! (which `MetricsCollector::import_json` replays).
//!
//! ```json
//! {"job_duration": {"type": "timer",
//!                   "values": [{"name": "job_duration", "value": 0.25,
//!                               "timestamp": "2026-11-28T05:00:00Z",
//!                               "tags": {"status": "completed"}, "type": "timer"}],
//!                   "aggregates": [...], "dropped_samples": 0, ...}}
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::kind::MetricType;
use crate::snapshot::{SeriesSnapshot, Snapshot, TagSetAggregate};
use crate::tags::TagSet;

/// One series in the JSON export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSeries<'a> {
    /// The series type.
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    /// Help text, when registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
    /// Unit, when registered (absent in exports written before units existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Cow<'a, str>>,
    /// Retained samples, oldest first.
    #[serde(default)]
    pub values: Vec<JsonSample<'a>>,
    /// Cumulative aggregates per tag set.
    #[serde(default)]
    pub aggregates: Cow<'a, [TagSetAggregate]>,
    /// Samples evicted by the per-series cap.
    #[serde(default)]
    pub dropped_samples: u64,
    /// Samples expired by retention.
    #[serde(default)]
    pub expired_samples: u64,
    /// Updates folded into the overflow tag set.
    #[serde(default)]
    pub overflow_updates: u64,
    /// Handle updates ignored for non-finite values.
    #[serde(default)]
    pub rejected_values: u64,
    /// Counter increments that hit `u64::MAX` (the total saturated there).
    #[serde(default)]
    pub saturated_updates: u64,
}

/// One sample in the JSON export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSample<'a> {
    /// The series name (repeated in every sample, as the Python foundation's
    /// export does).
    pub name: Cow<'a, str>,
    /// The value.
    pub value: f64,
    /// RFC 3339, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// The sample's tags.
    pub tags: TagSet,
    /// The series type.
    #[serde(rename = "type")]
    pub metric_type: MetricType,
}

/// The whole export: series name → series.
pub type JsonExport<'a> = BTreeMap<Cow<'a, str>, JsonSeries<'a>>;

fn series_view(s: &SeriesSnapshot) -> JsonSeries<'_> {
    JsonSeries {
        metric_type: s.metric_type,
        description: s.description.as_deref().map(Cow::Borrowed),
        unit: s.unit.as_deref().map(Cow::Borrowed),
        values: s
            .samples
            .iter()
            .map(|v| JsonSample {
                name: Cow::Borrowed(&s.name),
                value: v.value,
                timestamp: v.timestamp,
                tags: v.tags.clone(),
                metric_type: v.metric_type,
            })
            .collect(),
        aggregates: Cow::Borrowed(&s.aggregates),
        dropped_samples: s.dropped_samples,
        expired_samples: s.expired_samples,
        overflow_updates: s.overflow_updates,
        rejected_values: s.rejected_values,
        saturated_updates: s.saturated_updates,
    }
}

/// The export view of `snapshot`, borrowing from it.
pub fn to_export(snapshot: &Snapshot) -> JsonExport<'_> {
    snapshot
        .series
        .iter()
        .map(|s| (Cow::Borrowed(s.name.as_str()), series_view(s)))
        .collect()
}

/// Encodes `snapshot` as pretty-printed JSON.
pub fn encode(snapshot: &Snapshot) -> String {
    // Serializing maps with string keys and plain values cannot fail.
    serde_json::to_string_pretty(&to_export(snapshot)).unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
}

/// Parses a JSON export.
///
/// # Errors
/// [`MetricsError::Json`](crate::MetricsError::Json) with serde's line and column.
pub fn decode(json: &str) -> crate::Result<JsonExport<'static>> {
    Ok(serde_json::from_str(json)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn floats_survive_encode_and_decode_exactly() {
        // 1.0715660391465826e-75 decoded one ulp low without exact float parsing.
        for v in [f64::from_bits(3_485_510_186_621_062_260), 0.1 + 0.2, 5e-324, -2.5e300] {
            let text = serde_json::to_string(&v).unwrap();
            let back: f64 = serde_json::from_str(&text).unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{text}");
        }
    }
}
