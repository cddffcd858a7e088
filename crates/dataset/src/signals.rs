//! The Signals build: a stock panel in, a dataset version in the layout of Numerai Signals
//! v2.1 out.
//!
//! Signals participants bring their own data; what the tournament publishes is the universe,
//! a set of *named* (not obfuscated) factor features, targets, and — since v2.1 — the
//! neutralizer matrix and sample weights the payout score uses. Rows are keyed by the public
//! `numerai_ticker` (`"TICKER CC"`: the ticker, a space, the ISO country of listing) and the
//! era's `date`; there are no hashed ids.
//!
//! The eras are Classic's ([`Plan`]: weekly dates with [`LOOKBACK`] days of history before
//! them, the same train / embargo / validation split), and the build streams the panel the same
//! way: a day at a time into a [`History`] window, writing an era (one row group per file)
//! when the panel has reached its longest target window. Memory is the window plus one era.
//!
//! # Files
//!
//! Every table is unindexed: `numerai_ticker` and `date` (`YYYY-MM-DD`) are ordinary string
//! columns, as in Numerai's files, and rows are sorted by `numerai_ticker` within a date.
//!
//! | file | columns |
//! |------|---------|
//! | `train.parquet`, `validation.parquet` | `numerai_ticker`, `date`, `era`, `data_type` (text); `feature_country` (text); the 22 factor features (int8, 0..=4); [`TARGETS`] (float32) |
//! | `live.parquet` | `numerai_ticker`, `date` (the panel's last date), `era`, `data_type` = `live`, `feature_country`, the factor features |
//! | `train_neutralizer.parquet`, `validation_neutralizer.parquet` | `numerai_ticker`, `date`, `neutralizer_*` (float64) |
//! | `train_sample_weights.parquet`, `validation_sample_weights.parquet` | `numerai_ticker`, `date`, `sample_weights` (float64) |
//! | `validation_example_preds.parquet`, `live_example_preds.parquet` | `numerai_ticker`, `date`, `signal` (float64, in (0, 1)) |
//! | `manifest.json` | the eras and dates covered, the column names, every file's rows, bytes and SHA-256 |
//!
//! No live neutralizer or sample weights are published: Numerai withholds them too.
//!
//! # Features
//!
//! Numerai's 23 Signals v2 feature names, each computed from the panel's history up to the
//! era's date (see [`FACTORS`] for what each one measures here). `feature_country` is the
//! country as text; every other feature is binned within the era into five equal groups,
//! 0..=4 as int8 (a missing value is 2), exactly like Classic's features and Numerai's
//! v2-era integer features — Numerai's own Signals files carry these factors as gaussianized
//! floats instead. The `*_country_ranknorm` features are ranked within the stock's country
//! first, then binned across the era.
//!
//! # Targets
//!
//! From the forward returns of [`crate::targets`] (the same [`crate::targets::LAG`] and
//! horizons as Classic), binned 5/20/50/20/5 % into {0, 0.25, 0.5, 0.75, 1}:
//!
//! - `target_raw_return_{20,60}`: the forward return itself;
//! - `target_factor_neutral_{20,60}`: its residual after least squares on an intercept and the
//!   risk exposures of [`Exposures`] (beta, sectors, countries, size, value, momentum,
//!   volatility);
//! - `target_factor_feat_neutral_{20,60}`: its residual on the risk exposures *and* the
//!   published factor features (the bins, centred), so a participant cannot earn it by
//!   re-weighting Numerai's own features;
//! - `target` = `target_factor_feat_neutral_20`.
//!
//! # Neutralizer and sample weights
//!
//! Per era, the sample weight of a stock is the square root of its mean traded value (close ×
//! volume) over the last 20 days, normalised to mean 1 (a stock without enough trading days
//! gets the era's smallest weight). The exposure matrix `A` has an intercept, beta, size,
//! value, momentum, volatility (standardized as in [`Exposures`]), and one dummy per sector and
//! per country of the panel but the first (alphabetically; the intercept covers it). The
//! published neutralizer is `N = diag(1/√w)·Q` with `Q` the orthonormal factor of
//! `diag(√w)·A` (Gram–Schmidt in that column order, twice for accuracy), so `Nᵀ·diag(w)·N = I`
//! and `N·Nᵀ·diag(w)` projects onto the exposures, which is what the alpha score subtracts. A
//! column that is dependent on the earlier ones in an era (a sector or country absent that
//! week) is all zeros in that era: the columns of the file are the same in every era.
//!
//! # Example predictions
//!
//! `signal` = the era's rank percentile of `momentum_52w_less_4w + value − volatility` (sum of
//! the three features' bins), ties sharing their rank: a plain momentum-value-low-volatility
//! tilt, not a fitted model.
//!
//! [`LOOKBACK`]: crate::recipe::LOOKBACK

