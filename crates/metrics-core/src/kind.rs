//! `MetricType`: the four metric kinds, their names and parsing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a series measures and how its values combine.
///
/// Serializes as `"counter"`, `"gauge"`, `"histogram"`, `"timer"`, and parses
/// from the same words (case-insensitive) with [`FromStr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// A monotonically increasing total (job completions). Increments must be ≥ 0.
    Counter,
    /// A value that goes up and down (memory in use); the last value wins.
    Gauge,
    /// A distribution of observations (response sizes).
    Histogram,
    /// A distribution of durations, in seconds.
    Timer,
}

impl MetricType {
    /// Every type, in declaration order.
    pub const ALL: [MetricType; 4] = [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::Timer,
    ];

    /// The lowercase word used in serialized output.
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Timer => "timer",
        }
    }

    /// Whether samples of this type feed a distribution (histogram or timer).
    pub const fn is_distribution(self) -> bool {
        matches!(self, MetricType::Histogram | MetricType::Timer)
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The text given to [`MetricType::from_str`] names no metric type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric type {0:?}; expected counter, gauge, histogram or timer")]
pub struct ParseMetricTypeError(pub String);

impl FromStr for MetricType {
    type Err = ParseMetricTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MetricType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseMetricTypeError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_type_round_trips_through_text_and_serde() {
        for t in MetricType::ALL {
            assert_eq!(t.as_str().parse::<MetricType>(), Ok(t));
            assert_eq!(t.to_string().to_uppercase().parse::<MetricType>(), Ok(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<MetricType>(&json).unwrap(), t);
        }
    }

    #[test]
    fn unknown_metric_type_names_the_text() {
        let err = "summary".parse::<MetricType>().unwrap_err();
        assert!(err.to_string().contains("\"summary\""), "{err}");
    }
}
