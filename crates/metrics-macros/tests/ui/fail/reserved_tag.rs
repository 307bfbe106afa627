use metrics_core::record_memory_usage;

#[record_memory_usage(tags(outcome = "fine", source = "mine"))]
fn work() {}

fn main() {
    work();
}
