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

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::path::Path;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_schema::DataType;
use faer::Mat;
use numerus_scoring::neutralize::Projector;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;

use crate::Error;
use crate::binning::{bin_features, bin_target, rank_percentiles};
use crate::classic::HISTORY_DAYS;
use crate::features::{groups, raw_features};
use crate::history::{History, Series};
use crate::output::{FileEntry, Files, TableFile, write_json};
use crate::panel::{PanelKind, PanelReader, scan_dates};
use crate::plan::{Plan, Split};
use crate::recipe::{FeatureDef, Fundamental, LOOKBACK, Measure, Relative};
use crate::targets::{Exposures, HORIZONS, Neutral, forward_returns};
use crate::writer::{Kind, Values};

/// How a Signals factor feature is computed, for one stock on the era's date, from its
/// history up to that date.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Factor {
    /// A measure of the feature catalogue (see [`Measure`]).
    Measure(Measure),
    /// Log of the close.
    Price,
    /// A composite: the mean of the stock's era percentiles of book-to-price, earnings yield
    /// and sales-to-price (those it has).
    Value,
    /// Percentage price oscillator, `(EMA_fast − EMA_slow) / EMA_slow` of the close, ranked
    /// within the country.
    Ppo {
        /// Span of the fast average, in business days.
        fast: usize,
        /// Span of the slow average, in business days.
        slow: usize,
    },
    /// Relative strength, `Σ gains / (Σ gains + Σ losses)` of the daily returns over the
    /// window (RSI ÷ 100), ranked within the country.
    Rsi {
        /// Business days in the window.
        window: usize,
    },
    /// TRIX: the one-day change of the triple exponential average of the close, ranked within
    /// the country.
    Trix {
        /// Span of each of the three averages, in business days.
        window: usize,
    },
}

impl Factor {
    /// Whether the factor reads the stock's price path directly (not through a [`Measure`]).
    fn is_technical(self) -> bool {
        matches!(
            self,
            Factor::Price | Factor::Ppo { .. } | Factor::Rsi { .. } | Factor::Trix { .. }
        )
    }

    /// Whether the factor is ranked within the stock's country before binning.
    fn by_country(self) -> bool {
        matches!(
            self,
            Factor::Ppo { .. } | Factor::Rsi { .. } | Factor::Trix { .. }
        )
    }
}

/// The text feature: the stock's country of listing.
pub const COUNTRY_FEATURE: &str = "feature_country";

/// The binned factor features, in file order (Numerai's names, in Numerai's order), and what
/// each measures. Windows are business days: 12 weeks = 60, 26 weeks = 120, 52 weeks = 250.
pub const FACTORS: [(&str, Factor); 22] = [
    (
        "feature_adv_20d_factor",
        Factor::Measure(Measure::Liquidity { window: 20 }),
    ),
    (
        "feature_beta_factor",
        Factor::Measure(Measure::Beta { window: 250 }),
    ),
    (
        "feature_book_to_price_factor",
        Factor::Measure(Measure::Yield {
            of: Fundamental::BookValue,
        }),
    ),
    (
        "feature_dividend_yield_factor",
        Factor::Measure(Measure::Yield {
            of: Fundamental::Dividends,
        }),
    ),
    (
        "feature_earnings_yield_factor",
        Factor::Measure(Measure::Yield {
            of: Fundamental::Earnings,
        }),
    ),
    (
        "feature_growth_factor",
        Factor::Measure(Measure::Growth {
            of: Fundamental::Earnings,
            window: 250,
        }),
    ),
    (
        "feature_impact_cost_factor",
        Factor::Measure(Measure::Illiquidity { window: 20 }),
    ),
    ("feature_market_cap_factor", Factor::Measure(Measure::Size)),
    (
        "feature_momentum_12w_factor",
        Factor::Measure(Measure::Return { window: 60 }),
    ),
    (
        "feature_momentum_26w_factor",
        Factor::Measure(Measure::Return { window: 120 }),
    ),
    (
        "feature_momentum_52w_factor",
        Factor::Measure(Measure::Return { window: 250 }),
    ),
    (
        "feature_momentum_52w_less_4w_factor",
        Factor::Measure(Measure::Momentum { window: 250 }),
    ),
    (
        "feature_ppo_60d_130d_country_ranknorm",
        Factor::Ppo {
            fast: 60,
            slow: 130,
        },
    ),
    (
        "feature_ppo_60d_90d_country_ranknorm",
        Factor::Ppo { fast: 60, slow: 90 },
    ),
    ("feature_price_factor", Factor::Price),
    (
        "feature_rsi_130d_country_ranknorm",
        Factor::Rsi { window: 130 },
    ),
    (
        "feature_rsi_60d_country_ranknorm",
        Factor::Rsi { window: 60 },
    ),
    (
        "feature_rsi_90d_country_ranknorm",
        Factor::Rsi { window: 90 },
    ),
    (
        "feature_trix_130d_country_ranknorm",
        Factor::Trix { window: 130 },
    ),
    (
        "feature_trix_60d_country_ranknorm",
        Factor::Trix { window: 60 },
    ),
    ("feature_value_factor", Factor::Value),
    (
        "feature_volatility_factor",
        Factor::Measure(Measure::Volatility { window: 60 }),
    ),
];

