#![deny(warnings)]
use metrics_core::alloc::CountingAllocator;
use metrics_core::{record_execution_time, record_memory_usage};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::system();

#[record_memory_usage]
fn build(n: usize) -> Vec<u64> {
    (0..n as u64).collect()
}

#[record_memory_usage(name = "jobs.load", tags(kind = "csv"))]
#[record_execution_time(name = "jobs.load.seconds")]
fn load(s: &str) -> Result<Vec<u32>, std::num::ParseIntError> {
    s.split(',').map(str::parse).collect()
}

#[record_memory_usage]
async fn build_async(n: usize) -> Vec<u8> {
    vec![0; n]
}

fn main() {
    assert_eq!(build(3).len(), 3);
    assert!(load("1,x").is_err());
    drop(build_async(1));
}
