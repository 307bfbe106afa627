//! Run progress on stderr: a progress bar on a terminal, one plain line per
//! finished job otherwise, nothing with `--quiet`. Each finished job's line
//! carries the last line its command printed; `--show-output` prints all of it.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
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
    logs: Option<PathBuf>,
    show_output: bool,
}

/// Past this many jobs, a progress bar shows finished jobs only in its
/// message, not one line each.
const BAR_LINES_MAX: usize = 1000;
/// At most this much of an attempt's output is printed by `--show-output`.
const SHOW_OUTPUT_BYTES: u64 = 64 * 1024;

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
            crate::log_lines::bar_shown(&bar);
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
            logs: None,
            show_output: false,
        }
    }

    /// Reads each finished job's output from its log under `dir`: its last
    /// line goes next to the job's progress line, and with `show_output`
    /// every line of the attempt is printed, prefixed with the job id.
    pub fn with_logs(mut self, dir: PathBuf, show_output: bool) -> Self {
        self.logs = Some(dir);
        self.show_output = show_output;
        self
    }

    fn output_of(&self, job_id: &str) -> (Option<String>, Vec<String>) {
        let Some(dir) = &self.logs else {
            return (None, Vec::new());
        };
        let path = dir.join(format!("{job_id}.log"));
        let all = if self.show_output {
            batch_engine::last_attempt_output(&path, SHOW_OUTPUT_BYTES)
        } else {
            Vec::new()
        };
        (batch_engine::last_output_line(&path), all)
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
            crate::log_lines::bar_gone();
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
        if matches!(self.mode, Mode::Silent) {
            return;
        }
        let total = self.total.load(Relaxed);
        let (last, all) = self.output_of(e.job_id);
        let mut line = match e.error {
            Some(err) => format!(
                "[{n}/{total}] {} {} (row {}) after {}: {err}",
                e.status,
                e.job_id,
                e.row_index,
                attempts(e.attempts)
            ),
            None => format!(
                "[{n}/{total}] {} {} (row {}) {}",
                e.status,
                e.job_id,
                e.row_index,
                fmt_secs(e.duration.as_secs_f64())
            ),
        };
        if let Some(last) = &last
            && !self.show_output
        {
            line.push_str(" | ");
            line.push_str(last);
        }
        let mut text = line;
        for l in &all {
            text.push_str(&format!("\n  {} | {l}", e.job_id));
        }
        match &self.mode {
            Mode::Bar(bar) => {
                bar.inc(1);
                bar.set_message(self.message());
                if e.status == JobStatus::Failed || total <= BAR_LINES_MAX || self.show_output {
                    bar.println(text);
                }
            }
            Mode::Lines => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
            Mode::Silent => {}
        }
    }
}

impl Drop for Progress {
    /// A bar dropped without `finish` must not stay behind as the log's
    /// target (its clone there would keep it drawing).
    fn drop(&mut self) {
        if let Mode::Bar(_) = &self.mode {
            crate::log_lines::bar_gone();
        }
    }
}

/// `1 attempt`, `3 attempts`.
pub fn attempts(n: u32) -> String {
    counted(u64::from(n), "attempt", "attempts")
}

/// A count and its noun, singular for exactly one: `1 job`, `0 jobs`,
/// `3 jobs`. Every count the CLI prints goes through this, so none reads
/// "1 jobs".
pub fn counted(n: u64, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}
