//! `#[record_execution_time]`: names, tags, outcomes and durations recorded
//! in the process-wide collector. Every test uses its own metric names
//! because tests run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use metrics_core::{MetricType, get_metrics_collector, record_execution_time};
use support::{YieldOnce, block_on, call_tags, count, histogram, poll_once};

const MODULE: &str = module_path!();

#[record_execution_time]
fn default_named() -> u8 {
    1
}

#[test]
fn default_name_is_module_path_dot_function() {
    assert_eq!(default_named(), 1);
    let name = format!("{MODULE}.default_named.execution_time");
    let series = get_metrics_collector().get_metric_series(&name).expect("series exists");
    assert_eq!(series.metric_type(), MetricType::Timer);
    assert_eq!(count(&name, &call_tags("default_named", MODULE, "ok")), 1);
    // One tag set per outcome, resolved once.
    assert_eq!(series.tag_sets().len(), 4);
}

#[record_execution_time(name = "exec.results", tags(layer = "parser", team = "core"))]
fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

#[test]
fn ok_and_error_outcomes_follow_the_returned_result() {
    assert_eq!(parse("1"), Ok(1));
    assert_eq!(parse("2"), Ok(2));
    assert!(parse("x").is_err());
    let tags = |outcome| {
        let mut t = call_tags("parse", MODULE, outcome);
        t.extend([("layer", "parser"), ("team", "core")]);
        t
    };
    assert_eq!(count("exec.results", &tags("ok")), 2);
    assert_eq!(count("exec.results", &tags("error")), 1);
    assert_eq!(count("exec.results", &tags("panic")), 0);
}

#[record_execution_time(name = "exec.io_result")]
fn io_result(fail: bool) -> std::io::Result<()> {
    if fail {
        Err(std::io::Error::other("nope"))?;
    }
    Ok(())
}

#[test]
fn aliased_results_and_question_mark_exits_are_errors() {
    io_result(true).unwrap_err();
    io_result(false).unwrap();
    assert_eq!(count("exec.io_result", &call_tags("io_result", MODULE, "error")), 1);
    assert_eq!(count("exec.io_result", &call_tags("io_result", MODULE, "ok")), 1);
}

#[record_execution_time(name = "exec.option")]
fn option(v: Option<u8>) -> Option<u8> {
    let v = v?;
    Some(v)
}

#[test]
fn non_result_return_types_are_always_ok() {
    assert_eq!(option(None), None);
    assert_eq!(option(Some(1)), Some(1));
    assert_eq!(count("exec.option", &call_tags("option", MODULE, "ok")), 2);
    assert_eq!(count("exec.option", &call_tags("option", MODULE, "error")), 0);
}

#[record_execution_time(name = "exec.panics")]
fn panics(n: u32) -> u32 {
    if n > 1 {
        panic!("too big: {n}");
    }
    n
}

#[test]
fn a_panic_is_recorded_and_continues() {
    let caught = catch_unwind(|| panics(5));
    let message = caught.unwrap_err();
    assert_eq!(message.downcast_ref::<String>().map(String::as_str), Some("too big: 5"));
    assert_eq!(panics(1), 1);
    assert_eq!(count("exec.panics", &call_tags("panics", MODULE, "panic")), 1);
    assert_eq!(count("exec.panics", &call_tags("panics", MODULE, "ok")), 1);
}

#[record_execution_time(name = "exec.sleep")]
fn sleep_20ms() {
    std::thread::sleep(Duration::from_millis(20));
}

#[test]
fn a_20ms_sleep_records_at_least_20ms_in_seconds() {
    sleep_20ms();
    let h = histogram("exec.sleep", &call_tags("sleep_20ms", MODULE, "ok")).unwrap();
    assert_eq!(h.count, 1);
    assert!(h.min >= 0.020, "recorded {} s", h.min);
    assert!(h.max < 60.0, "seconds, not milliseconds: {}", h.max);
}

#[record_execution_time(name = "exec.async")]
async fn async_parse(s: &str, yield_first: bool) -> Result<u32, std::num::ParseIntError> {
    if yield_first {
        YieldOnce::default().await;
    }
    if s == "panic" {
        panic!("asked to panic");
    }
    s.parse()
}

