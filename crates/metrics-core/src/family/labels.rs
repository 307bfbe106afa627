//! The traits behind `#[derive(LabelSet)]` and `#[derive(LabelValue)]`, and
//! their implementations for the supported field types.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use dashmap::DashMap;

/// One label's value in a typed label set.
///
/// Derive it on a fieldless enum (`#[derive(LabelValue)]`): each variant is
/// one value, its text the variant name in `snake_case` or
/// `#[label(name = "...")]`. Implemented for `bool` (`"true"`/`"false"`),
/// `u8`/`i8` (fixed cardinality, 256 values), `u16`, `u32`, `i16`, `i32`
/// (open, keyed by their value), and `str`, `String`, `Cow<str>` (open,
/// interned once per value by the family).
pub trait LabelValue {
    /// The number of distinct values when fixed (enums, `bool`, `u8`, `i8`),
    /// `None` for open-ended types.
    const CARDINALITY: Option<u32>;

    /// For fixed-cardinality values: this value's index in `0..CARDINALITY`.
    /// Open-ended values return 0.
    fn label_index(&self) -> u32;

    /// The text of this value, as exported and as string tags spell it.
    fn label_text(&self) -> Cow<'_, str>;

    /// An integer standing for this value within one family: the index for
    /// fixed values, the value for integers, an interned id for strings.
    /// `None` when the family's interner is full (the cardinality cap).
    fn label_key(&self, interner: &Interner) -> Option<u32> {
        let _ = interner;
        Some(self.label_index())
    }
}

/// A struct of labels, checked by the compiler: derive it with
/// `#[derive(LabelSet)]`, then create a family once
/// ([`MetricsCollector::counter_family`](crate::MetricsCollector::counter_family))
/// and update it per call without building string tags.
pub trait LabelSet {
    /// The label names, in field order.
    const NAMES: &'static [&'static str];

    /// The number of distinct label sets when every field has a fixed
    /// cardinality (their product), `None` otherwise.
    const DENSE_SIZE: Option<usize>;

    /// For a fully fixed label set: its index in `0..DENSE_SIZE`.
    fn dense_index(&self) -> usize;

    /// Writes one integer per field into `key` (see [`LabelValue::label_key`]);
    /// `false` when a string could not be interned (the family is at its cap).
    fn write_key(&self, interner: &Interner, key: &mut LabelKey) -> bool;

    /// Calls `f` with every (name, value text) pair, in field order.
    fn for_each_label(&self, f: &mut dyn FnMut(&'static str, &str));
}

/// The most fields a label set may have (the store's default
/// `max_tags_per_sample`).
pub const MAX_LABELS: usize = 16;

/// The integers standing for one label set's values, used as the key of a
/// family's sparse table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LabelKey {
    len: u8,
    parts: [u32; MAX_LABELS],
}

impl LabelKey {
    /// Appends one part; parts past [`MAX_LABELS`] are ignored (the derive
    /// rejects structs with more fields).
    #[inline]
    pub fn push(&mut self, part: u32) {
        if let Some(slot) = self.parts.get_mut(self.len as usize) {
            *slot = part;
            self.len += 1;
        }
    }
}

/// The strings a family has seen, each given a small integer once, so that
/// later calls look their handle up by integer. Bounded: at most `cap`
/// strings (the series' `max_tag_sets_per_series`), after which unknown
/// strings are not interned and their updates go to the overflow set.
#[derive(Debug)]
pub struct Interner {
    ids: DashMap<Box<str>, u32, foldhash::fast::RandomState>,
    next: AtomicU32,
    cap: usize,
}

impl Interner {
    pub(crate) fn new(cap: usize) -> Self {
        Interner {
            ids: DashMap::with_hasher(foldhash::fast::RandomState::default()),
            next: AtomicU32::new(0),
            cap,
        }
    }

    /// The id of `s`, interning it when new and there is room.
    #[inline]
    pub fn get_or_intern(&self, s: &str) -> Option<u32> {
        if let Some(id) = self.ids.get(s) {
            return Some(*id);
        }
        self.intern_new(s)
    }

    #[cold]
    fn intern_new(&self, s: &str) -> Option<u32> {
        if self.ids.len() >= self.cap {
            return None;
        }
        Some(
            *self
                .ids
                .entry(Box::from(s))
                .or_insert_with(|| self.next.fetch_add(1, Relaxed)),
        )
    }

    /// How many strings are interned.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no string is interned yet.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The product of fixed cardinalities, `None` if any is open or the product
/// overflows. Used by the derive for [`LabelSet::DENSE_SIZE`].
#[doc(hidden)]
pub const fn dense_product(cards: &[Option<u32>]) -> Option<usize> {
    let mut total: usize = 1;
    let mut i = 0;
    while i < cards.len() {
        match cards[i] {
            Some(c) => match total.checked_mul(c as usize) {
                Some(t) => total = t,
                None => return None,
            },
            None => return None,
        }
        i += 1;
    }
    Some(total)
}

impl LabelValue for bool {
    const CARDINALITY: Option<u32> = Some(2);
    #[inline]
    fn label_index(&self) -> u32 {
        u32::from(*self)
    }
    fn label_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(if *self { "true" } else { "false" })
    }
}

impl LabelValue for u8 {
    const CARDINALITY: Option<u32> = Some(256);
    #[inline]
    fn label_index(&self) -> u32 {
        u32::from(*self)
    }
    fn label_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

impl LabelValue for i8 {
    const CARDINALITY: Option<u32> = Some(256);
    #[inline]
    fn label_index(&self) -> u32 {
        u32::from(*self as u8)
    }
    fn label_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

macro_rules! open_integer {
    ($($ty:ty => $to_u32:expr),*) => {$(
        impl LabelValue for $ty {
            const CARDINALITY: Option<u32> = None;
            fn label_index(&self) -> u32 {
                0
            }
            fn label_text(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
            #[inline]
            fn label_key(&self, _: &Interner) -> Option<u32> {
                let f: fn($ty) -> u32 = $to_u32;
                Some(f(*self))
            }
        }
    )*};
}

open_integer!(u16 => u32::from, u32 => |v| v, i16 => |v| u32::from(v as u16), i32 => |v| v as u32);

impl LabelValue for str {
    const CARDINALITY: Option<u32> = None;
    fn label_index(&self) -> u32 {
        0
    }
    fn label_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
    #[inline]
    fn label_key(&self, interner: &Interner) -> Option<u32> {
        interner.get_or_intern(self)
    }
}

impl LabelValue for String {
    const CARDINALITY: Option<u32> = None;
    fn label_index(&self) -> u32 {
        0
    }
    fn label_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
    #[inline]
    fn label_key(&self, interner: &Interner) -> Option<u32> {
        interner.get_or_intern(self)
    }
}

impl LabelValue for Cow<'_, str> {
    const CARDINALITY: Option<u32> = None;
    fn label_index(&self) -> u32 {
        0
    }
    fn label_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
    #[inline]
    fn label_key(&self, interner: &Interner) -> Option<u32> {
        interner.get_or_intern(self)
    }
}

impl<T: LabelValue + ?Sized> LabelValue for &T {
    const CARDINALITY: Option<u32> = T::CARDINALITY;
    #[inline]
    fn label_index(&self) -> u32 {
        (**self).label_index()
    }
    fn label_text(&self) -> Cow<'_, str> {
        (**self).label_text()
    }
    #[inline]
    fn label_key(&self, interner: &Interner) -> Option<u32> {
        (**self).label_key(interner)
    }
}
