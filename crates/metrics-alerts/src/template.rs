//! Annotation templates: `{{ $value }}` and `{{ $labels.TAG }}`, the two
//! Prometheus template forms, so an exported rule renders the same text.

use std::collections::BTreeMap;

/// A template that does not parse: the offending `{{ ... }}` and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError {
    /// Byte offset of the placeholder in the template.
    pub(crate) at: usize,
    /// The placeholder as written.
    pub(crate) token: String,
}

enum Piece<'a> {
    Text(&'a str),
    Value,
    Label(&'a str),
}

fn pieces(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        out.push(Piece::Text(&rest[..open]));
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(TemplateError {
                at: offset + open,
                token: rest[open..].to_owned(),
            });
        };
        let inner = after[..close].trim();
        let piece = if inner == "$value" {
            Piece::Value
        } else if let Some(label) = inner.strip_prefix("$labels.")
            && !label.is_empty()
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            Piece::Label(label)
        } else {
            return Err(TemplateError {
                at: offset + open,
                token: rest[open..open + 4 + close].to_owned(),
            });
        };
        out.push(piece);
        let consumed = open + 4 + close;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// Checks that every placeholder is `{{ $value }}` or `{{ $labels.TAG }}`.
pub(crate) fn check(template: &str) -> Result<(), TemplateError> {
    pieces(template).map(|_| ())
}

/// Fills in `value` and `labels` (a missing label renders as nothing, as
/// in Prometheus). A template that does not parse is returned as is.
pub fn render(template: &str, value: f64, labels: &BTreeMap<String, String>) -> String {
    let Ok(pieces) = pieces(template) else {
        return template.to_owned();
    };
    let mut out = String::with_capacity(template.len());
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Value => out.push_str(&format_value(value)),
            Piece::Label(l) => out.push_str(labels.get(l).map_or("", String::as_str)),
        }
    }
    out
}

/// A value as Prometheus prints `$value`: shortest round-trip form, `+Inf`, `NaN`.
pub(crate) fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_value_and_labels() {
        let labels = BTreeMap::from([("route".to_owned(), "/api".to_owned())]);
        assert_eq!(
            render(
                "{{ $value }} errors/s on {{$labels.route}}{{ $labels.nope }}",
                0.5,
                &labels
            ),
            "0.5 errors/s on /api"
        );
        assert_eq!(
            check("{{ $value | humanize }}").unwrap_err().token,
            "{{ $value | humanize }}"
        );
        assert_eq!(check("x {{ $value").unwrap_err().at, 2);
    }
}
