//! The accept loop: one hyper HTTP/1 connection per client, with the limits
//! of [`ServerConfig`].
//!
//! `axum::serve` offers none of these limits, so connections are driven here
//! with hyper directly and axum only routes. Every connection records when
//! bytes last moved and how many of its requests are being answered; that
//! is what the idle timeout and the choice of which connection to close at
//! the cap are decided from.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower_service::Service;

use crate::ServerConfig;

/// How long in-flight requests may take to finish once shutdown is asked.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Most bytes one connection writes per turn before it lets the other
/// connections (and the runtime's I/O driver) have the thread; each write
/// is cut to what is left of the slice. Without the cut, one `write` to a
/// loopback reader with a large socket buffer copies megabytes (and runs the
/// receiver's TCP path inline), so thirty scrapes of a 15 MB body made a
/// turn of the scheduler take tens of milliseconds, and `/healthz` waited a
/// whole turn before its socket was even polled: the tail of issue 11's
/// benchmark. 64 KiB is one loopback segment burst, ~20 µs of copying.
const WRITE_SLICE: usize = 64 * 1024;
/// Pause after an accept error that is not about one connection (out of
/// file descriptors, say), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// What the accept loop knows about one open connection.
#[derive(Debug)]
struct ConnectionState {
    id: u64,
    /// Milliseconds after [`Registry::epoch`] when bytes last moved.
    last_activity_ms: AtomicU64,
    /// Requests handed to the routes and not yet answered.
    in_flight: AtomicUsize,
    /// Signalled when the connection is closed to make room at the cap.
    evicted: Notify,
}

/// The open connections.
#[derive(Debug)]
struct Registry {
    epoch: Instant,
    max: usize,
    open: Mutex<HashMap<u64, Arc<ConnectionState>>>,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self, conn: &ConnectionState) {
        conn.last_activity_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Registers a new connection. At the cap, the open connection that has
    /// waited longest with no request being answered is told to close
    /// (idle keep-alives and half-sent headers go first). `None` when every
    /// open connection is busy answering: the new one is refused.
    fn admit(&self, id: u64) -> Option<Arc<ConnectionState>> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.len() >= self.max {
            let victim = open
                .values()
                .filter(|c| c.in_flight.load(Ordering::Relaxed) == 0)
                .min_by_key(|c| c.last_activity_ms.load(Ordering::Relaxed))
                .map(|c| c.id)?;
            if let Some(victim) = open.remove(&victim) {
                victim.evicted.notify_one();
            }
        }
        let conn = Arc::new(ConnectionState {
            id,
            last_activity_ms: AtomicU64::new(self.now_ms()),
            in_flight: AtomicUsize::new(0),
            evicted: Notify::new(),
        });
        open.insert(id, Arc::clone(&conn));
        Some(conn)
    }

    fn remove(&self, id: u64) {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
    }
}

/// A TCP stream that records when bytes move and yields the thread after
/// every [`WRITE_SLICE`] bytes written.
struct TrackedStream {
    inner: TcpStream,
    conn: Arc<ConnectionState>,
    registry: Arc<Registry>,
    written_since_yield: usize,
}

impl TrackedStream {
    /// The bytes this connection may still write in its turn; `None` (after
    /// scheduling a wake-up) when it has had its slice and must give the
    /// thread up before writing more.
    fn room(&mut self, cx: &mut Context<'_>) -> Option<usize> {
        if self.written_since_yield < WRITE_SLICE {
            return Some(WRITE_SLICE - self.written_since_yield);
        }
        self.written_since_yield = 0;
        cx.waker().wake_by_ref();
        None
    }

    fn wrote(&mut self, polled: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = polled
            && *n > 0
        {
            self.written_since_yield += n;
            self.registry.touch(&self.conn);
        }
    }
}

impl AsyncRead for TrackedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.registry.touch(&this.conn);
        }
        polled
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(room) = this.room(cx) else {
            return Poll::Pending;
        };
        let polled = Pin::new(&mut this.inner).poll_write(cx, &data[..data.len().min(room)]);
        this.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(room) = this.room(cx) else {
            return Poll::Pending;
        };
        // The leading buffers that fit in the slice; a first buffer larger
        // than the slice is cut.
        let mut cut: Vec<io::IoSlice<'_>> = Vec::with_capacity(bufs.len().min(16));
        let mut left = room;
        for b in bufs {
            if left == 0 {
                break;
            }
            let n = b.len().min(left);
            cut.push(io::IoSlice::new(&b[..n]));
            left -= n;
        }
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, &cut);
        this.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Counts a request as being answered while it lives.
struct InFlight {
    conn: Arc<ConnectionState>,
    registry: Arc<Registry>,
}

