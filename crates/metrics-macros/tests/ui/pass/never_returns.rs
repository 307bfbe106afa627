#![deny(warnings)]
use metrics_core::record_execution_time;

#[record_execution_time]
fn fail(msg: &str) -> ! {
    panic!("{msg}")
}

fn main() {
    assert!(std::panic::catch_unwind(|| fail("stop")).is_err());
}
