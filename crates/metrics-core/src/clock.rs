//! The wall clock that timestamps samples, injectable for tests.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// A source of UTC wall-clock time, in nanoseconds since the Unix epoch.
///
/// The store reads it once per retained sample. Retention compares these
/// timestamps, so a test can age samples by moving a [`ManualClock`] instead
/// of sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    fn now_nanos(&self) -> i64;
}

/// The system's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_nanos(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            // A clock set before 1970: report the epoch rather than panic.
            Err(_) => 0,
        }
    }
}

/// A clock that only moves when told to. Shared between threads.
///
/// ```
/// use metrics_core::clock::{Clock, ManualClock};
/// use std::time::Duration;
/// let clock = ManualClock::new(1_000);
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(clock.now_nanos(), 1_000_001_000);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `nanos` since the epoch.
    pub fn new(nanos: i64) -> Self {
        ManualClock(AtomicI64::new(nanos))
    }

    /// A clock standing at `at`.
    pub fn at(at: OffsetDateTime) -> Self {
        ManualClock::new(to_nanos(at))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_add(by)));
    }

    /// Sets the clock to `nanos` since the epoch (it may move backwards).
    pub fn set(&self, nanos: i64) {
        self.0.store(nanos, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Converts stored nanoseconds to a UTC date-time (saturating at the range ends).
pub(crate) fn to_datetime(nanos: i64) -> OffsetDateTime {
    // Every i64 of nanoseconds (±292 years) is inside `time`'s range.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Converts a date-time to stored nanoseconds (saturating).
pub(crate) fn to_nanos(at: OffsetDateTime) -> i64 {
    let n = at.unix_timestamp_nanos();
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// Converts a duration to nanoseconds (saturating).
pub(crate) fn duration_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
