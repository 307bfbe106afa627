//! `StopToken`: how a run is asked to stop (gracefully) or to kill its jobs.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

const RUNNING: u8 = 0;
const STOPPING: u8 = 1;
const KILLING: u8 = 2;

#[derive(Debug, Default)]
struct Inner {
    state: AtomicU8,
    lock: Mutex<()>,
    wake: Condvar,
}

/// A shared stop request. Clones share the same state.
///
/// * [`request_stop`](Self::request_stop): no new job starts; running jobs
///   finish (no further retries), the rest stay pending.
/// * [`request_kill`](Self::request_kill): as above, and running jobs are
///   killed (the command runner kills their process groups).
///
/// Requests only escalate; [`reset`](Self::reset) clears them for a new run.
///
/// ```
/// use batch_engine::StopToken;
/// let stop = StopToken::new();
/// let seen_by_worker = stop.clone();
/// stop.request_stop();
/// assert!(seen_by_worker.is_stopping() && !seen_by_worker.is_killing());
/// ```
#[derive(Debug, Clone, Default)]
pub struct StopToken(Arc<Inner>);

impl StopToken {
    /// A token with no request.
    pub fn new() -> Self {
        StopToken::default()
    }

    fn raise(&self, to: u8) {
        self.0.state.fetch_max(to, Ordering::SeqCst);
        let _guard = self.0.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.0.wake.notify_all();
    }

    /// Asks for a graceful stop. Wakes anything in [`wait_timeout`](Self::wait_timeout).
    pub fn request_stop(&self) {
        self.raise(STOPPING);
    }

    /// Asks for running jobs to be killed (implies a stop).
    pub fn request_kill(&self) {
        self.raise(KILLING);
    }

    /// Clears any request.
    pub fn reset(&self) {
        self.0.state.store(RUNNING, Ordering::SeqCst);
    }

    /// Whether a stop (or kill) was requested.
    pub fn is_stopping(&self) -> bool {
        self.0.state.load(Ordering::SeqCst) >= STOPPING
    }

    /// Whether a kill was requested.
    pub fn is_killing(&self) -> bool {
        self.0.state.load(Ordering::SeqCst) >= KILLING
    }

    /// Sleeps for `duration` or until a stop is requested; returns whether
    /// a stop was requested.
    /// A duration too large to add to the clock waits until a stop.
    pub fn wait_timeout(&self, duration: Duration) -> bool {
        let deadline = std::time::Instant::now().checked_add(duration);
        let mut guard = self.0.lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.is_stopping() {
                return true;
            }
            let now = std::time::Instant::now();
            guard = match deadline {
                Some(d) if now >= d => return false,
                Some(d) => match self.0.wake.wait_timeout(guard, d - now) {
                    Ok((g, _)) => g,
                    Err(e) => e.into_inner().0,
                },
                None => self.0.wake.wait(guard).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unbounded_wait_ends_on_stop() {
        let stop = StopToken::new();
        let other = stop.clone();
        let t = std::thread::spawn(move || other.wait_timeout(Duration::MAX));
        std::thread::sleep(Duration::from_millis(20));
        stop.request_stop();
        assert!(t.join().unwrap());
    }

    #[test]
    fn a_short_wait_times_out_without_stop() {
        let stop = StopToken::new();
        assert!(!stop.wait_timeout(Duration::from_millis(1)));
        stop.request_kill();
        assert!(stop.is_stopping() && stop.wait_timeout(Duration::from_secs(3600)));
        stop.reset();
        assert!(!stop.is_stopping());
    }
}
