//! `/healthz` latency while 30 scrapes of `/metrics` over 100k series run
//! (issue 11, item 9: target ≤ 50 ms).
//!
//! Three servers over the same collector, one after the other, in one run:
//!
//! * `main_design`: the server as it was before — `axum::serve` on a
//!   single-threaded runtime, `/metrics` encoded inside the handler, no
//!   cache — rebuilt here so the comparison is side by side;
//! * `default`: [`spawn_server`] with `ServerConfig::default()` (encoding on
//!   the blocking pool, concurrent scrapes share one encoding, a body is
//!   reused for 1 s);
//! * `ttl_0`: the same with `metrics_cache_ttl = 0` (only scrapes that
//!   arrive during an encoding share it; every other scrape encodes).
//!
//! Output lines `http <server> <measure> <value>` are read by
//! `scripts/bench_report.py`. Run with
//! `cargo bench -p metrics-api --bench healthz_under_scrapes`
//! (`BENCH_SERIES`, `BENCH_SCRAPERS`, `BENCH_ROUNDS` change the load;
//! `BENCH_SCRAPER_NICE`, default 19, is the scraper threads' nice value;
//! the scrapers are `curl` processes when curl is installed and
//! `BENCH_NO_CURL` is unset, threads with ureq otherwise;
//! `BENCH_VERBOSE` prints every `/healthz` answer over 50 ms; with
//! `BENCH_SKIP_MAIN` the old design is not run).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use metrics_api::{ApiState, ServerConfig, spawn_server_with};
use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::{MetricsCollector, MetricsConfig};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn collector_with(series: u64) -> Arc<MetricsCollector> {
    let collector = Arc::new(MetricsCollector::new(MetricsConfig::default()));
    for i in 0..series {
        let name = format!("bench_series_{i}");
        collector.counter(&name, &[("shard", "a")]).unwrap().increment(i + 1);
    }
    collector
}

