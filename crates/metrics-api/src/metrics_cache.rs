//! The encoded `/metrics` body, shared by concurrent scrapes.
//!
//! Encoding 100k series takes long enough that thirty scrapers encoding at
//! once would saturate every core. Each format has one slot guarded by an
//! async mutex: the first scrape encodes on the blocking pool while the
//! others wait without holding a thread, then all of them are served the
//! same bytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use metrics_core::MetricsCollector;
use metrics_core::export::prometheus::{TextFormat, encode};
use tokio::sync::Mutex;

#[derive(Debug)]
struct Encoded {
    /// When the snapshot behind `body` was taken.
    taken: Instant,
    body: Bytes,
}

/// One slot per exposition format.
#[derive(Debug)]
pub(crate) struct MetricsCache {
    ttl: Duration,
    prometheus: Arc<Mutex<Option<Encoded>>>,
    openmetrics: Arc<Mutex<Option<Encoded>>>,
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

    /// The body of `format`: the cached one when it was taken less than the
    /// TTL ago or after this call began (an encoding that was running while
    /// we waited), otherwise a fresh encoding.
    ///
    /// # Errors
    /// The encoding task panicked (nothing is cached then).
    pub(crate) async fn body(
        &self,
        collector: &Arc<MetricsCollector>,
        format: TextFormat,
    ) -> Result<Bytes, tokio::task::JoinError> {
        let arrived = Instant::now();
        let slot = match format {
            TextFormat::OpenMetrics => &self.openmetrics,
            TextFormat::Prometheus => &self.prometheus,
        };
        let mut guard = Arc::clone(slot).lock_owned().await;
        if let Some(cached) = guard.as_ref()
            && (cached.taken >= arrived || cached.taken.elapsed() <= self.ttl)
        {
            return Ok(cached.body.clone());
        }
        let collector = Arc::clone(collector);
        // The guard moves into the blocking task, so a scraper that hangs up
        // mid-encoding does not waste the work: the result is still stored
        // for the ones queued behind it.
        tokio::task::spawn_blocking(move || {
            let taken = Instant::now();
            let body = Bytes::from(encode(&collector.aggregate_snapshot(), format).text);
            *guard = Some(Encoded {
                taken,
                body: body.clone(),
            });
            body
        })
        .await
    }
}
