#![deny(warnings)]
use metrics_core::{record_execution_time, record_memory_usage};

trait Shape {
    fn area(&self) -> f64;

    #[record_execution_time]
    fn describe(&self) -> String {
        format!("area {:.1}", self.area())
    }

    #[record_memory_usage]
    async fn describe_later(&self) -> String {
        self.describe()
    }

    #[record_execution_time]
    fn scaled(self, k: f64) -> f64
    where
        Self: Sized,
    {
        self.area() * k
    }
}

struct Square(f64);

impl Shape for Square {
    #[record_execution_time]
    fn area(&self) -> f64 {
        self.0 * self.0
    }
}

fn main() {
    assert_eq!(Square(2.0).describe(), "area 4.0");
    assert_eq!(Square(1.0).scaled(3.0), 3.0);
    drop(Square(1.0).describe_later());
}
