//! `SpinLock`: the lock around one histogram state (or shard).
//!
//! A histogram observation holds its lock for a few dozen instructions and
//! never blocks, allocates only to grow its sketch, and cannot panic. For
//! such a section a `std::sync::Mutex` costs two locked instructions per
//! observation (a compare-and-swap to lock, a swap to unlock, which must
//! look for sleeping waiters) plus its poison bookkeeping. This lock takes
//! one: a compare-and-swap to lock and a plain release store to unlock.
//! Waiters spin briefly, then yield to the scheduler, so a holder that is
//! preempted costs the waiter time slices, not a deadlock.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};

/// Spins before a waiter starts yielding.
const SPINS: u32 = 64;

/// A mutual-exclusion lock for short, non-blocking critical sections.
#[derive(Default)]
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and at most one guard
// exists at a time (the `locked` flag, taken with Acquire and released with
// Release, orders every access); so sharing the lock hands `T` from thread
// to thread, which `T: Send` allows.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// The lock if it is free now; `None` if another thread holds it.
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
        // A guard exists only once the flag is ours: building one for a
        // failed attempt would unlock the holder's lock when dropped.
        match self.locked.compare_exchange(false, true, Acquire, Relaxed) {
            Ok(_) => Some(SpinGuard { lock: self }),
            Err(_) => None,
        }
    }

    /// The lock, waiting for it if another thread holds it.
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        let mut spins = 0u32;
        loop {
            if let Some(guard) = self.try_lock() {
                return guard;
            }
            // Wait on a plain load, not on repeated compare-and-swaps that
            // would pull the line away from the holder.
            while self.locked.load(Relaxed) {
                if spins < SPINS {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for SpinLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.try_lock() {
            Some(guard) => f.debug_struct("SpinLock").field("value", &*guard).finish(),
            None => f.write_str("SpinLock { <locked> }"),
        }
    }
}

/// Access to the value of a held [`SpinLock`]; dropping it unlocks,
/// including during a panic unwind.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see `Sync` above).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard is the only one (see `Sync` above).
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_exclude_each_other() {
        // A non-atomic read-modify-write under the lock: lost updates would
        // show in the total.
        let lock = SpinLock::new(0u64);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..50_000 {
                        let mut v = lock.lock();
                        let read = *v;
                        std::hint::black_box(&read);
                        *v = read + 1;
                    }
                });
            }
        });
        assert_eq!(*lock.lock(), 200_000);
    }

    #[test]
    fn try_lock_fails_while_held_and_succeeds_after() {
        let lock = SpinLock::new(vec![1]);
        let held = lock.try_lock().unwrap();
        assert!(lock.try_lock().is_none());
        std::thread::scope(|scope| {
            assert!(scope.spawn(|| lock.try_lock().is_none()).join().unwrap());
        });
        assert_eq!(format!("{lock:?}"), "SpinLock { <locked> }");
        drop(held);
        lock.try_lock().unwrap().push(2);
        assert_eq!(*lock.lock(), vec![1, 2]);
        assert_eq!(format!("{lock:?}"), "SpinLock { value: [1, 2] }");
    }

    #[test]
    fn a_panic_under_the_lock_releases_it() {
        let lock = SpinLock::new(0);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = lock.lock();
            panic!("inside the critical section");
        }));
        assert!(caught.is_err());
        assert!(lock.try_lock().is_some(), "the unwind dropped the guard");
    }
}
