//! Pushing to a Prometheus Pushgateway — the Prometheus answer for batch
//! jobs, whose process is gone before a scrape would come.
//!
//! A push replaces the group `job=<job>` plus the grouping labels (for a
//! batch: `batch_id`) with the Prometheus text of a snapshot (`PUT`). Failed
//! pushes are retried with exponential backoff; the caller decides what a
//! final failure means (the batch CLI reports it and carries on).
//!
//! Only `http://` gateways are supported: the build carries no TLS stack.
//! Put a TLS-terminating proxy in front of a remote gateway.

use std::time::Duration;

use metrics_core::MetricsCollector;
use metrics_core::export::prometheus::{TextFormat, sanitize_label_name};

/// Pushing failed after every attempt.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The gateway URL is not usable.
    #[error("push gateway URL {url:?}: {problem}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// Every attempt failed; the last error is kept.
    #[error("push to {url} failed after {attempts} attempt(s): {last}")]
    Failed {
        /// The full push URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

/// A Pushgateway client for one grouping key.
#[derive(Debug, Clone)]
pub struct PushGateway {
    url: String,
    attempts: u32,
    retry_delay: Duration,
    timeout: Duration,
}

/// Path-safe form of a label value: as is when plain, else Pushgateway's
/// `@base64` form (URL-safe alphabet; `=` for the empty value).
fn path_segment(key: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        format!("{key}/{value}")
    } else if value.is_empty() {
        format!("{key}@base64/=")
    } else {
        format!("{key}@base64/{}", base64_url(value.as_bytes()))
    }
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl PushGateway {
    /// A client pushing to `base_url` (e.g. `http://127.0.0.1:9091`) under
    /// `job` and the `grouping` labels. Three attempts, 500 ms apart at
    /// first, doubling.
    ///
    /// # Errors
    /// [`PushError::BadUrl`] for a URL that is not `http://host[:port][/path]`.
    pub fn new(base_url: &str, job: &str, grouping: &[(&str, &str)]) -> Result<Self, PushError> {
        let bad = |problem| PushError::BadUrl {
            url: base_url.to_owned(),
            problem,
        };
        let rest = base_url.strip_prefix("http://").ok_or_else(|| {
            bad(if base_url.starts_with("https://") {
                "https is not supported (no TLS in this build); use http:// or a local proxy"
            } else {
                "must start with http://"
            })
        })?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("has no host"));
        }
        let mut url = format!(
            "{}/metrics/{}",
            base_url.trim_end_matches('/'),
            path_segment("job", job)
        );
        for (k, v) in grouping {
            url.push('/');
            url.push_str(&path_segment(&sanitize_label_name(k, false), v));
        }
        Ok(PushGateway {
            url,
            attempts: 3,
            retry_delay: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
        })
    }

    /// Sets how many attempts a push makes (at least one) and the first delay.
    #[must_use = "with_retries returns the configured client"]
    pub fn with_retries(mut self, attempts: u32, first_delay: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.retry_delay = first_delay;
        self
    }

    /// The URL pushes go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Pushes the aggregates of `collector` (Prometheus text), replacing the group.
    ///
    /// # Errors
    /// [`PushError::Failed`] after the last attempt.
    pub fn push(&self, collector: &MetricsCollector) -> Result<(), PushError> {
        let text = collector.exposition(TextFormat::Prometheus).text;
        self.push_text(&text)
    }

    /// Pushes already-encoded Prometheus text.
    ///
    /// # Errors
    /// [`PushError::Failed`] after the last attempt.
    pub fn push_text(&self, text: &str) -> Result<(), PushError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .build()
            .into();
        let mut delay = self.retry_delay;
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            let result = agent
                .put(&self.url)
                .header("Content-Type", TextFormat::Prometheus.content_type())
                .send(text.as_bytes());
            match result {
                Ok(_) => return Ok(()),
                // A 4xx means the gateway rejected the content: retrying will not help.
                Err(ureq::Error::StatusCode(code)) if (400..500).contains(&code) => {
                    return Err(PushError::Failed {
                        url: self.url.clone(),
                        attempts: attempt,
                        last: format!("HTTP {code}"),
                    });
                }
                Err(e) => last = e.to_string(),
            }
            if attempt < self.attempts {
                std::thread::sleep(delay);
                delay = delay.saturating_mul(2);
            }
        }
        Err(PushError::Failed {
            url: self.url.clone(),
            attempts: self.attempts,
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_key_is_path_safe() {
        let p = PushGateway::new(
            "http://127.0.0.1:9091/",
            "bykilt",
            &[("batch_id", "run_1/x"), ("empty", "")],
        )
        .unwrap();
        assert_eq!(
            p.url(),
            "http://127.0.0.1:9091/metrics/job/bykilt/batch_id@base64/cnVuXzEveA==/empty@base64/="
        );
        let p = PushGateway::new("http://gw:9091", "bykilt", &[("batch_id", "b-20261128")]).unwrap();
        assert_eq!(p.url(), "http://gw:9091/metrics/job/bykilt/batch_id/b-20261128");
    }

    #[test]
    fn bad_urls_are_named() {
        for url in ["https://gw", "gw:9091", "http://", "ftp://x"] {
            let e = PushGateway::new(url, "j", &[]).unwrap_err();
            assert!(e.to_string().contains(&format!("{url:?}")), "{e}");
        }
    }

    #[test]
    fn unreachable_gateway_fails_after_every_attempt() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = PushGateway::new(&format!("http://127.0.0.1:{port}"), "j", &[])
            .unwrap()
            .with_retries(2, Duration::from_millis(1));
        match p.push_text("x 1\n") {
            Err(PushError::Failed { attempts: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}
