use metrics_core::LabelSet;

struct Region;

#[derive(LabelSet)]
struct Labels {
    region: Region,
}

fn main() {}
