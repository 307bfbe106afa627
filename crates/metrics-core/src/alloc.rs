//! Per-thread heap accounting: a counting global allocator, and the scopes
//! that `#[record_memory_usage]` measures calls with.
//!
//! The library never installs the allocator itself; a program opts in with
//! one line at its crate root:
//!
//! ```
//! use metrics_core::alloc::CountingAllocator;
//!
//! #[global_allocator]
//! static ALLOC: CountingAllocator = CountingAllocator::system();
//! # fn main() {}
//! ```
//!
//! Every allocation, deallocation and reallocation made *on a thread* updates
//! that thread's counters (live bytes, their peak, total bytes allocated);
//! nothing is shared between threads, so the bookkeeping is a thread-local
//! read and three plain stores. An [`AllocationScope`] reads those counters at
//! entry and exit and reports what happened in between as a
//! [`MemoryDelta`]. Scopes nest: a parent's peak includes its children's,
//! and no byte is counted twice.
//!
//! Limits: allocations made on other threads on a call's behalf (a thread
//! pool, a runtime's blocking pool) are not attributed to it, and memory freed
//! on a thread other than the one that allocated it makes the freeing
//! thread's net change negative.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// A [`GlobalAlloc`] that forwards to `A` (the system allocator by default)
/// and counts bytes per thread.
///
/// It never allocates, locks or panics itself: the counters are a
/// `thread_local!` of `Cell`s with constant initialisation, updated with
/// wrapping arithmetic. On a thread whose thread-locals are already destroyed
/// the allocation is forwarded and simply not counted. `realloc` is forwarded
/// to the inner allocator's `realloc` (no allocate-copy-free), and counts the
/// size change.
///
/// ```
/// use metrics_core::alloc::CountingAllocator;
/// use std::alloc::System;
///
/// #[global_allocator]
/// static ALLOC: CountingAllocator<System> = CountingAllocator::new(System);
/// # fn main() {}
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator<A = System> {
    inner: A,
}

impl CountingAllocator<System> {
    /// Counts and forwards to [`System`].
    pub const fn system() -> Self {
        CountingAllocator { inner: System }
    }
}

impl<A> CountingAllocator<A> {
    /// Counts and forwards to `inner`.
    pub const fn new(inner: A) -> Self {
        CountingAllocator { inner }
    }

    /// The allocator that does the work.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

/// Set by the first allocation that goes through a [`CountingAllocator`].
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// One thread's counters. Signed because a thread may free memory another
/// thread allocated.
struct ThreadCounters {
    live: Cell<i64>,
    peak: Cell<i64>,
    allocated: Cell<u64>,
}

thread_local! {
    static COUNTERS: ThreadCounters = const {
        ThreadCounters { live: Cell::new(0), peak: Cell::new(0), allocated: Cell::new(0) }
    };
}

#[inline]
fn bytes(n: usize) -> i64 {
    // A single allocation cannot exceed isize::MAX bytes.
    n as i64
}

#[inline]
fn count_growth(grown: i64, allocated: u64) {
    if !ACTIVE.load(Relaxed) {
        ACTIVE.store(true, Relaxed);
    }
    let _ = COUNTERS.try_with(|c| {
        let live = c.live.get().wrapping_add(grown);
        c.live.set(live);
        if live > c.peak.get() {
            c.peak.set(live);
        }
        c.allocated.set(c.allocated.get().wrapping_add(allocated));
    });
}

#[inline]
fn count_free(size: usize) {
    let _ = COUNTERS.try_with(|c| c.live.set(c.live.get().wrapping_sub(bytes(size))));
}

// SAFETY: every method forwards to `inner` with the caller's arguments
// unchanged and returns its result; the counting touches only thread-local
// cells and never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { self.inner.alloc(layout) };
        if !ptr.is_null() {
            count_growth(bytes(layout.size()), layout.size() as u64);
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count_growth(bytes(layout.size()), layout.size() as u64);
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.dealloc(ptr, layout) };
        count_free(layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            let old = layout.size();
            if new_size >= old {
                count_growth(bytes(new_size - old), (new_size - old) as u64);
            } else {
                count_free(old - new_size);
            }
        }
        new
    }
}

