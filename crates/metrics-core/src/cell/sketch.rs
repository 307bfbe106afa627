//! `QuantileSketch`: quantiles with a relative-error bound in bounded memory.
//!
//! Buckets are log-linear, as in DDSketch's fast mappings and HDR
//! histograms: each power of two is split into [`SUB_BUCKETS`] equal
//! buckets, so a bucket spans at most 1/64 of its lower bound and its
//! midpoint is within 1/128 (0.8%) of every value in it. The bucket of a
//! value is read straight from its IEEE-754 bits (exponent and the top six
//! mantissa bits) — a shift instead of a logarithm, which keeps an
//! observation to a few nanoseconds.
//!
//! Negative values use a mirrored store; values whose magnitude is below
//! [`MIN_MAGNITUDE`] count as zero. Each store keeps at most
//! [`MAX_BUCKETS`] buckets (32 KiB, 19 decades of range); past that the
//! lowest buckets are merged, which only affects quantiles among the very
//! smallest values.

/// Relative accuracy of quantile estimates (the bound is 1/128 ≈ 0.78%).
pub const RELATIVE_ACCURACY: f64 = 0.01;
/// Linear sub-buckets per power of two.
pub const SUB_BUCKETS: u32 = 64;
/// Buckets per sign; 4096 buckets cover 64 powers of two (19 decades).
pub const MAX_BUCKETS: usize = 4096;
/// Magnitudes below this are counted as zero.
pub const MIN_MAGNITUDE: f64 = 1e-12;

/// Mantissa bits below the ones that pick the sub-bucket.
const SHIFT: u32 = 52 - SUB_BUCKETS.trailing_zeros();

#[inline]
fn bucket_of(magnitude: f64) -> i32 {
    // Positive finite floats order like their bits: the top bits are a
    // monotonic bucket index. 11 exponent + 6 mantissa bits fit in i32.
    (magnitude.to_bits() >> SHIFT) as i32
}

#[inline]
fn representative(index: i32) -> f64 {
    let index = u64::from(index.max(0).unsigned_abs());
    let lower = f64::from_bits(index << SHIFT);
    let upper = f64::from_bits((index + 1) << SHIFT);
    (lower + upper) / 2.0
}

#[derive(Debug, Clone, Default)]
struct Store {
    counts: Vec<u64>,
    /// Bucket index of `counts[0]`.
    offset: i32,
    total: u64,
}

impl Store {
    /// Counts `n` in bucket `index`: one bounds check when the bucket is
    /// inside the current span (the common case), else the span grows.
    #[inline]
    fn add(&mut self, index: i32, n: u64) {
        let pos = usize::try_from(i64::from(index) - i64::from(self.offset));
        if let Some(c) = pos.ok().and_then(|p| self.counts.get_mut(p)) {
            *c += n;
            self.total += n;
            return;
        }
        self.add_outside(index, n);
    }

    #[cold]
    fn add_outside(&mut self, index: i32, n: u64) {
        let mut index = index;
        self.total += n;
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(n);
            return;
        }
        let max = MAX_BUCKETS as i64;
        let lo = i64::from(self.offset);
        let hi = lo + self.counts.len() as i64 - 1;
        let idx = i64::from(index);
        if idx > hi {
            if idx - lo + 1 > max {
                // Merge the lowest buckets so that the span ends at `idx`.
                let new_lo = idx - max + 1;
                let shift = usize::try_from(new_lo - lo).unwrap_or(usize::MAX);
                if shift >= self.counts.len() {
                    let all: u64 = self.counts.iter().sum();
                    self.counts.clear();
                    self.counts.push(all);
                } else {
                    let merged: u64 = self.counts[..=shift].iter().sum();
                    self.counts.drain(..shift);
                    self.counts[0] = merged;
                }
                self.offset = new_lo as i32;
            }
            let len = usize::try_from(idx - i64::from(self.offset) + 1).unwrap_or(1);
            self.counts.resize(len, 0);
        } else if idx < lo {
            if hi - idx + 1 > max {
                // Too low to keep its own bucket: fold into the lowest kept one.
                index = (hi - max + 1) as i32;
            }
            let idx = i64::from(index);
            if idx < lo {
                let grow = usize::try_from(lo - idx).unwrap_or(0);
                self.counts.splice(0..0, std::iter::repeat_n(0, grow));
                self.offset = index;
            }
        }
        let pos = usize::try_from(i64::from(index) - i64::from(self.offset)).unwrap_or(0);
        if let Some(c) = self.counts.get_mut(pos) {
            *c += n;
        }
    }

    fn merge(&mut self, other: &Store) {
        for (i, &c) in other.counts.iter().enumerate() {
            if c > 0 {
                self.add(other.offset + i as i32, c);
            }
        }
    }
}

