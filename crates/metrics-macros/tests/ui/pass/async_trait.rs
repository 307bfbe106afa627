#![deny(warnings)]
// `#[async_trait]` goes on the trait and the impl; the metrics attributes go
// on the methods. async-trait expands first and keeps them on the method,
// whose boxed future they then measure.
use async_trait::async_trait;
use metrics_core::{record_execution_time, record_memory_usage};

#[async_trait]
trait Repository {
    async fn load(&self, id: u64) -> Result<String, String>;

    #[record_execution_time]
    async fn load_default(&self) -> Result<String, String> {
        self.load(0).await
    }
}

struct Memory;

#[async_trait]
impl Repository for Memory {
    #[record_execution_time(tags(store = "memory"))]
    #[record_memory_usage]
    async fn load(&self, id: u64) -> Result<String, String> {
        if id > 10 {
            return Err(format!("no row {id}"));
        }
        Ok(id.to_string())
    }
}

fn require_send<F: std::future::Future + Send>(f: F) -> F {
    f
}

fn main() {
    drop(require_send(Memory.load(1)));
    drop(require_send(Memory.load_default()));
}
