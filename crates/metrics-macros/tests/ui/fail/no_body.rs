use metrics_core::record_execution_time;

trait Job {
    #[record_execution_time]
    fn run(&self);
}

fn main() {}
