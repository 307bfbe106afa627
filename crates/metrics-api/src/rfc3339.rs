//! Times in JSON answers are RFC 3339 strings (as every JSON output of the
//! project writes them), whatever number a struct keeps them as.

use serde::Serializer;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `secs` (Unix seconds) as RFC 3339 text; the number itself when it is out
/// of range.
pub(crate) fn text_of(secs: f64) -> String {
    let nanos = (secs * 1e9).round();
    if !nanos.is_finite() {
        return secs.to_string();
    }
    // In range of i128 for any time `OffsetDateTime` can hold.
    #[allow(clippy::cast_possible_truncation)]
    let nanos = nanos as i128;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// Serializes Unix seconds as RFC 3339 text.
pub(crate) fn secs<S: Serializer>(secs: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&text_of(*secs))
}

/// Serializes optional Unix seconds as RFC 3339 text (or `null`).
#[allow(clippy::ref_option)]
pub(crate) fn opt_secs<S: Serializer>(secs: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match secs {
        Some(v) => s.serialize_str(&text_of(*v)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unix_seconds_become_rfc3339() {
        assert_eq!(super::text_of(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(super::text_of(1.5), "1970-01-01T00:00:01.5Z");
    }
}
