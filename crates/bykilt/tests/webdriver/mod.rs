//! A small WebDriver client (W3C protocol over HTTP with ureq) for driving
//! Debian's headless Chromium through `chromedriver`, plus the DevTools
//! commands chromedriver passes through (device metrics, full-page
//! screenshots). Both processes die with the guard, pass or fail.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{Killed, free_port, poll};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether chromium and chromedriver are installed (a failure under CI=true).
pub(crate) fn have_browser() -> bool {
    let ok = Path::new(CHROMIUM).exists() && test_support::runs("chromedriver", &["--version"]);
    test_support::require("chromium + chromedriver", ok)
}

/// One browser session. Dropping it ends the session and kills chromedriver
/// (which takes its Chromium with it).
pub(crate) struct Browser {
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
    _driver: Killed,
}

impl Browser {
    pub(crate) fn start() -> Browser {
        let port = free_port();
        let driver = Killed(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        poll(Duration::from_secs(20), || {
            let mut r = agent.get(&format!("{base}/status")).call().ok()?;
            let v: Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
            v["value"]["ready"].as_bool().filter(|r| *r)
        })
        .expect("chromedriver is ready");
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let mut b = Browser {
            base,
            session: String::new(),
            agent,
            _profile: profile,
            _driver: driver,
        };
        let v = b.post("/session", &caps);
        b.session = v["sessionId"].as_str().expect("a session id").to_owned();
        b
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let mut resp = match body {
            Some(b) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b.to_string())
                .expect("webdriver answers"),
            None if method == "DELETE" => self.agent.delete(&url).call().expect("webdriver answers"),
            None => self.agent.get(&url).call().expect("webdriver answers"),
        };
        let status = resp.status();
        let text = resp.body_mut().read_to_string().unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status.is_success(), "webdriver {method} {path}: {status} {text}");
        v["value"].clone()
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        self.send("POST", path, Some(body))
    }

    /// Loads `url` and waits for the document.
    pub(crate) fn goto(&self, url: &str) {
        self.post("/url", &json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub(crate) fn js(&self, script: &str, args: &[Value]) -> Value {
        self.post("/execute/sync", &json!({ "script": script, "args": args }))
    }

    /// Polls `script` until it returns something truthy, failing after 20 s.
    pub(crate) fn wait_for(&self, what: &str, script: &str) -> Value {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.js(script, &[]);
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            assert!(Instant::now() < until, "timed out waiting for {what}; last: {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A DevTools command passed through chromedriver.
    pub(crate) fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", &json!({ "cmd": cmd, "params": params }))
    }

    /// Lays the page out at `width` x `height` CSS pixels (phone widths too).
    pub(crate) fn viewport(&self, width: u32, height: u32) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600 }),
        );
    }

    /// A PNG of the whole page (beyond the viewport), written to `path`.
    pub(crate) fn full_page_screenshot(&self, width: u32, path: &Path) {
        let height = self
            .js("return Math.ceil(document.documentElement.scrollHeight);", &[])
            .as_u64()
            .unwrap_or(800)
            .clamp(200, 6000) as u32;
        // The page redraws its charts for the new width (150 ms debounce,
        // then a fetch): wait for it before the capture.
        self.viewport(width, 800);
        std::thread::sleep(Duration::from_millis(900));
        let height = self
            .js("return Math.ceil(document.documentElement.scrollHeight);", &[])
            .as_u64()
            .unwrap_or(u64::from(height))
            .clamp(200, 6000) as u32;
        self.viewport(width, height);
        std::thread::sleep(Duration::from_millis(300));
        let v = self.cdp(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let png = base64_decode(v["data"].as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
        // A half-scale copy, small enough to commit into docs/.
        let clip = json!({ "x": 0, "y": 0, "width": width, "height": height, "scale": 0.5 });
        let v = self.cdp(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true, "clip": clip }),
        );
        let small = path.parent().unwrap().join("small");
        std::fs::create_dir_all(&small).unwrap();
        std::fs::write(
            small.join(path.file_name().unwrap()),
            base64_decode(v["data"].as_str().unwrap()),
        )
        .unwrap();
        self.viewport(width, 800);
    }

    /// Browser console entries logged since the last call.
    pub(crate) fn console(&self) -> Vec<Value> {
        self.post("/se/log", &json!({ "type": "browser" }))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = self.agent.delete(&url).call();
        }
    }
}

/// Standard base64 (the screenshot encoding), without a dependency.
pub(crate) fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
