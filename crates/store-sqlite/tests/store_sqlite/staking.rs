//! Staking rules end to end: at-risk at close, payouts, burns, releases, withdrawals, buybacks.

use std::collections::BTreeMap;

use numerus_ledger::staking::{Gate, GateDecision, OpenGate, RoundState, SubmissionStatus};
use numerus_ledger::{
    AccountId, LedgerError, LedgerView, ModelId, Nmr, Outcome, Release, RoundKey, Store,
    SupplyReport, audit,
};

use crate::fixture::*;

fn on_time(models: &[ModelId]) -> BTreeMap<ModelId, SubmissionStatus> {
    models
        .iter()
        .map(|model| (*model, SubmissionStatus::OnTime))
        .collect()
}

fn supply(fixture: &Fixture) -> SupplyReport {
    let store = fixture.ledger.store();
    SupplyReport::new(
        &store.balances().unwrap(),
        &store.burned_by_round().unwrap(),
    )
}

#[test]
fn late_upload_is_scored_but_not_staked() {
    let mut fixture = Fixture::new();
    fixture.stake(ALPHA, "100");
    fixture.stake(BETA, "100");
    fixture.open(1, 0);
    let submissions = BTreeMap::from([(ALPHA, SubmissionStatus::Late)]);
    fixture
        .ledger
        .close_round(round(1), &submissions, &OpenGate, days(1))
        .unwrap();
    let stakes = fixture.ledger.store().round_stakes(round(1)).unwrap();
    assert_eq!(stakes.len(), 2);
    assert_eq!(
        (stakes[0].at_risk, stakes[0].zero_reason.as_deref()),
        (Nmr::ZERO, Some("late submission"))
    );
    assert_eq!(
        (stakes[1].at_risk, stakes[1].zero_reason.as_deref()),
        (Nmr::ZERO, Some("no valid submission"))
    );
    fixture.ledger.score_round(round(1), days(5)).unwrap();
    // Nothing at risk: no scores needed, nothing paid or burned.
    fixture
        .ledger
        .settle_round(round(1), &BTreeMap::new(), days(28))
        .unwrap();
    assert_eq!(fixture.posted(AccountId::Stake(ALPHA)), nmr("100"));
}

struct ChurnGate;

impl Gate for ChurnGate {
    fn decide(&self, _round: RoundKey, model: ModelId) -> GateDecision {
        if model == BETA {
            GateDecision::Zero("churn above 15%".into())
        } else {
            GateDecision::Pass
        }
    }
}

#[test]
fn a_gate_can_set_at_risk_to_zero() {
    let mut fixture = Fixture::new();
    fixture.stake(ALPHA, "10");
    fixture.stake(BETA, "10");
    fixture.open(1, 0);
    fixture
        .ledger
        .close_round(round(1), &on_time(&[ALPHA, BETA]), &ChurnGate, days(1))
        .unwrap();
    let stakes = fixture.ledger.store().round_stakes(round(1)).unwrap();
    assert_eq!(stakes[0].at_risk, nmr("10"));
    assert_eq!(
        (stakes[1].at_risk, stakes[1].zero_reason.as_deref()),
        (Nmr::ZERO, Some("churn above 15%"))
    );
}

#[test]
fn payouts_compound_from_the_treasury_and_burns_are_destroyed() {
    let mut fixture = Fixture::new();
    fixture.stake(ALPHA, "600");
    fixture.stake(BETA, "400");
    fixture.open(1, 0);
    fixture
        .ledger
        .close_round(round(1), &on_time(&[ALPHA, BETA]), &OpenGate, days(1))
        .unwrap();
    // Total at risk 1,000 = the threshold: payout factor 1.
    fixture.ledger.score_round(round(1), days(5)).unwrap();
    let scores = BTreeMap::from([(ALPHA, corr("0.03")), (BETA, corr("-0.2"))]);
    let early = fixture.ledger.settle_round(round(1), &scores, days(27));
    assert!(
        matches!(early, Err(LedgerError::TooEarly { .. })),
        "{early:?}"
    );
    fixture
        .ledger
        .settle_round(round(1), &scores, days(28))
        .unwrap();
    assert_eq!(fixture.posted(AccountId::Stake(ALPHA)), nmr("618")); // 600 × 0.03
    assert_eq!(fixture.posted(AccountId::Stake(BETA)), nmr("380")); // 400 × −0.05 (clipped)
    assert_eq!(fixture.posted(AccountId::Treasury), nmr("2999982"));
    let supply = supply(&fixture);
    assert!(supply.balanced);
    assert_eq!(supply.burned, nmr("20"));
    assert_eq!(supply.burned_by_round.get("8/1"), Some(&nmr("20")));
    assert_eq!(supply.staked, nmr("998"));
    assert!(audit::audit(fixture.ledger.store()).unwrap().is_clean());
}

