//! Everything the CLI prints: where it goes (stdout for results, stderr for
//! progress and errors) and how results are formatted.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::progress::counted;
use batch_engine::{BatchJob, BatchManifest, BatchSummary, JobStatus};
use metrics_core::Summary;
use serde::Serialize;

/// The CLI's printer. Results go to stdout, as text or (with `--json`) as
/// one JSON document; notes go to stderr unless `--quiet`; errors always go
/// to stderr. Write errors (a closed pipe) are ignored: there is nobody left
/// to tell.
pub struct Output {
    stdout: Box<dyn Write + Send>,
    stderr: Box<dyn Write + Send>,
    /// `--quiet`: no notes, no progress.
    pub quiet: bool,
    /// `--json`: results as JSON.
    pub json: bool,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("quiet", &self.quiet)
            .field("json", &self.json)
            .finish_non_exhaustive()
    }
}

impl Output {
    /// Printing to the process's stdout and stderr.
    pub fn stdio(quiet: bool, json: bool) -> Self {
        Output::to(Box::new(std::io::stdout()), Box::new(std::io::stderr()), quiet, json)
    }

    /// Printing to the given writers (tests capture output this way).
    pub fn to(stdout: Box<dyn Write + Send>, stderr: Box<dyn Write + Send>, quiet: bool, json: bool) -> Self {
        Output {
            stdout,
            stderr,
            quiet,
            json,
        }
    }

    /// A text result (skipped in `--json` mode, where [`json`](Self::json) carries it).
    pub fn text(&mut self, s: &str) {
        if !self.json {
            let _ = self.stdout.write_all(s.as_bytes());
            let _ = self.stdout.flush();
        }
    }

    /// A JSON result (only in `--json` mode).
    pub fn json<T: Serialize>(&mut self, value: &T) {
        if self.json {
            let s =
                serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
            let _ = writeln!(self.stdout, "{s}");
            let _ = self.stdout.flush();
        }
    }

    /// Raw bytes to stdout in any mode (an export the user asked for).
    pub fn raw(&mut self, bytes: &[u8]) {
        let _ = self.stdout.write_all(bytes);
        let _ = self.stdout.flush();
    }

    /// A note on stderr, unless `--quiet`.
    pub fn note(&mut self, s: &str) {
        if !self.quiet {
            let _ = writeln!(self.stderr, "{s}");
        }
    }

    /// A warning on stderr, always (something failed that does not change
    /// the result, such as a metrics push).
    pub fn warn(&mut self, s: &str) {
        let _ = writeln!(self.stderr, "bykilt: warning: {s}");
    }

    /// An error on stderr, always.
    pub fn error(&mut self, s: &str) {
        let _ = writeln!(self.stderr, "bykilt: error: {s}");
    }
}

/// Seconds with a unit that suits the size: `850us`, `12.3ms`, `4.56s`, `2m05s`.
pub fn fmt_secs(s: f64) -> String {
    if !s.is_finite() {
        return s.to_string();
    }
    if s < 0.001 {
        format!("{:.0}us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1}ms", s * 1e3)
    } else if s < 60.0 {
        format!("{s:.2}s")
    } else {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    }
}

fn counts_line(s: &BatchSummary) -> String {
    let mut line = format!("{} total: {} completed, {} failed", s.total, s.completed, s.failed);
    let running = s.running - s.interrupted.min(s.running);
    for (n, label) in [(s.stopped, "stopped"), (s.pending, "pending"), (running, "running")] {
        if n > 0 {
            let _ = write!(line, ", {n} {label}");
        }
    }
    if s.interrupted > 0 {
        let _ = write!(
            line,
            ", {} interrupted (the run that started them ended before they finished; \
             `bykilt batch resume {}` stops what is left of them and runs them again)",
            s.interrupted, s.batch_id
        );
    }
    line
}

/// Durations as `p50 12.0ms  p90 ...  max ...`.
pub fn duration_line(d: &Summary) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  max {}  ({})",
        fmt_secs(d.p50),
        fmt_secs(d.p90),
        fmt_secs(d.p99),
        fmt_secs(d.max),
        crate::progress::attempts(u32::try_from(d.count).unwrap_or(u32::MAX))
    )
}

