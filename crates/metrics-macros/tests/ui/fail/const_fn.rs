use metrics_core::record_execution_time;

#[record_execution_time]
const fn answer() -> u32 {
    42
}

fn main() {
    let _ = answer();
}
