//! Parsing the series query string: `tag=k=v` (repeatable),
//! `since_seconds=N`, `limit=N`.

use metrics_core::TagFilter;

use crate::ApiError;
use crate::error::quoted;

/// Longest accepted query string, in bytes.
pub(crate) const MAX_QUERY: usize = 4096;
/// Samples returned when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: usize = 1_000;
/// Largest accepted `limit`.
pub(crate) const MAX_LIMIT: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesQuery {
    pub(crate) tags: TagFilter,
    pub(crate) since_seconds: Option<f64>,
    pub(crate) limit: usize,
}

fn bad(param: &str, problem: String) -> ApiError {
    ApiError::BadParameter {
        param: param.to_owned(),
        problem,
    }
}

pub(crate) fn parse(raw: Option<&str>, allow_limit: bool) -> Result<SeriesQuery, ApiError> {
    let raw = raw.unwrap_or("");
    if raw.len() > MAX_QUERY {
        return Err(ApiError::QueryTooLong(raw.len()));
    }
    let mut q = SeriesQuery {
        tags: TagFilter::new(),
        since_seconds: None,
        limit: DEFAULT_LIMIT,
    };
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        match key.as_ref() {
            "tag" => {
                let Some((k, v)) = split_tag(&value) else {
                    return Err(bad(
                        "tag",
                        format!("{} is not of the form key=value (or key:value)", quoted(&value)),
                    ));
                };
                if k.is_empty() {
                    return Err(bad("tag", format!("{} has an empty key", quoted(&value))));
                }
                q.tags = std::mem::take(&mut q.tags).with(k, v);
            }
            "since_seconds" => {
                let n: f64 = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("since_seconds", format!("{} is not a number", quoted(&value))))?;
                if !n.is_finite() || n < 0.0 {
                    return Err(bad("since_seconds", format!("{} must be a number ≥ 0", quoted(&value))));
                }
                q.since_seconds = Some(n);
            }
            "limit" if allow_limit => {
                let n: usize = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("limit", format!("{} is not a whole number", quoted(&value))))?;
                if n == 0 || n > MAX_LIMIT {
                    return Err(bad(
                        "limit",
                        format!("{} must be between 1 and {MAX_LIMIT}", quoted(&value)),
                    ));
                }
                q.limit = n;
            }
            other => {
                let expected = if allow_limit {
                    "tag, since_seconds or limit"
                } else {
                    "tag or since_seconds"
                };
                return Err(bad(other, format!("unknown parameter; expected {expected}")));
            }
        }
    }
    Ok(q)
}

/// A `tag` parameter's key and value: `key=value` or `key:value`, split at
/// whichever separator comes first (tag keys hold neither, so a value may:
/// `url=http://x`). Both servers take both forms: the CLI's `--tag` writes
/// `key=value`, and `key:value` needs no escaping in a URL.
pub(crate) fn split_tag(text: &str) -> Option<(&str, &str)> {
    let at = text.find(['=', ':'])?;
    Some((&text[..at], &text[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_parameter() {
        let q = parse(Some("tag=status%3Dok&tag=queue=a&since_seconds=60&limit=5"), true).unwrap();
        assert_eq!(q.tags, TagFilter::new().with("status", "ok").with("queue", "a"));
        assert_eq!(q.since_seconds, Some(60.0));
        assert_eq!(q.limit, 5);
        assert_eq!(parse(None, true).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn errors_name_the_parameter_and_value() {
        for (raw, param) in [
            ("tag=novalue", "tag"),
            ("tag==x", "tag"),
            ("tag=:x", "tag"),
            ("since_seconds=abc", "since_seconds"),
            ("since_seconds=-1", "since_seconds"),
            ("limit=0", "limit"),
            ("limit=1000001", "limit"),
            ("limit=x", "limit"),
            ("colour=red", "colour"),
        ] {
            match parse(Some(raw), true) {
                Err(ApiError::BadParameter { param: p, problem }) => {
                    assert_eq!(p, param, "{raw}");
                    assert!(problem.contains('"') || p == "colour", "{raw}: {problem}");
                }
                other => panic!("{raw}: {other:?}"),
            }
        }
        assert!(matches!(
            parse(Some("limit=5"), false),
            Err(ApiError::BadParameter { .. })
        ));
        assert!(matches!(
            parse(Some(&"a".repeat(5000)), true),
            Err(ApiError::QueryTooLong(5000))
        ));
    }
}