/// The yields [`Factor::Value`] combines.
const VALUE_PARTS: [Measure; 3] = [
    Measure::Yield {
        of: Fundamental::BookValue,
    },
    Measure::Yield {
        of: Fundamental::Earnings,
    },
    Measure::Yield {
        of: Fundamental::Sales,
    },
];

/// The measure the sample weights come from: log mean traded value over 20 days.
const WEIGHT_MEASURE: Measure = Measure::Liquidity { window: 20 };

/// Days of closes the technical factors read, the era's date included: all the lookback
/// the plan guarantees before an era.
const TECHNICAL_DAYS: usize = LOOKBACK - 1;

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

/// The neutralizer columns before the sector and country dummies, in Gram–Schmidt order.
const STYLE_NEUTRALIZERS: [&str; 6] = [
    "neutralizer_intercept",
    "neutralizer_beta",
    "neutralizer_size",
    "neutralizer_value",
    "neutralizer_momentum",
    "neutralizer_volatility",
];

/// A neutralizer column whose weighted residual is below this share of its weighted norm,
/// after projecting out the earlier columns, is dependent on them and left at zero.
pub const DEPENDENCE_TOLERANCE: f64 = 1e-8;

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

/// The neutralizer's columns, fixed for a panel: the styles, then one dummy per sector and
/// per country but the first of each.
#[derive(Debug, Clone)]
struct Layout {
    sectors: Vec<String>,
    countries: Vec<String>,
    names: Vec<String>,
}

impl Layout {
    fn new(sectors: BTreeSet<String>, countries: BTreeSet<String>) -> Self {
        let sectors: Vec<String> = sectors.into_iter().collect();
        let countries: Vec<String> = countries.into_iter().collect();
        let mut names: Vec<String> = STYLE_NEUTRALIZERS
            .iter()
            .map(|name| name.to_string())
            .collect();
        let mut taken: HashSet<String> = names.iter().cloned().collect();
        for (kind, values) in [("sector", &sectors), ("country", &countries)] {
            for value in values.iter().skip(1) {
                let base = format!("neutralizer_{kind}_{}", slug(value));
                let mut name = base.clone();
                let mut suffix = 2;
                while !taken.insert(name.clone()) {
                    name = format!("{base}_{suffix}");
                    suffix += 1;
                }
                names.push(name);
            }
        }
        Self {
            sectors,
            countries,
            names,
        }
    }
}

/// `"Information Technology"` → `"information_technology"`.
fn slug(value: &str) -> String {
    let slug: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let slug = slug.trim_matches('_').to_string();
    if slug.is_empty() {
        "unnamed".to_string()
    } else {
        slug
    }
}

