//! Sample chunks: the samples of one (series, tag set, run) written in one
//! flush, compressed as Prometheus' TSDB does, but byte-aligned so that
//! encoding and decoding need no bit cursor:
//!
//! * timestamps as zigzag varints of the delta of deltas (regular
//!   intervals cost one byte; the first delta is relative to 0);
//! * values XOR-ed with the previous value's bits: `0x00` for a repeat,
//!   else a header byte `0x80 | leading_zero_bytes << 3 | trailing_zero_bytes`
//!   followed by the remaining middle bytes, little-endian.
//!
//! The chunk's first timestamp lives in its row (`first_ts`), so the blob
//! starts from a delta of zero.

/// The most samples one chunk holds; a larger flush splits.
pub(crate) const MAX_CHUNK_SAMPLES: usize = 2048;

/// Appends the encoding of `samples` (timestamp order) to `out`, the first
/// one relative to `samples[0].0`.
pub(crate) fn encode(samples: &[(i64, f64)], out: &mut Vec<u8>) {
    let Some(&(first, _)) = samples.first() else { return };
    let (mut prev_ts, mut prev_delta, mut prev_bits) = (first, 0i64, 0u64);
    for &(ts, value) in samples {
        let delta = ts.wrapping_sub(prev_ts);
        put_varint(out, zigzag(delta.wrapping_sub(prev_delta)));
        prev_ts = ts;
        prev_delta = delta;
        let bits = value.to_bits();
        let xor = bits ^ prev_bits;
        prev_bits = bits;
        if xor == 0 {
            out.push(0);
            continue;
        }
        let lz = xor.leading_zeros() / 8;
        let tz = xor.trailing_zeros() / 8;
        out.push(0x80 | (lz << 3) as u8 | tz as u8);
        let middle = xor >> (tz * 8);
        out.extend_from_slice(&middle.to_le_bytes()[..(8 - lz - tz) as usize]);
    }
}

/// Decodes `count` samples from `data`, the first stamped `first_ts`,
/// appending them to `out`.
///
/// # Errors
/// A static reason when the blob is shorter or longer than `count` samples
/// or a header byte is impossible.
pub(crate) fn decode(first_ts: i64, count: usize, data: &[u8], out: &mut Vec<(i64, f64)>) -> Result<(), &'static str> {
    let mut pos = 0usize;
    let (mut prev_ts, mut prev_delta, mut prev_bits) = (first_ts, 0i64, 0u64);
    out.reserve(count.min(data.len() / 2));
    for _ in 0..count {
        let dod = unzigzag(get_varint(data, &mut pos).ok_or("a timestamp runs past the end")?);
        let delta = prev_delta.wrapping_add(dod);
        let ts = prev_ts.wrapping_add(delta);
        prev_ts = ts;
        prev_delta = delta;
        let header = *data.get(pos).ok_or("a value runs past the end")?;
        pos += 1;
        if header != 0 {
            if header & 0x80 == 0 {
                return Err("a value header is invalid");
            }
            let lz = u32::from((header >> 3) & 7);
            let tz = u32::from(header & 7);
            if lz + tz >= 8 {
                return Err("a value header is invalid");
            }
            let n = (8 - lz - tz) as usize;
            let bytes = data.get(pos..pos + n).ok_or("a value runs past the end")?;
            pos += n;
            let mut le = [0u8; 8];
            le[..n].copy_from_slice(bytes);
            prev_bits ^= u64::from_le_bytes(le) << (tz * 8);
        }
        out.push((ts, f64::from_bits(prev_bits)));
    }
    if pos != data.len() {
        return Err("bytes follow the last sample");
    }
    Ok(())
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut blob = Vec::new();
        encode(samples, &mut blob);
        let mut back = Vec::new();
        decode(samples[0].0, samples.len(), &blob, &mut back).unwrap();
        assert_eq!(back.len(), samples.len());
        for (a, b) in samples.iter().zip(&back) {
            assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()));
        }
        blob
    }

    #[test]
    fn extreme_timestamps_and_values_survive() {
        round_trip(&[
            (i64::MIN, f64::MAX),
            (i64::MAX, -0.0),
            (0, f64::MIN_POSITIVE),
            (-5, 5e-324),
            (-5, 0.1 + 0.2),
            (1, 0.1 + 0.2),
        ]);
    }

    #[test]
    fn regular_samples_of_repeating_values_cost_two_bytes() {
        let samples: Vec<(i64, f64)> = (0..1000)
            .map(|i| (1_700_000_000_000_000_000 + i * 1_000_000_000, 7.0))
            .collect();
        let blob = round_trip(&samples);
        // The first delta and value cost more; every later sample is one
        // byte of timestamp and one of value.
        assert!(blob.len() <= 2 * 1000 + 16, "{}", blob.len());
    }

    #[test]
    fn damaged_blobs_are_errors_not_panics() {
        let mut blob = Vec::new();
        encode(&[(10, 1.5), (20, 2.5)], &mut blob);
        let mut out = Vec::new();
        assert!(decode(10, 3, &blob, &mut out).is_err());
        assert!(decode(10, 1, &blob, &mut out).is_err());
        assert!(decode(10, 2, &blob[..blob.len() - 1], &mut out).is_err());
        assert!(decode(10, 1, &[0, 0x7f], &mut out).is_err());
        assert!(decode(10, 1, &[0, 0xbf], &mut out).is_err());
        assert!(decode(10, 1, &[0xff; 11], &mut out).is_err());
    }
}
