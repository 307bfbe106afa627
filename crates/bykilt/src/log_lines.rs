//! Warnings this workspace's libraries log (a series folding into
//! `overflow="true"`, say) as `bykilt: warning:` lines on stderr, like the
//! command's own warnings, printed above the progress bar while one is
//! shown. Only warnings and errors, and only from our own crates: a
//! dependency's log lines are not the user's business.

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use indicatif::ProgressBar;

/// The process's logger: warnings and errors to stderr.
struct StderrWarnings;

static LOGGER: StderrWarnings = StderrWarnings;

/// The progress bar on screen, if any: lines go above it, through it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The `log` targets printed: this workspace's crates.
const OWN_TARGETS: [&str; 3] = ["metrics_", "batch_engine", "bykilt"];

/// Prints log lines above `bar` until [`bar_gone`].
pub(crate) fn bar_shown(bar: &ProgressBar) {
    *BAR.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
}

/// The bar is off the screen: log lines go straight to stderr again.
pub(crate) fn bar_gone() {
    *BAR.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

/// Installs the logger; a second call (or another logger set first) keeps
/// the one already there.
pub fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

/// The line a record becomes, or `None` below warning level or from
/// another crate.
fn line(record: &log::Record<'_>) -> Option<String> {
    if !OWN_TARGETS.iter().any(|t| record.target().starts_with(t)) {
        return None;
    }
    let kind = match record.level() {
        log::Level::Error => "error",
        log::Level::Warn => "warning",
        _ => return None,
    };
    Some(format!("bykilt: {kind}: {}", record.args()))
}

impl log::Log for StderrWarnings {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        let Some(line) = line(record) else {
            return;
        };
        match &*BAR.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(bar) => bar.println(line),
            // One write per line, so lines from two threads do not interleave.
            None => {
                let _ = std::io::stderr().lock().write_all(format!("{line}\n").as_bytes());
            }
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(level: log::Level, message: std::fmt::Arguments<'_>, f: impl FnOnce(&log::Record<'_>)) {
        record_from("metrics_core::overflow", level, message, f);
    }

    fn record_from(
        target: &str,
        level: log::Level,
        message: std::fmt::Arguments<'_>,
        f: impl FnOnce(&log::Record<'_>),
    ) {
        f(&log::Record::builder().level(level).target(target).args(message).build());
    }

    #[test]
    fn warnings_and_errors_become_bykilt_lines_and_the_rest_is_dropped() {
        record(log::Level::Warn, format_args!("metric `x` reached its cap"), |r| {
            assert_eq!(line(r).as_deref(), Some("bykilt: warning: metric `x` reached its cap"));
        });
        record(log::Level::Error, format_args!("disk full"), |r| {
            assert_eq!(line(r).as_deref(), Some("bykilt: error: disk full"));
        });
        record(log::Level::Info, format_args!("chatter"), |r| assert_eq!(line(r), None));
        record_from("batch_engine::runner", log::Level::Warn, format_args!("slow"), |r| {
            assert_eq!(line(r).as_deref(), Some("bykilt: warning: slow"));
        });
        record_from("ureq::unit", log::Level::Warn, format_args!("theirs"), |r| {
            assert_eq!(line(r), None, "a dependency's warning is not printed");
        });
        assert!(!log::Log::enabled(
            &StderrWarnings,
            &log::Metadata::builder().level(log::Level::Debug).build()
        ));
    }
}
