//! Retries, conflicts, bad input and crashes: nothing applies twice, nothing half-applies.

use std::collections::BTreeMap;

use numerus_ledger::staking::{OpenGate, SubmissionStatus};
use numerus_ledger::{AccountId, LedgerError, Nmr, Outcome, Release, Store, audit};
use numerus_store_sqlite::{Fault, SqliteStore};

use crate::fixture::*;

#[test]
fn a_retried_deposit_applies_once() {
    let mut fixture = Fixture::new();
    let wallet = AccountId::Wallet(ALICE);
    assert_eq!(
        fixture
            .ledger
            .deposit(ALICE, nmr("5"), &tx(2), t0())
            .unwrap(),
        Outcome::Applied
    );
    assert_eq!(
        fixture
            .ledger
            .deposit(ALICE, nmr("5"), &tx(2), days(3))
            .unwrap(),
        Outcome::AlreadyApplied
    );
    assert_eq!(fixture.posted(wallet), nmr("1005"));
}

#[test]
fn the_same_id_with_other_content_is_a_conflict_and_changes_nothing() {
    let mut fixture = Fixture::new();
    let before = fixture.snapshot();
    let result = fixture.ledger.deposit(ALICE, nmr("6"), &tx(1), t0());
    assert!(
        matches!(result, Err(LedgerError::Conflict { .. })),
        "{result:?}"
    );
    assert_eq!(fixture.snapshot(), before);
}

#[test]
fn a_second_genesis_is_refused_and_the_first_retried_is_a_no_op() {
    let mut fixture = Fixture::new();
    let retried = fixture.ledger.genesis(
        Nmr::from_whole(3_000_000),
        Nmr::from_whole(8_000_000),
        days(1),
    );
    assert_eq!(retried.unwrap(), Outcome::AlreadyApplied);
    let second = fixture
        .ledger
        .genesis(Nmr::from_whole(1), Nmr::ZERO, days(1));
    assert!(
        matches!(second, Err(LedgerError::GenesisDone)),
        "{second:?}"
    );
}

#[test]
fn bad_requests_are_typed_errors_that_change_nothing() {
    let mut fixture = Fixture::new();
    let before = fixture.snapshot();
    let ledger = &mut fixture.ledger;
    let errors = [
        ledger
            .increase_stake("s0", ALPHA, Nmr::ZERO, t0())
            .unwrap_err(),
        ledger
            .increase_stake("s1", ALPHA, nmr("1000.000000000000000001"), t0())
            .unwrap_err(),
        ledger
            .increase_stake("s2", numerus_ledger::ModelId(99), nmr("1"), t0())
            .unwrap_err(),
        ledger
            .release_stake("r1", ALPHA, Release::Amount(nmr("1")), t0())
            .unwrap_err(),
        ledger.deposit(ALICE, nmr("1"), "0x12", t0()).unwrap_err(),
        ledger
            .settle_round(round(1), &BTreeMap::new(), t0())
            .unwrap_err(),
    ];
    assert!(matches!(errors[0], LedgerError::NotPositive { .. }));
    assert!(
        matches!(
            errors[1],
            LedgerError::Insufficient {
                account: AccountId::Wallet(ALICE),
                ..
            }
        ),
        "stake above the wallet: {}",
        errors[1]
    );
    assert!(matches!(errors[2], LedgerError::UnknownModel { .. }));
    assert!(matches!(errors[3], LedgerError::ReleaseAboveStake { .. }));
    assert!(matches!(errors[4], LedgerError::BadTxHash(_)));
    assert!(matches!(errors[5], LedgerError::UnknownRound { .. }));
    assert_eq!(
        errors[1].to_string(),
        "wallet:1 has 1000 NMR available; transfer stake/s1 needs 1000.000000000000000001 NMR"
    );
    assert_eq!(fixture.snapshot(), before);
}

/// Alpha stakes 100, beta 50; round 1 closes with both on time and is scored.
fn scored_round() -> Fixture {
    let mut fixture = Fixture::new();
    fixture.stake(ALPHA, "100");
    fixture.stake(BETA, "50");
    fixture.open(1, 0);
    let on_time = BTreeMap::from([
        (ALPHA, SubmissionStatus::OnTime),
        (BETA, SubmissionStatus::OnTime),
    ]);
    fixture
        .ledger
        .close_round(round(1), &on_time, &OpenGate, days(1))
        .unwrap();
    fixture.ledger.score_round(round(1), days(5)).unwrap();
    // Beta asks to release 20 after close: it is at risk in round 1, earns nothing there.
    fixture
        .ledger
        .release_stake("beta-out", BETA, Release::Amount(nmr("20")), days(6))
        .unwrap();
    fixture
}

