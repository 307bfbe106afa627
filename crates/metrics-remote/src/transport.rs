//! One HTTP POST of an encoded batch, and what its answer means: done,
//! retry (5xx, 429, network errors; with the `Retry-After` delay if given),
//! or rejected for good (other 4xx).

use std::io::Read;
use std::time::Duration;

use crate::config::{Auth, Protocol, SendConfig, Target};

/// The answer to one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 2xx.
    Accepted,
    /// Worth retrying.
    Retry {
        /// What happened (status and body, or the network error).
        reason: String,
        /// The delay `Retry-After` asked for.
        after: Option<Duration>,
    },
    /// A 4xx other than 429: the receiver will never take this batch.
    Rejected {
        /// The status.
        status: u16,
        /// The start of the answer's body.
        message: String,
    },
}

/// Posts batches to one target.
pub(crate) struct Transport {
    agent: ureq::Agent,
    target: Target,
    authorization: Option<String>,
}

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("bykilt-metrics/", env!("CARGO_PKG_VERSION"));

impl Transport {
    pub(crate) fn new(target: Target, config: &SendConfig) -> Transport {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.request_timeout))
            .user_agent(USER_AGENT)
            .build()
            .into();
        let authorization = match &target.auth {
            Auth::None => None,
            Auth::Basic { user, password } => {
                Some(format!("Basic {}", base64(format!("{user}:{password}").as_bytes())))
            }
            Auth::Bearer(token) => Some(format!("Bearer {token}")),
        };
        Transport {
            agent,
            target,
            authorization,
        }
    }

    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// POSTs `body` (already encoded, and compressed for remote write).
    pub(crate) fn post(&self, body: &[u8]) -> Outcome {
        let mut req = self
            .agent
            .post(&self.target.url)
            .header("Content-Type", "application/x-protobuf");
        if self.target.protocol == Protocol::RemoteWrite {
            req = req
                .header("Content-Encoding", "snappy")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        }
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        for (k, v) in &self.target.headers {
            req = req.header(k, v);
        }
        let mut resp = match req.send(body) {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    reason: e.to_string(),
                    after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Outcome::Accepted;
        }
        let after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut text = String::new();
        let _ = resp.body_mut().as_reader().take(512).read_to_string(&mut text);
        let message = format!("{status}: {}", text.trim());
        if status == 429 || status >= 500 {
            Outcome::Retry { reason: message, after }
        } else {
            Outcome::Rejected { status, message }
        }
    }
}

/// `Retry-After`: delay seconds, or an HTTP date (delay from now).
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let delta = when - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

/// Standard base64 with padding (for basic auth).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
