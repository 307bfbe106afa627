//! `CommandRunner`: runs a shell command per job, with the row in
//! environment variables and on stdin, never on the command line.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{BatchError, Result};
use crate::process_group::{kill_group, wait_exited_no_reap};
use crate::runner::{JobContext, JobError, JobRunner};

/// Variables set for every job besides the columns.
pub const RESERVED_ENV: [&str; 4] = ["BYKILT_JOB_ID", "BYKILT_BATCH_ID", "BYKILT_ROW_INDEX", "BYKILT_ATTEMPT"];

/// How the line that opens each attempt's output in a job log starts; the
/// attempt number follows.
pub const ATTEMPT_HEADER: &str = "--- bykilt: attempt ";

/// Default cap of one attempt's output in a job log.
pub const DEFAULT_LOG_LIMIT: u64 = 1024 * 1024;

/// How often a running command is checked for a kill request.
const POLL: Duration = Duration::from_millis(20);
/// How long to wait for output pipes after the job's group is gone.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// The environment variable carrying `column`: `BYKILT_` + the name upper-cased,
/// every character other than `A-Z0-9` replaced by `_`.
///
/// ```
/// assert_eq!(batch_engine::env_var_name("e-mail address"), "BYKILT_E_MAIL_ADDRESS");
/// ```
pub fn env_var_name(column: &str) -> String {
    let mut name = String::with_capacity(7 + column.len());
    name.push_str("BYKILT_");
    name.extend(column.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    name
}

/// Runs `sh -c COMMAND` for each job.
///
/// * The row reaches the command as environment variables
///   ([`env_var_name`] of each column), plus `BYKILT_JOB_ID`,
///   `BYKILT_BATCH_ID`, `BYKILT_ROW_INDEX` (0-based) and `BYKILT_ATTEMPT`, and
///   as one JSON object on stdin. Values never become part of the command
///   line, so quotes, `$(...)` or `;` in a field are just bytes. Other
///   `BYKILT_*` variables of this process are not passed on.
/// * stdout and stderr share one pipe, so their lines reach
///   `<log_dir>/<job_id>.log` in the order the command wrote them. Every
///   attempt appends to that log after a header line
///   `--- bykilt: attempt N started <RFC 3339 time> ---`; no attempt
///   truncates another's output. Each attempt's output is cut at the log limit.
/// * The command runs in its own process group. When the shell exits, on a
///   timeout, or on a kill request, the whole group gets SIGKILL, so no
///   process of a job outlives it; the terminal's Ctrl-C does not reach it.
/// * Exit code 0 completes the job.
#[derive(Debug, Clone)]
pub struct CommandRunner {
    command: String,
    shell: PathBuf,
    log_dir: PathBuf,
    log_limit: u64,
    columns_env: Vec<String>,
    inherited_bykilt: Vec<OsString>,
    working_dir: Option<PathBuf>,
}

impl CommandRunner {
    /// A runner of `command` for rows with `columns`, logging into `log_dir`
    /// (created if missing).
    ///
    /// # Errors
    /// [`BatchError::EnvNameCollision`] when two columns map to the same
    /// variable or a column maps to a reserved one; [`BatchError::Io`] when
    /// `log_dir` cannot be created.
    pub fn new(command: impl Into<String>, columns: &[String], log_dir: impl Into<PathBuf>) -> Result<Self> {
        let columns_env = check_env_names(columns)?;
        let log_dir = log_dir.into();
        std::fs::create_dir_all(&log_dir).map_err(|e| BatchError::io("creating directory", &log_dir, e))?;
        let inherited_bykilt = std::env::vars_os()
            .map(|(k, _)| k)
            .filter(|k| k.to_string_lossy().starts_with("BYKILT_"))
            .collect();
        Ok(CommandRunner {
            command: command.into(),
            shell: PathBuf::from("/bin/sh"),
            log_dir,
            log_limit: DEFAULT_LOG_LIMIT,
            columns_env,
            inherited_bykilt,
            working_dir: None,
        })
    }

    /// Caps each job's log at `bytes` (default 1 MiB); output past it is
    /// read and discarded, and a note marks the cut.
    pub fn with_log_limit(mut self, bytes: u64) -> Self {
        self.log_limit = bytes;
        self
    }

    /// Uses `shell` instead of `/bin/sh` (it is called as `shell -c COMMAND`).
    pub fn with_shell(mut self, shell: impl Into<PathBuf>) -> Self {
        self.shell = shell.into();
        self
    }

    /// Runs commands in `dir` instead of this process's working directory.
    pub fn with_working_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// The log file of `job_id`.
    pub fn log_path(&self, job_id: &str) -> PathBuf {
        self.log_dir.join(format!("{job_id}.log"))
    }

    fn open_log(&self, ctx: &JobContext<'_>) -> std::io::Result<File> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(ctx.job_id))?;
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        writeln!(file, "{ATTEMPT_HEADER}{} started {now} ---", ctx.attempt)?;
        Ok(file)
    }
}

/// Checks that `columns` map to distinct, non-reserved environment
/// variables (what [`CommandRunner::new`] requires), without creating anything.
///
/// # Errors
/// [`BatchError::EnvNameCollision`] naming both columns and the variable.
pub fn check_columns(columns: &[String]) -> Result<()> {
    check_env_names(columns).map(drop)
}

/// The column variable names, or the first collision.
fn check_env_names(columns: &[String]) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let var = env_var_name(column);
        if let Some(r) = RESERVED_ENV.iter().find(|r| **r == var) {
            return Err(BatchError::EnvNameCollision {
                first: column.clone(),
                second: format!("(reserved {r})"),
                var,
            });
        }
        if let Some(j) = names.iter().position(|n| *n == var) {
            return Err(BatchError::EnvNameCollision {
                first: columns[j].clone(),
                second: columns[i].clone(),
                var,
            });
        }
        names.push(var);
    }
    Ok(names)
}

