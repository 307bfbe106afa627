//! The traits behind `#[derive(LabelSet)]` and `#[derive(LabelValue)]`, and
//! their implementations for the supported field types.

use std::borrow::Cow;

/// One label's value in a typed label set.
///
/// Derive it on a fieldless enum (`#[derive(LabelValue)]`): each variant is
/// one value, its text the variant name in `snake_case` or
/// `#[label(name = "...")]`. Implemented for `bool` (`"true"`/`"false"`),
/// `u8`/`i8` (fixed cardinality, 256 values), `u16`, `u32`, `i16`, `i32`
/// (open, keyed by their value), `str`, `String`, `Cow<str>` (open,
/// keyed by their text) and [`Interned`](crate::Interned) (open, interned
/// once and keyed by its integer id).
pub trait LabelValue {
    /// The number of distinct values when fixed (enums, `bool`, `u8`, `i8`),
    /// `None` for open-ended types.
    const CARDINALITY: Option<u32>;

    /// For fixed-cardinality values: this value's index in `0..CARDINALITY`.
    /// Open-ended values return 0.
    fn label_index(&self) -> u32;

    /// The text of this value, as exported and as string tags spell it.
    fn label_text(&self) -> Cow<'_, str>;

    /// What a family's table keys this value by: the index for fixed
    /// values, the value for open integers, the text for strings.
    #[inline]
    fn label_part(&self) -> LabelPart<'_> {
        LabelPart::Index(self.label_index())
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

    /// Gives `v` every field's [`LabelValue::label_part`], in field order:
    /// what a family with open fields hashes and compares.
    fn for_each_part<V: PartVisitor>(&self, v: &mut V);

    /// Calls `f` with every (name, value text) pair, in field order.
    fn for_each_label(&self, f: &mut dyn FnMut(&'static str, &str));
}

/// The most fields a label set may have (the store's default
/// `max_tags_per_sample`).
pub const MAX_LABELS: usize = 16;

/// Receives a label set's parts in field order
/// ([`LabelSet::for_each_part`]); closures taking a [`LabelPart`] are
/// visitors.
pub trait PartVisitor {
    /// The next field's part.
    fn part(&mut self, part: LabelPart<'_>);
}

impl<F: FnMut(LabelPart<'_>)> PartVisitor for F {
    #[inline(always)]
    fn part(&mut self, part: LabelPart<'_>) {
        self(part)
    }
}

/// One field of a label set as a family's table keys it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelPart<'a> {
    /// A fixed value's index, or an open integer's value.
    Index(u32),
    /// A string value.
    Text(&'a str),
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
            fn label_part(&self) -> LabelPart<'_> {
                let f: fn($ty) -> u32 = $to_u32;
                LabelPart::Index(f(*self))
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
    fn label_part(&self) -> LabelPart<'_> {
        LabelPart::Text(self)
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
    fn label_part(&self) -> LabelPart<'_> {
        LabelPart::Text(self)
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
    fn label_part(&self) -> LabelPart<'_> {
        LabelPart::Text(self)
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
    fn label_part(&self) -> LabelPart<'_> {
        (**self).label_part()
    }
}
