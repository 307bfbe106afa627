//! Helpers shared by the workspace's tests against the real Prometheus
//! tools. Every server binds 127.0.0.1 on a free port and is killed when its
//! guard is dropped, pass or fail.
//!
//! Tools are looked up at run time. [`require`] makes a missing tool a test
//! failure when `CI=true` (`.ci/run` installs them all) and a skip, with a
//! message, elsewhere.
#![allow(clippy::print_stderr)]
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `cmd args...` runs and exits 0.
pub fn runs(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether a test needing `tool` may go on: true when available; when not,
/// panics under `CI=true` and otherwise prints a skip note and returns false.
///
/// # Panics
/// When the tool is missing and `CI=true`.
pub fn require(tool: &str, available: bool) -> bool {
    if available {
        return true;
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "{tool} is required when CI=true (see .ci/run)"
    );
    eprintln!("skipping: {tool} is not installed");
    false
}

/// `promtool` is installed (Debian package `prometheus`).
pub fn have_promtool() -> bool {
    require("promtool", runs("promtool", &["--version"]))
}

/// The strict OpenMetrics parser is importable (PyPI `prometheus-client`).
pub fn have_openmetrics_parser() -> bool {
    require(
        "python3 prometheus_client",
        runs("python3", &["-c", "import prometheus_client.openmetrics.parser"]),
    )
}

/// The ports [`free_port`] hands out: below Linux's ephemeral range
/// (32768–60999), so that between the check and the server's own bind no
/// outgoing connection of a test running beside it can be given the port
/// as its local end, as one bound to port 0 could.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A free TCP port on 127.0.0.1 (bound, then released) for a server the
/// test starts. Each call in a process tries the next port of
/// [`TEST_PORTS`] from an offset of the process id, so two tests of one
/// binary never get the same port.
///
/// # Panics
/// If no port in the range can be bound.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    let offset = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let k = (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = TEST_PORTS.start + u16::try_from(k).unwrap_or(0);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {TEST_PORTS:?}")
}

/// Calls `f` every 200 ms until it returns `Some`, for at most `limit`.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// `GET url`: the body of a 200 answer, `None` for anything else.
pub fn http_get(url: &str) -> Option<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut resp = agent.get(url).call().ok()?;
    if resp.status() != 200 {
        return None;
    }
    resp.body_mut().read_to_string().ok()
}

/// Runs `cmd args...` with `input` on stdin: (exit code, stdout + stderr).
///
/// # Panics
/// If the command cannot be started.
pub fn pipe(cmd: &str, args: &[&str], input: &str) -> (i32, String) {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {cmd}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `promtool check metrics` on `text`: (exit code, what it said).
pub fn promtool_check(text: &str) -> (i32, String) {
    pipe("promtool", &["check", "metrics"], text)
}

const OPENMETRICS_PARSER: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    if f.unit:
        print('# UNIT', f.name, f.unit)
    for s in f.samples:
        print(f.name, f.type, s.name, sorted(s.labels.items()), s.value)
"#;

/// The strict OpenMetrics parser on `text`: (exit code, one line per sample
/// as `family type sample [(label, value), ...] value`, preceded by
/// `# UNIT family unit` for a family with a unit; or the error).
pub fn openmetrics_parse(text: &str) -> (i32, String) {
    pipe("python3", &["-c", OPENMETRICS_PARSER], text)
}

/// A Prometheus server scraping `target` (host:port) every second.
#[derive(Debug)]
pub struct Prometheus {
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
    _server: Killed,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus with a one-job scrape configuration (`job="bykilt"`).
    ///
    /// # Panics
    /// If the configuration cannot be written or the server not started.
    pub fn scraping(target: &str) -> Prometheus {
        Prometheus::scraping_with(target, &[])
    }

    /// Like [`scraping`](Self::scraping), with extra command-line flags
    /// (e.g. `--enable-feature=exemplar-storage`).
    ///
    /// # Panics
    /// If the configuration cannot be written or the server not started.
    pub fn scraping_with(target: &str, flags: &[&str]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: bykilt\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
        let port = free_port();
        let server = Killed(
            Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    Path::new(dir.path()).join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .args(flags)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting prometheus: {e}")),
        );
        Prometheus {
            port,
            _server: server,
            _dir: dir,
        }
    }

    /// The `data` of `/api/v1/query_exemplars` for `promql` over the last
    /// hour (needs `--enable-feature=exemplar-storage`), when it has any.
    pub fn query_exemplars(&self, promql: &str) -> Option<serde_json::Value> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        let url = format!(
            "http://127.0.0.1:{}/api/v1/query_exemplars?query={}&start={}&end={}",
            self.port,
            form_urlencoded::byte_serialize(promql.as_bytes()).collect::<String>(),
            now - 3600,
            now + 60
        );
        let body: serde_json::Value = serde_json::from_str(&http_get(&url)?).ok()?;
        let data = body.get("data")?;
        data.as_array().is_some_and(|a| !a.is_empty()).then(|| data.clone())
    }

    /// The first value of an instant query, once it has one.
    pub fn query(&self, promql: &str) -> Option<f64> {
        let url = format!(
            "http://127.0.0.1:{}/api/v1/query?query={}",
            self.port,
            form_urlencoded::byte_serialize(promql.as_bytes()).collect::<String>()
        );
        let v: serde_json::Value = serde_json::from_str(&http_get(&url)?).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// Polls [`query`](Self::query) for up to `limit` (the first scrape
    /// arrives a few seconds after start).
    pub fn query_until(&self, promql: &str, limit: Duration) -> Option<f64> {
        poll(limit, || self.query(promql))
    }

    /// The first scrape target's state, from `/api/v1/targets`.
    pub fn first_target(&self) -> Option<serde_json::Value> {
        let body = http_get(&format!("http://127.0.0.1:{}/api/v1/targets", self.port))?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        Some(v["data"]["activeTargets"][0].clone())
    }
}

/// A Pushgateway on a free port, ready to take pushes.
#[derive(Debug)]
pub struct Pushgateway {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _server: Killed,
}

impl Pushgateway {
    /// Starts it and waits (up to 20 s) until it answers `/-/ready`.
    ///
    /// # Panics
    /// If it cannot be started or never becomes ready.
    pub fn start() -> Pushgateway {
        let port = free_port();
        let server = Killed(
            Command::new("prometheus-pushgateway")
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting prometheus-pushgateway: {e}")),
        );
        let url = format!("http://127.0.0.1:{port}");
        if poll(Duration::from_secs(20), || http_get(&format!("{url}/-/ready"))).is_none() {
            panic!("the pushgateway at {url} did not become ready within 20 s");
        }
        Pushgateway { url, _server: server }
    }

    /// Its `/metrics` text.
    pub fn metrics(&self) -> Option<String> {
        http_get(&format!("{}/metrics", self.url))
    }
}

/// The value of the first sample line that starts with `prefix` and
/// contains every one of `needles`.
pub fn sample_value(body: &str, prefix: &str, needles: &[&str]) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix) && needles.iter().all(|n| l.contains(n)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `prometheus` (the server) is installed (Debian package `prometheus`).
pub fn have_prometheus() -> bool {
    require("prometheus", runs("prometheus", &["--version"]))
}

/// Whether the server closed `stream`: reading gives end-of-file (or a
/// reset) before `wait` passes, after any bytes the server sent first.
pub fn closed_within(stream: &mut std::net::TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            return true;
        }
        match std::io::Read::read(stream, &mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

mod alerting;
mod remote;

pub use alerting::*;
pub use remote::*;
