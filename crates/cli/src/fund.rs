//! `numerus fund solve` and `numerus fund tc`: the fund's optimizer and True Contribution on
//! files, for operators and auditors.
//!
//! Inputs (Parquet or CSV, joined on `id`; the signal's order is the stocks' order):
//!
//! | file | columns |
//! |---|---|
//! | `--signal` | `id` and one number column (`signal`, `prediction`, `numerai_meta_model`, …) |
//! | `--exposures` | `id`, optional text `group` (sector, country), number columns = factors |
//! | `--predictions` | `id` and one number column per model |
//! | `--stakes` | `model` (text), `stake` |
//! | `--returns` | `id`, `return` (or `target`) |
//! | `--config` | the constraints TOML (see `numerus_optimizer::config`) |

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail, ensure};
use numerus_frames::{Column, ReadOptions, Table, Values, read_table, write_table};
use numerus_optimizer::{Constraints, Problem, Status, solve, true_contribution};
use numerus_scoring::rank::{RankScale, RankScratch, rank_codes};

use crate::tournament::finish;

/// Arguments of `numerus fund`.
#[derive(Debug, clap::Args)]
pub struct FundArgs {
    #[command(subcommand)]
    command: FundCommand,
}

#[derive(Debug, clap::Subcommand)]
enum FundCommand {
    /// Solve the portfolio of a signal under the constraints; writes DIR/weights.csv (id,
    /// weight) and DIR/portfolio.json (status, binding constraints if infeasible, objective,
    /// gross, net, positions, iterations).
    Solve {
        /// The signal: `id` and one number column.
        #[arg(long, value_name = "FILE")]
        signal: PathBuf,
        /// Factor exposures and groups: `id`, optional `group`, one number column per factor.
        #[arg(long, value_name = "FILE")]
        exposures: PathBuf,
        /// The constraints (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Where to write the weights and the report (created if needed).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// The fund in a tournament's data directory: each round's portfolio (status, positions,
    /// gross, net) and its return through each scoring day, then the mean, spread, Sharpe
    /// ratio and sum of resolved rounds' final returns.
    Report {
        /// The data directory (its tournament must have a [fund] table).
        #[arg(long, default_value = "numerus-data")]
        data_dir: PathBuf,
        /// Rounds to show, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// True Contribution of each model: the meta model is built from the predictions
    /// (tie-kept ranks, gaussianized, stake-weighted), the portfolio solved, and each model's
    /// TC = S·∂(wᵀr)/∂stake written to FILE (model, stake, tc).
    Tc {
        /// Predictions: `id` and one number column per model.
        #[arg(long, value_name = "FILE")]
        predictions: PathBuf,
        /// Stakes: `model`, `stake`.
        #[arg(long, value_name = "FILE")]
        stakes: PathBuf,
        /// Factor exposures and groups.
        #[arg(long, value_name = "FILE")]
        exposures: PathBuf,
        /// Realized returns: `id`, `return` (or `target`).
        #[arg(long, value_name = "FILE")]
        returns: PathBuf,
        /// The constraints (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The output file (.csv or .parquet).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Runs `numerus fund`.
pub fn run(args: &FundArgs) -> ExitCode {
    finish(match &args.command {
        FundCommand::Solve {
            signal,
            exposures,
            config,
            out,
        } => run_solve(signal, exposures, config, out),
        FundCommand::Report {
            data_dir,
            limit,
            json,
        } => report(data_dir, *limit, *json),
        FundCommand::Tc {
            predictions,
            stakes,
            exposures,
            returns,
            config,
            out,
        } => run_tc(predictions, stakes, exposures, returns, config, out),
    })
}

fn read(path: &Path, text: &[&str]) -> anyhow::Result<Table> {
    read_table(
        path,
        &ReadOptions {
            text_columns: text,
            select: None,
        },
    )
    .with_context(|| format!("reading {}", path.display()))
}

fn ids<'t>(table: &'t Table, path: &Path) -> anyhow::Result<&'t [String]> {
    table
        .column("id")
        .and_then(|column| column.values.as_text())
        .with_context(|| format!("{} has no text column `id`", path.display()))
}

fn constraints(path: &Path) -> anyhow::Result<Constraints> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Constraints::from_toml(&text).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
}

/// The problem over `ids` (in that order) with the exposures file's factors and groups.
fn problem(ids: &[String], signal: Vec<f64>, exposures: &Path) -> anyhow::Result<Problem> {
    let table = read(exposures, &["id", "group"])?;
    let rows: HashMap<&str, usize> = ids_of(&table, exposures)?;
    let order: Vec<usize> = ids
        .iter()
        .map(|id| {
            rows.get(id.as_str()).copied().with_context(|| {
                format!(
                    "stock {id} has no row in {}; give exposures for every stock",
                    exposures.display()
                )
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let mut factors = Vec::new();
    for column in &table.columns {
        if let Values::Number(values) = &column.values {
            factors.push((
                column.name.clone(),
                order.iter().map(|&row| values[row]).collect(),
            ));
        }
    }
    let (groups, group_names) = match table.column("group").and_then(|c| c.values.as_text()) {
        Some(names) => {
            let mut group_names: Vec<String> = Vec::new();
            let groups = order
                .iter()
                .map(|&row| {
                    let name = &names[row];
                    match group_names.iter().position(|known| known == name) {
                        Some(index) => index,
                        None => {
                            group_names.push(name.clone());
                            group_names.len() - 1
                        }
                    }
                })
                .collect();
            (groups, group_names)
        }
        None => (Vec::new(), Vec::new()),
    };
    Ok(Problem {
        signal,
        factors,
        groups,
        group_names,
    })
}

fn ids_of<'t>(table: &'t Table, path: &Path) -> anyhow::Result<HashMap<&'t str, usize>> {
    let column = ids(table, path)?;
    let mut rows = HashMap::new();
    for (row, id) in column.iter().enumerate() {
        ensure!(
            rows.insert(id.as_str(), row).is_none(),
            "{} repeats id {id}",
            path.display()
        );
    }
    Ok(rows)
}

fn only_number_column(table: &Table, path: &Path) -> anyhow::Result<Vec<f64>> {
    let numbers: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| c.values.as_numbers().is_some())
        .collect();
    match numbers.as_slice() {
        [one] => Ok(one.values.as_numbers().unwrap_or_default().to_vec()),
        _ => bail!(
            "{} must have exactly one number column besides `id`, it has {}",
            path.display(),
            numbers.len()
        ),
    }
}

fn status_json(status: &Status) -> serde_json::Value {
    match status {
        Status::Solved => serde_json::json!("solved"),
        Status::AlmostSolved => serde_json::json!("almost_solved"),
        Status::Infeasible { binding } => {
            serde_json::json!({ "infeasible": { "binding": binding } })
        }
        Status::MaxIterations => serde_json::json!("max_iterations"),
        Status::Failed(why) => serde_json::json!({ "failed": why }),
    }
}

fn run_solve(signal: &Path, exposures: &Path, config: &Path, out: &Path) -> anyhow::Result<()> {
    let table = read(signal, &["id"])?;
    let stock_ids = ids(&table, signal)?.to_vec();
    let values = only_number_column(&table, signal)?;
    let problem = problem(&stock_ids, values, exposures)?;
    let constraints = constraints(config)?;
    let portfolio = solve(&problem, &constraints)?;
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_table(
        &out.join("weights.csv"),
        &Table {
            columns: vec![
                Column {
                    name: "id".into(),
                    values: Values::Text(stock_ids),
                },
                Column {
                    name: "weight".into(),
                    values: Values::Number(portfolio.weights.clone()),
                },
            ],
        },
    )?;
    let report = serde_json::json!({
        "status": status_json(&portfolio.status),
        "objective": portfolio.objective,
        "gross": portfolio.gross(),
        "net": portfolio.net(),
        "positions": portfolio.positions(),
        "iterations": portfolio.iterations,
        "stocks": problem.len(),
        "factors": problem.factors.len(),
        "groups": problem.group_names.len(),
    });
    fs::write(
        out.join("portfolio.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("{}", serde_json::to_string(&report)?);
    match portfolio.status {
        Status::Solved | Status::AlmostSolved => Ok(()),
        Status::Infeasible { binding } => bail!(
            "no portfolio satisfies the constraints; binding: {}; loosen them in {}",
            binding.join(", "),
            config.display()
        ),
        other => bail!("the solver did not finish: {other:?}"),
    }
}

fn run_tc(
    predictions: &Path,
    stakes: &Path,
    exposures: &Path,
    returns: &Path,
    config: &Path,
    out: &Path,
) -> anyhow::Result<()> {
    let table = read(predictions, &["id"])?;
    let stock_ids = ids(&table, predictions)?.to_vec();
    let stake_table = read(stakes, &["model"])?;
    let models = stake_table
        .column("model")
        .and_then(|c| c.values.as_text())
        .with_context(|| format!("{} has no text column `model`", stakes.display()))?;
    let amounts = stake_table
        .column("stake")
        .and_then(|c| c.values.as_numbers())
        .with_context(|| format!("{} has no number column `stake`", stakes.display()))?;
    let n = stock_ids.len();
    let scale = RankScale::new(n);
    let mut scratch = RankScratch::new();
    let mut codes = vec![0u32; n];
    let mut gaussianized = Vec::new();
    for (model, &stake) in models.iter().zip(amounts) {
        ensure!(
            stake.is_finite() && stake > 0.0,
            "model {model} has stake {stake}; stakes must be positive"
        );
        let column = table
            .column(model)
            .and_then(|c| c.values.as_numbers())
            .with_context(|| {
                format!("{} has no column for model {model}", predictions.display())
            })?;
        ensure!(
            column.iter().all(|v| v.is_finite()),
            "model {model} has a missing prediction; predict every stock"
        );
        rank_codes(column, &mut scratch, &mut codes);
        gaussianized.push(
            codes
                .iter()
                .map(|&code| scale.gaussian(code))
                .collect::<Vec<f64>>(),
        );
    }
    ensure!(
        !gaussianized.is_empty(),
        "{} names no model",
        stakes.display()
    );
    let total: f64 = amounts.iter().sum();
    let signal: Vec<f64> = (0..n)
        .map(|i| {
            gaussianized
                .iter()
                .zip(amounts)
                .map(|(g, s)| s * g[i])
                .sum::<f64>()
                / total
        })
        .collect();
    let problem = problem(&stock_ids, signal, exposures)?;
    let returns_table = read(returns, &["id"])?;
    let rows = ids_of(&returns_table, returns)?;
    let values = returns_table
        .column("return")
        .or_else(|| returns_table.column("target"))
        .and_then(|c| c.values.as_numbers())
        .with_context(|| {
            format!(
                "{} has no number column `return` or `target`",
                returns.display()
            )
        })?;
    let realized: Vec<f64> = stock_ids
        .iter()
        .map(|id| {
            rows.get(id.as_str())
                .map(|&row| values[row])
                .filter(|v| v.is_finite())
                .with_context(|| {
                    format!("stock {id} has no realized return in {}", returns.display())
                })
        })
        .collect::<anyhow::Result<_>>()?;
    let constraints = constraints(config)?;
    let portfolio = solve(&problem, &constraints)?;
    ensure!(
        matches!(portfolio.status, Status::Solved),
        "the portfolio was not solved ({:?}); TC needs a solved portfolio",
        portfolio.status
    );
    let tc = true_contribution(&problem, &portfolio, &realized, &gaussianized);
    write_table(
        out,
        &Table {
            columns: vec![
                Column {
                    name: "model".into(),
                    values: Values::Text(models.to_vec()),
                },
                Column {
                    name: "stake".into(),
                    values: Values::Number(amounts.to_vec()),
                },
                Column {
                    name: "tc".into(),
                    values: Values::Number(tc),
                },
            ],
        },
    )?;
    let fund_return: f64 = portfolio
        .weights
        .iter()
        .zip(&realized)
        .map(|(w, r)| w * r)
        .sum();
    println!(
        "{} models; portfolio: {} positions, gross {:.4}, realized return {fund_return:.6}; TC written to {}",
        models.len(),
        portfolio.positions(),
        portfolio.gross(),
        out.display()
    );
    Ok(())
}

fn report(dir: &Path, limit: usize, json: bool) -> anyhow::Result<()> {
    let database = dir.join(crate::ledger::DATABASE_FILE);
    ensure!(
        database.is_file(),
        "no Numerus data at {}; pass --data-dir of a tournament's data directory",
        dir.display()
    );
    let definition = crate::serve::definition_of(dir)?;
    ensure!(
        definition.fund.is_some(),
        "the tournament in {} has no [fund] table in its tournament.toml, so it runs no fund (`numerus demo` makes one that does)",
        dir.display()
    );
    let store = numerus_store_sqlite::SqliteStore::open(&database)?;
    let service = numerus_app::Service::new(definition, store, dir)?;
    let report = service.fund_report()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        " round  status               positions   gross     net   days   return (through last day)"
    );
    for round in report.rounds.iter().take(limit) {
        println!(
            "{:>6}  {:<20} {:>9} {:>7.4} {:>7.4} {:>6}   {}",
            round.round,
            round.solve.status,
            round.solve.positions,
            round.solve.gross,
            round.solve.net,
            round.returns.len(),
            round
                .returns
                .last()
                .map_or("-".to_owned(), |r| format!("{r:+.6}")),
        );
    }
    let figure = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:+.6}"));
    println!(
        "resolved rounds: {}; mean return {}; std {}; Sharpe (per round) {}; cumulative {:+.6}",
        report.resolved,
        figure(report.mean),
        figure(report.std),
        report.sharpe.map_or("-".to_owned(), |v| format!("{v:.3}")),
        report.cumulative
    );
    Ok(())
}
