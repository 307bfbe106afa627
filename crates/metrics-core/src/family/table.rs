//! `HandleTable`: a family's map from a label set with open fields
//! (strings, wide integers) to its pre-resolved handle, read without a lock.
//!
//! Why not a sharded map: a read lock is a shared write (the lock word),
//! which two threads updating the same family bounce between their cores,
//! and an interner in front of it doubled that. Here a lookup is one hash
//! of the label set's parts and a probe of an open-addressing table whose
//! slots are written once: readers only load, so the table's cache lines
//! stay shared between cores.
//!
//! Inserts are serialized by a mutex. A slot goes from empty to a node
//! once and never changes again; a full table is replaced by one twice its
//! size holding the same nodes. Readers may still be probing a replaced
//! table, so replaced tables and all nodes are freed only when the family
//! is dropped (replaced tables together are smaller than the current one).

use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};

use super::labels::{LabelPart, LabelSet, PartVisitor};
use crate::hash::{folded_multiply, mix_steady, same_bytes_steady};

/// Slots of a family's first table.
const FIRST_SLOTS: usize = 16;

/// One label set's handle, with the key it was stored under.
struct Node<H> {
    hash: u64,
    /// The label set's parts in field order: an index part as 4 bytes, a
    /// text part as its length (4 bytes) and its bytes.
    key: NodeKey,
    handle: H,
}

/// Key bytes a node holds inline: a node is then one allocation (most
/// label sets: a few enums and a string or two).
const INLINE_KEY: usize = 62;

/// A node's key: inline when short, else boxed.
enum NodeKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Boxed(Box<[u8]>),
}

impl NodeKey {
    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        match self {
            NodeKey::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or(bytes),
            NodeKey::Boxed(b) => b,
        }
    }
}

/// One generation of slots; its length is a power of two.
struct Slots<H> {
    slots: Box<[AtomicPtr<Node<H>>]>,
}

impl<H> Slots<H> {
    fn new(len: usize) -> Box<Self> {
        // Zeroed memory is a slice of null pointers: a large table comes
        // from the allocator's zeroed pages instead of being written slot
        // by slot.
        let zeroed = Box::<[AtomicPtr<Node<H>>]>::new_zeroed_slice(len);
        // SAFETY: an `AtomicPtr` has the size and bit validity of a raw
        // pointer, for which all-zero bits are the null pointer.
        let slots = unsafe { zeroed.assume_init() };
        Box::new(Slots { slots })
    }

    /// Stores `node` in the first empty slot of its probe sequence. Only
    /// the writer (under the mutex) calls this, on a table with room.
    fn place(&self, node: *mut Node<H>, hash: u64) {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while !self.slots[i].load(Relaxed).is_null() {
            i = (i + 1) & mask;
        }
        self.slots[i].store(node, Release);
    }
}

/// The writer's side: every table ever current (readers may still hold a
/// replaced one) and the node count.
struct Writer<H> {
    tables: Vec<*mut Slots<H>>,
    len: usize,
}

/// A lock-free-read map from label sets to handles; see the module docs.
pub(crate) struct HandleTable<H> {
    /// The current table, or null before the first insert.
    current: AtomicPtr<Slots<H>>,
    /// Nodes stored, readable without the mutex (for `len`).
    len: AtomicUsize,
    writer: Mutex<Writer<H>>,
}

// SAFETY: the table owns its nodes and tables (raw pointers only for
// lock-free reads); handing out `&H` to several threads needs `H: Sync`,
// moving the table needs `H: Send`.
unsafe impl<H: Send + Sync> Send for HandleTable<H> {}
// SAFETY: as above; readers only load pointers published with `Release`,
// writers are serialized by the mutex.
unsafe impl<H: Send + Sync> Sync for HandleTable<H> {}

impl<H> Default for HandleTable<H> {
    fn default() -> Self {
        HandleTable {
            current: AtomicPtr::new(std::ptr::null_mut()),
            len: AtomicUsize::new(0),
            writer: Mutex::new(Writer {
                tables: Vec::new(),
                len: 0,
            }),
        }
    }
}

/// Folds a label set's parts into a hash.
struct PartsHasher(u64);

