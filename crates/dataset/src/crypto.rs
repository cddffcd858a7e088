//! The Crypto build: a crypto panel in, a dataset version in the layout of Numerai Crypto out.
//!
//! Crypto eras are daily: every calendar date of the panel is a `date`. Each date has a
//! *universe* ([`universe`]), chosen in the spirit of Numerai's rules from what is known on
//! that date only:
//!
//! - BTC, ETH and NMR are always in it (when the panel has them that day);
//! - a token needs [`HISTORY_DAYS_MIN`] days in the panel (that day included), a positive
//!   market cap and a day's traded value of at least [`TRADED_VALUE_MIN`];
//! - of those, the largest by market cap fill the universe up to [`UNIVERSE_MAX`] tokens.
//!
//! (Numerai also drops stablecoins, wrapped and staked tokens, near-duplicates and tokens
//! highly correlated with larger ones; a panel is expected to leave those out.)
//!
//! The target of date `t` is the token's return over [`TARGET_HORIZON_DAYS`] days after a
//! lag of [`TARGET_LAG_DAYS`]: the compounded daily returns of days
//! `t + 2 ..= t + 21` — the close of `t + 1`, when a round opened on `t + 1` can first trade,
//! to the close of `t + 21` (a day without a return counts as zero). It is binned 5/20/50/20/5 %
//! across the date's universe into {0, 0.25, 0.5, 0.75, 1}. Only dates whose whole target
//! window is in the panel are published, from the first date any token can qualify
//! (the [`HISTORY_DAYS_MIN`]-th).
//!
//! The features ([`FEATURES`]) are measures of the token's history up to `t`, windows in
//! calendar days, binned into five equal groups per date (int8 0..=4, missing = 2).
//!
//! # Files
//!
//! Unindexed, `symbol` and `date` (`YYYY-MM-DD`) ordinary string columns, one row group per
//! date, rows sorted by `symbol`:
//!
//! | file | columns |
//! |------|---------|
//! | `train.parquet` | `symbol`, `date`, the features (int8), `target` (float32) |
//! | `train_targets.parquet` | `symbol`, `date`, `target` (float32) |
//! | `live.parquet` | `symbol`, `date` (the panel's last date), the features (int8) |
//! | `live_universe.parquet` | `symbol`, `date` (the panel's last date) |
//! | `manifest.json` | the dates covered, the rules, the column names, every file's rows, bytes and SHA-256 |
//!
//! The stream keeps a [`History`] of the last few months and the universes of the dates
//! waiting for their targets (about three weeks): memory does not grow with the panel.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use crate::Error;
use crate::binning::{bin_features, bin_target};
use crate::features::raw_features;
use crate::history::History;
use crate::output::{FileEntry, Files, TableFile, write_json};
use crate::panel::{PanelDay, PanelKind, PanelReader, scan_dates};
use crate::recipe::{FeatureDef, Measure, Relative};
use crate::targets::forward_returns_after;
use crate::writer::{Kind, Values};

/// The tokens every date's universe has.
pub const ALWAYS_IN_UNIVERSE: [&str; 3] = ["BTC", "ETH", "NMR"];
/// Days a token must have been in the panel (that day included) to be in the universe.
pub const HISTORY_DAYS_MIN: usize = 30;
/// The smallest day's traded value (the panel's `volume`, in the panel's currency) a token of
/// the universe may have: Numerai's \$500k 24-hour volume.
pub const TRADED_VALUE_MIN: f64 = 500_000.0;
/// The most tokens a universe has.
pub const UNIVERSE_MAX: usize = 500;
/// Days between a date and the first day of its target's returns.
pub const TARGET_LAG_DAYS: usize = 1;
/// Days of returns in a target.
pub const TARGET_HORIZON_DAYS: usize = 20;

/// The longest feature window, in days.
const FEATURE_WINDOW_MAX: usize = 60;
/// Days of history the build keeps: the longest feature window before a date and the target
/// window after it, with a margin.
const HISTORY_CAPACITY: usize = FEATURE_WINDOW_MAX + 1 + TARGET_LAG_DAYS + TARGET_HORIZON_DAYS + 8;

