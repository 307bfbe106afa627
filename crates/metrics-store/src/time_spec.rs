//! The time arguments of queries: durations (`--since 7d`) and points in
//! time (`--until 2026-12-01T10:00:00Z`), for the CLI and the HTTP API.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parses `90s`, `15m`, `36h`, `7d`, `2w`, `500ms` or a sum such as `1h30m`.
///
/// ```
/// use metrics_store::time_spec::parse_duration;
/// assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
/// assert!(parse_duration("7 days").unwrap_err().contains("7 days"));
/// ```
///
/// # Errors
/// A message naming the text and the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (expected e.g. 90s, 15m, 36h, 7d, 2w, 1h30m)");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let n: f64 = number.parse().map_err(|_| bad())?;
        let scale = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = next;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// Parses a point in time: RFC 3339 (`2026-12-01T10:00:00Z`), Unix seconds,
/// `now`, or a duration meaning that long before `now` (`1h`).
///
/// # Errors
/// A message naming the text and the accepted forms.
pub fn parse_time(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(at) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(at);
    }
    if let Ok(secs) = t.parse::<i64>()
        && let Ok(at) = OffsetDateTime::from_unix_timestamp(secs)
    {
        return Ok(at);
    }
    if let Ok(ago) = parse_duration(t) {
        return now
            .checked_sub(time::Duration::try_from(ago).map_err(|e| e.to_string())?)
            .ok_or_else(|| format!("{text:?} reaches before the year -9999"));
    }
    Err(format!(
        "{text:?} is not a time (expected RFC 3339 such as 2026-12-01T10:00:00Z, Unix seconds, now, or a duration ago such as 1h)"
    ))
}

/// Nanoseconds since the Unix epoch, saturating.
pub fn unix_nanos(at: OffsetDateTime) -> i64 {
    crate::db::to_nanos(at)
}

/// The RFC 3339 text of `nanos` since the epoch.
pub fn format_nanos(nanos: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| nanos.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_parse_or_name_the_bad_text() {
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        for bad in ["", "7", "d", "7x", "-1h", "1e3s"] {
            assert!(parse_duration(bad).unwrap_err().contains(&format!("{bad:?}")), "{bad}");
        }
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(parse_time("1h", now).unwrap().unix_timestamp(), 1_800_000_000 - 3600);
        assert_eq!(parse_time("1700000000", now).unwrap().unix_timestamp(), 1_700_000_000);
        assert_eq!(
            parse_time("2026-12-01T10:00:00Z", now).unwrap().unix_timestamp(),
            1_796_119_200
        );
        assert!(parse_time("yesterday", now).unwrap_err().contains("\"yesterday\""));
    }
}