impl InFlight {
    fn enter(conn: &Arc<ConnectionState>, registry: &Arc<Registry>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            conn: Arc::clone(conn),
            registry: Arc::clone(registry),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // The idle clock restarts when the answer is ready, not when the
        // request came in: a long encoding is not idleness.
        self.registry.touch(&self.conn);
        self.conn.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accept errors that concern one connection only; anything else (out of
/// file descriptors) gets a pause before the next accept.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Accepts on `listener` until `shutdown` completes, then lets in-flight
/// requests finish for up to [`SHUTDOWN_GRACE`] and closes the rest.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    router: Router,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let registry = Arc::new(Registry {
        epoch: Instant::now(),
        max: config.max_connections,
        open: Mutex::new(HashMap::new()),
    });
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let http = Arc::new(http);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut next_id: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    next_id += 1;
                    let Some(conn) = registry.admit(next_id) else {
                        // Every connection is busy answering: refuse this one
                        // rather than grow past the cap.
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tasks.spawn(serve_connection(
                        stream,
                        router.clone(),
                        conn,
                        Arc::clone(&registry),
                        Arc::clone(&http),
                        config.idle_timeout,
                        stop_rx.clone(),
                    ));
                }
                Err(e) if is_connection_error(&e) => {}
                Err(_) => tokio::time::sleep(ACCEPT_ERROR_PAUSE).await,
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
}

/// Serves one connection until the client leaves, a timeout or the cap
/// closes it, or the server shuts down.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    conn: Arc<ConnectionState>,
    registry: Arc<Registry>,
    http: Arc<http1::Builder>,
    idle_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(TrackedStream {
        inner: stream,
        conn: Arc::clone(&conn),
        registry: Arc::clone(&registry),
        written_since_yield: 0,
    });
    let service = {
        let conn = Arc::clone(&conn);
        let registry = Arc::clone(&registry);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut router = router.clone();
            let in_flight = InFlight::enter(&conn, &registry);
            async move {
                let response = router.call(request).await;
                drop(in_flight);
                response
            }
        })
    };
    let connection = http.serve_connection(io, service);
    tokio::pin!(connection);
    let idle_ms = u64::try_from(idle_timeout.as_millis()).unwrap_or(u64::MAX);
    let mut next_check = idle_timeout;
    loop {
        tokio::select! {
            // The connection first: after the thread was held up (a loaded
            // machine), a request may be waiting in the socket when the idle
            // timer fires; polling the connection first reads it, which
            // counts as activity, so a live connection is not closed as idle.
            biased;
            _ = connection.as_mut() => break,
            () = conn.evicted.notified() => break,
            _ = stop.changed() => {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection.as_mut()).await;
                break;
            }
            () = tokio::time::sleep(next_check) => {
                let quiet_ms = registry.now_ms().saturating_sub(conn.last_activity_ms.load(Ordering::Relaxed));
                let answering = conn.in_flight.load(Ordering::Relaxed) > 0;
                if !answering && quiet_ms >= idle_ms {
                    // Nothing being answered and nothing moving: dropping the
                    // connection closes the socket.
                    break;
                }
                next_check = if answering {
                    idle_timeout
                } else {
                    Duration::from_millis(idle_ms.saturating_sub(quiet_ms).max(1))
                };
            }
        }
    }
    registry.remove(conn.id);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection writing a large body hands the socket at most one slice
    /// per write and gives the thread up after each slice: that bounds how
    /// long `/healthz` waits behind thirty scrapes being written.
    #[test]
    fn writes_are_cut_to_the_slice_and_yield_after_it() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let reader = std::thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let mut all = Vec::new();
                std::io::Read::read_to_end(&mut s, &mut all).unwrap();
                all.len()
            });
            let registry = Arc::new(Registry {
                epoch: Instant::now(),
                max: 4,
                open: Mutex::new(HashMap::new()),
            });
            let conn = registry.admit(1).unwrap();
            let mut stream = TrackedStream {
                inner: TcpStream::connect(addr).await.unwrap(),
                conn,
                registry,
                written_since_yield: 0,
            };
            let body = vec![7u8; 4 * 1024 * 1024];
            let (mut calls, mut yields, mut sent) = (0, 0, 0);
            while sent < body.len() {
                let n = std::future::poll_fn(|cx| {
                    let polled = Pin::new(&mut stream).poll_write(cx, &body[sent..]);
                    if polled.is_pending() && stream.written_since_yield == 0 {
                        yields += 1;
                    }
                    polled
                })
                .await
                .unwrap();
                assert!(n <= WRITE_SLICE, "one write handed the socket {n} bytes");
                sent += n;
                calls += 1;
            }
            drop(stream);
            assert_eq!(reader.join().unwrap(), body.len());
            assert!(calls >= body.len() / WRITE_SLICE, "{calls} writes");
            assert!(
                yields >= body.len() / WRITE_SLICE - 1,
                "{yields} yields for {calls} writes"
            );
        });
    }
}
