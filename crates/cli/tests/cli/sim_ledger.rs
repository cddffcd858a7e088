//! `numerus sim ledger` from the outside.

use std::path::Path;
use std::process::Output;

use super::{numerus, scratch, stderr};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A short simulation with faults into `dir`.
fn simulate(dir: &Path) -> Output {
    numerus(&[
        "sim",
        "ledger",
        "--seed",
        "7",
        "--rounds",
        "40",
        "--models",
        "30",
        "--faults",
        "--data-dir",
        dir.to_str().unwrap(),
    ])
}

/// The summary line without its data directory, which differs between runs.
fn summary(output: &Output) -> String {
    let text = stdout(output);
    let (summary, _dir) = text
        .trim()
        .split_once("; data in ")
        .expect("the line names its data");
    summary.to_owned()
}

#[test]
fn a_short_run_with_faults_passes_and_the_same_seed_repeats_it_exactly() {
    let first_dir = scratch("sim-ledger-first").join("data");
    let first = simulate(&first_dir);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(stdout(&first).lines().count(), 1, "{}", stdout(&first));
    let line = summary(&first);
    assert!(
        line.starts_with("sim ledger: seed 7, 40 rounds, 30 models, faults on: "),
        "{line}"
    );
    assert!(line.ends_with("supply balanced, audit clean"), "{line}");
    assert!(line.contains("faults injected and recovered"), "{line}");
    assert!(!line.contains(" 0 faults injected"), "{line}");

    let second_dir = scratch("sim-ledger-second").join("data");
    let second = simulate(&second_dir);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(summary(&second), line);

    // The file it leaves is an ordinary ledger: the ledger's own audit passes on it.
    let audit = numerus(&["ledger", "--data-dir", first_dir.to_str().unwrap(), "audit"]);
    assert!(
        audit.status.success(),
        "{}{}",
        stdout(&audit),
        stderr(&audit)
    );
}

#[test]
fn a_data_dir_that_already_holds_a_ledger_is_refused_and_left_alone() {
    let dir = scratch("sim-ledger-taken");
    let database = dir.join("numerus.sqlite");
    std::fs::write(&database, "not touched").unwrap();
    let output = numerus(&[
        "sim",
        "ledger",
        "--seed",
        "1",
        "--rounds",
        "1",
        "--models",
        "1",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("already holds a ledger"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&database).unwrap(), "not touched");
}
