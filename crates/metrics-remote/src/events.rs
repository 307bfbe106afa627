//! What a sender reports: running counts ([`SendStats`]) and the events
//! worth one log line each ([`SendEvent`]).

use std::sync::Arc;

/// Counts of what a sender did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendStats {
    /// Batches the receiver acknowledged.
    pub sent_batches: u64,
    /// Samples (remote write) or data points (OTLP) in them.
    pub sent_samples: u64,
    /// Requests repeated after a 5xx, 429 or network error.
    pub retries: u64,
    /// Batches dropped because the receiver answered 4xx (not 429).
    pub rejected_batches: u64,
    /// Samples in them.
    pub rejected_samples: u64,
    /// Batches dropped because the queue was full.
    pub overflowed_batches: u64,
    /// Samples in them.
    pub overflowed_samples: u64,
    /// Batches given up after `max_retries`, or left unsent when the
    /// shutdown timeout ran out.
    pub failed_batches: u64,
    /// Samples in them.
    pub failed_samples: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

impl SendStats {
    /// Whether every collected sample was acknowledged.
    pub fn all_sent(&self) -> bool {
        self.rejected_batches == 0 && self.overflowed_batches == 0 && self.failed_batches == 0
    }
}

/// Something a caller may want to log: each is one line's worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendEvent {
    /// The receiver refused a batch for good (4xx); it was dropped.
    Rejected {
        /// The receiver URL.
        url: String,
        /// The status.
        status: u16,
        /// The start of its answer.
        message: String,
        /// Samples dropped.
        samples: usize,
    },
    /// A batch was given up after its retries (or at the shutdown timeout).
    GaveUp {
        /// The receiver URL.
        url: String,
        /// The last failure.
        reason: String,
        /// Samples lost.
        samples: usize,
    },
    /// The queue was full: a freshly collected batch was dropped.
    Overflow {
        /// Samples dropped.
        samples: usize,
    },
    /// The position could not be saved (sending goes on).
    Position(String),
}

impl std::fmt::Display for SendEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendEvent::Rejected {
                url,
                status,
                message,
                samples,
            } => write!(
                f,
                "{url} rejected a batch of {samples} samples with {status}; dropped, not retried ({message})"
            ),
            SendEvent::GaveUp { url, reason, samples } => {
                write!(f, "{url}: gave up a batch of {samples} samples: {reason}")
            }
            SendEvent::Overflow { samples } => write!(f, "send queue full: dropped a batch of {samples} samples"),
            SendEvent::Position(e) => write!(f, "saving the send position: {e}"),
        }
    }
}

/// Where [`SendEvent`]s go (for instance, one line on stderr each).
pub type EventSink = Arc<dyn Fn(&SendEvent) + Send + Sync>;
