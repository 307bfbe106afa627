//! `#[record_execution_time]` and `#[record_memory_usage]`: attribute macros
//! that instrument a function with `metrics-core` handles.
//!
//! Use them through `metrics-core`, which re-exports them (feature
//! `macros`, on by default):
//!
//! ```
//! use metrics_core::{record_execution_time, record_memory_usage};
//!
//! #[record_execution_time]
//! #[record_memory_usage(tags(kind = "csv"))]
//! fn load(rows: usize) -> Result<Vec<u64>, std::num::TryFromIntError> {
//!     (0..rows).map(u64::try_from).collect()
//! }
//! # assert_eq!(load(3).unwrap().len(), 3);
//! ```
//!
//! `docs/instrumentation.md` in the repository lists every supported shape of
//! function, the metrics and tags produced, and the limits. The parsing of
//! arguments lives in `attr`, the code generation in `expand`; for the
//! derives, `label_set` parses and `label_expand` generates.

#![forbid(unsafe_code)]

mod attr;
mod expand;
mod label_expand;
mod label_set;

use proc_macro::TokenStream;

use expand::Kind;

/// Records how long each call takes, in seconds, as a timer.
///
/// The metric is `<module_path>.<fn>.execution_time` (or `name = "..."`,
/// used as the whole metric name), tagged `function`, `module` and `outcome`
/// (`ok`, `error` for a returned `Err`, `panic`, `cancelled` for an
/// `async fn` future dropped before it finished), plus any
/// `tags(key = "value", ...)`. The handles are resolved once per call site;
/// a call then costs two clock reads and one timer update.
///
/// Every call is also kept as a timestamped sample with its tags (as
/// `record_metric` keeps one), bounded like every series by retention and
/// `max_samples_per_series`: `get_metric_series(name).values()` lists the
/// calls. `samples = false` opts a function out (aggregates only, a few ns
/// cheaper per call); a `SamplePolicy` chosen for the series with
/// `describe_metric` or `set_sample_policy` opts the series out (or in).
///
/// `objective(success = 99.9, latency = "250ms", percentile = 99)` declares
/// a service level objective on the function (either part alone is fine;
/// `percentile` defaults to 99): the first call records it in
/// `metrics_core::instrument::declared_objectives()`, and metrics-alerts'
/// `RuleSet::with_function_objectives` turns it into multi-window,
/// multi-burn-rate alerts and their recording rules over this timer
/// (`docs/alerting.md`). Percentages must lie strictly between 0 and 100 and
/// the latency be a positive `"250ms"`, `"1.5s"`, `"2m"` or `"1h"`; a latency
/// that is not a default bucket bound becomes one of the timer's buckets.
///
/// Works on sync and `async fn`, methods, generic functions, `unsafe fn`,
/// trait default methods and methods under `#[async_trait]` (with
/// `#[async_trait]` on the `impl` or trait and this attribute on the method).
/// `const fn` is rejected.
///
/// ```
/// use metrics_core::record_execution_time;
///
/// #[record_execution_time(name = "parse_seconds", tags(format = "decimal"))]
/// fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
///     s.trim().parse()
/// }
/// assert_eq!(parse(" 42 "), Ok(42));
/// let series = metrics_core::get_metrics_collector().get_metric_series("parse_seconds").unwrap();
/// assert_eq!(series.tag_sets().len(), 4); // ok, error, panic, cancelled
/// ```
#[proc_macro_attribute]
pub fn record_execution_time(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::ExecutionTime, args.into(), item.into()).into()
}

/// Records the heap memory each call uses, in bytes.
///
/// With `metrics_core::alloc::CountingAllocator` installed as the global
/// allocator: `<path>.memory_usage` (gauge: net change of live bytes),
/// `<path>.memory_peak` (histogram: the highest level above the level at
/// entry) and `<path>.memory_allocated` (histogram: every byte allocated),
/// tagged as by [`record_execution_time`] plus `source="allocator"`. `<path>`
/// is `<module_path>.<fn>`, or `name = "..."`. Counts are per thread, exact
/// for nested instrumented calls, and per task for `async fn`.
///
/// Without the counting allocator, only `<path>.memory_usage` is recorded,
/// as the process' resident-set change, tagged `source="rss"`.
///
/// As with [`record_execution_time`], every call is kept as a timestamped
/// sample of each of these series unless `samples = false` is given or a
/// series has a `SamplePolicy` chosen for it.
///
/// ```
/// use metrics_core::record_memory_usage;
///
/// #[record_memory_usage(name = "buffers.fill")]
/// fn fill(n: usize) -> Vec<u8> {
///     vec![1; n]
/// }
/// assert_eq!(fill(16).len(), 16);
/// assert!(metrics_core::get_metrics_collector().get_metric_series("buffers.fill.memory_usage").is_some());
/// ```
#[proc_macro_attribute]
pub fn record_memory_usage(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::MemoryUsage, args.into(), item.into()).into()
}

/// Derives `metrics_core::LabelSet` for a struct with named fields: each
/// field is one label, named after the field or `#[label(name = "...")]`.
/// Fields are enums deriving [`LabelValue`], `bool`, `u8`, `i8`, `u16`,
/// `i16`, `u32`, `i32`, `&str`, `String` or `Cow<str>`; at most 16.
///
/// ```
/// use metrics_core::{LabelSet, LabelValue, MetricsCollector};
///
/// #[derive(LabelValue)]
/// enum Status { Ok, NotFound }
///
/// #[derive(LabelSet)]
/// struct Labels { status: Status, #[label(name = "retry")] retried: bool }
///
/// let c = MetricsCollector::default();
/// let f = c.counter_family::<Labels>("responses")?;
/// f.increment(&Labels { status: Status::NotFound, retried: false }, 1)?;
/// let s = c.get_metric_series("responses").unwrap();
/// assert_eq!(s.tag_sets()[0].get("status"), Some("not_found"));
/// # Ok::<(), metrics_core::MetricsError>(())
/// ```
#[proc_macro_derive(LabelSet, attributes(label))]
pub fn derive_label_set(item: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(item as syn::DeriveInput);
    match label_set::parse_label_set(input) {
        Ok(parsed) => label_expand::expand_label_set(&parsed).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Derives `metrics_core::LabelValue` for an enum of unit variants: a label
/// with a fixed set of values, each the variant name in `snake_case` or
/// `#[label(name = "...")]`.
#[proc_macro_derive(LabelValue, attributes(label))]
pub fn derive_label_value(item: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(item as syn::DeriveInput);
    match label_set::parse_label_value(input) {
        Ok(parsed) => label_expand::expand_label_value(&parsed).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
