//! Leaderboards, reputation and seasons, computed from resolved rounds' final scores
//! (reference §2.5).
//!
//! The input is one [`FinalScore`] per model per resolved round. From it:
//! - [`reputation`]: a model's reputation, the mean of its final scores over the last year;
//! - [`account_rounds`] and [`account_reputation`]: an account's score in a round, the
//!   stake-weighted average of its models' scores, and the mean of those over the last year;
//! - [`rank`] and [`page`]: the leaderboard order and competition ranks of any rows, models or
//!   accounts;
//! - [`season`]: an account's Grandmasters season score, qualified rounds, rank and [`Tier`]
//!   under a [`SeasonRule`].
//!
//! Scores are `f64` (they are scores, not money); stakes stay in integer NMR base units
//! (1e-18 NMR) and become `f64` only as weights. A score that is absent or not finite (NaN,
//! ±∞) is *undefined*: it is skipped by every mean and ranks last, so no NaN reaches an output.
//! The input is expected to hold one record per model and round; a repeated record is counted
//! again.
//!
//! ```
//! use numerus_tournament::leaderboard::{Row, rank};
//!
//! let row = |id, name: &str, score| Row { id, name: name.into(), stake: 0, score };
//! let ranked = rank(vec![row(1, "a", Some(0.01)), row(2, "b", None), row(3, "c", Some(0.02))]);
//! let order: Vec<_> = ranked.iter().map(|ranked| (ranked.rank, ranked.row.id)).collect();
//! assert_eq!(order, [(1, 3), (2, 1), (3, 2)]);
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Base units in one NMR.
const ONE_NMR: u128 = 1_000_000_000_000_000_000;

/// The reputation window Numerai uses: one year of resolved rounds.
pub const REPUTATION_WINDOW_DAYS: u32 = 365;

/// One model's final scores in one resolved round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalScore {
    /// The round's number.
    pub round: u32,
    /// When the round resolved.
    pub resolved_at: Timestamp,
    /// The model.
    pub model: u64,
    /// The account that owns the model.
    pub account: u64,
    /// Whether a valid on-time submission was selected for the round.
    pub on_time: bool,
    /// NMR at risk in base units (1e-18 NMR); 0 when late or unstaked.
    pub at_risk: u128,
    /// Final scores by name (`"corr"`, `"mmc"`, `"payout"`…); an absent or non-finite score is
    /// undefined.
    pub scores: BTreeMap<String, f64>,
}

/// The mean of one score over some rounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Average {
    /// The mean.
    pub mean: f64,
    /// How many rounds it averages (at least 1).
    pub rounds: u32,
}

/// A model's or account's reputation: for each score name, the mean of its defined values
/// over the window. A name with no defined value in the window is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reputation {
    /// The averages, by score name.
    pub scores: BTreeMap<String, Average>,
}

impl Reputation {
    /// The mean of score `name`, if it was defined in some round of the window.
    pub fn mean(&self, name: &str) -> Option<f64> {
        self.scores.get(name).map(|average| average.mean)
    }
}

/// Model reputation (reference §2.5): for each model with a record resolved in
/// `now - window_days < resolved_at <= now`, the mean of each of its final scores over those
/// rounds. Usually `window_days` is [`REPUTATION_WINDOW_DAYS`].
pub fn reputation(
    finals: &[FinalScore],
    now: Timestamp,
    window_days: u32,
) -> BTreeMap<u64, Reputation> {
    let records = finals.iter().map(|final_score| {
        (
            final_score.model,
            final_score.resolved_at,
            &final_score.scores,
        )
    });
    average_in_window(records, now, window_days)
}

/// An account's results in one round, from its models' final scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRound {
    /// The account.
    pub account: u64,
    /// The round's number.
    pub round: u32,
    /// When the round resolved (the latest of its models' records, which agree in practice).
    pub resolved_at: Timestamp,
    /// Whether any of its models submitted on time.
    pub on_time: bool,
    /// Its models' NMR at risk in the round, in base units.
    pub at_risk: u128,
    /// For each score name, the stake-weighted average of its models' defined values, weighted
    /// by `at_risk`; when those models all have 0 at risk, their plain mean.
    pub scores: BTreeMap<String, f64>,
}

