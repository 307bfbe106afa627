//! How the server treats its connections: how long a client may take to
//! send a request's headers, how long an idle keep-alive connection is kept,
//! how many connections are served at once, and how long an encoded
//! `/metrics` body is reused.

use std::time::Duration;

use crate::server::ServerError;

/// Connection limits and the `/metrics` cache of one server.
///
/// Every limit is there so that a slow or hostile client costs a bounded
/// time and a bounded number of file descriptors, never the service:
///
/// * a client that does not finish a request's headers within
///   [`header_read_timeout`](Self::header_read_timeout) is disconnected;
/// * a connection with no request being answered and no bytes moving for
///   [`idle_timeout`](Self::idle_timeout) is closed;
/// * at most [`max_connections`](Self::max_connections) connections are
///   open; a new one past the cap closes the connection that has waited
///   longest without a request being answered, so idle clients can never
///   lock everyone else out;
/// * concurrent `/metrics` scrapes share one encoding, and a body encoded
///   less than [`metrics_cache_ttl`](Self::metrics_cache_ttl) ago is served
///   again instead of encoding anew.
///
/// hyper times a keep-alive connection's wait for its next request with the
/// header-read timer too, so an idle connection is closed after the shorter
/// of the two timeouts.
///
/// ```
/// use std::time::Duration;
/// use metrics_api::ServerConfig;
///
/// let config = ServerConfig::default()
///     .with_max_connections(64)
///     .with_metrics_cache_ttl(Duration::from_millis(250));
/// assert_eq!(config.header_read_timeout, ServerConfig::DEFAULT_HEADER_READ_TIMEOUT);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// Longest time from the moment a connection waits for a request until
    /// that request's headers are complete (must be > 0).
    pub header_read_timeout: Duration,
    /// Longest time a connection may sit with no request being answered and
    /// no bytes read or written (must be > 0).
    pub idle_timeout: Duration,
    /// Most connections open at once (must be ≥ 1).
    pub max_connections: usize,
    /// How long an encoded `/metrics` body is served again. Zero still lets
    /// scrapes that arrive while an encoding runs share its result.
    pub metrics_cache_ttl: Duration,
}

impl ServerConfig {
    /// Default [`header_read_timeout`](Self::header_read_timeout): 10 s.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default [`idle_timeout`](Self::idle_timeout): 5 s.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default [`max_connections`](Self::max_connections): 256, well under
    /// the usual `ulimit -n` of 1,024.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
    /// Default [`metrics_cache_ttl`](Self::metrics_cache_ttl): 1 s, far
    /// below any scrape interval, enough for a burst of scrapers to share
    /// one encoding.
    pub const DEFAULT_METRICS_CACHE_TTL: Duration = Duration::from_secs(1);

    /// Sets [`header_read_timeout`](Self::header_read_timeout).
    #[must_use = "with_header_read_timeout returns the changed config"]
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use = "with_idle_timeout returns the changed config"]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`max_connections`](Self::max_connections).
    #[must_use = "with_max_connections returns the changed config"]
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Sets [`metrics_cache_ttl`](Self::metrics_cache_ttl).
    #[must_use = "with_metrics_cache_ttl returns the changed config"]
    pub fn with_metrics_cache_ttl(mut self, ttl: Duration) -> Self {
        self.metrics_cache_ttl = ttl;
        self
    }

    /// Checks every limit.
    ///
    /// # Errors
    /// [`ServerError::InvalidConfig`] naming the option and its value: a zero
    /// timeout (it would close every connection at once) or a cap of zero
    /// connections.
    pub fn validate(&self) -> Result<(), ServerError> {
        let bad = |option: &'static str, value: String, problem: &'static str| {
            Err(ServerError::InvalidConfig { option, value, problem })
        };
        if self.header_read_timeout.is_zero() {
            return bad(
                "header_read_timeout",
                format!("{:?}", self.header_read_timeout),
                "must be longer than zero",
            );
        }
        if self.idle_timeout.is_zero() {
            return bad(
                "idle_timeout",
                format!("{:?}", self.idle_timeout),
                "must be longer than zero",
            );
        }
        if self.max_connections == 0 {
            return bad("max_connections", "0".into(), "must be at least 1");
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            metrics_cache_ttl: Self::DEFAULT_METRICS_CACHE_TTL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_are_rejected_by_name() {
        let zero = Duration::ZERO;
        for (config, option) in [
            (
                ServerConfig::default().with_header_read_timeout(zero),
                "header_read_timeout",
            ),
            (ServerConfig::default().with_idle_timeout(zero), "idle_timeout"),
            (ServerConfig::default().with_max_connections(0), "max_connections"),
        ] {
            let err = config.validate().unwrap_err();
            assert!(err.to_string().contains(option), "{err}");
        }
        assert!(ServerConfig::default().with_metrics_cache_ttl(zero).validate().is_ok());
    }
}
