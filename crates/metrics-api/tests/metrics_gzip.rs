//! `/metrics` gzipped for a scraper that asks for it (Prometheus does), the
//! same text as the uncompressed body, and plain text for every other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use metrics_api::{ApiState, spawn_server};
use metrics_core::{MetricsCollector, MetricsConfig};

/// One HTTP/1.1 GET with `headers`, read to the end: (head, body bytes).
fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (head, body)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 4 + size..];
    }
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut text).unwrap();
    text
}

#[test]
fn metrics_is_gzipped_only_for_scrapers_that_accept_it() {
    let collector = Arc::new(MetricsCollector::new(MetricsConfig::default()));
    for i in 0..500 {
        collector
            .counter(&format!("requests_{i}"), &[("route", "/api/items")])
            .unwrap()
            .increment(i + 1);
    }
    let server = spawn_server("127.0.0.1:0".parse().unwrap(), ApiState::new(collector)).unwrap();
    let addr = server.local_addr();

    let (plain_head, plain) = get(addr, "/metrics", &[]);
    assert!(plain_head.starts_with("HTTP/1.1 200"), "{plain_head}");
    assert!(
        !plain_head.to_ascii_lowercase().contains("content-encoding"),
        "{plain_head}"
    );
    let plain = String::from_utf8(plain).unwrap();
    assert!(
        plain.contains("requests_499_total{route=\"/api/items\"} 500.0\n"),
        "{plain}"
    );

    // What Prometheus sends.
    let prometheus_asks = "Accept-Encoding: gzip";
    let (head, zipped) = get(addr, "/metrics", &[prometheus_asks]);
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("content-encoding: gzip"), "{head}");
    assert!(lower.contains("vary: accept, accept-encoding"), "{head}");
    assert!(
        zipped.len() * 4 < plain.len(),
        "{} gzipped bytes for {} of text",
        zipped.len(),
        plain.len()
    );
    assert_eq!(gunzip(&zipped), plain, "the same text, compressed");

    // OpenMetrics too, and gzip refused with q=0 is honoured.
    let (om_head, om) = get(
        addr,
        "/metrics",
        &[
            "Accept: application/openmetrics-text; version=1.0.0",
            "Accept-Encoding: deflate, gzip;q=0.8",
        ],
    );
    assert!(
        om_head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{om_head}"
    );
    assert!(gunzip(&om).ends_with("# EOF\n"));
    let (refused_head, refused) = get(addr, "/metrics", &["Accept-Encoding: gzip;q=0, identity"]);
    assert!(
        !refused_head.to_ascii_lowercase().contains("content-encoding"),
        "{refused_head}"
    );
    assert_eq!(String::from_utf8(refused).unwrap(), plain);
}

/// A run of `jobs` jobs recorded into the database at `path`.
fn record_run(path: &std::path::Path, run: &str, jobs: u64) {
    use metrics_store::{MetricsStore, RunInfo, StoreOptions};
    let c = Arc::new(MetricsCollector::default());
    let store = MetricsStore::open(path, StoreOptions::default()).unwrap();
    let id = store.begin_run(&RunInfo::current(run)).unwrap();
    let rec = store.record(Arc::clone(&c), id).unwrap();
    c.counter("jobs_total", &[("run", run)]).unwrap().increment(jobs);
    rec.finish().unwrap();
}

#[test]
fn the_database_server_gzips_and_reads_metrics_once_per_cache_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("metrics.db");
    record_run(&db, "first", 3);
    let ttl = Duration::from_millis(600);
    let server = metrics_api::history::spawn_history_server(
        "127.0.0.1:0".parse().unwrap(),
        db.clone(),
        None,
        metrics_api::ServerConfig::default().with_metrics_cache_ttl(ttl),
    )
    .unwrap();
    let addr = server.local_addr();
    let (head, zipped) = get(addr, "/metrics", &["Accept-Encoding: gzip"]);
    assert!(head.to_ascii_lowercase().contains("content-encoding: gzip"), "{head}");
    let text = gunzip(&zipped);
    assert!(text.contains("jobs_total{run=\"first\"} 3.0\n"), "{text}");
    let (_, plain) = get(addr, "/metrics", &[]);
    assert_eq!(String::from_utf8(plain).unwrap(), text, "one reading, two encodings");

    // A newer run is served once the cached reading is older than the TTL.
    record_run(&db, "second", 5);
    let fresh = (0..300).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        let body = String::from_utf8(get(addr, "/metrics", &[]).1).unwrap();
        body.contains("jobs_total{run=\"second\"} 5.0\n").then_some(body)
    });
    let fresh = fresh.expect("the newer run after the TTL");
    assert!(!fresh.contains("run=\"first\""), "only the latest run: {fresh}");
}