impl PartVisitor for PartsHasher {
    #[inline(always)]
    fn part(&mut self, part: LabelPart<'_>) {
        self.0 = match part {
            LabelPart::Index(i) => folded_multiply(self.0 ^ u64::from(i), 0x9e37_79b9_7f4a_7c15),
            LabelPart::Text(s) => mix_steady(self.0.rotate_left(23), s.as_bytes()),
        };
    }
}

/// The hash of a label set's parts.
#[inline]
pub(crate) fn parts_hash<L: LabelSet>(labels: &L) -> u64 {
    let mut h = PartsHasher(0x243f_6a88_85a3_08d3);
    labels.for_each_part(&mut h);
    folded_multiply(h.0, 0x9e37_79b9_7f4a_7c15)
}

/// Walks a stored key against a label set's parts, one part per step.
struct KeyMatch<'k> {
    rest: &'k [u8],
    ok: bool,
}

impl PartVisitor for KeyMatch<'_> {
    #[inline(always)]
    fn part(&mut self, part: LabelPart<'_>) {
        if !self.ok {
            return;
        }
        let Some((head, tail)) = self.rest.split_first_chunk::<4>() else {
            self.ok = false;
            return;
        };
        let head = u32::from_le_bytes(*head);
        match part {
            LabelPart::Index(i) => {
                self.ok = head == i;
                self.rest = tail;
            }
            LabelPart::Text(s) => {
                let s = s.as_bytes();
                match tail.split_at_checked(s.len()) {
                    Some((stored, tail)) if head as usize == s.len() && same_bytes_steady(stored, s) => {
                        self.rest = tail
                    }
                    _ => self.ok = false,
                }
            }
        }
    }
}

/// Whether `key` holds exactly the parts of `labels`, in one forward pass.
#[inline]
fn key_matches<L: LabelSet>(key: &[u8], labels: &L) -> bool {
    let mut m = KeyMatch { rest: key, ok: true };
    labels.for_each_part(&mut m);
    m.ok && m.rest.is_empty()
}

/// The stored key of `labels` (see [`Node::key`]).
fn encode_key<L: LabelSet>(labels: &L) -> NodeKey {
    // Sized first: inline if it fits, else a box of exactly its length (a
    // guessed capacity grew, then shrank into the box: two reallocations).
    let mut len = 0;
    labels.for_each_part(&mut |part: LabelPart<'_>| {
        len += match part {
            LabelPart::Index(_) => 4,
            LabelPart::Text(s) => 4 + s.len(),
        };
    });
    let write = |out: &mut dyn FnMut(&[u8])| {
        labels.for_each_part(&mut |part: LabelPart<'_>| match part {
            LabelPart::Index(i) => out(&i.to_le_bytes()),
            LabelPart::Text(s) => {
                // Label values are at most `MAX_TAG_VALUE_LEN` bytes (the
                // store rejects longer ones before a handle is stored).
                let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
                out(&len.to_le_bytes());
                out(s.as_bytes());
            }
        });
    };
    if let Ok(short) = u8::try_from(len)
        && len <= INLINE_KEY
    {
        let mut bytes = [0; INLINE_KEY];
        let mut at = 0;
        write(&mut |piece| {
            if let Some(dst) = bytes.get_mut(at..at + piece.len()) {
                dst.copy_from_slice(piece);
            }
            at += piece.len();
        });
        return NodeKey::Inline { len: short, bytes };
    }
    let mut key = Vec::with_capacity(len);
    write(&mut |piece| key.extend_from_slice(piece));
    NodeKey::Boxed(key.into_boxed_slice())
}