/// Each account's score in each round (reference §2.5): per score name, the stake-weighted
/// average over its models for which that score is defined, weights being each model's
/// `at_risk`; if those models have 0 at risk in total, their plain mean. Sorted by account,
/// then round.
pub fn account_rounds(finals: &[FinalScore]) -> Vec<AccountRound> {
    account_rounds_of(finals.iter())
}

/// Account reputation (reference §2.5): the mean, over the rounds resolved in
/// `now - window_days < resolved_at <= now`, of the account's per-round scores
/// ([`account_rounds`]).
pub fn account_reputation(
    finals: &[FinalScore],
    now: Timestamp,
    window_days: u32,
) -> BTreeMap<u64, Reputation> {
    let rounds = account_rounds(finals);
    let records = rounds
        .iter()
        .map(|round| (round.account, round.resolved_at, &round.scores));
    average_in_window(records, now, window_days)
}

/// One row to rank: a model or an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The model or account.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its stake in NMR base units: the first tie-break.
    pub stake: u128,
    /// The score it is ranked by; `None` or a non-finite value ranks last.
    pub score: Option<f64>,
}

/// A row with its rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedRow {
    /// Its competition rank, from 1.
    pub rank: usize,
    /// The row; a non-finite score has become `None`.
    pub row: Row,
}

/// The leaderboard: rows by score, highest first, with competition ranks ("1224").
///
/// - Rows with equal scores share the rank of the first of them and are ordered by stake
///   (highest first), then name, then id, so the order is total and deterministic.
/// - Rows without a score (`None`, NaN, ±∞) come last, in the same tie order, and all get
///   rank `1 +` the number of rows with a score.
pub fn rank(rows: Vec<Row>) -> Vec<RankedRow> {
    let mut rows: Vec<Row> = rows
        .into_iter()
        .map(|row| Row {
            score: row.score.filter(|score| score.is_finite()),
            ..row
        })
        .collect();
    rows.sort_by(leaderboard_order);
    let scored = rows.iter().filter(|row| row.score.is_some()).count();
    let mut ranked: Vec<RankedRow> = Vec::with_capacity(rows.len());
    for (position, row) in rows.into_iter().enumerate() {
        let rank = match (row.score, ranked.last()) {
            (None, _) => scored + 1,
            (Some(score), Some(previous)) if previous.row.score == Some(score) => previous.rank,
            (Some(_), _) => position + 1,
        };
        ranked.push(RankedRow { rank, row });
    }
    ranked
}

/// At most `limit` items after skipping `offset`; empty past the end.
pub fn page<T>(items: &[T], offset: usize, limit: usize) -> &[T] {
    let start = offset.min(items.len());
    let end = start.saturating_add(limit).min(items.len());
    &items[start..end]
}

/// A Grandmasters title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Classic: first place.
    Grandmaster,
    /// Classic: top 10.
    Master,
    /// Classic: top 100; Signals: top 25 %.
    Expert,
    /// Classic: top third of the rest; Signals: top 50 %.
    Researcher,
    /// Classic: middle third of the rest; Signals: top 75 %.
    Contributor,
    /// Classic: bottom third of the rest; Signals: the rest.
    Apprentice,
    /// Fewer qualified rounds than the season needs: not ranked.
    Novice,
}

/// Where a tier's band of ranks ends. With `n` eligible accounts, a fraction `p / q` of `m`
/// accounts is `ceil(m × p / q)` of them, so the upper bands take any remainder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cutoff {
    /// Through this rank.
    Rank(usize),
    /// Through the first `ceil(n × numerator / denominator)` ranks.
    ShareOfAll {
        /// The fraction's numerator.
        numerator: u32,
        /// The fraction's denominator.
        denominator: u32,
    },
    /// Of the `r` accounts ranked below every [`Cutoff::Rank`] of the rule, through the first
    /// `ceil(r × numerator / denominator)` of them.
    ShareOfRest {
        /// The fraction's numerator.
        numerator: u32,
        /// The fraction's denominator.
        denominator: u32,
    },
}

/// One band of a [`TierRule`]: the ranks through `through` not taken by an earlier band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Band {
    /// The title of the band.
    pub tier: Tier,
    /// Where the band ends.
    pub through: Cutoff,
}

