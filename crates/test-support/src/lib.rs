//! Helpers shared by the workspace's tests against the real Prometheus
//! tools. Every server binds 127.0.0.1 on a free port and is killed when its
//! guard is dropped, pass or fail.
//!
//! Tools are looked up at run time. [`require`] makes a missing tool a test
//! failure when `CI=true` (`.ci/run` installs them all) and a skip, with a
//! message, elsewhere.
#![allow(clippy::print_stderr)]

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

/// A free TCP port on 127.0.0.1 (bound, then released).
///
/// # Panics
/// If no port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("binding a free port: {e}"))
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
    for s in f.samples:
        print(f.name, f.type, s.name, sorted(s.labels.items()), s.value)
"#;

/// The strict OpenMetrics parser on `text`: (exit code, one line per sample
/// as `family type sample [(label, value), ...] value`, or the error).
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

/// `victoria-metrics` is installed (Debian package `victoria-metrics`).
pub fn have_victoria_metrics() -> bool {
    require("victoria-metrics", runs("victoria-metrics", &["-version"]))
}

/// The OTLP protobuf definitions are importable (PyPI `opentelemetry-proto`).
pub fn have_otlp_proto() -> bool {
    require(
        "python3 opentelemetry-proto",
        runs(
            "python3",
            &[
                "-c",
                "import opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
            ],
        ),
    )
}

/// `GET url` and parse the 200 answer as JSON.
pub fn http_get_json(url: &str) -> Option<serde_json::Value> {
    serde_json::from_str(&http_get(url)?).ok()
}

fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Prometheus {
    /// Starts Prometheus with no scrape jobs, accepting remote write at
    /// `/api/v1/write` (`--web.enable-remote-write-receiver`), and waits (up
    /// to 30 s) until it is ready.
    ///
    /// # Panics
    /// If it cannot be started or never becomes ready.
    pub fn remote_write_receiver() -> Prometheus {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 15s\n")
            .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
        let port = free_port();
        let server = Killed(
            Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-remote-write-receiver")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting prometheus: {e}")),
        );
        let p = Prometheus {
            port,
            _server: server,
            _dir: dir,
        };
        if poll(Duration::from_secs(30), || http_get(&format!("{}/-/ready", p.url()))).is_none() {
            panic!("prometheus on port {port} did not become ready within 30 s");
        }
        p
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /api/v1/query?query=…`: the `data.result` array.
    pub fn query_result(&self, promql: &str) -> Option<serde_json::Value> {
        let v = http_get_json(&format!("{}/api/v1/query?query={}", self.url(), url_encode(promql)))?;
        Some(v["data"]["result"].clone())
    }

    /// `GET /api/v1/query_range`: the `data.result` array (`[[ts, "v"], …]`
    /// under each series' `values`). `start`/`end` in seconds since the epoch.
    pub fn query_range(&self, promql: &str, start: f64, end: f64, step: f64) -> Option<serde_json::Value> {
        let v = http_get_json(&format!(
            "{}/api/v1/query_range?query={}&start={start}&end={end}&step={step}",
            self.url(),
            url_encode(promql)
        ))?;
        Some(v["data"]["result"].clone())
    }
}

/// A VictoriaMetrics single-node server on a free port with its own temp
/// storage directory.
#[derive(Debug)]
pub struct VictoriaMetrics {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _server: Killed,
    _dir: tempfile::TempDir,
}

impl VictoriaMetrics {
    /// Starts it (queries see samples at once: no latency offset, no cache)
    /// and waits (up to 30 s) until `/health` answers.
    ///
    /// # Panics
    /// If it cannot be started or never becomes healthy.
    pub fn start() -> VictoriaMetrics {
        Self::start_with(&[])
    }

    /// As [`start`](Self::start), with extra flags (e.g.
    /// `-dedup.minScrapeInterval=1ms`).
    ///
    /// # Panics
    /// If it cannot be started or never becomes healthy.
    pub fn start_with(flags: &[&str]) -> VictoriaMetrics {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let port = free_port();
        let server = Killed(
            Command::new("victoria-metrics")
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg(format!("-storageDataPath={}", dir.path().join("data").display()))
                .arg("-search.latencyOffset=0s")
                .arg("-search.disableCache")
                .args(flags)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting victoria-metrics: {e}")),
        );
        let url = format!("http://127.0.0.1:{port}");
        if poll(Duration::from_secs(30), || http_get(&format!("{url}/health"))).is_none() {
            panic!("victoria-metrics at {url} did not become healthy within 30 s");
        }
        VictoriaMetrics {
            url,
            _server: server,
            _dir: dir,
        }
    }

    /// `GET /api/v1/export?match[]=SELECTOR`: one JSON object per series
    /// (`metric`, `values`, `timestamps` in ms), the raw samples as stored.
    pub fn export(&self, selector: &str) -> Vec<serde_json::Value> {
        http_get(&format!("{}/api/v1/export?match[]={}", self.url, url_encode(selector)))
            .map(|body| body.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
            .unwrap_or_default()
    }

    /// `GET /api/v1/query?query=…`: the `data.result` array.
    pub fn query_result(&self, promql: &str) -> Option<serde_json::Value> {
        let v = http_get_json(&format!("{}/api/v1/query?query={}", self.url, url_encode(promql)))?;
        Some(v["data"]["result"].clone())
    }
}

/// One request a [`ScriptedReceiver`] received.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// `POST`, `GET`, …
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
    /// The status it was answered with.
    pub status: u16,
}

impl ReceivedRequest {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 server on a free port that answers requests with a
/// script of statuses (then 200 for ever), recording each request. Stopped
/// when dropped.
#[derive(Debug)]
pub struct ScriptedReceiver {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<ReceivedRequest>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ScriptedReceiver {
    /// Answers the n-th request with `script[n]` (status and extra header
    /// lines such as `"Retry-After: 1"`), every later one with 200.
    ///
    /// # Panics
    /// If no port can be bound.
    pub fn start(script: Vec<(u16, Vec<String>)>) -> ScriptedReceiver {
        Self::start_with_delay(script, Duration::ZERO)
    }

    /// As [`start`](Self::start), waiting `delay` before each answer (a
    /// slow receiver).
    ///
    /// # Panics
    /// If no port can be bound.
    pub fn start_with_delay(script: Vec<(u16, Vec<String>)>, delay: Duration) -> ScriptedReceiver {
        use std::io::{BufRead, BufReader, Read};
        use std::sync::atomic::Ordering;
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("binding a receiver port: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let _ = listener.set_nonblocking(true);
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (r, s) = (std::sync::Arc::clone(&requests), std::sync::Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut n = 0usize;
            while !s.load(Ordering::Relaxed) {
                let (stream, _) = match listener.accept() {
                    Ok(c) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_owned();
                let path = parts.next().unwrap_or("").to_owned();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                    }
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let (status, extra) = script.get(n).cloned().unwrap_or((200, Vec::new()));
                n += 1;
                let text = format!("scripted answer {status}");
                let mut answer = format!(
                    "HTTP/1.1 {status} Scripted\r\nContent-Length: {}\r\nConnection: close\r\n",
                    text.len()
                );
                for e in &extra {
                    answer.push_str(e);
                    answer.push_str("\r\n");
                }
                answer.push_str("\r\n");
                answer.push_str(&text);
                if let Ok(mut all) = r.lock() {
                    all.push(ReceivedRequest {
                        method,
                        path,
                        headers,
                        body,
                        at: Instant::now(),
                        status,
                    });
                }
                std::thread::sleep(delay);
                let mut w = &stream;
                let _ = w.write_all(answer.as_bytes());
                let _ = w.flush();
            }
        });
        ScriptedReceiver {
            url: format!("http://127.0.0.1:{port}"),
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for ScriptedReceiver {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
