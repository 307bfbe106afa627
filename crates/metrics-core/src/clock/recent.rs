//! [`RecentClock`]: the wall clock as of its last update by a background
//! thread, what a collector's samples are stamped with by default.
//!
//! Reading it is two relaxed loads (no counter read, no system call): on
//! the VMs of `docs/benchmarks.md` ~1 ns against ~11 ns for [`SystemClock`],
//! whose counter read was a quarter of `record_metric`'s time.
//!
//! * **Freshness.** A thread ("metrics-clock", started with the first
//!   collector, which first calibrates the timers' counter) stores
//!   `SystemTime::now()` every [`RECENT_PERIOD`] (0.5 ms) while the clock is
//!   being read, so a timestamp is at most that much earlier than the
//!   moment it stands for, plus whatever the scheduler delays the thread by
//!   on a loaded machine. It follows a change of the system clock at its
//!   next update.
//! * **Never backwards.** Each update is at least the previous one: a
//!   reading behind it (the system clock set back by NTP, by less than
//!   [`HOLD_LIMIT`]) holds the clock still until the system clock passes
//!   it again. A step further back (an operator setting the clock) is
//!   followed, as `SystemTime` follows it.
//! * **Equal timestamps.** Reads within one period return the same time.
//!   A series keeps its samples apart itself: a sample stamped by this
//!   clock at or up to one period behind the series' newest sample is
//!   stamped one nanosecond past it instead, so a series' samples strictly
//!   increase in the order they were recorded and keep that order wherever
//!   they are sorted by time (across tag sets, in a durable store). A
//!   timestamp so moves later by at most one period. This holds for the
//!   samples one thread records into a series; once two or more threads
//!   record into one busy series, or contend for it, their samples keep
//!   the clock's time (the order of two threads' samples is theirs to race
//!   for).
//! * **Idle.** After [`IDLE_STOP`] without a read the thread stops updating
//!   and sleeps; the next read finds the clock stopped, reads
//!   `SystemTime::now()` itself (never less than the last value handed out)
//!   and wakes the thread. A process that records nothing pays no wake-ups.
//! * **No thread.** Where no thread can be started, every read reads
//!   `SystemTime::now()`, with the same never-backwards rule.
//!
//! [`SystemClock`]: super::SystemClock

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{Clock, system_time_nanos};

/// How often the updater thread stores the time while the clock is read.
pub const RECENT_PERIOD: Duration = Duration::from_micros(500);

/// How long the clock goes unread before its updater thread sleeps.
pub const IDLE_STOP: Duration = Duration::from_millis(100);

/// How far back the system clock may step and have [`RecentClock`] hold
/// still rather than follow it.
pub const HOLD_LIMIT: Duration = Duration::from_secs(1);

/// The wall clock as of its last update, at most [`RECENT_PERIOD`] (plus
/// scheduling delays) behind `SystemTime::now()`; never goes backwards
/// except to follow the system clock set back by more than
/// [`HOLD_LIMIT`]. See the [module docs](self).
///
/// ```
/// use metrics_core::clock::{Clock, RecentClock};
/// use std::time::{SystemTime, UNIX_EPOCH};
/// let system = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
/// let first = RecentClock.now_nanos();
/// assert!(RecentClock.now_nanos() >= first);
/// // Recent: within a few milliseconds even on a loaded machine.
/// assert!((first - system).abs() < 1_000_000_000);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct RecentClock;

impl Clock for RecentClock {
    #[inline]
    fn now_nanos(&self) -> i64 {
        let nanos = RECENT.nanos.load(Relaxed);
        if nanos == STOPPED {
            return read_stopped();
        }
        // Tell the updater that the clock is in use (a store only once per
        // update, so readers share the flag's cache line read-only).
        if !RECENT.read.load(Relaxed) {
            RECENT.read.store(true, Relaxed);
        }
        nanos
    }
}

/// `nanos` while no thread updates the clock.
const STOPPED: i64 = i64::MIN;

struct Recent {
    /// The last update, or [`STOPPED`].
    nanos: AtomicI64,
    /// Read since the updater last looked.
    read: AtomicBool,
    /// Starts and stops; held by the updater only while it starts or stops,
    /// and by readers only while the clock is stopped.
    control: Mutex<Control>,
    wake: Condvar,
}

