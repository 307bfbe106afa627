#![deny(warnings)]
use std::borrow::Cow;

use metrics_core::{LabelSet, LabelValue, MetricsCollector};

#[derive(LabelValue)]
enum Method {
    #[label(name = "GET")]
    Get,
    Post,
}

#[derive(LabelSet)]
struct Labels<'a> {
    method: Method,
    route: &'a str,
    #[label(name = "type")]
    kind: String,
    r#in: Cow<'a, str>,
    retried: bool,
    shard: u8,
    code: u16,
}

fn main() {
    let c = MetricsCollector::default();
    let f = c.counter_family::<Labels>("requests").unwrap();
    let labels = Labels {
        method: Method::Post,
        route: "/",
        kind: "x".to_owned(),
        r#in: Cow::Borrowed("body"),
        retried: false,
        shard: 1,
        code: 200,
    };
    f.increment(&labels, 1).unwrap();
    assert_eq!(f.get(&labels).unwrap().tags().get("method"), Some("post"));
    assert_eq!(f.get(&labels).unwrap().tags().get("in"), Some("body"));
    let _ = Method::Get;
}
