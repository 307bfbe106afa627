//! `Interned`: a string label value interned once, then looked up by its
//! integer.
//!
//! A `&str` field costs a family one hash of its bytes and one compare per
//! update: the fastest way when the text is all a call has, since turning
//! text into an integer (what an interner does) is itself that hash and
//! compare, and the integer then needs a second lookup. A program that
//! knows its values up front (routes, tenants, queue names) can do better:
//! intern each once, keep the `Interned`, and the family keys it by its
//! 4-byte id — no string is hashed or compared per call.
//!
//! The interner is global and keeps every text for the life of the
//! program, like a static `lasso::ThreadedRodeo`: intern values from a
//! bounded set, never per-request data (use a `&str` field for that; the
//! family's cardinality cap then bounds it).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, PoisonError, RwLock};

use super::labels::{LabelPart, LabelValue};
use crate::store::validate::{MAX_TAG_VALUE_LEN, TagValueFault, tag_value_fault};

/// A label value interned once, whose family lookups use its integer id.
///
#[cfg_attr(feature = "macros", doc = "```")]
#[cfg_attr(not(feature = "macros"), doc = "```ignore")]
/// use metrics_core::{Interned, LabelSet, MetricsCollector};
///
/// #[derive(LabelSet)]
/// struct Request {
///     route: Interned,
///     ok: bool,
/// }
///
/// let users = Interned::new("/api/v1/users")?;
/// assert_eq!(users, Interned::new("/api/v1/users")?);
/// assert_eq!(users.as_str(), "/api/v1/users");
///
/// let collector = MetricsCollector::default();
/// let requests = collector.counter_family::<Request>("requests")?;
/// requests.increment(&Request { route: users, ok: true }, 1)?;
///
/// // The same series as string tags name.
/// collector.increment_counter("requests", &[("route", "/api/v1/users"), ("ok", "true")], 1)?;
/// let s = collector.get_metric_series("requests").unwrap();
/// assert_eq!(s.tag_sets().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct Interned {
    id: u32,
    text: &'static str,
}

// One id per text: comparing and hashing the id is comparing the texts.
impl PartialEq for Interned {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Interned {}

impl std::hash::Hash for Interned {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

/// Texts interned so far, by text. Written once per value; read by
/// [`Interned::get`], which a program may call per request, so readers
/// share the lock. Family lookups never come here (an `Interned` carries
/// its id and text).
static INTERNER: OnceLock<RwLock<HashMap<&'static str, u32>>> = OnceLock::new();

/// The most distinct texts the interner holds: interning is for bounded
/// sets, and this bound turns a program that interns per-request values by
/// mistake into an error instead of memory that only grows.
pub const MAX_INTERNED: usize = 1 << 20;

/// A text could not be interned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InternError {
    /// The interner holds [`MAX_INTERNED`] texts already.
    #[error(
        "label value {text:?} was not interned: the interner already holds {MAX_INTERNED} texts; intern bounded sets and use a `&str` field for open values"
    )]
    Full {
        /// The refused text (at most 64 characters of it).
        text: String,
    },
    /// The text is longer than a tag value may be
    /// ([`MAX_TAG_VALUE_LEN`](crate::MAX_TAG_VALUE_LEN)), so no series
    /// could use it.
    #[error(
        "label value {text:?}... was not interned: it is {len} bytes long; a tag value has at most {MAX_TAG_VALUE_LEN} bytes"
    )]
    TooLong {
        /// The first 64 characters of the refused text.
        text: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The text holds a control character a tag value may not hold (any
    /// but `\n`, `\r` and `\t`), so no series could use it.
    #[error("label value {text:?} was not interned: it contains the control character {character:?}")]
    ControlCharacter {
        /// The refused text (at most 64 characters of it).
        text: String,
        /// The first control character in it.
        character: char,
    },
}

impl Interned {
    /// `text`, interned: the same text always gives the same `Interned`.
    /// The first call for a text copies it and keeps it for the life of
    /// the program.
    ///
    /// # Errors
    /// A new text when [`MAX_INTERNED`] texts are interned already, or a
    /// text no tag value may be (too long, or holding a control character).
    /// Together the count and the length bound what the interner can keep
    /// (1 GiB of text at most).
    pub fn new(text: &str) -> Result<Interned, InternError> {
        let first_chars = || text.chars().take(64).collect();
        match tag_value_fault(text) {
            Some(TagValueFault::TooLong(len)) => {
                return Err(InternError::TooLong {
                    text: first_chars(),
                    len,
                });
            }
            Some(TagValueFault::ControlCharacter(character)) => {
                return Err(InternError::ControlCharacter {
                    text: first_chars(),
                    character,
                });
            }
            None => {}
        }
        if let Some(found) = Interned::get(text) {
            return Ok(found);
        }
        let mut ids = INTERNER
            .get_or_init(RwLock::default)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Another thread may have interned it between the two locks.
        if let Some((&text, &id)) = ids.get_key_value(text) {
            return Ok(Interned { id, text });
        }
        let Some(id) = u32::try_from(ids.len()).ok().filter(|_| ids.len() < MAX_INTERNED) else {
            return Err(InternError::Full { text: first_chars() });
        };
        let text: &'static str = Box::leak(text.into());
        ids.insert(text, id);
        Ok(Interned { id, text })
    }

    /// `text`'s `Interned` if it was interned before; never interns. For
    /// values that come from outside: map them onto the known set without
    /// letting a caller grow it.
    pub fn get(text: &str) -> Option<Interned> {
        INTERNER
            .get_or_init(RwLock::default)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get_key_value(text)
            .map(|(&text, &id)| Interned { id, text })
    }

    /// The interned text.
    #[inline]
    pub fn as_str(&self) -> &'static str {
        self.text
    }

    /// The integer a family keys this value by: distinct texts have
    /// distinct ids, given in the order they were first interned.
    #[inline]
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl TryFrom<&str> for Interned {
    type Error = InternError;

    fn try_from(text: &str) -> Result<Interned, InternError> {
        Interned::new(text)
    }
}

impl fmt::Debug for Interned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Interned").field(&self.text).finish()
    }
}

