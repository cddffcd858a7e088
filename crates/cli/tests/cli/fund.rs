//! `numerus fund solve` and `numerus fund tc` on small files.

use std::fmt::Write as _;

use crate::{numerus, scratch, stderr, write};

/// Runs `numerus fund solve` with these files, writing into `out`.
fn fund_solve(
    signal: &str,
    exposures: &str,
    config: &str,
    out: &std::path::Path,
) -> std::process::Output {
    numerus(&[
        "fund",
        "solve",
        "--signal",
        signal,
        "--exposures",
        exposures,
        "--config",
        config,
        "--out",
        out.to_str().unwrap(),
    ])
}

const CONFIG: &str = "gross = 1.0\nnet = 0.0\nnet_tolerance = 0.01\nposition_cap = 0.1\nfactor_tolerance = 0.02\ngroup_tolerance = 0.02\nrisk_aversion = 0.5\n";

/// 40 stocks: a signal, two factors and two sectors, three models' predictions, stakes and
/// returns, all deterministic.
fn files(dir: &std::path::Path) -> [String; 5] {
    let (mut signal, mut exposures, mut predictions, mut returns) = (
        String::from("id,signal\n"),
        String::from("id,group,size,value\n"),
        String::from("id,model_a,model_b,model_c\n"),
        String::from("id,return\n"),
    );
    for i in 0..40 {
        let x = i as f64;
        let _ = writeln!(signal, "s{i:02},{}", (x * 0.37).sin());
        let _ = writeln!(
            exposures,
            "s{i:02},{},{},{}",
            if i % 2 == 0 { "tech" } else { "energy" },
            (x * 0.11).cos(),
            (x * 0.53).sin()
        );
        let _ = writeln!(
            predictions,
            "s{i:02},{},{},{}",
            (x * 0.37).sin(),
            (x * 0.21).cos(),
            (x * 0.77).sin()
        );
        let _ = writeln!(
            returns,
            "s{i:02},{}",
            0.01 * (x * 0.37).sin() + 0.002 * (x * 1.3).cos()
        );
    }
    [
        write(dir, "signal.csv", &signal),
        write(dir, "exposures.csv", &exposures),
        write(dir, "predictions.csv", &predictions),
        write(dir, "returns.csv", &returns),
        write(
            dir,
            "stakes.csv",
            "model,stake\nmodel_a,100\nmodel_b,50\nmodel_c,10\n",
        ),
    ]
}

#[test]
fn fund_solve_writes_weights_and_a_report() {
    let dir = scratch("fund-solve");
    let [signal, exposures, ..] = files(&dir);
    let config = write(&dir, "fund.toml", CONFIG);
    let out = dir.join("portfolio");
    let output = fund_solve(&signal, &exposures, &config, &out);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("portfolio.json")).unwrap())
            .unwrap();
    assert_eq!(report["status"], "solved");
    assert!((report["gross"].as_f64().unwrap() - 1.0).abs() < 1e-6);
    let weights = std::fs::read_to_string(out.join("weights.csv")).unwrap();
    assert_eq!(weights.lines().count(), 41);
    assert!(weights.starts_with("id,weight\n"));
}

#[test]
fn an_infeasible_config_names_the_binding_constraints_and_exits_2() {
    let dir = scratch("fund-infeasible");
    let [signal, exposures, ..] = files(&dir);
    let config = write(
        &dir,
        "fund.toml",
        &CONFIG
            .replace(
                "net = 0.0\nnet_tolerance = 0.01",
                "net = 0.9\nnet_tolerance = 0.0",
            )
            .replace("gross = 1.0", "gross = 0.2"),
    );
    let out = dir.join("portfolio");
    let output = fund_solve(&signal, &exposures, &config, &out);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("no portfolio satisfies the constraints") && message.contains("binding"),
        "{message}"
    );
}

#[test]
fn bad_inputs_are_refused_by_name() {
    let dir = scratch("fund-bad");
    let [signal, _, ..] = files(&dir);
    let config = write(&dir, "fund.toml", CONFIG);
    let out = dir.join("portfolio");
    let missing = write(&dir, "short.csv", "id,group,size\ns00,tech,1.0\n");
    let output = fund_solve(&signal, &missing, &config, &out);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("stock s01 has no row"),
        "{}",
        stderr(&output)
    );
    let mut nan = String::from("id,group,size\n");
    for i in 0..40 {
        let _ = writeln!(
            nan,
            "s{i:02},tech,{}",
            if i == 3 {
                "nan".to_owned()
            } else {
                i.to_string()
            }
        );
    }
    let nan = write(&dir, "nan.csv", &nan);
    let output = fund_solve(&signal, &nan, &config, &out);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("factor size is not a finite number for stock 3"),
        "{}",
        stderr(&output)
    );
    let bad = write(
        &dir,
        "bad.toml",
        &CONFIG.replace("risk_aversion = 0.5", "risk_aversion = -1"),
    );
    let exposures = dir.join("exposures.csv");
    let output = fund_solve(&signal, exposures.to_str().unwrap(), &bad, &out);
    assert!(
        stderr(&output).contains("risk_aversion"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn fund_tc_writes_each_models_contribution() {
    let dir = scratch("fund-tc");
    let [_, exposures, predictions, returns, stakes] = files(&dir);
    // Loose caps and a stronger penalty keep positions off their bounds: weights then move
    // with the signal (at the caps every TC would be 0).
    let config = write(
        &dir,
        "fund.toml",
        &CONFIG
            .replace("position_cap = 0.1", "position_cap = 1.0")
            .replace("risk_aversion = 0.5", "risk_aversion = 20.0"),
    );
    let out = dir.join("tc.csv");
    let output = numerus(&[
        "fund",
        "tc",
        "--predictions",
        &predictions,
        "--stakes",
        &stakes,
        "--exposures",
        &exposures,
        "--returns",
        &returns,
        "--config",
        &config,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<(String, f64, f64)> = text
        .lines()
        .skip(1)
        .map(|line| {
            let parts: Vec<&str> = line.split(',').collect();
            (
                parts[0].to_owned(),
                parts[1].parse().unwrap(),
                parts[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 3);
    // Stake-weighted TCs cancel: Σ σ_k (g_k − s) = 0.
    let weighted: f64 = rows.iter().map(|(_, stake, tc)| stake * tc).sum();
    assert!(weighted.abs() < 1e-9, "{weighted}");
    assert!(rows.iter().any(|(_, _, tc)| tc.abs() > 1e-6));
}

#[test]
fn fund_report_says_when_a_tournament_runs_no_fund() {
    let dir = scratch("fund-report");
    let data = dir.join("data");
    let data = data.to_str().unwrap();
    let output = numerus(&["fund", "report", "--data-dir", data]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no Numerus data"),
        "{}",
        stderr(&output)
    );
    let created = numerus(&[
        "account",
        "create",
        "--data-dir",
        data,
        "--username",
        "alice",
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    let output = numerus(&["fund", "report", "--data-dir", data]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no [fund] table"),
        "{}",
        stderr(&output)
    );
}
