use metrics_core::LabelSet;

#[derive(LabelSet)]
struct Labels {
    latency: f64,
    ids: Vec<u32>,
    pair: (u8, u8),
}

fn main() {}
