#![deny(warnings)]
use metrics_core::record_execution_time;

/// Documentation is kept.
#[record_execution_time]
#[inline]
pub fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[record_execution_time(name = "custom.name", tags(kind = "unit", "http.route" = "/a"))]
fn nothing() {}

fn main() {
    assert_eq!(add(1, 2), 3);
    nothing();
}
