//! The rules file: every expression form parses; every bad rule gets an
//! error naming file, line and the offending token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_alerts::expr::{CmpOp, Condition, MatchOp, Operand, ValueExpr};
use metrics_alerts::{RuleSet, Severity};
use std::time::Duration;

fn one_rule(expr: &str) -> String {
    format!("[[rule]]\nname = \"R\"\nexpr = '{expr}'\n")
}

fn error_of(text: &str) -> String {
    RuleSet::parse("rules.toml", text).map(|_| ()).unwrap_err().to_string()
}

#[test]
fn every_expression_form_parses() {
    let text = r#"
eval_interval = "5s"
external_url = "http://127.0.0.1:9464/"

[[rule]]
name = "Gauge"
expr = "jobs_in_flight >= 8"

[[rule]]
name = "ErrorRate"
expr = 'rate(job_errors_total{error_type="exit"}[5m]) > 0.1'
for = "2m"
labels = { severity = "page" }
annotations = { summary = "{{ $value }}/s" }

[[rule]]
name = "Increase"
expr = 'increase(job_errors_total[1h]) by (batch_id) > 3'

[[rule]]
name = "Slow"
expr = 'p99(job_duration_seconds{status="completed", queue!="bulk"}[10m]) > 250ms'

[[rule]]
name = "Ratio"
expr = 'increase(job_errors_total[5m]) / increase(job_status_total[5m]) > 5% by (batch_id, run_id)'

[[rule]]
name = "Gone"
expr = 'absent(heartbeat{service="api"}[10m])'
"#;
    let rules = RuleSet::parse("rules.toml", text).unwrap();
    assert_eq!(rules.eval_interval, Duration::from_secs(5));
    assert_eq!(rules.external_url.as_deref(), Some("http://127.0.0.1:9464"));
    assert_eq!(rules.rules.len(), 6);
    let r = &rules.rules;
    assert!(matches!(&r[0].expr.condition,
        Condition::Compare { value: ValueExpr::Single(Operand::Value(s)), op: CmpOp::Ge, threshold } if s.metric == "jobs_in_flight" && *threshold == 8.0));
    assert_eq!(r[1].for_duration, Duration::from_secs(120));
    assert_eq!(r[1].labels["severity"], "page");
    assert_eq!(r[1].line, 11);
    assert!(matches!(&r[1].expr.condition,
        Condition::Compare { value: ValueExpr::Single(Operand::Rate(s, w)), threshold, .. }
        if s.matchers[0].value == "exit" && *w == Duration::from_secs(300) && *threshold == 0.1));
    assert_eq!(r[2].expr.by, ["batch_id"]);
    assert!(matches!(&r[3].expr.condition,
        Condition::Compare { value: ValueExpr::Single(Operand::Percentile(p, s, _)), threshold, .. }
        if *p == 99.0 && s.matchers[1].op == MatchOp::Ne && *threshold == 0.25));
    assert!(matches!(&r[4].expr.condition,
        Condition::Compare { value: ValueExpr::Ratio(Operand::Increase(..), Operand::Increase(..)), threshold, .. } if *threshold == 0.05));
    assert_eq!(r[4].expr.by, ["batch_id", "run_id"]);
    assert!(matches!(&r[5].expr.condition,
        Condition::Absent { window: Some(w), .. } if *w == Duration::from_secs(600)));
}

#[test]
fn expression_errors_name_file_line_column_and_token() {
    let cases = [
        (
            "rate(job_errors_total[5x]) > 1",
            "rules.toml:3:31: error: at `5x`: expected a window like `30s`, `5m`, `1h` or `3d`",
        ),
        (
            "rat(job_errors_total[5m]) > 1",
            "rules.toml:3:9: error: at `rat`: unknown function",
        ),
        (
            "rate(job_errors_total) > 1",
            "rules.toml:3:30: error: at `)`: rate(...) needs a window like `[5m]`",
        ),
        (
            "gauge >",
            "rules.toml:3:16: error: at `end of expression`: expected a threshold number",
        ),
        ("gauge 5", "rules.toml:3:15: error: at `5`: expected a comparison"),
        (
            "gauge > 5 extra",
            "rules.toml:3:19: error: at `extra`: expected the end of the expression",
        ),
        ("gauge > 5q", "rules.toml:3:17: error: at `5q`: not a number"),
        (
            r#"x{route=~"/a.*"} > 1"#,
            "rules.toml:3:16: error: at `=~`: expected `=` or `!=` (regular expressions are not supported)",
        ),
        (
            r#"x{route="/a} > 1"#,
            "rules.toml:3:17: error: at `\"/a} > 1`: a string that is never closed",
        ),
        ("x > 1 # y", "rules.toml:3:15: error: at `#`: unexpected character `#`"),
        (
            "absent(x) by (a)",
            "rules.toml:3:19: error: at `by`: absent(...) cannot be grouped",
        ),
        ("x > 1 by ()", "rules.toml:3:19: error: at `)`: expected a tag name"),
    ];
    for (expr, want) in cases {
        let got = error_of(&one_rule(expr));
        assert!(got.starts_with(want), "{expr}:\n got  {got}\n want {want}");
    }
}

