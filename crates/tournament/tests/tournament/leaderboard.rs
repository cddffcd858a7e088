//! Leaderboards, reputation and seasons from hand-computed examples (reference §2.5). Scores
//! are multiples of powers of two wherever possible, so means are exact and compared with `==`.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use numerus_tournament::leaderboard::{
    Average, FinalScore, RankedRow, Row, SeasonRule, Tier, TierRule, account_reputation,
    account_rounds, page, rank, reputation, season, season_of,
};

const NMR: u128 = 1_000_000_000_000_000_000;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn scores(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs
        .iter()
        .map(|&(name, score)| (name.to_owned(), score))
        .collect()
}

fn staked(
    round: u32,
    resolved_at: &str,
    model: u64,
    account: u64,
    at_risk: u128,
    pairs: &[(&str, f64)],
) -> FinalScore {
    FinalScore {
        round,
        resolved_at: at(resolved_at),
        model,
        account,
        on_time: true,
        at_risk,
        scores: scores(pairs),
    }
}

fn row(id: u64, name: &str, stake: u128, score: Option<f64>) -> Row {
    Row {
        id,
        name: name.to_owned(),
        stake,
        score,
    }
}

fn ranks_and_ids(ranked: &[RankedRow]) -> Vec<(usize, u64)> {
    ranked
        .iter()
        .map(|ranked| (ranked.rank, ranked.row.id))
        .collect()
}

// Leaderboard order.

#[test]
fn missing_scores_rank_last() {
    let ranked = rank(vec![
        row(1, "a", 0, Some(0.02)),
        row(2, "b", 0, None),
        row(3, "c", 0, Some(-0.01)),
        row(4, "d", 5, None),
    ]);
    // Both missing rows get rank 1 + 2 scored rows; among them the larger stake comes first.
    assert_eq!(ranks_and_ids(&ranked), [(1, 1), (2, 3), (3, 4), (3, 2)]);
}

#[test]
fn nan_and_infinite_scores_are_treated_as_missing() {
    let ranked = rank(vec![
        row(1, "nan", 9, Some(f64::NAN)),
        row(2, "infinite", 8, Some(f64::INFINITY)),
        row(3, "zero", 0, Some(0.0)),
        row(4, "none", 0, None),
    ]);
    assert_eq!(ranks_and_ids(&ranked), [(1, 3), (2, 1), (2, 2), (2, 4)]);
    assert!(ranked[1..].iter().all(|ranked| ranked.row.score.is_none()));
}

#[test]
fn equal_scores_share_rank_and_order_by_stake_then_name() {
    let ranked = rank(vec![
        row(1, "x", 1, Some(0.05)),
        row(2, "y", 2, Some(0.03)),
        row(3, "zed", 5, Some(0.03)),
        row(4, "alpha", 5, Some(0.03)),
        row(5, "v", 100, Some(0.01)),
    ]);
    // Competition ranking "1 2 2 2 5": stake 5 before stake 2, then "alpha" before "zed".
    assert_eq!(
        ranks_and_ids(&ranked),
        [(1, 1), (2, 4), (2, 3), (2, 2), (5, 5)]
    );
}

#[test]
fn negative_and_positive_zero_are_equal_scores() {
    let ranked = rank(vec![row(1, "a", 0, Some(-0.0)), row(2, "b", 1, Some(0.0))]);
    assert_eq!(ranks_and_ids(&ranked), [(1, 2), (1, 1)]);
}

#[test]
fn ranking_does_not_depend_on_input_order() {
    let rows = vec![
        row(1, "same", 3, Some(0.5)),
        row(2, "same", 3, Some(0.5)),
        row(3, "other", 3, None),
        row(4, "b", 7, Some(0.25)),
        row(5, "a", 7, Some(0.25)),
    ];
    let mut reversed = rows.clone();
    reversed.reverse();
    let forward = rank(rows);
    assert_eq!(forward, rank(reversed));
    // Equal score, stake and name fall back to the id.
    assert_eq!(
        ranks_and_ids(&forward),
        [(1, 1), (1, 2), (3, 5), (3, 4), (5, 3)]
    );
}

#[test]
fn ranking_nothing_gives_nothing() {
    assert!(rank(Vec::new()).is_empty());
}

