#![deny(warnings)]
use metrics_core::record_execution_time;

#[record_execution_time]
async fn fetch(id: u32) -> Result<String, std::io::Error> {
    if id == 0 {
        return Err(std::io::Error::other("no id"));
    }
    Ok(id.to_string())
}

fn require_send<F: std::future::Future + Send>(f: F) -> F {
    f
}

fn main() {
    drop(require_send(fetch(1)));
}
