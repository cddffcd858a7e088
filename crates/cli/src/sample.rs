//! `numerus sample`: a seeded, synthetic set of Numerai-layout files to score.
//!
//! [`generate`] is pure: a [`SampleSpec`] in, the tables of a [`Sample`] out, bit for bit the
//! same for the same spec. [`run`] checks the flags, writes the files and prints one line per
//! file. The same files serve the README demo, the parity suite against numerai-tools (with
//! the edge cases on) and the benchmark (one large era, edge cases off).
//!
//! The market model, per row (one stock in one era):
//! - features are a few shared Gaussian factors plus noise, binned into {0, 1, 2, 3, 4} with 20 %
//!   in each bin, as Numerai's features are;
//! - the latent return is an era-dependent multiple of a linear combination of the features,
//!   plus a hidden signal no feature sees, plus noise; `target` bins its rank within the era
//!   5/20/50/20/5 % into {0, 0.25, 0.5, 0.75, 1}, and `target_alt_20` bins a re-noised copy;
//! - each submission mixes the feature signal, some of the hidden signal, a few features of its
//!   own choosing and noise of its own level, then is ranked within the era or squashed by a
//!   logistic into [0, 1]; the meta model averages half of them.
//!
//! Every column draws from its own ChaCha8 stream (seed, column family, index), so columns are
//! generated in parallel and the result does not depend on the thread count.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use numerus_frames::{Column, Table, write_table};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Edge cases and files, shown by `numerus sample --help`.
const LONG_HELP: &str = "\
Files written to --out (with --format csv the .parquet files are .csv; stakes.csv is always CSV).
Every file but stakes.csv has the text columns `id` and `era`, rows shuffled in a different order
per file, so a scorer must join on (era, id):
  data.parquet            feature_<k> in {0,1,2,3,4}, target and target_alt_20 in
                          {0, 0.25, 0.5, 0.75, 1} (binned 5/20/50/20/5 % per era)
  predictions.parquet     model_000, model_001, ... in [0, 1], then the edge-case submissions
  meta_model.parquet      numerai_meta_model in [0, 1]
  benchmark.parquet       v5_lgbm_<name> benchmark models in [0, 1]
  neutralizers.parquet    neutralizer_<k>, real-valued exposures
  sample_weights.parquet  sample_weight in [0.5, 1.5] (0 on some rows: edge case 10)
  stakes.csv              submission, stake: about 70 % of the model_NNN submissions, one at 0

Edge cases (all on unless --no-edge-cases; all remain valid inputs for numerai-tools):
   1. ties from rounding: submissions rounded_2dp and rounded_1dp;
   2. near_constant (0.5 except 3 rows per era) and binary (0 or 1) submissions;
   3. meta_model_copy (the meta model) and target_copy (the target, NaN as 0.5) submissions;
   4. a constant submission (all 0.5): degenerate, its scores must be reported as undefined;
   5. NaN targets on about 10 % of the rows of each era (never more than 15 %);
   6. all-NaN feature rows on about 3 % of the rows of each era;
   7. feature_<K> duplicates feature_0 and feature_<K+1> is constant (2): K + 2 features;
   8. a tiny era: the last era has only 12 rows (with 2 eras or more), so it shares too few ids
      with the era before for numerai-tools' churn and turnover (under 80 %);
   9. neutralizer_intercept, a column of 1.0;
  10. zero sample weights on about 5 % of the rows of each era.";

/// The flags of `numerus sample`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = LONG_HELP)]
pub struct SampleArgs {
    /// Directory to write the files into (created if missing; files are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Seed of the generator: the same seed and flags give byte-identical files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of eras, labelled "0001", "0002", ...
    #[arg(long, default_value_t = 6)]
    eras: usize,
    /// Rows (stocks) per era; about 5 % of the stocks change between consecutive eras.
    #[arg(long, default_value_t = 600)]
    rows: usize,
    /// Number of model_NNN submissions, each with its own noise level.
    #[arg(long, default_value_t = 12)]
    submissions: usize,
    /// Number of feature_<k> columns (two more are added by the edge cases).
    #[arg(long, default_value_t = 20)]
    features: usize,
    /// Number of neutralizer_<k> columns (the edge cases add an intercept column).
    #[arg(long, default_value_t = 5)]
    neutralizers: usize,
    /// Number of v5_lgbm_<name> benchmark models.
    #[arg(long, default_value_t = 2)]
    benchmarks: usize,
    /// Leave out the edge cases (see --help), as the benchmark does.
    #[arg(long)]
    no_edge_cases: bool,
    /// File format of the tables (stakes.csv is always CSV).
    #[arg(long, value_enum, default_value_t = FileFormat::Parquet)]
    format: FileFormat,
}

/// The format of the written tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FileFormat {
    /// Snappy-compressed Parquet, as Numerai distributes its data.
    Parquet,
    /// CSV with a header row.
    Csv,
}

impl FileFormat {
    fn extension(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
        }
    }
}

/// Eras are labelled with 4 digits.
const ERAS_MAX: usize = 9_999;
/// Enough rows for every per-era edge case to fit beside ordinary rows.
const ROWS_MIN: usize = 20;
const ROWS_MAX: usize = 10_000_000;
const SUBMISSIONS_MAX: usize = 100_000;
const FEATURES_MAX: usize = 100_000;
const NEUTRALIZERS_MAX: usize = 10_000;
const BENCHMARKS_MAX: usize = 1_000;
/// Numbers held in memory at once (rows × number columns), about 8 GB of `f64`.
const CELLS_MAX: usize = 1_000_000_000;

/// What [`generate`] builds; the defaults are those of the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleSpec {
    /// Seed of every random stream.
    pub seed: u64,
    /// Number of eras.
    pub eras: usize,
    /// Rows per era (the tiny edge-case era has fewer).
    pub rows: usize,
    /// Number of `model_NNN` submissions.
    pub submissions: usize,
    /// Number of ordinary features.
    pub features: usize,
    /// Number of ordinary neutralizers.
    pub neutralizers: usize,
    /// Number of benchmark models.
    pub benchmarks: usize,
    /// Whether the edge cases listed in [`LONG_HELP`] are added.
    pub edge_cases: bool,
}

