//! The ring's tests, against a sorted vector as its model.

use super::*;

fn s(ts: i64) -> Sample {
    Sample {
        ts,
        value: ts as f64,
        tags: 0,
    }
}

#[test]
fn sample_is_24_bytes() {
    assert_eq!(size_of::<Sample>(), 24);
}

#[test]
fn keeps_order_and_caps_length() {
    let mut r = SampleRing::default();
    for i in 0..2_000 {
        r.push(s(i), i64::MIN, 1_000);
    }
    assert_eq!(r.len(), 1_000);
    assert_eq!(r.dropped(), 1_000);
    let ts: Vec<i64> = r.iter().map(|s| s.ts).collect();
    assert_eq!(ts, (1_000..2_000).collect::<Vec<_>>());
}

#[test]
fn expires_by_age() {
    let mut r = SampleRing::default();
    for i in 0..10 {
        r.push(s(i * 10), i64::MIN, usize::MAX);
    }
    r.expire(45);
    assert_eq!(r.iter().map(|s| s.ts).collect::<Vec<_>>(), vec![50, 60, 70, 80, 90]);
    assert_eq!(r.expired(), 5);
    assert_eq!(r.dropped(), 0);
    r.push(s(200), 100, usize::MAX);
    assert_eq!(r.iter().map(|s| s.ts).collect::<Vec<_>>(), vec![200]);
}

#[test]
fn out_of_order_samples_are_kept_in_time_order() {
    let mut r = SampleRing::default();
    for ts in (0..600).map(|i| i * 10) {
        r.push(s(ts), i64::MIN, usize::MAX);
    }
    // Lands in the first chunk, behind 595 newer samples across a chunk boundary.
    r.push(s(45), i64::MIN, usize::MAX);
    r.push(s(5_985), i64::MIN, usize::MAX);
    let ts: Vec<i64> = r.iter().map(|s| s.ts).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(r.len(), 602);
    r.expire(50);
    assert_eq!(r.iter().next().map(|s| s.ts), Some(50));
    assert_eq!(r.expired(), 6);
}

#[test]
fn a_sample_older_than_the_cutoff_is_not_kept() {
    let mut r = SampleRing::default();
    r.push(s(100), 50, usize::MAX);
    r.push(s(10), 50, usize::MAX);
    assert_eq!(r.iter().map(|s| s.ts).collect::<Vec<_>>(), vec![100]);
    assert_eq!(r.expired(), 1);
}

#[test]
fn a_ring_with_one_sample_allocates_for_one() {
    let mut r = SampleRing::default();
    assert_eq!(r.heap_bytes(), 0);
    r.push(s(1), i64::MIN, usize::MAX);
    assert!(r.heap_bytes() <= 64, "{} bytes for one sample", r.heap_bytes());
    for i in 2..=2_000 {
        r.push(s(i), i64::MIN, usize::MAX);
    }
    let ts: Vec<i64> = r.iter().map(|s| s.ts).collect();
    assert_eq!(ts, (1..=2_000).collect::<Vec<_>>());
}

#[test]
fn memory_is_bounded_at_cap() {
    let mut r = SampleRing::default();
    for i in 0..100_000 {
        r.push(s(i), i64::MIN, 10_000);
    }
    let per_sample = r.heap_bytes() as f64 / r.len() as f64;
    assert!(per_sample <= 28.0, "{per_sample} bytes per sample");
}