#[test]
fn the_payout_factor_is_fixed_at_score_time() {
    let mut fixture = Fixture::new();
    fixture.stake(ALPHA, "1000");
    fixture
        .ledger
        .deposit(ALICE, nmr("1000"), &tx(2), t0())
        .unwrap();
    fixture.stake(BETA, "1000");
    fixture.open(1, 0);
    fixture
        .ledger
        .close_round(round(1), &on_time(&[ALPHA, BETA]), &OpenGate, days(1))
        .unwrap();
    fixture.ledger.score_round(round(1), days(5)).unwrap();
    let state = fixture
        .ledger
        .store()
        .round(round(1))
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(
        state,
        RoundState::Scored {
            total_at_risk: nmr("2000"),
            payout_factor: rate("0.5")
        }
    );
    // Stakes moving after score time change nothing.
    fixture
        .ledger
        .release_stake("out", BETA, Release::Drain, days(6))
        .unwrap();
    let scores = BTreeMap::from([(ALPHA, corr("0.04")), (BETA, corr("0.04"))]);
    fixture
        .ledger
        .settle_round(round(1), &scores, days(28))
        .unwrap();
    assert_eq!(fixture.posted(AccountId::Stake(ALPHA)), nmr("1020")); // 1000 × 0.5 × 0.04
}

#[test]
fn a_release_waits_for_the_last_active_round_can_be_burned_and_earns_nothing() {
    let mut fixture = Fixture::new();
    let wallet = AccountId::Wallet(ALICE);
    fixture.stake(ALPHA, "100");
    for (number, day) in [(1, 0), (2, 1)] {
        fixture.open(number, day);
        fixture
            .ledger
            .close_round(round(number), &on_time(&[ALPHA]), &OpenGate, days(day + 1))
            .unwrap();
        fixture
            .ledger
            .score_round(round(number), days(day + 5))
            .unwrap();
    }
    fixture
        .ledger
        .release_stake("drain", ALPHA, Release::Drain, days(7))
        .unwrap();
    assert_eq!(fixture.posted(AccountId::Stake(ALPHA)), Nmr::ZERO);
    assert_eq!(fixture.posted(AccountId::PendingRelease(ALPHA)), nmr("100"));
    assert_eq!(fixture.posted(wallet), nmr("900"));
    let request = &fixture.ledger.store().open_releases(ALPHA).unwrap()[0];
    assert_eq!(
        (request.release_round, request.at_risk_in.clone()),
        (Some(round(2)), vec![round(1), round(2)])
    );

    // Round 1 pays +5 %: the pending amount earns nothing.
    fixture
        .ledger
        .settle_round(round(1), &BTreeMap::from([(ALPHA, corr("0.05"))]), days(28))
        .unwrap();
    assert_eq!(fixture.posted(AccountId::Treasury), nmr("3000000"));
    // Round 2 burns 5 % from the pending release, then pays the rest out.
    fixture
        .ledger
        .settle_round(
            round(2),
            &BTreeMap::from([(ALPHA, corr("-0.05"))]),
            days(29),
        )
        .unwrap();
    assert_eq!(fixture.posted(AccountId::PendingRelease(ALPHA)), Nmr::ZERO);
    assert_eq!(fixture.posted(wallet), nmr("995"));
    assert!(
        fixture
            .ledger
            .store()
            .open_releases(ALPHA)
            .unwrap()
            .is_empty()
    );
    assert!(audit::audit(fixture.ledger.store()).unwrap().is_clean());
}

#[test]
fn a_release_with_no_active_round_returns_to_the_wallet_at_once() {
    let mut fixture = Fixture::new();
    fixture.stake(ALPHA, "100");
    fixture
        .ledger
        .release_stake("some", ALPHA, Release::Amount(nmr("30.5")), t0())
        .unwrap();
    assert_eq!(fixture.posted(AccountId::Stake(ALPHA)), nmr("69.5"));
    assert_eq!(fixture.posted(AccountId::Wallet(ALICE)), nmr("930.5"));
    let drain = fixture
        .ledger
        .release_stake("none", BETA, Release::Drain, t0());
    assert!(
        matches!(drain, Err(LedgerError::NotPositive { .. })),
        "{drain:?}"
    );
}