mod factors;
mod neutralizer;

use std::path::Path;

use faer::Mat;
use numerus_scoring::neutralize::Projector;

use crate::Error;
use crate::binning::{bin_features, bin_target, rank_percentiles};
use crate::classic::HISTORY_DAYS;
use crate::history::History;
use crate::output::{FileEntry, Files, TableFile, write_json};
use crate::panel::{PanelKind, PanelReader, scan_dates};
use crate::plan::{Plan, Split};
use crate::targets::{Exposures, HORIZONS, Neutral, forward_returns};
use crate::writer::{Kind, Values};

pub use factors::{COUNTRY_FEATURE, FACTORS, Factor};
pub use neutralizer::{DEPENDENCE_TOLERANCE, orthonormalize};

use factors::raw_factors;
use neutralizer::{Layout, WEIGHT_MEASURE, exposure_columns, sample_weights, scan_groups};

/// The target columns, in file order.
pub const TARGETS: [&str; 7] = [
    "target",
    "target_raw_return_20",
    "target_raw_return_60",
    "target_factor_neutral_20",
    "target_factor_neutral_60",
    "target_factor_feat_neutral_20",
    "target_factor_feat_neutral_60",
];

/// What to build.
#[derive(Debug, Clone)]
pub struct SignalsSpec {
    /// Share of the complete eras that are validation.
    pub validation_fraction: f64,
    /// Fewest stocks a date may have.
    pub min_stocks: usize,
}

/// What a Signals build made.
#[derive(Debug, Clone)]
pub struct SignalsReport {
    /// The eras and their split.
    pub plan: Plan,
    /// The `neutralizer_*` columns.
    pub neutralizers: Vec<String>,
    /// The published files (the manifest lists them too).
    pub files: Vec<FileEntry>,
}

/// Every feature column name: `feature_country`, then the factors.
pub fn feature_names() -> Vec<String> {
    std::iter::once(COUNTRY_FEATURE)
        .chain(FACTORS.iter().map(|(name, _)| *name))
        .map(String::from)
        .collect()
}

/// One era's (or the live date's) rows, sorted by `numerai_ticker`.
struct EraRows {
    tickers: Vec<String>,
    countries: Vec<String>,
    /// One column per factor.
    bins: Vec<Vec<i8>>,
    /// In [`TARGETS`] order; empty for the live date.
    targets: Vec<Vec<f32>>,
    /// One column per neutralizer name; empty for the live date.
    neutralizer: Vec<Vec<f64>>,
    /// Empty for the live date.
    weights: Vec<f64>,
}

