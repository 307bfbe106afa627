//! Field visitors: allowed fields as tags, and an event's metric updates.

use std::fmt::{self, Write as _};

use tracing_core::field::{Field, Visit};

use super::config::LayerConfig;

/// Tags taken from allowed fields, in the order they were recorded; a
/// field recorded again (`span.record`) replaces its value.
pub(crate) type FieldTags = Vec<(&'static str, String)>;

/// Sets the allowed fields it visits in `tags`.
pub(crate) struct TagVisitor<'a> {
    pub(crate) config: &'a LayerConfig,
    pub(crate) tags: &'a mut FieldTags,
}

impl TagVisitor<'_> {
    fn set(&mut self, field: &Field, value: String) {
        let name = field.name();
        if !self.config.is_allowed(name) {
            return;
        }
        match self.tags.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.tags.push((name, value)),
        }
    }
}

impl Visit for TagVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.config.is_allowed(field.name()) {
            return;
        }
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.set(field, text);
    }
}

/// Keeps the value of the one field named `name` (the exemplar field).
pub(crate) struct FieldValue<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: &'a mut Option<String>,
}

impl Visit for FieldValue<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.name {
            *self.value = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == self.name {
            let mut text = String::new();
            let _ = write!(text, "{value:?}");
            *self.value = Some(text);
        }
    }
}

/// A metric update requested by an event field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldUpdate {
    /// `counter.NAME = n`: add n (whole, non-negative).
    Count(u64),
    /// `counter.NAME = x`: add a fractional x (kept as a sample too).
    CountFraction(f64),
    /// `gauge.NAME = x`: set.
    Gauge(f64),
    /// `histogram.NAME = x`: observe.
    Observe(f64),
    /// A prefixed field whose value cannot be a metric value; the text names it.
    Invalid(String),
}

/// Collects an event's updates (prefixed fields) and its allowed fields.
pub(crate) struct EventVisitor<'a> {
    pub(crate) config: &'a LayerConfig,
    pub(crate) updates: Vec<(&'static str, FieldUpdate)>,
    pub(crate) tags: FieldTags,
}

/// The metric kinds an event field name can start with.
#[derive(Clone, Copy)]
enum Prefix {
    Counter,
    Gauge,
    Histogram,
}

fn split_prefix(name: &'static str) -> Option<(Prefix, &'static str)> {
    let (prefix, rest) = name.split_once('.')?;
    let prefix = match prefix {
        "counter" => Prefix::Counter,
        "gauge" => Prefix::Gauge,
        "histogram" => Prefix::Histogram,
        _ => return None,
    };
    Some((prefix, rest))
}

impl<'a> EventVisitor<'a> {
    pub(crate) fn new(config: &'a LayerConfig) -> Self {
        EventVisitor {
            config,
            updates: Vec::new(),
            tags: Vec::new(),
        }
    }

    fn number(&mut self, field: &Field, value: f64, whole: Option<u64>) -> bool {
        let Some((prefix, metric)) = split_prefix(field.name()) else {
            return false;
        };
        let update = match prefix {
            Prefix::Counter => match whole {
                Some(n) => FieldUpdate::Count(n),
                None if value.is_finite() && value >= 0.0 => FieldUpdate::CountFraction(value),
                None => FieldUpdate::Invalid(format!(
                    "counter field {:?} = {value}: a counter only goes up by a finite non-negative amount",
                    field.name()
                )),
            },
            Prefix::Gauge => FieldUpdate::Gauge(value),
            Prefix::Histogram => FieldUpdate::Observe(value),
        };
        self.updates.push((metric, update));
        true
    }

    fn tag(&mut self, field: &Field, value: String) {
        let mut tags = std::mem::take(&mut self.tags);
        TagVisitor {
            config: self.config,
            tags: &mut tags,
        }
        .set(field, value);
        self.tags = tags;
    }
}

impl Visit for EventVisitor<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if !self.number(field, value as f64, Some(value)) {
            self.tag(field, value.to_string());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !self.number(field, value as f64, u64::try_from(value).ok()) {
            self.tag(field, value.to_string());
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if !self.number(field, value, None) {
            self.tag(field, value.to_string());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some((_, metric)) = split_prefix(field.name()) {
            self.updates.push((
                metric,
                FieldUpdate::Invalid(format!("field {:?} = {value:?} is not a number", field.name())),
            ));
        } else {
            self.tag(field, value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        if split_prefix(field.name()).is_none() && !self.config.is_allowed(field.name()) {
            return;
        }
        let _ = write!(text, "{value:?}");
        self.record_str(field, &text);
    }
}
