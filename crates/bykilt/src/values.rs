//! Parsers for argument values: durations and tags.

use std::time::Duration;

/// Parses `500ms`, `30s`, `1.5m`, `2h`, `1d`, or a bare number of seconds.
///
/// # Errors
/// A message naming the value, for clap to show.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?}; use ms, s, m, h or d (e.g. 30s, 1h)"
            ));
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write a number and a unit, e.g. 30s, 15m, 1h"))?;
    Duration::try_from_secs_f64(n * scale).map_err(|_| format!("{s:?} is out of range"))
}

/// Parses a duration as [`parse_duration`] does and refuses zero (a zero
/// timeout would fire at once: a job killed at start, a connection closed
/// before its first byte).
///
/// # Errors
/// A message naming the value.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("{s:?}: must be greater than zero")),
        d => Ok(d),
    }
}

/// Accepts a bearer token for the HTTP server: an empty one (say an empty
/// `BYKILT_METRICS_TOKEN`) would turn authentication off, so it is refused.
///
/// # Errors
/// A message saying what is wrong and where the value came from.
pub fn parse_token(s: &str) -> Result<String, String> {
    metrics_api::check_token(s)
        .map(|()| s.to_owned())
        .map_err(|e| format!("{e} (the token comes from --token or BYKILT_METRICS_TOKEN)"))
}

/// A shell command that is not empty or only blanks.
///
/// # Errors
/// A message saying the command is empty.
pub fn parse_exec(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("the command is empty; give the shell command to run for each row".to_owned());
    }
    Ok(s.to_owned())
}

/// Parses `auto`, `tab`, or one ASCII character as a CSV delimiter.
///
/// # Errors
/// A message naming the value.
pub fn parse_delimiter(s: &str) -> Result<batch_engine::Delimiter, String> {
    match s {
        "auto" => Ok(batch_engine::Delimiter::Auto),
        "tab" | "\\t" | "\t" => Ok(batch_engine::Delimiter::Fixed(b'\t')),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => {
            Ok(batch_engine::Delimiter::Fixed(s.as_bytes()[0]))
        }
        _ => Err(format!(
            "{s:?} is not a delimiter; use auto, tab, or one ASCII character other than a quote or newline"
        )),
    }
}

/// Parses a size in bytes: `1048576`, `512K`, `300M`, `2G` (powers of 1024).
///
/// # Errors
/// A message naming the value.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, scale) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{s:?} is not a size; write a number of bytes, optionally with K, M or G (e.g. 300M)"))
}

/// Parses `key=value` (the value may contain `=`; the key may not be empty).
///
/// # Errors
/// A message naming the value.
pub fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not a tag; write key=value, e.g. status=completed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "h", "1y", "-1s", "1e400s", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_timeout("0s").unwrap_err().contains("\"0s\""));
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn tokens() {
        assert_eq!(parse_token("s3cret"), Ok("s3cret".into()));
        let err = parse_token("").unwrap_err();
        assert!(err.contains("empty") && err.contains("BYKILT_METRICS_TOKEN"), "{err}");
        assert!(parse_token("a b").is_err());
    }

    #[test]
    fn sizes_delimiters_and_commands() {
        assert_eq!(parse_size("300M"), Ok(300 << 20));
        assert_eq!(parse_size("17"), Ok(17));
        assert!(parse_size("1T").is_err() && parse_size("").is_err());
        // `--log-limit`'s default, written "1M" in the flag, is the engine's.
        assert_eq!(parse_size("1M"), Ok(batch_engine::DEFAULT_LOG_LIMIT));
        assert_eq!(parse_delimiter("|"), Ok(batch_engine::Delimiter::Fixed(b'|')));
        assert_eq!(parse_delimiter("tab"), Ok(batch_engine::Delimiter::Fixed(b'\t')));
        assert!(parse_delimiter("\"").is_err() && parse_delimiter("ab").is_err());
        assert!(parse_exec(" ").is_err());
    }

    #[test]
    fn tags() {
        assert_eq!(parse_tag("status=completed"), Ok(("status".into(), "completed".into())));
        assert_eq!(parse_tag("k=a=b"), Ok(("k".into(), "a=b".into())));
        assert!(parse_tag("=x").is_err());
        assert!(parse_tag("novalue").is_err());
    }
}