/// Computes the rows of the era at `day`: features, and with `scored` the targets, neutralizer
/// and sample weights.
fn era_rows(history: &History, day: usize, layout: &Layout, scored: bool) -> EraRows {
    let slots = history.members(day);
    let raw = raw_factors(history, day, slots);
    let bins = bin_features(&raw);
    let tickers: Vec<String> = slots
        .iter()
        .map(|&slot| {
            format!(
                "{} {}",
                history.stock(slot, day).ticker,
                history.stock(slot, day).country
            )
        })
        .collect();
    let countries: Vec<String> = slots
        .iter()
        .map(|&slot| history.stock(slot, day).country.to_string())
        .collect();
    let (mut targets, mut neutralizer, mut weights) = (Vec::new(), Vec::new(), Vec::new());
    if scored {
        let exposures = Exposures::measure(history, day, slots);
        targets = signals_targets(history, day, slots, &exposures, &bins);
        let weight_index = FACTORS
            .iter()
            .position(|(_, factor)| *factor == Factor::Measure(WEIGHT_MEASURE))
            .expect("the liquidity factor is published");
        weights = sample_weights(&raw[weight_index]);
        neutralizer = orthonormalize(
            exposure_columns(history, day, slots, &exposures, layout),
            &weights,
        );
    }
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_unstable_by(|&a, &b| tickers[a].cmp(&tickers[b]));
    fn permute<T: Clone>(order: &[usize], column: &[T]) -> Vec<T> {
        order.iter().map(|&row| column[row].clone()).collect()
    }
    EraRows {
        tickers: permute(&order, &tickers),
        countries: permute(&order, &countries),
        bins: bins.iter().map(|column| permute(&order, column)).collect(),
        targets: targets
            .iter()
            .map(|column| permute(&order, column))
            .collect(),
        neutralizer: neutralizer
            .iter()
            .map(|column| permute(&order, column))
            .collect(),
        weights: if weights.is_empty() {
            weights
        } else {
            permute(&order, &weights)
        },
    }
}

/// The binned targets of an era in [`TARGETS`] order; a horizon the panel does not cover yet
/// is all NaN.
fn signals_targets(
    history: &History,
    day: usize,
    slots: &[usize],
    exposures: &Exposures,
    bins: &[Vec<i8>],
) -> Vec<Vec<f32>> {
    let risk = exposures
        .matrix(Neutral::Everything)
        .expect("everything has exposures");
    let with_features = Mat::from_fn(risk.nrows(), risk.ncols() + bins.len(), |i, j| {
        if j < risk.ncols() {
            risk[(i, j)]
        } else {
            f64::from(bins[j - risk.ncols()][i]) - 2.0
        }
    });
    let factor_neutral = Projector::with_intercept(risk.as_ref()).ok();
    let feature_neutral = Projector::with_intercept(with_features.as_ref()).ok();
    let neutralized = |projector: &Option<Projector>, values: &Vec<f64>| match projector {
        Some(projector) => projector.residual_vector(values),
        None => values.clone(),
    };
    let mut raw = Vec::new();
    let mut factor = Vec::new();
    let mut feature = Vec::new();
    for horizon in HORIZONS {
        match forward_returns(history, day, slots, horizon) {
            Some(forward) => {
                raw.push(bin_target(&forward));
                factor.push(bin_target(&neutralized(&factor_neutral, &forward)));
                feature.push(bin_target(&neutralized(&feature_neutral, &forward)));
            }
            None => {
                for column in [&mut raw, &mut factor, &mut feature] {
                    column.push(vec![f32::NAN; slots.len()]);
                }
            }
        }
    }
    let mut columns = vec![feature[0].clone()];
    columns.extend(raw);
    columns.extend(factor);
    columns.extend(feature);
    columns
}

/// The example `signal`: rank percentile of momentum 52w less 4w + value − volatility.
fn example_signal(rows: &EraRows) -> Vec<f64> {
    let bins = |name: &str| {
        &rows.bins[FACTORS
            .iter()
            .position(|(factor, _)| *factor == name)
            .expect("a factor")]
    };
    let (momentum, value, volatility) = (
        bins("feature_momentum_52w_less_4w_factor"),
        bins("feature_value_factor"),
        bins("feature_volatility_factor"),
    );
    let score: Vec<f64> = (0..rows.tickers.len())
        .map(|row| f64::from(momentum[row]) + f64::from(value[row]) - f64::from(volatility[row]))
        .collect();
    rank_percentiles(&score)
}

/// The published parts of the history: each has its data, neutralizer and weights files
/// (indexed by the discriminant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Train = 0,
    Validation = 1,
}

impl Part {
    fn data_type(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Validation => "validation",
        }
    }
}

/// The published tables of a Signals version.
struct Tables {
    data: [TableFile; 2],
    neutralizer: [TableFile; 2],
    weights: [TableFile; 2],
    validation_preds: TableFile,
}