impl<H> HandleTable<H> {
    /// The handle stored for `labels` (whose [`parts_hash`] is `hash`).
    #[inline]
    pub(crate) fn get<L: LabelSet>(&self, hash: u64, labels: &L) -> Option<&H> {
        let table = self.current.load(Acquire);
        if table.is_null() {
            return None;
        }
        // SAFETY: a non-null `current` points to a table published with
        // `Release` after it was filled; tables are freed only in `drop`,
        // which `&self` rules out.
        let table = unsafe { &*table };
        let mask = table.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let node = table.slots[i].load(Acquire);
            if node.is_null() {
                return None;
            }
            // SAFETY: a non-null slot points to a node published with
            // `Release` once complete; nodes are freed only in `drop`.
            let node = unsafe { &*node };
            if node.hash == hash && key_matches(node.key.bytes(), labels) {
                return Some(&node.handle);
            }
            i = (i + 1) & mask;
        }
    }

    /// Stores `handle` for `labels` unless it is already there or the table
    /// holds `cap` label sets; returns the stored handle, or `handle` back
    /// when full (the caller uses it uncached).
    pub(crate) fn insert<L: LabelSet>(&self, hash: u64, labels: &L, handle: H, cap: usize) -> Result<&H, H> {
        let mut writer = match self.writer.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(h) = self.get(hash, labels) {
            return Ok(h);
        }
        if writer.len >= cap {
            return Err(handle);
        }
        let mut table = self.current.load(Relaxed);
        let len = if table.is_null() {
            0
        } else {
            // SAFETY: a non-null `table` is live (freed only in `drop`).
            let live: &Slots<H> = unsafe { &*table };
            live.slots.len()
        };
        // Keep the load at most one half: probes stay short.
        if (writer.len + 1) * 2 > len {
            let bigger = Box::into_raw(Slots::new((len * 2).max(FIRST_SLOTS)));
            if !table.is_null() {
                // SAFETY: both tables are live; only this writer stores.
                let (old, new) = unsafe { (&*table, &*bigger) };
                for slot in old.slots.iter() {
                    let node = slot.load(Relaxed);
                    if !node.is_null() {
                        // SAFETY: a stored node is live until `drop`.
                        new.place(node, unsafe { (*node).hash });
                    }
                }
            }
            writer.tables.push(bigger);
            self.current.store(bigger, Release);
            table = bigger;
        }
        let node = Box::into_raw(Box::new(Node {
            hash,
            key: encode_key(labels),
            handle,
        }));
        // SAFETY: `table` is the live current table with room for one more.
        unsafe { (*table).place(node, hash) };
        writer.len += 1;
        self.len.store(writer.len, Relaxed);
        // SAFETY: the node is now owned by the table and lives until `drop`.
        Ok(unsafe { &(*node).handle })
    }

    /// Label sets stored.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Relaxed)
    }
}