#[test]
fn paging_skips_offset_and_takes_at_most_limit() {
    let items = [1, 2, 3, 4, 5];
    assert_eq!(page(&items, 0, 2), [1, 2]);
    assert_eq!(page(&items, 1, 2), [2, 3]);
    assert_eq!(page(&items, 4, 10), [5]);
    assert!(page(&items, 9, 2).is_empty());
    assert!(page(&items, 0, 0).is_empty());
    assert_eq!(page(&items, 2, usize::MAX), [3, 4, 5]);
}

// Reputation.

#[test]
fn reputation_counts_only_the_last_year() {
    let now = at("2026-06-01T00:00:00Z");
    // 365 days before `now` is 2025-06-01T00:00:00Z, which is just outside the window.
    let finals = vec![
        staked(1, "2024-06-01T00:00:00Z", 1, 10, 0, &[("corr", -5.0)]),
        staked(2, "2025-06-01T00:00:00Z", 1, 10, 0, &[("corr", 7.0)]),
        staked(
            3,
            "2025-06-01T00:00:01Z",
            1,
            10,
            0,
            &[("corr", 0.125), ("mmc", 0.5)],
        ),
        staked(4, "2026-06-01T00:00:00Z", 1, 10, 0, &[("corr", 0.375)]),
        staked(5, "2026-06-01T00:00:01Z", 1, 10, 0, &[("corr", 9.0)]),
        staked(1, "2024-06-01T00:00:00Z", 2, 10, 0, &[("corr", 1.0)]),
    ];
    let reputations = reputation(&finals, now, 365);
    assert_eq!(reputations.keys().copied().collect::<Vec<_>>(), [1]);
    let model = &reputations[&1];
    assert_eq!(
        model.scores["corr"],
        Average {
            mean: 0.25,
            rounds: 2
        }
    );
    assert_eq!(
        model.scores["mmc"],
        Average {
            mean: 0.5,
            rounds: 1
        }
    );
    assert_eq!(model.mean("fnc"), None);
}

#[test]
fn reputation_skips_undefined_and_nan_scores() {
    let finals = vec![
        staked(1, "2026-01-01T00:00:00Z", 1, 10, 0, &[("corr", f64::NAN)]),
        staked(2, "2026-01-02T00:00:00Z", 1, 10, 0, &[("corr", 0.5)]),
        staked(3, "2026-01-03T00:00:00Z", 1, 10, 0, &[]),
    ];
    let reputations = reputation(&finals, at("2026-02-01T00:00:00Z"), 365);
    assert_eq!(
        reputations[&1].scores["corr"],
        Average {
            mean: 0.5,
            rounds: 1
        }
    );
    assert_eq!(reputations[&1].scores.len(), 1);
}

#[test]
fn account_score_is_stake_weighted_mean_of_its_models() {
    let time = "2026-03-03T14:00:00Z";
    let late = FinalScore {
        on_time: false,
        ..staked(100, time, 3, 7, 0, &[("corr", 1.0)])
    };
    let finals = vec![
        staked(100, time, 1, 7, 3 * NMR, &[("corr", 0.5)]),
        staked(100, time, 2, 7, NMR, &[("corr", -0.5)]),
        late,
    ];
    let rounds = account_rounds(&finals);
    assert_eq!(rounds.len(), 1);
    let round = &rounds[0];
    assert_eq!((round.account, round.round), (7, 100));
    assert_eq!(round.resolved_at, at(time));
    assert!(round.on_time);
    assert_eq!(round.at_risk, 4 * NMR);
    // (3 × 0.5 + 1 × -0.5 + 0 × 1.0) / 4 = 0.25; the late, unstaked model weighs nothing.
    assert_eq!(round.scores["corr"], 0.25);
}

#[test]
fn unstaked_account_round_is_a_plain_mean() {
    let time = "2026-03-03T14:00:00Z";
    let finals = vec![
        staked(100, time, 1, 7, 0, &[("corr", 0.5)]),
        staked(100, time, 2, 7, 0, &[("corr", 0.25)]),
    ];
    let rounds = account_rounds(&finals);
    assert_eq!(rounds[0].scores["corr"], 0.375);
    assert_eq!(rounds[0].at_risk, 0);
}

