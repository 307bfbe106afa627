//! Durations as rules files and expressions write them: `250ms`, `30s`,
//! `5m`, `1h`, `3d`, or several joined (`1h30m`), like Prometheus.

use std::time::Duration;

/// Parses `250ms`, `30s`, `5m`, `1h`, `3d`, `1w` and sums (`1h30m`).
/// `None` for anything else, zero-length units, or an overflow.
///
/// ```
/// use metrics_alerts::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
/// assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_duration("5"), None);
/// ```
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let millis_per = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(n.checked_mul(millis_per)?)?;
    }
    Some(Duration::from_millis(total))
}

/// Writes a duration the way Prometheus reads it back (`5m`, `1h30m`,
/// `250ms`; `0s` for zero).
///
/// ```
/// use metrics_alerts::format_duration;
/// use std::time::Duration;
/// assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
/// assert_eq!(format_duration(Duration::from_secs(3 * 86_400)), "3d");
/// ```
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= per {
            out.push_str(&format!("{}{unit}", ms / per));
            ms %= per;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        for text in ["5m", "1h", "3d", "250ms", "1h30m", "10s", "2d6h"] {
            let d = parse_duration(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(format_duration(d), text);
        }
        for bad in ["", "m", "5", "5x", "1.5s", "-1s", "99999999999999999999s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
