//! Targets: forward returns after a lag, neutralized to risk exposures, binned.
//!
//! For an era dated `t` (features use closes up to `t`), the `h`-day forward return skips the
//! next [`LAG`] business days (the time to trade) and compounds the returns of days
//! `t+LAG+1 ..= t+LAG+h`; a day a stock has no return (it delisted) counts as zero. On scoring
//! day `k` of a live era only days `t+LAG+1 ..= t+LAG+k` are known: the partial target.
//!
//! The risk exposures, all measured at `t`: market beta (250 days), the style factors size
//! (log market cap), value (book ÷ market cap), momentum (250 days skipping 20) and volatility
//! (60 days), each standardized across the era with missing values set to the mean (0); and
//! one dummy per sector and per country (the first of each left out: the intercept covers it).
//!
//! Each [`Variant`] takes a forward return (or it divided by the stock's 60-day volatility),
//! removes its least-squares projection onto an intercept and a set of exposures (exactly
//! numpy's `lstsq` residual, through `numerus_scoring`'s projector), and bins the residual
//! 5/20/50/20/5 % into {0, 0.25, 0.5, 0.75, 1}.

use faer::Mat;
use numerus_scoring::neutralize::Projector;
use serde::{Deserialize, Serialize};

use crate::binning::bin_target;
use crate::features::groups;
use crate::history::{History, Series};
use crate::recipe::{FeatureDef, Measure, Relative};

/// Business days between an era's date and the first day of its target's returns.
pub const LAG: usize = 2;
/// The target horizons, in business days.
pub const HORIZONS: [usize; 2] = [20, 60];

/// What a target is neutralized against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Neutral {
    /// Nothing: the raw return, binned.
    Nothing,
    /// Market beta.
    Market,
    /// Market beta, sectors and countries.
    Groups,
    /// Market beta, sectors, countries and the style factors.
    Everything,
}

/// One family of targets (one per horizon).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// Its name: the columns are `target_<name>_<horizon>`.
    pub name: &'static str,
    /// What it is neutralized against.
    pub neutral: Neutral,
    /// Whether the return is divided by the stock's 60-day volatility first.
    pub risk_adjusted: bool,
}

/// The target variants of a Classic dataset. The first, at 20 days, is the main `target`.
pub const VARIANTS: [Variant; 5] = [
    Variant {
        name: "atlas",
        neutral: Neutral::Everything,
        risk_adjusted: false,
    },
    Variant {
        name: "bravo",
        neutral: Neutral::Groups,
        risk_adjusted: false,
    },
    Variant {
        name: "cedar",
        neutral: Neutral::Market,
        risk_adjusted: false,
    },
    Variant {
        name: "delta",
        neutral: Neutral::Nothing,
        risk_adjusted: false,
    },
    Variant {
        name: "ember",
        neutral: Neutral::Everything,
        risk_adjusted: true,
    },
];

/// The target column names: `target`, then `target_<variant>_<horizon>` for each variant and
/// horizon.
pub fn target_names() -> Vec<String> {
    let mut names = vec!["target".to_string()];
    for variant in VARIANTS {
        for horizon in HORIZONS {
            names.push(format!("target_{}_{horizon}", variant.name));
        }
    }
    names
}

/// The risk exposures of an era's stocks.
#[derive(Debug, Clone)]
pub struct Exposures {
    /// Beta, standardized.
    pub beta: Vec<f64>,
    /// Size, value, momentum, volatility, each standardized.
    pub styles: Vec<Vec<f64>>,
    /// Sector then country dummies (first of each left out).
    pub groups: Vec<Vec<f64>>,
    /// The stock's own 60-day volatility (not standardized), for risk-adjusted targets.
    pub volatility: Vec<f64>,
}

impl Exposures {
    /// The exposures of `slots` at day `day`, from history up to `day`.
    pub fn measure(history: &History, day: usize, slots: &[usize]) -> Self {
        let style = |measure| FeatureDef {
            name: String::new(),
            measure,
            lag: 0,
            relative: Relative::Raw,
        };
        let defs = [
            style(Measure::Beta { window: 250 }),
            style(Measure::Size),
            style(Measure::Yield {
                of: crate::recipe::Fundamental::BookValue,
            }),
            style(Measure::Momentum { window: 250 }),
            style(Measure::Volatility { window: 60 }),
        ];
        let mut raw = crate::features::raw_features(history, day, slots, &defs);
        let volatility = raw[4].clone();
        for column in &mut raw {
            standardize(column);
        }
        let beta = raw.remove(0);
        let mut groups_columns = Vec::new();
        for key in [
            groups(slots, |slot| history.stock(slot, day).sector),
            groups(slots, |slot| history.stock(slot, day).country),
        ] {
            let count = key.iter().max().map_or(0, |max| max + 1);
            for group in 1..count {
                groups_columns.push(
                    key.iter()
                        .map(|&g| f64::from(u8::from(g == group)))
                        .collect(),
                );
            }
        }
        Self {
            beta,
            styles: raw,
            groups: groups_columns,
            volatility,
        }
    }