/// The distinct sectors and countries of a stock panel, reading only those two columns.
fn scan_groups(path: &Path) -> Result<(BTreeSet<String>, BTreeSet<String>), Error> {
    let file = File::open(path).map_err(Error::io(path, "open the panel"))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|source| Error::panel(path, format!("is not a Parquet file: {source}")))?;
    let mut roots = Vec::new();
    for name in ["sector", "country"] {
        let index = builder
            .schema()
            .index_of(name)
            .map_err(|_| Error::panel(path, format!("has no `{name}` column")))?;
        roots.push(index);
    }
    // Projected columns come back in file order.
    let sector_first = roots[0] < roots[1];
    let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots);
    let batches = builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|source| Error::panel(path, format!("cannot be read: {source}")))?;
    let (mut sectors, mut countries) = (BTreeSet::new(), BTreeSet::new());
    for batch in batches {
        let batch =
            batch.map_err(|source| Error::panel(path, format!("cannot be read: {source}")))?;
        let (sector, country) = if sector_first {
            (batch.column(0), batch.column(1))
        } else {
            (batch.column(1), batch.column(0))
        };
        collect_text(sector, &mut sectors)
            .ok_or_else(|| Error::panel(path, "column `sector` must be a string".into()))?;
        collect_text(country, &mut countries)
            .ok_or_else(|| Error::panel(path, "column `country` must be a string".into()))?;
    }
    Ok((sectors, countries))
}

/// Adds the distinct values of a text column to `into`; `None` if it is not text.
fn collect_text(array: &dyn Array, into: &mut BTreeSet<String>) -> Option<()> {
    let mut add = |value: Option<&str>| {
        let value = value.unwrap_or("");
        if !into.contains(value) {
            into.insert(value.to_string());
        }
    };
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().for_each(&mut add),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().for_each(&mut add),
        DataType::Utf8View => array.as_string_view().iter().for_each(&mut add),
        _ => return None,
    }
    Some(())
}

/// The raw (unbinned) value of every factor of [`FACTORS`] for the stocks `slots` at `day`,
/// one column per factor; country-ranked factors are already ranked within the country.
fn raw_factors(history: &History, day: usize, slots: &[usize]) -> Vec<Vec<f64>> {
    let mut measures: Vec<Measure> = FACTORS
        .iter()
        .filter_map(|(_, factor)| {
            if let Factor::Measure(measure) = factor {
                Some(*measure)
            } else {
                None
            }
        })
        .collect();
    for part in VALUE_PARTS {
        if !measures.contains(&part) {
            measures.push(part);
        }
    }
    let defs: Vec<FeatureDef> = measures
        .iter()
        .map(|&measure| FeatureDef {
            name: String::new(),
            measure,
            lag: 0,
            relative: Relative::Raw,
        })
        .collect();
    let measured = raw_features(history, day, slots, &defs);
    let column_of = |measure: Measure| {
        &measured[measures
            .iter()
            .position(|&m| m == measure)
            .expect("gathered")]
    };
    let technical: Vec<Vec<f64>> = slots
        .par_iter()
        .map(|&slot| technical_row(history, slot, day))
        .collect();
    let countries = groups(slots, |slot| history.stock(slot, day).country);
    let mut next_technical = 0;
    FACTORS
        .iter()
        .map(|&(_, factor)| match factor {
            Factor::Measure(measure) => column_of(measure).clone(),
            Factor::Value => value_composite(&VALUE_PARTS.map(column_of)),
            _ => {
                let column: Vec<f64> = technical.iter().map(|row| row[next_technical]).collect();
                next_technical += 1;
                if factor.by_country() {
                    rank_within_groups(&column, &countries)
                } else {
                    column
                }
            }
        })
        .collect()
}

