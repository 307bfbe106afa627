//! The byte hashing and comparison under every lookup by text: the
//! per-thread cache's key (`store::thread_cache`), a family's label table
//! (`family::table`, through the `_steady` pair) and a tag set's order-free
//! hash (`tags::input`).
//! Names, keys and values are mostly under 16 bytes, so each piece is read
//! with at most four unaligned loads and folded in by one 128-bit multiply
//! per 16 bytes (foldhash's and wyhash's mixing step), where a general
//! hasher's state and finish cost several times that.

/// A piece's multiplier (pi's digits).
const PIECE_KEY: u64 = 0x243f_6a88_85a3_08d3;

/// `a == b` for slices of equal length, without a `memcmp` call for the
/// short pieces that names and tags usually are: at most four loads each.
#[inline(always)]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    debug_assert_eq!(n, b.len());
    // Tested from the lengths tag keys and values usually have (4-16
    // bytes), so that most pieces take two branches.
    if n >= 8 {
        if n <= 16 {
            // SAFETY: 8 <= n, so both words lie inside both slices.
            return unsafe { word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8) };
        }
        if n > 32 {
            return long_eq(a, b);
        }
        // SAFETY: 16 < n, so the four words lie inside both slices.
        unsafe {
            word(a, 0) == word(b, 0)
                && word(a, 8) == word(b, 8)
                && word(a, n - 16) == word(b, n - 16)
                && word(a, n - 8) == word(b, n - 8)
        }
    } else if n >= 4 {
        // SAFETY: 4 <= n, so both halves lie inside both slices.
        unsafe { half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4) }
    } else {
        // 0–3 bytes: the first, middle and last byte cover them all.
        n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1])
    }
}

/// `a == b` for pieces over 32 bytes: out of line and cold, so that the
/// comparison loops keep no register for the `memcmp` call they rarely make.
#[cold]
#[inline(never)]
fn long_eq(a: &[u8], b: &[u8]) -> bool {
    a == b
}

/// The eight bytes of `b` at `at`, little-endian. Unchecked: the callers
/// have already branched on the length, and a bounds check per load would
/// be a second branch on the hot path.
///
/// # Safety
/// `at + 8 <= b.len()`.
#[inline(always)]
pub(crate) unsafe fn word(b: &[u8], at: usize) -> u64 {
    debug_assert!(at + 8 <= b.len());
    // SAFETY: the caller guarantees `at..at + 8` is inside `b`; the read
    // is unaligned.
    u64::from_le(unsafe { b.as_ptr().add(at).cast::<u64>().read_unaligned() })
}

/// The four bytes of `b` at `at`, little-endian, unchecked as [`word`].
///
/// # Safety
/// `at + 4 <= b.len()`.
#[inline(always)]
pub(crate) unsafe fn half(b: &[u8], at: usize) -> u64 {
    debug_assert!(at + 4 <= b.len());
    // SAFETY: the caller guarantees `at..at + 4` is inside `b`.
    u64::from(u32::from_le(unsafe {
        b.as_ptr().add(at).cast::<u32>().read_unaligned()
    }))
}