    /// The exposure matrix (rows × columns) for `neutral`; `None` for [`Neutral::Nothing`].
    pub fn matrix(&self, neutral: Neutral) -> Option<Mat<f64>> {
        let mut columns: Vec<&Vec<f64>> = vec![&self.beta];
        match neutral {
            Neutral::Nothing => return None,
            Neutral::Market => {}
            Neutral::Groups => columns.extend(&self.groups),
            Neutral::Everything => {
                columns.extend(&self.groups);
                columns.extend(&self.styles);
            }
        }
        let rows = self.beta.len();
        Some(Mat::from_fn(rows, columns.len(), |i, j| columns[j][i]))
    }
}

/// Standardizes the finite values to mean 0 and standard deviation 1; missing ones become 0.
fn standardize(column: &mut [f64]) {
    let finite: Vec<f64> = column.iter().copied().filter(|v| v.is_finite()).collect();
    let n = finite.len() as f64;
    let mean = if n > 0.0 {
        finite.iter().sum::<f64>() / n
    } else {
        0.0
    };
    let var = if n > 1.0 {
        finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n
    } else {
        0.0
    };
    let scale = if var > 0.0 { var.sqrt().recip() } else { 0.0 };
    for value in column {
        *value = if value.is_finite() {
            (*value - mean) * scale
        } else {
            0.0
        };
    }
}

/// The forward return of each of `slots` over the first `days` days of the target window of
/// the era at `day`; `None` if the history does not reach that far yet.
pub fn forward_returns(
    history: &History,
    day: usize,
    slots: &[usize],
    days: usize,
) -> Option<Vec<f64>> {
    forward_returns_after(history, day, slots, LAG, days)
}

/// The compounded return of each of `slots` over days `day + lag + 1 ..= day + lag + days`
/// (a day without a return counts as zero); `None` if the history does not reach that far.
pub fn forward_returns_after(
    history: &History,
    day: usize,
    slots: &[usize],
    lag: usize,
    days: usize,
) -> Option<Vec<f64>> {
    let last = day + lag + days;
    if last >= history.days() {
        return None;
    }
    Some(
        slots
            .iter()
            .map(|&slot| {
                (day + lag + 1..=last)
                    .map(|at| history.value(Series::LogReturn, slot, at))
                    .filter(|log| log.is_finite())
                    .sum::<f64>()
                    .exp_m1()
            })
            .collect(),
    )
}

/// Every target column of an era (in [`target_names`] order), binned; a horizon the history
/// does not cover yet is all NaN. `days` caps the window (partial targets of scoring day `k`):
/// `None` for full horizons.
pub fn targets(
    history: &History,
    day: usize,
    slots: &[usize],
    exposures: &Exposures,
    days: Option<usize>,
) -> Vec<Vec<f32>> {
    let residuals = neutral_returns(history, day, slots, exposures, days);
    let mut columns: Vec<Vec<f32>> = residuals
        .iter()
        .map(|column| {
            column
                .as_ref()
                .map_or_else(|| vec![f32::NAN; slots.len()], |c| bin_target(c))
        })
        .collect();
    columns.insert(0, columns[0].clone());
    columns
}

/// The neutralized forward returns before binning, one per variant × horizon (the order of
/// [`target_names`] without `target`); `None` where the horizon is not covered.
pub fn neutral_returns(
    history: &History,
    day: usize,
    slots: &[usize],
    exposures: &Exposures,
    days: Option<usize>,
) -> Vec<Option<Vec<f64>>> {
    let forward: Vec<Option<Vec<f64>>> = HORIZONS
        .iter()
        .map(|&horizon| {
            forward_returns(
                history,
                day,
                slots,
                days.map_or(horizon, |days| days.min(horizon)),
            )
        })
        .collect();
    let projectors: Vec<(Neutral, Option<Projector>)> = [
        Neutral::Nothing,
        Neutral::Market,
        Neutral::Groups,
        Neutral::Everything,
    ]
    .into_iter()
    .map(|neutral| {
        let projector = exposures
            .matrix(neutral)
            .and_then(|matrix| Projector::with_intercept(matrix.as_ref()).ok());
        (neutral, projector)
    })
    .collect();
    let mut out = Vec::new();
    for variant in VARIANTS {
        for forward in &forward {
            out.push(forward.as_ref().map(|forward| {
                let values: Vec<f64> = if variant.risk_adjusted {
                    forward
                        .iter()
                        .zip(&exposures.volatility)
                        .map(|(r, vol)| {
                            if vol.is_finite() && *vol > 0.0 {
                                r / vol
                            } else {
                                0.0
                            }
                        })
                        .collect()
                } else {
                    forward.clone()
                };
                let projector = &projectors
                    .iter()
                    .find(|(neutral, _)| *neutral == variant.neutral)
                    .expect("every kind")
                    .1;
                match projector {
                    Some(projector) => projector.residual_vector(&values),
                    None => values,
                }
            }));
        }
    }
    out
}