/// The features, in file order, and what each measures (windows in calendar days).
pub const FEATURES: [(&str, Measure); 12] = [
    ("feature_return_5d", Measure::Return { window: 5 }),
    ("feature_return_20d", Measure::Return { window: 20 }),
    ("feature_return_60d", Measure::Return { window: 60 }),
    (
        "feature_momentum_60d_less_20d",
        Measure::Momentum { window: 60 },
    ),
    ("feature_volatility_20d", Measure::Volatility { window: 20 }),
    ("feature_volatility_60d", Measure::Volatility { window: 60 }),
    ("feature_beta_60d", Measure::Beta { window: 60 }),
    ("feature_drawdown_60d", Measure::Drawdown { window: 60 }),
    (
        "feature_traded_value_20d",
        Measure::Liquidity { window: 20 },
    ),
    ("feature_turnover_20d", Measure::Turnover { window: 20 }),
    (
        "feature_traded_value_trend_20d",
        Measure::VolumeTrend { window: 20 },
    ),
    ("feature_market_cap", Measure::Size),
];

/// What to build.
#[derive(Debug, Clone)]
pub struct CryptoSpec {
    /// Fewest tokens a panel date may have.
    pub min_symbols: usize,
}

/// What a Crypto build made.
#[derive(Debug, Clone)]
pub struct CryptoReport {
    /// The dates published with targets: first, last and how many.
    pub train_dates: Option<(jiff::civil::Date, jiff::civil::Date)>,
    /// How many train dates.
    pub train_date_count: usize,
    /// The live date (the panel's last).
    pub live_date: jiff::civil::Date,
    /// Tokens in the live universe.
    pub live_symbols: usize,
    /// The published files (the manifest lists them too).
    pub files: Vec<FileEntry>,
}

/// The rows of `day` in its universe (in row order). `days_seen` counts, per symbol, the
/// panel days it has appeared on, `day` included.
pub fn universe(day: &PanelDay, days_seen: &HashMap<String, usize>) -> Vec<usize> {
    let always = |row: usize| ALWAYS_IN_UNIVERSE.contains(&day.ticker[row].as_str());
    let mut chosen: Vec<usize> = (0..day.len()).filter(|&row| always(row)).collect();
    let mut candidates: Vec<usize> = (0..day.len())
        .filter(|&row| {
            let cap = day.market_cap[row];
            let traded = day.volume[row];
            !always(row)
                && days_seen
                    .get(&day.ticker[row])
                    .is_some_and(|&days| days >= HISTORY_DAYS_MIN)
                && cap.is_finite()
                && cap > 0.0
                && traded.is_finite()
                && traded >= TRADED_VALUE_MIN
        })
        .collect();
    candidates.sort_by(|&a, &b| {
        day.market_cap[b]
            .total_cmp(&day.market_cap[a])
            .then(day.ticker[a].cmp(&day.ticker[b]))
    });
    candidates.truncate(UNIVERSE_MAX.saturating_sub(chosen.len()));
    chosen.extend(candidates);
    chosen.sort_unstable();
    chosen
}

/// A date's rows, sorted by symbol.
struct DateRows {
    symbols: Vec<String>,
    bins: Vec<Vec<i8>>,
    /// Empty for the live date.
    target: Vec<f32>,
}

fn date_rows(history: &History, day: usize, universe: &[usize], with_target: bool) -> DateRows {
    let defs: Vec<FeatureDef> = FEATURES
        .iter()
        .map(|&(_, measure)| FeatureDef {
            name: String::new(),
            measure,
            lag: 0,
            relative: Relative::Raw,
        })
        .collect();
    let raw = raw_features(history, day, universe, &defs);
    let bins = bin_features(&raw);
    let target = if with_target {
        forward_returns_after(history, day, universe, TARGET_LAG_DAYS, TARGET_HORIZON_DAYS)
            .map_or_else(
                || vec![f32::NAN; universe.len()],
                |forward| bin_target(&forward),
            )
    } else {
        Vec::new()
    };
    let symbols: Vec<&str> = universe
        .iter()
        .map(|&slot| history.stock(slot, day).ticker)
        .collect();
    let mut order: Vec<usize> = (0..universe.len()).collect();
    order.sort_unstable_by(|&a, &b| symbols[a].cmp(symbols[b]));
    DateRows {
        symbols: order.iter().map(|&row| symbols[row].to_string()).collect(),
        bins: bins
            .iter()
            .map(|column| order.iter().map(|&row| column[row]).collect())
            .collect(),
        target: if target.is_empty() {
            target
        } else {
            order.iter().map(|&row| target[row]).collect()
        },
    }
}

