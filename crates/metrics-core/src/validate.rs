//! Input validation: names, values and tags. Everything a caller controls
//! passes through here before the store changes.

use crate::error::{MetricsError, Result};
use crate::tags::Tags;
use crate::types::MetricType;

/// Longest metric name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Longest tag key accepted, in bytes.
pub const MAX_TAG_KEY_LEN: usize = 255;
/// Longest tag value accepted, in bytes.
pub const MAX_TAG_VALUE_LEN: usize = 1024;
/// Hard ceiling for `MetricsConfig::max_tags_per_sample`.
pub const MAX_TAGS_LIMIT: usize = 64;
/// The tag key that marks the tag set absorbing updates past the cardinality cap.
pub const OVERFLOW_TAG_KEY: &str = "overflow";

fn preview(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Checks a metric name: non-empty, at most [`MAX_NAME_LEN`] bytes, no
/// control characters.
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(MetricsError::EmptyName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(MetricsError::NameTooLong {
            preview: name.chars().take(32).collect(),
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    if let Some(ch) = name.chars().find(|c| c.is_control()) {
        return Err(MetricsError::NameControlChar {
            name: name.to_owned(),
            ch,
        });
    }
    Ok(())
}

/// Checks a value for a series of type `ty`: finite, ≥ 0 for counters, and
/// ≥ 0 for timers (a duration cannot be negative).
#[inline]
pub(crate) fn validate_value(name: &str, ty: MetricType, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(MetricsError::NonFiniteValue {
            name: name.to_owned(),
            value,
        });
    }
    if ty == MetricType::Counter && value < 0.0 {
        return Err(MetricsError::NegativeCounterIncrement {
            name: name.to_owned(),
            value,
        });
    }
    if ty == MetricType::Timer && value < 0.0 {
        return Err(MetricsError::NegativeDuration {
            name: name.to_owned(),
            value,
        });
    }
    Ok(())
}

fn validate_tag(name: &str, key: &str, value: &str) -> Result<()> {
    if key.is_empty() {
        return Err(MetricsError::EmptyTagKey { name: name.to_owned() });
    }
    let bad_key = |reason| MetricsError::InvalidTagKey {
        name: name.to_owned(),
        key: preview(key),
        reason,
    };
    if key.len() > MAX_TAG_KEY_LEN {
        return Err(bad_key("longer than 255 bytes"));
    }
    if key.chars().any(char::is_control) {
        return Err(bad_key("contains a control character"));
    }
    if key == OVERFLOW_TAG_KEY {
        return Err(MetricsError::ReservedTagKey {
            name: name.to_owned(),
            key: key.to_owned(),
        });
    }
    let bad_value = |reason: String| MetricsError::InvalidTagValue {
        name: name.to_owned(),
        key: preview(key),
        value: preview(value),
        reason,
    };
    if value.len() > MAX_TAG_VALUE_LEN {
        return Err(bad_value(format!(
            "{} bytes long; tag values are limited to {MAX_TAG_VALUE_LEN} bytes",
            value.len()
        )));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(bad_value(format!("contains the control character {c:?}")));
    }
    Ok(())
}

/// Validates every tag and returns the pairs sorted by key.
pub(crate) fn sorted_tags<'t>(name: &str, tags: &'t impl Tags, max_tags: usize) -> Result<Vec<(&'t str, &'t str)>> {
    let count = tags.tag_count();
    if count > max_tags {
        return Err(MetricsError::TooManyTags {
            name: name.to_owned(),
            count,
            max: max_tags,
        });
    }
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(count);
    tags.for_each_tag(|k, v| pairs.push((k, v)));
    pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for w in pairs.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(MetricsError::DuplicateTagKey {
                name: name.to_owned(),
                key: w[0].0.to_owned(),
            });
        }
    }
    for (k, v) in &pairs {
        validate_tag(name, k, v)?;
    }
    Ok(pairs)
}

/// Checks histogram bucket bounds: non-empty, finite, strictly increasing.
pub(crate) fn validate_buckets(name: &str, buckets: &[f64]) -> Result<()> {
    let bad = |reason| MetricsError::InvalidBuckets {
        name: name.to_owned(),
        buckets: buckets.to_vec(),
        reason,
    };
    if buckets.is_empty() {
        return Err(bad("no bounds given"));
    }
    if buckets.iter().any(|b| !b.is_finite()) {
        return Err(bad("bounds must be finite (+Inf is implied)"));
    }
    if buckets.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad("bounds must be strictly increasing"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("job.duration_seconds").is_ok());
        assert!(matches!(validate_name(""), Err(MetricsError::EmptyName)));
        assert!(matches!(
            validate_name(&"x".repeat(256)),
            Err(MetricsError::NameTooLong { len: 256, .. })
        ));
        assert!(validate_name(&"x".repeat(255)).is_ok());
        let e = validate_name("a\nb").unwrap_err();
        assert!(e.to_string().contains("\"a\\nb\""), "{e}");
    }

    #[test]
    fn values() {
        assert!(validate_value("c", MetricType::Counter, 0.0).is_ok());
        assert!(matches!(
            validate_value("c", MetricType::Counter, -1.0),
            Err(MetricsError::NegativeCounterIncrement { .. })
        ));
        assert!(validate_value("g", MetricType::Gauge, -1.0).is_ok());
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(
                validate_value("g", MetricType::Gauge, v),
                Err(MetricsError::NonFiniteValue { .. })
            ));
        }
    }

    #[test]
    fn tags() {
        let ok: &[(&str, &str)] = &[("b", "x\ny"), ("a", "1")];
        assert_eq!(sorted_tags("m", &ok, 8).unwrap(), vec![("a", "1"), ("b", "x\ny")]);
        let dup: &[(&str, &str)] = &[("a", "1"), ("a", "2")];
        assert!(matches!(
            sorted_tags("m", &dup, 8),
            Err(MetricsError::DuplicateTagKey { .. })
        ));
        let empty: &[(&str, &str)] = &[("", "1")];
        assert!(matches!(
            sorted_tags("m", &empty, 8),
            Err(MetricsError::EmptyTagKey { .. })
        ));
        let many: Vec<(String, String)> = (0..9).map(|i| (i.to_string(), String::new())).collect();
        assert!(matches!(
            sorted_tags("m", &&many, 8),
            Err(MetricsError::TooManyTags { count: 9, max: 8, .. })
        ));
        let reserved: &[(&str, &str)] = &[("overflow", "true")];
        assert!(matches!(
            sorted_tags("m", &reserved, 8),
            Err(MetricsError::ReservedTagKey { .. })
        ));
        let nul: &[(&str, &str)] = &[("k", "a\0b")];
        assert!(matches!(
            sorted_tags("m", &nul, 8),
            Err(MetricsError::InvalidTagValue { .. })
        ));
        let long = "v".repeat(MAX_TAG_VALUE_LEN + 1);
        let long: &[(&str, &str)] = &[("k", &long)];
        assert!(matches!(
            sorted_tags("m", &long, 8),
            Err(MetricsError::InvalidTagValue { .. })
        ));
    }

    #[test]
    fn buckets() {
        assert!(validate_buckets("h", &[0.1, 1.0]).is_ok());
        assert!(validate_buckets("h", &[]).is_err());
        assert!(validate_buckets("h", &[1.0, 1.0]).is_err());
        assert!(validate_buckets("h", &[1.0, f64::INFINITY]).is_err());
    }
}
