//! `numerus sim tournament`, `account`, `model`, `round` and `leaderboard` from the outside.

use crate::{numerus, scratch, stderr};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_short_simulated_tournament_resolves_checks_and_leaves_an_inspectable_data_dir() {
    let dir = scratch("sim-tournament").join("run");
    let data_dir = dir.to_str().unwrap();
    let run = numerus(&[
        "sim",
        "tournament",
        "--seed",
        "3",
        "--days",
        "6",
        "--participants",
        "5",
        "--stocks",
        "120",
        "--features",
        "16",
        "--data-dir",
        data_dir,
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let summary = stdout(&run);
    assert!(summary.contains("resolved 6"), "{summary}");
    assert!(summary.contains("leaderboard"), "{summary}");

    let list = numerus(&["round", "--data-dir", data_dir, "list"]);
    assert!(list.status.success(), "{}", stderr(&list));
    assert!(stdout(&list).contains("resolved"), "{}", stdout(&list));
    let show = numerus(&["round", "--data-dir", data_dir, "show", "1175"]);
    assert!(stdout(&show).contains("resolved"), "{}", stdout(&show));

    let bundle = dir.join("bundle");
    let export = numerus(&[
        "round",
        "--data-dir",
        data_dir,
        "export",
        "1175",
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    assert!(bundle.join("manifest.json").is_file());
    let again = numerus(&[
        "round",
        "--data-dir",
        data_dir,
        "export",
        "1175",
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));

    let board = numerus(&[
        "leaderboard",
        "--data-dir",
        data_dir,
        "--accounts",
        "--limit",
        "3",
        "--at",
        "2026-03-01T00:00:00Z",
    ]);
    assert!(board.status.success(), "{}", stderr(&board));
    assert_eq!(stdout(&board).lines().count(), 4, "{}", stdout(&board));

    let audit = numerus(&["ledger", "--data-dir", data_dir, "audit"]);
    assert!(audit.status.success(), "{}", stderr(&audit));

    let again = numerus(&["sim", "tournament", "--days", "1", "--data-dir", data_dir]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));
}

#[test]
fn account_create_prints_the_secret_once_and_models_need_an_account() {
    let dir = scratch("accounts");
    let data_dir = dir.to_str().unwrap();
    let created = numerus(&[
        "account",
        "--data-dir",
        data_dir,
        "create",
        "--username",
        "alice",
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    let text = stdout(&created);
    assert!(
        text.contains("NUMERAI_PUBLIC_ID=") && text.contains("NUMERAI_SECRET_KEY="),
        "{text}"
    );
    let taken = numerus(&[
        "account",
        "--data-dir",
        data_dir,
        "create",
        "--username",
        "alice",
    ]);
    assert_eq!(taken.status.code(), Some(2));
    assert!(stderr(&taken).contains("taken"), "{}", stderr(&taken));

    let model = numerus(&[
        "model",
        "--data-dir",
        data_dir,
        "create",
        "--account",
        "alice",
        "--name",
        "alpha",
    ]);
    assert!(model.status.success(), "{}", stderr(&model));
    let orphan = numerus(&[
        "model",
        "--data-dir",
        data_dir,
        "create",
        "--account",
        "bob",
        "--name",
        "beta",
    ]);
    assert_eq!(orphan.status.code(), Some(2));
    assert!(
        stderr(&orphan).contains("numerus account create --username bob"),
        "{}",
        stderr(&orphan)
    );
    let bad = numerus(&[
        "model",
        "--data-dir",
        data_dir,
        "create",
        "--account",
        "alice",
        "--name",
        "no spaces",
    ]);
    assert!(
        stderr(&bad).contains("not a usable model name"),
        "{}",
        stderr(&bad)
    );

    let missing = numerus(&[
        "round",
        "--data-dir",
        dir.join("nothing").to_str().unwrap(),
        "list",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no Numerus data"),
        "{}",
        stderr(&missing)
    );
}
