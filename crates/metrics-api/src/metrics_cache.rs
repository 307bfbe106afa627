//! The encoded `/metrics` body, shared by concurrent scrapes.
//!
//! Encoding 100k series takes long enough that thirty scrapers encoding at
//! once would saturate every core. Each format has one slot guarded by an
//! async mutex: the first scrape encodes on the blocking pool while the
//! others wait without holding a thread, then all of them are served the
//! same bytes. A scraper that accepts gzip (Prometheus does) is served the
//! body compressed, once per encoding: a tenth of the bytes to copy through
//! the sockets, which on a loaded machine is where the time of thirty
//! concurrent scrapes goes.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use metrics_core::export::prometheus::TextFormat;
use tokio::sync::Mutex;

#[derive(Debug)]
struct Encoded {
    /// When the snapshot behind `body` was taken.
    taken: Instant,
    body: Bytes,
    /// `body` gzipped, made by the first scrape that asked for it.
    gzipped: Option<Bytes>,
}

impl Encoded {
    /// The body a scraper gets: gzipped if it accepts gzip, `None` when
    /// that is not made yet.
    fn body(&self, accepts_gzip: bool) -> Option<Body> {
        match (&self.gzipped, accepts_gzip) {
            (Some(z), true) => Some(Body::gzip(z)),
            (None, true) => None,
            (_, false) => Some(Body::plain(&self.body)),
        }
    }
}

/// A `/metrics` body as it goes on the wire.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    pub(crate) bytes: Bytes,
    /// `bytes` is gzip (`Content-Encoding: gzip`).
    pub(crate) gzipped: bool,
}

/// One slot per exposition format.
#[derive(Debug)]
pub(crate) struct MetricsCache {
    ttl: Duration,
    prometheus: Arc<Mutex<Option<Encoded>>>,
    openmetrics: Arc<Mutex<Option<Encoded>>>,
}

/// gzip at the fastest level: the point is fewer bytes to write, and a
/// slower level would cost more CPU than the copies it saves.
fn gzip(body: &[u8]) -> Option<Bytes> {
    let mut out = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 8), flate2::Compression::fast());
    out.write_all(body).ok()?;
    out.finish().ok().map(Bytes::from)
}

impl MetricsCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        MetricsCache {
            ttl,
            prometheus: Arc::default(),
            openmetrics: Arc::default(),
        }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The body of `format` (gzipped when `accepts_gzip`): the cached one
    /// when it was taken less than the TTL ago or after this call began
    /// (an encoding that was running while we waited), otherwise the one
    /// `encode` makes now (on the blocking pool).
    ///
    /// # Errors
    /// [`CacheError::Encode`] with `encode`'s error, or
    /// [`CacheError::Panicked`]; nothing is cached then.
    pub(crate) async fn body<E: Send + 'static>(
        &self,
        format: TextFormat,
        accepts_gzip: bool,
        encode: impl FnOnce() -> Result<Bytes, E> + Send + 'static,
    ) -> Result<Body, CacheError<E>> {
        let arrived = Instant::now();
        let slot = match format {
            TextFormat::OpenMetrics => &self.openmetrics,
            TextFormat::Prometheus => &self.prometheus,
        };
        let mut guard = Arc::clone(slot).lock_owned().await;
        let fresh = guard
            .as_ref()
            .is_some_and(|cached| cached.taken >= arrived || cached.taken.elapsed() <= self.ttl);
        if fresh && let Some(body) = guard.as_ref().and_then(|c| c.body(accepts_gzip)) {
            return Ok(body);
        }
        // The guard moves into the blocking task, so a scraper that hangs up
        // mid-encoding does not waste the work: the result is still stored
        // for the ones queued behind it.
        tokio::task::spawn_blocking(move || {
            let mut cached = match guard.take() {
                Some(c) if fresh => c,
                _ => {
                    let taken = Instant::now();
                    Encoded {
                        taken,
                        body: encode().map_err(CacheError::Encode)?,
                        gzipped: None,
                    }
                }
            };
            if accepts_gzip && cached.gzipped.is_none() {
                cached.gzipped = gzip(&cached.body);
            }
            // Plain text when compressing failed.
            let body = cached.body(accepts_gzip).unwrap_or_else(|| Body::plain(&cached.body));
            *guard = Some(cached);
            Ok(body)
        })
        .await
        .map_err(|_| CacheError::Panicked)?
    }
}

/// Why [`MetricsCache::body`] has no body.
#[derive(Debug)]
pub(crate) enum CacheError<E> {
    /// The encoder's own error.
    Encode(E),
    /// The encoding task panicked.
    Panicked,
}

impl Body {
    fn plain(bytes: &Bytes) -> Self {
        Body {
            bytes: bytes.clone(),
            gzipped: false,
        }
    }

    fn gzip(bytes: &Bytes) -> Self {
        Body {
            bytes: bytes.clone(),
            gzipped: true,
        }
    }

    /// The `/metrics` response: `format`'s content type, `Vary` on what
    /// chose the body, and `Content-Encoding: gzip` when it is.
    pub(crate) fn into_response(self, format: TextFormat) -> axum::response::Response {
        use axum::http::{HeaderValue, StatusCode, header};
        use axum::response::IntoResponse;
        let mut response = (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(format.content_type())),
                (header::VARY, HeaderValue::from_static("accept, accept-encoding")),
            ],
            self.bytes,
        )
            .into_response();
        if self.gzipped {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    }
}

/// The exposition format and whether gzip is accepted, from a request's
/// `Accept` and `Accept-Encoding`.
pub(crate) fn negotiate(headers: &axum::http::HeaderMap) -> (TextFormat, bool) {
    use axum::http::header;
    let value = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    (
        TextFormat::from_accept(value(header::ACCEPT).unwrap_or("")),
        value(header::ACCEPT_ENCODING).is_some_and(accepts_gzip),
    )
}

/// Whether an `Accept-Encoding` value accepts gzip: a `gzip` (or `x-gzip`,
/// or `*`) coding whose `q` is not 0 (RFC 9110 §12.5.3).
pub(crate) fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut named = None;
    let mut any = None;
    for coding in accept_encoding.split(',') {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            named = Some(q > 0.0);
        } else if name == "*" {
            any = Some(q > 0.0);
        }
    }
    named.or(any).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_is_accepted_unless_absent_or_refused_with_q_0() {
        for yes in [
            "gzip",
            "gzip, deflate",
            "deflate, GZIP;q=0.5",
            "x-gzip",
            "*",
            "br;q=1, *;q=0.1",
            "gzip;q=1.0",
        ] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in [
            "",
            "identity",
            "deflate, br",
            "gzip;q=0",
            "gzip; q=0.0",
            "*;q=0",
            "gzip;q=0, *",
        ] {
            assert!(!accepts_gzip(no), "{no}");
        }
    }
}