fn key_columns() -> Vec<(String, Kind)> {
    vec![
        ("numerai_ticker".to_string(), Kind::Text),
        ("date".to_string(), Kind::Text),
    ]
}

fn data_columns(with_targets: bool) -> Vec<(String, Kind)> {
    let mut columns = key_columns();
    columns.push(("era".to_string(), Kind::Text));
    columns.push(("data_type".to_string(), Kind::Text));
    columns.push((COUNTRY_FEATURE.to_string(), Kind::Text));
    columns.extend(
        FACTORS
            .iter()
            .map(|(name, _)| (name.to_string(), Kind::Int8)),
    );
    if with_targets {
        columns.extend(TARGETS.iter().map(|name| (name.to_string(), Kind::Float32)));
    }
    columns
}

fn with_keys(columns: impl IntoIterator<Item = String>, kind: Kind) -> Vec<(String, Kind)> {
    let mut all = key_columns();
    all.extend(columns.into_iter().map(|name| (name, kind)));
    all
}

/// The `numerai_ticker` and `date` columns of an era's rows.
fn keys(rows: &EraRows, date: &str) -> Vec<Values> {
    vec![
        Values::Text(rows.tickers.clone()),
        Values::Text(vec![date.to_string(); rows.tickers.len()]),
    ]
}

/// Writes an era's (or the live date's) data rows; targets when `rows` has them.
fn write_data(
    file: &mut TableFile,
    rows: &EraRows,
    date: &str,
    era: &str,
    data_type: &str,
) -> Result<(), Error> {
    let count = rows.tickers.len();
    let mut columns = keys(rows, date);
    columns.push(Values::Text(vec![era.to_string(); count]));
    columns.push(Values::Text(vec![data_type.to_string(); count]));
    columns.push(Values::Text(rows.countries.clone()));
    columns.extend(rows.bins.iter().map(|bins| Values::Int8(bins.clone())));
    columns.extend(
        rows.targets
            .iter()
            .map(|targets| Values::Float32(targets.clone())),
    );
    file.write(columns)
}

impl Tables {
    fn create(files: &mut dyn Files, layout: &Layout) -> Result<Self, Error> {
        let data = data_columns(true);
        let neutralizer = with_keys(layout.names.clone(), Kind::Float64);
        let weights = with_keys(["sample_weights".to_string()], Kind::Float64);
        let signal = with_keys(["signal".to_string()], Kind::Float64);
        Ok(Self {
            data: [
                TableFile::create(files, "train.parquet", &data)?,
                TableFile::create(files, "validation.parquet", &data)?,
            ],
            neutralizer: [
                TableFile::create(files, "train_neutralizer.parquet", &neutralizer)?,
                TableFile::create(files, "validation_neutralizer.parquet", &neutralizer)?,
            ],
            weights: [
                TableFile::create(files, "train_sample_weights.parquet", &weights)?,
                TableFile::create(files, "validation_sample_weights.parquet", &weights)?,
            ],
            validation_preds: TableFile::create(
                files,
                "validation_example_preds.parquet",
                &signal,
            )?,
        })
    }

