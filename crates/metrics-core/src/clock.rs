//! The clocks: the wall clocks that timestamp samples (injectable for
//! tests) and the monotonic clock that timers read.
//!
//! * Timers ([`Stopwatch`], [`Timer::start`](crate::Timer::start), the
//!   macros) read the CPU's time-stamp counter through `quanta` where it is
//!   usable (constant and invariant TSC, checked at start; otherwise
//!   `quanta` reads `CLOCK_MONOTONIC`), calibrated once per process against
//!   the system's monotonic clock: the counter's ticks between start and
//!   stop, scaled to nanoseconds. Monotonic: a stop that reads an earlier
//!   tick than its start (a counter skew between cores) records zero, never
//!   a negative duration. On the 2-core VMs of `docs/benchmarks.md` a start
//!   + stop pair costs ~19 ns against ~49 ns for `std::time::Instant`.
//! * Sample timestamps of a collector made by
//!   [`MetricsCollector::new`](crate::MetricsCollector::new)
//!   ([`RecentClock`]): the wall clock as of its last update by a background
//!   thread, every [`RECENT_PERIOD`] (0.5 ms) while it is read; never
//!   backwards; ~1 ns a read. Samples of one series that read it alike
//!   are moved nanoseconds apart in recording order. See [`recent`] for its
//!   freshness, those ties, and how it behaves when idle or without a
//!   thread.
//! * [`SystemClock`], for a collector that wants each timestamp read at the
//!   moment of the call
//!   ([`MetricsCollector::with_clock`](crate::MetricsCollector::with_clock)):
//!   the timers' monotonic time plus an offset to the system's real-time
//!   clock, re-read from `SystemTime` at most [`WALL_RESYNC`] apart. Between
//!   re-reads the timestamps advance at the calibrated counter's rate; a
//!   re-read follows any change of the system clock (NTP, an operator
//!   setting it) within one second, so a timestamp is off from
//!   `SystemTime::now()` by the counter's drift over that second
//!   (microseconds) and may step back by that much at a re-read. ~10 ns a
//!   read against ~23 ns for `SystemTime::now()`.
//!
//! The first read of the counter calibrates it (`quanta`: a few
//! milliseconds, at most 200 ms); [`MetricsCollector::new`] starts that on a
//! background thread once per process so that the first timed call does
//! not pay for it.
//!
//! [`MetricsCollector::new`]: crate::MetricsCollector::new

pub mod recent;

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

pub use recent::{RECENT_PERIOD, RecentClock};

/// A source of UTC wall-clock time, in nanoseconds since the Unix epoch.
///
/// The store reads it once per retained sample (a collector made by
/// [`MetricsCollector::new`](crate::MetricsCollector::new) reads
/// [`RecentClock`]). Retention compares these
/// timestamps, so a test can age samples by moving a [`ManualClock`] instead
/// of sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    fn now_nanos(&self) -> i64;
}

/// The system's real-time clock, read through the calibrated counter: see
/// the [module docs](self) for its accuracy (within microseconds of
/// `SystemTime::now()`, following a change of the system clock within
/// [`WALL_RESYNC`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now_nanos(&self) -> i64 {
        let mono = monotonic_nanos();
        let wall = wall_anchor();
        if mono >= wall.next_sync.load(Ordering::Relaxed) {
            return wall.resync(mono);
        }
        i64::try_from(mono)
            .unwrap_or(i64::MAX)
            .saturating_add(wall.offset.load(Ordering::Relaxed))
    }
}

/// The longest time between two reads of `SystemTime` by [`SystemClock`].
pub const WALL_RESYNC: Duration = Duration::from_secs(1);

/// `SystemTime::now()` in nanoseconds since the epoch.
fn system_time_nanos() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        // A clock set before 1970: report the epoch rather than panic.
        Err(_) => 0,
    }
}

/// The process's timer clock, the counter reading its monotonic
/// nanoseconds count from, and the calibrated scale from counter ticks to
/// nanoseconds.
struct TimerClock {
    clock: quanta::Clock,
    origin: u64,
    /// Nanoseconds per 2^[`SCALE_SHIFT`] ticks, from `quanta`'s
    /// calibration: one multiply and shift per timestamp, without its
    /// per-call dispatch on the counter's kind (which it also makes for
    /// `raw`). A relative error below 10^-11 against `quanta`'s own scaling.
    nanos_per_ticks: u64,
    /// Seconds per tick, for a timer's observation: one conversion and
    /// one multiply from ticks to the seconds a timer records, where a
    /// `Duration` costs a fixed-point scale, a split into seconds and
    /// nanoseconds and a float division.
    seconds_per_tick: f64,
}

/// 2^40 ticks are 2^40 ns on a nanosecond counter and ~360 s on a 3 GHz
/// one; either fits `nanos_per_ticks` with room to spare.
const SCALE_SHIFT: u32 = 40;

#[inline]
fn timer_clock() -> &'static TimerClock {
    static CLOCK: OnceLock<TimerClock> = OnceLock::new();
    CLOCK.get_or_init(|| {
        let clock = quanta::Clock::new();
        let origin = clock.raw();
        let nanos_per_ticks = clock.delta_as_nanos(0, 1 << SCALE_SHIFT);
        // 2^52 ticks: the scale to a full f64 mantissa (~17 days at 3 GHz,
        // still far inside u64 nanoseconds).
        let ticks = 1u64 << 52;
        let seconds_per_tick = clock.delta_as_nanos(0, ticks) as f64 / ticks as f64 * 1e-9;
        TimerClock {
            clock,
            origin,
            nanos_per_ticks,
            seconds_per_tick,
        }
    })
}