/// The technical factors of [`FACTORS`] (in file order) for one stock at `day`.
fn technical_row(history: &History, slot: usize, day: usize) -> Vec<f64> {
    let first = day.saturating_sub(TECHNICAL_DAYS - 1);
    let closes: Vec<f64> = (first..=day)
        .map(|at| history.value(Series::Close, slot, at))
        .collect();
    let returns: Vec<f64> = (first..=day)
        .map(|at| history.value(Series::Return, slot, at))
        .collect();
    FACTORS
        .iter()
        .filter(|(_, factor)| factor.is_technical())
        .map(|&(_, factor)| {
            let value =
                match factor {
                    Factor::Price => closes.last().map_or(f64::NAN, |&close| {
                        if close > 0.0 { close.ln() } else { f64::NAN }
                    }),
                    Factor::Ppo { fast, slow } => ppo(&closes, fast, slow),
                    Factor::Rsi { window } => rsi(&returns, window),
                    Factor::Trix { window } => trix(&closes, window),
                    Factor::Measure(_) | Factor::Value => unreachable!("not technical"),
                };
            if value.is_finite() { value } else { f64::NAN }
        })
        .collect()
}

/// The exponential moving averages of `values` with `α = 2 / (span + 1)`, one per value:
/// NaN before the first finite value, which seeds the average; a missing value carries the
/// average over.
fn ema(values: &[f64], span: usize) -> Vec<f64> {
    let alpha = 2.0 / (span as f64 + 1.0);
    let mut average = f64::NAN;
    values
        .iter()
        .map(|&value| {
            if value.is_finite() {
                average = if average.is_finite() {
                    average + alpha * (value - average)
                } else {
                    value
                };
            }
            average
        })
        .collect()
}

/// Whether at least half of the last `window` values are finite.
fn enough(values: &[f64], window: usize) -> bool {
    let recent = &values[values.len().saturating_sub(window)..];
    recent.iter().filter(|value| value.is_finite()).count() * 2 >= window
}

/// `(EMA_fast − EMA_slow) / EMA_slow` of the last close.
fn ppo(closes: &[f64], fast: usize, slow: usize) -> f64 {
    if !enough(closes, slow) {
        return f64::NAN;
    }
    let (fast, slow) = (ema(closes, fast), ema(closes, slow));
    match (fast.last(), slow.last()) {
        (Some(&fast), Some(&slow)) if slow > 0.0 => (fast - slow) / slow,
        _ => f64::NAN,
    }
}

/// `Σ gains / (Σ gains + Σ losses)` of the last `window` returns.
fn rsi(returns: &[f64], window: usize) -> f64 {
    if !enough(returns, window) {
        return f64::NAN;
    }
    let recent = &returns[returns.len().saturating_sub(window)..];
    let (gains, losses) =
        recent
            .iter()
            .filter(|r| r.is_finite())
            .fold((0.0, 0.0), |(gains, losses), &r| {
                if r > 0.0 {
                    (gains + r, losses)
                } else {
                    (gains, losses - r)
                }
            });
    if gains + losses > 0.0 {
        gains / (gains + losses)
    } else {
        f64::NAN
    }
}

/// The last one-day change of the triple EMA of the closes.
fn trix(closes: &[f64], window: usize) -> f64 {
    if !enough(closes, window) || closes.len() < 2 {
        return f64::NAN;
    }
    let triple = ema(&ema(&ema(closes, window), window), window);
    let (today, yesterday) = (triple[triple.len() - 1], triple[triple.len() - 2]);
    if yesterday > 0.0 {
        today / yesterday - 1.0
    } else {
        f64::NAN
    }
}