/// The end-of-run (and `batch status`) table.
pub fn summary_table(s: &BatchSummary, extra: &[(&str, String)]) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("batch", s.batch_id.clone()),
        ("input", s.csv_path.display().to_string()),
        ("jobs", counts_line(s)),
    ];
    if let (Some(t), Some(secs)) = (s.throughput_per_second, s.run_seconds) {
        rows.push((
            "throughput",
            format!(
                "{t:.1} jobs/s ({} finished in {} of run wall time, {})",
                counted(s.finished as u64, "job", "jobs"),
                fmt_secs(secs),
                counted(s.runs, "run", "runs")
            ),
        ));
    }
    if let Some(d) = &s.duration {
        rows.push(("job duration", duration_line(d)));
    }
    if let Some(p) = &s.failed_rows_csv {
        rows.push(("failed rows", p.display().to_string()));
    }
    rows.extend(extra.iter().cloned());
    table(&rows)
}

fn table(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        let mut lines = v.lines();
        let _ = writeln!(out, "{k:<width$}  {}", lines.next().unwrap_or(""));
        for more in lines {
            let _ = writeln!(out, "{:<width$}  {more}", "");
        }
    }
    out
}

/// The failed and stopped jobs of a batch, at most `limit`, one per line,
/// each with its log under `logs` when given.
pub fn unfinished_jobs(jobs: &[BatchJob], limit: usize, logs: Option<&Path>) -> String {
    let mut out = String::new();
    let bad: Vec<&BatchJob> = jobs
        .iter()
        .filter(|j| matches!(j.status, JobStatus::Failed | JobStatus::Stopped))
        .collect();
    for j in bad.iter().take(limit) {
        let _ = writeln!(
            out,
            "  {}  {:<9} row {:<6} {}",
            j.job_id,
            j.status.as_str(),
            j.row_index,
            j.error_message.as_deref().unwrap_or("").replace('\n', " ")
        );
        if let Some(dir) = logs {
            let _ = writeln!(
                out,
                "      log {} ({} attempt{})",
                dir.join(format!("{}.log", j.job_id)).display(),
                j.attempts,
                if j.attempts == 1 { "" } else { "s" }
            );
        }
    }
    if bad.len() > limit {
        let _ = writeln!(out, "  ... and {} more", bad.len() - limit);
    }
    out
}

/// Batches of at most this many jobs get a table of every job's result at
/// the end of a run.
pub const RESULTS_TABLE_MAX: usize = 50;

/// One job's result: what the end-of-run table shows.
#[derive(Debug, Clone, Serialize)]
pub struct JobResult {
    /// The job.
    pub job_id: String,
    /// 0-based row index.
    pub row_index: usize,
    /// Its status.
    pub status: JobStatus,
    /// The last line its latest attempt printed.
    pub last_output: Option<String>,
}

/// Each job's status and last line of output, read from its log under `logs`.
pub fn job_results(jobs: &[BatchJob], logs: &Path) -> Vec<JobResult> {
    jobs.iter()
        .map(|j| JobResult {
            job_id: j.job_id.clone(),
            row_index: j.row_index,
            status: j.status,
            last_output: batch_engine::last_output_line(&logs.join(format!("{}.log", j.job_id))),
        })
        .collect()
}

/// The end-of-run table of job results: row, status and last output line.
pub fn results_table(results: &[JobResult]) -> String {
    let mut out = String::from("results (row, status, last output line):\n");
    for r in results {
        let _ = writeln!(
            out,
            "  {:>4}  {:<9}  {}",
            r.row_index,
            r.status.as_str(),
            r.last_output.as_deref().unwrap_or("(no output)")
        );
    }
    out
}

/// `bykilt batch list` as a table; `saved[i]` says whether batch `i` was
/// started by `bykilt batch run` (and so resumes without `--exec`).
pub fn list_table(batches: &[BatchManifest], saved: &[bool]) -> String {
    if batches.is_empty() {
        return "no batches\n".to_owned();
    }
    let mut out = format!(
        "{:<36} {:>7} {:>9} {:>6} {:>8}  {:<8} {}\n",
        "BATCH", "JOBS", "COMPLETED", "FAILED", "UNDONE", "COMMAND", "INPUT"
    );
    for (i, b) in batches.iter().enumerate() {
        let undone = b.total_jobs - b.completed_jobs - b.failed_jobs;
        let _ = writeln!(
            out,
            "{:<36} {:>7} {:>9} {:>6} {:>8}  {:<8} {}",
            b.batch_id,
            b.total_jobs,
            b.completed_jobs,
            b.failed_jobs,
            undone,
            if saved.get(i).copied().unwrap_or(false) {
                "saved"
            } else {
                "none"
            },
            b.csv_path.display()
        );
    }
    if saved.iter().any(|s| !s) {
        out.push_str("COMMAND none: created through the library; resume or retry it with --exec COMMAND\n");
    }
    out
}

