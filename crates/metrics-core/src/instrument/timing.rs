//! `#[record_execution_time]`: one timer handle per outcome, a guard for
//! synchronous calls and a poll wrapper for futures.

use crate::clock::Stopwatch;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use super::{Classify, Outcome, call_tags};
use crate::alloc;
use crate::{MetricsCollector, Result, SamplePolicy, Timer, get_metrics_collector};

/// The timers of one instrumented function: the same name and tags, one
/// handle per [`Outcome`].
///
/// With [`SamplePolicy::EveryEvent`] (the macros' default) every call is
/// also kept as a timestamped sample with its tags, bounded like every
/// series by retention and `max_samples_per_series`; the series keeps a
/// policy chosen for it with
/// [`MetricSeries::set_sample_policy`](crate::MetricSeries::set_sample_policy)
/// or `describe_metric`. With [`SamplePolicy::AggregateOnly`]
/// (`#[record_execution_time(samples = false)]`) calls update the
/// aggregate only.
#[derive(Debug)]
pub struct ExecutionTimers {
    by_outcome: [Timer; 4],
    keep_samples: bool,
}

impl ExecutionTimers {
    /// Resolves the four handles of `name` in `collector`, tagged
    /// `function`, `module`, `outcome` and `tags`; every call is kept as a
    /// sample ([`resolve_with_policy`](Self::resolve_with_policy) with
    /// [`SamplePolicy::EveryEvent`]).
    ///
    /// # Errors
    /// As [`MetricsCollector::timer`]: `name` belongs to a series of another
    /// type, or a tag is invalid.
    pub fn resolve(
        collector: &MetricsCollector,
        name: &str,
        function: &str,
        module: &str,
        tags: &[(&str, &str)],
    ) -> Result<Self> {
        Self::resolve_with_policy(collector, name, function, module, tags, SamplePolicy::EveryEvent)
    }

    /// [`resolve`](Self::resolve) with the function's sample policy.
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve).
    pub fn resolve_with_policy(
        collector: &MetricsCollector,
        name: &str,
        function: &str,
        module: &str,
        tags: &[(&str, &str)],
        policy: SamplePolicy,
    ) -> Result<Self> {
        let timer = |outcome| collector.timer(name, call_tags(function, module, outcome, tags, None).as_slice());
        let timers = ExecutionTimers {
            by_outcome: [
                timer(Outcome::Ok)?,
                timer(Outcome::Error)?,
                timer(Outcome::Panic)?,
                timer(Outcome::Cancelled)?,
            ],
            keep_samples: policy == SamplePolicy::EveryEvent,
        };
        if timers.keep_samples {
            timers.by_outcome[0]
                .series()
                .adopt_sample_policy(SamplePolicy::EveryEvent);
        }
        Ok(timers)
    }

    /// The timers in `cell`, resolved against the process-wide collector on
    /// the first call; `None` (for good) when resolving failed. After the
    /// first call this is one atomic load. Every call is kept as a sample.
    #[inline]
    pub fn get_or_resolve(
        cell: &'static OnceLock<Option<ExecutionTimers>>,
        name: &str,
        function: &str,
        module: &str,
        tags: &[(&str, &str)],
    ) -> Option<&'static ExecutionTimers> {
        Self::get_or_resolve_with_policy(cell, name, function, module, tags, SamplePolicy::EveryEvent)
    }

    /// [`get_or_resolve`](Self::get_or_resolve) with the function's sample
    /// policy: what the attribute expands to.
    #[inline]
    pub fn get_or_resolve_with_policy(
        cell: &'static OnceLock<Option<ExecutionTimers>>,
        name: &str,
        function: &str,
        module: &str,
        tags: &[(&str, &str)],
        policy: SamplePolicy,
    ) -> Option<&'static ExecutionTimers> {
        cell.get_or_init(|| {
            alloc::uncounted(|| {
                Self::resolve_with_policy(get_metrics_collector(), name, function, module, tags, policy).ok()
            })
        })
        .as_ref()
    }

    /// The handle of `outcome`.
    #[inline]
    pub fn timer(&self, outcome: Outcome) -> &Timer {
        &self.by_outcome[outcome.index()]
    }

    /// Records `elapsed` under `outcome`: kept as a sample too unless the
    /// function opted out.
    #[inline]
    pub fn record(&self, outcome: Outcome, elapsed: std::time::Duration) {
        self.record_seconds(outcome, elapsed.as_secs_f64());
    }

    /// [`record`](Self::record) in seconds, as a [`Stopwatch`] measures them
    /// ([`Stopwatch::elapsed_seconds`]).
    #[inline]
    pub fn record_seconds(&self, outcome: Outcome, seconds: f64) {
        let timer = self.timer(outcome);
        if self.keep_samples {
            timer.record_seconds(seconds);
        } else {
            timer.record_aggregate_only(seconds);
        }
    }
}

/// Times one synchronous call: started before the body, finished with its
/// result. Dropped without [`finish`](Self::finish) while a panic unwinds,
/// it records [`Outcome::Panic`] (and the panic continues).
#[derive(Debug)]
#[must_use = "the call is recorded by finish, or as a panic when the guard is dropped"]
pub struct TimedCall<'a> {
    timers: Option<&'a ExecutionTimers>,
    start: Stopwatch,
}

