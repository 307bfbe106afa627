//! The runtime of `#[record_execution_time]` and `#[record_memory_usage]`.
//!
//! The attribute macros expand to a few calls into this module: a `static`
//! per call site holding the handles (resolved once against
//! [`get_metrics_collector`](crate::get_metrics_collector), one per
//! [`Outcome`]), a guard for synchronous functions ([`TimedCall`],
//! [`MeasuredCall`]) and a poll wrapper for `async fn` ([`TimedFuture`],
//! [`MeasuredFuture`]). The items are public so the expansion compiles in
//! any crate, and can be used directly to instrument code by hand:
//!
//! ```
//! use std::sync::OnceLock;
//! use metrics_core::instrument::{ExecutionTimers, TimedCall, ErrIsError};
//!
//! fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
//!     static TIMERS: OnceLock<Option<ExecutionTimers>> = OnceLock::new();
//!     let call = TimedCall::start(ExecutionTimers::get_or_resolve(
//!         &TIMERS, "parse_seconds", "parse", module_path!(), &[]));
//!     let result = s.parse();
//!     call.finish(ErrIsError, &result);
//!     result
//! }
//! assert!(parse("x").is_err());
//! ```
//!
//! If the handles cannot be resolved (the name already belongs to a series
//! of another type, a tag is invalid), the call runs normally and nothing is
//! recorded: instrumentation never changes what a function does.

mod memory;
mod objective;
mod timing;

pub use memory::{MeasuredCall, MeasuredFuture, MemoryMetrics, MemorySource};
pub use objective::{FunctionObjective, declare_objective, declare_objective_once, declared_objectives};
pub use timing::{ExecutionTimers, TimedCall, TimedFuture};

/// How a call ended: the `outcome` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Returned normally (for `Result` return types: returned `Ok`).
    Ok,
    /// Returned an `Err`.
    Error,
    /// Panicked; the panic continues after recording.
    Panic,
    /// An `async fn`'s future was dropped before it finished.
    Cancelled,
}

impl Outcome {
    /// Every outcome, in the order of [`index`](Self::index).
    pub const ALL: [Outcome; 4] = [Outcome::Ok, Outcome::Error, Outcome::Panic, Outcome::Cancelled];

    /// The tag value: `ok`, `error`, `panic` or `cancelled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Panic => "panic",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// Position in [`ALL`](Self::ALL).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The outcome of a call that did not reach its end normally.
    fn unfinished() -> Outcome {
        if std::thread::panicking() {
            Outcome::Panic
        } else {
            Outcome::Cancelled
        }
    }
}

/// A return type that can report failure: implemented for `Result`.
///
/// The macros classify functions whose return type's last path segment is
/// `Result` (`Result<T, E>`, `io::Result<T>`, `anyhow::Result<T>`) with
/// [`ErrIsError`]; a type of your own named `Result` needs this trait.
pub trait Fallible {
    /// Whether the value is a failure.
    fn is_error(&self) -> bool;
}

impl<T, E> Fallible for Result<T, E> {
    #[inline]
    fn is_error(&self) -> bool {
        self.is_err()
    }
}

/// Decides the [`Outcome`] of a call that returned `T`.
pub trait Classify<T: ?Sized> {
    /// The outcome of a call that returned `value`.
    fn outcome(&self, value: &T) -> Outcome;
}

/// Every returned value is [`Outcome::Ok`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOk;

impl<T: ?Sized> Classify<T> for AlwaysOk {
    #[inline]
    fn outcome(&self, _: &T) -> Outcome {
        Outcome::Ok
    }
}

/// A [`Fallible`] value that is an error is [`Outcome::Error`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrIsError;

impl<T: Fallible + ?Sized> Classify<T> for ErrIsError {
    #[inline]
    fn outcome(&self, value: &T) -> Outcome {
        if value.is_error() { Outcome::Error } else { Outcome::Ok }
    }
}

/// Calls `f`. The expansion of a synchronous function runs its body in a
/// closure through this function, so that `return` and `?` in the body leave
/// the closure, not the function, and the result can be classified; taking
/// `FnOnce` lets the body return references borrowed from `&mut` arguments.
#[inline(always)]
pub fn call_once<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The tags every instrumented call carries, in the order the store wants
/// them checked: `function`, `module`, `outcome`, then the caller's.
fn call_tags<'a>(
    function: &'a str,
    module: &'a str,
    outcome: Outcome,
    extra: &[(&'a str, &'a str)],
    source: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut tags = Vec::with_capacity(4 + extra.len());
    tags.push(("function", function));
    tags.push(("module", module));
    tags.push(("outcome", outcome.as_str()));
    if let Some(source) = source {
        tags.push(("source", source));
    }
    tags.extend_from_slice(extra);
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_classified_by_variant() {
        assert_eq!(ErrIsError.outcome(&Ok::<u8, ()>(1)), Outcome::Ok);
        assert_eq!(ErrIsError.outcome(&Err::<u8, ()>(())), Outcome::Error);
        assert_eq!(AlwaysOk.outcome(&Err::<u8, ()>(())), Outcome::Ok);
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
    }

    /// The expansion names this crate `::metrics_core`, which resolves
    /// inside it too.
    #[cfg(feature = "macros")]
    #[crate::record_execution_time(name = "instrument.tests.inside_the_crate")]
    fn inside_the_crate(fail: bool) -> Result<(), ()> {
        if fail { Err(()) } else { Ok(()) }
    }

    #[cfg(feature = "macros")]
    #[test]
    fn the_attributes_work_inside_metrics_core() {
        inside_the_crate(true).unwrap_err();
        let series = crate::get_metrics_collector()
            .get_metric_series("instrument.tests.inside_the_crate")
            .expect("recorded");
        let error = [
            ("function", "inside_the_crate"),
            ("module", module_path!()),
            ("outcome", "error"),
        ];
        assert!(matches!(
            series.aggregate(error.as_slice()),
            Some(crate::AggregateValue::Histogram(h)) if h.count == 1
        ));
    }
}
