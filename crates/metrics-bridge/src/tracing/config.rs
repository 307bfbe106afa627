//! What the tracing layer records, and under which names.

/// Placeholder in [`LayerConfig::span_metric_name`] for the span's target.
pub const TARGET_PLACEHOLDER: &str = "{target}";
/// Placeholder in [`LayerConfig::span_metric_name`] for the span's name.
pub const NAME_PLACEHOLDER: &str = "{name}";
/// The default timer name of a span.
pub const DEFAULT_SPAN_METRIC_NAME: &str = "{target}.{name}.duration";
/// The default tag telling a span's busy time from its total time.
pub const DEFAULT_TIME_TAG: &str = "time";

/// A [`LayerConfig`] value the layer cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerConfigError {
    /// The span timer name template has no `{name}`, so every span of a
    /// target would land in one timer.
    #[error(
        "span metric name template {template:?} has no {{name}} placeholder: spans of one target would share a timer; \
         use e.g. \"{{target}}.{{name}}.duration\""
    )]
    NoNamePlaceholder {
        /// The template given.
        template: String,
    },
    /// The time tag is empty, or also an allowed field (a span's field
    /// would then collide with the busy/total marker).
    #[error("time tag {tag:?} is empty or is also an allowed field; pick another key, e.g. \"time\"")]
    BadTimeTag {
        /// The tag given.
        tag: String,
    },
}

/// What [`MetricsLayer`](super::MetricsLayer) records.
///
/// ```
/// use metrics_bridge::LayerConfig;
/// let config = LayerConfig::default()
///     .with_span_metric_name("{target}.{name}.seconds")
///     .with_fields(["route", "tenant"]);
/// config.validate()?;
/// assert_eq!(config.metric_name("shop::api", "checkout"), "shop::api.checkout.seconds");
/// # Ok::<(), metrics_bridge::LayerConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerConfig {
    /// Timer name of a span: `{target}` and `{name}` are replaced by the
    /// span's target and name (default [`DEFAULT_SPAN_METRIC_NAME`]).
    pub span_metric_name: String,
    /// Span and event fields kept as tags (default none: span timers are
    /// untagged but for the time tag). Fields not listed are ignored, so an
    /// unbounded field such as a request id never becomes a tag unless
    /// listed; the collector's cardinality cap applies to what is.
    pub fields: Vec<String>,
    /// Tag whose value is `busy` (time inside the span: between enter and
    /// exit) or `total` (creation to close) (default [`DEFAULT_TIME_TAG`]).
    pub time_tag: String,
    /// Whether spans are timed at all (events are turned into updates either way).
    pub record_spans: bool,
    /// Whether events' `counter.`/`gauge.`/`histogram.` fields are recorded.
    pub record_events: bool,
    /// A span field holding a trace id (e.g. `trace_id`): when a span has
    /// it, its timer observations carry `{<field>="<value>"}` as their
    /// bucket's exemplar (OpenMetrics text). Default none. It need not be
    /// (and should not be) an allowed tag field.
    pub exemplar_field: Option<String>,
}

impl Default for LayerConfig {
    fn default() -> Self {
        LayerConfig {
            span_metric_name: DEFAULT_SPAN_METRIC_NAME.to_owned(),
            fields: Vec::new(),
            time_tag: DEFAULT_TIME_TAG.to_owned(),
            record_spans: true,
            record_events: true,
            exemplar_field: None,
        }
    }
}

impl LayerConfig {
    /// Sets the span field whose value becomes the exemplar of span timers.
    #[must_use = "builder methods return the configured value"]
    pub fn with_exemplar_field(mut self, field: impl Into<String>) -> Self {
        self.exemplar_field = Some(field.into());
        self
    }

    /// Sets the span timer name template.
    #[must_use = "builder methods return the configured value"]
    pub fn with_span_metric_name(mut self, template: impl Into<String>) -> Self {
        self.span_metric_name = template.into();
        self
    }

    /// Sets the allowed fields (replacing any set before).
    #[must_use = "builder methods return the configured value"]
    pub fn with_fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the busy/total tag key.
    #[must_use = "builder methods return the configured value"]
    pub fn with_time_tag(mut self, tag: impl Into<String>) -> Self {
        self.time_tag = tag.into();
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// A template without `{name}`, or a time tag that is empty or an allowed field.
    pub fn validate(&self) -> Result<(), LayerConfigError> {
        if !self.span_metric_name.contains(NAME_PLACEHOLDER) {
            return Err(LayerConfigError::NoNamePlaceholder {
                template: self.span_metric_name.clone(),
            });
        }
        if self.time_tag.is_empty() || self.is_allowed(&self.time_tag) {
            return Err(LayerConfigError::BadTimeTag {
                tag: self.time_tag.clone(),
            });
        }
        Ok(())
    }

    /// The timer name of a span with this target and name.
    pub fn metric_name(&self, target: &str, name: &str) -> String {
        self.span_metric_name
            .replace(TARGET_PLACEHOLDER, target)
            .replace(NAME_PLACEHOLDER, name)
    }

    /// Whether the field `name` is kept as a tag.
    pub fn is_allowed(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f == name)
    }
}
