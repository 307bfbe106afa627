//! Run progress on stderr: a progress bar on a terminal, one plain line per
//! finished job otherwise, nothing with `--quiet`.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use batch_engine::{BatchObserver, JobEvent, JobStatus};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::fmt_secs;

#[derive(Debug)]
enum Mode {
    Bar(ProgressBar),
    Lines,
    Silent,
}

/// A [`BatchObserver`] that shows progress.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    total: AtomicUsize,
    finished: AtomicUsize,
    failed: AtomicUsize,
    stopped: AtomicUsize,
    running: AtomicUsize,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines otherwise, nothing when `quiet`.
    pub fn new(quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Silent
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}  {per_sec}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            Mode::Bar(bar)
        } else {
            Mode::Lines
        };
        Progress {
            mode,
            total: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            stopped: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
        }
    }

    fn message(&self) -> String {
        // The counters are read one by one while workers update them.
        let done = self
            .finished
            .load(Relaxed)
            .saturating_sub(self.failed.load(Relaxed))
            .saturating_sub(self.stopped.load(Relaxed));
        let mut m = format!(
            "done {done}  failed {}  running {}",
            self.failed.load(Relaxed),
            self.running.load(Relaxed)
        );
        let stopped = self.stopped.load(Relaxed);
        if stopped > 0 {
            m.push_str(&format!("  stopped {stopped}"));
        }
        m
    }

    /// Prints `msg` on stderr (above the bar on a terminal), unless quiet.
    pub fn note(&self, msg: &str) {
        match &self.mode {
            Mode::Bar(bar) => bar.println(msg),
            Mode::Lines => {
                let _ = writeln!(std::io::stderr().lock(), "{msg}");
            }
            Mode::Silent => {}
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}

impl BatchObserver for Progress {
    fn run_started(&self, jobs: usize) {
        self.total.store(jobs, Relaxed);
        if let Mode::Bar(bar) = &self.mode {
            bar.set_length(jobs as u64);
            bar.set_message(self.message());
        }
    }

    fn job_started(&self, _job_id: &str, _row_index: usize) {
        self.running.fetch_add(1, Relaxed);
        if let Mode::Bar(bar) = &self.mode {
            bar.set_message(self.message());
        }
    }

    fn job_finished(&self, e: &JobEvent<'_>) {
        self.running.fetch_sub(1, Relaxed);
        match e.status {
            JobStatus::Failed => self.failed.fetch_add(1, Relaxed),
            JobStatus::Stopped => self.stopped.fetch_add(1, Relaxed),
            _ => 0,
        };
        let n = self.finished.fetch_add(1, Relaxed) + 1;
        match &self.mode {
            Mode::Bar(bar) => {
                bar.inc(1);
                bar.set_message(self.message());
                if e.status == JobStatus::Failed {
                    bar.println(failure_line(e));
                }
            }
            Mode::Lines => {
                let total = self.total.load(Relaxed);
                let line = match e.error {
                    Some(err) => format!(
                        "[{n}/{total}] {} {} after {} attempt(s): {err}",
                        e.status, e.job_id, e.attempts
                    ),
                    None => format!(
                        "[{n}/{total}] {} {} {}",
                        e.status,
                        e.job_id,
                        fmt_secs(e.duration.as_secs_f64())
                    ),
                };
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            Mode::Silent => {}
        }
    }
}

fn failure_line(e: &JobEvent<'_>) -> String {
    match e.error {
        Some(err) => format!("failed {} (row {}): {err}", e.job_id, e.row_index),
        None => format!("failed {} (row {})", e.job_id, e.row_index),
    }
}