    /// Writes a scored era to the files of its part.
    fn write_era(
        &mut self,
        part: Part,
        rows: &EraRows,
        date: &str,
        era: &str,
    ) -> Result<(), Error> {
        let which = part as usize;
        write_data(&mut self.data[which], rows, date, era, part.data_type())?;
        let mut neutralizer = keys(rows, date);
        neutralizer.extend(
            rows.neutralizer
                .iter()
                .map(|column| Values::Float64(column.clone())),
        );
        self.neutralizer[which].write(neutralizer)?;
        let mut weights = keys(rows, date);
        weights.push(Values::Float64(rows.weights.clone()));
        self.weights[which].write(weights)?;
        if part == Part::Validation {
            let mut preds = keys(rows, date);
            preds.push(Values::Float64(example_signal(rows)));
            self.validation_preds.write(preds)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<FileEntry>, Error> {
        let [train, validation] = self.data;
        let [train_neutralizer, validation_neutralizer] = self.neutralizer;
        let [train_weights, validation_weights] = self.weights;
        Ok(vec![
            train.finish()?,
            validation.finish()?,
            train_neutralizer.finish()?,
            validation_neutralizer.finish()?,
            train_weights.finish()?,
            validation_weights.finish()?,
            self.validation_preds.finish()?,
        ])
    }
}

/// Builds a Signals version from the stock panel at `panel` into `files`, calling
/// `progress(days_read, days_total)` as it reads.
///
/// # Errors
/// [`Error::Input`] for a bad `validation_fraction` or a panel too short for the plan;
/// [`Error::Panel`] when the panel breaks its rules; I/O and Parquet errors from `files`.
pub fn build_signals(
    panel: &Path,
    spec: &SignalsSpec,
    files: &mut dyn Files,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SignalsReport, Error> {
    if !(spec.validation_fraction > 0.0 && spec.validation_fraction < 1.0) {
        return Err(Error::input(
            "--validation-fraction must be between 0 and 1 (exclusive)",
        ));
    }
    let dates = scan_dates(panel, PanelKind::Stocks)?;
    let plan = Plan::new(&dates, spec.validation_fraction)?;
    let mut reader = PanelReader::open(panel, PanelKind::Stocks, spec.min_stocks)?;
    let (sectors, countries) = scan_groups(panel)?;
    let layout = Layout::new(sectors, countries);
    let mut tables = Tables::create(files, &layout)?;

    let mut history = History::new(HISTORY_DAYS);
    let mut next_era = 0;
    while let Some(day) = reader.next_day()? {
        history.push(&day);
        let today = history.days() - 1;
        progress(today + 1, dates.len());
        for era in plan.due(&mut next_era, today, dates.len()) {
            let part = match era.split {
                Split::Train => Part::Train,
                Split::Validation => Part::Validation,
                Split::Embargo | Split::Incomplete => continue,
            };
            let rows = era_rows(&history, era.day, &layout, true);
            tables.write_era(part, &rows, &era.date.to_string(), &era.label)?;
        }
    }
    if history.days() != dates.len() {
        return Err(Error::input(
            "the panel changed while it was being read; build again",
        ));
    }
    let mut entries = tables.finish()?;
    let (live_date, live_label) = &plan.live;
    let live_rows = era_rows(&history, history.days() - 1, &layout, false);
    let live_date_text = live_date.to_string();
    let mut live = TableFile::create(files, "live.parquet", &data_columns(false))?;
    write_data(&mut live, &live_rows, &live_date_text, live_label, "live")?;
    let mut live_preds = TableFile::create(
        files,
        "live_example_preds.parquet",
        &with_keys(["signal".to_string()], Kind::Float64),
    )?;
    let mut preds = keys(&live_rows, &live_date_text);
    preds.push(Values::Float64(example_signal(&live_rows)));
    live_preds.write(preds)?;
    entries.push(live.finish()?);
    entries.push(live_preds.finish()?);

    let manifest = serde_json::json!({
        "tournament": "signals",
        "eras": {
            "train": era_range(&plan, Split::Train),
            "embargo": plan.count(Split::Embargo),
            "validation": era_range(&plan, Split::Validation),
            "live": { "era": live_label, "date": live_date_text, "tickers": live_rows.tickers.len() },
        },
        "features": feature_names(),
        "targets": TARGETS,
        "neutralizers": layout.names,
        "files": entries,
    });
    write_json(files, "manifest.json", &manifest)?;
    Ok(SignalsReport {
        plan,
        neutralizers: layout.names,
        files: entries,
    })
}

/// The labels and dates of the eras of a split.
fn era_range(plan: &Plan, split: Split) -> serde_json::Value {
    let eras: Vec<_> = plan.eras.iter().filter(|era| era.split == split).collect();
    serde_json::json!({
        "first": eras.first().map(|era| &era.label),
        "last": eras.last().map(|era| &era.label),
        "first_date": eras.first().map(|era| era.date.to_string()),
        "last_date": eras.last().map(|era| era.date.to_string()),
        "count": eras.len(),
    })
}
