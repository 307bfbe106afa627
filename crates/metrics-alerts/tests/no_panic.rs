//! No input reaches a panic: any expression text and any rules file text
//! parse to a value or to an error that points inside the input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_alerts::RuleSet;
use metrics_alerts::expr::parse_expr;
use proptest::prelude::*;

/// Expression-like text: the grammar's tokens and some that are not.
fn expression_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("rate(".to_owned()),
        Just("increase(".to_owned()),
        Just("p99(".to_owned()),
        Just("absent(".to_owned()),
        Just("x_total".to_owned()),
        Just("{a=\"b\"}".to_owned()),
        Just("[5m]".to_owned()),
        Just(")".to_owned()),
        Just(" > ".to_owned()),
        Just(" / ".to_owned()),
        Just(" by (a)".to_owned()),
        Just("2s".to_owned()),
        Just("5%".to_owned()),
        Just("\"".to_owned()),
        "[ -~]{0,3}",
        "\\PC{0,2}",
    ];
    proptest::collection::vec(token, 0..10).prop_map(|t| t.concat())
}

proptest! {
    #[test]
    fn expressions_parse_or_point_inside_the_input(src in expression_text()) {
        if let Err(e) = parse_expr(&src) {
            prop_assert!(e.at <= src.len(), "{e} for {src:?}");
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn rules_files_parse_or_name_a_line_of_the_file(expr in expression_text(), junk in "\\PC{0,20}") {
        let text = format!("[[rule]]\nname = \"R\"\nexpr = '''{}'''\nfor = \"{}\"\n", expr.replace('\'', ""), junk.replace(['"', '\\'], ""));
        if let Err(e) = RuleSet::parse("r.toml", &text) {
            let lines = text.lines().count().max(1);
            for d in &e.0 {
                prop_assert!(d.line >= 1 && d.line <= lines + 1, "{d} in {text:?}");
            }
        }
    }
}