/// A mergeable quantile sketch with 1% relative error and at most
/// 2 × [`MAX_BUCKETS`] buckets.
///
/// ```
/// use metrics_core::sketch::QuantileSketch;
/// let mut s = QuantileSketch::default();
/// for i in 1..=1000 { s.add(i as f64); }
/// let p99 = s.quantile(0.99).unwrap();
/// assert!((p99 - 990.0).abs() <= 990.0 * 0.01);
/// ```
#[derive(Debug, Clone, Default)]
pub struct QuantileSketch {
    positive: Store,
    negative: Store,
    zeros: u64,
}

impl QuantileSketch {
    /// Adds one observation. Non-finite values are ignored (the store never
    /// passes them).
    #[inline]
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.add_finite(value);
    }

    /// [`add`](Self::add) for a value the caller knows to be finite (a
    /// histogram's, whose sum stayed finite): no check.
    #[inline]
    pub(crate) fn add_finite(&mut self, value: f64) {
        let m = value.abs();
        if m < MIN_MAGNITUDE {
            self.zeros += 1;
        } else if value > 0.0 {
            self.positive.add(bucket_of(m), 1);
        } else {
            self.negative.add(bucket_of(m), 1);
        }
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.positive.total + self.negative.total + self.zeros
    }

    /// Adds every observation of `other`.
    pub fn merge(&mut self, other: &QuantileSketch) {
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        self.zeros += other.zeros;
    }

    /// The nearest-rank `q`-quantile (0 ≤ q ≤ 1) within 1% relative error,
    /// or `None` when empty. `q` outside [0, 1] is clamped.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0u64;
        // Most negative first: the negative store from its highest magnitude down.
        for (i, &c) in self.negative.counts.iter().enumerate().rev() {
            seen += c;
            if seen >= rank {
                return Some(-representative(self.negative.offset + i as i32));
            }
        }
        seen += self.zeros;
        if seen >= rank {
            return Some(0.0);
        }
        for (i, &c) in self.positive.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(representative(self.positive.offset + i as i32));
            }
        }
        None
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        (self.positive.counts.capacity() + self.negative.counts.capacity()) * size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(sorted: &[f64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    #[test]
    fn relative_error_within_one_percent() {
        let mut values: Vec<f64> = (0..10_000).map(|i| 1e-4 * 1.0007f64.powi(i)).collect();
        values.extend((0..500).map(|i| -(i as f64) * 3.3));
        values.push(0.0);
        let mut s = QuantileSketch::default();
        for &v in &values {
            s.add(v);
        }
        values.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0] {
            let want = exact(&values, q);
            let got = s.quantile(q).unwrap();
            assert!(
                (got - want).abs() <= want.abs() * RELATIVE_ACCURACY + 1e-12,
                "q={q} want {want} got {got}"
            );
        }
    }

    #[test]
    fn memory_is_bounded_for_huge_ranges() {
        let mut s = QuantileSketch::default();
        for e in -300..300 {
            s.add(10f64.powi(e));
            s.add(-(10f64.powi(e)));
        }
        assert!(s.heap_bytes() <= 2 * MAX_BUCKETS * 8 * 2, "{}", s.heap_bytes());
        assert_eq!(s.count(), 1200);
        // The largest values keep their accuracy.
        let max = s.quantile(1.0).unwrap();
        assert!((max - 1e299).abs() <= 1e299 * RELATIVE_ACCURACY);
    }

    #[test]
    fn merge_equals_adding() {
        let mut a = QuantileSketch::default();
        let mut b = QuantileSketch::default();
        let mut all = QuantileSketch::default();
        for i in 1..500 {
            let v = i as f64 * 0.37;
            if i % 2 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            all.add(v);
        }
        a.merge(&b);
        for q in [0.1, 0.5, 0.9, 0.99] {
            assert_eq!(a.quantile(q), all.quantile(q));
        }
        assert_eq!(a.count(), all.count());
    }

    #[test]
    fn empty_has_no_quantile() {
        assert_eq!(QuantileSketch::default().quantile(0.5), None);
    }
}
