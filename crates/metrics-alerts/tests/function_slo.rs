//! SLOs declared on functions:
//! `#[record_execution_time(objective(success = 99.9, latency = "250ms", percentile = 99))]`
//! gives the same multi-window, multi-burn-rate alerts and recording rules
//! as an `[[slo]]` of the rules file: exported (checked and tested by the
//! real `promtool`) and evaluated in-process on the function's own timer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_alerts::export::{KindHints, export_rules};
use metrics_alerts::{AlertStatus, Evaluator, JsonFileStore, RuleSet, function_slo_name};
use metrics_core::export::prometheus::{TextFormat, encode};
use metrics_core::instrument::{FunctionObjective, declared_objectives};
use test_support::have_promtool;

#[metrics_core::record_execution_time(objective(success = 99.9, latency = "250ms", percentile = 99))]
fn place_order(id: u32) -> Result<u32, String> {
    if id.is_multiple_of(2) {
        Ok(id)
    } else {
        Err(format!("order {id} refused"))
    }
}

#[metrics_core::record_execution_time(objective(latency = "300ms"))]
fn ship_order(id: u32) -> u32 {
    id
}

#[metrics_core::record_execution_time(objective(success = 99))]
fn bill_order(id: u32) -> Result<u32, String> {
    Ok(id)
}

fn objective_of(function: &str) -> FunctionObjective {
    declared_objectives()
        .into_iter()
        .find(|o| o.function == function)
        .unwrap_or_else(|| panic!("{function} declared no objective: {:?}", declared_objectives()))
}

#[test]
fn the_first_call_declares_the_objective_with_its_figures() {
    assert!(declared_objectives().iter().all(|o| o.function != "bill_order"));
    bill_order(1).unwrap();
    bill_order(2).unwrap();
    let bill = objective_of("bill_order");
    assert_eq!(bill.success, Some(99.0));
    assert_eq!(bill.latency_seconds, None);
    assert_eq!(bill.metric, "function_slo.bill_order.execution_time");
    assert_eq!(bill.module, "function_slo");
    assert_eq!(
        declared_objectives()
            .iter()
            .filter(|o| o.function == "bill_order")
            .count(),
        1
    );

    ship_order(1);
    let ship = objective_of("ship_order");
    assert_eq!(
        (ship.success, ship.latency_seconds, ship.percentile),
        (None, Some(0.3), 99.0)
    );
    // 300 ms is not a default bound: the timer got it as a bucket, so the
    // exported `le="0.3"` series exists.
    let timer = metrics_core::get_metrics_collector()
        .get_metric_series(ship.metric)
        .unwrap();
    assert!(timer.buckets().contains(&0.3), "{:?}", timer.buckets());
}