/// The mean of each stock's era percentiles of the `parts` it has (NaN if none).
fn value_composite(parts: &[&Vec<f64>]) -> Vec<f64> {
    let ranks: Vec<Vec<f64>> = parts.iter().map(|part| rank_percentiles(part)).collect();
    (0..parts.first().map_or(0, |part| part.len()))
        .map(|row| {
            let (sum, count) = parts
                .iter()
                .zip(&ranks)
                .filter(|(part, _)| part[row].is_finite())
                .fold((0.0, 0.0), |(sum, count), (_, ranks)| {
                    (sum + ranks[row], count + 1.0)
                });
            if count > 0.0 { sum / count } else { f64::NAN }
        })
        .collect()
}

/// Each finite value replaced by its rank percentile within its group; missing values stay
/// NaN.
fn rank_within_groups(column: &[f64], groups: &[usize]) -> Vec<f64> {
    let count = groups.iter().max().map_or(0, |max| max + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (row, &group) in groups.iter().enumerate() {
        if column[row].is_finite() {
            members[group].push(row);
        }
    }
    let mut out = vec![f64::NAN; column.len()];
    for rows in members {
        let values: Vec<f64> = rows.iter().map(|&row| column[row]).collect();
        for (&row, rank) in rows.iter().zip(rank_percentiles(&values)) {
            out[row] = rank;
        }
    }
    out
}

/// Makes `columns` (each one value per row) orthonormal under the positive weights `w`:
/// returns `N` spanning the same space, column by column in order, with
/// `Nᵀ·diag(w)·N = I` — `N = diag(1/√w)·Q`, `Q` the Gram–Schmidt orthonormal factor of
/// `diag(√w)·A` (each column orthogonalized twice, which keeps it orthogonal to working
/// precision). A column dependent on the earlier ones (its residual below
/// [`DEPENDENCE_TOLERANCE`] of its norm) is dropped: returned as zeros.
///
/// # Panics
/// If a weight is not positive and finite, or a column's length differs from the weights'.
pub fn orthonormalize(mut columns: Vec<Vec<f64>>, weights: &[f64]) -> Vec<Vec<f64>> {
    assert!(
        weights.iter().all(|w| w.is_finite() && *w > 0.0),
        "sample weights are positive"
    );
    let roots: Vec<f64> = weights.iter().map(|w| w.sqrt()).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
    let mut kept: Vec<usize> = Vec::new();
    for j in 0..columns.len() {
        let mut column = std::mem::take(&mut columns[j]);
        assert_eq!(column.len(), roots.len(), "one value per weighted row");
        for (value, root) in column.iter_mut().zip(&roots) {
            *value *= root;
        }
        let norm = dot(&column, &column).sqrt();
        for _ in 0..2 {
            for &k in &kept {
                let basis = &columns[k];
                let coefficient = dot(basis, &column);
                for (value, b) in column.iter_mut().zip(basis) {
                    *value -= coefficient * b;
                }
            }
        }
        let residual = dot(&column, &column).sqrt();
        if norm.is_finite() && norm > 0.0 && residual > DEPENDENCE_TOLERANCE * norm {
            column.iter_mut().for_each(|value| *value /= residual);
            kept.push(j);
        } else {
            column.fill(0.0);
        }
        columns[j] = column;
    }
    for column in &mut columns {
        for (value, root) in column.iter_mut().zip(&roots) {
            *value /= root;
        }
    }
    columns
}

/// `√(mean traded value)` normalised to mean 1; missing values get the smallest weight.
fn sample_weights(log_traded: &[f64]) -> Vec<f64> {
    let raw: Vec<f64> = log_traded.iter().map(|l| (l / 2.0).exp()).collect();
    let smallest = raw
        .iter()
        .copied()
        .filter(|w| w.is_finite() && *w > 0.0)
        .fold(f64::INFINITY, f64::min);
    let filled: Vec<f64> = raw
        .iter()
        .map(|&w| {
            if w.is_finite() && w > 0.0 {
                w
            } else if smallest.is_finite() {
                smallest
            } else {
                1.0
            }
        })
        .collect();
    let mean = filled.iter().sum::<f64>() / filled.len().max(1) as f64;
    filled.iter().map(|w| w / mean).collect()
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

/// The exposure matrix `A` of the neutralizer, column by column in [`Layout`] order.
fn exposure_columns(
    history: &History,
    day: usize,
    slots: &[usize],
    exposures: &Exposures,
    layout: &Layout,
) -> Vec<Vec<f64>> {
    let dummy = |matches: &dyn Fn(usize) -> bool| -> Vec<f64> {
        slots
            .iter()
            .map(|&slot| if matches(slot) { 1.0 } else { 0.0 })
            .collect()
    };
    let mut columns = vec![vec![1.0; slots.len()], exposures.beta.clone()];
    columns.extend(exposures.styles.iter().cloned());
    assert_eq!(
        columns.len(),
        STYLE_NEUTRALIZERS.len(),
        "one column per style neutralizer"
    );
    for sector in layout.sectors.iter().skip(1) {
        columns.push(dummy(&|slot| history.stock(slot, day).sector == *sector));
    }
    for country in layout.countries.iter().skip(1) {
        columns.push(dummy(&|slot| history.stock(slot, day).country == *country));
    }
    columns
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthonormalize_drops_a_dependent_column_and_keeps_the_span() {
        let weights = [0.5, 1.0, 2.0, 1.5, 1.0];
        let a = vec![1.0; 5];
        let b = vec![1.0, 2.0, 3.0, 4.0, 5.0];
        let dependent: Vec<f64> = a.iter().zip(&b).map(|(a, b)| 2.0 * a - b).collect();
        let n = orthonormalize(vec![a, b, dependent], &weights);
        assert!(n[2].iter().all(|&v| v == 0.0));
        for i in 0..2 {
            for j in 0..2 {
                let g: f64 = (0..5).map(|r| n[i][r] * weights[r] * n[j][r]).sum();
                assert!(
                    (g - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12,
                    "{i} {j}: {g}"
                );
            }
        }
        // The first column is the intercept scaled to unit weighted norm.
        let total: f64 = weights.iter().sum();
        assert!(
            n[0].iter()
                .all(|&v| (v - total.sqrt().recip()).abs() < 1e-12)
        );
    }

    #[test]
    fn technical_indicators_follow_their_definitions() {
        let rising: Vec<f64> = (1..=200).map(f64::from).collect();
        assert!(ppo(&rising, 60, 130) > 0.0);
        assert!(trix(&rising, 60) > 0.0);
        let returns = [0.01, -0.02, 0.03, f64::NAN];
        assert!((rsi(&returns, 4) - 0.04 / 0.06).abs() < 1e-12);
        assert!(rsi(&[f64::NAN; 10], 10).is_nan());
        assert!(ppo(&[f64::NAN; 50], 10, 20).is_nan());
        let averages = ema(&[f64::NAN, 2.0, f64::NAN, 4.0], 3);
        assert!(averages[0].is_nan());
        assert_eq!(&averages[1..], [2.0, 2.0, 3.0]);
    }

    #[test]
    fn sample_weights_are_positive_with_mean_one() {
        let weights = sample_weights(&[10.0, 12.0, f64::NAN, 14.0]);
        assert!(weights.iter().all(|w| *w > 0.0));
        assert!((weights.iter().sum::<f64>() / 4.0 - 1.0).abs() < 1e-12);
        assert_eq!(weights[2], weights[0]);
        assert_eq!(sample_weights(&[f64::NAN; 3]), vec![1.0; 3]);
    }

    #[test]
    fn the_layout_names_a_dummy_per_group_but_the_first() {
        let layout = Layout::new(
            ["Energy", "Information Technology", "Utilities"]
                .map(String::from)
                .into(),
            ["JP", "US"].map(String::from).into(),
        );
        assert_eq!(
            &layout.names[STYLE_NEUTRALIZERS.len()..],
            [
                "neutralizer_sector_information_technology",
                "neutralizer_sector_utilities",
                "neutralizer_country_us"
            ]
        );
    }
}