#[test]
fn small_withdrawals_wait_thirty_days_and_holds_reserve_the_amount() {
    let mut fixture = Fixture::new();
    let wallet = AccountId::Wallet(ALICE);
    let early = fixture
        .ledger
        .request_withdrawal("w0", ALICE, nmr("0.1"), "0xabc", days(29));
    assert!(
        matches!(
            early,
            Err(LedgerError::WithdrawalTooEarly { age_days: 29, .. })
        ),
        "{early:?}"
    );
    // Above the small amount, age does not matter.
    assert_eq!(
        fixture
            .ledger
            .request_withdrawal("w1", ALICE, nmr("600"), "0xabc", t0())
            .unwrap(),
        Outcome::Applied
    );
    let stake = fixture.ledger.increase_stake("s", ALPHA, nmr("500"), t0());
    assert!(
        matches!(stake, Err(LedgerError::Insufficient { .. })),
        "the held 600 cannot be staked too"
    );
    fixture
        .ledger
        .complete_withdrawal("w1", &tx(9), t0())
        .unwrap();
    assert_eq!(fixture.posted(wallet), nmr("400"));
    fixture
        .ledger
        .request_withdrawal("w2", ALICE, nmr("0.1"), "0xabc", days(30))
        .unwrap();
    fixture.ledger.cancel_withdrawal("w2", days(30)).unwrap();
    assert_eq!(
        fixture
            .ledger
            .store()
            .balance(wallet)
            .unwrap()
            .unwrap()
            .available(),
        nmr("400")
    );
    let again = fixture.ledger.complete_withdrawal("w2", &tx(10), days(31));
    assert!(
        matches!(
            again,
            Err(LedgerError::HoldNotPending {
                state: "voided",
                ..
            })
        ),
        "{again:?}"
    );
    assert!(audit::audit(fixture.ledger.store()).unwrap().is_clean());
}

#[test]
fn a_buyback_moves_market_nmr_into_the_treasury_with_its_price() {
    let mut fixture = Fixture::new();
    fixture
        .ledger
        .buyback(nmr("123456.789"), rate("8.1"), &tx(7), t0())
        .unwrap();
    assert_eq!(fixture.posted(AccountId::Treasury), nmr("3123456.789"));
    let buybacks = fixture.ledger.store().buybacks().unwrap();
    assert_eq!(buybacks[0].fiat_usd_cents, 99_999_999); // 123456.789 × 8.1 = 999,999.9909 → $999,999.99
    let report = supply(&fixture);
    assert!(report.balanced);
    assert_eq!(
        report.circulating,
        nmr("11000000").checked_sub(nmr("3123456.789")).unwrap()
    );
}

#[test]
fn a_round_burns_only_releases_asked_for_after_it_closed() {
    let mut fixture = Fixture::new();
    fixture.stake(ALPHA, "100");
    fixture.open(1, 0);
    fixture
        .ledger
        .close_round(round(1), &on_time(&[ALPHA]), &OpenGate, days(1))
        .unwrap();
    fixture.ledger.score_round(round(1), days(2)).unwrap();
    // At risk in round 1 only.
    fixture
        .ledger
        .release_stake("first", ALPHA, Release::Amount(nmr("50")), days(2))
        .unwrap();
    fixture.open(2, 2);
    fixture
        .ledger
        .close_round(round(2), &on_time(&[ALPHA]), &OpenGate, days(3))
        .unwrap();
    fixture.ledger.score_round(round(2), days(4)).unwrap();
    // At risk in rounds 1 and 2.
    fixture
        .ledger
        .release_stake("second", ALPHA, Release::Drain, days(4))
        .unwrap();
    // Round 2 settles first and burns 5 % of its 50 at risk: from "second" only.
    fixture
        .ledger
        .settle_round(round(2), &BTreeMap::from([(ALPHA, corr("-0.1"))]), days(31))
        .unwrap();
    let remaining: Vec<_> = fixture
        .ledger
        .store()
        .open_releases(ALPHA)
        .unwrap()
        .iter()
        .map(|request| (request.id.to_string(), request.remaining))
        .collect();
    assert_eq!(remaining, vec![("release/first".to_owned(), nmr("50"))]);
    assert_eq!(fixture.posted(AccountId::Wallet(ALICE)), nmr("947.5")); // 900 + 47.5 released
    assert!(audit::audit(fixture.ledger.store()).unwrap().is_clean());
}
