//! The sender: a collecting thread that, every interval, reads the
//! collector and queues batches, and a sending thread that posts them in
//! order with retries, saving the send position after each.
//!
//! * 2xx: sent; the position moves past the batch.
//! * 5xx, 429 and network errors: retried after an exponential backoff with
//!   jitter, or after `Retry-After` when it asks for longer; after
//!   `max_retries` the batch is given up and counted.
//! * Other 4xx: the receiver will never take the batch, so it is dropped at
//!   once, counted, and reported by one [`SendEvent::Rejected`].
//! * A batch collected while the queue is full is dropped and counted
//!   ([`SendStats::overflowed_batches`]).
//! * [`Sender::shutdown`] collects one last time and sends what is queued,
//!   for at most `shutdown_timeout`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics_core::MetricsCollector;
use time::OffsetDateTime;

use crate::batch::{Batch, Encoder, plan};
use crate::config::{Protocol, SendConfig, Target};
use crate::error::RemoteError;
use crate::events::{EventSink, SendEvent, SendStats};
use crate::history::Collection;
use crate::otlp::OtlpEncoder;
use crate::position::{Positions, SendPosition};
use crate::prw::RemoteWriteEncoder;
use crate::transport::{Outcome, Transport};

struct Queue {
    batches: VecDeque<Batch>,
    stopping: bool,
    collector_done: bool,
    deadline: Option<Instant>,
}

struct Shared {
    queue: Mutex<Queue>,
    cv: Condvar,
    stats: Mutex<SendStats>,
    events: Option<EventSink>,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stats(&self) -> MutexGuard<'_, SendStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn event(&self, e: SendEvent) {
        self.stats().last_error = Some(e.to_string());
        if let Some(sink) = &self.events {
            sink(&e);
        }
    }
}

fn encoder_for(target: &Target) -> Box<dyn Encoder> {
    match &target.protocol {
        Protocol::RemoteWrite => Box::new(RemoteWriteEncoder),
        Protocol::Otlp { service_name } => Box::new(OtlpEncoder::new(service_name)),
    }
}

/// Makes recorded samples durable and says up to when they are: called
/// by a sender before each read, it returns a time (ns since the epoch on
/// the collector's clock) up to which the samples are committed to a
/// durable store, or `None` when nothing is to be held back (no store, or
/// one that fails: then everything is sent). See [`Sender::start_durable`].
pub type DurableUntil = Arc<dyn Fn() -> Option<i64> + Send + Sync>;

/// A running sender. Dropping it without [`shutdown`](Self::shutdown)
/// stops it the same way.
#[must_use = "dropping a sender stops it (after its final flush); keep it for as long as it should send"]
pub struct Sender {
    shared: Arc<Shared>,
    collecting: Option<JoinHandle<()>>,
    sending: Option<JoinHandle<()>>,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Sender {
    /// Starts sending `collector`'s samples and aggregates to `target`
    /// every `config.interval`, resuming from `position`.
    ///
    /// # Errors
    /// [`RemoteError::Config`] for a bad `config`; the position's load
    /// error; [`RemoteError::Thread`].
    pub fn start(
        collector: Arc<MetricsCollector>,
        target: Target,
        config: SendConfig,
        position: Box<dyn SendPosition>,
        events: Option<EventSink>,
    ) -> Result<Sender, RemoteError> {
        Sender::start_durable(collector, target, config, position, events, None)
    }

    /// As [`start`](Self::start), sending only what a durable store holds:
    /// before each read, `durable` is asked up to when the samples are
    /// committed, less [`SendConfig::settle`], and later samples wait for
    /// the next interval (the aggregates are taken back to that moment).
    /// With
    /// the send position kept in the same store, a process killed at any
    /// moment has sent nothing the store lacks, so the resumed run's values
    /// continue those the receiver holds. Remote-write timestamps are
    /// milliseconds, so the horizon is cut to the last whole millisecond
    /// (two samples of one millisecond go in the same send). The final
    /// read at shutdown holds nothing back.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_durable(
        collector: Arc<MetricsCollector>,
        target: Target,
        config: SendConfig,
        mut position: Box<dyn SendPosition>,
        events: Option<EventSink>,
        durable: Option<DurableUntil>,
    ) -> Result<Sender, RemoteError> {
        config.validate()?;
        let loaded = position.load()?;
        let in_flight = position.load_in_flight()?;
        let shutdown_timeout = config.shutdown_timeout;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                batches: VecDeque::new(),
                stopping: false,
                collector_done: false,
                deadline: None,
            }),
            cv: Condvar::new(),
            stats: Mutex::new(SendStats::default()),
            events,
        });
        let transport = Transport::new(target, &config);
        let mut encoder = encoder_for(transport.target());
        let c_shared = Arc::clone(&shared);
        let c_config = config.clone();
        let collecting = std::thread::Builder::new()
            .name("metrics-remote-collect".into())
            .spawn(move || {
                collect_loop(
                    &collector,
                    encoder.as_mut(),
                    (loaded, in_flight),
                    durable.as_ref(),
                    &c_config,
                    &c_shared,
                );
            })
            .map_err(RemoteError::Thread)?;
        let s_shared = Arc::clone(&shared);
        let sending = std::thread::Builder::new()
            .name("metrics-remote-send".into())
            .spawn(move || send_loop(&transport, position.as_mut(), &config, &s_shared));
        let sending = match sending {
            Ok(t) => t,
            Err(e) => {
                s_stop(&shared, Duration::ZERO);
                let _ = collecting.join();
                return Err(RemoteError::Thread(e));
            }
        };
        Ok(Sender {
            shared,
            collecting: Some(collecting),
            sending: Some(sending),
            shutdown_timeout,
        })
    }

    /// What was done so far.
    pub fn stats(&self) -> SendStats {
        self.shared.stats().clone()
    }

    /// Collects one last time, sends everything queued (for at most the
    /// configured `shutdown_timeout`), stops the threads and returns the
    /// final counts.
    pub fn shutdown(mut self) -> SendStats {
        self.stop();
        self.stats()
    }

    fn stop(&mut self) {
        let timeout = self.shutdown_timeout;
        s_stop(&self.shared, timeout);
        if let Some(t) = self.collecting.take() {
            let _ = t.join();
        }
        if let Some(t) = self.sending.take() {
            let _ = t.join();
        }
    }
}

