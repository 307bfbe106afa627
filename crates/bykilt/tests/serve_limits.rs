//! The HTTP server's limits through the CLI: `bykilt serve` and
//! `batch run --serve` take `--header-read-timeout`, `--idle-timeout`,
//! `--max-connections` and `--metrics-cache-ttl`, refuse an empty token, and
//! stay reachable when idle clients outnumber the file descriptors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{BIN, Sandbox, text};
use test_support::{Killed, closed_within, free_port, http_get, poll};

/// Far beyond every timeout configured below.
const PATIENCE: Duration = Duration::from_secs(15);

/// A sandbox holding one completed 3-row batch, so `serve` has a run.
fn sandbox_with_a_run() -> Sandbox {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(3));
    let out = s.run(&["batch", "run", "in.csv", "--exec", "true", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    s
}

fn wait_healthy(listen: &str) {
    poll(Duration::from_secs(20), || {
        http_get(&format!("http://{listen}/healthz"))
    })
    .expect("the server is up");
}

#[test]
fn serve_stays_reachable_with_more_idle_clients_than_file_descriptors() {
    let s = sandbox_with_a_run();
    let listen = format!("127.0.0.1:{}", free_port());
    // The server may open 128 files; 300 idle clients would exhaust them
    // without a cap. Long timeouts: only the cap can keep it reachable.
    let _serve = Killed(
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 128 && exec \"$0\" \"$@\"")
            .arg(BIN)
            .args(["serve", "--listen", &listen, "--max-connections", "32"])
            .args(["--header-read-timeout", "5m", "--idle-timeout", "5m"])
            .arg("--artifacts-dir")
            .arg(s.root())
            .current_dir(s.path())
            .env_remove("BYKILT_METRICS_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_healthy(&listen);
    let idle: Vec<TcpStream> = (0..300).filter_map(|_| TcpStream::connect(&listen).ok()).collect();
    assert!(idle.len() >= 200, "only {} connections could be opened", idle.len());
    for _ in 0..3 {
        let body = http_get(&format!("http://{listen}/healthz"));
        assert_eq!(
            body.as_deref(),
            Some("ok\n"),
            "unreachable behind {} idle clients",
            idle.len()
        );
    }
    let metrics = http_get(&format!("http://{listen}/metrics")).unwrap();
    assert!(metrics.contains("job_status_total"), "{metrics}");
}

#[test]
fn serve_closes_half_sent_requests_after_header_read_timeout() {
    let s = sandbox_with_a_run();
    let listen = format!("127.0.0.1:{}", free_port());
    let _serve = Killed(s.spawn(&[
        "serve",
        "--listen",
        &listen,
        "--header-read-timeout",
        "300ms",
        "--idle-timeout",
        "5m",
    ]));
    wait_healthy(&listen);
    let mut half = TcpStream::connect(&listen).unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert_eq!(http_get(&format!("http://{listen}/healthz")).as_deref(), Some("ok\n"));
    assert!(closed_within(&mut half, PATIENCE), "a half-sent request stayed open");
}

#[test]
fn live_serve_takes_the_idle_timeout() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(4));
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = Killed(s.spawn(&[
        "batch",
        "run",
        "in.csv",
        "--exec",
        "sleep 0.5",
        "--concurrency",
        "1",
        "--quiet",
        "--serve",
        &listen,
        "--idle-timeout",
        "200ms",
        "--header-read-timeout",
        "5m",
        "--metrics-cache-ttl",
        "0s",
    ]));
    wait_healthy(&listen);
    let mut silent = TcpStream::connect(&listen).unwrap();
    assert!(closed_within(&mut silent, PATIENCE), "an idle connection stayed open");
    let status = common::wait_exit(&mut child.0);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn an_empty_token_is_a_startup_error() {
    let s = sandbox_with_a_run();
    let listen = format!("127.0.0.1:{}", free_port());
    let serve_env = s
        .cmd(&["serve", "--listen", &listen])
        .env("BYKILT_METRICS_TOKEN", "")
        .output()
        .unwrap();
    let serve_flag = s.run(&["serve", "--listen", &listen, "--token", ""]);
    let batch_env = s
        .cmd(&["batch", "run", "in.csv", "--exec", "true", "--serve", &listen])
        .env("BYKILT_METRICS_TOKEN", "")
        .output()
        .unwrap();
    for out in [serve_env, serve_flag, batch_env] {
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains("empty") && err.contains("BYKILT_METRICS_TOKEN"), "{err}");
    }
    assert!(
        http_get(&format!("http://{listen}/healthz")).is_none(),
        "nothing is served"
    );
}

#[test]
fn serve_accepts_the_bearer_scheme_in_any_case() {
    let s = sandbox_with_a_run();
    let listen = format!("127.0.0.1:{}", free_port());
    let _serve = Killed(
        s.cmd(&["serve", "--listen", &listen])
            .env("BYKILT_METRICS_TOKEN", "s3cret")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_healthy(&listen);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let status = |auth: Option<&str>| {
        let mut req = agent.get(&format!("http://{listen}/metrics"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.call().unwrap().status().as_u16()
    };
    assert_eq!(status(None), 401);
    assert_eq!(status(Some("bearer s3cret")), 200);
    assert_eq!(status(Some("BEARER s3cret")), 200);
    assert_eq!(status(Some("Bearer wrong")), 401);
}

#[test]
fn bad_server_limits_are_usage_errors_naming_the_flag() {
    let s = Sandbox::new();
    for (flag, value) in [
        ("--max-connections", "0"),
        ("--idle-timeout", "0s"),
        ("--header-read-timeout", "soon"),
        ("--metrics-cache-ttl", "-1s"),
    ] {
        let out = s.run(&["serve", &format!("{flag}={value}")]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = text(&out.stderr);
        assert!(err.contains(flag) && err.contains(value), "{flag} {value}: {err}");
    }
}
