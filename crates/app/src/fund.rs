//! The fund inside the tournament (when the definition has a `[fund]` table):
//!
//! - when a round's selection is frozen (its first score), the fund solves its portfolio from
//!   the round's stake-weighted meta model — which holds exactly what was fixed at close: late
//!   uploads are never staked, so only on-time selections weighted by the at-risk snapshot
//!   count — with the first `factors` live features (centred)
//!   as the factor exposures, under the definition's constraints; the weights are stored as
//!   the round's `portfolio` blob and the solve's figures as its `fund` blob;
//! - each scoring day's fund return is `wᵀ(r_k − mean r_k)` over the live ids, `r_k` each
//!   stock's raw compounded return through day `k` (the targets file's `return` column; a
//!   market whose targets lack it falls back to the day's binned target, a proxy);
//! - on the final day every staked model's True Contribution through that portfolio and the
//!   final returns is added to its scores as `tc` (informational, or a payout score when the
//!   payout config names it).

use numerus_frames::{Column, Table};
use numerus_optimizer::{Constraints, Problem, Status, solve, true_contribution};
use numerus_scoring::rank::RankScale;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::pack::Pack;

/// The fund's settings in a tournament definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundConfig {
    /// How many live features (in file order) serve as factor exposures.
    pub factors: usize,
    /// The portfolio's constraints.
    pub constraints: Constraints,
}

/// What a round's portfolio solve gave (the `fund` blob).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FundSolve {
    /// `solved`, `almost_solved`, `infeasible: …`, `max_iterations`, `failed: …`.
    pub status: String,
    /// `Σ|w|`.
    pub gross: f64,
    /// `Σw`.
    pub net: f64,
    /// Positions held.
    pub positions: usize,
    /// The optimizer's objective.
    pub objective: f64,
}

fn status_text(status: &Status) -> String {
    match status {
        Status::Solved => "solved".into(),
        Status::AlmostSolved => "almost_solved".into(),
        Status::Infeasible { binding } => format!("infeasible: {}", binding.join(", ")),
        Status::MaxIterations => "max_iterations".into(),
        Status::Failed(why) => format!("failed: {why}"),
    }
}

/// The problem of a round: the meta model over the live ids, exposures from `features`.
fn problem(meta_model: &[f64], features: &[(String, Vec<f64>)], config: &FundConfig) -> Problem {
    Problem {
        signal: meta_model.to_vec(),
        factors: features
            .iter()
            .take(config.factors)
            .map(|(name, values)| {
                let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
                (name.clone(), values.iter().map(|v| v - mean).collect())
            })
            .collect(),
        groups: Vec::new(),
        group_names: Vec::new(),
    }
}

/// The round's problem and its solution.
fn solve_round(
    meta_model: &[f64],
    features: &[(String, Vec<f64>)],
    config: &FundConfig,
) -> Result<(Problem, numerus_optimizer::Portfolio), Error> {
    let problem = problem(meta_model, features, config);
    let solved = solve(&problem, &config.constraints)
        .map_err(|error| Error::Market(format!("the fund's portfolio: {error}")))?;
    Ok((problem, solved))
}

/// `values` less the mean of their finite ones; a missing value becomes 0 (the mean).
fn centred(values: &[f64]) -> Vec<f64> {
    let known: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let mean = known.iter().sum::<f64>() / known.len().max(1) as f64;
    values
        .iter()
        .map(|v| if v.is_finite() { v - mean } else { 0.0 })
        .collect()
}

/// Solves a round's portfolio: its weights (zero unless solved) and figures.
///
/// # Errors
/// [`Error::Market`] when the live features are unusable (NaN, wrong length).
pub fn portfolio(
    meta_model: &[f64],
    features: &[(String, Vec<f64>)],
    config: &FundConfig,
) -> Result<(Vec<f64>, FundSolve), Error> {
    let (_, solved) = solve_round(meta_model, features, config)?;
    let figures = FundSolve {
        status: status_text(&solved.status),
        gross: solved.gross(),
        net: solved.net(),
        positions: solved.positions(),
        objective: solved.objective,
    };
    Ok((solved.weights, figures))
}

/// The portfolio as a table (`id`, `weight`).
pub fn weights_table(ids: &[String], weights: &[f64]) -> Table {
    Table {
        columns: vec![
            Column::text("id", ids.to_vec()),
            Column::number("weight", weights.to_vec()),
        ],
    }
}

/// The fund's return over `target` (NaN targets count as the mean): `wᵀ(t − mean t)`.
pub fn fund_return(weights: &[f64], target: &[f64]) -> f64 {
    weights
        .iter()
        .zip(centred(target))
        .map(|(w, t)| w * t)
        .sum()
}