struct Control {
    /// The updater thread was started (or could not be).
    spawned: bool,
    /// No thread could be started: every read reads the system clock.
    no_thread: bool,
    /// The highest time handed out while the clock was stopped or at its
    /// last stop: where the updater resumes from.
    floor: i64,
}

static RECENT: Recent = Recent {
    nanos: AtomicI64::new(STOPPED),
    read: AtomicBool::new(false),
    control: Mutex::new(Control {
        spawned: false,
        no_thread: false,
        floor: i64::MIN,
    }),
    wake: Condvar::new(),
};

fn control() -> MutexGuard<'static, Control> {
    RECENT.control.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `reading`, unless it is behind `last` by less than [`HOLD_LIMIT`]: then
/// `last` (the clock holds still rather than step back).
fn forward(last: i64, reading: i64) -> i64 {
    let hold = i64::try_from(HOLD_LIMIT.as_nanos()).unwrap_or(i64::MAX);
    if reading < last && last.saturating_sub(reading) < hold {
        last
    } else {
        reading
    }
}

/// A read while no thread updates the clock: the system clock itself, and
/// the thread started or woken.
#[cold]
#[inline(never)]
fn read_stopped() -> i64 {
    let mut control = control();
    // Restarted while this thread waited for the lock.
    let nanos = RECENT.nanos.load(Relaxed);
    if nanos != STOPPED {
        return nanos;
    }
    let now = forward(control.floor, system_time_nanos());
    control.floor = now;
    if control.spawned {
        if !control.no_thread {
            RECENT.wake.notify_one();
        }
    } else {
        spawn_updater(&mut control);
    }
    now
}

/// Claims the updater's job for a thread the caller is about to start
/// (the clock's calibration thread, which then runs [`update`]): false if
/// the updater already runs.
pub(crate) fn claim_updater() -> bool {
    let mut control = control();
    !std::mem::replace(&mut control.spawned, true)
}

/// The thread claimed by [`claim_updater`] could not be started.
pub(crate) fn no_updater() {
    control().no_thread = true;
}

/// Starts the updater thread; holding the lock, so that it begins once
/// the caller is done.
fn spawn_updater(control: &mut Control) {
    control.spawned = true;
    let started = std::thread::Builder::new().name("metrics-clock".into()).spawn(update);
    control.no_thread = started.is_err();
}

/// The updater thread: stores the time every [`RECENT_PERIOD`] while the
/// clock is read, sleeps after [`IDLE_STOP`] without a read.
pub(crate) fn update() {
    let idle_ticks = IDLE_STOP.as_nanos() / RECENT_PERIOD.as_nanos();
    let mut control = control();
    loop {
        // (Re)start under the lock: readers of the stopped clock handed out
        // at most `floor`.
        let mut last = forward(control.floor, system_time_nanos());
        RECENT.read.store(true, Relaxed);
        RECENT.nanos.store(last, Relaxed);
        drop(control);
        let mut unread = 0;
        while unread < idle_ticks {
            std::thread::sleep(RECENT_PERIOD);
            last = forward(last, system_time_nanos());
            RECENT.nanos.store(last, Relaxed);
            if RECENT.read.swap(false, Relaxed) {
                unread = 0;
            } else {
                unread += 1;
            }
        }
        control = self::control();
        control.floor = control.floor.max(last);
        RECENT.nanos.store(STOPPED, Relaxed);
        // Until a read of the stopped clock wakes it (spurious wake-ups
        // restart it too, harmlessly).
        control = RECENT.wake.wait(control).unwrap_or_else(PoisonError::into_inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_step_back_holds_and_a_large_one_is_followed() {
        let hold = i64::try_from(HOLD_LIMIT.as_nanos()).unwrap();
        assert_eq!(forward(1_000, 2_000), 2_000);
        assert_eq!(forward(1_000, 999), 1_000);
        assert_eq!(forward(10 * hold, 10 * hold - hold + 1), 10 * hold);
        assert_eq!(forward(10 * hold, 8 * hold), 8 * hold);
        assert_eq!(forward(i64::MIN, 5), 5);
    }

    #[test]
    fn reads_never_go_backwards_across_threads() {
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let mut last = RecentClock.now_nanos();
                    for _ in 0..200_000 {
                        let now = RecentClock.now_nanos();
                        assert!(now >= last, "{now} after {last}");
                        last = now;
                    }
                });
            }
        });
    }
}
