//! Warnings the libraries log (a series folding into `overflow="true"`, say)
//! as `bykilt: warning:` lines on stderr, like the command's own warnings.
//! Only warnings and errors: the libraries' debug chatter is not the user's.

use std::io::Write;

/// The process's logger: warnings and errors to stderr.
struct StderrWarnings;

static LOGGER: StderrWarnings = StderrWarnings;

/// Installs the logger; a second call (or another logger set first) keeps
/// the one already there.
pub fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

/// The line a record becomes, or `None` below warning level.
pub fn line(record: &log::Record<'_>) -> Option<String> {
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
        if let Some(line) = line(record) {
            // One write per line, so lines from two threads do not interleave.
            let _ = std::io::stderr().lock().write_all(format!("{line}\n").as_bytes());
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(level: log::Level, message: std::fmt::Arguments<'_>, f: impl FnOnce(&log::Record<'_>)) {
        f(&log::Record::builder()
            .level(level)
            .target("metrics_core::overflow")
            .args(message)
            .build());
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
        assert!(!log::Log::enabled(
            &StderrWarnings,
            &log::Metadata::builder().level(log::Level::Debug).build()
        ));
    }
}