#[test]
fn async_outcomes_ok_error_panic_cancelled() {
    let tags = |o| call_tags("async_parse", MODULE, o);
    assert_eq!(block_on(async_parse("3", true)), Ok(3));
    assert!(block_on(async_parse("x", false)).is_err());

    let mut panicking = Box::pin(async_parse("panic", false));
    let caught = catch_unwind(AssertUnwindSafe(|| poll_once(panicking.as_mut())));
    assert!(caught.is_err());
    // Recorded while the panic unwound, not again when dropped.
    drop(panicking);

    {
        let mut cancelled = pin!(async_parse("4", true));
        assert!(matches!(poll_once(cancelled.as_mut()), Poll::Pending));
    }
    // Never polled: not a call yet, nothing recorded.
    drop(async_parse("5", true));

    assert_eq!(support::count("exec.async", &tags("ok")), 1);
    assert_eq!(count("exec.async", &tags("error")), 1);
    assert_eq!(count("exec.async", &tags("panic")), 1);
    assert_eq!(count("exec.async", &tags("cancelled")), 1);
}

#[record_execution_time(name = "exec.async_sleep")]
async fn async_sleep() {
    // Pending on the first poll; the clock keeps running between polls.
    YieldOnce::default().await;
    std::thread::sleep(Duration::from_millis(20));
}

#[test]
fn async_time_runs_from_first_poll_to_completion() {
    block_on(async_sleep());
    let h = histogram("exec.async_sleep", &call_tags("async_sleep", MODULE, "ok")).unwrap();
    assert!(h.min >= 0.020, "recorded {} s", h.min);
}

/// A renamed path to the core crate, as `crate = path` allows.
mod renamed {
    pub(crate) use metrics_core::*;
}

#[record_execution_time(crate = crate::renamed, name = "exec.crate_path")]
fn through_renamed_crate() -> u8 {
    9
}

#[test]
fn crate_argument_changes_the_path_to_the_core_crate() {
    assert_eq!(through_renamed_crate(), 9);
    assert_eq!(
        count("exec.crate_path", &call_tags("through_renamed_crate", MODULE, "ok")),
        1
    );
}

#[record_execution_time(name = "exec.clash")]
fn clashing() -> u32 {
    41 + 1
}

#[test]
fn a_name_taken_by_another_type_records_nothing_and_still_runs() {
    let counter = get_metrics_collector().counter("exec.clash", &[]).unwrap();
    counter.increment(1);
    assert_eq!(clashing(), 42);
    assert_eq!(clashing(), 42);
    let series = get_metrics_collector().get_metric_series("exec.clash").unwrap();
    assert_eq!(series.metric_type(), MetricType::Counter);
    assert_eq!(series.tag_sets().len(), 1);
    assert_eq!(counter.value(), 1);
}

struct Job {
    runs: u32,
}

impl Job {
    #[record_execution_time(name = "exec.method")]
    fn run(&mut self) -> &mut u32 {
        self.runs += 1;
        &mut self.runs
    }
}

#[test]
fn methods_record_under_the_method_name() {
    let mut job = Job { runs: 0 };
    *job.run() += 10;
    assert_eq!(job.runs, 11);
    assert_eq!(count("exec.method", &call_tags("run", MODULE, "ok")), 1);
}

#[async_trait::async_trait]
trait Fetch {
    async fn fetch(&self, fail: bool) -> Result<u8, String>;
}

struct Source;

// `#[async_trait]` goes on the impl; the attribute goes on the method and
// sees the boxed future async-trait produced, which it measures.
#[async_trait::async_trait]
impl Fetch for Source {
    #[record_execution_time(name = "exec.async_trait")]
    async fn fetch(&self, fail: bool) -> Result<u8, String> {
        YieldOnce::default().await;
        std::thread::sleep(Duration::from_millis(20));
        if fail { Err("failed".into()) } else { Ok(1) }
    }
}

#[test]
fn async_trait_methods_time_the_future_not_its_creation() {
    let fut = Source.fetch(false);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(block_on(fut), Ok(1));
    assert!(block_on(Source.fetch(true)).is_err());
    let h = histogram("exec.async_trait", &call_tags("fetch", MODULE, "ok")).unwrap();
    assert!(h.min >= 0.020, "recorded {} s", h.min);
    assert_eq!(count("exec.async_trait", &call_tags("fetch", MODULE, "error")), 1);
}

/// Stands in for `anyhow`: a `Result` alias reached through a path.
mod anyhow_like {
    pub(crate) type Result<T> = std::result::Result<T, String>;
}

#[record_execution_time(name = "exec.alias_path")]
fn through_alias(fail: bool) -> anyhow_like::Result<u8> {
    if fail {
        return Err("failed".into());
    }
    Ok(1)
}

#[test]
fn a_result_alias_behind_a_path_is_classified() {
    through_alias(true).unwrap_err();
    assert_eq!(
        count("exec.alias_path", &call_tags("through_alias", MODULE, "error")),
        1
    );
    assert_eq!(count("exec.alias_path", &call_tags("through_alias", MODULE, "ok")), 0);
}