fn final_scores() -> BTreeMap<numerus_ledger::ModelId, BTreeMap<String, numerus_ledger::Rate>> {
    BTreeMap::from([(ALPHA, corr("0.02")), (BETA, corr("-0.03"))])
}

#[test]
fn a_settlement_interrupted_after_any_write_and_rerun_ends_as_an_uninterrupted_one() {
    let mut reference = scored_round();
    reference
        .ledger
        .settle_round(round(1), &final_scores(), days(28))
        .unwrap();
    let expected = reference.ledger.store().balances().unwrap();
    let mut interrupted_at = 0;
    loop {
        let mut fixture = scored_round();
        let before = fixture.snapshot();
        fixture.ledger.store_mut().inject_fault(Some(Fault {
            fail_after_writes: interrupted_at,
        }));
        match fixture
            .ledger
            .settle_round(round(1), &final_scores(), days(28))
        {
            Ok(outcome) => {
                // The fault came after the last write: the settlement is whole.
                assert_eq!(outcome, Outcome::Applied);
                assert_eq!(fixture.ledger.store().balances().unwrap(), expected);
                break;
            }
            Err(LedgerError::Store(_)) => {}
            Err(other) => panic!("unexpected error {other}"),
        }
        let mut fixture = fixture.reopen();
        assert_eq!(
            fixture.snapshot(),
            before,
            "a crash after {interrupted_at} writes left a trace"
        );
        assert_eq!(
            fixture
                .ledger
                .settle_round(round(1), &final_scores(), days(29))
                .unwrap(),
            Outcome::Applied
        );
        assert_eq!(fixture.ledger.store().balances().unwrap(), expected);
        assert!(audit::audit(fixture.ledger.store()).unwrap().is_clean());
        interrupted_at += 1;
    }
    assert!(
        interrupted_at > 5,
        "the settlement should take several writes, took {interrupted_at}"
    );
}

#[test]
fn a_settlement_whose_reply_was_lost_is_not_applied_again() {
    let mut fixture = scored_round();
    fixture
        .ledger
        .settle_round(round(1), &final_scores(), days(28))
        .unwrap();
    let after = fixture.snapshot();
    let mut fixture = fixture.reopen();
    assert_eq!(
        fixture
            .ledger
            .settle_round(round(1), &final_scores(), days(30))
            .unwrap(),
        Outcome::AlreadyApplied
    );
    assert_eq!(fixture.snapshot(), after);
    let other_scores = BTreeMap::from([(ALPHA, corr("0.05")), (BETA, corr("0"))]);
    let conflict = fixture
        .ledger
        .settle_round(round(1), &other_scores, days(30));
    assert!(
        matches!(conflict, Err(LedgerError::Conflict { .. })),
        "{conflict:?}"
    );
}

#[test]
fn two_processes_settling_one_round_at_once_apply_it_once() {
    let fixture = scored_round();
    let path = fixture.dir.database();
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let path = path.clone();
                scope.spawn(move || {
                    let mut ledger = numerus_ledger::Ledger::new(SqliteStore::open(&path).unwrap());
                    ledger
                        .settle_round(round(1), &final_scores(), days(28))
                        .unwrap()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .collect()
    });
    let mut sorted = outcomes.clone();
    sorted.sort_by_key(|outcome| *outcome == Outcome::AlreadyApplied);
    assert_eq!(sorted, vec![Outcome::Applied, Outcome::AlreadyApplied]);
    let mut reference = scored_round();
    reference
        .ledger
        .settle_round(round(1), &final_scores(), days(28))
        .unwrap();
    let fixture = fixture.reopen();
    assert_eq!(
        fixture.ledger.store().balances().unwrap(),
        reference.ledger.store().balances().unwrap()
    );
    let _ = fixture.path();
}

#[test]
fn the_audit_finds_a_balance_edited_behind_the_ledgers_back() {
    let fixture = scored_round();
    assert!(audit::audit(fixture.ledger.store()).unwrap().is_clean());
    let connection = rusqlite::Connection::open(fixture.dir.database()).unwrap();
    connection
        .execute(
            "UPDATE accounts SET credits_posted = '1' WHERE id = 'treasury'",
            [],
        )
        .unwrap();
    let report = audit::audit(fixture.ledger.store()).unwrap();
    assert!(!report.is_clean());
    assert!(
        report
            .problems
            .iter()
            .any(|problem| problem.starts_with("treasury")),
        "{:?}",
        report.problems
    );
}
