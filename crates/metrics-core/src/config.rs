//! `MetricsConfig`: limits, intervals and storage, from code or environment.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// How a collector and its manager behave.
///
/// Durations serialize as seconds (`"retention": 86400.0`).
///
/// ```
/// use metrics_core::MetricsConfig;
/// use std::time::Duration;
/// let config = MetricsConfig {
///     storage_path: "/tmp/metrics".into(),
///     retention: Duration::from_secs(24 * 3600),
///     ..MetricsConfig::default()
/// };
/// assert!(config.enabled);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// Whether recording happens at all. When false every record is a no-op.
    pub enabled: bool,
    /// Where the manager writes periodic and final exports.
    pub storage_path: PathBuf,
    /// Samples older than this are dropped (aggregates are kept).
    #[serde(with = "secs")]
    pub retention: Duration,
    /// How often the manager exports to `storage_path` (zero: only at shutdown).
    #[serde(with = "secs")]
    pub export_interval: Duration,
    /// How often the manager samples system metrics (zero: never).
    #[serde(with = "secs")]
    pub system_metrics_interval: Duration,
    /// Samples kept per series; the oldest are dropped (and counted) beyond it.
    pub max_samples_per_series: usize,
    /// Distinct tag sets per series; further sets fold into `overflow="true"`.
    pub max_tag_sets_per_series: usize,
    /// Tags allowed on one sample (at most 64).
    pub max_tags_per_sample: usize,
    /// The durable store kept samples are also written to (`None`: memory
    /// only). Read from `METRICS_STORE=sqlite:PATH`; the `metrics-store`
    /// crate opens it and attaches it to the collector.
    pub store: Option<PathBuf>,
    /// A tag set whose aggregate has not changed for this long is removed
    /// from the exposition and from memory (its retained samples stay until
    /// retention drops them); checked at every snapshot and by
    /// `MetricsManager`. `None` (the default): tag sets never expire. A
    /// counter re-created after expiry restarts from 0, which Prometheus
    /// treats as a counter reset (see `docs/prometheus.md`).
    #[serde(with = "opt_secs")]
    pub idle_timeout: Option<Duration>,
    /// Distinct metric names (series) a collector holds; past it a new name
    /// is rejected (`MetricsError::TooManySeries`) and counted in the
    /// `metrics.rejected_series` counter. Existing series keep recording.
    pub max_series: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            storage_path: PathBuf::from("artifacts/metrics"),
            retention: Duration::from_secs(24 * 3600),
            export_interval: Duration::from_secs(5 * 60),
            system_metrics_interval: Duration::from_secs(30),
            max_samples_per_series: 100_000,
            max_tag_sets_per_series: 10_000,
            max_tags_per_sample: 16,
            store: None,
            idle_timeout: None,
            max_series: 100_000,
        }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v)
            .map_err(|_| D::Error::custom(format!("{v} is not a non-negative number of seconds")))
    }
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::secs::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Secs(#[serde(with = "super::secs")] Duration);
        Ok(Option::<Secs>::deserialize(d)?.map(|s| s.0).filter(|d| !d.is_zero()))
    }
}

/// The environment variables read by [`MetricsConfig::from_env`].
pub const ENV_VARS: [&str; 8] = [
    "METRICS_ENABLED",
    "METRICS_STORAGE_PATH",
    "METRICS_RETENTION_HOURS",
    "METRICS_EXPORT_INTERVAL_MINUTES",
    "METRICS_SYSTEM_INTERVAL_SECONDS",
    "METRICS_STORE",
    "METRICS_IDLE_TIMEOUT",
    "METRICS_MAX_SERIES",
];

impl MetricsConfig {
    /// The defaults overridden by `METRICS_ENABLED` (true/false/1/0/yes/no/on/off),
    /// `METRICS_STORAGE_PATH`, `METRICS_RETENTION_HOURS`,
    /// `METRICS_EXPORT_INTERVAL_MINUTES`, `METRICS_SYSTEM_INTERVAL_SECONDS`,
    /// `METRICS_STORE` (`sqlite:PATH`, or `none`), `METRICS_IDLE_TIMEOUT`
    /// (seconds; 0 turns expiry off) and `METRICS_MAX_SERIES` (a whole number ≥ 1).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable and its value when a value is
    /// malformed; never a silent default.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`
    /// (for tests and for configuration held elsewhere).
    ///
    /// ```
    /// use metrics_core::MetricsConfig;
    /// let c = MetricsConfig::from_lookup(|k| (k == "METRICS_RETENTION_HOURS").then(|| "2".to_string())).unwrap();
    /// assert_eq!(c.retention.as_secs(), 7200);
    /// let e = MetricsConfig::from_lookup(|k| (k == "METRICS_ENABLED").then(|| "maybe".to_string())).unwrap_err();
    /// assert_eq!(e.variable, "METRICS_ENABLED");
    /// ```
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = MetricsConfig::default();
        let err = |variable: &str, value: &str, reason: &str| ConfigError {
            variable: variable.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(v) = lookup("METRICS_ENABLED") {
            c.enabled = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => return Err(err("METRICS_ENABLED", &v, "expected true/false, 1/0, yes/no or on/off")),
            };
        }
        if let Some(v) = lookup("METRICS_STORAGE_PATH") {
            if v.trim().is_empty() {
                return Err(err(
                    "METRICS_STORAGE_PATH",
                    &v,
                    "expected a directory path, got nothing",
                ));
            }
            c.storage_path = PathBuf::from(v);
        }
        let duration = |var: &str, unit_secs: f64, allow_zero: bool| -> Result<Option<Duration>, ConfigError> {
            let Some(v) = lookup(var) else { return Ok(None) };
            let n: f64 = v.trim().parse().map_err(|_| err(var, &v, "expected a number"))?;
            if !n.is_finite() || n < 0.0 || (!allow_zero && n == 0.0) {
                let reason = if allow_zero {
                    "expected a number ≥ 0"
                } else {
                    "expected a number > 0"
                };
                return Err(err(var, &v, reason));
            }
            Duration::try_from_secs_f64(n * unit_secs)
                .map(Some)
                .map_err(|_| err(var, &v, "too large"))
        };
        if let Some(v) = lookup("METRICS_STORE") {
            c.store = parse_store(&v).map_err(|reason| err("METRICS_STORE", &v, reason))?;
        }
        if let Some(d) = duration("METRICS_RETENTION_HOURS", 3600.0, false)? {
            c.retention = d;
        }
        if let Some(d) = duration("METRICS_EXPORT_INTERVAL_MINUTES", 60.0, true)? {
            c.export_interval = d;
        }
        if let Some(d) = duration("METRICS_SYSTEM_INTERVAL_SECONDS", 1.0, true)? {
            c.system_metrics_interval = d;
        }
        if let Some(d) = duration("METRICS_IDLE_TIMEOUT", 1.0, true)? {
            c.idle_timeout = Some(d).filter(|d| !d.is_zero());
        }
        if let Some(v) = lookup("METRICS_MAX_SERIES") {
            c.max_series = match v.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(err(
                        "METRICS_MAX_SERIES",
                        &v,
                        "expected a whole number of series ≥ 1, such as 100000",
                    ));
                }
            };
        }
        Ok(c)
    }
}