/// A log file that stops growing at its limit.
struct CappedLog {
    file: File,
    written: u64,
    limit: u64,
    cut: bool,
}

impl CappedLog {
    fn write(&mut self, buf: &[u8]) {
        let room = self.limit.saturating_sub(self.written);
        let take = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        // A log that cannot be written must not fail the job: drop output.
        if take > 0 && self.file.write_all(&buf[..take]).is_ok() {
            self.written += take as u64;
        }
        if take < buf.len() && !self.cut {
            self.cut = true;
            let _ = writeln!(self.file, "\n--- bykilt: log cut at {} bytes ---", self.limit);
        }
    }
}

fn pump(mut from: impl Read + Send + 'static, log: Arc<Mutex<CappedLog>>, done: mpsc::Sender<()>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => log.lock().unwrap_or_else(PoisonError::into_inner).write(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = done.send(());
    });
}

enum Ending {
    Exited,
    TimedOut(Duration),
    Killed,
}

impl JobRunner for CommandRunner {
    fn run(&self, ctx: &JobContext<'_>) -> std::result::Result<(), JobError> {
        let spawn_err = |what: &str, e: std::io::Error| JobError::Spawn {
            message: format!("{what}: {e}"),
        };
        let log_file = self
            .open_log(ctx)
            .map_err(|e| spawn_err(&format!("opening {}", self.log_path(ctx.job_id).display()), e))?;
        let stdin_json = serde_json::to_vec(ctx.row).map_err(|e| spawn_err("encoding the row", e.into()))?;

        let mut cmd = Command::new(&self.shell);
        cmd.arg("-c").arg(&self.command);
        if let Some(dir) = &self.working_dir {
            cmd.current_dir(dir);
        }
        for k in &self.inherited_bykilt {
            cmd.env_remove(k);
        }
        for (var, value) in self.columns_env.iter().zip(ctx.row.values()) {
            cmd.env(var, value);
        }
        cmd.env("BYKILT_JOB_ID", ctx.job_id)
            .env("BYKILT_BATCH_ID", ctx.batch_id)
            .env("BYKILT_ROW_INDEX", ctx.row_index.to_string())
            .env("BYKILT_ATTEMPT", ctx.attempt.to_string())
            .stdin(Stdio::piped())
            .process_group(0);
        // One pipe for both streams keeps their lines in the order written.
        let (output, output_writer) = std::io::pipe().map_err(|e| spawn_err("creating the output pipe", e))?;
        let stderr_writer = output_writer
            .try_clone()
            .map_err(|e| spawn_err("creating the output pipe", e))?;
        cmd.stdout(output_writer).stderr(stderr_writer);
        let spawned = cmd.spawn();
        // The command holds our copies of the pipe's write end: drop it, or
        // reading would never see the end of the output.
        drop(cmd);
        let mut child = spawned.map_err(|e| spawn_err(&format!("{} -c", self.shell.display()), e))?;
        let pid = child.id();
        ctx.record_process(pid);

        let log = Arc::new(Mutex::new(CappedLog {
            file: log_file,
            written: 0,
            limit: self.log_limit,
            cut: false,
        }));
        let (pipes_tx, pipes_rx) = mpsc::channel();
        pump(output, Arc::clone(&log), pipes_tx);
        let pipes = 1;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that never reads stdin must not block the job.
            std::thread::spawn(move || {
                let _ = stdin.write_all(&stdin_json);
            });
        }
        let (exit_tx, exit_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = exit_tx.send(wait_exited_no_reap(pid));
        });

        // A timeout too large for the clock is no timeout.
        let deadline = ctx.timeout.and_then(|t| Some((Instant::now().checked_add(t)?, t)));
        let ending = loop {
            let wait = deadline.map_or(POLL, |(d, _)| d.saturating_duration_since(Instant::now()).min(POLL));
            match exit_rx.recv_timeout(wait) {
                Ok(_) | Err(RecvTimeoutError::Disconnected) => break Ending::Exited,
                Err(RecvTimeoutError::Timeout) => {
                    if let Some((d, t)) = deadline
                        && Instant::now() >= d
                    {
                        break Ending::TimedOut(t);
                    }
                    if ctx.stop.is_killing() {
                        break Ending::Killed;
                    }
                }
            }
        };
        // The shell is exited or about to be killed but not reaped yet, so
        // the group id is still ours: clear out whatever is left of the job.
        let _ = kill_group(pid);
        let status = child.wait();
        let grace = Instant::now() + PIPE_GRACE;
        for _ in 0..pipes {
            if pipes_rx
                .recv_timeout(grace.saturating_duration_since(Instant::now()))
                .is_err()
            {
                break;
            }
        }
        match ending {
            Ending::TimedOut(after) => return Err(JobError::Timeout { after }),
            Ending::Killed => return Err(JobError::Killed),
            Ending::Exited => {}
        }
        let status = status.map_err(|e| spawn_err("waiting for the command", e))?;
        match (status.code(), status.signal()) {
            (Some(0), _) => Ok(()),
            (Some(code), _) => Err(JobError::ExitCode { code }),
            (None, Some(signal)) => Err(JobError::Signal { signal }),
            (None, None) => Err(JobError::runner("the command ended without an exit status")),
        }
    }
}

