//! Shared inputs for the side-by-side benchmarks: the label data of
//! measured's "2 labels, 18 label groups" scenario (6 routes x 3 error
//! kinds) and a per-thread random source that picks one group per
//! iteration.
//!
//! Every library in a benchmark gets the same inputs, generated outside the
//! timed region, so the comparison measures the metrics call only.
//!
//! ```
//! use bykilt_bench::{ROUTES, KINDS, random_group};
//! let (kind, route) = random_group();
//! assert!(KINDS.contains(&kind) && ROUTES.contains(&route));
//! ```

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::hash::BuildHasher;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// The six HTTP routes of measured's counter and histogram benchmarks.
pub const ROUTES: [&str; 6] = [
    "/api/v1/users",
    "/api/v1/users/:id",
    "/api/v1/products",
    "/api/v1/products/:id",
    "/api/v1/products/:id/owner",
    "/api/v1/products/:id/purchase",
];

/// The three error kinds of measured's benchmarks, as label values.
pub const KINDS: [&str; 3] = ["user", "internal", "network"];

/// Number of distinct (kind, route) label groups: 18.
pub const GROUPS: usize = ROUTES.len() * KINDS.len();

/// The label group with index `i` (`0..GROUPS`), as (kind index, route index).
///
/// Indices past `GROUPS` wrap around.
pub const fn group(i: usize) -> (usize, usize) {
    let i = i % GROUPS;
    (i / ROUTES.len(), i % ROUTES.len())
}

/// A small fast generator seeded from the current thread's id, so that
/// threads of one benchmark draw different sequences, and a run is the same
/// from one process to the next for the same thread order.
pub fn thread_rng() -> SmallRng {
    let seed = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
        .hash_one(std::thread::current().id());
    SmallRng::seed_from_u64(seed)
}

thread_local! {
    static RNG: RefCell<SmallRng> = RefCell::new(thread_rng());
}

/// Indices of a random (kind, route) group, from this thread's generator.
pub fn random_group_index() -> (usize, usize) {
    RNG.with(|rng| {
        let mut rng = rng.borrow_mut();
        let route = rng.random_range(0..ROUTES.len());
        let kind = rng.random_range(0..KINDS.len());
        (kind, route)
    })
}

/// A random (kind, route) label pair, from this thread's generator.
pub fn random_group() -> (&'static str, &'static str) {
    let (k, r) = random_group_index();
    (KINDS[k], ROUTES[r])
}

/// A random value in `[0, 1)`, as measured's histogram benchmark observes.
pub fn random_unit() -> f64 {
    RNG.with(|rng| rng.borrow_mut().random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_every_pair_once() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..GROUPS {
            assert!(seen.insert(group(i)));
        }
        assert_eq!(seen.len(), 18);
    }

    #[test]
    fn random_groups_reach_every_pair() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            seen.insert(random_group());
        }
        assert_eq!(seen.len(), GROUPS);
        let x = random_unit();
        assert!((0.0..1.0).contains(&x));
    }
}