#[test]
fn a_batch_merges_into_time_order_like_single_pushes() {
    let mut one_by_one = SampleRing::default();
    let mut batched = SampleRing::default();
    // Two interleaved "threads" whose samples reach the ring in batches.
    let a: Vec<Sample> = (0..700).map(|i| s(i * 2)).collect();
    let b: Vec<Sample> = (0..700).map(|i| s(i * 2 + 1)).collect();
    for chunk in a.chunks(64).zip(b.chunks(64)) {
        for x in chunk.0.iter().chain(chunk.1) {
            one_by_one.push(*x, 100, 1_000);
        }
        batched.push_batch(&mut chunk.0.to_vec(), 100, 1_000);
        batched.push_batch(&mut chunk.1.to_vec(), 100, 1_000);
    }
    let ts = |r: &SampleRing| r.iter().map(|s| s.ts).collect::<Vec<_>>();
    assert_eq!(ts(&batched), ts(&one_by_one));
    assert_eq!(batched.len(), 1_000);
    assert_eq!(batched.dropped(), one_by_one.dropped());
    assert_eq!(batched.expired(), one_by_one.expired());
    assert_eq!(
        batched.expired(),
        100,
        "samples before the cutoff are counted, not kept"
    );
}

#[test]
fn a_batch_older_than_everything_lands_in_front() {
    let mut r = SampleRing::default();
    for i in 100..1_200 {
        r.push(s(i), i64::MIN, usize::MAX);
    }
    r.push_batch(&mut vec![s(7), s(3), s(5)], i64::MIN, usize::MAX);
    let ts: Vec<i64> = r.iter().map(|s| s.ts).collect();
    assert_eq!(&ts[..4], &[3, 5, 7, 100]);
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(r.len(), 1_103);
    let mut empty = Vec::new();
    r.push_batch(&mut empty, i64::MIN, usize::MAX);
    assert_eq!(r.len(), 1_103);
}

/// The ring's contract in its simplest form: a sorted vector.
#[derive(Default)]
struct Model {
    samples: Vec<Sample>,
    dropped: u64,
    expired: u64,
}

impl Model {
    fn expire(&mut self, cutoff: i64) {
        let old = self.samples.iter().take_while(|s| s.ts < cutoff).count();
        self.samples.drain(..old);
        self.expired += old as u64;
    }
    fn insert(&mut self, sample: Sample, cutoff: i64) {
        if sample.ts < cutoff {
            self.expired += 1;
        } else {
            let at = self.samples.partition_point(|s| s.ts <= sample.ts);
            self.samples.insert(at, sample);
        }
    }
    /// A batch, as `push_batch` takes it: expiry, then its samples in
    /// time order, then the cap.
    fn insert_batch(&mut self, batch: &[Sample], cutoff: i64, max_len: usize) {
        self.expire(cutoff);
        let mut sorted = batch.to_vec();
        sorted.sort_by_key(|s| s.ts);
        for s in sorted {
            self.insert(s, cutoff);
        }
        self.cap(max_len);
    }
    fn cap(&mut self, max_len: usize) {
        let over = self.samples.len().saturating_sub(max_len);
        self.samples.drain(..over);
        self.dropped += over as u64;
    }
}