impl fmt::Display for Interned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl LabelValue for Interned {
    const CARDINALITY: Option<u32> = None;

    fn label_index(&self) -> u32 {
        0
    }

    fn label_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.text)
    }

    #[inline]
    fn label_part(&self) -> LabelPart<'_> {
        LabelPart::Index(self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_text_one_id_and_distinct_texts_distinct_ids() {
        let a = Interned::new("interned-test-a").unwrap();
        let b = Interned::new("interned-test-b").unwrap();
        assert_eq!(a, Interned::new(&String::from("interned-test-a")).unwrap());
        assert_ne!(a.id(), b.id());
        assert_eq!(b.as_str(), "interned-test-b");
        assert_eq!(b.to_string(), "interned-test-b");
        assert_eq!(format!("{a:?}"), "Interned(\"interned-test-a\")");
    }

    #[test]
    fn a_text_longer_than_a_tag_value_is_refused_naming_its_length() {
        let long = "x".repeat(MAX_TAG_VALUE_LEN + 1);
        let err = Interned::new(&long).unwrap_err();
        assert_eq!(
            err,
            InternError::TooLong {
                text: "x".repeat(64),
                len: MAX_TAG_VALUE_LEN + 1
            }
        );
        assert!(err.to_string().contains("1025 bytes"), "{err}");
        assert_eq!(Interned::get(&long), None);
        assert!(
            Interned::new(&long[1..]).is_ok(),
            "exactly the limit is a valid tag value"
        );
    }

    #[test]
    fn a_text_with_a_control_character_is_refused_naming_it() {
        let err = Interned::new("a\u{7}b").unwrap_err();
        assert_eq!(
            err,
            InternError::ControlCharacter {
                text: "a\u{7}b".to_owned(),
                character: '\u{7}'
            }
        );
        assert!(err.to_string().contains("'\\u{7}'"), "{err}");
        assert_eq!(Interned::get("a\u{7}b"), None);
        // Whitespace a tag value may hold is fine.
        assert!(Interned::new("two\nlines\tand a tab").is_ok());
    }

    #[test]
    fn get_finds_only_what_was_interned() {
        assert_eq!(Interned::get("interned-test-never"), None);
        let c = Interned::new("interned-test-c").unwrap();
        assert_eq!(Interned::get("interned-test-c"), Some(c));
        assert_eq!(Interned::get("interned-test-never"), None);
    }

    #[test]
    fn its_part_is_its_id_and_its_text_the_interned_text() {
        let d = Interned::try_from("interned-test-d").unwrap();
        assert_eq!(d.label_part(), LabelPart::Index(d.id()));
        assert_eq!(d.label_text(), "interned-test-d");
    }
}
