//! The attribute arguments: `name = "..."`, `tags(key = "value", ...)`,
//! `samples = true|false`, `objective(success = .., latency = "..",
//! percentile = ..)` and `crate = path`. Parsing only; nothing here
//! generates code.
//!
//! Everything the store would reject at run time (an empty name, a control
//! character, a reserved or duplicate tag key, too many tags) is rejected
//! here, at the tokens that caused it, so an instrumented call site can never
//! fail to resolve its handles because of its own arguments.

use std::collections::HashSet;

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, ExprLit, Ident, Lit, LitBool, LitStr, Path, Token};

// A proc-macro crate cannot depend on metrics-core (which re-exports it), so
// the store's limits are restated here; the tests below check each one
// against `metrics_core` itself.

/// Tag keys the macros set themselves (and the store's overflow marker,
/// `metrics_core::OVERFLOW_TAG_KEY`).
pub(crate) const RESERVED_TAG_KEYS: [&str; 5] = ["function", "module", "outcome", "source", "overflow"];
/// metrics-core's default `max_tags_per_sample` minus the four tags the
/// macros add.
pub(crate) const MAX_USER_TAGS: usize = 12;
/// `metrics_core::MAX_NAME_LEN`.
const MAX_NAME_LEN: usize = 255;
/// Leaves room for the longest suffix the macros append (`.memory_allocated`).
const MAX_PREFIX_LEN: usize = MAX_NAME_LEN - ".memory_allocated".len();
/// `metrics_core::MAX_TAG_KEY_LEN`.
const MAX_TAG_KEY_LEN: usize = 255;
/// `metrics_core::MAX_TAG_VALUE_LEN`.
const MAX_TAG_VALUE_LEN: usize = 1024;

/// One `key = "value"` of `tags(...)`, with the spans of the user's tokens.
pub(crate) struct Tag {
    pub(crate) key: String,
    pub(crate) value: LitStr,
}

/// `objective(success = 99.9, latency = "250ms", percentile = 99)`.
pub(crate) struct Objective {
    /// The `objective` keyword, for errors about the whole objective.
    pub(crate) span: Span,
    /// Percent of calls that must succeed.
    pub(crate) success: Option<f64>,
    /// The latency bound, in seconds.
    pub(crate) latency_seconds: Option<f64>,
    /// Percent of calls that must meet the latency (99 unless given).
    pub(crate) percentile: Option<f64>,
}

/// The parsed arguments of either attribute.
#[derive(Default)]
pub(crate) struct Args {
    /// `objective(...)` (`#[record_execution_time]` only).
    pub(crate) objective: Option<Objective>,
    /// `name = "..."`.
    pub(crate) name: Option<LitStr>,
    /// `tags(...)`, in the order written.
    pub(crate) tags: Vec<Tag>,
    /// `crate = path`.
    pub(crate) krate: Option<Path>,
    /// `samples = false`: aggregates only, no timestamped sample per call.
    pub(crate) samples: Option<LitBool>,
}

/// Collects every semantic error so that one build shows them all.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let mut errors = Errors::default();
        let mut seen: HashSet<String> = HashSet::new();
        while !input.is_empty() {
            let key = input.call(Ident::parse_any)?;
            let key_name = key.unraw().to_string();
            if !seen.insert(key_name.clone()) {
                errors.push(syn::Error::new(
                    key.span(),
                    format!("`{key_name}` is given twice; keep one"),
                ));
            }
            match key_name.as_str() {
                "name" => {
                    input.parse::<Token![=]>()?;
                    let value: Expr = input.parse()?;
                    match string_literal(&value, "the metric name") {
                        Ok(lit) => match check_name(&lit) {
                            Ok(()) => args.name = Some(lit),
                            Err(e) => errors.push(e),
                        },
                        Err(e) => errors.push(e),
                    }
                }
                "tags" => {
                    let content;
                    syn::parenthesized!(content in input);
                    parse_tags(&content, &mut args.tags, &mut errors)?;
                }
                "crate" => {
                    input.parse::<Token![=]>()?;
                    args.krate = Some(input.call(Path::parse_mod_style)?);
                }
                "objective" => {
                    let content;
                    syn::parenthesized!(content in input);
                    args.objective = parse_objective(&content, key.span(), &mut errors)?;
                }
                "samples" => {
                    input.parse::<Token![=]>()?;
                    let value: Expr = input.parse()?;
                    match value {
                        Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => args.samples = Some(b),
                        other => errors.push(syn::Error::new_spanned(
                            other,
                            "`samples` takes `true` (keep every call as a timestamped sample, the default) or `false` (aggregates only)",
                        )),
                    }
                }
                _ => {
                    errors.push(syn::Error::new(
                        key.span(),
                        format!("unknown argument `{key_name}`; expected `name = \"...\"`, `tags(key = \"value\", ...)`, `samples = false`, `objective(...)` or `crate = path`"),
                    ));
                    skip_value(input)?;
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        errors.finish(args)
    }
}

/// Steps over the `= value` or `(...)` of an unknown argument, so that the
/// arguments after it are still checked.
fn skip_value(input: ParseStream<'_>) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        input.parse::<Expr>()?;
    } else if input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in input);
    }
    Ok(())
}

