//! `numerus ledger` from the outside.

use super::{numerus, scratch, stderr};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn genesis(dir: &str) {
    let output = numerus(&[
        "ledger",
        "--data-dir",
        dir,
        "genesis",
        "--treasury",
        "3000000",
        "--outside",
        "8000000",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "applied");
}

#[test]
fn a_genesis_then_a_buyback_leave_a_balanced_supply_and_a_clean_audit() {
    let dir = scratch("ledger-genesis");
    let dir = dir.to_str().unwrap();
    genesis(dir);
    let tx = format!("0x{}", "ab".repeat(32));
    let buyback = numerus(&[
        "ledger",
        "--data-dir",
        dir,
        "buyback",
        "--nmr",
        "250.5",
        "--price-usd",
        "8.1",
        "--tx",
        &tx,
    ]);
    assert!(buyback.status.success(), "{}", stderr(&buyback));
    let supply = numerus(&["ledger", "--data-dir", dir, "supply", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&supply.stdout).unwrap();
    assert_eq!(report["minted"], "11000000");
    assert_eq!(report["treasury"], "3000250.5");
    assert_eq!(report["balanced"], true);
    let history = stdout(&numerus(&[
        "ledger",
        "--data-dir",
        dir,
        "history",
        "treasury",
    ]));
    assert!(
        history.contains("+250.5") && history.contains("genesis/treasury"),
        "{history}"
    );
    let audit = numerus(&["ledger", "--data-dir", dir, "audit"]);
    assert!(audit.status.success());
    assert!(
        stdout(&audit).starts_with("audit clean: 3 transfers replayed"),
        "{}",
        stdout(&audit)
    );
}

#[test]
fn a_second_genesis_is_refused_and_changes_nothing() {
    let dir = scratch("ledger-second-genesis");
    let dir = dir.to_str().unwrap();
    genesis(dir);
    let again = numerus(&[
        "ledger",
        "--data-dir",
        dir,
        "genesis",
        "--treasury",
        "3000000",
        "--outside",
        "8000000",
    ]);
    assert!(again.status.success());
    assert!(stdout(&again).contains("already applied"));
    let other = numerus(&[
        "ledger",
        "--data-dir",
        dir,
        "genesis",
        "--treasury",
        "1",
        "--outside",
        "0",
    ]);
    assert_eq!(other.status.code(), Some(2));
    assert!(
        stderr(&other).contains("the genesis has already minted the supply"),
        "{}",
        stderr(&other)
    );
    let supply = numerus(&["ledger", "--data-dir", dir, "supply", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&supply.stdout).unwrap();
    assert_eq!(report["treasury"], "3000000");
}

#[test]
fn amounts_beyond_eighteen_decimals_or_the_maximum_supply_are_refused() {
    let dir = scratch("ledger-bad-amounts");
    let dir = dir.to_str().unwrap();
    let places = numerus(&[
        "ledger",
        "--data-dir",
        dir,
        "genesis",
        "--treasury",
        "0.0000000000000000001",
        "--outside",
        "1",
    ]);
    assert_eq!(places.status.code(), Some(2));
    assert!(
        stderr(&places).contains("has 19 decimal places"),
        "{}",
        stderr(&places)
    );
    let too_much = numerus(&[
        "ledger",
        "--data-dir",
        dir,
        "genesis",
        "--treasury",
        "3000000",
        "--outside",
        "8000001",
    ]);
    assert_eq!(too_much.status.code(), Some(2));
    assert!(
        stderr(&too_much).contains("exceed the maximum supply of 11000000 NMR"),
        "{}",
        stderr(&too_much)
    );
}

#[test]
fn reading_a_directory_without_a_ledger_says_how_to_make_one() {
    let dir = scratch("ledger-missing");
    let output = numerus(&["ledger", "--data-dir", dir.to_str().unwrap(), "balances"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no ledger at")
            && stderr(&output).contains("numerus ledger genesis")
    );
    assert!(
        !dir.join("numerus.sqlite").exists(),
        "reading must not create a database"
    );
}

#[test]
fn the_audit_exits_one_when_a_balance_was_edited_behind_its_back() {
    let dir = scratch("ledger-tampered");
    let dir_text = dir.to_str().unwrap();
    genesis(dir_text);
    let connection = rusqlite::Connection::open(dir.join("numerus.sqlite")).unwrap();
    connection
        .execute(
            "UPDATE accounts SET credits_posted = '5' WHERE id = 'burn'",
            [],
        )
        .unwrap();
    drop(connection);
    let audit = numerus(&["ledger", "--data-dir", dir_text, "audit"]);
    assert_eq!(audit.status.code(), Some(1));
    let text = stdout(&audit);
    assert!(
        text.contains("audit found") && text.contains("burn:"),
        "{text}"
    );
}
