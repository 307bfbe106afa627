#![deny(warnings)]
use metrics_core::record_execution_time;

struct Counter {
    n: u64,
}

struct Pair(u8, u8);

impl Counter {
    #[record_execution_time]
    fn by_value(self) -> u64 {
        self.n
    }

    #[record_execution_time]
    fn by_ref(&self) -> &u64 {
        &self.n
    }

    #[record_execution_time]
    fn by_mut(&mut self) -> &mut u64 {
        self.n += 1;
        &mut self.n
    }

    #[record_execution_time]
    fn mut_self(mut self, by: u64) -> Self {
        self.n += by;
        self
    }

    #[record_execution_time]
    fn boxed(self: Box<Self>) -> u64 {
        self.n
    }

    #[record_execution_time]
    fn patterns(&self, Pair(a, b): Pair, (c, mut d): (u8, u8), _: ()) -> u64 {
        d += 1;
        self.n + u64::from(a + b + c + d)
    }
}

fn main() {
    let mut c = Counter { n: 0 };
    *c.by_mut() += 1;
    assert_eq!(*c.by_ref(), 2);
    let c = c.mut_self(1);
    assert_eq!(c.patterns(Pair(1, 1), (1, 1), ()), 8);
    assert_eq!(Box::new(Counter { n: 4 }).boxed(), 4);
    assert_eq!(c.by_value(), 3);
}