#[test]
fn account_score_weighs_only_models_with_that_score() {
    let time = "2026-03-03T14:00:00Z";
    let finals = vec![
        staked(100, time, 1, 7, NMR, &[("corr", 0.5), ("mmc", 0.25)]),
        staked(
            100,
            time,
            2,
            7,
            3 * NMR,
            &[("corr", 0.0), ("mmc", f64::NAN)],
        ),
    ];
    let scores = &account_rounds(&finals)[0].scores;
    assert_eq!(scores["corr"], 0.125);
    assert_eq!(scores["mmc"], 0.25);
}

#[test]
fn account_rounds_are_per_account_and_round() {
    let finals = vec![
        staked(2, "2026-01-02T00:00:00Z", 1, 8, NMR, &[("corr", 0.5)]),
        staked(1, "2026-01-01T00:00:00Z", 2, 7, NMR, &[("corr", 0.25)]),
        staked(2, "2026-01-02T00:00:00Z", 3, 7, NMR, &[("corr", 0.75)]),
    ];
    let keys: Vec<_> = account_rounds(&finals)
        .iter()
        .map(|round| (round.account, round.round, round.scores["corr"]))
        .collect();
    assert_eq!(keys, [(7, 1, 0.25), (7, 2, 0.75), (8, 2, 0.5)]);
}

#[test]
fn account_reputation_is_the_mean_of_its_round_scores_over_the_last_year() {
    let finals = vec![
        // Round 1: (1 × 1.0 + 3 × 0.0) / 4 = 0.25.
        staked(1, "2026-01-01T00:00:00Z", 1, 7, NMR, &[("corr", 1.0)]),
        staked(1, "2026-01-01T00:00:00Z", 2, 7, 3 * NMR, &[("corr", 0.0)]),
        // Round 2: 0.75.
        staked(2, "2026-01-02T00:00:00Z", 1, 7, NMR, &[("corr", 0.75)]),
        // Over a year old.
        staked(0, "2024-01-01T00:00:00Z", 1, 7, NMR, &[("corr", 100.0)]),
    ];
    let reputations = account_reputation(&finals, at("2026-02-01T00:00:00Z"), 365);
    assert_eq!(
        reputations[&7].scores["corr"],
        Average {
            mean: 0.5,
            rounds: 2
        }
    );
}

// Seasons.

/// One model per account: `(account, on_time, at_risk, payout)` for each round, the rounds
/// resolving on consecutive days of 2026 from 1 January.
fn season_finals(
    rounds: u32,
    results: impl Fn(u32, u64) -> Option<(bool, u128, f64)>,
) -> Vec<FinalScore> {
    let start = at("2026-01-01T14:00:00Z");
    let mut finals = Vec::new();
    for round in 1..=rounds {
        let resolved_at = start + SignedDuration::from_hours(24 * i64::from(round - 1));
        for account in 1..=1000 {
            if let Some((on_time, at_risk, payout)) = results(round, account) {
                finals.push(FinalScore {
                    round,
                    resolved_at,
                    model: account * 10,
                    account,
                    on_time,
                    at_risk,
                    scores: scores(&[("payout", payout)]),
                });
            }
        }
    }
    finals
}

fn end_of_2026() -> Timestamp {
    at("2026-12-31T23:59:59Z")
}

#[test]
fn late_or_under_one_nmr_round_does_not_qualify() {
    let time = |round: u32| format!("2026-01-0{round}T14:00:00Z");
    let late = FinalScore {
        on_time: false,
        ..staked(2, &time(2), 1, 7, 0, &[("payout", 0.5)])
    };
    let finals = vec![
        // Exactly 1 NMR on time: qualifies.
        staked(1, &time(1), 1, 7, NMR, &[("payout", 0.5)]),
        // Late: does not qualify.
        late,
        // One base unit short of 1 NMR: does not qualify.
        staked(3, &time(3), 1, 7, NMR - 1, &[("payout", 0.5)]),
        // Two models of 0.5 NMR each: 1 NMR in total, qualifies.
        staked(4, &time(4), 1, 7, NMR / 2, &[("payout", 0.25)]),
        staked(4, &time(4), 2, 7, NMR / 2, &[("payout", 0.25)]),
    ];
    let rule = SeasonRule {
        qualified_rounds_min: 2,
        ..SeasonRule::classic()
    };
    let season = season(&finals, 2026, end_of_2026(), &rule);
    assert_eq!(season.rounds, 4);
    let standing = &season.standings[0];
    assert_eq!(standing.qualified_rounds, 2);
    // (0.5 + 0 + 0 + 0.25) / 4 rounds.
    assert_eq!(standing.score, 0.1875);
    assert_eq!(standing.rank, Some(1));
    assert_eq!(standing.tier, Tier::Grandmaster);
}

