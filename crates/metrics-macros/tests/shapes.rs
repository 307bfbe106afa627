//! Every shape of function the attributes support, compiled under the
//! workspace's lints and clippy (so the expansion is warning-free), and
//! called to check that behaviour is unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use metrics_core::{record_execution_time, record_memory_usage};

/// Polls `fut` to completion on this thread.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[record_execution_time]
fn plain() -> u32 {
    7
}

#[record_execution_time]
#[record_memory_usage]
fn unit(mut counter: u32, (a, b): (u32, u32)) {
    counter += a + b;
    assert!(counter > 0);
}

#[derive(Debug, Default)]
struct Store {
    items: Vec<String>,
    hits: u64,
}

impl Store {
    #[record_execution_time]
    fn by_value(self) -> Vec<String> {
        self.items
    }

    #[record_execution_time]
    fn first(&self) -> Option<&String> {
        self.items.first()
    }

    #[record_memory_usage]
    fn first_mut(&mut self) -> &mut String {
        self.hits += 1;
        &mut self.items[0]
    }

    #[record_execution_time]
    fn rename(mut self, name: &str) -> Self {
        self.items.push(name.to_owned());
        self
    }

    #[record_execution_time]
    fn iter(&self) -> impl Iterator<Item = &String> + '_ {
        self.items.iter()
    }

    #[record_execution_time]
    async fn async_first_mut(&mut self) -> &mut String {
        &mut self.items[0]
    }

    #[record_memory_usage]
    async fn async_len(&self) -> usize {
        self.items.len()
    }
}

/// Returns a reference borrowed from the arguments.
#[record_execution_time]
fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.len() >= b.len() {
        return a;
    }
    b
}

#[record_execution_time]
fn elided(s: &str) -> &str {
    s.trim()
}

#[record_execution_time]
fn generic<T, U>(items: &[T], f: impl Fn(&T) -> U) -> Vec<U>
where
    T: Debug,
    U: Clone,
{
    items.iter().map(f).collect()
}

#[record_execution_time]
fn early_return_and_try(s: &str) -> Result<u32, Box<dyn std::error::Error>> {
    if s.is_empty() {
        return Err("empty".into());
    }
    let n: u32 = s.parse()?;
    Ok(n * 2)
}

#[record_memory_usage]
fn io_result(path: &str) -> std::io::Result<usize> {
    let meta = std::fs::metadata(path)?;
    Ok(meta.len() as usize)
}

#[record_execution_time]
fn option_try(v: &[u32]) -> Option<u32> {
    let first = v.first()?;
    Some(first + 1)
}

#[record_execution_time]
fn returns_impl_debug(flag: bool) -> impl Debug {
    if flag {
        return 1;
    }
    2
}

/// # Safety
/// `p` must point to a readable `u32`.
#[record_execution_time]
unsafe fn read(p: *const u32) -> u32 {
    // SAFETY: the caller promises `p` is readable.
    unsafe { *p }
}

#[record_execution_time]
async fn async_try(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    if n == 0 {
        return Ok(0);
    }
    Ok(n + 1)
}

#[record_execution_time]
#[record_memory_usage]
async fn async_impl(n: usize) -> impl Debug {
    vec![0u8; n]
}

trait Greeter {
    fn name(&self) -> String;

    #[record_execution_time]
    fn greet(&self) -> String {
        format!("hello {}", self.name())
    }

    #[record_memory_usage]
    async fn greet_later(&self) -> String {
        self.greet()
    }
}

struct World;

impl Greeter for World {
    fn name(&self) -> String {
        "world".into()
    }
}

#[async_trait::async_trait]
trait Service {
    async fn call(&self, n: u32) -> Result<u32, String>;

    #[record_execution_time]
    async fn default_call(&self) -> u32 {
        1
    }
}

struct Doubler;

#[async_trait::async_trait]
impl Service for Doubler {
    #[record_execution_time(name = "shapes.doubler.call")]
    #[record_memory_usage(name = "shapes.doubler.call")]
    async fn call(&self, n: u32) -> Result<u32, String> {
        if n == 0 {
            return Err("zero".into());
        }
        Ok(n * 2)
    }
}

/// Keeps its documentation.
#[record_execution_time(tags(kind = "inner-attrs"))]
pub fn with_inner_attribute() -> u8 {
    #![allow(clippy::let_and_return)]
    let x = 3;
    x
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[test]
fn every_shape_behaves_as_without_the_attribute() {
    assert_eq!(plain(), 7);
    unit(1, (2, 3));
    let mut store = Store {
        items: vec!["a".into(), "bb".into()],
        hits: 0,
    };
    assert_eq!(store.first().map(String::as_str), Some("a"));
    store.first_mut().push('!');
    assert_eq!(store.items[0], "a!");
    assert_eq!(store.iter().count(), 2);
    block_on(store.async_first_mut()).push('?');
    assert_eq!(store.items[0], "a!?");
    assert_eq!(block_on(assert_send(store.async_len())), 2);
    let store = store.rename("c");
    assert_eq!(store.by_value().len(), 3);
    assert_eq!(longest("ab", "abc"), "abc");
    assert_eq!(longest("abcd", "abc"), "abcd");
    assert_eq!(elided("  x "), "x");
    assert_eq!(generic(&[1, 2], |x| x * 10), vec![10, 20]);
    assert!(early_return_and_try("").is_err());
    assert!(early_return_and_try("x").is_err());
    assert_eq!(early_return_and_try("21").unwrap(), 42);
    assert!(io_result("/definitely/not/here").is_err());
    assert_eq!(option_try(&[]), None);
    assert_eq!(option_try(&[1]), Some(2));
    assert_eq!(format!("{:?}", returns_impl_debug(true)), "1");
    let x = 5u32;
    // SAFETY: `x` is a live u32.
    assert_eq!(unsafe { read(&x) }, 5);
    assert_eq!(block_on(assert_send(async_try("4"))), Ok(5));
    assert!(block_on(async_try("x")).is_err());
    assert_eq!(format!("{:?}", block_on(async_impl(2))), "[0, 0]");
    assert_eq!(World.greet(), "hello world");
    assert_eq!(block_on(World.greet_later()), "hello world");
    assert_eq!(block_on(Doubler.call(2)), Ok(4));
    assert_eq!(block_on(Doubler.call(0)), Err("zero".into()));
    assert_eq!(block_on(Doubler.default_call()), 1);
    assert_eq!(with_inner_attribute(), 3);
}