#[test]
fn pushes_batches_and_expiry_agree_with_a_sorted_vector() {
    // A fixed xorshift sequence: mostly ordered pushes, some backdated,
    // some batches, expiry and caps that cross chunk boundaries.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for max_len in [1, 3, 700, 1_500, usize::MAX] {
        let (mut ring, mut model) = (SampleRing::default(), Model::default());
        let (mut now, mut cutoff) = (0i64, i64::MIN);
        for i in 0..6_000u32 {
            now += (next() % 3) as i64;
            let ts = if next() % 10 == 0 {
                now - (next() % 600) as i64
            } else {
                now
            };
            let sample = Sample {
                ts,
                value: f64::from(i),
                tags: i,
            };
            match next() % 50 {
                0 => {
                    let mut batch: Vec<Sample> = (0..(next() % 80))
                        .map(|j| Sample {
                            ts: now - (next() % 300) as i64,
                            value: 0.0,
                            tags: i + j as u32,
                        })
                        .collect();
                    model.insert_batch(&batch, cutoff, max_len);
                    ring.push_batch(&mut batch, cutoff, max_len);
                }
                // One thread's buffer, as `push_newer` is given it:
                // mostly in order and newer than everything, sometimes
                // not (then it must merge like `push_batch`).
                2 | 3 => {
                    let (len, jitter) = (next() % 80, next() % 4);
                    let mut batch: Vec<Sample> = (0..len)
                        .map(|j| Sample {
                            ts: now + j as i64 - if jitter == 0 { (next() % 900) as i64 } else { 0 },
                            value: 1.0,
                            tags: i + j as u32,
                        })
                        .collect();
                    now += len as i64;
                    model.insert_batch(&batch, cutoff, max_len);
                    ring.push_newer(&mut batch, cutoff, max_len);
                }
                1 => {
                    cutoff = now - (next() % 2_000) as i64;
                    model.expire(cutoff);
                    ring.expire(cutoff);
                }
                _ => {
                    model.expire(cutoff);
                    model.insert(sample, cutoff);
                    model.cap(max_len);
                    ring.push(sample, cutoff, max_len);
                }
            }
            assert_eq!(ring.len(), model.samples.len(), "step {i}, cap {max_len}");
        }
        let kept: Vec<Sample> = ring.iter().copied().collect();
        assert_eq!(kept, model.samples, "cap {max_len}");
        let newest_first: Vec<Sample> = ring.iter_newest_first().copied().collect();
        assert!(newest_first.iter().rev().eq(model.samples.iter()));
        assert_eq!((ring.dropped(), ring.expired()), (model.dropped, model.expired));
        ring.expire(i64::MAX);
        assert_eq!(ring.len(), 0);
        // An emptied ring keeps one spare chunk and its queue's few slots.
        assert!(
            ring.heap_bytes() <= CHUNK * size_of::<Sample>() + 256,
            "{} bytes",
            ring.heap_bytes()
        );
    }
}

#[test]
fn stamped_samples_that_tie_strictly_increase_in_arrival_order() {
    let mut r = SampleRing::default();
    let window = i64::try_from(TIE_WINDOW).unwrap();
    assert_eq!(r.push_stamped(s(1_000), i64::MIN, usize::MAX), 1_000);
    assert_eq!(r.push_stamped(s(1_000), i64::MIN, usize::MAX), 1_001);
    assert_eq!(r.push_stamped(s(1_000), i64::MIN, usize::MAX), 1_002);
    assert_eq!(
        r.push_stamped(s(5_000), i64::MIN, usize::MAX),
        5_000,
        "a later time is kept"
    );
    // Behind by more than one period: not a tie, sorted into place.
    let early = 5_000 - window - 1;
    assert_eq!(r.push_stamped(s(early), i64::MIN, usize::MAX), early);
    let kept: Vec<i64> = r.iter().map(|x| x.ts).collect();
    assert_eq!(kept, vec![early, 1_000, 1_001, 1_002, 5_000]);
    // An exact timestamp (a test clock, an explicit time) is never moved.
    r.push(s(5_000), i64::MIN, usize::MAX);
    assert_eq!(r.iter().last().map(|x| x.ts), Some(5_000));
    // Across a chunk rotation, where `back` starts empty.
    let mut r = SampleRing::default();
    for _ in 0..CHUNK + 3 {
        r.push_stamped(s(7), i64::MIN, usize::MAX);
    }
    let kept: Vec<i64> = r.iter().map(|x| x.ts).collect();
    assert_eq!(kept, (7..7 + CHUNK as i64 + 3).collect::<Vec<_>>());
}

#[test]
fn last_where_finds_newest_match() {
    let mut r = SampleRing::default();
    for i in 0..1_500 {
        r.push(
            Sample {
                ts: i,
                value: 0.0,
                tags: (i % 3) as u32,
            },
            i64::MIN,
            usize::MAX,
        );
    }
    assert_eq!(r.last_where(|s| s.tags == 1).map(|s| s.ts), Some(1_498));
    assert_eq!(r.last_where(|s| s.tags == 7), None);
}
