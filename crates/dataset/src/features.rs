//! Raw (unbinned) feature values of one era, from the history up to the era's date only.
//!
//! For each stock and each lag the recipe uses, one backward pass over the stock's history
//! gathers the running sums every windowed measure needs (`WindowStats`) and records them at
//! each window's boundary; every measure is then a formula of those sums. A stock-day without
//! a return counts as a zero return, and a windowed measure needs at least half of its window's
//! returns, else it is missing (NaN, binned 2).

use std::collections::HashMap;

use rayon::prelude::*;

use crate::history::{History, Series};
use crate::recipe::{FeatureDef, Fundamental, LAGS, Measure, Relative, WINDOWS};

/// Running sums over the last `w` days ending at one day, for every `w` in [`WINDOWS`].
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    log_return: f64,
    returns: f64,
    r: f64,
    r2: f64,
    m: f64,
    m2: f64,
    rm: f64,
    traded: f64,
    traded_days: f64,
    illiquidity: f64,
    illiquidity_days: f64,
    max_close: f64,
}

/// The window sums of one stock at one day, for each window.
#[derive(Debug, Clone, Copy)]
struct WindowStats {
    sums: [Sums; WINDOWS.len()],
}

impl WindowStats {
    fn gather(history: &History, slot: usize, day: usize) -> Self {
        let mut sums = [Sums::default(); WINDOWS.len()];
        let mut running = Sums {
            max_close: f64::NEG_INFINITY,
            ..Sums::default()
        };
        let returns = history.ring(Series::Return, slot);
        let logs = history.ring(Series::LogReturn, slot);
        let traded = history.ring(Series::Traded, slot);
        let closes = history.ring(Series::Close, slot);
        let market = history.market_ring();
        let capacity = returns.len();
        // Days before the first held one (or before the panel) contribute nothing.
        let held = (day + 1).min(capacity.saturating_sub(history.days().saturating_sub(day + 1)));
        let mut position = history.position(day);
        let mut next = 0;
        for back in 0..*WINDOWS.last().expect("windows") {
            if back == WINDOWS[next] {
                sums[next] = running;
                next += 1;
            }
            if back >= held {
                break;
            }
            let r = returns[position];
            let m = market[position];
            if r.is_finite() && m.is_finite() {
                running.log_return += logs[position];
                running.returns += 1.0;
                running.r += r;
                running.r2 += r * r;
                running.m += m;
                running.m2 += m * m;
                running.rm += r * m;
            }
            let value = traded[position];
            if value > 0.0 {
                running.traded += value;
                running.traded_days += 1.0;
                if r.is_finite() {
                    running.illiquidity += r.abs() / value * 1e6;
                    running.illiquidity_days += 1.0;
                }
            }
            let close = closes[position];
            if close > running.max_close {
                running.max_close = close;
            }
            position = if position == 0 {
                capacity - 1
            } else {
                position - 1
            };
        }
        while next < WINDOWS.len() {
            sums[next] = running;
            next += 1;
        }
        Self { sums }
    }

    fn window(&self, window: usize) -> &Sums {
        let index = WINDOWS
            .iter()
            .position(|&w| w == window)
            .expect("a catalogue window");
        &self.sums[index]
    }
}

/// Population variance and covariance pieces of a window; `None` with too few returns.
fn moments(sums: &Sums, window: usize) -> Option<(f64, f64, f64)> {
    let n = sums.returns;
    if n < (window as f64 / 2.0).max(2.0) {
        return None;
    }
    let var_r = (sums.r2 / n - (sums.r / n).powi(2)).max(0.0);
    let var_m = (sums.m2 / n - (sums.m / n).powi(2)).max(0.0);
    let cov = sums.rm / n - (sums.r / n) * (sums.m / n);
    Some((var_r, var_m, cov))
}

fn fundamental_series(of: Fundamental) -> Series {
    match of {
        Fundamental::BookValue => Series::BookValue,
        Fundamental::Earnings => Series::Earnings,
        Fundamental::Sales => Series::Sales,
        Fundamental::Dividends => Series::Dividends,
    }
}