impl<'a> TimedCall<'a> {
    /// Starts the clock. With `None` (unresolved timers) nothing is recorded.
    #[inline]
    pub fn start(timers: Option<&'a ExecutionTimers>) -> Self {
        TimedCall {
            timers,
            start: Stopwatch::start(),
        }
    }

    /// Records the elapsed time under the outcome `classify` gives `value`.
    #[inline]
    pub fn finish<T: ?Sized>(mut self, classify: impl Classify<T>, value: &T) {
        if let Some(timers) = self.timers.take() {
            let elapsed = self.start.elapsed_seconds();
            alloc::uncounted(|| timers.record_seconds(classify.outcome(value), elapsed));
        }
    }
}

impl Drop for TimedCall<'_> {
    fn drop(&mut self) {
        if let Some(timers) = self.timers.take() {
            let elapsed = self.start.elapsed_seconds();
            alloc::uncounted(|| timers.record_seconds(Outcome::unfinished(), elapsed));
        }
    }
}

/// Where a wrapped future is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Not polled yet: dropping it records nothing.
    Idle,
    /// Polled at least once, not finished.
    Running,
    /// Inside the inner future's `poll`.
    Polling,
    /// Recorded.
    Done,
}

impl Stage {
    pub(super) fn outcome_at_drop(self) -> Option<Outcome> {
        match self {
            Stage::Idle | Stage::Done => None,
            Stage::Running => Some(Outcome::Cancelled),
            // The probe records a panicking poll; reaching drop in this
            // stage means the future was dropped from inside its own poll.
            Stage::Polling => Some(Outcome::Panic),
        }
    }
}

/// Times a future from its first poll to its completion, as
/// `#[record_execution_time]` does for an `async fn`.
///
/// A poll that panics records [`Outcome::Panic`] while the panic unwinds; a
/// future dropped after its first poll but before completion records
/// [`Outcome::Cancelled`]; one dropped before its first poll records
/// nothing. The wrapper is `Send`/`Sync`/`Unpin` exactly when the inner
/// future is.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct TimedFuture<F, K> {
    inner: F,
    timers: Option<&'static ExecutionTimers>,
    classify: K,
    start: Option<Stopwatch>,
    stage: Stage,
}

impl<F: Future, K: Classify<F::Output>> TimedFuture<F, K> {
    /// Wraps `inner`; `classify` decides the outcome of its output.
    #[inline]
    pub fn new(timers: Option<&'static ExecutionTimers>, classify: K, inner: F) -> Self {
        TimedFuture {
            inner,
            timers,
            classify,
            start: None,
            stage: Stage::Idle,
        }
    }

    fn record(&mut self, outcome: Outcome) {
        self.stage = Stage::Done;
        if let (Some(timers), Some(start)) = (self.timers, self.start) {
            let elapsed = start.elapsed_seconds();
            alloc::uncounted(|| timers.record_seconds(outcome, elapsed));
        }
    }
}

impl<F: Future, K: Classify<F::Output>> Future for TimedFuture<F, K> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of
        // `self`, not in `poll` and not in `Drop`; the other fields are not
        // pinned and are only read or overwritten.
        let this = unsafe { self.get_unchecked_mut() };
        let start = *this.start.get_or_insert_with(Stopwatch::start);
        let timers = this.timers;
        // Records the panic while it unwinds out of the inner poll.
        let probe = PanicProbe::arm(&mut this.stage, move || {
            if let Some(timers) = timers {
                let elapsed = start.elapsed_seconds();
                alloc::uncounted(|| timers.record_seconds(Outcome::Panic, elapsed));
            }
        });
        // SAFETY: see above; `this` came from a pinned reference.
        let polled = unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx);
        probe.disarm();
        match polled {
            Poll::Ready(output) => {
                let outcome = this.classify.outcome(&output);
                this.record(outcome);
                Poll::Ready(output)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Set to [`Stage::Polling`] around an inner poll; dropped while still
/// polling (the poll panicked), it runs its recorder and marks the future
/// done so that dropping the future later records nothing more.
pub(super) struct PanicProbe<'a, R: FnOnce()> {
    stage: &'a mut Stage,
    on_panic: Option<R>,
}

impl<'a, R: FnOnce()> PanicProbe<'a, R> {
    pub(super) fn arm(stage: &'a mut Stage, on_panic: R) -> Self {
        *stage = Stage::Polling;
        PanicProbe {
            stage,
            on_panic: Some(on_panic),
        }
    }

    pub(super) fn disarm(mut self) {
        *self.stage = Stage::Running;
        self.on_panic = None;
    }
}

impl<R: FnOnce()> Drop for PanicProbe<'_, R> {
    fn drop(&mut self) {
        if let Some(on_panic) = self.on_panic.take() {
            *self.stage = Stage::Done;
            on_panic();
        }
    }
}

impl<F, K> Drop for TimedFuture<F, K> {
    fn drop(&mut self) {
        if let Some(outcome) = self.stage.outcome_at_drop()
            && let (Some(timers), Some(start)) = (self.timers, self.start)
        {
            let elapsed = start.elapsed_seconds();
            alloc::uncounted(|| timers.record_seconds(outcome, elapsed));
        }
    }
}
