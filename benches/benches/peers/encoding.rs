//! Scenario 7: encode N counter series (one family, one `kind` label with
//! N distinct values) as Prometheus text, as measured's encoding bench does.
//! Each timed call includes whatever snapshot or gather step the library
//! needs before writing (the fixtures are in `encoders.rs`).

// One encode per sample; 40 samples, because the median of 10 moved by
// 10–15% between back-to-back runs at 10k series.
#[divan::bench_group(threads = 1, sample_count = 40, sample_size = 1)]
mod s7_encode {
    use divan::Bencher;

    use crate::encoders::encoder;

    const SIZES: &[usize] = &[10_000, 100_000];

    fn bench(b: Bencher, library: &str, n: usize) {
        b.bench_local(encoder(library, n).unwrap());
    }

    #[divan::bench(consts = SIZES)]
    fn ours<const N: usize>(b: Bencher) {
        bench(b, "ours", N);
    }

    #[divan::bench(consts = SIZES)]
    fn measured<const N: usize>(b: Bencher) {
        bench(b, "measured", N);
    }

    #[divan::bench(consts = SIZES)]
    fn prometheus<const N: usize>(b: Bencher) {
        bench(b, "prometheus", N);
    }

    #[divan::bench(consts = SIZES)]
    fn prometheus_client<const N: usize>(b: Bencher) {
        bench(b, "prometheus_client", N);
    }

    #[divan::bench(consts = SIZES)]
    fn metrics<const N: usize>(b: Bencher) {
        bench(b, "metrics", N);
    }
}