/// Each staked entry's TC (by model) through the round's portfolio and its final target.
///
/// # Errors
/// [`Error::Market`] when the features are unusable.
pub fn contributions(
    pack: &Pack,
    features: &[(String, Vec<f64>)],
    config: &FundConfig,
    target: &[f64],
) -> Result<Vec<(u64, f64)>, Error> {
    let Some(meta_model) = pack.meta_model() else {
        return Ok(Vec::new());
    };
    // The portfolio is solved again (the same problem gives the same solution): TC needs the
    // solver's active set, which is not stored with the weights.
    let (problem, solved) = solve_round(&meta_model, features, config)?;
    if solved.status != Status::Solved {
        return Ok(Vec::new());
    }
    let returns = centred(target);
    let scale = RankScale::new(pack.rows());
    let staked: Vec<usize> = (0..pack.entries.len())
        .filter(|&k| {
            pack.entries[k]
                .at_risk
                .parse::<u128>()
                .is_ok_and(|units| units > 0)
        })
        .collect();
    let predictions: Vec<Vec<f64>> = staked
        .iter()
        .map(|&k| {
            pack.column(k)
                .iter()
                .map(|&code| scale.gaussian(code))
                .collect()
        })
        .collect();
    let tc = true_contribution(&problem, &solved, &returns, &predictions);
    Ok(staked
        .iter()
        .zip(tc)
        .map(|(&k, tc)| (pack.entries[k].model, tc))
        .collect())
}

/// One round's fund figures, for reports and pages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FundRound {
    /// The round.
    pub round: u32,
    /// The portfolio solve's figures.
    pub solve: FundSolve,
    /// The fund's return through each scoring day so far (cumulative, day 1 first).
    pub returns: Vec<f64>,
    /// Every daily score is in.
    pub resolved: bool,
}

/// The whole fund: its rounds, and the mean, spread and Sharpe ratio of resolved rounds'
/// final returns (per round, not annualized: rounds overlap).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FundReport {
    /// Rounds with a portfolio, newest first.
    pub rounds: Vec<FundRound>,
    /// Resolved rounds counted below.
    pub resolved: usize,
    /// Mean final return of resolved rounds.
    pub mean: Option<f64>,
    /// Their standard deviation.
    pub std: Option<f64>,
    /// `mean / std`.
    pub sharpe: Option<f64>,
    /// Sum of resolved rounds' final returns.
    pub cumulative: f64,
}

impl<S: numerus_ledger::Store + numerus_tournament::records::Records> crate::Service<S> {
    /// The fund's report from the stored portfolios and targets.
    ///
    /// # Errors
    /// The store's; unreadable blobs.
    pub fn fund_report(&self) -> Result<FundReport, Error> {
        let definition = self.definition();
        let mut rounds = Vec::new();
        for record in self.ledger().store().round_records(definition.id, false)? {
            let (Some(figures), Some(portfolio)) =
                (record.blobs.get("fund"), record.blobs.get("portfolio"))
            else {
                continue;
            };
            let solve: FundSolve =
                serde_json::from_slice(&self.blobs().read(figures)?).map_err(|error| {
                    Error::Corrupt(format!("round {}'s fund figures: {error}", record.number))
                })?;
            let table = crate::tables::read_blob_table(self.blobs(), portfolio, None)?;
            let ids = crate::tables::text(&table, "id")?;
            let weights = crate::tables::numbers(&table, "weight")?;
            let mut returns = Vec::new();
            for day in 1..=record.scored_days {
                let Some(targets) = record.blobs.get(&format!("targets/{day:02}")) else {
                    break;
                };
                let realized = realized(
                    self.blobs(),
                    targets,
                    &definition.target,
                    record.data_date,
                    day,
                    ids,
                )?;
                returns.push(fund_return(weights, &realized));
            }
            rounds.push(FundRound {
                round: record.number,
                solve,
                returns,
                resolved: record.phase == numerus_tournament::records::RoundPhase::Resolved,
            });
        }
        let finals: Vec<f64> = rounds
            .iter()
            .filter(|round| round.resolved)
            .filter_map(|round| round.returns.last().copied())
            .collect();
        let count = finals.len();
        let mean = (count > 0).then(|| finals.iter().sum::<f64>() / count as f64);
        let std = mean.filter(|_| count > 1).map(|mean| {
            (finals.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (count - 1) as f64).sqrt()
        });
        let sharpe = match (mean, std) {
            (Some(mean), Some(std)) if std > 0.0 => Some(mean / std),
            _ => None,
        };
        Ok(FundReport {
            rounds,
            resolved: count,
            mean,
            std,
            sharpe,
            cumulative: finals.iter().sum(),
        })
    }
}

/// What a round's stocks realized through scoring day `day`: the raw compounded returns of
/// the targets file's `return` column, or, where the market gives none, the binned target.
///
/// # Errors
/// The targets file's.
pub fn realized(
    blobs: &crate::blobs::BlobDir,
    targets: &str,
    target_name: &str,
    data_date: jiff::civil::Date,
    day: u32,
    ids: &[String],
) -> Result<Vec<f64>, Error> {
    match crate::tables::day_target(blobs, targets, "return", data_date, day, ids) {
        Ok(returns) if returns.iter().any(|r| r.is_finite()) => Ok(returns),
        _ => crate::tables::day_target(blobs, targets, target_name, data_date, day, ids),
    }
}