#[test]
fn novice_below_twenty_qualified_rounds() {
    let finals = season_finals(20, |round, account| match account {
        1 => Some((true, NMR, 0.25)),
        // A better score, but late in round 20: only 19 qualified rounds.
        2 => Some((round < 20, if round < 20 { NMR } else { 0 }, 0.5)),
        _ => None,
    });
    let season = season(&finals, 2026, end_of_2026(), &SeasonRule::classic());
    assert_eq!(season.rounds, 20);
    let standings: Vec<_> = season
        .standings
        .iter()
        .map(|standing| {
            (
                standing.account,
                standing.score,
                standing.qualified_rounds,
                standing.rank,
                standing.tier,
            )
        })
        .collect();
    assert_eq!(
        standings,
        [
            (1, 0.25, 20, Some(1), Tier::Grandmaster),
            (2, 0.475, 19, None, Tier::Novice),
        ]
    );
}

#[test]
fn season_score_counts_zero_for_rounds_the_account_missed() {
    // Account 2 plays only round 1 of 4, the other rounds count 0.
    let finals = season_finals(4, |round, account| match (round, account) {
        (_, 1) => Some((true, NMR, 0.0)),
        (1, 2) => Some((true, NMR, 1.0)),
        _ => None,
    });
    let rule = SeasonRule {
        qualified_rounds_min: 1,
        ..SeasonRule::classic()
    };
    let season = season(&finals, 2026, end_of_2026(), &rule);
    let scores: Vec<_> = season
        .standings
        .iter()
        .map(|standing| (standing.account, standing.score))
        .collect();
    assert_eq!(scores, [(2, 0.25), (1, 0.0)]);
}

#[test]
fn classic_tiers_for_a_season() {
    // 120 eligible accounts, account k scoring (200 - k) / 1024 every round, and a Novice.
    let finals = season_finals(20, |round, account| match account {
        1..=120 => Some((true, NMR, (200 - account) as f64 / 1024.0)),
        999 if round == 1 => Some((true, NMR, 1.0)),
        _ => None,
    });
    let season = season(&finals, 2026, end_of_2026(), &SeasonRule::classic());
    let tier_of = |account: u64| {
        season
            .standings
            .iter()
            .find(|standing| standing.account == account)
            .unwrap()
            .tier
    };
    let expected = |account: u64| match account {
        1 => Tier::Grandmaster,
        2..=10 => Tier::Master,
        11..=100 => Tier::Expert,
        // 20 accounts below rank 100: thirds of 7, 7 and 6.
        101..=107 => Tier::Researcher,
        108..=114 => Tier::Contributor,
        _ => Tier::Apprentice,
    };
    for account in 1..=120 {
        assert_eq!(tier_of(account), expected(account), "account {account}");
    }
    assert_eq!(tier_of(999), Tier::Novice);
    let ranks: Vec<_> = season
        .standings
        .iter()
        .map(|standing| standing.rank)
        .collect();
    let mut expected_ranks: Vec<_> = (1..=120).map(Some).collect();
    expected_ranks.push(None);
    assert_eq!(ranks, expected_ranks);
}

#[test]
fn tied_season_scores_share_rank_and_tier_ordered_by_stake() {
    // 12 accounts; 10 and 11 tie for rank 10 and are both Masters, 11 first for its stake.
    let finals = season_finals(20, |_, account| match account {
        1..=10 => Some((true, NMR, (100 - account) as f64 / 1024.0)),
        11 => Some((true, 2 * NMR, 90.0 / 1024.0)),
        12 => Some((true, NMR, 0.0)),
        _ => None,
    });
    let season = season(&finals, 2026, end_of_2026(), &SeasonRule::classic());
    let tail: Vec<_> = season.standings[8..]
        .iter()
        .map(|standing| (standing.account, standing.rank, standing.tier))
        .collect();
    assert_eq!(
        tail,
        [
            (9, Some(9), Tier::Master),
            (11, Some(10), Tier::Master),
            (10, Some(10), Tier::Master),
            (12, Some(12), Tier::Expert),
        ]
    );
}