/// How ranks map to titles, as data: the first band whose cutoff covers a rank gives its
/// tier; ranks beyond every band get `rest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierRule {
    /// The bands, best first.
    pub bands: Vec<Band>,
    /// The tier of ranks beyond every band.
    pub rest: Tier,
}

impl TierRule {
    /// Classic: Grandmaster rank 1, Master top 10, Expert top 100; the rest split in thirds
    /// (Researcher, Contributor, Apprentice), the upper thirds rounded up: 7 accounts below
    /// rank 100 split 3, 2, 2; 8 split 3, 3, 2.
    pub fn classic() -> Self {
        let band = |tier, through| Band { tier, through };
        let thirds = |numerator| Cutoff::ShareOfRest {
            numerator,
            denominator: 3,
        };
        Self {
            bands: vec![
                band(Tier::Grandmaster, Cutoff::Rank(1)),
                band(Tier::Master, Cutoff::Rank(10)),
                band(Tier::Expert, Cutoff::Rank(100)),
                band(Tier::Researcher, thirds(1)),
                band(Tier::Contributor, thirds(2)),
            ],
            rest: Tier::Apprentice,
        }
    }

    /// Signals: Expert top 25 %, Researcher top 50 %, Contributor top 75 %, Apprentice the
    /// rest, each share rounded up (of 10 accounts: 3 Experts, 2 Researchers, 3 Contributors,
    /// 2 Apprentices).
    pub fn signals() -> Self {
        let band = |tier, numerator| Band {
            tier,
            through: Cutoff::ShareOfAll {
                numerator,
                denominator: 4,
            },
        };
        Self {
            bands: vec![
                band(Tier::Expert, 1),
                band(Tier::Researcher, 2),
                band(Tier::Contributor, 3),
            ],
            rest: Tier::Apprentice,
        }
    }

    /// The tier of competition rank `rank` (from 1) among `eligible` ranked accounts. Tied
    /// accounts share a rank and so a tier: the better one.
    pub fn tier(&self, rank: usize, eligible: usize) -> Tier {
        let ranked_above_rest = self
            .bands
            .iter()
            .filter_map(|band| match band.through {
                Cutoff::Rank(last) => Some(last.min(eligible)),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let rest = eligible - ranked_above_rest;
        let last_rank = |cutoff| match cutoff {
            Cutoff::Rank(last) => last,
            Cutoff::ShareOfAll {
                numerator,
                denominator,
            } => share(eligible, numerator, denominator),
            Cutoff::ShareOfRest {
                numerator,
                denominator,
            } => ranked_above_rest + share(rest, numerator, denominator),
        };
        self.bands
            .iter()
            .find(|band| rank <= last_rank(band.through))
            .map_or(self.rest, |band| band.tier)
    }
}

/// `ceil(count × numerator / denominator)`, 0 for a zero denominator.
fn share(count: usize, numerator: u32, denominator: u32) -> usize {
    if denominator == 0 {
        return 0;
    }
    let share = (count as u128 * u128::from(numerator)).div_ceil(u128::from(denominator));
    usize::try_from(share).unwrap_or(usize::MAX)
}

/// What a season counts and how it titles accounts (reference §2.5, "Grandmasters").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeasonRule {
    /// The score a season averages (a per-round account score, [`account_rounds`]).
    pub score_name: String,
    /// The least total NMR at risk (base units) that, with an on-time submission, qualifies an
    /// account's round.
    pub at_risk_min: u128,
    /// The least qualified rounds an account needs to be ranked.
    pub qualified_rounds_min: u32,
    /// How ranks map to titles.
    pub tiers: TierRule,
}

impl SeasonRule {
    /// Classic: the `"payout"` score, 1 NMR at risk, 20 qualified rounds, [`TierRule::classic`].
    pub fn classic() -> Self {
        Self {
            score_name: "payout".to_owned(),
            at_risk_min: ONE_NMR,
            qualified_rounds_min: 20,
            tiers: TierRule::classic(),
        }
    }

