//! Where to send and how: the receiver ([`Target`]) and the sender's
//! batching, queueing and retry settings ([`SendConfig`]).

use std::time::Duration;

use crate::error::RemoteError;

/// The wire protocol of a receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// Prometheus remote write 1.0: snappy-compressed protobuf
    /// `WriteRequest`s, POSTed to the URL as given (for Prometheus and
    /// VictoriaMetrics, `http://HOST:PORT/api/v1/write`).
    RemoteWrite,
    /// OTLP/HTTP with protobuf bodies, POSTed to `/v1/metrics`.
    Otlp {
        /// The `service.name` resource attribute.
        service_name: String,
    },
}

/// Credentials sent with every request.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// None.
    #[default]
    None,
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// `Authorization: Bearer TOKEN`.
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    // Credentials stay out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Basic { .. } => "Basic(..)",
            Auth::Bearer(_) => "Bearer(..)",
        })
    }
}

/// A receiver: URL, protocol, extra headers and credentials.
///
/// Only `http://` URLs are accepted: the build carries no TLS stack. Put a
/// TLS-terminating proxy (or the engine's own agent) on the sending machine
/// to reach an `https://` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub(crate) url: String,
    pub(crate) protocol: Protocol,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) auth: Auth,
}

fn check_url(url: &str) -> Result<(), RemoteError> {
    let bad = |reason: &str| RemoteError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    if url.starts_with("https://") {
        return Err(bad(
            "https is not supported: this build has no TLS stack; use http:// (e.g. through a local TLS proxy)",
        ));
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(bad("it must start with http://"));
    };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(bad("it names no host"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace"));
    }
    url.parse::<ureq::http::Uri>().map_err(|e| bad(&e.to_string()))?;
    Ok(())
}

impl Target {
    /// A Prometheus remote-write receiver at `url`.
    ///
    /// ```
    /// let t = metrics_remote::Target::remote_write("http://127.0.0.1:9090/api/v1/write")?;
    /// assert_eq!(t.url(), "http://127.0.0.1:9090/api/v1/write");
    /// assert!(metrics_remote::Target::remote_write("https://x/api/v1/write").is_err());
    /// # Ok::<(), metrics_remote::RemoteError>(())
    /// ```
    ///
    /// # Errors
    /// [`RemoteError::Url`] for anything but an `http://host…` URL.
    pub fn remote_write(url: &str) -> Result<Target, RemoteError> {
        check_url(url)?;
        Ok(Target {
            url: url.to_owned(),
            protocol: Protocol::RemoteWrite,
            headers: Vec::new(),
            auth: Auth::None,
        })
    }

    /// An OTLP/HTTP receiver (an OpenTelemetry Collector's `otlphttp`
    /// receiver, port 4318 by default). A URL with no path gets
    /// `/v1/metrics`; one with a path is used as given.
    ///
    /// ```
    /// let t = metrics_remote::Target::otlp("http://127.0.0.1:4318", "batch")?;
    /// assert_eq!(t.url(), "http://127.0.0.1:4318/v1/metrics");
    /// # Ok::<(), metrics_remote::RemoteError>(())
    /// ```
    ///
    /// # Errors
    /// [`RemoteError::Url`] as for [`remote_write`](Self::remote_write);
    /// [`RemoteError::Config`] for an empty service name.
    pub fn otlp(url: &str, service_name: &str) -> Result<Target, RemoteError> {
        check_url(url)?;
        if service_name.trim().is_empty() {
            return Err(RemoteError::Config {
                what: "service name",
                reason: "it is empty".into(),
            });
        }
        let rest = &url["http://".len()..];
        let url = match rest.find('/') {
            None => format!("{url}/v1/metrics"),
            Some(i) if rest[i..] == *"/" => format!("{}v1/metrics", url),
            Some(_) => url.to_owned(),
        };
        Ok(Target {
            url,
            protocol: Protocol::Otlp {
                service_name: service_name.to_owned(),
            },
            headers: Vec::new(),
            auth: Auth::None,
        })
    }

    /// Adds a header given as `Name: value` (as `curl -H` takes it).
    ///
    /// # Errors
    /// [`RemoteError::Header`] naming the header when there is no `:`, the
    /// name is not a token, or the value has control characters.
    pub fn with_header(mut self, header: &str) -> Result<Target, RemoteError> {
        let bad = |reason: &str| RemoteError::Header {
            header: header.to_owned(),
            reason: reason.to_owned(),
        };
        let (name, value) = header.split_once(':').ok_or_else(|| bad("no ':'"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(bad("the name is not a header name"));
        }
        if value.chars().any(char::is_control) {
            return Err(bad("the value has control characters"));
        }
        self.headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Sends `Authorization: Basic …` with every request.
    pub fn with_basic_auth(mut self, user: &str, password: &str) -> Target {
        self.auth = Auth::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        };
        self
    }

    /// Sends `Authorization: Bearer TOKEN` with every request.
    pub fn with_bearer_token(mut self, token: &str) -> Target {
        self.auth = Auth::Bearer(token.to_owned());
        self
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The protocol.
    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }
}

/// Batching, queueing and retry settings. The defaults suit a batch run:
/// aggregates every 15 s, batches of at most 2,000 samples, a queue of 256
/// batches (half a million samples), retries from 250 ms doubling to 30 s.
#[derive(Debug, Clone, PartialEq)]
pub struct SendConfig {
    /// How often aggregates and new samples are collected and sent.
    pub interval: Duration,
    /// Most samples (remote write) or data points (OTLP) in one request.
    pub max_samples_per_batch: usize,
    /// Most batches waiting to be sent; a batch collected while the queue
    /// is full is dropped and counted in [`SendStats::overflowed_batches`](crate::SendStats).
    pub max_queued_batches: usize,
    /// Timeout of one request (connect to last byte).
    pub request_timeout: Duration,
    /// First retry delay; doubled each retry, with jitter.
    pub initial_backoff: Duration,
    /// Longest delay computed by backoff.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// Retries of one batch before it is given up (and counted).
    pub max_retries: u32,
    /// How long the final flush at shutdown may go on starting requests
    /// (one started just before may take up to `request_timeout` more);
    /// batches still queued then are counted as failed.
    pub shutdown_timeout: Duration,
    /// With a durable store ([`Sender::start_durable`](crate::Sender::start_durable)),
    /// how far behind the store's horizon a read stops. A sample is stamped
    /// a moment before it is kept, and a thread descheduled in between
    /// keeps it late: one stamped before a read but kept after it would be
    /// older than the position already sent, and never sent. Samples
    /// younger than this wait for the next read (the final read at
    /// shutdown takes everything).
    pub settle: Duration,
}

impl Default for SendConfig {
    fn default() -> Self {
        SendConfig {
            interval: Duration::from_secs(15),
            max_samples_per_batch: 2_000,
            max_queued_batches: 256,
            request_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
            max_retries: 10,
            shutdown_timeout: Duration::from_secs(30),
            settle: Duration::from_secs(1),
        }
    }
}

impl SendConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// [`RemoteError::Config`] naming a zero interval, batch or queue size.
    pub fn validate(&self) -> Result<(), RemoteError> {
        let zero = |what| {
            Err(RemoteError::Config {
                what,
                reason: "it must be greater than zero".into(),
            })
        };
        if self.interval.is_zero() {
            return zero("send interval");
        }
        if self.max_samples_per_batch == 0 {
            return zero("batch size");
        }
        if self.max_queued_batches == 0 {
            return zero("queue size");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_and_headers_are_refused_naming_the_value() {
        for url in ["ftp://x/", "http://", "http://a b/", "http://[::1/x", "127.0.0.1:9090"] {
            let e = Target::remote_write(url).unwrap_err().to_string();
            assert!(e.contains(&format!("{url:?}")), "{e}");
        }
        let t = Target::remote_write("http://127.0.0.1:9/w").unwrap();
        for h in ["no colon", ": v", "bad name: v", "X: a\u{7}b"] {
            let e = t.clone().with_header(h).unwrap_err().to_string();
            assert!(e.contains(&format!("{h:?}")), "{e}");
        }
        let t = t.with_header("X-Scope-OrgID:  team-a ").unwrap();
        assert_eq!(t.headers, vec![("X-Scope-OrgID".to_owned(), "team-a".to_owned())]);
        assert!(Target::otlp("http://h:4318", " ").is_err());
        assert_eq!(
            Target::otlp("http://h:4318/", "s").unwrap().url(),
            "http://h:4318/v1/metrics"
        );
        assert_eq!(
            Target::otlp("http://h/otlp/v1/metrics", "s").unwrap().url(),
            "http://h/otlp/v1/metrics"
        );
    }

    #[test]
    fn zero_sizes_are_refused() {
        let c = SendConfig {
            max_samples_per_batch: 0,
            ..SendConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("batch size"));
        assert!(SendConfig::default().validate().is_ok());
    }

    #[test]
    fn credentials_stay_out_of_debug_output() {
        let t = Target::remote_write("http://h/w")
            .unwrap()
            .with_basic_auth("u", "secret");
        assert!(!format!("{t:?}").contains("secret"));
    }
}