/// The inside of `objective(...)`; `None` (with the errors pushed) when it
/// is not a usable objective.
fn parse_objective(input: ParseStream<'_>, span: Span, errors: &mut Errors) -> syn::Result<Option<Objective>> {
    let mut objective = Objective {
        span,
        success: None,
        latency_seconds: None,
        percentile: None,
    };
    let mut ok = true;
    let mut seen: HashSet<String> = HashSet::new();
    let mut percentile_span = None;
    while !input.is_empty() {
        let key = input.call(Ident::parse_any)?;
        let name = key.unraw().to_string();
        input.parse::<Token![=]>()?;
        let value: Expr = input.parse()?;
        if !seen.insert(name.clone()) {
            errors.push(syn::Error::new(
                key.span(),
                format!("`{name}` is given twice; keep one"),
            ));
            ok = false;
        }
        let parsed = match name.as_str() {
            "success" => percent(&value, "success").map(|v| objective.success = Some(v)),
            "percentile" => {
                percentile_span = Some(key.span());
                percent(&value, "percentile").map(|v| objective.percentile = Some(v))
            }
            "latency" => string_literal(&value, "the latency")
                .and_then(|lit| latency(&lit))
                .map(|v| objective.latency_seconds = Some(v)),
            _ => Err(syn::Error::new(
                key.span(),
                format!(
                    "unknown objective `{name}`; expected `success = 99.9`, `latency = \"250ms\"` or `percentile = 99`"
                ),
            )),
        };
        if let Err(e) = parsed {
            errors.push(e);
            ok = false;
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    if ok && objective.success.is_none() && objective.latency_seconds.is_none() {
        errors.push(syn::Error::new(
            span,
            "an objective needs `success = 99.9` (percent of calls that end `ok`), `latency = \"250ms\"`, or both",
        ));
        ok = false;
    }
    if let (Some(at), false) = (percentile_span, seen.contains("latency")) {
        errors.push(syn::Error::new(
            at,
            "`percentile` is the share of calls that must meet `latency`; give `latency = \"...\"` too",
        ));
        ok = false;
    }
    Ok(ok.then_some(objective))
}

/// A percentage strictly between 0 and 100, written as a number literal.
fn percent(value: &Expr, what: &str) -> syn::Result<f64> {
    let parsed = match value {
        Expr::Lit(ExprLit { lit: Lit::Float(f), .. }) => f.base10_parse::<f64>().ok(),
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => i.base10_parse::<f64>().ok(),
        _ => None,
    };
    match parsed {
        Some(v) if v > 0.0 && v < 100.0 => Ok(v),
        Some(v) => Err(syn::Error::new_spanned(
            value,
            format!("`{what}` is a percentage above 0 and below 100, such as 99.9; {v} is not"),
        )),
        None => Err(syn::Error::new_spanned(
            value,
            format!("`{what}` takes a number literal, a percentage such as 99.9"),
        )),
    }
}

/// `"250ms"`, `"1.5s"`, `"2m"`, `"1h"`: a positive duration, in seconds.
fn latency(lit: &LitStr) -> syn::Result<f64> {
    let text = lit.value();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => Some(0.001),
        "s" => Some(1.0),
        "m" => Some(60.0),
        "h" => Some(3600.0),
        _ => None,
    };
    match (number.parse::<f64>(), scale) {
        (Ok(n), Some(scale)) if n > 0.0 && n.is_finite() => Ok(n * scale),
        _ => Err(syn::Error::new(
            lit.span(),
            format!("the latency {text:?} is not a positive duration such as \"250ms\", \"1.5s\", \"2m\" or \"1h\""),
        )),
    }
}

fn parse_tags(input: ParseStream<'_>, tags: &mut Vec<Tag>, errors: &mut Errors) -> syn::Result<()> {
    while !input.is_empty() {
        let (key, key_span) = if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            (lit.value(), lit.span())
        } else {
            let ident = input.call(Ident::parse_any)?;
            (ident.unraw().to_string(), ident.span())
        };
        input.parse::<Token![=]>()?;
        let value: Expr = input.parse()?;
        let mut ok = true;
        if let Err(e) = check_tag_key(&key, key_span, tags) {
            errors.push(e);
            ok = false;
        }
        match string_literal(&value, "a tag value") {
            Ok(lit) => {
                if let Err(e) = check_tag_value(&lit) {
                    errors.push(e);
                } else if ok {
                    if tags.len() == MAX_USER_TAGS {
                        errors.push(syn::Error::new(
                            key_span,
                            format!("too many tags: at most {MAX_USER_TAGS} fit beside `function`, `module`, `outcome` and `source`"),
                        ));
                    }
                    tags.push(Tag { key, value: lit });
                }
            }
            Err(e) => errors.push(e),
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}

/// The string literal `value` is, or an error at its tokens.
fn string_literal(value: &Expr, what: &str) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Str(lit), .. }) => Ok(lit.clone()),
        Expr::Lit(ExprLit { lit, .. }) => Err(syn::Error::new(
            lit.span(),
            format!(
                "{what} must be a string literal; write it in quotes: \"{}\"",
                quote::ToTokens::to_token_stream(lit)
            ),
        )),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "{what} must be a string literal, not an expression: tags and names are fixed at compile time so that a call site's series cannot grow"
            ),
        )),
    }
}

