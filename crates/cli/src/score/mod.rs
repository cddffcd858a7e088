//! `numerus score`: scores prediction files against Numerai-layout data.

mod compute;
mod load;
mod metric;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::terminal::progress_bar;
use anyhow::Context as _;
use clap::Args;

use load::{BadInput, Sources};
use metric::{Metric, Need};

/// Above this many submissions, pair churn runs only for the pairs given with --pairs.
const ALL_PAIRS_SUBMISSIONS_MAX: usize = 100;

/// Arguments of `numerus score`.
#[derive(Debug, Args)]
#[command(
    long_about = "Scores prediction files exactly as numerai-tools 0.7.2 does (to 1e-9), \
for every submission and era at once.

Files are Parquet (.parquet) or CSV (.csv), in Numerai's layouts, joined on (era, id) \
whatever their row order. A file without an `era` column takes each id's era from --data.

Exit status: 0 scored; 2 bad input (the message names the file, row or column and the fix); \
1 anything else."
)]
pub struct ScoreArgs {
    /// Data file: `id`, `era`, `feature_*` columns and the target column.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Predictions: `id`, `era` and one number column per submission (or just `id`,`prediction`).
    #[arg(long, value_name = "FILE")]
    predictions: PathBuf,
    /// Meta model file with a `numerai_meta_model` column (enables mmc, neutral_mmc, cwmm).
    #[arg(long, value_name = "FILE")]
    meta_model: Option<PathBuf>,
    /// Benchmark models file, one column per benchmark model (enables bmc).
    #[arg(long, value_name = "FILE")]
    benchmark: Option<PathBuf>,
    /// The benchmark column to score bmc against, when the file has several.
    #[arg(long, value_name = "COLUMN", requires = "benchmark")]
    benchmark_column: Option<String>,
    /// Neutralizers file with `neutralizer_*` columns (enables neutral_corr, neutral_mmc,
    /// neutral_churn; with --sample-weights also alpha, mpc, turnover).
    #[arg(long, value_name = "FILE")]
    neutralizers: Option<PathBuf>,
    /// Sample weights file with a `sample_weight` (or `sample_weights`) column.
    #[arg(long, value_name = "FILE")]
    sample_weights: Option<PathBuf>,
    /// Stakes file: `submission`,`stake` (enables mpc, stake_weight, stake_weight_ranked).
    #[arg(long, value_name = "FILE")]
    stakes: Option<PathBuf>,
    /// Target column of --data.
    #[arg(long, value_name = "COLUMN", default_value = "target")]
    target: String,
    /// Comma-separated metrics to compute (default: every metric the inputs allow):
    /// numerai_corr (or corr), mmc, bmc, fnc, neutral_corr, neutral_mmc, alpha, mpc,
    /// feature_exposure, cwmm, mcwnm, apcwnm, churn, turnover, neutral_churn,
    /// stake_weight, stake_weight_ranked.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    metrics: Option<Vec<String>>,
    /// JSON list of [a, b] submission pairs for pair churn (default: all pairs when there
    /// are at most 100 submissions).
    #[arg(long, value_name = "PAIRS.json")]
    pairs: Option<PathBuf>,
    /// Write every score to this JSON file (schema numerus-scores/1).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print the time spent in each metric to stderr (for benchmarks).
    #[arg(long)]
    timings: bool,
}