/// The last line a job's latest attempt wrote to its log at `log_path`
/// (`None` when that attempt wrote nothing, or there is no log). Only the
/// end of the file is read, so this is cheap for large logs. Lines longer
/// than 200 characters are shortened with `...`.
pub fn last_output_line(log_path: &std::path::Path) -> Option<String> {
    use std::io::{Seek, SeekFrom};
    const TAIL: u64 = 8192;
    let mut file = File::open(log_path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    for line in text.lines().rev() {
        if line.starts_with(ATTEMPT_HEADER) {
            return None;
        }
        if line.starts_with("--- bykilt: ") || line.trim().is_empty() {
            continue;
        }
        let mut line = line.trim_end().to_owned();
        if line.chars().count() > 200 {
            line = line.chars().take(197).collect::<String>() + "...";
        }
        return Some(line);
    }
    None
}

/// Every line the latest attempt of a job wrote to its log at `log_path`
/// (at most the last `max_bytes` of the log are read).
pub fn last_attempt_output(log_path: &std::path::Path, max_bytes: u64) -> Vec<String> {
    use std::io::{Seek, SeekFrom};
    let Ok(mut file) = File::open(log_path) else {
        return Vec::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    if file.seek(SeekFrom::Start(len.saturating_sub(max_bytes))).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.starts_with(ATTEMPT_HEADER))
        .map_or(0, |i| i + 1);
    lines[start..].iter().map(|l| (*l).to_owned()).collect()
}
