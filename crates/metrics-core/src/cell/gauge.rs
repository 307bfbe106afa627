//! `GaugeCell`: a gauge's last value, as `f64` bits in an atomic.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::counter::atomic_f64_add;

/// The last value set, as `f64` bits.
#[derive(Debug, Default)]
pub(crate) struct GaugeCell(AtomicU64);

impl GaugeCell {
    #[inline]
    pub(crate) fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Relaxed);
    }
    /// Adds `v`; false (and the value unchanged) when the result would not
    /// be finite.
    #[inline]
    pub(crate) fn add(&self, v: f64) -> bool {
        atomic_f64_add(&self.0, v)
    }
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }
}
