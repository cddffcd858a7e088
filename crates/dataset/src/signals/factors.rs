//! The Signals factor features: what each of Numerai's names measures ([`FACTORS`]) and their
//! raw per-era values, including the technical indicators (PPO, RSI, TRIX) and the value
//! composite.

use rayon::prelude::*;

use crate::binning::rank_percentiles;
use crate::features::{groups, raw_features};
use crate::history::{History, Series};
use crate::recipe::{FeatureDef, Fundamental, LOOKBACK, Measure, Relative};

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

/// Days of closes the technical factors read, the era's date included: all the lookback
/// the plan guarantees before an era.
const TECHNICAL_DAYS: usize = LOOKBACK - 1;

/// The raw (unbinned) value of every factor of [`FACTORS`] for the stocks `slots` at `day`,
/// one column per factor; country-ranked factors are already ranked within the country.
pub(super) fn raw_factors(history: &History, day: usize, slots: &[usize]) -> Vec<Vec<f64>> {
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
#[cfg(test)]
mod tests {
    use super::*;

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
}