#[test]
fn other_rule_errors_are_all_reported_at_once() {
    let text = r#"[[rule]]
name = "9bad"
expr = "x > 1"

[[rule]]
name = "Dup"
expr = "x > 1"
for = "soon"
labels = { "bad-label" = "v" }
annotations = { summary = "{{ .Value }}" }

[[rule]]
name = "Dup"
expr = "y > 1"
"#;
    let e = RuleSet::parse("rules.toml", text).unwrap_err();
    let lines: Vec<String> = e.0.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert!(
        lines[0].starts_with("rules.toml:2:8: error: at `9bad`: not a valid alert name"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("rules.toml:8:7: error: at `soon`: not a duration"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("rules.toml:9:12: error: at `bad-label`: not a label name"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("rules.toml:10:28: error: at `{{ .Value }}`: unknown placeholder"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].starts_with("rules.toml:13:8: error: at `Dup`: a rule or slo of this name already exists"),
        "{}",
        lines[4]
    );
}

#[test]
fn toml_and_structure_errors_name_the_line() {
    let e = error_of("eval_interval = \"15s\"\n[[rule]\nname = \"x\"\n");
    assert!(e.starts_with("rules.toml:2:"), "{e}");
    let e = error_of("[[rule]]\nname = \"X\"\nexpr = \"x > 1\"\nseverity = \"page\"\n");
    assert!(e.starts_with("rules.toml:4:1: error: at `severity"), "{e}");
    assert!(e.contains("unknown field `severity`"), "{e}");
    let e = error_of("eval_interval = \"0s\"\n");
    assert!(e.starts_with("rules.toml:1:17: error: at `0s`: not a duration"), "{e}");
    let e = error_of("[[slo]]\nname = \"jobs\"\nsuccess = 99.9\n");
    assert!(e.contains("needs `success`, `errors` and `total`"), "{e}");
    let e = error_of("[[slo]]\nname = \"jobs\"\nsuccess = 100.0\nerrors = \"e\"\ntotal = \"t\"\n");
    assert!(e.starts_with("rules.toml:3:11: error: at `100`: a percentage"), "{e}");
    let missing = RuleSet::load(std::path::Path::new("/nonexistent/rules.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("/nonexistent/rules.toml") && missing.contains("cannot read"),
        "{missing}"
    );
}

#[test]
fn a_rule_reading_a_metric_no_run_produced_is_a_warning() {
    let text = "[[rule]]\nname = \"A\"\nexpr = 'rate(job_errors_total[5m]) > 1'\n\n[[rule]]\nname = \"B\"\nexpr = 'p99(job_duraton_seconds[5m]) > 1'\n";
    let rules = RuleSet::parse("rules.toml", text).unwrap();
    // Our counter `job_errors` is exposed as `job_errors_total`: both names find it.
    let warnings = rules.unknown_metrics(&["job_errors", "job_duration_seconds"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].severity, Severity::Warning);
    assert_eq!(
        warnings[0].to_string(),
        "rules.toml:7:1: warning: at `job_duraton_seconds`: rule B reads metric `job_duraton_seconds`, which no run produced: it cannot fire"
    );
}

#[test]
fn the_example_in_docs_alerting_md_parses() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/alerting.md")).unwrap();
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let rules = RuleSet::parse("docs/alerting.md", &doc[start..end]).unwrap();
    assert_eq!(rules.rules.len(), 1);
    assert_eq!(rules.slos.len(), 1);
    assert!(rules.slos[0].success.is_some() && rules.slos[0].latency.is_some());
}
