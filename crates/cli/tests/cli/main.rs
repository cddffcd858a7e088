//! `numerus` from the outside: real processes, real files.

mod data;
mod fund;
mod tournament;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn numerus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_numerus"))
        .args(args)
        .output()
        .expect("numerus runs")
}

/// A fresh directory per test, under the build's own scratch space rather than the
/// system's temporary directory, so test runs leave nothing behind outside `target/`.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("numerus-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A 2-era CSV data file with 10 ids per era and a clean predictions file.
fn small_files(dir: &Path) -> (String, String) {
    let mut data = String::from("id,era,feature_a,feature_b,target\n");
    let mut predictions = String::from("id,era,model_a,model_b\n");
    for era in ["0001", "0002"] {
        for i in 0..10 {
            let target = [0.0, 0.25, 0.5, 0.75, 1.0][i % 5];
            data += &format!("n{era}{i:02},{era},{},{},{target}\n", i % 5, (i * 3) % 5);
            predictions += &format!(
                "n{era}{i:02},{era},{},{}\n",
                (i as f64) / 10.0,
                ((i * 7) % 10) as f64 / 10.0
            );
        }
    }
    (
        write(dir, "data.csv", &data),
        write(dir, "predictions.csv", &predictions),
    )
}

#[test]
fn scores_a_generated_sample_and_writes_every_section_of_the_json() {
    let dir = scratch("sample");
    let out = dir.join("sample");
    let sample = numerus(&[
        "sample",
        "--out",
        out.to_str().unwrap(),
        "--eras",
        "3",
        "--rows",
        "200",
        "--submissions",
        "4",
    ]);
    assert!(sample.status.success(), "{}", stderr(&sample));
    let file = |name: &str| out.join(name).to_str().unwrap().to_owned();
    let scores = dir.join("scores.json");
    let output = numerus(&[
        "score",
        "--data",
        &file("data.parquet"),
        "--predictions",
        &file("predictions.parquet"),
        "--meta-model",
        &file("meta_model.parquet"),
        "--neutralizers",
        &file("neutralizers.parquet"),
        "--sample-weights",
        &file("sample_weights.parquet"),
        "--stakes",
        &file("stakes.csv"),
        "--out",
        scores.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&scores).unwrap()).unwrap();
    assert_eq!(json["schema"], "numerus-scores/1");
    for metric in [
        "numerai_corr",
        "mmc",
        "fnc",
        "neutral_corr",
        "alpha",
        "mpc",
        "cwmm",
    ] {
        assert!(
            json["per_era"][metric]
                .as_object()
                .is_some_and(|m| !m.is_empty()),
            "{metric}"
        );
        assert!(json["summary"][metric].is_object(), "{metric}");
    }
    assert!(json["cross_era"]["turnover"].is_object());
    assert!(json["pairs"]["churn"].is_object());
    assert!(json["series"]["stake_weight"].is_object());
    // The constant edge-case submission is reported, never scored as NaN.
    let undefined = json["undefined"].as_array().unwrap();
    assert!(
        undefined
            .iter()
            .any(|u| u["submission"] == "constant" && u["code"] == "constant_column")
    );
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.starts_with("submission"), "{table}");
}

#[test]
fn a_two_column_prediction_file_takes_its_era_from_the_data() {
    let dir = scratch("two-column");
    let (data, _) = small_files(&dir);
    let mut live = String::from("id,prediction\n");
    for i in 0..10 {
        live += &format!("n0002{i:02},{}\n", i as f64 / 10.0);
    }
    let predictions = write(&dir, "live.csv", &live);
    let scores = dir.join("scores.json");
    let output = numerus(&[
        "score",
        "--data",
        &data,
        "--predictions",
        &predictions,
        "--metrics",
        "corr",
        "--out",
        scores.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&scores).unwrap()).unwrap();
    assert!(json["per_era"]["numerai_corr"]["0002"]["prediction"].is_f64());
}

