//! Memory per retained sample and per new tag set, counted by a global
//! allocator that tracks live heap bytes.
//!
//! Run with `cargo bench -p metrics-core --bench memory`.
#![allow(clippy::print_stdout)]

use metrics_core::{MetricType, MetricsCollector, MetricsConfig};

#[path = "../tests/common/live_bytes.rs"]
mod live_bytes;
use live_bytes::live;

fn main() {
    let config = MetricsConfig {
        max_samples_per_series: 1_000_000,
        ..MetricsConfig::default()
    };

    // Bytes per retained sample: one series, one tag set, many samples.
    for n in [10_000usize, 100_000, 1_000_000] {
        let c = MetricsCollector::new(config.clone());
        c.record_metric("warm", 1.0, &[("k", "v")], MetricType::Gauge).ok();
        let before = live();
        for i in 0..n {
            c.record_metric("warm", i as f64, &[("k", "v")], MetricType::Gauge).ok();
        }
        let per = (live() - before) as f64 / n as f64;
        println!("retained sample: {n:>9} samples  {per:6.2} bytes/sample");
    }

    // Bytes per new series (tag set): unique label values, aggregates only.
    // Each measurement runs on a fresh thread, so the per-thread resolution
    // cache starts empty; its slots (bounded) are part of the cost.
    for ty in [MetricType::Counter, MetricType::Gauge, MetricType::Histogram] {
        let config = config.clone();
        let (per, label) = std::thread::spawn(move || {
            let c = MetricsCollector::new(config);
            let n = 10_000usize;
            let values: Vec<String> = (0..n).map(|i| format!("{i:08}")).collect();
            let label_bytes: usize = values.iter().map(|v| v.len() + "id".len()).sum();
            let before = live();
            for v in &values {
                let tags = [("id", v.as_str())];
                let _ = match ty {
                    MetricType::Counter => c.increment_counter("per_series", &tags, 1),
                    MetricType::Gauge => c.set_gauge("per_series_g", &tags, 1.0),
                    _ => c.observe_histogram("per_series_h", &tags, 1.0),
                };
            }
            let per = (live() - before) as f64 / n as f64;
            drop(c);
            (per, label_bytes as f64 / n as f64)
        })
        .join()
        .unwrap_or((f64::NAN, f64::NAN));
        println!("new {ty:<9} tag set: {per:7.1} bytes/series (label bytes {label:.1})");
    }

    // Bytes per new metric name (the `max_series` scenario): one tag, an
    // 8-byte unique name suffix; aggregate only (increment_counter), and
    // holding one sample (record_metric). Targets: ≤ 200 and ≤ 400 bytes.
    for with_sample in [false, true] {
        let config = config.clone();
        let per = std::thread::spawn(move || {
            let c = MetricsCollector::new(config);
            let n = 10_000usize;
            let names: Vec<String> = (0..n).map(|i| format!("job_{i:08}")).collect();
            let before = live();
            for name in &names {
                let _ = if with_sample {
                    c.record_metric(name, 1.0, &[("status", "ok")], MetricType::Gauge)
                } else {
                    c.increment_counter(name, &[("status", "ok")], 1)
                };
            }
            let per = (live() - before) as f64 / n as f64;
            drop(c);
            per
        })
        .join()
        .unwrap_or(f64::NAN);
        let what = if with_sample {
            "holding one sample"
        } else {
            "aggregate only    "
        };
        println!("new name, one tag, {what}: {per:7.1} bytes/series");
    }
}