/// [`History`] keeps close × volume as a day's traded value; a crypto panel's `volume` already
/// is the traded value, so it is handed over as `volume / close`.
fn as_traded_value(day: &mut PanelDay) {
    for (volume, &close) in day.volume.iter_mut().zip(&day.close) {
        *volume = if close.is_finite() && close > 0.0 {
            *volume / close
        } else {
            f64::NAN
        };
    }
}

fn keys(rows: &DateRows, date: &str) -> Vec<Values> {
    vec![
        Values::Text(rows.symbols.clone()),
        Values::Text(vec![date.to_string(); rows.symbols.len()]),
    ]
}

fn columns(features: bool, target: bool) -> Vec<(String, Kind)> {
    let mut columns = vec![
        ("symbol".to_string(), Kind::Text),
        ("date".to_string(), Kind::Text),
    ];
    if features {
        columns.extend(
            FEATURES
                .iter()
                .map(|(name, _)| (name.to_string(), Kind::Int8)),
        );
    }
    if target {
        columns.push(("target".to_string(), Kind::Float32));
    }
    columns
}

/// Builds a Crypto version from the crypto panel at `panel` into `files`, calling
/// `progress(days_read, days_total)` as it reads.
///
/// # Errors
/// [`Error::Input`] when the panel is too short for a single date with a target;
/// [`Error::Panel`] when the panel breaks its rules; I/O and Parquet errors from `files`.
pub fn build_crypto(
    panel: &Path,
    spec: &CryptoSpec,
    files: &mut dyn Files,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<CryptoReport, Error> {
    let dates = scan_dates(panel, PanelKind::Crypto)?;
    let needed = HISTORY_DAYS_MIN + TARGET_LAG_DAYS + TARGET_HORIZON_DAYS;
    if dates.len() < needed {
        return Err(Error::input(format!(
            "the crypto panel has {} dates; a build needs at least {needed} ({HISTORY_DAYS_MIN} \
             for a token to enter the universe, then {} for its target) and a year or more for \
             useful training data",
            dates.len(),
            TARGET_LAG_DAYS + TARGET_HORIZON_DAYS
        )));
    }
    let mut reader = PanelReader::open(panel, PanelKind::Crypto, spec.min_symbols)?;
    let mut train = TableFile::create(files, "train.parquet", &columns(true, true))?;
    let mut train_targets =
        TableFile::create(files, "train_targets.parquet", &columns(false, true))?;
    let mut history = History::new(HISTORY_CAPACITY);
    let mut days_seen: HashMap<String, usize> = HashMap::new();
    // Dates waiting for their target window: (day, universe slots).
    let mut waiting: VecDeque<(usize, Vec<usize>)> = VecDeque::new();
    let mut live_universe = Vec::new();
    let (mut first, mut last, mut count) = (None, None, 0);
    while let Some(mut day) = reader.next_day()? {
        for symbol in &day.ticker {
            *days_seen.entry(symbol.clone()).or_insert(0) += 1;
        }
        let rows = universe(&day, &days_seen);
        as_traded_value(&mut day);
        history.push(&day);
        let today = history.days() - 1;
        progress(today + 1, dates.len());
        let slots = history.members(today);
        let universe: Vec<usize> = rows.iter().map(|&row| slots[row]).collect();
        if today + 1 == dates.len() {
            live_universe = universe.clone();
        }
        if today + 1 >= HISTORY_DAYS_MIN {
            waiting.push_back((today, universe));
        }
        while let Some((date_day, _)) = waiting.front()
            && date_day + TARGET_LAG_DAYS + TARGET_HORIZON_DAYS <= today
        {
            let (date_day, universe) = waiting.pop_front().expect("checked");
            let rows = date_rows(&history, date_day, &universe, true);
            let date = history.date(date_day);
            let text = date.to_string();
            let mut row = keys(&rows, &text);
            row.extend(rows.bins.iter().map(|bins| Values::Int8(bins.clone())));
            row.push(Values::Float32(rows.target.clone()));
            train.write(row)?;
            let mut targets = keys(&rows, &text);
            targets.push(Values::Float32(rows.target));
            train_targets.write(targets)?;
            first.get_or_insert(date);
            last = Some(date);
            count += 1;
        }
    }
    if history.days() != dates.len() {
        return Err(Error::input(
            "the panel changed while it was being read; build again",
        ));
    }
    let today = history.days() - 1;
    let live_date = history.date(today);
    let live_text = live_date.to_string();
    let live_rows = date_rows(&history, today, &live_universe, false);
    let mut live = TableFile::create(files, "live.parquet", &columns(true, false))?;
    let mut row = keys(&live_rows, &live_text);
    row.extend(live_rows.bins.iter().map(|bins| Values::Int8(bins.clone())));
    live.write(row)?;
    let mut universe_file =
        TableFile::create(files, "live_universe.parquet", &columns(false, false))?;
    universe_file.write(keys(&live_rows, &live_text))?;
    let entries = vec![
        train.finish()?,
        train_targets.finish()?,
        live.finish()?,
        universe_file.finish()?,
    ];
    let manifest = serde_json::json!({
        "tournament": "crypto",
        "dates": {
            "train": {
                "first": first.map(|date: jiff::civil::Date| date.to_string()),
                "last": last.map(|date: jiff::civil::Date| date.to_string()),
                "count": count,
            },
            "live": { "date": live_text, "symbols": live_rows.symbols.len() },
        },
        "universe": {
            "always": ALWAYS_IN_UNIVERSE,
            "history_days_min": HISTORY_DAYS_MIN,
            "traded_value_min": TRADED_VALUE_MIN,
            "size_max": UNIVERSE_MAX,
        },
        "target": {
            "lag_days": TARGET_LAG_DAYS,
            "horizon_days": TARGET_HORIZON_DAYS,
            "bins": "5/20/50/20/5 % into 0, 0.25, 0.5, 0.75, 1 per date",
        },
        "features": FEATURES.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        "files": entries,
    });
    write_json(files, "manifest.json", &manifest)?;
    Ok(CryptoReport {
        train_dates: first.zip(last),
        train_date_count: count,
        live_date,
        live_symbols: live_rows.symbols.len(),
        files: entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(symbols: &[(&str, f64, f64)]) -> PanelDay {
        let mut day = PanelDay::new(jiff::civil::date(2024, 1, 1));
        for &(symbol, cap, traded) in symbols {
            day.ticker.push(symbol.to_string());
            day.close.push(1.0);
            day.ret.push(0.0);
            day.volume.push(traded);
            day.market_cap.push(cap);
        }
        day
    }

    #[test]
    fn the_universe_keeps_the_majors_and_the_largest_qualified_tokens() {
        let day = day(&[
            ("AAA", 5e9, 1e7),
            ("NMR", 1e6, 10.0),
            ("ZERO", 0.0, 1e7),
            ("THIN", 9e9, 1e5),
            ("YOUNG", 9e9, 1e7),
            ("BBB", 4e9, 1e7),
        ]);
        let seen: HashMap<String, usize> = day
            .ticker
            .iter()
            .map(|symbol| {
                (
                    symbol.clone(),
                    if symbol == "YOUNG" {
                        HISTORY_DAYS_MIN - 1
                    } else {
                        HISTORY_DAYS_MIN
                    },
                )
            })
            .collect();
        let chosen: Vec<&str> = universe(&day, &seen)
            .iter()
            .map(|&row| day.ticker[row].as_str())
            .collect();
        assert_eq!(chosen, ["AAA", "NMR", "BBB"]);
    }
}
