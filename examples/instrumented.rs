//! The seed's "Function Instrumentation", in Rust: `#[record_execution_time]`
//! and `#[record_memory_usage]` on sync and async functions, with the
//! counting allocator installed so memory figures are exact per call.
//!
//! Run with `cargo run --release --example instrumented`. It prints every
//! series the attributes recorded.
#![allow(clippy::print_stdout)]
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use metrics_core::alloc::CountingAllocator;
use metrics_core::{AggregateValue, get_metrics_collector, record_execution_time, record_memory_usage};

// One line opts the program into exact, per-call memory figures.
#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::system();

/// The seed's `my_function`.
#[record_execution_time]
fn my_function() -> &'static str {
    std::thread::sleep(Duration::from_millis(5));
    "result"
}

/// The seed's `memory_intensive_function`: builds a table and keeps it.
#[record_memory_usage]
#[record_execution_time]
fn memory_intensive_function(rows: usize) -> Vec<String> {
    (0..rows).map(|i| format!("row-{i:06}")).collect()
}

/// Errors are tagged `outcome="error"`.
#[record_execution_time(name = "jobs.parse_seconds", tags(format = "csv"))]
fn parse_line(line: &str) -> Result<Vec<u32>, std::num::ParseIntError> {
    line.split(',').map(|field| field.trim().parse()).collect()
}

/// An async job: time runs from the first poll to completion, memory is
/// counted only while this task is being polled.
#[record_execution_time]
#[record_memory_usage]
async fn async_job(id: u32) -> Result<u32, String> {
    let buffer = vec![0u8; 64 * 1024];
    if id == 0 {
        return Err("job 0 is reserved".into());
    }
    Ok(id + buffer.len() as u32)
}

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn main() {
    println!("{}", my_function());
    let table = memory_intensive_function(10_000);
    println!("kept a table of {} rows", table.len());
    for line in ["1, 2, 3", "4, x"] {
        println!("{line:?} -> {:?}", parse_line(line));
    }
    for id in [0, 7] {
        println!("async_job({id}) -> {:?}", block_on(async_job(id)));
    }

    println!();
    for info in get_metrics_collector().list_series() {
        let Some(series) = get_metrics_collector().get_metric_series(&info.name) else {
            continue;
        };
        for aggregate in series.aggregates() {
            let outcome = aggregate.tags.get("outcome").unwrap_or("-");
            match aggregate.value {
                AggregateValue::Histogram(h) if h.count > 0 => println!(
                    "{} [{outcome}] count={} mean={:.6} max={:.6}",
                    info.name,
                    h.count,
                    h.sum / h.count as f64,
                    h.max
                ),
                AggregateValue::Gauge { value } => println!("{} [{outcome}] last={value}", info.name),
                _ => {}
            }
        }
    }
}