    /// Signals: as [`SeasonRule::classic`] with [`TierRule::signals`].
    pub fn signals() -> Self {
        Self {
            tiers: TierRule::signals(),
            ..Self::classic()
        }
    }
}

/// An account's standing in a season.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    /// The account.
    pub account: u64,
    /// The season score: the mean, over every round of the season, of the account's score in
    /// the rounds it qualified in and 0 in the others.
    pub score: f64,
    /// The rounds it qualified in.
    pub qualified_rounds: u32,
    /// Its NMR at risk summed over the season's rounds, in base units: the tie-break.
    pub at_risk: u128,
    /// Its competition rank among the accounts with enough qualified rounds; `None` for a
    /// Novice.
    pub rank: Option<usize>,
    /// Its title.
    pub tier: Tier,
}

/// A season so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Season {
    /// The calendar year (UTC) of its rounds' resolution.
    pub year: i16,
    /// The distinct rounds resolved in it so far.
    pub rounds: u32,
    /// Every account with a record in it: the ranked accounts by rank, then the Novices in the
    /// same order.
    pub standings: Vec<Standing>,
}

/// The season of a round that resolved at `resolved_at`: the calendar year, UTC.
pub fn season_of(resolved_at: Timestamp) -> i16 {
    TimeZone::UTC.to_datetime(resolved_at).year()
}

/// The standings of season `year` at `now` (reference §2.5, "Grandmasters").
///
/// - The season's rounds are the distinct round numbers of the records resolved in `year`
///   (UTC, [`season_of`]) and no later than `now`.
/// - An account *qualifies* in a round when one of its models submitted on time and its models'
///   total at risk is at least `rule.at_risk_min`.
/// - Its season score is the mean, over all the season's rounds, of its per-round score
///   `rule.score_name` ([`account_rounds`]) in the rounds it qualified in and 0 in the others
///   (and where that score is undefined).
/// - Accounts with at least `rule.qualified_rounds_min` qualified rounds are ranked with
///   [`rank`], ties ordered by season at risk, then account id, and titled by `rule.tiers`;
///   the others are Novices, unranked.
pub fn season(finals: &[FinalScore], year: i16, now: Timestamp, rule: &SeasonRule) -> Season {
    let in_season: Vec<&FinalScore> = finals
        .iter()
        .filter(|final_score| {
            final_score.resolved_at <= now && season_of(final_score.resolved_at) == year
        })
        .collect();
    let rounds = in_season
        .iter()
        .map(|final_score| final_score.round)
        .collect::<BTreeSet<u32>>()
        .len();
    let mut totals: BTreeMap<u64, SeasonTotal> = BTreeMap::new();
    for round in account_rounds_of(in_season) {
        let total = totals.entry(round.account).or_default();
        total.at_risk = total.at_risk.saturating_add(round.at_risk);
        if round.on_time && round.at_risk >= rule.at_risk_min {
            total.qualified_rounds += 1;
            total.score_sum += round.scores.get(&rule.score_name).copied().unwrap_or(0.0);
        }
    }
    let row = |(&account, total): (&u64, &SeasonTotal)| Row {
        id: account,
        name: String::new(),
        stake: total.at_risk,
        // `totals` is non-empty only when there are rounds, so the division is by at least 1.
        score: Some(total.score_sum / rounds as f64),
    };
    let (eligible, novices): (Vec<_>, Vec<_>) = totals
        .iter()
        .partition(|(_, total)| total.qualified_rounds >= rule.qualified_rounds_min);
    let eligible = rank(eligible.into_iter().map(row).collect());
    let novices = rank(novices.into_iter().map(row).collect());
    let eligible_count = eligible.len();
    let standing = |ranked: RankedRow, rank: Option<usize>, tier| Standing {
        account: ranked.row.id,
        score: ranked.row.score.unwrap_or(0.0),
        qualified_rounds: totals[&ranked.row.id].qualified_rounds,
        at_risk: ranked.row.stake,
        rank,
        tier,
    };
    let standings = eligible
        .into_iter()
        .map(|ranked| {
            let tier = rule.tiers.tier(ranked.rank, eligible_count);
            let rank = ranked.rank;
            standing(ranked, Some(rank), tier)
        })
        .chain(
            novices
                .into_iter()
                .map(|ranked| standing(ranked, None, Tier::Novice)),
        )
        .collect();
    Season {
        year,
        rounds: u32::try_from(rounds).unwrap_or(u32::MAX),
        standings,
    }
}

