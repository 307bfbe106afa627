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
//! * `default_gzip`: `default`, with scrapers that ask for gzip
//!   (`Accept-Encoding: gzip`, as Prometheus does): the body is compressed
//!   once per encoding and a tenth of the bytes cross the sockets;
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
//! `BENCH_SKIP_MAIN` the old design is not run). The scrapers are one
//! `curl --parallel` process per round at nice 19 in the bench's session;
//! the `/healthz` prober is the bench binary run again in a session of its
//! own (`setsid`, when installed) — on Linux a scheduling group of its own
//! (autogroup), as a health checker on another host would be.
//! `BENCH_PROBE_IN_PROCESS` probes from a thread of the bench instead,
//! where the prober's own waits for a CPU on a loaded machine are counted
//! against the server.
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

/// One round: `agents.len()` scrapes of `url` sent at once; each one's time
/// and body length. With curl, one `curl --parallel` process opens every
/// connection at once (one exec per round, not one per scrape: thirty
/// process starts are a CPU burst of their own on a 2-core machine) at nice
/// `nice`, in the bench's session: there the server's threads come first
/// and the scraper reads with what CPU is left, as scrapers on other hosts
/// would cost the server nothing. Otherwise a thread per scrape with ureq.
fn scrape_round(
    agents: &[ureq::Agent],
    url: &str,
    use_curl: bool,
    gzip: bool,
    nice: i32,
    running: &AtomicU64,
) -> Vec<(Duration, usize)> {
    if use_curl {
        let mut cmd = std::process::Command::new("nice");
        cmd.args([
            "-n",
            &nice.to_string(),
            "curl",
            "-sS",
            "--parallel",
            "--parallel-immediate",
        ])
        .args(["--parallel-max", &agents.len().to_string()])
        .args(["-w", "%{size_download} %{time_total}\\n"]);
        if gzip {
            cmd.arg("--compressed");
        }
        for _ in agents {
            cmd.args(["-o", "/dev/null", url]);
        }
        let out = cmd.output().unwrap();
        running.store(0, Ordering::Relaxed);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        return String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let (size, secs) = l.split_once(' ').unwrap();
                (Duration::from_secs_f64(secs.parse().unwrap()), size.parse().unwrap())
            })
            .collect();
    }
    let threads: Vec<_> = agents
        .iter()
        .cloned()
        .map(|agent| {
            let url = url.to_owned();
            std::thread::spawn(move || {
                lower_priority(nice);
                let started = Instant::now();
                let mut request = agent.get(&url);
                if gzip {
                    // Read as sent: the bytes on the wire are what is measured.
                    request = request.header("Accept-Encoding", "gzip");
                }
                let mut response = request.call().unwrap();
                let len = response
                    .body_mut()
                    .with_config()
                    .limit(u64::MAX)
                    .read_to_vec()
                    .unwrap()
                    .len();
                (started.elapsed(), len)
            })
        })
        .collect();
    let done = threads.into_iter().map(|t| t.join().unwrap()).collect();
    running.store(0, Ordering::Relaxed);
    done
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Whether util-linux's `setsid` can run (it puts a child in a session,
/// hence a scheduling autogroup, of its own).
fn have_setsid() -> bool {
    static HAVE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAVE.get_or_init(|| {
        std::process::Command::new("setsid")
            .arg("true")
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// One `/healthz` answer: (Unix ms when it was asked, ms it took), or what failed.
type Answer = Result<(f64, f64), String>;

/// The `/healthz` prober of one round. By default it is this bench binary
/// run again (`BENCH_PROBE_URL`) in a session of its own: it stands for a
/// health checker on another host, and on a loaded machine its own waits
/// for a CPU (perf sched showed up to 70 ms while other sessions' compilers
/// ran) are not the server's. `BENCH_PROBE_IN_PROCESS` probes from this
/// thread instead, as the bench first did.
enum Probe {
    Child(std::process::Child),
    InProcess {
        agent: ureq::Agent,
        url: String,
        next: Instant,
        answers: Vec<Answer>,
    },
}

impl Probe {
    fn start(url: &str, in_process: bool) -> Probe {
        if in_process {
            let now = Instant::now();
            return Probe::InProcess {
                agent: agent(),
                url: url.to_owned(),
                next: now,
                answers: Vec::new(),
            };
        }
        let exe = std::env::current_exe().unwrap();
        let mut cmd = if have_setsid() {
            let mut c = std::process::Command::new("setsid");
            c.arg(exe);
            c
        } else {
            std::process::Command::new(exe)
        };
        let child = cmd
            .env("BENCH_PROBE_URL", url)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        Probe::Child(child)
    }

    /// Probes once if 10 ms have passed since the last probe (in-process only).
    fn step(&mut self) {
        if let Probe::InProcess {
            agent,
            url,
            next,
            answers,
        } = self
        {
            if Instant::now() < *next {
                return;
            }
            answers.push(probe_once(agent, url));
            *next = Instant::now() + Duration::from_millis(10);
        }
    }

    /// Stops probing and returns every answer.
    fn finish(self) -> Vec<Answer> {
        match self {
            Probe::InProcess { answers, .. } => answers,
            Probe::Child(mut child) => {
                drop(child.stdin.take());
                let out = child.wait_with_output().unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
                        ["ok", at, took] => Ok((at.parse().unwrap(), took.parse().unwrap())),
                        _ => Err(l.to_owned()),
                    })
                    .collect()
            }
        }
    }
}

fn probe_once(agent: &mut ureq::Agent, url: &str) -> Answer {
    let (t, at) = (Instant::now(), unix_ms());
    let answer = agent.get(url).call().and_then(|mut r| r.body_mut().read_to_string());
    let took = t.elapsed().as_secs_f64() * 1e3;
    match answer {
        Ok(body) if body == "ok\n" => Ok((at, took)),
        Ok(body) => Err(format!("unexpected body {body:?}")),
        Err(e) => {
            // Asked again on a new connection.
            *agent = self::agent();
            Err(format!("{e} after {took:.1} ms"))
        }
    }
}

/// The prober process: asks `url` every 10 ms until its stdin closes, then
/// prints one line per answer (`ok AT_MS TOOK_MS`, or what failed).
fn probe_main(url: &str) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopper = Arc::clone(&stop);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        stopper.store(true, Ordering::Relaxed);
    });
    let mut agent = agent();
    let mut lines = String::new();
    while !stop.load(Ordering::Relaxed) {
        match probe_once(&mut agent, url) {
            Ok((at, took)) => lines.push_str(&format!("ok {at:.3} {took:.3}\n")),
            Err(e) => lines.push_str(&format!("error {e}\n")),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    print!("{lines}");
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
fn measure(addr: SocketAddr, scrapers: u64, rounds: u64, scraper_nice: i32, gzip: bool) -> Measured {
    let metrics_url = format!("http://{addr}/metrics");
    let healthz_url = format!("http://{addr}/healthz");
    let agents: Vec<ureq::Agent> = (0..scrapers).map(|_| agent()).collect();
    let mut probe_errors = 0u64;
    let verbose = std::env::var_os("BENCH_VERBOSE").is_some();
    let in_process = std::env::var_os("BENCH_PROBE_IN_PROCESS").is_some();
    let use_curl = curl_available();
    let mut healthz_ms = Vec::new();
    let (mut scrapes, mut scrape_ns, mut body_bytes) = (0u64, 0u128, 0u64);
    // The prober starts before the first round and runs through all of
    // them: its start-up (exec, first connection) is not measured.
    let mut probe = Probe::start(&healthz_url, in_process);
    std::thread::sleep(Duration::from_millis(500));
    let mut windows = Vec::new();
    for _ in 0..rounds {
        let running = Arc::new(AtomicU64::new(scrapers));
        let start = Arc::new(std::sync::Barrier::new(2));
        let scrape = {
            let (running, start, url) = (Arc::clone(&running), Arc::clone(&start), metrics_url.clone());
            let agents = agents.clone();
            std::thread::spawn(move || {
                lower_priority(scraper_nice);
                start.wait();
                scrape_round(&agents, &url, use_curl, gzip, scraper_nice, &running)
            })
        };
        start.wait();
        let window_start = unix_ms();
        while running.load(Ordering::Relaxed) > 0 {
            std::thread::sleep(Duration::from_millis(5));
            probe.step();
        }
        windows.push((window_start, unix_ms()));
        for (took, len) in scrape.join().unwrap() {
            scrapes += 1;
            scrape_ns += took.as_nanos();
            body_bytes = len as u64;
        }
        std::thread::sleep(Duration::from_millis(1500));
    }
    for answer in probe.finish() {
        match answer {
            Ok((at, took)) => {
                let Some((round, (from, _))) = windows
                    .iter()
                    .enumerate()
                    .find(|(_, (from, to))| (*from..=*to).contains(&at))
                else {
                    continue;
                };
                healthz_ms.push(took);
                if verbose && took > 50.0 {
                    println!(
                        "# slow /healthz: {took:.1} ms, {:.0} ms into round {}",
                        at - from,
                        round + 1
                    );
                }
            }
            Err(e) => {
                println!("# /healthz failed: {e}");
                probe_errors += 1;
            }
        }
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
    if let Ok(url) = std::env::var("BENCH_PROBE_URL") {
        probe_main(&url);
        return;
    }
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
    println!(
        "http setup probe {}",
        match (std::env::var_os("BENCH_PROBE_IN_PROCESS").is_some(), have_setsid()) {
            (true, _) => "in_process",
            (false, true) => "own_session",
            (false, false) => "own_process",
        }
    );
    println!("http setup one_encode_ms {:.1}", started.elapsed().as_secs_f64() * 1e3);
    println!("http setup body_bytes {one}");

    if std::env::var_os("BENCH_SKIP_MAIN").is_none() {
        let server = MainDesign::start(Arc::clone(&collector));
        // Its rounds take 30 encodings each; two are enough to see them.
        report(
            "main_design",
            &measure(server.addr, scrapers, rounds.min(2), scraper_nice, false),
        );
    }
    for (name, config, gzip) in [
        ("default", ServerConfig::default(), false),
        ("default_gzip", ServerConfig::default(), true),
        (
            "ttl_0",
            ServerConfig::default().with_metrics_cache_ttl(Duration::ZERO),
            false,
        ),
    ] {
        let server = spawn_server_with(
            "127.0.0.1:0".parse().unwrap(),
            ApiState::new(Arc::clone(&collector)),
            config,
        )
        .unwrap();
        report(
            name,
            &measure(server.local_addr(), scrapers, rounds, scraper_nice, gzip),
        );
    }
}
