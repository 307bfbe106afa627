#![deny(warnings)]
use metrics_core::record_execution_time;

/// # Safety
/// `ptr` must be valid for reads.
#[record_execution_time]
pub unsafe fn read(ptr: *const u64) -> u64 {
    // SAFETY: the caller guarantees `ptr` is readable.
    unsafe { ptr.read() }
}

#[record_execution_time]
extern "C" fn callback(x: i32) -> i32 {
    x * 2
}

fn main() {
    let x = 7u64;
    // SAFETY: `x` is alive and aligned.
    assert_eq!(unsafe { read(&x) }, 7);
    assert_eq!(callback(2), 4);
}
