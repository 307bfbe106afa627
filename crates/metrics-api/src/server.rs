//! Running the routes: inside an existing tokio runtime ([`serve`]) or on a
//! background thread with its own runtime ([`spawn_server`]), for programs
//! that are not async (the `bykilt` CLI during a batch).

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use crate::{ApiState, ServerConfig, connections, router};

/// Most threads of [`spawn_server`]'s blocking pool, where `/metrics` is
/// encoded and JSON answers are built. Requests past it queue; the thread
/// that talks to clients never does that work.
const MAX_BLOCKING_THREADS: usize = 4;
/// Task polls between two looks at the sockets (tokio's default is 61).
/// While thirty scrapes are being written, every poll writes a slice of a
/// body; looking every 8 slices means a `/healthz` request that arrives
/// meanwhile is read after at most ~0.5 MB of copying, not ~4 MB.
const EVENT_INTERVAL: u32 = 8;

/// Starting or running the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A [`ServerConfig`] limit that cannot work.
    #[error("server option {option} = {value}: {problem}")]
    InvalidConfig {
        /// The option's field name in [`ServerConfig`].
        option: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The bearer token cannot be used (empty, or not visible ASCII).
    #[error(transparent)]
    Token(#[from] crate::auth::TokenError),
    /// The runtime or its thread could not be started, or serving failed.
    #[error("HTTP server: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves `state` on `listener` with the limits of `config` until
/// `shutdown` completes, then gives in-flight requests up to 5 s to finish.
///
/// `/metrics` encoding and the JSON answers run on the runtime's blocking
/// pool (`spawn_blocking`), so they never hold up the task that answers
/// `/healthz`. `config.metrics_cache_ttl` replaces the state's.
///
/// # Errors
/// [`ServerError::InvalidConfig`] before anything is served.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate()?;
    let state = state.with_metrics_cache_ttl(config.metrics_cache_ttl);
    connections::accept_loop(listener, router(state), config, shutdown).await;
    Ok(())
}

/// A server running on a background thread. Dropping it shuts it down.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl ServerHandle {
    /// The bound address (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, gives in-flight requests up to 5 s to finish and
    /// joins the thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// [`spawn_server_with`] and the default [`ServerConfig`].
///
/// # Errors
/// As [`spawn_server_with`].
pub fn spawn_server(addr: SocketAddr, state: ApiState) -> Result<ServerHandle, ServerError> {
    spawn_server_with(addr, state, ServerConfig::default())
}

/// Checks `config`, binds `addr` now (so a bad address is reported here)
/// and serves `state` from a background thread: one thread talks to the
/// clients, a small blocking pool encodes.
///
/// # Errors
/// [`ServerError::InvalidConfig`] naming the option, [`ServerError::Bind`]
/// naming the address, or [`ServerError::Io`] if the runtime or thread
/// cannot start.
pub fn spawn_server_with(addr: SocketAddr, state: ApiState, config: ServerConfig) -> Result<ServerHandle, ServerError> {
    config.validate()?;
    let state = state.with_metrics_cache_ttl(config.metrics_cache_ttl);
    spawn_router(addr, router(state), config)
}

/// Serves `app` as [`spawn_server_with`] serves its routes: the accept loop
/// with `config`'s limits on a background thread, a small blocking pool.
pub(crate) fn spawn_router(
    addr: SocketAddr,
    app: axum::Router,
    config: ServerConfig,
) -> Result<ServerHandle, ServerError> {
    config.validate()?;
    let listener = std::net::TcpListener::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .event_interval(EVENT_INTERVAL)
        .thread_name("metrics-http-encode")
        .build()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name("metrics-http".into()).spawn(move || {
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            connections::accept_loop(listener, app, config, async move {
                let _ = stop_rx.await;
            })
            .await;
            Ok(())
        })
    })?;
    Ok(ServerHandle {
        addr: local,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}
