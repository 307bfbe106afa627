//! `GET /api/auth` on both servers: open to everyone, it says whether a
//! token is wanted and whether the request presents it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_api::{ApiState, ServerConfig, spawn_server};
use metrics_core::MetricsCollector;

fn auth(addr: std::net::SocketAddr, bearer: Option<&str>) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut req = agent.get(&format!("http://{addr}/api/auth"));
    if let Some(t) = bearer {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.call().unwrap();
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap(),
    )
}

fn check(addr: std::net::SocketAddr, token_required: bool) {
    let want = |authorized: bool| serde_json::json!({ "token_required": token_required, "authorized": authorized });
    assert_eq!(auth(addr, None), (200, want(!token_required)));
    assert_eq!(auth(addr, Some("wrong")), (200, want(!token_required)));
    assert_eq!(auth(addr, Some("s3cret")), (200, want(true)));
}

#[test]
fn both_servers_say_whether_a_token_is_wanted_and_taken() {
    let c = Arc::new(MetricsCollector::default());
    let with = spawn_server(
        "127.0.0.1:0".parse().unwrap(),
        ApiState::new(Arc::clone(&c)).with_token(Some("s3cret".into())).unwrap(),
    )
    .unwrap();
    check(with.local_addr(), true);
    let without = spawn_server("127.0.0.1:0".parse().unwrap(), ApiState::new(c)).unwrap();
    check(without.local_addr(), false);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("metrics.db");
    drop(metrics_store::MetricsStore::open(&db, metrics_store::StoreOptions::default()).unwrap());
    let history = metrics_api::history::spawn_history_server(
        "127.0.0.1:0".parse().unwrap(),
        db,
        Some("s3cret".into()),
        ServerConfig::default(),
    )
    .unwrap();
    check(history.local_addr(), true);
}