/// Whether a [`CountingAllocator`] is the global allocator of this process.
///
/// The first allocation through it sets a flag; when the flag is not set
/// yet, this makes one small allocation to find out. The answer cannot
/// change during the life of a process.
pub fn is_installed() -> bool {
    if ACTIVE.load(Relaxed) {
        return true;
    }
    drop(std::hint::black_box(Box::new(0u64)));
    ACTIVE.load(Relaxed)
}

/// This thread's counters, as counted since the thread started.
///
/// All zero when no [`CountingAllocator`] is installed (see [`is_installed`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadAllocations {
    /// Bytes allocated minus bytes freed on this thread (negative when the
    /// thread freed memory other threads allocated).
    pub live: i64,
    /// Total bytes allocated on this thread (reallocation growth included).
    pub allocated: u64,
}

/// This thread's counters.
pub fn thread_allocations() -> ThreadAllocations {
    COUNTERS
        .try_with(|c| ThreadAllocations {
            live: c.live.get(),
            allocated: c.allocated.get(),
        })
        .unwrap_or_default()
}

/// Runs `f` and then takes its allocations off this thread's counters, as
/// if it had not run: the instrumentation's own one-time work (creating a
/// call site's series) stays out of the figures of the calls that enclose
/// it, and neither does recording a call's figures (a histogram's sketch
/// grows now and then). Without the counting allocator this just runs `f`.
/// The memory `f` keeps alive is then never counted, and if it is freed
/// later on this thread, that thread's live count drops below what its
/// scopes saw; use it only for memory that lives as long as the process.
#[inline]
pub fn uncounted<R>(f: impl FnOnce() -> R) -> R {
    if !ACTIVE.load(Relaxed) {
        return f();
    }
    let before = COUNTERS
        .try_with(|c| (c.live.get(), c.peak.get(), c.allocated.get()))
        .ok();
    let result = f();
    if let Some((live, peak, allocated)) = before {
        let _ = COUNTERS.try_with(|c| {
            c.live.set(live);
            c.peak.set(peak);
            c.allocated.set(allocated);
        });
    }
    result
}

/// What one call (or one poll, or all the polls of one future) did to the
/// heap of the thread it ran on, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryDelta {
    /// Live bytes at exit minus live bytes at entry: what the call kept (its
    /// return value, caches it filled), negative when it freed more than it
    /// allocated.
    pub net: i64,
    /// The highest live level reached above the level at entry (0 when the
    /// call never went above it).
    pub peak: u64,
    /// Every byte allocated, freed or not.
    pub allocated: u64,
}

impl MemoryDelta {
    /// Appends `later`, measured right after `self` on the same call: the
    /// peak of the whole is the higher of the two, seen from the start.
    pub fn then(self, later: MemoryDelta) -> MemoryDelta {
        let later_peak = self.net.saturating_add(i64::try_from(later.peak).unwrap_or(i64::MAX));
        MemoryDelta {
            net: self.net.saturating_add(later.net),
            peak: self.peak.max(u64::try_from(later_peak).unwrap_or(0)),
            allocated: self.allocated.saturating_add(later.allocated),
        }
    }
}

/// A measured stretch of code on one thread.
///
/// Entering saves the enclosing scope's peak and restarts peak tracking at
/// the current live level; [`exit`](Self::exit) (or dropping the scope,
/// e.g. while a panic unwinds) reports the [`MemoryDelta`] and folds this
/// scope's peak back into the enclosing one, so nested scopes are exact.
/// Scopes must end in the reverse order they were entered, on the thread
/// that entered them (the type is neither `Send` nor `Sync`).
///
/// ```
/// use metrics_core::alloc::AllocationScope;
/// let scope = AllocationScope::enter();
/// let v = vec![0u8; 4096];
/// let delta = scope.exit();
/// // Without the counting allocator installed every figure is 0.
/// assert!(delta.net == 0 || delta.net >= 4096);
/// # drop(v);
/// ```
#[derive(Debug)]
#[must_use = "a scope measures until it is exited; binding it to `_` ends it at once"]
pub struct AllocationScope {
    entry_live: i64,
    entry_allocated: u64,
    outer_peak: i64,
    open: bool,
    not_send: PhantomData<*const ()>,
}

