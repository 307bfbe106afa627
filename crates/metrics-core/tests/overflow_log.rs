//! With no hook set, a series reaching its cap is a warning on the `log`
//! facade: once per series, then at most once per interval. (Its own test
//! binary: the process has one logger.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_core::clock::ManualClock;
use metrics_core::{MetricsCollector, MetricsConfig, OVERFLOW_LOG_TARGET, OVERFLOW_REPORT_INTERVAL};

/// Every record logged in this process: (level, target, message).
static RECORDS: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        RECORDS
            .lock()
            .unwrap()
            .push((record.level(), record.target().to_owned(), record.args().to_string()));
    }
    fn flush(&self) {}
}

fn records_about(metric: &str) -> Vec<(log::Level, String, String)> {
    let needle = format!("`{metric}`");
    RECORDS
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, msg)| msg.contains(&needle))
        .cloned()
        .collect()
}

#[test]
fn a_series_at_its_cap_warns_on_the_log_facade_once_per_interval_unless_a_hook_is_set() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let clock = Arc::new(ManualClock::new(1_000_000_000));
    let c = MetricsCollector::with_clock(
        MetricsConfig {
            max_tag_sets_per_series: 2,
            system_metrics_interval: Duration::ZERO,
            ..MetricsConfig::default()
        },
        clock.clone(),
    );
    for i in 0..20 {
        c.increment_counter("logins", &[("user", format!("u{i}").as_str())], 1)
            .unwrap();
    }
    let logged = records_about("logins");
    assert_eq!(logged.len(), 1, "{logged:?}");
    let (level, target, message) = &logged[0];
    assert_eq!(*level, log::Level::Warn);
    assert_eq!(target, OVERFLOW_LOG_TARGET);
    assert!(message.contains("max_tag_sets_per_series (2)"), "{message}");

    // Rate-limited: silent within the interval, one more after it.
    clock.advance(OVERFLOW_REPORT_INTERVAL - Duration::from_secs(1));
    c.increment_counter("logins", &[("user", "late")], 1).unwrap();
    assert_eq!(records_about("logins").len(), 1);
    clock.advance(Duration::from_secs(1));
    c.increment_counter("logins", &[("user", "later")], 1).unwrap();
    let logged = records_about("logins");
    assert_eq!(logged.len(), 2);
    assert!(logged[1].2.contains("20 updates so far"), "{:?}", logged[1]);

    // A hook replaces the warning; clearing it brings the warning back.
    let heard = Arc::new(Mutex::new(0));
    let count = Arc::clone(&heard);
    c.set_overflow_hook(move |_| *count.lock().unwrap() += 1);
    clock.advance(OVERFLOW_REPORT_INTERVAL);
    c.increment_counter("logins", &[("user", "hooked")], 1).unwrap();
    assert_eq!(*heard.lock().unwrap(), 1);
    assert_eq!(records_about("logins").len(), 2);
    c.clear_overflow_hook();
    clock.advance(OVERFLOW_REPORT_INTERVAL);
    c.increment_counter("logins", &[("user", "unhooked")], 1).unwrap();
    assert_eq!(records_about("logins").len(), 3);
    assert_eq!(*heard.lock().unwrap(), 1);
}
