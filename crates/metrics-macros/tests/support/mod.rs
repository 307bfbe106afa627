//! Helpers shared by the behaviour tests: a tiny executor, a future that
//! yields once, and readers for the aggregates the macros record.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use metrics_core::{AggregateValue, HistogramSnapshot, get_metrics_collector};

/// Polls `fut` to completion on this thread.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Polls `fut` once.
pub(crate) fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls two futures alternately on this thread until both finish, so that
/// their polls interleave.
pub(crate) fn interleave<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut out_a, mut out_b) = (None, None);
    while out_a.is_none() || out_b.is_none() {
        if out_a.is_none()
            && let Poll::Ready(v) = poll_once(a.as_mut())
        {
            out_a = Some(v);
        }
        if out_b.is_none()
            && let Poll::Ready(v) = poll_once(b.as_mut())
        {
            out_b = Some(v);
        }
    }
    (out_a.unwrap(), out_b.unwrap())
}

/// A future that is pending once, then ready.
#[derive(Default)]
pub(crate) struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

/// The tags every instrumented call of `function` in `module` carries.
pub(crate) fn call_tags<'a>(function: &'a str, module: &'a str, outcome: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("function", function), ("module", module), ("outcome", outcome)]
}

/// The histogram aggregate of `name` with exactly `tags`.
pub(crate) fn histogram(name: &str, tags: &[(&str, &str)]) -> Option<HistogramSnapshot> {
    let series = get_metrics_collector().get_metric_series(name)?;
    match series.aggregate(tags)? {
        AggregateValue::Histogram(h) => Some(h),
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

/// How many observations `name` has with exactly `tags` (0 when none).
pub(crate) fn count(name: &str, tags: &[(&str, &str)]) -> u64 {
    histogram(name, tags).map_or(0, |h| h.count)
}

/// The gauge value of `name` with exactly `tags`.
pub(crate) fn gauge(name: &str, tags: &[(&str, &str)]) -> Option<f64> {
    let series = get_metrics_collector().get_metric_series(name)?;
    match series.aggregate(tags)? {
        AggregateValue::Gauge { value } => Some(value),
        other => panic!("{name} is not a gauge: {other:?}"),
    }
}