/// Calibrates the timer clock on a background thread, once per process, so
/// that the first timer or timestamp does not wait for it (a timer started
/// meanwhile waits for the calibration to finish, then reads the counter).
/// The same thread then updates [`RecentClock`] (until then a read of it
/// reads `SystemTime` itself).
pub(crate) fn warm_up() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let updates = recent::claim_updater();
        let spawned = std::thread::Builder::new().name("metrics-clock".into()).spawn(move || {
            let _ = timer_clock();
            if updates {
                recent::update();
            }
        });
        // No thread (resource limits): the first read calibrates instead,
        // and every read of the recent clock reads `SystemTime`.
        if spawned.is_err() && updates {
            recent::no_updater();
        }
    });
}

/// Nanoseconds on the calibrated monotonic clock since its first read;
/// zero for a counter read on a core that is behind the first read.
#[inline]
fn monotonic_nanos() -> u64 {
    let c = timer_clock();
    let ticks = c.clock.raw().saturating_sub(c.origin);
    ((u128::from(ticks) * u128::from(c.nanos_per_ticks)) >> SCALE_SHIFT) as u64
}

/// The offset from monotonic to wall-clock nanoseconds, and when to
/// re-read it.
struct WallAnchor {
    offset: AtomicI64,
    /// Monotonic nanoseconds at which the next read re-reads `SystemTime`.
    next_sync: AtomicU64,
}

fn wall_anchor() -> &'static WallAnchor {
    static ANCHOR: WallAnchor = WallAnchor {
        offset: AtomicI64::new(0),
        next_sync: AtomicU64::new(0),
    };
    &ANCHOR
}

impl WallAnchor {
    /// Re-reads `SystemTime` and returns it. Threads that race here all
    /// store an offset of the same moment; the last one wins.
    #[cold]
    fn resync(&self, mono: u64) -> i64 {
        let wall = system_time_nanos();
        let mono_i = i64::try_from(mono).unwrap_or(i64::MAX);
        self.offset.store(wall.saturating_sub(mono_i), Ordering::Relaxed);
        let every = u64::try_from(WALL_RESYNC.as_nanos()).unwrap_or(u64::MAX);
        self.next_sync.store(mono.saturating_add(every), Ordering::Relaxed);
        wall
    }
}

/// A started measurement on the process's timer clock (the calibrated
/// counter of the [module docs](self)): what [`Timer::start`](crate::Timer::start)
/// and `#[record_execution_time]` read. Copy it freely; it is 8 bytes.
///
/// ```
/// use metrics_core::clock::Stopwatch;
/// use std::time::Duration;
/// let watch = Stopwatch::start();
/// std::thread::sleep(Duration::from_millis(2));
/// assert!(watch.elapsed() >= Duration::from_millis(2));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    start: u64,
}

impl Stopwatch {
    /// Starts measuring now.
    #[inline]
    pub fn start() -> Self {
        Stopwatch {
            start: timer_clock().clock.raw(),
        }
    }

    /// The time since [`start`](Self::start); zero if the counter read on
    /// this core is behind the one read at the start.
    #[inline]
    pub fn elapsed(&self) -> Duration {
        let c = &timer_clock().clock;
        c.delta(self.start, c.raw())
    }

    /// [`elapsed`](Self::elapsed) in seconds, as a timer records it,
    /// computed from the counter's ticks directly: within a nanosecond of
    /// `elapsed().as_secs_f64()` (which rounds down to whole nanoseconds),
    /// without its float division.
    #[inline]
    pub fn elapsed_seconds(&self) -> f64 {
        let c = timer_clock();
        let ticks = c.clock.raw().saturating_sub(self.start);
        // Through i64: one instruction where a u64 takes a branch and
        // eight. 2^63 ticks are ~97 years at 3 GHz; past that the seconds
        // come out negative and the timer rejects (and counts) them.
        ticks as i64 as f64 * c.seconds_per_tick
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_per_tick_agrees_with_the_calibrated_scale() {
        let c = timer_clock();
        for ticks in [1u64, 1_000, 3_000_000, 1 << 32, 1 << 45] {
            let ours = ticks as f64 * c.seconds_per_tick;
            let theirs = c.clock.delta_as_nanos(0, ticks) as f64 * 1e-9;
            // quanta rounds down to whole nanoseconds: one of them, plus a
            // relative error far below a timer's bucket resolution.
            assert!(
                (ours - theirs).abs() <= 1e-9 + theirs * 1e-12,
                "{ticks}: {ours} vs {theirs}"
            );
        }
    }

    #[test]
    fn elapsed_seconds_is_elapsed_in_seconds() {
        let watch = Stopwatch::start();
        std::thread::sleep(Duration::from_millis(3));
        let before = watch.elapsed_seconds();
        let elapsed = watch.elapsed().as_secs_f64();
        let after = watch.elapsed_seconds();
        assert!(before >= 0.003, "{before}");
        assert!(
            before <= elapsed + 1e-9 && elapsed <= after + 1e-9,
            "{before} {elapsed} {after}"
        );
    }
}
