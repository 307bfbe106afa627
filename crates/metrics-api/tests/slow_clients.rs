//! Clients that never finish: half-sent headers, idle keep-alive
//! connections, more idle connections than the cap. Each costs a bounded
//! time, and `/healthz` keeps answering throughout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_api::{ApiState, ServerConfig, ServerHandle, spawn_server_with};
use metrics_core::MetricsCollector;
use test_support::closed_within;

/// Far beyond every timeout configured below: a connection still open
/// after this is one the server would keep forever.
const PATIENCE: Duration = Duration::from_secs(15);

fn start(config: ServerConfig) -> ServerHandle {
    let collector = Arc::new(MetricsCollector::default());
    spawn_server_with("127.0.0.1:0".parse().unwrap(), ApiState::new(collector), config).unwrap()
}

fn healthz(addr: SocketAddr) -> Option<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .get(&format!("http://{addr}/healthz"))
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()
}

#[test]
fn half_sent_headers_are_closed_after_the_header_read_timeout_while_healthz_answers() {
    let timeout = Duration::from_millis(500);
    let server = start(
        ServerConfig::default()
            .with_header_read_timeout(timeout)
            .with_idle_timeout(Duration::from_secs(60)),
    );
    let addr = server.local_addr();
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|i| {
            let mut s = TcpStream::connect(addr).unwrap();
            // A request line and one header, never the blank line that ends them.
            write!(s, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: {i}\r\n").unwrap();
            s
        })
        .collect();
    // While they hang, other clients are served.
    for _ in 0..5 {
        assert_eq!(healthz(addr).as_deref(), Some("ok\n"));
    }
    for (i, s) in slow.iter_mut().enumerate() {
        assert!(closed_within(s, PATIENCE), "half-sent request {i} still open");
    }
    assert_eq!(healthz(addr).as_deref(), Some("ok\n"));
}

#[test]
fn a_client_sending_headers_a_byte_at_a_time_is_cut_off() {
    let server = start(
        ServerConfig::default()
            .with_header_read_timeout(Duration::from_millis(500))
            .with_idle_timeout(Duration::from_secs(60)),
    );
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ";
    // Bytes keep trickling, so the connection is never idle: only the
    // header-read timeout can end it.
    let started = Instant::now();
    let mut bytes = request.iter().copied().chain(std::iter::repeat(b'a'));
    let cut_off = loop {
        if started.elapsed() > PATIENCE {
            break false;
        }
        let byte = bytes.next().unwrap_or(b'a');
        if s.write_all(&[byte]).is_err() || closed_within(&mut s, Duration::from_millis(50)) {
            break true;
        }
    };
    assert!(
        cut_off,
        "a trickling client kept its connection for {:?}",
        started.elapsed()
    );
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let server = start(
        ServerConfig::default()
            .with_header_read_timeout(Duration::from_secs(60))
            .with_idle_timeout(Duration::from_millis(400)),
    );
    let addr = server.local_addr();
    // One that never sends anything ...
    let mut silent = TcpStream::connect(addr).unwrap();
    // ... and one kept alive after a full request and its answer.
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    kept.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"ok\n") {
        let mut buf = [0u8; 512];
        let n = kept.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the answer: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(closed_within(&mut silent, PATIENCE), "a silent connection stayed open");
    assert!(
        closed_within(&mut kept, PATIENCE),
        "an idle keep-alive connection stayed open"
    );
}

#[test]
fn idle_connections_beyond_the_cap_do_not_make_the_server_unreachable() {
    let cap = 8;
    let server = start(
        ServerConfig::default()
            .with_max_connections(cap)
            // Timeouts far away: only the cap protects the server here.
            .with_header_read_timeout(Duration::from_secs(300))
            .with_idle_timeout(Duration::from_secs(300)),
    );
    let addr = server.local_addr();
    let mut idle: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Half of them send half a request.
    for s in idle.iter_mut().step_by(2) {
        s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    }
    for _ in 0..3 {
        assert_eq!(healthz(addr).as_deref(), Some("ok\n"), "reachable past the cap");
    }
    // The oldest idle connections were closed to make room: no more than
    // the cap can still be open.
    let still_open = idle
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_secs(1)))
        .filter(|closed| !closed)
        .count();
    assert!(
        still_open <= cap,
        "{still_open} idle connections open with a cap of {cap}"
    );
}