fn tier_counts(rule: &TierRule, eligible: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for rank in 1..=eligible {
        *counts
            .entry(format!("{:?}", rule.tier(rank, eligible)))
            .or_default() += 1;
    }
    counts
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs
        .iter()
        .map(|&(tier, count)| (tier.to_owned(), count))
        .collect()
}

#[test]
fn thirds_split_when_not_divisible() {
    let classic = TierRule::classic();
    let top = [("Grandmaster", 1), ("Master", 9), ("Expert", 90)];
    let with = |thirds: &[(&'static str, usize)]| {
        counts(&top.iter().chain(thirds).copied().collect::<Vec<_>>())
    };
    // The upper thirds round up: 7 → 3, 2, 2; 8 → 3, 3, 2; 1 → 1, 0, 0; 2 → 1, 1, 0.
    assert_eq!(
        tier_counts(&classic, 107),
        with(&[("Researcher", 3), ("Contributor", 2), ("Apprentice", 2)])
    );
    assert_eq!(
        tier_counts(&classic, 108),
        with(&[("Researcher", 3), ("Contributor", 3), ("Apprentice", 2)])
    );
    assert_eq!(
        tier_counts(&classic, 109),
        with(&[("Researcher", 3), ("Contributor", 3), ("Apprentice", 3)])
    );
    assert_eq!(tier_counts(&classic, 101), with(&[("Researcher", 1)]));
    assert_eq!(
        tier_counts(&classic, 102),
        with(&[("Researcher", 1), ("Contributor", 1)])
    );
    assert_eq!(tier_counts(&classic, 100), with(&[]));
    assert_eq!(
        tier_counts(&classic, 5),
        counts(&[("Grandmaster", 1), ("Master", 4)])
    );
}

#[test]
fn signals_tiers_are_percentiles_rounded_up() {
    let signals = TierRule::signals();
    assert_eq!(
        tier_counts(&signals, 10),
        counts(&[
            ("Expert", 3),
            ("Researcher", 2),
            ("Contributor", 3),
            ("Apprentice", 2)
        ])
    );
    assert_eq!(
        tier_counts(&signals, 8),
        counts(&[
            ("Expert", 2),
            ("Researcher", 2),
            ("Contributor", 2),
            ("Apprentice", 2)
        ])
    );
    assert_eq!(tier_counts(&signals, 1), counts(&[("Expert", 1)]));
}

#[test]
fn season_is_the_utc_year_of_resolution_so_far() {
    assert_eq!(season_of(at("2025-12-31T23:59:59Z")), 2025);
    assert_eq!(season_of(at("2026-01-01T00:00:00Z")), 2026);
    let finals = vec![
        staked(1, "2025-12-31T23:59:59Z", 1, 7, NMR, &[("payout", 1.0)]),
        staked(2, "2026-01-01T00:00:00Z", 1, 7, NMR, &[("payout", 0.5)]),
        staked(3, "2026-01-02T00:00:00Z", 1, 7, NMR, &[("payout", 0.25)]),
        // Resolves after `now`: not yet part of the season.
        staked(4, "2026-01-03T00:00:00Z", 1, 7, NMR, &[("payout", 1.0)]),
    ];
    let rule = SeasonRule {
        qualified_rounds_min: 1,
        ..SeasonRule::classic()
    };
    let season = season(&finals, 2026, at("2026-01-02T12:00:00Z"), &rule);
    assert_eq!(season.year, 2026);
    assert_eq!(season.rounds, 2);
    assert_eq!(season.standings[0].qualified_rounds, 2);
    assert_eq!(season.standings[0].score, 0.375);
}

#[test]
fn empty_season_has_no_standings() {
    let season = season(&[], 2026, end_of_2026(), &SeasonRule::classic());
    assert_eq!(season.rounds, 0);
    assert!(season.standings.is_empty());
}

#[test]
fn season_rules_default_to_one_nmr_and_twenty_rounds_on_payout() {
    for rule in [SeasonRule::classic(), SeasonRule::signals()] {
        assert_eq!(rule.at_risk_min, NMR);
        assert_eq!(rule.qualified_rounds_min, 20);
        assert_eq!(rule.score_name, "payout");
    }
    assert_eq!(SeasonRule::classic().tiers, TierRule::classic());
    assert_eq!(SeasonRule::signals().tiers, TierRule::signals());
}
