//! Remote-write engines (Prometheus' receiver, VictoriaMetrics) and a scripted HTTP receiver: the real tools behind the remote-write and OTLP tests.

use super::*;

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
                // A sender killed between connecting and finishing its
                // headers leaves a closed connection, not a request: only a
                // request line and headers ended by a blank line count.
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_owned();
                let path = parts.next().unwrap_or("").to_owned();
                let mut headers = Vec::new();
                let mut complete = false;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 {
                        break;
                    }
                    if h.trim().is_empty() {
                        complete = true;
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                    }
                }
                if !complete {
                    continue;
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