/// The 128-bit product of `a` and `b`, folded to 64 bits (foldhash's and
/// wyhash's mixing step: one multiply mixes every input bit).
#[inline(always)]
pub(crate) fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Folds one piece of the key into `h`. Pieces of up to 16 bytes (most
/// names, keys and values) take two loads and one multiply; the length is
/// mixed in so that ("ab", "c") and ("a", "bc") hash apart.
#[inline(always)]
pub(crate) fn mix(h: u64, bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let (lo, hi) = if n > 16 {
        if n > 32 {
            return mix_long(h, bytes);
        }
        // 17–32 bytes (metric names): two multiplies, the second pair
        // overlapping the first.
        // SAFETY: 16 < n, so the four words lie inside `bytes`.
        let (a, b, c, d) = unsafe { (word(bytes, 0), word(bytes, 8), word(bytes, n - 16), word(bytes, n - 8)) };
        let h = folded_multiply(a ^ h, b ^ PIECE_KEY);
        return folded_multiply(c ^ h, d ^ PIECE_KEY ^ (n as u64));
    } else if n >= 8 {
        // SAFETY: 8 <= n.
        unsafe { (word(bytes, 0), word(bytes, n - 8)) }
    } else if n >= 4 {
        // SAFETY: 4 <= n.
        unsafe { (half(bytes, 0), half(bytes, n - 4)) }
    } else if n > 0 {
        (
            (u64::from(bytes[0]) << 16) | (u64::from(bytes[n / 2]) << 8) | u64::from(bytes[n - 1]),
            0,
        )
    } else {
        (0, 0)
    };
    folded_multiply(lo ^ h, hi ^ PIECE_KEY ^ (n as u64))
}

/// `mix` with one path for every length from 8 to 32 bytes: four loads
/// (overlapping below 16 bytes) and two multiplies, with no branch on where
/// in that range the length falls. For a family's label values, whose
/// lengths vary from call to call (routes of 13 to 29 bytes): `mix`'s
/// branch at 16 bytes then mispredicts on a third of the calls, which
/// costs more than the extra multiply. A different hash from `mix`'s: use
/// one or the other for a table, never both.
#[inline(always)]
pub(crate) fn mix_steady(h: u64, bytes: &[u8]) -> u64 {
    let n = bytes.len();
    if !(8..=32).contains(&n) {
        return mix(h, bytes);
    }
    let (second, third) = steady_offsets(n);
    // SAFETY: 8 <= n and both offsets are at most n - 8.
    let (a, b, c, d) = unsafe {
        (
            word(bytes, 0),
            word(bytes, second),
            word(bytes, third),
            word(bytes, n - 8),
        )
    };
    let h = folded_multiply(a ^ h, b ^ PIECE_KEY);
    folded_multiply(c ^ h, d ^ PIECE_KEY ^ (n as u64))
}

/// `same_bytes` with `mix_steady`'s single path for 8 to 32 bytes: four
/// word compares folded into one test.
#[inline(always)]
pub(crate) fn same_bytes_steady(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    debug_assert_eq!(n, b.len());
    if !(8..=32).contains(&n) {
        return same_bytes(a, b);
    }
    let (second, third) = steady_offsets(n);
    // SAFETY: 8 <= n and both offsets are at most n - 8, in both slices.
    let diff = unsafe {
        (word(a, 0) ^ word(b, 0))
            | (word(a, second) ^ word(b, second))
            | (word(a, third) ^ word(b, third))
            | (word(a, n - 8) ^ word(b, n - 8))
    };
    diff == 0
}

/// For 8 ≤ n ≤ 32: the offsets of the second and third of four words that
/// together cover every byte (bytes 8–15 and the 8 before the last 8 from
/// 16 bytes on; below that the first and last word again). Computed, not
/// branched on: two conditional moves.
#[inline(always)]
fn steady_offsets(n: usize) -> (usize, usize) {
    ((n - 8).min(8), n.saturating_sub(16))
}

/// `mix` for pieces over 32 bytes: sixteen bytes per multiply, the last
/// sixteen overlapping.
#[cold]
fn mix_long(mut h: u64, bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let mut at = 0;
    while at + 16 < n {
        // SAFETY: `at + 16 < n`.
        let (a, b) = unsafe { (word(bytes, at), word(bytes, at + 8)) };
        h = folded_multiply(a ^ h, b ^ PIECE_KEY);
        at += 16;
    }
    // SAFETY: 32 < n (the only caller's branch).
    let (c, d) = unsafe { (word(bytes, n - 16), word(bytes, n - 8)) };
    folded_multiply(c ^ h, d ^ PIECE_KEY ^ (n as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steady_pair_agrees_with_eq_and_hashes_every_byte() {
        let a: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        for n in 0..=40 {
            let x = &a[..n];
            assert!(same_bytes_steady(x, x), "{n}");
            let h = mix_steady(7, x);
            for flip in 0..n {
                let mut y = x.to_vec();
                y[flip] ^= 0x20;
                assert!(!same_bytes_steady(x, &y), "length {n}, byte {flip}");
                assert_ne!(mix_steady(7, &y), h, "length {n}, byte {flip}");
            }
        }
    }

    #[test]
    fn same_bytes_agrees_with_eq_for_every_short_length() {
        let a: Vec<u8> = (0..40u8).collect();
        for n in 0..=40 {
            let x = &a[..n];
            assert!(same_bytes(x, x), "{n}");
            for flip in 0..n {
                let mut y = x.to_vec();
                y[flip] ^= 0x20;
                assert!(!same_bytes(x, &y), "length {n}, byte {flip}");
            }
        }
    }
}