impl Default for SampleSpec {
    fn default() -> Self {
        Self {
            seed: 42,
            eras: 6,
            rows: 600,
            submissions: 12,
            features: 20,
            neutralizers: 5,
            benchmarks: 2,
            edge_cases: true,
        }
    }
}

impl SampleSpec {
    /// The spec of the flags, each checked against its limits.
    fn from_args(args: &SampleArgs) -> anyhow::Result<Self> {
        let spec = Self {
            seed: args.seed,
            eras: args.eras,
            rows: args.rows,
            submissions: args.submissions,
            features: args.features,
            neutralizers: args.neutralizers,
            benchmarks: args.benchmarks,
            edge_cases: !args.no_edge_cases,
        };
        check_range("--eras", spec.eras, 1, ERAS_MAX)?;
        check_range("--rows", spec.rows, ROWS_MIN, ROWS_MAX)?;
        check_range("--submissions", spec.submissions, 1, SUBMISSIONS_MAX)?;
        check_range("--features", spec.features, 1, FEATURES_MAX)?;
        check_range("--neutralizers", spec.neutralizers, 1, NEUTRALIZERS_MAX)?;
        check_range("--benchmarks", spec.benchmarks, 1, BENCHMARKS_MAX)?;
        let cells = (spec.eras * spec.rows)
            .saturating_mul(spec.features + spec.submissions + spec.neutralizers + 16);
        ensure!(
            cells <= CELLS_MAX,
            "--eras × --rows × (--features + --submissions + --neutralizers) is {cells} numbers, \
             above the limit of {CELLS_MAX}; ask for fewer eras, rows or columns"
        );
        Ok(spec)
    }

    /// The size of each era: `rows`, except the tiny last era of the edge cases.
    fn era_sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.rows; self.eras];
        if self.edge_cases && self.eras >= 2 {
            sizes[self.eras - 1] = TINY_ERA_ROWS;
        }
        sizes
    }
}

fn check_range(flag: &str, value: usize, min: usize, max: usize) -> anyhow::Result<()> {
    ensure!(
        (min..=max).contains(&value),
        "{flag} {value} is outside the accepted range; pass a value from {min} to {max}"
    );
    Ok(())
}

/// The generated tables, one per file.
#[derive(Debug, Clone)]
pub struct Sample {
    /// `id`, `era`, features, `target`, `target_alt_20`.
    pub data: Table,
    /// `id`, `era`, one column per submission.
    pub predictions: Table,
    /// `id`, `era`, `numerai_meta_model`.
    pub meta_model: Table,
    /// `id`, `era`, one column per benchmark model.
    pub benchmark: Table,
    /// `id`, `era`, one column per neutralizer.
    pub neutralizers: Table,
    /// `id`, `era`, `sample_weight`.
    pub sample_weights: Table,
    /// `submission`, `stake`.
    pub stakes: Table,
}