impl<H> Drop for HandleTable<H> {
    fn drop(&mut self) {
        let writer = match self.writer.get_mut() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Every node is in the current (last) table; free them once.
        if let Some(&last) = writer.tables.last() {
            // SAFETY: `&mut self`: no reader is left; the last table holds
            // every node exactly once, each from `Box::into_raw`.
            let last = unsafe { &*last };
            for slot in last.slots.iter() {
                let node = slot.load(Relaxed);
                if !node.is_null() {
                    // SAFETY: as above.
                    drop(unsafe { Box::from_raw(node) });
                }
            }
        }
        for &table in &writer.tables {
            // SAFETY: each table came from `Box::into_raw` and is freed once.
            drop(unsafe { Box::from_raw(table) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::{LabelPart, PartVisitor};

    struct Pair<'a> {
        code: u32,
        route: &'a str,
    }

    impl LabelSet for Pair<'_> {
        const NAMES: &'static [&'static str] = &["code", "route"];
        const DENSE_SIZE: Option<usize> = None;
        fn dense_index(&self) -> usize {
            0
        }
        fn for_each_part<V: PartVisitor>(&self, v: &mut V) {
            v.part(LabelPart::Index(self.code));
            v.part(LabelPart::Text(self.route));
        }
        fn for_each_label(&self, f: &mut dyn FnMut(&'static str, &str)) {
            f("code", &self.code.to_string());
            f("route", self.route);
        }
    }

    #[test]
    fn finds_every_stored_label_set_across_growth_and_no_other() {
        let t = HandleTable::<String>::default();
        let routes: Vec<String> = (0..500).map(|i| format!("/r/{i}")).collect();
        for (i, r) in routes.iter().enumerate() {
            let l = Pair {
                code: i as u32 % 7,
                route: r,
            };
            let h = parts_hash(&l);
            assert!(t.get(h, &l).is_none());
            assert_eq!(
                t.insert(h, &l, format!("{i}"), usize::MAX).map(String::as_str),
                Ok(&*format!("{i}"))
            );
        }
        assert_eq!(t.len(), 500);
        for (i, r) in routes.iter().enumerate() {
            let l = Pair {
                code: i as u32 % 7,
                route: r,
            };
            assert_eq!(t.get(parts_hash(&l), &l).map(String::as_str), Some(&*format!("{i}")));
            // Another code, or the route with a byte more or less, is another label set.
            let other = Pair {
                code: i as u32 % 7 + 1,
                route: r,
            };
            assert!(t.get(parts_hash(&other), &other).is_none());
            let longer = format!("{r}x");
            let l = Pair {
                code: i as u32 % 7,
                route: &longer,
            };
            assert!(t.get(parts_hash(&l), &l).is_none());
            let l = Pair {
                code: i as u32 % 7,
                route: &r[..r.len() - 1],
            };
            if !routes.iter().any(|x| x == l.route) {
                assert!(t.get(parts_hash(&l), &l).is_none());
            }
        }
    }

    #[test]
    fn a_second_insert_keeps_the_first_handle_and_the_cap_holds() {
        let t = HandleTable::<u32>::default();
        let a = Pair { code: 1, route: "/a" };
        let b = Pair { code: 1, route: "/b" };
        assert_eq!(t.insert(parts_hash(&a), &a, 1, 1), Ok(&1));
        assert_eq!(t.insert(parts_hash(&a), &a, 2, 1), Ok(&1));
        assert_eq!(
            t.insert(parts_hash(&b), &b, 3, 1),
            Err(3),
            "past the cap nothing is stored, and the handle comes back"
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn keys_of_equal_bytes_but_other_boundaries_differ() {
        // ("ab" as text) against (an index whose bytes spell a length).
        let t = HandleTable::<u32>::default();
        let a = Pair { code: 2, route: "ab" };
        assert_eq!(t.insert(parts_hash(&a), &a, 1, usize::MAX), Ok(&1));
        let key = encode_key(&a);
        let key = key.bytes();
        assert!(key_matches(key, &a));
        assert!(!key_matches(key, &Pair { code: 2, route: "a" }));
        assert!(!key_matches(key, &Pair { code: 2, route: "abc" }));
        assert!(!key_matches(&key[..key.len() - 1], &a));
    }

    #[test]
    fn long_keys_are_boxed_and_found_like_short_ones() {
        let t = HandleTable::<usize>::default();
        // Around the inline limit: 4 (code) + 4 (length) + the route.
        let routes: Vec<String> = (40..80).map(|n| "r".repeat(n)).collect();
        for (i, r) in routes.iter().enumerate() {
            let l = Pair { code: 3, route: r };
            let inline = matches!(encode_key(&l), NodeKey::Inline { .. });
            assert_eq!(inline, 8 + r.len() <= INLINE_KEY, "{} bytes", 8 + r.len());
            assert_eq!(t.insert(parts_hash(&l), &l, i, usize::MAX), Ok(&i));
        }
        for (i, r) in routes.iter().enumerate() {
            let l = Pair { code: 3, route: r };
            assert_eq!(t.get(parts_hash(&l), &l), Some(&i));
            let shorter = Pair {
                code: 3,
                route: &r[1..],
            };
            assert_ne!(t.get(parts_hash(&shorter), &shorter), Some(&i));
        }
    }

    #[test]
    fn readers_on_other_threads_see_inserts() {
        let t = std::sync::Arc::new(HandleTable::<usize>::default());
        let names: Vec<String> = (0..2000).map(|i| format!("v{i}")).collect();
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                for (i, n) in names.iter().enumerate() {
                    let l = Pair { code: 0, route: n };
                    assert!(t.insert(parts_hash(&l), &l, i, usize::MAX).is_ok());
                }
            });
            s.spawn(|| {
                // Whatever a reader finds is the handle stored for that key.
                for _ in 0..20 {
                    for (i, n) in names.iter().enumerate() {
                        let l = Pair { code: 0, route: n };
                        if let Some(&h) = t.get(parts_hash(&l), &l) {
                            assert_eq!(h, i);
                        }
                    }
                }
            });
            writer.join().unwrap();
        });
        assert_eq!(t.len(), 2000);
    }
}