/// `sqlite:PATH` -> the path; `none` or nothing -> no store.
fn parse_store(value: &str) -> Result<Option<PathBuf>, &'static str> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match v.strip_prefix("sqlite:") {
        Some("") => Err("expected a database path after sqlite:"),
        Some(path) => Ok(Some(PathBuf::from(path))),
        None => Err("expected sqlite:PATH or none"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<MetricsConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        MetricsConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn empty_environment_gives_defaults() {
        assert_eq!(from(&[]).unwrap(), MetricsConfig::default());
    }

    #[test]
    fn every_variable_is_read() {
        let c = from(&[
            ("METRICS_ENABLED", "off"),
            ("METRICS_STORAGE_PATH", "/var/m"),
            ("METRICS_RETENTION_HOURS", "0.5"),
            ("METRICS_EXPORT_INTERVAL_MINUTES", "0"),
            ("METRICS_SYSTEM_INTERVAL_SECONDS", "10"),
            ("METRICS_IDLE_TIMEOUT", "90"),
            ("METRICS_MAX_SERIES", "250"),
        ])
        .unwrap();
        assert_eq!(c.idle_timeout, Some(Duration::from_secs(90)));
        assert_eq!(from(&[("METRICS_IDLE_TIMEOUT", "0")]).unwrap().idle_timeout, None);
        assert_eq!(c.max_series, 250);
        assert!(!c.enabled);
        assert_eq!(c.storage_path, PathBuf::from("/var/m"));
        assert_eq!(c.retention, Duration::from_secs(1800));
        assert_eq!(c.export_interval, Duration::ZERO);
        assert_eq!(c.system_metrics_interval, Duration::from_secs(10));
    }

    #[test]
    fn bad_values_name_variable_and_value() {
        for (var, val) in [
            ("METRICS_ENABLED", "perhaps"),
            ("METRICS_STORAGE_PATH", " "),
            ("METRICS_RETENTION_HOURS", "0"),
            ("METRICS_RETENTION_HOURS", "-1"),
            ("METRICS_RETENTION_HOURS", "NaN"),
            ("METRICS_EXPORT_INTERVAL_MINUTES", "ten"),
            ("METRICS_SYSTEM_INTERVAL_SECONDS", "1e400"),
            ("METRICS_IDLE_TIMEOUT", "-5"),
            ("METRICS_IDLE_TIMEOUT", "soon"),
            ("METRICS_MAX_SERIES", "0"),
            ("METRICS_MAX_SERIES", "lots"),
            ("METRICS_MAX_SERIES", "-5"),
        ] {
            let e = from(&[(var, val)]).unwrap_err();
            assert_eq!(e.variable, var);
            assert_eq!(e.value, val);
            let msg = e.to_string();
            assert!(msg.contains(var) && msg.contains(&format!("{val:?}")), "{msg}");
        }
    }

    #[test]
    fn the_store_is_a_sqlite_path_or_none() {
        let c = from(&[("METRICS_STORE", "sqlite:/var/m/metrics.db")]).unwrap();
        assert_eq!(c.store, Some(PathBuf::from("/var/m/metrics.db")));
        assert_eq!(from(&[("METRICS_STORE", "none")]).unwrap().store, None);
        for bad in ["postgres://x", "sqlite:", "/var/m/metrics.db"] {
            let e = from(&[("METRICS_STORE", bad)]).unwrap_err();
            assert_eq!((e.variable.as_str(), e.value.as_str()), ("METRICS_STORE", bad));
        }
    }

    #[test]
    fn serde_round_trip_uses_seconds() {
        let c = MetricsConfig::default();
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["retention"], serde_json::json!(86400.0));
        let back: MetricsConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        let partial: MetricsConfig = serde_json::from_str(r#"{"enabled": false}"#).unwrap();
        assert!(!partial.enabled);
    }
}
