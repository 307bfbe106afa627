//! `Settings`: what every series of a collector reads on its hot path
//! (clock, enabled flag, limits), in atomics so that a running collector can
//! be reconfigured without replacing it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};

use crate::clock::{self, Clock, RecentClock};
use crate::config::MetricsConfig;
use crate::store::overflow::HookSlot;
use crate::store::sink::SinkSlot;
use crate::store::validate::MAX_TAGS_LIMIT;

/// Settings every series reads on its hot path, kept in atomics so that a
/// running collector can be reconfigured without replacing it.
#[derive(Debug)]
pub(crate) struct Settings {
    /// `None`: the [`RecentClock`], read without a virtual call (it is read
    /// once per kept sample).
    clock: Option<Arc<dyn Clock>>,
    enabled: AtomicBool,
    retention_nanos: AtomicI64,
    max_samples: AtomicUsize,
    max_tag_sets: AtomicUsize,
    max_tags: AtomicUsize,
    /// Distinct metric names a collector holds (`MetricsConfig::max_series`).
    max_series: AtomicUsize,
    /// Where kept samples go besides the rings (a durable store), if anywhere.
    sink: SinkSlot,
    /// The program's cardinality-cap callback.
    pub(crate) overflow_hook: HookSlot,
    /// `idle_timeout` in ns; 0 when tag sets never expire.
    idle_timeout_nanos: AtomicI64,
}

impl Settings {
    /// Settings from `config`; samples are timestamped by `clock`, or by
    /// the [`RecentClock`] when `None`.
    pub(crate) fn new(config: &MetricsConfig, clock: Option<Arc<dyn Clock>>) -> Self {
        let settings = Settings {
            clock,
            enabled: AtomicBool::new(true),
            retention_nanos: AtomicI64::new(0),
            max_samples: AtomicUsize::new(0),
            max_tag_sets: AtomicUsize::new(0),
            max_tags: AtomicUsize::new(0),
            max_series: AtomicUsize::new(0),
            sink: SinkSlot::default(),
            overflow_hook: HookSlot::default(),
            idle_timeout_nanos: AtomicI64::new(0),
        };
        settings.apply(config);
        settings
    }

    /// The collector's sample sink slot.
    #[inline]
    pub(crate) fn sink(&self) -> &SinkSlot {
        &self.sink
    }

    pub(crate) fn apply(&self, config: &MetricsConfig) {
        self.enabled.store(config.enabled, SeqCst);
        self.retention_nanos
            .store(clock::duration_nanos(config.retention), Relaxed);
        self.max_samples.store(config.max_samples_per_series, Relaxed);
        self.max_tag_sets.store(config.max_tag_sets_per_series, Relaxed);
        self.max_tags
            .store(config.max_tags_per_sample.min(MAX_TAGS_LIMIT), Relaxed);
        let idle = config.idle_timeout.map_or(0, clock::duration_nanos);
        self.idle_timeout_nanos.store(idle, Relaxed);
        self.max_series.store(config.max_series, Relaxed);
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, SeqCst);
    }
    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(SeqCst)
    }
    #[inline]
    pub(crate) fn now_nanos(&self) -> i64 {
        match &self.clock {
            None => RecentClock.now_nanos(),
            Some(clock) => clock.now_nanos(),
        }
    }
    /// A kept sample's timestamp, and whether it is the [`RecentClock`]'s
    /// (which samples recorded within one of its periods read alike).
    #[inline]
    pub(crate) fn stamp(&self) -> (i64, bool) {
        match &self.clock {
            None => (RecentClock.now_nanos(), true),
            Some(clock) => (clock.now_nanos(), false),
        }
    }
    #[inline]
    pub(crate) fn retention_nanos(&self) -> i64 {
        self.retention_nanos.load(Relaxed)
    }
    /// Samples older than this (ns since epoch) are expired.
    #[inline]
    pub(crate) fn retention_cutoff(&self) -> i64 {
        self.now_nanos().saturating_sub(self.retention_nanos())
    }
    #[inline]
    pub(crate) fn max_samples(&self) -> usize {
        self.max_samples.load(Relaxed)
    }
    pub(crate) fn max_tag_sets(&self) -> usize {
        self.max_tag_sets.load(Relaxed)
    }
    pub(crate) fn max_tags(&self) -> usize {
        self.max_tags.load(Relaxed)
    }
    /// `idle_timeout` in ns, `None` when off.
    pub(crate) fn idle_timeout_nanos(&self) -> Option<i64> {
        Some(self.idle_timeout_nanos.load(Relaxed)).filter(|&n| n > 0)
    }
    pub(crate) fn max_series(&self) -> usize {
        self.max_series.load(Relaxed)
    }
}