/// The value of `measure` for one stock measured at `day`.
fn measure(
    history: &History,
    slot: usize,
    day: usize,
    stats: &WindowStats,
    measure: Measure,
) -> f64 {
    let enough = |sums: &Sums, window: usize| sums.returns >= window as f64 / 2.0;
    let cap = history.value(Series::MarketCap, slot, day);
    let per_cap = |value: f64| if cap > 0.0 { value / cap } else { f64::NAN };
    match measure {
        Measure::Return { window } => {
            let sums = stats.window(window);
            if enough(sums, window) {
                sums.log_return.exp_m1()
            } else {
                f64::NAN
            }
        }
        Measure::Momentum { window } => {
            let (long, short) = (stats.window(window), stats.window(20));
            if enough(long, window) {
                (long.log_return - short.log_return).exp_m1()
            } else {
                f64::NAN
            }
        }
        Measure::Volatility { window } => {
            moments(stats.window(window), window).map_or(f64::NAN, |(var, _, _)| var.sqrt())
        }
        Measure::Beta { window } => {
            moments(stats.window(window), window).map_or(f64::NAN, |(_, var_m, cov)| {
                if var_m > 0.0 { cov / var_m } else { f64::NAN }
            })
        }
        Measure::IdiosyncraticVolatility { window } => moments(stats.window(window), window)
            .map_or(f64::NAN, |(var_r, var_m, cov)| {
                if var_m > 0.0 {
                    (var_r - cov * cov / var_m).max(0.0).sqrt()
                } else {
                    f64::NAN
                }
            }),
        Measure::Liquidity { window } => {
            let sums = stats.window(window);
            if sums.traded_days >= window as f64 / 2.0 {
                (sums.traded / sums.traded_days).ln()
            } else {
                f64::NAN
            }
        }
        Measure::VolumeTrend { window } => {
            let (short, long) = (stats.window(5), stats.window(window));
            if short.traded_days >= 3.0 && long.traded_days >= window as f64 / 2.0 {
                (short.traded / short.traded_days) / (long.traded / long.traded_days)
            } else {
                f64::NAN
            }
        }
        Measure::Turnover { window } => {
            let sums = stats.window(window);
            if sums.traded_days >= window as f64 / 2.0 {
                per_cap(sums.traded / sums.traded_days)
            } else {
                f64::NAN
            }
        }
        Measure::Drawdown { window } => {
            let sums = stats.window(window);
            let close = history.value(Series::Close, slot, day);
            if enough(sums, window) && sums.max_close > 0.0 {
                close / sums.max_close - 1.0
            } else {
                f64::NAN
            }
        }
        Measure::Illiquidity { window } => {
            let sums = stats.window(window);
            if sums.illiquidity_days >= window as f64 / 2.0 {
                sums.illiquidity / sums.illiquidity_days
            } else {
                f64::NAN
            }
        }
        Measure::RiskAdjustedReturn { window } => {
            let sums = stats.window(window);
            match moments(sums, window) {
                Some((var, _, _)) if var > 0.0 => sums.log_return.exp_m1() / var.sqrt(),
                _ => f64::NAN,
            }
        }
        Measure::Size => {
            if cap > 0.0 {
                cap.ln()
            } else {
                f64::NAN
            }
        }
        Measure::Yield { of } => per_cap(history.value(fundamental_series(of), slot, day)),
        Measure::ReturnOnEquity => {
            let book = history.value(Series::BookValue, slot, day);
            let earnings = history.value(Series::Earnings, slot, day);
            if book > 0.0 {
                earnings / book
            } else {
                f64::NAN
            }
        }
        Measure::Margin => {
            let sales = history.value(Series::Sales, slot, day);
            let earnings = history.value(Series::Earnings, slot, day);
            if sales > 0.0 {
                earnings / sales
            } else {
                f64::NAN
            }
        }
        Measure::Growth { of, window } => {
            let series = fundamental_series(of);
            let now = history.value(series, slot, day);
            let then = day
                .checked_sub(window)
                .map_or(f64::NAN, |then| history.value(series, slot, then));
            per_cap(now - then)
        }
    }
}

/// The raw values of `features` for the stocks `slots` on day `day`: one column per feature,
/// one value per stock, NaN where missing. Reads history up to `day` only.
pub fn raw_features(
    history: &History,
    day: usize,
    slots: &[usize],
    features: &[FeatureDef],
) -> Vec<Vec<f64>> {
    let lags: Vec<usize> = LAGS
        .into_iter()
        .filter(|lag| features.iter().any(|feature| feature.lag == *lag))
        .collect();
    // Per stock: every feature's raw value (rows), then transposed into columns.
    let rows: Vec<Vec<f64>> = slots
        .par_iter()
        .map(|&slot| {
            let stats: Vec<Option<WindowStats>> = lags
                .iter()
                .map(|&lag| {
                    day.checked_sub(lag)
                        .map(|at| WindowStats::gather(history, slot, at))
                })
                .collect();
            features
                .iter()
                .map(|feature| {
                    let index = lags
                        .iter()
                        .position(|&lag| lag == feature.lag)
                        .expect("gathered");
                    match (&stats[index], day.checked_sub(feature.lag)) {
                        (Some(stats), Some(at)) => {
                            let value = measure(history, slot, at, stats, feature.measure);
                            if value.is_finite() { value } else { f64::NAN }
                        }
                        _ => f64::NAN,
                    }
                })
                .collect()
        })
        .collect();
    let mut columns: Vec<Vec<f64>> = (0..features.len())
        .into_par_iter()
        .map(|feature| rows.iter().map(|row| row[feature]).collect())
        .collect();
    drop(rows);
    let sectors = groups(slots, |slot| history.stock(slot, day).sector);
    let countries = groups(slots, |slot| history.stock(slot, day).country);
    columns
        .par_iter_mut()
        .zip(features)
        .for_each(|(column, feature)| match feature.relative {
            Relative::Raw => {}
            Relative::Sector => subtract_group_means(column, &sectors),
            Relative::Country => subtract_group_means(column, &countries),
        });
    columns
}

/// The group index of each stock (groups numbered in order of first appearance).
pub(crate) fn groups<'a>(slots: &[usize], key: impl Fn(usize) -> &'a str) -> Vec<usize> {
    let mut index = HashMap::new();
    slots
        .iter()
        .map(|&slot| {
            let next = index.len();
            *index.entry(key(slot)).or_insert(next)
        })
        .collect()
}

/// Replaces each finite value by its difference from the mean of the finite values of its
/// group.
fn subtract_group_means(column: &mut [f64], groups: &[usize]) {
    let count = groups.iter().max().map_or(0, |max| max + 1);
    let mut sums = vec![(0.0, 0.0); count];
    for (&value, &group) in column.iter().zip(groups) {
        if value.is_finite() {
            sums[group].0 += value;
            sums[group].1 += 1.0;
        }
    }
    for (value, &group) in column.iter_mut().zip(groups) {
        if value.is_finite() {
            *value -= sums[group].0 / sums[group].1;
        }
    }
}