/// An account's running totals over a season.
#[derive(Debug, Default)]
struct SeasonTotal {
    score_sum: f64,
    qualified_rounds: u32,
    at_risk: u128,
}

/// Scores first, highest first; then stake, highest first; then name; then id. Scores must be
/// finite or `None`.
fn leaderboard_order(a: &Row, b: &Row) -> Ordering {
    let by_score = match (a.score, b.score) {
        // Finite scores always compare; -0.0 and 0.0 compare equal, as `rank` treats them.
        (Some(a), Some(b)) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    by_score
        .then_with(|| b.stake.cmp(&a.stake))
        .then_with(|| a.name.cmp(&b.name))
        .then_with(|| a.id.cmp(&b.id))
}

/// Groups model records by account and round, sorted by account, then round.
fn account_rounds_of<'a>(finals: impl IntoIterator<Item = &'a FinalScore>) -> Vec<AccountRound> {
    let mut groups: BTreeMap<(u64, u32), Vec<&FinalScore>> = BTreeMap::new();
    for final_score in finals {
        groups
            .entry((final_score.account, final_score.round))
            .or_default()
            .push(final_score);
    }
    groups
        .into_iter()
        .map(|((account, round), models)| AccountRound {
            account,
            round,
            resolved_at: models
                .iter()
                .map(|model| model.resolved_at)
                .max()
                .unwrap_or_default(),
            on_time: models.iter().any(|model| model.on_time),
            at_risk: models
                .iter()
                .fold(0, |total: u128, model| total.saturating_add(model.at_risk)),
            scores: stake_weighted_scores(&models),
        })
        .collect()
}

/// For each score name, `Σ wᵢ sᵢ / Σ wᵢ` over the models `i` whose score `sᵢ` is defined,
/// `wᵢ` their at risk; `Σ sᵢ / k` over those `k` models when `Σ wᵢ = 0`.
fn stake_weighted_scores(models: &[&FinalScore]) -> BTreeMap<String, f64> {
    #[derive(Default)]
    struct Sums {
        weighted: f64,
        weights: f64,
        plain: f64,
        count: u32,
    }
    let mut sums: BTreeMap<&str, Sums> = BTreeMap::new();
    for model in models {
        let weight = model.at_risk as f64;
        for (name, &score) in defined(&model.scores) {
            let sum = sums.entry(name).or_default();
            sum.weighted += weight * score;
            sum.weights += weight;
            sum.plain += score;
            sum.count += 1;
        }
    }
    sums.into_iter()
        .map(|(name, sum)| {
            let score = if sum.weights > 0.0 {
                sum.weighted / sum.weights
            } else {
                sum.plain / f64::from(sum.count)
            };
            (name.to_owned(), score)
        })
        .collect()
}

/// The mean of each score name per key over the records resolved in
/// `now - window_days < resolved_at <= now`.
fn average_in_window<'a>(
    records: impl Iterator<Item = (u64, Timestamp, &'a BTreeMap<String, f64>)>,
    now: Timestamp,
    window_days: u32,
) -> BTreeMap<u64, Reputation> {
    // A window reaching before the earliest representable instant covers everything.
    let after = now
        .checked_sub(SignedDuration::from_hours(24 * i64::from(window_days)))
        .ok();
    let mut sums: BTreeMap<u64, BTreeMap<&str, (f64, u32)>> = BTreeMap::new();
    for (key, resolved_at, scores) in records {
        if resolved_at > now || after.is_some_and(|after| resolved_at <= after) {
            continue;
        }
        let key_sums = sums.entry(key).or_default();
        for (name, &score) in defined(scores) {
            let (total, count) = key_sums.entry(name).or_default();
            *total += score;
            *count += 1;
        }
    }
    sums.into_iter()
        .map(|(key, key_sums)| {
            let scores = key_sums
                .into_iter()
                .map(|(name, (total, rounds))| {
                    let mean = total / f64::from(rounds);
                    (name.to_owned(), Average { mean, rounds })
                })
                .collect();
            (key, Reputation { scores })
        })
        .collect()
}

/// The defined (finite) scores.
fn defined(scores: &BTreeMap<String, f64>) -> impl Iterator<Item = (&str, &f64)> {
    scores
        .iter()
        .filter(|(_, score)| score.is_finite())
        .map(|(name, score)| (name.as_str(), score))
}
