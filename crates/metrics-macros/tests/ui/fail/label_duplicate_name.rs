use metrics_core::LabelSet;

#[derive(LabelSet)]
struct Labels {
    route: String,
    #[label(name = "route")]
    path: String,
}

fn main() {}
