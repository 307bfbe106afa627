//! The seed's "Basic Metrics Collection" and "Data Export", in Rust.
//!
//! Run with `cargo run --release --example basic_metrics`. It records a few
//! thousand samples of every metric type, prints summaries, and exports JSON
//! and CSV under `artifacts/examples/basic_metrics/`.
#![allow(clippy::print_stdout)]
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use metrics_core::{
    MetricType, MetricsCollector, MetricsConfig, SummaryQuery, TagFilter, get_metrics_collector, record_system_metrics,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::Path::new("artifacts/examples/basic_metrics");
    let collector: &MetricsCollector = get_metrics_collector();
    collector.configure(&MetricsConfig {
        storage_path: out.to_path_buf(),
        ..MetricsConfig::default()
    });

    // The seed's three calls.
    collector.record_metric("user_logins", 1.0, &[], MetricType::Counter)?;
    collector.record_metric("response_time", 0.245, &[], MetricType::Histogram)?;
    collector.record_metric("memory_usage", 85.5, &[], MetricType::Gauge)?;

    // Tagged samples: a simulated day of requests on two routes.
    let started = Instant::now();
    for i in 0..5_000u32 {
        let route = if i % 3 == 0 { "/jobs" } else { "/health" };
        let seconds = 0.002 + f64::from(i % 97) * 0.0013;
        collector.record_metric("request_seconds", seconds, &[("route", route)], MetricType::Timer)?;
    }
    let record_time = started.elapsed();

    // The hot path: handles resolved once.
    let logins = collector.counter("user_logins", &[])?;
    let in_flight = collector.gauge("requests_in_flight", &[])?;
    let timer = collector.timer("handler_seconds", &[("handler", "report")])?;
    for _ in 0..1_000 {
        logins.increment(1);
        in_flight.increment(1.0);
        let guard = timer.start();
        std::hint::black_box((0..200).sum::<u64>());
        drop(guard);
        in_flight.decrement(1.0);
    }
    timer.record(Duration::from_millis(12));

    record_system_metrics(collector)?;

    let requests = collector
        .get_metric_series("request_seconds")
        .ok_or("request_seconds was recorded above")?;
    for route in ["/jobs", "/health"] {
        let query = SummaryQuery {
            since: None,
            tags: TagFilter::new().with("route", route),
        };
        if let Some(s) = requests.summary(&query) {
            println!(
                "request_seconds{{route={route}}}: count={} avg={:.4}s p50={:.4}s p99={:.4}s max={:.4}s",
                s.count, s.avg, s.p50, s.p99, s.max
            );
        }
    }
    println!("user_logins total: {}", logins.value());
    println!(
        "recorded 5000 tagged samples in {:?} ({:.0} ns each)",
        record_time,
        record_time.as_nanos() as f64 / 5000.0
    );

    for info in collector.list_series() {
        println!(
            "  {:<28} {:<9} {:>6} samples",
            info.name, info.metric_type, info.samples
        );
    }

    let json = collector.export_json_to(out.join("metrics.json"))?;
    let csv = collector.export_to_csv(out.join("csv"))?;
    println!(
        "exported {} and {} CSV files in {}",
        json.display(),
        csv.len(),
        out.join("csv").display()
    );
    Ok(())
}