/// The server before issue 11: encoding on the only runtime thread.
struct MainDesign {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MainDesign {
    fn start(collector: Arc<MetricsCollector>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let app = Router::new()
                    .route(
                        "/metrics",
                        get(move || {
                            let collector = Arc::clone(&collector);
                            async move { encode(&collector.aggregate_snapshot(), TextFormat::Prometheus).text }
                        }),
                    )
                    .route("/healthz", get(|| async { "ok\n" }));
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        MainDesign {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for MainDesign {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Measured {
    healthz_ms: Vec<f64>,
    probe_errors: u64,
    scrapes: u64,
    scrape_ms_mean: f64,
    body_bytes: u64,
}

/// Lowers the calling thread's priority (Linux nice values are per thread).
/// The scrapers stand for Prometheus servers on other hosts: on a 2-core
/// machine, 30 reader threads at normal priority would starve the server's
/// thread of CPU and the figure would measure the scheduler, not the server.
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    // SAFETY: setpriority and gettid take plain integers and touch no memory.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS as _, tid as _, nice);
    }
}

/// Whether `curl` can run: the scrapers then read in processes of their
/// own, as remote Prometheus servers would, instead of in threads that share
/// this process' memory map (and its page-fault lock) with the server.
fn curl_available() -> bool {
    std::env::var_os("BENCH_NO_CURL").is_none()
        && std::process::Command::new("curl")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// One scrape of `url`; the body's length.
fn scrape_once(agent: &ureq::Agent, url: &str, use_curl: bool, nice: i32) -> usize {
    if use_curl {
        let out = std::process::Command::new("nice")
            .args([
                "-n",
                &nice.to_string(),
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{size_download}",
                url,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        return String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    }
    let mut response = agent.get(url).call().unwrap();
    response
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .unwrap()
        .len()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into()
}

/// `rounds` times: `scrapers` clients send one `/metrics` request each at
/// the same moment, and one more client asks `/healthz` every 10 ms until
/// every scrape is answered. Rounds are 1.5 s apart, so each one finds the
/// 1 s cache expired and includes an encoding.
fn measure(addr: SocketAddr, scrapers: u64, rounds: u64, scraper_nice: i32) -> Measured {
    let metrics_url = format!("http://{addr}/metrics");
    let healthz_url = format!("http://{addr}/healthz");
    let agents: Vec<ureq::Agent> = (0..scrapers).map(|_| agent()).collect();
    let mut healthz = agent();
    let mut last_probe = None;
    let mut probe_errors = 0u64;
    let verbose = std::env::var_os("BENCH_VERBOSE").is_some();
    let use_curl = curl_available();
    let mut healthz_ms = Vec::new();
    let (mut scrapes, mut scrape_ns, mut body_bytes) = (0u64, 0u128, 0u64);
    for _ in 0..rounds {
        let running = Arc::new(AtomicU64::new(scrapers));
        let start = Arc::new(std::sync::Barrier::new(usize::try_from(scrapers).unwrap() + 1));
        let threads: Vec<_> = agents
            .iter()
            .cloned()
            .map(|agent| {
                let (running, start, url) = (Arc::clone(&running), Arc::clone(&start), metrics_url.clone());
                std::thread::spawn(move || {
                    lower_priority(scraper_nice);
                    start.wait();
                    let started = Instant::now();
                    let len = scrape_once(&agent, &url, use_curl, scraper_nice);
                    running.fetch_sub(1, Ordering::Relaxed);
                    (started.elapsed(), len)
                })
            })
            .collect();
        start.wait();
        let round_start = Instant::now();
        // Give the scrapes a moment to be on the wire before the first probe.
        std::thread::sleep(Duration::from_millis(5));
        while running.load(Ordering::Relaxed) > 0 {
            let t = Instant::now();
            let answer = healthz
                .get(&healthz_url)
                .call()
                .and_then(|mut r| r.body_mut().read_to_string());
            let body = match answer {
                Ok(body) => body,
                Err(e) => {
                    // Counted and shown, then asked again on a new connection.
                    let gap = last_probe.map(|p: Instant| p.elapsed());
                    println!("# /healthz failed: {e}; {gap:?} after the previous probe");
                    probe_errors += 1;
                    healthz = agent();
                    continue;
                }
            };
            last_probe = Some(Instant::now());
            healthz_ms.push(t.elapsed().as_secs_f64() * 1e3);
            if verbose && t.elapsed() > Duration::from_millis(50) {
                let (took, at) = (t.elapsed(), round_start.elapsed());
                let left = running.load(Ordering::Relaxed);
                println!("# slow /healthz: {took:?}, {at:?} into the round, {left} scrapes unanswered");
            }
            assert_eq!(body, "ok\n");
            std::thread::sleep(Duration::from_millis(10));
        }
        for t in threads {
            let (took, len) = t.join().unwrap();
            scrapes += 1;
            scrape_ns += took.as_nanos();
            body_bytes = len as u64;
        }
        std::thread::sleep(Duration::from_millis(1500));
    }
    Measured {
        healthz_ms,
        probe_errors,
        scrapes,
        scrape_ms_mean: scrape_ns as f64 / 1e6 / scrapes.max(1) as f64,
        body_bytes,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(server: &str, m: &Measured) {
    let mut ms = m.healthz_ms.clone();
    ms.sort_by(f64::total_cmp);
    println!("http {server} healthz_answers {}", ms.len());
    println!("http {server} healthz_p50_ms {:.2}", percentile(&ms, 50.0));
    println!("http {server} healthz_p95_ms {:.2}", percentile(&ms, 95.0));
    println!("http {server} healthz_p99_ms {:.2}", percentile(&ms, 99.0));
    println!("http {server} healthz_max_ms {:.2}", ms[ms.len() - 1]);
    println!("http {server} scrapes {}", m.scrapes);
    println!("http {server} healthz_errors {}", m.probe_errors);
    println!("http {server} scrape_mean_ms {:.1}", m.scrape_ms_mean);
    println!("http {server} body_bytes {}", m.body_bytes);
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let series = env_or("BENCH_SERIES", 100_000);
    let scrapers = env_or("BENCH_SCRAPERS", 30);
    let rounds = env_or("BENCH_ROUNDS", 5);
    let scraper_nice = i32::try_from(env_or("BENCH_SCRAPER_NICE", 19)).unwrap();
    let collector = collector_with(series);
    let started = Instant::now();
    let one = encode(&collector.aggregate_snapshot(), TextFormat::Prometheus)
        .text
        .len();
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    println!("http setup unix_time {unix}");
    if let Some(load) = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
    {
        println!("http setup load1 {load}");
    }
    println!("http setup series {series}");
    println!("http setup scrapers {scrapers}");
    println!("http setup rounds {rounds}");
    println!("http setup scraper_nice {scraper_nice}");
    println!(
        "http setup scraper_client {}",
        if curl_available() { "curl" } else { "ureq" }
    );
    println!("http setup one_encode_ms {:.1}", started.elapsed().as_secs_f64() * 1e3);
    println!("http setup body_bytes {one}");

    if std::env::var_os("BENCH_SKIP_MAIN").is_none() {
        let server = MainDesign::start(Arc::clone(&collector));
        // Its rounds take 30 encodings each; two are enough to see them.
        report(
            "main_design",
            &measure(server.addr, scrapers, rounds.min(2), scraper_nice),
        );
    }
    for (name, config) in [
        ("default", ServerConfig::default()),
        ("ttl_0", ServerConfig::default().with_metrics_cache_ttl(Duration::ZERO)),
    ] {
        let server = spawn_server_with(
            "127.0.0.1:0".parse().unwrap(),
            ApiState::new(Arc::clone(&collector)),
            config,
        )
        .unwrap();
        report(name, &measure(server.local_addr(), scrapers, rounds, scraper_nice));
    }
}