#[test]
fn function_objectives_become_burn_rate_alerts_that_promtool_checks_and_tests() {
    place_order(2).unwrap();
    let objective = objective_of("place_order");
    assert_eq!(
        (objective.success, objective.latency_seconds, objective.percentile),
        (Some(99.9), Some(0.25), 99.0)
    );
    let slo = function_slo_name(&objective);
    assert_eq!(slo, "function_slo_place_order");
    let rules = RuleSet::parse("alerts.toml", "")
        .unwrap()
        .with_function_objectives(std::slice::from_ref(&objective));
    let yaml = export_rules(&rules, &KindHints::default());
    assert!(
        yaml.contains("- name: \"bykilt-slo-function_slo_place_order\""),
        "{yaml}"
    );
    // The rules read the names our exposition gives the function's timer.
    let family = "function_slo_place_order_execution_time_seconds";
    let exposition = encode(
        &metrics_core::get_metrics_collector().aggregate_snapshot(),
        TextFormat::Prometheus,
    )
    .text;
    assert!(exposition.contains(&format!("{family}_count{{")), "{exposition}");
    assert!(
        yaml.contains(&format!("{family}_count{{outcome!=\\\"ok\\\"}}")),
        "{yaml}"
    );
    assert!(yaml.contains(&format!("{family}_bucket{{le=\\\"0.25\\\"}}")), "{yaml}");
    for alert in ["success", "latency"] {
        assert_eq!(
            yaml.matches(&format!("alert: \"{slo}_{alert}_budget_burn\"")).count(),
            3,
            "{yaml}"
        );
    }
    if !have_promtool() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), &yaml).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new("promtool")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let (code, out) = run(&["check", "rules", "rules.yml"]);
    assert_eq!(code, Some(0), "{out}\n{yaml}");
    // 10% of calls fail against a 0.1% budget: every success window pair fires;
    // every call is fast, so no latency alert does.
    let labels = "function: place_order, module: function_slo, slo: function_slo_place_order";
    let test = format!(
        r#"
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: '{family}_count{{outcome="error"}}'
        values: '0+6x30'
      - series: '{family}_count{{outcome="ok"}}'
        values: '0+54x30'
      - series: '{family}_bucket{{le="0.25",outcome="error"}}'
        values: '0+6x30'
      - series: '{family}_bucket{{le="0.25",outcome="ok"}}'
        values: '0+54x30'
    alert_rule_test:
      - eval_time: 10m
        alertname: {slo}_success_budget_burn
        exp_alerts:
          - exp_labels: {{{labels}, sli: success, severity: page, burn_rate: "14.4", long_window: 1h, short_window: 5m}}
            exp_annotations: {{summary: "SLO {slo} (success 99.9%): error budget burning 14.4x over 1h and 5m"}}
          - exp_labels: {{{labels}, sli: success, severity: page, burn_rate: "6", long_window: 6h, short_window: 30m}}
            exp_annotations: {{summary: "SLO {slo} (success 99.9%): error budget burning 6x over 6h and 30m"}}
          - exp_labels: {{{labels}, sli: success, severity: ticket, burn_rate: "1", long_window: 3d, short_window: 6h}}
            exp_annotations: {{summary: "SLO {slo} (success 99.9%): error budget burning 1x over 3d and 6h"}}
      - eval_time: 10m
        alertname: {slo}_latency_budget_burn
        exp_alerts: []
"#
    );
    std::fs::write(dir.path().join("test.yml"), &test).unwrap();
    let (code, out) = run(&["test", "rules", "test.yml"]);
    assert_eq!(code, Some(0), "{out}\n{test}\n{yaml}");
}

#[test]
fn the_in_process_evaluator_fires_a_functions_burn_rate_alerts() {
    for id in 0..4 {
        let _ = place_order(id);
    }
    let rules = RuleSet::parse("alerts.toml", "")
        .unwrap()
        .with_function_objectives(&declared_objectives());
    // The file's own SLO of the same name wins over the function's.
    let same_name = RuleSet::parse(
        "alerts.toml",
        "[[slo]]\nname = \"function_slo_place_order\"\nsuccess = 50\nerrors = 'x_total'\ntotal = 'y_total'\n",
    )
    .unwrap()
    .with_function_objectives(&declared_objectives());
    let kept: Vec<_> = same_name
        .slos
        .iter()
        .filter(|s| s.name == "function_slo_place_order")
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].success.as_ref().unwrap().objective, 50.0);

    let dir = tempfile::tempdir().unwrap();
    let mut ev = Evaluator::new(
        rules,
        metrics_core::global_metrics_collector(),
        Box::new(JsonFileStore::new(dir.path().join("alerts.json"))),
    )
    .unwrap();
    let report = ev.evaluate();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let firing: Vec<_> = ev
        .alerts()
        .into_iter()
        .filter(|a| a.rule.starts_with("function_slo_place_order") && a.status == AlertStatus::Firing)
        .collect();
    // Half the calls failed: all three success pairs burn; the calls were fast.
    assert_eq!(firing.len(), 3, "{firing:?}");
    assert!(
        firing
            .iter()
            .all(|a| a.rule == "function_slo_place_order_success_budget_burn")
    );
    assert!(
        firing
            .iter()
            .all(|a| a.labels["function"] == "place_order" && a.labels["module"] == "function_slo")
    );
    // 2 failed of 4 calls here (another test may add an `ok` call).
    assert!(firing.iter().all(|a| a.value > 0.35 && a.value <= 0.5), "{firing:?}");
}