fn check_name(lit: &LitStr) -> syn::Result<()> {
    let name = lit.value();
    if name.is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            "the metric name is empty; give a name such as \"jobs.run\"",
        ));
    }
    if name.len() > MAX_PREFIX_LEN {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "the metric name is {} bytes long; at most {MAX_PREFIX_LEN} fit with the suffixes the macros add",
                name.len()
            ),
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(syn::Error::new(
            lit.span(),
            format!("the metric name contains the control character {c:?}"),
        ));
    }
    Ok(())
}

fn check_tag_key(key: &str, span: Span, earlier: &[Tag]) -> syn::Result<()> {
    if key.is_empty() {
        return Err(syn::Error::new(span, "the tag key is empty"));
    }
    if RESERVED_TAG_KEYS.contains(&key) {
        return Err(syn::Error::new(
            span,
            format!(
                "the tag key `{key}` is reserved: the macros set `function`, `module`, `outcome` and `source`, and `overflow` marks the store's overflow series"
            ),
        ));
    }
    if earlier.iter().any(|t| t.key == key) {
        return Err(syn::Error::new(
            span,
            format!("duplicate tag key `{key}`; each key may appear once"),
        ));
    }
    if key.len() > MAX_TAG_KEY_LEN {
        return Err(syn::Error::new(
            span,
            format!("the tag key is longer than {MAX_TAG_KEY_LEN} bytes"),
        ));
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return Err(syn::Error::new(
            span,
            format!("the tag key contains the control character {c:?}"),
        ));
    }
    Ok(())
}

fn check_tag_value(lit: &LitStr) -> syn::Result<()> {
    let value = lit.value();
    if value.len() > MAX_TAG_VALUE_LEN {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "the tag value is {} bytes long; at most {MAX_TAG_VALUE_LEN}",
                value.len()
            ),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(syn::Error::new(
            lit.span(),
            format!("the tag value contains the control character {c:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_are_metrics_cores() {
        assert_eq!(MAX_NAME_LEN, metrics_core::MAX_NAME_LEN);
        assert_eq!(MAX_TAG_KEY_LEN, metrics_core::MAX_TAG_KEY_LEN);
        assert_eq!(MAX_TAG_VALUE_LEN, metrics_core::MAX_TAG_VALUE_LEN);
        assert!(RESERVED_TAG_KEYS.contains(&metrics_core::OVERFLOW_TAG_KEY));
        let added_by_the_macros = RESERVED_TAG_KEYS.len() - 1;
        assert_eq!(
            MAX_USER_TAGS + added_by_the_macros,
            metrics_core::MetricsConfig::default().max_tags_per_sample
        );
    }

    #[test]
    fn the_longest_accepted_prefix_makes_names_the_store_accepts() {
        let prefix = "p".repeat(MAX_PREFIX_LEN);
        for suffix in ["", ".memory_usage", ".memory_peak", ".memory_allocated"] {
            let name = format!("{prefix}{suffix}");
            assert!(metrics_core::validate_name(&name).is_ok(), "{} bytes", name.len());
        }
        let one_more = format!("{prefix}p.memory_allocated");
        assert!(metrics_core::validate_name(&one_more).is_err());
    }
}
