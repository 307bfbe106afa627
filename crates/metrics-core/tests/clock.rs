//! The calibrated clocks: timers measure at least the time slept and agree
//! with `std::time::Instant`; sample timestamps agree with `SystemTime`.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metrics_core::clock::{Clock, Stopwatch, SystemClock};
use metrics_core::{AggregateValue, MetricType, MetricsCollector, SampleSink, SeriesKey};

/// How far behind `SystemTime` a recent-clock timestamp may be: its 0.5 ms
/// period plus however long a loaded machine (CI runs many test binaries on
/// two cores) keeps the updater thread waiting for a core, seen at ~1.7 ms.
const RECENT_LAG: i64 = 250_000_000;
/// How far past `SystemTime` a recent-clock sample may be: a tie moved one
/// period past the series' newest sample, plus a nanosecond per sample.
const RECENT_LEAD: i64 = 1_000_000;

fn system_nanos() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()).unwrap()
}

#[test]
fn a_stopwatch_measures_at_least_the_sleep_and_agrees_with_std() {
    for ms in [1, 5, 20] {
        let sleep = Duration::from_millis(ms);
        let outer = Instant::now();
        let watch = Stopwatch::start();
        std::thread::sleep(sleep);
        let measured = watch.elapsed();
        let std_elapsed = outer.elapsed();
        assert!(measured >= sleep, "{ms} ms sleep measured {measured:?}");
        // The counter's calibration is good to far better than 1%: the
        // stopwatch lies inside std's wider window (plus rounding).
        assert!(
            measured <= std_elapsed + Duration::from_micros(50),
            "{ms} ms: stopwatch {measured:?}, std {std_elapsed:?}"
        );
    }
}

#[test]
fn a_timer_records_at_least_the_sleep_in_seconds() {
    let c = MetricsCollector::default();
    let t = c.timer("sleep_seconds", &[]).unwrap();
    let guard = t.start();
    std::thread::sleep(Duration::from_millis(15));
    let returned = guard.stop();
    assert!(returned >= Duration::from_millis(15), "{returned:?}");
    let s = c.get_metric_series("sleep_seconds").unwrap();
    match s.aggregate(&[]) {
        Some(AggregateValue::Histogram(h)) => {
            assert_eq!(h.count, 1);
            assert!(h.sum >= 0.015 && (h.sum - returned.as_secs_f64()).abs() < 1e-9, "{h:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn elapsed_time_never_goes_backwards() {
    let watch = Stopwatch::start();
    let mut last = Duration::ZERO;
    for _ in 0..100_000 {
        let e = watch.elapsed();
        assert!(e >= last, "{e:?} after {last:?}");
        last = e;
    }
}

#[test]
fn the_system_clock_agrees_with_system_time() {
    // Across several reads (the first may re-read SystemTime, later ones
    // run on the counter), each stays within a millisecond of the window
    // SystemTime gives around it.
    for _ in 0..1000 {
        let before = system_nanos();
        let ours = SystemClock.now_nanos();
        let after = system_nanos();
        assert!(
            ours >= before - 1_000_000 && ours <= after + 1_000_000,
            "{before} <= {ours} <= {after}"
        );
    }
    // Still within a millisecond after the counter has run for a while.
    std::thread::sleep(Duration::from_millis(30));
    let before = system_nanos();
    let ours = SystemClock.now_nanos();
    let after = system_nanos();
    assert!(
        ours >= before - 1_000_000 && ours <= after + 1_000_000,
        "{before} <= {ours} <= {after}"
    );
}

#[test]
fn a_kept_sample_is_timestamped_by_the_wall_clock() {
    let c = MetricsCollector::default();
    let before = system_nanos();
    c.record_metric("jobs", 1.0, &[("k", "v")], MetricType::Counter)
        .unwrap();
    let after = system_nanos();
    let values = c.get_metric_series("jobs").unwrap().values();
    assert_eq!(values.len(), 1);
    let ts = i64::try_from(values[0].timestamp.unix_timestamp_nanos()).unwrap();
    assert!(
        ts >= before - RECENT_LAG && ts <= after + RECENT_LEAD,
        "{before} <= {ts} <= {after}"
    );
}

/// Every sample a sink was handed: (timestamp, value).
#[derive(Debug, Default)]
struct Handed(Mutex<Vec<(i64, f64)>>);

impl SampleSink for Handed {
    fn accept(&self, _: SeriesKey, _: u32, timestamp_nanos: i64, value: f64) {
        self.0.lock().unwrap().push((timestamp_nanos, value));
    }
}

#[test]
fn a_busy_series_keeps_the_recording_order_and_hands_a_sink_the_timestamps_it_keeps() {
    // Past a few hundred samples a series is busy: its recording thread
    // keeps samples in a buffer of its own. Order and timestamps must be
    // what the ring alone would give.
    let c = MetricsCollector::default();
    let sink = Arc::new(Handed::default());
    c.attach_sink(sink.clone());
    let before = system_nanos();
    for i in 0..3_000 {
        let status = ["ok", "failed", "retry"][i % 3];
        c.record_metric("events", i as f64, &[("status", status)], MetricType::Gauge)
            .unwrap();
    }
    let after = system_nanos();
    let mut values = c.get_metric_series("events").unwrap().values();
    values.sort_by_key(|v| v.timestamp);
    let kept: Vec<(i64, f64)> = values
        .iter()
        .map(|v| (i64::try_from(v.timestamp.unix_timestamp_nanos()).unwrap(), v.value))
        .collect();
    let order: Vec<f64> = kept.iter().map(|k| k.1).collect();
    assert_eq!(order, (0..3_000).map(f64::from).collect::<Vec<_>>());
    assert!(kept.windows(2).all(|w| w[0].0 < w[1].0), "timestamps strictly increase");
    assert!(
        kept.iter()
            .all(|(ts, _)| *ts >= before - RECENT_LAG && *ts <= after + RECENT_LEAD)
    );
    assert_eq!(*sink.0.lock().unwrap(), kept, "the sink saw the same samples and times");
}

#[test]
fn samples_recorded_within_one_clock_period_keep_their_order_across_tag_sets() {
    // The default collector stamps samples with the recent clock, which
    // every read within one 0.5 ms period returns alike: the series moves
    // such ties apart, so sorting by time gives the recording order back.
    let c = MetricsCollector::default();
    let before = system_nanos();
    for (i, status) in ["ok", "failed", "ok", "failed", "ok"].into_iter().enumerate() {
        c.record_metric("job_seconds", i as f64, &[("status", status)], MetricType::Timer)
            .unwrap();
    }
    let after = system_nanos();
    let mut values = c.get_metric_series("job_seconds").unwrap().values();
    values.sort_by_key(|v| v.timestamp);
    let order: Vec<f64> = values.iter().map(|v| v.value).collect();
    assert_eq!(order, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    let stamps: Vec<i64> = values
        .iter()
        .map(|v| i64::try_from(v.timestamp.unix_timestamp_nanos()).unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    // Moved later by at most a period, never away from when they were recorded.
    for ts in stamps {
        assert!(
            ts >= before - RECENT_LAG && ts <= after + RECENT_LEAD,
            "{before} <= {ts} <= {after}"
        );
    }
}
