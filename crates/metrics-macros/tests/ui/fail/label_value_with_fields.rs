use metrics_core::LabelValue;

#[derive(LabelValue)]
enum Status {
    Ok,
    Failed(u32),
}

#[derive(LabelValue)]
enum Dup {
    #[label(name = "a")]
    First,
    #[label(name = "a")]
    Second,
}

fn main() {}