/// A value of metric `name` with the unit its name ends in (`_seconds`:
/// `12.3ms`; `_bytes`: `1.5 MiB`) and at most 6 significant digits.
pub fn fmt_value(name: &str, v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let base = name.strip_suffix("_total").unwrap_or(name);
    if base.ends_with("_seconds") {
        return fmt_secs(v);
    }
    if base.ends_with("_bytes") {
        let mut x = v;
        for unit in ["B", "KiB", "MiB", "GiB", "TiB"] {
            if x.abs() < 1024.0 || unit == "TiB" {
                return format!("{} {unit}", significant(x));
            }
            x /= 1024.0;
        }
    }
    significant(v)
}

/// `v` with at most 6 significant digits, without trailing zeros.
fn significant(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    let digits = v.abs().log10().floor() as i32;
    let decimals = usize::try_from((5 - digits).max(0)).unwrap_or(0);
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// `bykilt metrics summary` as a table (`--json` keeps full precision).
pub fn metric_summary_table(name: &str, run_id: &str, s: &Summary) -> String {
    let f = |v: f64| fmt_value(name, v);
    table(&[
        ("metric", name.to_owned()),
        ("run", run_id.to_owned()),
        ("count", s.count.to_string()),
        ("sum", f(s.sum)),
        ("min", f(s.min)),
        ("max", f(s.max)),
        ("avg", f(s.avg)),
        ("p50", f(s.p50)),
        ("p90", f(s.p90)),
        ("p95", f(s.p95)),
        ("p99", f(s.p99)),
    ])
}

/// Where a run's exported metrics went.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsPaths {
    /// The JSON export.
    pub json: PathBuf,
    /// The directory of CSV files.
    pub csv_dir: PathBuf,
    /// Number of CSV files.
    pub csv_files: usize,
}

impl MetricsPaths {
    /// Rows for [`summary_table`].
    pub fn rows(&self, logs: &Path) -> Vec<(&'static str, String)> {
        vec![
            ("logs", format!("{}/", logs.display())),
            (
                "metrics",
                format!(
                    "{}\n{}/ ({})",
                    self.json.display(),
                    self.csv_dir.display(),
                    counted(self.csv_files as u64, "file", "files")
                ),
            ),
        ]
    }
}

/// A duration as the flags take it (`90s`, `2h`, `7d`, `250ms`).
pub(crate) fn duration_text(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{}ms", d.as_millis()),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// "has no samples", with the filters that left none named (only those
/// given): `has no samples matching --tag status=lost --since 2h`.
pub(crate) fn no_samples_matching(tags: &[(String, String)], since: Option<std::time::Duration>) -> String {
    let mut given: Vec<String> = tags.iter().map(|(k, v)| format!("--tag {k}={v}")).collect();
    given.extend(since.map(|d| format!("--since {}", duration_text(d))));
    if given.is_empty() {
        "has no samples".to_owned()
    } else {
        format!("has no samples matching {}", given.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_get_units_and_six_significant_digits() {
        assert_eq!(fmt_value("job_duration_seconds", 1.883_290_620_000_000_4), "1.88s");
        assert_eq!(fmt_value("job_status", 1.883_290_620_000_000_4), "1.88329");
        assert_eq!(fmt_value("job_status", 4.0), "4");
        assert_eq!(fmt_value("rss_bytes", 1_572_864.0), "1.5 MiB");
        assert_eq!(fmt_value("x", 123_456_789.0), "123456789");
    }

    #[test]
    fn seconds_get_a_fitting_unit() {
        assert_eq!(fmt_secs(0.000_85), "850us");
        assert_eq!(fmt_secs(0.012_34), "12.3ms");
        assert_eq!(fmt_secs(4.561), "4.56s");
        assert_eq!(fmt_secs(125.0), "2m05s");
    }

    #[test]
    fn tables_align_keys_and_continue_multiline_values() {
        let t = table(&[("a", "1".into()), ("long key", "x\ny".into())]);
        assert_eq!(t, "a         1\nlong key  x\n          y\n");
    }

    #[test]
    fn text_and_json_modes_do_not_mix() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (out, err) = (Buf::default(), Buf::default());
        let mut o = Output::to(Box::new(out.clone()), Box::new(err.clone()), true, true);
        o.text("table\n");
        o.json(&serde_json::json!({"k": 1}));
        o.note("progress");
        o.error("bad");
        assert_eq!(
            String::from_utf8(out.0.lock().unwrap().clone()).unwrap(),
            "{\n  \"k\": 1\n}\n"
        );
        assert_eq!(
            String::from_utf8(err.0.lock().unwrap().clone()).unwrap(),
            "bykilt: error: bad\n"
        );
    }
}