fn s_stop(shared: &Shared, timeout: Duration) {
    let mut q = shared.queue();
    if !q.stopping {
        q.stopping = true;
        q.deadline = Some(Instant::now() + timeout);
    }
    drop(q);
    shared.cv.notify_all();
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Advances `sent` past `batch`.
fn advance(sent: &mut Positions, batch: &Batch) {
    for (k, &t) in &batch.updates {
        let e = sent.entry(k.clone()).or_insert(t);
        *e = (*e).max(t);
    }
}

/// The last nanosecond of the whole millisecond before `ns`: samples up
/// to it have a millisecond of their own that no later sample shares.
fn whole_millis_before(ns: i64) -> i64 {
    ns.div_euclid(1_000_000).saturating_mul(1_000_000).saturating_sub(1)
}

fn collect_loop(
    collector: &MetricsCollector,
    encoder: &mut dyn Encoder,
    (mut sent, mut in_flight): (Positions, Option<Positions>),
    durable: Option<&DurableUntil>,
    config: &SendConfig,
    shared: &Shared,
) {
    // Series read up to this time; the next read starts there.
    let mut read_until: HashMap<String, OffsetDateTime> = HashMap::new();
    // Aggregates as of the last durable read, moved forward by each next one.
    let mut carried = HashMap::new();
    let mut first = true;
    loop {
        let stopping = {
            let q = shared.queue();
            let (q, _) = shared
                .cv
                .wait_timeout_while(q, config.interval, |q| !q.stopping)
                .unwrap_or_else(PoisonError::into_inner);
            q.stopping
        };
        let since = |name: &str| if first { None } else { read_until.get(name).copied() };
        // The last read (shutdown) still flushes the store, but holds nothing back.
        let settle = i64::try_from(config.settle.as_nanos()).unwrap_or(i64::MAX);
        let until = durable
            .and_then(|d| d())
            .filter(|_| !stopping)
            .map(|h| whole_millis_before(h.saturating_sub(settle)));
        // With a store, every read (the last one too) sends what a process
        // restarted from the store rebuilds.
        let collection = match durable {
            Some(_) => Collection::read_until(collector, &since, until, &mut carried),
            None => Collection::read(collector, &since, None),
        };
        first = false;
        let next = match until {
            Some(u) => OffsetDateTime::from_unix_timestamp_nanos(i128::from(u) + 1).unwrap_or(collection.started),
            None => collection.started,
        };
        for s in &collection.snapshot.series {
            read_until.insert(s.name.clone(), next);
        }
        for batch in plan(
            encoder,
            &collection,
            &sent,
            in_flight.take(),
            config.max_samples_per_batch,
        ) {
            advance(&mut sent, &batch);
            let mut q = shared.queue();
            if q.batches.len() >= config.max_queued_batches {
                drop(q);
                {
                    let mut st = shared.stats();
                    st.overflowed_batches += 1;
                    st.overflowed_samples += batch.samples as u64;
                }
                shared.event(SendEvent::Overflow { samples: batch.samples });
            } else {
                q.batches.push_back(batch);
                drop(q);
                shared.cv.notify_all();
            }
        }
        if stopping {
            shared.queue().collector_done = true;
            shared.cv.notify_all();
            return;
        }
    }
}

fn send_loop(transport: &Transport, position: &mut dyn SendPosition, config: &SendConfig, shared: &Shared) {
    let mut jitter = Jitter::new();
    loop {
        let batch = {
            let mut q = shared.queue();
            loop {
                if let Some(b) = q.batches.pop_front() {
                    break Some(b);
                }
                if q.collector_done {
                    break None;
                }
                q = shared.cv.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let Some(batch) = batch else { return };
        let deadline = || shared.queue().deadline;
        send_batch(transport, position, config, shared, &batch, &deadline, &mut jitter);
    }
}

/// Posts one batch until it is acknowledged, rejected or given up, then
/// saves the position (except for a batch left unsent at the deadline).
fn send_batch(
    transport: &Transport,
    position: &mut dyn SendPosition,
    config: &SendConfig,
    shared: &Shared,
    batch: &Batch,
    deadline: &dyn Fn() -> Option<Instant>,
    jitter: &mut Jitter,
) {
    let url = transport.target().url().to_owned();
    let mut attempt = 0u32;
    loop {
        if deadline().is_some_and(|d| Instant::now() >= d) {
            let mut st = shared.stats();
            st.failed_batches += 1;
            st.failed_samples += batch.samples as u64;
            drop(st);
            shared.event(SendEvent::GaveUp {
                url,
                reason: "shutdown timeout reached before the batch was sent".into(),
                samples: batch.samples,
            });
            return;
        }
        if attempt == 0
            && let Err(e) = position.save_in_flight(&batch.updates)
        {
            shared.event(SendEvent::Position(e.to_string()));
        }
        match transport.post(&batch.body) {
            Outcome::Accepted => {
                let mut st = shared.stats();
                st.sent_batches += 1;
                st.sent_samples += batch.samples as u64;
                break;
            }
            Outcome::Rejected { status, message } => {
                {
                    let mut st = shared.stats();
                    st.rejected_batches += 1;
                    st.rejected_samples += batch.samples as u64;
                }
                shared.event(SendEvent::Rejected {
                    url: url.clone(),
                    status,
                    message,
                    samples: batch.samples,
                });
                break;
            }
            Outcome::Retry { reason, after } => {
                if attempt >= config.max_retries {
                    {
                        let mut st = shared.stats();
                        st.failed_batches += 1;
                        st.failed_samples += batch.samples as u64;
                    }
                    shared.event(SendEvent::GaveUp {
                        url: url.clone(),
                        reason: format!("{reason} (after {attempt} retries)"),
                        samples: batch.samples,
                    });
                    break;
                }
                let mut delay = jitter.backoff(config, attempt);
                if let Some(after) = after {
                    delay = delay.max(after.min(config.max_retry_after));
                }
                if let Some(d) = deadline() {
                    delay = delay.min(d.saturating_duration_since(Instant::now()));
                }
                attempt += 1;
                shared.stats().retries += 1;
                shared.stats().last_error = Some(reason);
                std::thread::sleep(delay);
            }
        }
    }
    if let Err(e) = position.save(&batch.updates) {
        shared.event(SendEvent::Position(e.to_string()));
    }
}

/// Backoff delays: `initial * 2^attempt`, capped, of which a random half
/// is waited ("equal jitter"), so many senders do not retry in step.
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Self {
        let seed = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64 ^ (std::process::id() as u64) << 32;
        Jitter(seed | 1)
    }

    fn next(&mut self) -> u64 {
        // xorshift64
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(crate) fn backoff(&mut self, config: &SendConfig, attempt: u32) -> Duration {
        let base = config
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(20))
            .min(config.max_backoff);
        let half = base / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_nanos(self.next() % nanos)
    }
}

/// Sends everything `collector` holds once: every retained sample newer
/// than `position`, then the aggregates at the newest sample's time (a
/// stored run's history is sent as it was, not stamped with the time of the
/// push). Retries as the sender does; returns the counts.
///
/// # Errors
/// As [`Sender::start`].
pub fn push_history(
    collector: &MetricsCollector,
    target: Target,
    config: &SendConfig,
    position: &mut dyn SendPosition,
    events: Option<EventSink>,
) -> Result<SendStats, RemoteError> {
    config.validate()?;
    let sent = position.load()?;
    let in_flight = position.load_in_flight()?;
    let shared = Shared {
        queue: Mutex::new(Queue {
            batches: VecDeque::new(),
            stopping: false,
            collector_done: true,
            deadline: None,
        }),
        cv: Condvar::new(),
        stats: Mutex::new(SendStats::default()),
        events,
    };
    let transport = Transport::new(target, config);
    let mut encoder = encoder_for(transport.target());
    let probe = Collection::read(collector, &|_| None, None);
    let at = probe.newest_sample();
    let collection = match at {
        Some(_) => Collection::read(collector, &|_| None, at),
        None => probe,
    };
    let mut jitter = Jitter::new();
    for batch in plan(
        encoder.as_mut(),
        &collection,
        &sent,
        in_flight,
        config.max_samples_per_batch,
    ) {
        send_batch(&transport, position, config, &shared, &batch, &|| None, &mut jitter);
    }
    Ok(shared.stats().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let config = SendConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..SendConfig::default()
        };
        let mut j = Jitter::new();
        for (attempt, base) in [(0, 100), (1, 200), (2, 400), (3, 800), (4, 1000), (30, 1000)] {
            let d = j.backoff(&config, attempt);
            assert!(
                d >= Duration::from_millis(base / 2) && d <= Duration::from_millis(base),
                "{attempt}: {d:?}"
            );
        }
    }
}