impl Sample {
    /// Each table with its file name, in the order they are written.
    fn files(&self, format: FileFormat) -> [(String, &Table, &'static str); 7] {
        let named = |stem: &str| format!("{stem}.{}", format.extension());
        [
            (named("data"), &self.data, "features and targets"),
            (named("predictions"), &self.predictions, "submissions"),
            (named("meta_model"), &self.meta_model, "meta model"),
            (named("benchmark"), &self.benchmark, "benchmark models"),
            (named("neutralizers"), &self.neutralizers, "neutralizers"),
            (
                named("sample_weights"),
                &self.sample_weights,
                "sample weights",
            ),
            ("stakes.csv".to_owned(), &self.stakes, "stakes"),
        ]
    }
}

/// Generates the sample of `args` and writes its files, one summary line per file.
///
/// # Errors
///
/// A flag outside its range, or a directory or file that cannot be written.
pub fn run(args: &SampleArgs) -> anyhow::Result<()> {
    let spec = SampleSpec::from_args(args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the output directory {}", args.out.display()))?;
    let sample = generate(&spec);
    for (name, table, what) in sample.files(args.format) {
        let path = args.out.join(&name);
        write_table(&path, table).with_context(|| format!("writing the {what}"))?;
        println!("{}", summary_line(&path, table, what));
    }
    Ok(())
}

fn summary_line(path: &Path, table: &Table, what: &str) -> String {
    format!(
        "wrote {}: {} rows × {} columns ({what})",
        path.display(),
        table.len(),
        table.columns.len()
    )
}

// ------------------------------------------------------------------------------------ streams

/// An independent random stream: one ChaCha8 stream per column family and index.
#[derive(Debug, Clone, Copy)]
enum Stream {
    /// Sequential choices: the universe of stocks, weights, edge-case rows, stakes.
    Main,
    Factor(usize),
    Feature(usize),
    Submission(usize),
    MetaModel,
    Benchmark(usize),
    Neutralizer(usize),
    Shuffle(usize),
}

impl Stream {
    /// The ChaCha stream number: the family in the high bits, the index in the low 40.
    fn number(self) -> u64 {
        let (family, index) = match self {
            Self::Main => (0, 0),
            Self::Factor(index) => (1, index),
            Self::Feature(index) => (2, index),
            Self::Submission(index) => (3, index),
            Self::MetaModel => (4, 0),
            Self::Benchmark(index) => (5, index),
            Self::Neutralizer(index) => (6, index),
            Self::Shuffle(index) => (7, index),
        };
        (family << 40) | index as u64
    }

    fn rng(self, seed: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(self.number());
        rng
    }
}

/// `count` standard normal draws (Box–Muller).
fn normals(rng: &mut ChaCha8Rng, count: usize) -> Vec<f64> {
    let mut values = vec![0.0; count];
    for pair in values.chunks_mut(2) {
        let uniform_open: f64 = 1.0 - rng.random::<f64>(); // in (0, 1], so the log is finite
        let angle = std::f64::consts::TAU * rng.random::<f64>();
        let radius = (-2.0 * uniform_open.ln()).sqrt();
        pair[0] = radius * angle.cos();
        if let Some(second) = pair.get_mut(1) {
            *second = radius * angle.sin();
        }
    }
    values
}

/// `amount` distinct indices below `length`, in increasing order.
fn choose(rng: &mut ChaCha8Rng, length: usize, amount: usize) -> Vec<usize> {
    let mut chosen = rand::seq::index::sample(rng, length, amount).into_vec();
    chosen.sort_unstable();
    chosen
}

// ------------------------------------------------------------------------------------- layout

/// The tiny era of edge case 8.
const TINY_ERA_ROWS: usize = 12;
/// Share of the stocks that leave (and enter) between consecutive eras.
const CHURN_SHARE: f64 = 0.05;

/// Which stock sits on each row, rows grouped by era.
struct Layout {
    /// The rows of each era.
    eras: Vec<Range<usize>>,
    /// The era label of each row ("0001", ...).
    era_labels: Vec<String>,
    /// The stock id of each row.
    ids: Vec<String>,
}

impl Layout {
    fn rows(&self) -> usize {
        self.ids.len()
    }
}

/// Eras of stocks drawn from a universe slightly larger than `rows`, about 5 % changing between
/// consecutive eras; the tiny era takes a subset of the stocks of its era.
fn layout(spec: &SampleSpec, rng: &mut ChaCha8Rng) -> Layout {
    let churn = ((spec.rows as f64 * CHURN_SHARE).round() as usize).max(1);
    let universe = spec.rows + 2 * churn + 1;
    let mut members: Vec<usize> = (0..spec.rows).collect();
    let (mut eras, mut era_labels, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for (era, size) in spec.era_sizes().into_iter().enumerate() {
        if era > 0 {
            rotate_members(&mut members, universe, churn, rng);
        }
        let stocks: Vec<usize> = if size < members.len() {
            choose(rng, members.len(), size)
                .into_iter()
                .map(|index| members[index])
                .collect()
        } else {
            members.clone()
        };
        eras.push(ids.len()..ids.len() + size);
        let label = format!("{:04}", era + 1);
        era_labels.extend(std::iter::repeat_n(label, size));
        ids.extend(stocks.into_iter().map(|stock| stock_id(spec.seed, stock)));
    }
    Layout {
        eras,
        era_labels,
        ids,
    }
}

/// Replaces `churn` random members by `churn` stocks of the universe outside the members.
fn rotate_members(members: &mut Vec<usize>, universe: usize, churn: usize, rng: &mut ChaCha8Rng) {
    members.shuffle(rng);
    members.truncate(members.len() - churn);
    let mut inside = vec![false; universe];
    for &stock in members.iter() {
        inside[stock] = true;
    }
    let outside: Vec<usize> = (0..universe).filter(|&stock| !inside[stock]).collect();
    members.extend(
        choose(rng, outside.len(), churn)
            .into_iter()
            .map(|index| outside[index]),
    );
    members.sort_unstable();
}

/// "n" and 15 hex digits: a bijective mix of the stock index (distinct stocks, distinct ids).
fn stock_id(seed: u64, stock: usize) -> String {
    const MASK_60: u64 = (1 << 60) - 1;
    let mut x = (stock as u64).wrapping_add(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)) & MASK_60;
    // Odd multipliers and right xor-shifts are bijections on 60-bit integers.
    for multiplier in [0xBF58_476D_1CE4_E5B9_u64, 0x94D0_49BB_1331_11EB] {
        x ^= x >> 29;
        x = x.wrapping_mul(multiplier) & MASK_60;
    }
    x ^= x >> 31;
    format!("n{x:015x}")
}

// ------------------------------------------------------------------------------------- market

/// Shared Gaussian factors behind the features.
const FACTORS: usize = 8;
/// Weight of its factor in a feature's latent value; the noise has weight sqrt(1 - 0.6²).
const FACTOR_LOADING: f64 = 0.6;
const FEATURE_NOISE_LOADING: f64 = 0.8;
/// Standard normal quantiles at 20, 40, 60 and 80 %: five equally likely feature values.
const FEATURE_BIN_EDGES: [f64; 4] = [
    -0.841_621_233_572_914_3,
    -0.253_347_103_135_799_7,
    0.253_347_103_135_799_7,
    0.841_621_233_572_914_3,
];
/// Cumulative shares of the target bins: 5/20/50/20/5 %.
const TARGET_BIN_EDGES: [f64; 4] = [0.05, 0.25, 0.75, 0.95];

/// The latent state of every row.
struct Market {
    /// The shared factors, one column each.
    factors: Vec<Vec<f64>>,
    /// Feature values in {0, 1, 2, 3, 4}, one column per feature.
    features: Vec<Vec<f64>>,
    /// A linear combination of the features, standardized within each era.
    signal: Vec<f64>,
    /// The part of the return no feature sees.
    hidden: Vec<f64>,
    /// In {0, 0.25, 0.5, 0.75, 1}.
    target: Vec<f64>,
    /// The same return, noised again, binned the same way.
    target_alt: Vec<f64>,
}

fn market(spec: &SampleSpec, layout: &Layout, rng: &mut ChaCha8Rng) -> Market {
    let rows = layout.rows();
    let factors: Vec<Vec<f64>> = (0..FACTORS)
        .map(|factor| normals(&mut Stream::Factor(factor).rng(spec.seed), rows))
        .collect();
    let features = feature_columns(spec.seed, &factors, spec.features);
    let weights = normals(rng, spec.features);
    let signal = standardized_per_era(&linear_combination(&features, &weights), &layout.eras);
    let hidden = normals(rng, rows);
    let regimes: Vec<f64> = layout
        .eras
        .iter()
        .map(|_| rng.random_range(-0.5..1.5))
        .collect();
    let noise = normals(rng, rows);
    let mut latent_return = vec![0.0; rows];
    for (era, range) in layout.eras.iter().enumerate() {
        for row in range.clone() {
            latent_return[row] = regimes[era] * 0.4 * signal[row] + 0.4 * hidden[row] + noise[row];
        }
    }
    let alt_noise = normals(rng, rows);
    let alt_return: Vec<f64> = latent_return
        .iter()
        .zip(&alt_noise)
        .map(|(r, n)| r + 0.8 * n)
        .collect();
    Market {
        factors,
        features,
        signal,
        hidden,
        target: binned_by_rank(&latent_return, &layout.eras),
        target_alt: binned_by_rank(&alt_return, &layout.eras),
    }
}

/// Feature columns, each its factor plus noise binned into five equally likely values.
fn feature_columns(seed: u64, factors: &[Vec<f64>], count: usize) -> Vec<Vec<f64>> {
    (0..count)
        .into_par_iter()
        .map(|feature| {
            let mut column = normals(&mut Stream::Feature(feature).rng(seed), factors[0].len());
            for (value, &common) in column.iter_mut().zip(&factors[feature % FACTORS]) {
                let latent = FACTOR_LOADING * common + FEATURE_NOISE_LOADING * *value;
                *value = bin_of(latent, &FEATURE_BIN_EDGES) as f64;
            }
            column
        })
        .collect()
}

/// The number of edges at or below `value`.
fn bin_of(value: f64, edges: &[f64; 4]) -> usize {
    edges.iter().filter(|&&edge| value >= edge).count()
}

/// Σ_k w_k (f_k − 2) over the feature columns.
fn linear_combination(features: &[Vec<f64>], weights: &[f64]) -> Vec<f64> {
    let mut sum = vec![0.0; features.first().map_or(0, Vec::len)];
    for (column, &weight) in features.iter().zip(weights) {
        for (total, &value) in sum.iter_mut().zip(column) {
            *total += weight * (value - 2.0);
        }
    }
    sum
}

/// `values` minus the era mean, over the era standard deviation (0 where that is 0).
fn standardized_per_era(values: &[f64], eras: &[Range<usize>]) -> Vec<f64> {
    let mut standardized = vec![0.0; values.len()];
    for range in eras {
        let era = &values[range.clone()];
        let mean = era.iter().sum::<f64>() / era.len() as f64;
        let variance = era.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / era.len() as f64;
        let scale = if variance > 0.0 {
            variance.sqrt().recip()
        } else {
            0.0
        };
        for (out, value) in standardized[range.clone()].iter_mut().zip(era) {
            *out = (value - mean) * scale;
        }
    }
    standardized
}

/// Per era, (rank + 0.5) / n of each value: distinct values in (0, 1), ties broken by row.
fn rank_fractions(values: &[f64], eras: &[Range<usize>]) -> Vec<f64> {
    let mut fractions = vec![0.0; values.len()];
    let mut order = Vec::new();
    for range in eras {
        order.clear();
        order.extend(range.clone());
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let rows = range.len() as f64;
        for (rank, &row) in order.iter().enumerate() {
            fractions[row] = (rank as f64 + 0.5) / rows;
        }
    }
    fractions
}

/// Per era, the rank of each value binned 5/20/50/20/5 % into {0, 0.25, 0.5, 0.75, 1}.
fn binned_by_rank(values: &[f64], eras: &[Range<usize>]) -> Vec<f64> {
    rank_fractions(values, eras)
        .into_iter()
        .map(|fraction| bin_of(fraction, &TARGET_BIN_EDGES) as f64 / 4.0)
        .collect()
}

// -------------------------------------------------------------------------------- submissions

/// Features each submission picks for itself.
const PICKED_FEATURES: usize = 8;

/// The `model_NNN` columns, in [0, 1] without NaN.
fn model_columns(spec: &SampleSpec, market: &Market, eras: &[Range<usize>]) -> Vec<Vec<f64>> {
    (0..spec.submissions)
        .into_par_iter()
        .map(|model| model_column(spec, model, market, eras))
        .collect()
}

/// Skill on the feature signal, some hidden signal, a few picked features, and noise growing
/// with the model number; even models are ranked per era, odd ones squashed by a logistic.
fn model_column(
    spec: &SampleSpec,
    model: usize,
    market: &Market,
    eras: &[Range<usize>],
) -> Vec<f64> {
    let mut rng = Stream::Submission(model).rng(spec.seed);
    let skill = rng.random_range(0.2..1.0);
    let insight = rng.random_range(0.0..0.6);
    let noise_level = 0.5 + 2.5 * model as f64 / (spec.submissions.max(2) - 1) as f64;
    let picks: Vec<(usize, f64)> = (0..PICKED_FEATURES)
        .map(|_| {
            (
                rng.random_range(0..spec.features),
                0.3 * rng.random_range(-1.0..1.0),
            )
        })
        .collect();
    let mut raw = normals(&mut rng, market.signal.len());
    for (row, value) in raw.iter_mut().enumerate() {
        *value = skill * market.signal[row] + insight * market.hidden[row] + noise_level * *value;
    }
    for (feature, weight) in picks {
        for (value, &feature_value) in raw.iter_mut().zip(&market.features[feature]) {
            *value += weight * (feature_value - 2.0);
        }
    }
    if model % 2 == 1 {
        let scale = (1.0 + noise_level).recip();
        raw.iter()
            .map(|&value| 1.0 / (1.0 + (-value * scale).exp()))
            .collect()
    } else {
        rank_fractions(&raw, eras)
    }
}

/// The mean of the even models (already per-era ranks) plus a little noise, ranked per era.
fn meta_model_column(seed: u64, models: &[Vec<f64>], eras: &[Range<usize>]) -> Vec<f64> {
    let members: Vec<&Vec<f64>> = models.iter().step_by(2).collect();
    let mut mean = normals(&mut Stream::MetaModel.rng(seed), models[0].len());
    for value in &mut mean {
        *value *= 0.05;
    }
    for member in &members {
        for (total, &value) in mean.iter_mut().zip(member.iter()) {
            *total += value / members.len() as f64;
        }
    }
    rank_fractions(&mean, eras)
}

/// Names of the benchmark models, Numerai style; more benchmarks are numbered.
const BENCHMARK_NAMES: [&str; 6] = [
    "cyrusd_20",
    "teager2b_20",
    "agnes_20",
    "claudia_20",
    "ralph_20",
    "victor_20",
];

fn benchmark_name(index: usize) -> String {
    match BENCHMARK_NAMES.get(index) {
        Some(name) => format!("v5_lgbm_{name}"),
        None => format!("v5_lgbm_model_{index:03}"),
    }
}

/// A strong model of the feature signal with a little hidden signal, ranked per era.
fn benchmark_column(seed: u64, index: usize, market: &Market, eras: &[Range<usize>]) -> Vec<f64> {
    let noise = normals(&mut Stream::Benchmark(index).rng(seed), market.signal.len());
    let noise_level = 0.6 + 0.3 * index as f64;
    let raw: Vec<f64> = (0..noise.len())
        .map(|row| 0.8 * market.signal[row] + 0.3 * market.hidden[row] + noise_level * noise[row])
        .collect();
    rank_fractions(&raw, eras)
}

/// Even neutralizers follow one feature, odd ones a factor; both standardized-ish.
fn neutralizer_column(seed: u64, index: usize, market: &Market) -> Vec<f64> {
    let noise = normals(
        &mut Stream::Neutralizer(index).rng(seed),
        market.signal.len(),
    );
    if index % 2 == 1 {
        let factor = &market.factors[index % FACTORS];
        factor
            .iter()
            .zip(&noise)
            .map(|(f, n)| 0.8 * f + 0.6 * n)
            .collect()
    } else {
        let feature = &market.features[(index / 2 * 7) % market.features.len()];
        let unit = std::f64::consts::FRAC_1_SQRT_2; // the feature values have variance 2
        feature
            .iter()
            .zip(&noise)
            .map(|(f, n)| 0.7 * (f - 2.0) * unit + 0.7 * n)
            .collect()
    }
}

// --------------------------------------------------------------------------------- edge cases

const NAN_TARGET_SHARE: f64 = 0.10;
const NAN_FEATURE_ROW_SHARE: f64 = 0.03;
const ZERO_WEIGHT_SHARE: f64 = 0.05;
/// Rows per era where the near-constant submission is not 0.5, and its values there.
const NEAR_CONSTANT_VALUES: [f64; 3] = [0.25, 0.75, 1.0];

/// The rows touched by the per-era edge cases.
struct EdgeRows {
    /// Edge case 5.
    nan_target: Vec<bool>,
    /// Edge case 6.
    nan_features: Vec<bool>,
    /// Edge case 10.
    zero_weight: Vec<bool>,
}

impl EdgeRows {
    fn pick(rng: &mut ChaCha8Rng, layout: &Layout) -> Self {
        Self {
            nan_target: rows_per_era(rng, &layout.eras, NAN_TARGET_SHARE),
            nan_features: rows_per_era(rng, &layout.eras, NAN_FEATURE_ROW_SHARE),
            zero_weight: rows_per_era(rng, &layout.eras, ZERO_WEIGHT_SHARE),
        }
    }

    /// Rows with a target and all features: where the near-constant submission varies.
    fn clean(&self, row: usize) -> bool {
        !self.nan_target[row] && !self.nan_features[row]
    }
}

/// A mask with round(share × n) rows (at least 1) of each era of n rows set at random.
fn rows_per_era(rng: &mut ChaCha8Rng, eras: &[Range<usize>], share: f64) -> Vec<bool> {
    let mut mask = vec![false; eras.last().map_or(0, |range| range.end)];
    for range in eras {
        let count = ((range.len() as f64 * share).round() as usize).max(1);
        for offset in choose(rng, range.len(), count) {
            mask[range.start + offset] = true;
        }
    }
    mask
}

/// Edge cases 5 to 7 on the data columns: NaN targets, all-NaN feature rows, and the
/// duplicate and constant features.
fn add_data_edge_cases(market: &mut Market, edges: &EdgeRows) {
    for (row, &nan) in edges.nan_target.iter().enumerate() {
        if nan {
            market.target[row] = f64::NAN;
            market.target_alt[row] = f64::NAN;
        }
    }
    let duplicate = market.features[0].clone();
    let constant = vec![2.0; duplicate.len()];
    market.features.extend([duplicate, constant]);
    market.features.par_iter_mut().for_each(|column| {
        for (value, &nan) in column.iter_mut().zip(&edges.nan_features) {
            if nan {
                *value = f64::NAN;
            }
        }
    });
}

/// Edge cases 1 to 4: the extra submissions, named, after the `model_NNN` ones.
fn edge_submissions(
    models: &Named,
    meta_model: &[f64],
    target: &[f64],
    layout: &Layout,
    edges: &EdgeRows,
    rng: &mut ChaCha8Rng,
) -> Named {
    let round_to = |values: &[f64], scale: f64| -> Vec<f64> {
        values
            .iter()
            .map(|value| (value * scale).round() / scale)
            .collect()
    };
    // model_000 holds per-era ranks, so its upper half is exactly the rows above 0.5.
    let (model_0, model_1) = (&models[0].1, &models[1.min(models.len() - 1)].1);
    let binary = model_0
        .iter()
        .map(|&value| f64::from(u8::from(value > 0.5)))
        .collect();
    let target_copy = target
        .iter()
        .map(|&value| if value.is_nan() { 0.5 } else { value })
        .collect();
    vec![
        ("rounded_2dp".to_owned(), round_to(model_0, 100.0)),
        ("rounded_1dp".to_owned(), round_to(model_1, 10.0)),
        (
            "near_constant".to_owned(),
            near_constant(layout, edges, rng),
        ),
        ("binary".to_owned(), binary),
        ("meta_model_copy".to_owned(), meta_model.to_vec()),
        ("target_copy".to_owned(), target_copy),
        ("constant".to_owned(), vec![0.5; target.len()]),
    ]
}

/// 0.5 everywhere except three clean rows of each era.
fn near_constant(layout: &Layout, edges: &EdgeRows, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut values = vec![0.5; layout.rows()];
    for range in &layout.eras {
        let clean: Vec<usize> = range.clone().filter(|&row| edges.clean(row)).collect();
        let chosen = choose(
            rng,
            clean.len(),
            NEAR_CONSTANT_VALUES.len().min(clean.len()),
        );
        for (index, value) in chosen.into_iter().zip(NEAR_CONSTANT_VALUES) {
            values[clean[index]] = value;
        }
    }
    values
}

// ------------------------------------------------------------------------------------- stakes

const STAKED_SHARE: f64 = 0.7;
/// Stakes are whole cents of up to 5 000 NMR, written as decimals.
const STAKE_CENTS_MAX: u32 = 500_000;

/// About 70 % of the `model_NNN` submissions with a stake, in submission order, one of them 0.
fn stakes_table(rng: &mut ChaCha8Rng, submissions: usize) -> Table {
    let staked_count = ((submissions as f64 * STAKED_SHARE).round() as usize).max(1);
    let staked = choose(rng, submissions, staked_count);
    let zero = rng.random_range(0..staked.len());
    let stakes = (0..staked.len())
        .map(|index| {
            let cents = if index == zero {
                0
            } else {
                rng.random_range(1..=STAKE_CENTS_MAX)
            };
            f64::from(cents) / 100.0
        })
        .collect();
    Table {
        columns: vec![
            Column::text(
                "submission",
                staked.iter().map(|&model| model_name(model)).collect(),
            ),
            Column::number("stake", stakes),
        ],
    }
}

fn model_name(index: usize) -> String {
    format!("model_{index:03}")
}

// ----------------------------------------------------------------------------------- assembly

/// Named number columns, in the canonical row order of a [`Layout`].
type Named = Vec<(String, Vec<f64>)>;

/// Builds every table of the sample described by `spec`; the same spec gives the same bits.
pub fn generate(spec: &SampleSpec) -> Sample {
    let mut rng = Stream::Main.rng(spec.seed);
    let layout = layout(spec, &mut rng);
    let mut columns = Columns::ordinary(spec, &layout, &mut rng);
    if spec.edge_cases {
        columns.add_edge_cases(&layout, &mut rng);
    }
    let stakes = stakes_table(&mut rng, spec.submissions);
    columns.into_sample(spec.seed, &layout, stakes)
}

/// The number columns of the keyed files, before their rows are shuffled.
struct Columns {
    market: Market,
    /// `model_NNN` first, then the edge-case submissions.
    predictions: Named,
    meta_model: Vec<f64>,
    benchmarks: Named,
    neutralizers: Named,
    weights: Vec<f64>,
}

impl Columns {
    /// The columns without edge cases.
    fn ordinary(spec: &SampleSpec, layout: &Layout, rng: &mut ChaCha8Rng) -> Self {
        let market = market(spec, layout, rng);
        let models = model_columns(spec, &market, &layout.eras);
        let meta_model = meta_model_column(spec.seed, &models, &layout.eras);
        let weights = (0..layout.rows())
            .map(|_| rng.random_range(0.5..1.5))
            .collect();
        let neutralizers = (0..spec.neutralizers)
            .into_par_iter()
            .map(|index| {
                (
                    format!("neutralizer_{index}"),
                    neutralizer_column(spec.seed, index, &market),
                )
            })
            .collect();
        let benchmarks = (0..spec.benchmarks)
            .into_par_iter()
            .map(|index| {
                (
                    benchmark_name(index),
                    benchmark_column(spec.seed, index, &market, &layout.eras),
                )
            })
            .collect();
        let predictions = models
            .into_iter()
            .enumerate()
            .map(|(index, column)| (model_name(index), column))
            .collect();
        Self {
            market,
            predictions,
            meta_model,
            benchmarks,
            neutralizers,
            weights,
        }
    }

    /// Adds the edge cases listed in [`LONG_HELP`].
    fn add_edge_cases(&mut self, layout: &Layout, rng: &mut ChaCha8Rng) {
        let edges = EdgeRows::pick(rng, layout);
        add_data_edge_cases(&mut self.market, &edges);
        let extra = edge_submissions(
            &self.predictions,
            &self.meta_model,
            &self.market.target,
            layout,
            &edges,
            rng,
        );
        self.predictions.extend(extra);
        self.neutralizers
            .push(("neutralizer_intercept".to_owned(), vec![1.0; layout.rows()]));
        for (weight, &zero) in self.weights.iter_mut().zip(&edges.zero_weight) {
            if zero {
                *weight = 0.0;
            }
        }
    }

    /// The tables, each with `id`, `era` and its own row order.
    fn into_sample(self, seed: u64, layout: &Layout, stakes: Table) -> Sample {
        let keyed = Keyed { seed, layout };
        Sample {
            data: keyed.table(0, data_columns(self.market)),
            predictions: keyed.table(1, self.predictions),
            meta_model: keyed.table(2, vec![("numerai_meta_model".to_owned(), self.meta_model)]),
            benchmark: keyed.table(3, self.benchmarks),
            neutralizers: keyed.table(4, self.neutralizers),
            sample_weights: keyed.table(5, vec![("sample_weight".to_owned(), self.weights)]),
            stakes,
        }
    }
}

fn data_columns(market: Market) -> Named {
    let mut columns: Named = market
        .features
        .into_iter()
        .enumerate()
        .map(|(index, column)| (format!("feature_{index}"), column))
        .collect();
    columns.push(("target".to_owned(), market.target));
    columns.push(("target_alt_20".to_owned(), market.target_alt));
    columns
}

/// Tables keyed by `id` and `era`, each file with its own row order.
struct Keyed<'a> {
    seed: u64,
    layout: &'a Layout,
}

impl Keyed<'_> {
    /// `id`, `era` and `columns`, rows in the shuffled order of file number `file`.
    fn table(&self, file: usize, columns: Named) -> Table {
        let mut order: Vec<usize> = (0..self.layout.rows()).collect();
        order.shuffle(&mut Stream::Shuffle(file).rng(self.seed));
        let mut table_columns = vec![
            Column::text("id", gather(&self.layout.ids, &order)),
            Column::text("era", gather(&self.layout.era_labels, &order)),
        ];
        table_columns.par_extend(
            columns
                .into_par_iter()
                .map(|(name, values)| Column::number(name, gather(&values, &order))),
        );
        Table {
            columns: table_columns,
        }
    }
}

