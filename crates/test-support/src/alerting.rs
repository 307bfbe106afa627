//! Alertmanager, a Prometheus that loads rules, and a webhook receiver: the real tools behind the alerting tests.

use super::*;

/// `prometheus-alertmanager` is installed (Debian package of that name).
pub fn have_alertmanager() -> bool {
    require(
        "prometheus-alertmanager",
        runs("prometheus-alertmanager", &["--version"]),
    )
}

/// `prometheus` (the server) is installed.
/// An Alertmanager 0.25 on a free port with one (null) receiver, no
/// clustering, its storage in a temp dir.
#[derive(Debug)]
pub struct Alertmanager {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _server: Killed,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts it and waits (up to 20 s) until it answers `/-/ready`.
    ///
    /// # Panics
    /// If it cannot be started or never becomes ready.
    pub fn start() -> Alertmanager {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: default\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: default\n",
        )
        .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
        let port = free_port();
        let server = Killed(
            Command::new("prometheus-alertmanager")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting prometheus-alertmanager: {e}")),
        );
        let url = format!("http://127.0.0.1:{port}");
        if poll(Duration::from_secs(20), || http_get(&format!("{url}/-/ready"))).is_none() {
            panic!("the alertmanager at {url} did not become ready within 20 s");
        }
        Alertmanager {
            url,
            _server: server,
            _dir: dir,
        }
    }

    /// `GET /api/v2/alerts` (active, silenced, inhibited and unprocessed;
    /// resolved alerts are not listed), parsed.
    pub fn alerts(&self) -> Option<Vec<serde_json::Value>> {
        let body = http_get(&format!("{}/api/v2/alerts", self.url))?;
        serde_json::from_str::<serde_json::Value>(&body)
            .ok()?
            .as_array()
            .cloned()
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second and evaluating the
    /// rules file `rules` every second.
    ///
    /// # Panics
    /// If the configuration cannot be written or the server not started.
    pub fn scraping_with_rules(target: &str, rules: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let rules_path = dir.path().join("rules.yml");
        std::fs::write(&rules_path, rules).unwrap_or_else(|e| panic!("writing {}: {e}", rules_path.display()));
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - '{}'\n\
                 scrape_configs:\n  - job_name: bykilt\n    static_configs:\n      - targets: ['{target}']\n",
                rules_path.display()
            ),
        )
        .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
        let port = free_port();
        let server = Killed(
            Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
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

    /// The alerts of `/api/v1/alerts` (`data.alerts`).
    pub fn alerts(&self) -> Option<Vec<serde_json::Value>> {
        let body = http_get(&format!("http://127.0.0.1:{}/api/v1/alerts", self.port))?;
        serde_json::from_str::<serde_json::Value>(&body).ok()?["data"]["alerts"]
            .as_array()
            .cloned()
    }
}

/// A webhook receiver on a free port: answers 500 to its first `failures`
/// requests, then 200, keeping the JSON body of every request it accepted.
/// Its thread ends with the test process.
#[derive(Debug)]
pub struct WebhookReceiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    requests: std::sync::Arc<std::sync::Mutex<u32>>,
    accepted: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl WebhookReceiver {
    /// Starts it.
    ///
    /// # Panics
    /// If no port can be bound.
    pub fn start(failures: u32) -> WebhookReceiver {
        use std::io::{BufRead, BufReader, Read};
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("binding a webhook port: {e}"));
        let url = format!(
            "http://{}/hook",
            listener.local_addr().unwrap_or_else(|e| panic!("webhook address: {e}"))
        );
        let requests = std::sync::Arc::new(std::sync::Mutex::new(0));
        let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (r, a) = (std::sync::Arc::clone(&requests), std::sync::Arc::clone(&accepted));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(clone) = stream.try_clone() else { continue };
                let mut reader = BufReader::new(clone);
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                let n = {
                    let mut n = r.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    *n += 1;
                    *n
                };
                let status = if n <= failures {
                    "500 Internal Server Error"
                } else {
                    a.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null));
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        WebhookReceiver {
            url,
            requests,
            accepted,
        }
    }

    /// Requests received so far, failed ones included.
    pub fn requests(&self) -> u32 {
        *self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The bodies of the accepted requests.
    pub fn accepted(&self) -> Vec<serde_json::Value> {
        self.accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
