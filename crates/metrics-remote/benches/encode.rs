//! Remote-write and OTLP encoding speed and size.
//!
//! * `encode_compress`: protobuf + snappy of a 2,000-sample `WriteRequest`
//!   (20 series of 100 samples, 1 s apart, four labels each); the issue's
//!   target is 2,000,000 samples/s on one core.
//! * `interval_*`: one send interval of a batch recording 10,000 samples/s
//!   with the default 15 s interval: the 150,000 new samples read from the
//!   collector, rebuilt, encoded and compressed (the CPU `--remote-write`
//!   adds is this time divided by 15 s).
//!
//! Bytes on the wire per sample are printed once before the runs.
#![allow(missing_docs, clippy::print_stderr, clippy::unwrap_used)]

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use metrics_core::{MetricType, MetricsCollector, MetricsConfig};
use metrics_remote::proto::prw::{Label, Sample, TimeSeries, WriteRequest};
use metrics_remote::{Positions, Protocol, encode_pending, encode_write_request};

const SERIES: usize = 20;
const PER_SERIES: usize = 100;

fn request() -> WriteRequest {
    let start = 1_764_600_000_000i64;
    WriteRequest {
        timeseries: (0..SERIES)
            .map(|s| TimeSeries {
                labels: [
                    ("__name__", "job_status_total".to_owned()),
                    ("batch_id", "batch-20261201-212442-3f9a".to_owned()),
                    ("run_id", "run-20261201-212442".to_owned()),
                    ("status", format!("status-{s}")),
                ]
                .into_iter()
                .map(|(n, v)| Label {
                    name: n.into(),
                    value: v,
                })
                .collect(),
                samples: (0..PER_SERIES)
                    .map(|i| Sample {
                        value: (i * 3 + s) as f64,
                        timestamp: start + (i as i64) * 1000 + (i as i64 * 37 % 200),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// A collector holding one interval of a 10,000 samples/s batch: 15 s of
/// job counters, durations and a gauge over 8 tag sets.
fn interval_collector() -> MetricsCollector {
    let c = MetricsCollector::new(MetricsConfig {
        max_samples_per_series: 10_000_000,
        retention: std::time::Duration::from_secs(86_400),
        ..MetricsConfig::default()
    });
    let start = time::OffsetDateTime::now_utc() - time::Duration::seconds(20);
    for i in 0..150_000i64 {
        let at = start + time::Duration::microseconds(i * 100);
        let q = ["a", "b", "c", "d", "e", "f", "g", "h"][(i % 8) as usize];
        let tags = [("batch_id", "batch-1"), ("queue", q)];
        match i % 3 {
            0 => c.record_metric_at("job_status", 1.0, &tags, MetricType::Counter, at),
            1 => c.record_metric_at(
                "job_duration_seconds",
                (i % 97) as f64 / 10.0,
                &tags,
                MetricType::Histogram,
                at,
            ),
            _ => c.record_metric_at("jobs_in_flight", (i % 16) as f64, &tags, MetricType::Gauge, at),
        }
        .unwrap();
    }
    c
}

fn main() {
    let req = request();
    let body = encode_write_request(&req);
    let raw = prost::Message::encoded_len(&req);
    let n = (SERIES * PER_SERIES) as f64;
    eprintln!(
        "remote write, {} samples: {raw} bytes protobuf ({:.2}/sample), {} bytes snappy ({:.2}/sample on the wire)",
        SERIES * PER_SERIES,
        raw as f64 / n,
        body.len(),
        body.len() as f64 / n
    );
    let c = interval_collector();
    for (label, protocol) in [
        ("remote write", Protocol::RemoteWrite),
        (
            "otlp",
            Protocol::Otlp {
                service_name: "bench".into(),
            },
        ),
    ] {
        let batches = encode_pending(&c, &protocol, None, &Positions::new(), 2_000);
        let bytes: usize = batches.iter().map(|b| b.body.len()).sum();
        let samples: usize = batches.iter().map(|b| b.samples).sum();
        eprintln!(
            "{label}, one 15 s interval at 10k samples/s: {samples} samples/points in {} batches, {bytes} bytes ({:.2}/sample)",
            batches.len(),
            bytes as f64 / samples as f64
        );
    }
    divan::main();
}

#[divan::bench]
fn encode_compress(b: Bencher<'_, '_>) {
    let req = request();
    b.counter(ItemsCount::new(SERIES * PER_SERIES))
        .bench(|| black_box(encode_write_request(black_box(&req))));
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn interval_remote_write(b: Bencher<'_, '_>) {
    let c = interval_collector();
    b.counter(ItemsCount::new(150_000usize)).bench(|| {
        black_box(encode_pending(
            &c,
            &Protocol::RemoteWrite,
            None,
            &Positions::new(),
            2_000,
        ))
    });
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn interval_otlp(b: Bencher<'_, '_>) {
    let c = interval_collector();
    let p = Protocol::Otlp {
        service_name: "bench".into(),
    };
    b.counter(ItemsCount::new(150_000usize))
        .bench(|| black_box(encode_pending(&c, &p, None, &Positions::new(), 2_000)));
}
