use metrics_core::LabelSet;

#[derive(LabelSet)]
struct Labels {
    #[label(name = "http-method")]
    method: String,
    #[label(name = "__reserved")]
    other: String,
    overflow: bool,
}

fn main() {}