impl AllocationScope {
    /// Starts measuring on this thread.
    #[inline]
    pub fn enter() -> Self {
        let (entry_live, entry_allocated, outer_peak) = COUNTERS
            .try_with(|c| {
                let live = c.live.get();
                let outer = c.peak.replace(live);
                (live, c.allocated.get(), outer)
            })
            .unwrap_or((0, 0, 0));
        AllocationScope {
            entry_live,
            entry_allocated,
            outer_peak,
            open: true,
            not_send: PhantomData,
        }
    }

    /// Stops measuring and returns what happened since [`enter`](Self::enter).
    #[inline]
    pub fn exit(mut self) -> MemoryDelta {
        self.close()
    }

    fn close(&mut self) -> MemoryDelta {
        self.open = false;
        let (live, peak, allocated) = COUNTERS
            .try_with(|c| {
                let peak = c.peak.get();
                c.peak.set(peak.max(self.outer_peak));
                (c.live.get(), peak, c.allocated.get())
            })
            .unwrap_or((self.entry_live, self.entry_live, self.entry_allocated));
        MemoryDelta {
            net: live.wrapping_sub(self.entry_live),
            peak: u64::try_from(peak.wrapping_sub(self.entry_live)).unwrap_or(0),
            allocated: allocated.wrapping_sub(self.entry_allocated),
        }
    }
}

impl Drop for AllocationScope {
    fn drop(&mut self) {
        if self.open {
            let _ = self.close();
        }
    }
}

/// The resident set size of this process in bytes, or `None` where the
/// platform does not tell. Process-wide and page-granular: the fallback of
/// `#[record_memory_usage]` when no [`CountingAllocator`] is installed.
pub fn resident_set_bytes() -> Option<u64> {
    rss::read()
}

#[cfg(target_os = "linux")]
mod rss {
    use std::io::Read;

    /// Reads `VmRSS` from `/proc/self/status` into a stack buffer (the file
    /// is about 1.5 KiB), so a reading allocates nothing.
    pub(super) fn read() -> Option<u64> {
        let mut file = std::fs::File::open("/proc/self/status").ok()?;
        let mut buf = [0u8; 8192];
        let mut len = 0;
        while len < buf.len() {
            match file.read(&mut buf[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        parse_vm_rss(&buf[..len])
    }

    pub(super) fn parse_vm_rss(status: &[u8]) -> Option<u64> {
        let text = std::str::from_utf8(status).ok()?;
        let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line
            .trim_start_matches("VmRSS:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        kib.checked_mul(1024)
    }
}

#[cfg(all(not(target_os = "linux"), feature = "system"))]
mod rss {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};

    pub(super) fn read() -> Option<u64> {
        let pid = sysinfo::get_current_pid().ok()?;
        let mut system = System::new().ok()?;
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing().with_memory(),
        );
        system.process(pid).map(|p| p.memory())
    }
}

#[cfg(all(not(target_os = "linux"), not(feature = "system")))]
mod rss {
    /// Without `/proc` or the `system` feature, the resident set is unknown.
    pub(super) fn read() -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_compose_peaks_from_the_start() {
        let first = MemoryDelta {
            net: 100,
            peak: 150,
            allocated: 200,
        };
        let second = MemoryDelta {
            net: -50,
            peak: 80,
            allocated: 80,
        };
        // The second part peaked 80 above its entry level, which was 100.
        assert_eq!(
            first.then(second),
            MemoryDelta {
                net: 50,
                peak: 180,
                allocated: 280
            }
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn rss_is_read_from_proc() {
        assert_eq!(
            rss::parse_vm_rss(b"Name:\tx\nVmRSS:\t  2048 kB\nThreads: 1\n"),
            Some(2048 * 1024)
        );
        assert_eq!(rss::parse_vm_rss(b"Name:\tx\n"), None);
        let rss = resident_set_bytes().unwrap_or(0);
        assert!(rss > 0, "a running process has resident pages");
    }
}
