#![deny(warnings)]
// A dependency renamed in Cargo.toml is reached with `crate = path`.
mod telemetry {
    pub use metrics_core::*;
}

use telemetry::record_execution_time;

#[record_execution_time(crate = crate::telemetry)]
fn work() -> u8 {
    1
}

#[telemetry::record_memory_usage(crate = ::metrics_core)]
fn more_work() -> u8 {
    2
}

fn main() {
    assert_eq!(work() + more_work(), 3);
}