fn gather<T: Clone>(values: &[T], order: &[usize]) -> Vec<T> {
    order.iter().map(|&row| values[row].clone()).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use numerus_frames::Values;

    use super::*;

    fn small(edge_cases: bool) -> SampleSpec {
        SampleSpec {
            eras: 4,
            rows: 200,
            submissions: 6,
            features: 10,
            neutralizers: 3,
            edge_cases,
            ..SampleSpec::default()
        }
    }

    fn numbers<'t>(table: &'t Table, name: &str) -> &'t [f64] {
        let column = table
            .column(name)
            .unwrap_or_else(|| panic!("no column {name}"));
        column.values.as_numbers().unwrap()
    }

    fn texts<'t>(table: &'t Table, name: &str) -> &'t [String] {
        table.column(name).unwrap().values.as_text().unwrap()
    }

    /// Row of each (era, id) in `table`.
    fn keys(table: &Table) -> HashMap<(String, String), usize> {
        let pairs = texts(table, "era")
            .iter()
            .cloned()
            .zip(texts(table, "id").iter().cloned());
        pairs.enumerate().map(|(row, key)| (key, row)).collect()
    }

    /// Values of `name` in `table`, in the row order of `reference`.
    fn aligned(table: &Table, name: &str, reference: &Table) -> Vec<f64> {
        let rows = keys(table);
        let values = numbers(table, name);
        let pairs = texts(reference, "era").iter().zip(texts(reference, "id"));
        pairs
            .map(|(era, id)| values[rows[&(era.clone(), id.clone())]])
            .collect()
    }

    /// Row indices of each era of `table`, eras in order.
    fn era_rows(table: &Table) -> Vec<Vec<usize>> {
        let mut eras: Vec<(String, Vec<usize>)> = Vec::new();
        for (row, era) in texts(table, "era").iter().enumerate() {
            match eras.iter_mut().find(|(name, _)| name == era) {
                Some((_, rows)) => rows.push(row),
                None => eras.push((era.clone(), vec![row])),
            }
        }
        eras.sort();
        eras.into_iter().map(|(_, rows)| rows).collect()
    }

    fn same_bits(left: &Table, right: &Table) -> bool {
        left.columns.len() == right.columns.len()
            && left.columns.iter().zip(&right.columns).all(|(a, b)| {
                a.name == b.name
                    && match (&a.values, &b.values) {
                        (Values::Text(a), Values::Text(b)) => a == b,
                        (Values::Number(a), Values::Number(b)) => {
                            a.len() == b.len()
                                && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
                        }
                        _ => false,
                    }
            })
    }

    fn all_tables(sample: &Sample) -> Vec<&Table> {
        sample
            .files(FileFormat::Parquet)
            .into_iter()
            .map(|(_, table, _)| table)
            .collect()
    }

    #[test]
    fn same_seed_gives_identical_tables_and_another_seed_does_not() {
        let spec = small(true);
        let (first, second) = (generate(&spec), generate(&spec));
        for (a, b) in all_tables(&first).into_iter().zip(all_tables(&second)) {
            assert!(same_bits(a, b));
        }
        let other = generate(&SampleSpec { seed: 7, ..spec });
        assert!(!same_bits(&first.predictions, &other.predictions));
    }

    #[test]
    fn every_prediction_is_in_the_unit_interval_and_not_nan() {
        let sample = generate(&small(true));
        for table in [&sample.predictions, &sample.meta_model, &sample.benchmark] {
            for column in &table.columns[2..] {
                let values = column.values.as_numbers().unwrap();
                assert!(
                    values.iter().all(|v| (0.0..=1.0).contains(v)),
                    "{}",
                    column.name
                );
            }
        }
    }

    #[test]
    fn nan_targets_stay_at_most_15_percent_of_every_era() {
        let sample = generate(&small(true));
        let target = numbers(&sample.data, "target");
        for rows in era_rows(&sample.data) {
            let nan = rows.iter().filter(|&&row| target[row].is_nan()).count();
            assert!(
                nan >= 1 && nan as f64 <= 0.15 * rows.len() as f64,
                "{nan} of {}",
                rows.len()
            );
        }
    }

    #[test]
    fn every_edge_case_is_present() {
        let spec = small(true);
        let sample = generate(&spec);
        let (data, predictions) = (&sample.data, &sample.predictions);
        // 1. Rounded submissions have ties.
        let rounded: HashSet<u64> = numbers(predictions, "rounded_1dp")
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert!(rounded.len() <= 11);
        assert!(
            numbers(predictions, "rounded_2dp")
                .iter()
                .all(|v| (v * 100.0 - (v * 100.0).round()).abs() < 1e-9)
        );
        // 2. Near-constant: exactly three values other than 0.5 per era; binary: only 0 and 1.
        let near = numbers(predictions, "near_constant");
        for rows in era_rows(predictions) {
            assert_eq!(rows.iter().filter(|&&row| near[row] != 0.5).count(), 3);
        }
        assert!(
            numbers(predictions, "binary")
                .iter()
                .all(|&v| v == 0.0 || v == 1.0)
        );
        // 3. Copies of the meta model and of the target.
        let meta = aligned(&sample.meta_model, "numerai_meta_model", predictions);
        assert_eq!(numbers(predictions, "meta_model_copy"), meta.as_slice());
        let target = aligned(data, "target", predictions);
        let copy = numbers(predictions, "target_copy");
        assert!(
            target
                .iter()
                .zip(copy)
                .all(|(t, c)| if t.is_nan() { *c == 0.5 } else { t == c })
        );
        // 4. A constant submission.
        assert!(numbers(predictions, "constant").iter().all(|&v| v == 0.5));
        // 6. All-NaN feature rows, and every other row has all features.
        let features: Vec<&[f64]> = (0..spec.features + 2)
            .map(|k| numbers(data, &format!("feature_{k}")))
            .collect();
        let nan_rows = (0..data.len())
            .filter(|&row| features[0][row].is_nan())
            .count();
        assert!(nan_rows >= spec.eras);
        for row in 0..data.len() {
            let nan = features
                .iter()
                .filter(|column| column[row].is_nan())
                .count();
            assert!(nan == 0 || nan == features.len());
        }
        // 7. A duplicate and a constant feature.
        let duplicate = numbers(data, &format!("feature_{}", spec.features));
        assert!(
            duplicate
                .iter()
                .zip(features[0])
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        let constant = numbers(data, &format!("feature_{}", spec.features + 1));
        assert!(constant.iter().all(|&v| v == 2.0 || v.is_nan()));
        // 8. The last era is tiny.
        assert_eq!(era_rows(data).last().unwrap().len(), TINY_ERA_ROWS);
        // 9. An intercept neutralizer.
        assert!(
            numbers(&sample.neutralizers, "neutralizer_intercept")
                .iter()
                .all(|&v| v == 1.0)
        );
        // 10. Zero sample weights, the others in [0.5, 1.5].
        let weights = numbers(&sample.sample_weights, "sample_weight");
        assert!(weights.contains(&0.0));
        assert!(
            weights
                .iter()
                .all(|&w| w == 0.0 || (0.5..=1.5).contains(&w))
        );
    }

    #[test]
    fn without_edge_cases_nothing_is_missing_and_targets_are_binned_5_20_50_20_5() {
        let spec = SampleSpec {
            eras: 2,
            rows: 1_000,
            ..small(false)
        };
        let sample = generate(&spec);
        assert_eq!(sample.predictions.columns.len(), 2 + spec.submissions);
        assert_eq!(sample.data.columns.len(), 2 + spec.features + 2);
        for column in &sample.data.columns[2..] {
            assert!(
                column
                    .values
                    .as_numbers()
                    .unwrap()
                    .iter()
                    .all(|v| !v.is_nan())
            );
        }
        let target = numbers(&sample.data, "target");
        for rows in era_rows(&sample.data) {
            let count = |bin: f64| rows.iter().filter(|&&row| target[row] == bin).count();
            assert_eq!(
                [0.0, 0.25, 0.5, 0.75, 1.0].map(count),
                [50, 200, 500, 200, 50]
            );
        }
    }

    #[test]
    fn ids_are_unique_per_era_and_mostly_shared_by_consecutive_eras() {
        let sample = generate(&small(true));
        let ids = texts(&sample.data, "id");
        let eras: Vec<HashSet<&String>> = era_rows(&sample.data)
            .iter()
            .map(|rows| rows.iter().map(|&row| &ids[row]).collect())
            .collect();
        for (era, rows) in eras.iter().zip(era_rows(&sample.data)) {
            assert_eq!(era.len(), rows.len());
        }
        for pair in eras[..eras.len() - 1].windows(2) {
            let shared = pair[0].intersection(&pair[1]).count();
            assert!(shared < pair[0].len() && shared as f64 >= 0.9 * pair[0].len() as f64);
        }
        assert!(ids.iter().all(|id| id.len() == 16 && id.starts_with('n')));
    }

    #[test]
    fn files_list_the_same_rows_in_different_orders() {
        let sample = generate(&small(true));
        let data_keys = keys(&sample.data);
        for table in [
            &sample.predictions,
            &sample.meta_model,
            &sample.sample_weights,
        ] {
            assert_eq!(
                keys(table).keys().collect::<HashSet<_>>(),
                data_keys.keys().collect()
            );
            assert_ne!(texts(table, "id"), texts(&sample.data, "id"));
        }
    }

    #[test]
    fn about_70_percent_of_models_are_staked_with_one_zero_stake() {
        let sample = generate(&SampleSpec {
            submissions: 20,
            ..small(true)
        });
        let stakes = numbers(&sample.stakes, "stake");
        assert_eq!(stakes.len(), 14);
        assert_eq!(stakes.iter().filter(|&&stake| stake == 0.0).count(), 1);
        assert!(
            texts(&sample.stakes, "submission")
                .iter()
                .all(|name| name.starts_with("model_"))
        );
    }

    #[test]
    fn models_score_differently() {
        let sample = generate(&small(false));
        let target = numbers(&sample.data, "target");
        let correlation = |name: &str| {
            let p = aligned(&sample.predictions, name, &sample.data);
            let (mp, mt) = (
                p.iter().sum::<f64>() / p.len() as f64,
                target.iter().sum::<f64>() / target.len() as f64,
            );
            let cov: f64 = p.iter().zip(target).map(|(a, b)| (a - mp) * (b - mt)).sum();
            let (vp, vt): (f64, f64) = (
                p.iter().map(|a| (a - mp).powi(2)).sum(),
                target.iter().map(|b| (b - mt).powi(2)).sum(),
            );
            cov / (vp * vt).sqrt()
        };
        let correlations: Vec<f64> = (0..6)
            .map(|model| correlation(&model_name(model)))
            .collect();
        assert!(correlations.iter().any(|&c| c > 0.1), "{correlations:?}");
        assert!(correlations.windows(2).all(|pair| pair[0] != pair[1]));
    }

    #[test]
    fn stock_ids_are_distinct_for_distinct_stocks() {
        let ids: HashSet<String> = (0..100_000).map(|stock| stock_id(42, stock)).collect();
        assert_eq!(ids.len(), 100_000);
    }

    #[test]
    fn flags_outside_their_range_are_refused() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: SampleArgs,
        }
        let parse = |extra: &[&str]| {
            let mut argv = vec!["sample", "--out", "/tmp/x"];
            argv.extend_from_slice(extra);
            SampleSpec::from_args(&Cli::parse_from(argv).args)
        };
        assert_eq!(parse(&[]).unwrap(), SampleSpec::default());
        assert!(
            parse(&["--rows", "5"])
                .unwrap_err()
                .to_string()
                .contains("--rows 5")
        );
        assert!(parse(&["--eras", "0"]).is_err());
        assert!(!parse(&["--no-edge-cases"]).unwrap().edge_cases);
    }
}