/// Runs `numerus score --data DATA --predictions PREDICTIONS EXTRA...` and expects a
/// refusal (exit status 2) whose message contains every one of `fragments`.
fn assert_score_refused(data: &str, predictions: &str, extra: &[&str], fragments: &[&str]) {
    let mut args = vec!["score", "--data", data, "--predictions", predictions];
    args.extend_from_slice(extra);
    let output = numerus(&args);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    for fragment in fragments {
        assert!(message.contains(fragment), "{message}");
    }
}

/// Scores `predictions` (CSV text) against the small data file and expects a refusal
/// (exit status 2) whose message contains every one of `fragments`.
fn assert_refused(name: &str, predictions: &str, fragments: &[&str]) {
    let dir = scratch(name);
    let (data, _) = small_files(&dir);
    let predictions = write(&dir, "p.csv", predictions);
    assert_score_refused(&data, &predictions, &[], fragments);
}

#[test]
fn a_nan_prediction_is_refused_with_the_row_and_column() {
    assert_refused(
        "nan",
        "id,era,model_a\nn000100,0001,0.5\nn000101,0001,\n",
        &["row 2", "model_a"],
    );
}

#[test]
fn an_era_missing_from_the_data_is_refused() {
    assert_refused("era", "id,era,model_a\nx1,0099,0.5\n", &["era `0099`"]);
}

#[test]
fn a_duplicate_id_in_an_era_is_refused() {
    assert_refused(
        "duplicate",
        "id,era,model_a\nn000100,0001,0.5\nn000100,0001,0.6\n",
        &["appears twice"],
    );
}

#[test]
fn too_little_overlap_with_the_data_is_refused() {
    assert_refused(
        "overlap",
        "id,era,model_a\nn000100,0001,0.5\nn000101,0001,0.6\n",
        &["80%"],
    );
}

#[test]
fn a_missing_target_column_names_the_flag_that_fixes_it() {
    let dir = scratch("target");
    let (data, predictions) = small_files(&dir);
    assert_score_refused(
        &data,
        &predictions,
        &["--target", "target_cyrus_20"],
        &["--target"],
    );
}

#[test]
fn asking_for_a_metric_without_its_input_names_the_missing_flag() {
    let dir = scratch("needs");
    let (data, predictions) = small_files(&dir);
    assert_score_refused(
        &data,
        &predictions,
        &["--metrics", "mmc"],
        &["--meta-model"],
    );
    assert_score_refused(
        &data,
        &predictions,
        &["--metrics", "sharpness"],
        &["unknown metric"],
    );
}

#[test]
fn rows_in_any_order_score_the_same() {
    let dir = scratch("order");
    let (data, predictions) = small_files(&dir);
    let text = std::fs::read_to_string(&predictions).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    lines.reverse();
    let shuffled = write(
        &dir,
        "shuffled.csv",
        &format!("{header}\n{}\n", lines.join("\n")),
    );
    let run = |predictions: &str, out: &str| {
        let out = dir.join(out);
        let output = numerus(&[
            "score",
            "--data",
            &data,
            "--predictions",
            predictions,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
        json["per_era"].clone()
    };
    // The same numbers up to summation order.
    assert_close(&run(&predictions, "a.json"), &run(&shuffled, "b.json"));
}

fn assert_close(a: &serde_json::Value, b: &serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
            for (key, value) in a {
                assert_close(value, &b[key]);
            }
        }
        (a, b) => {
            let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-12, "{x} vs {y}");
        }
    }
}

mod ledger;
mod sim_ledger;

#[test]
fn a_reader_that_closes_the_pipe_early_gets_no_panic() {
    let dir = scratch("pipe");
    let mut child = Command::new(env!("CARGO_BIN_EXE_numerus"))
        .args([
            "sample",
            "--out",
            dir.join("s").to_str().unwrap(),
            "--seed",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("numerus runs");
    // Close our end before the first line is printed (the files are written first).
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let code = output.status.code();
    assert!(
        code == Some(141) || code == Some(0),
        "{code:?}: {}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}
