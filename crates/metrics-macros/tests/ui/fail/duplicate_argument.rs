use metrics_core::record_memory_usage;

#[record_memory_usage(name = "a", name = "b")]
fn work() {}

fn main() {
    work();
}