/// Runs `numerus score`.
pub fn run(args: &ScoreArgs) -> ExitCode {
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if error.downcast_ref::<BadInput>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn execute(args: &ScoreArgs) -> anyhow::Result<()> {
    let requested = parse_metrics(args.metrics.as_deref())?;
    let sources = Sources {
        data: args.data.clone(),
        predictions: args.predictions.clone(),
        target: args.target.clone(),
        meta_model: args.meta_model.clone(),
        benchmark: args.benchmark.clone(),
        benchmark_column: args.benchmark_column.clone(),
        neutralizers: args.neutralizers.clone(),
        sample_weights: args.sample_weights.clone(),
        stakes: args.stakes.clone(),
        features: requested
            .as_ref()
            .is_none_or(|m| m.iter().any(|m| m.needs().contains(&Need::Features))),
    };
    let load_start = Instant::now();
    let mut inputs = load::load(&sources)?;
    let load_time = load_start.elapsed();
    let metrics = select_metrics(requested, &sources, inputs.feature_count > 0)?;
    let pairs = pairs(args.pairs.as_deref(), &inputs.submissions)?;

    let bar = progress_bar(
        inputs.eras.len() as u64,
        "scoring {bar:40} {pos}/{len} eras {elapsed}",
    );
    let tick = || bar.inc(1);
    let plan = compute::Plan {
        metrics: &metrics,
        pairs: &pairs,
        progress: &tick,
    };
    let report = compute::score(&mut inputs, &plan);
    bar.finish_and_clear();

    print!("{}", report::table(&report, &inputs.submissions));
    if let Some(out) = &args.out {
        let json = serde_json::to_string(&report::to_json(&report))?;
        std::fs::write(out, json).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    if args.timings {
        let timings: serde_json::Map<String, serde_json::Value> = report
            .timings
            .iter()
            .map(|(m, d)| (m.name().to_owned(), d.as_secs_f64().into()))
            .chain([("load".to_owned(), load_time.as_secs_f64().into())])
            .collect();
        eprintln!("timings_seconds {}", serde_json::Value::Object(timings));
    }
    Ok(())
}

fn parse_metrics(names: Option<&[String]>) -> Result<Option<Vec<Metric>>, BadInput> {
    let Some(names) = names else { return Ok(None) };
    let mut metrics = Vec::new();
    for name in names.iter().filter(|n| !n.trim().is_empty()) {
        let metric = Metric::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            BadInput(format!(
                "--metrics: unknown metric `{name}`; choose from {}",
                known.join(", ")
            ))
        })?;
        if !metrics.contains(&metric) {
            metrics.push(metric);
        }
    }
    Ok(Some(metrics))
}

fn has(need: Need, sources: &Sources, has_features: bool) -> bool {
    match need {
        Need::MetaModel => sources.meta_model.is_some(),
        Need::Benchmark => sources.benchmark.is_some(),
        Need::Features => has_features,
        Need::Neutralizers => sources.neutralizers.is_some(),
        Need::SampleWeights => sources.sample_weights.is_some(),
        Need::Stakes => sources.stakes.is_some(),
    }
}

/// The metrics to run: those requested (each must have its inputs), or all that can run.
fn select_metrics(
    requested: Option<Vec<Metric>>,
    sources: &Sources,
    has_features: bool,
) -> Result<Vec<Metric>, BadInput> {
    let possible = |m: &Metric| m.needs().iter().all(|&n| has(n, sources, has_features));
    match requested {
        None => Ok(Metric::ALL.into_iter().filter(possible).collect()),
        Some(metrics) => {
            for metric in &metrics {
                if let Some(need) = metric
                    .needs()
                    .iter()
                    .find(|&&n| !has(n, sources, has_features))
                {
                    return Err(BadInput(format!(
                        "--metrics {metric}: needs {}",
                        need.flag()
                    )));
                }
            }
            let mut metrics = metrics;
            metrics.sort();
            Ok(metrics)
        }
    }
}

/// Submission pairs for pair churn.
fn pairs(path: Option<&Path>, submissions: &[String]) -> anyhow::Result<Vec<(usize, usize)>> {
    let Some(path) = path else {
        if submissions.len() > ALL_PAIRS_SUBMISSIONS_MAX {
            return Ok(Vec::new());
        }
        let n = submissions.len();
        return Ok((0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .collect());
    };
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| BadInput(format!("{shown}: {e}")))?;
    let pairs: Vec<[String; 2]> = serde_json::from_str(&text).map_err(|e| {
        BadInput(format!(
            "{shown}: {e}; --pairs takes a JSON list of [\"a\", \"b\"] submission pairs"
        ))
    })?;
    let position = |name: &str| {
        submissions.iter().position(|s| s == name).ok_or_else(|| {
            BadInput(format!(
                "{shown}: `{name}` is not a submission of the predictions file"
            ))
        })
    };
    Ok(pairs
        .iter()
        .map(|[a, b]| Ok((position(a)?, position(b)?)))
        .collect::<Result<_, BadInput>>()?)
}
