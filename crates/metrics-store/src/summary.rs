//! Summaries of stored samples.

use metrics_core::Summary;

/// The same figures as [`Summary::from_values`] (nearest-rank percentiles)
/// without sorting: each percentile is one selection, O(n) in all.
pub(crate) fn summarize(mut values: Vec<f64>) -> Option<Summary> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (mut sum, mut min, mut max) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
    for &v in &values {
        sum += v;
        min = min.min(v);
        max = max.max(v);
    }
    let rank = |p: f64| (((p / 100.0) * n as f64).ceil() as usize).clamp(1, n) - 1;
    let mut picked = [0.0; 4];
    let mut lo = 0;
    for (i, p) in [50.0, 90.0, 95.0, 99.0].into_iter().enumerate() {
        let r = rank(p);
        // Ranks ascend, so each selection only searches above the last.
        let (_, v, _) = values[lo..].select_nth_unstable_by(r - lo, f64::total_cmp);
        picked[i] = *v;
        lo = r;
    }
    Some(Summary {
        count: n,
        sum,
        min,
        max,
        avg: sum / n as f64,
        p50: picked[0],
        p90: picked[1],
        p95: picked[2],
        p99: picked[3],
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn summaries_by_selection_equal_summaries_by_sorting() {
        for n in [1usize, 2, 3, 10, 99, 100, 101, 1000] {
            let values: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1013) as f64 * 0.5).collect();
            let a = super::summarize(values.clone()).unwrap();
            let b = metrics_core::Summary::from_values(values).unwrap();
            assert_eq!(
                (a.count, a.min, a.max, a.p50, a.p90, a.p95, a.p99),
                (b.count, b.min, b.max, b.p50, b.p90, b.p95, b.p99),
                "{n}"
            );
            assert!((a.sum - b.sum).abs() < 1e-6);
        }
    }
}
