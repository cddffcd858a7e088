//! The Crypto build on small hand-made and synthetic panels: the universe rules, the target's
//! window, the files.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self};
use std::path::{Path, PathBuf};

use super::{Directory, scratch, write_panel};
use jiff::civil::Date;
use numerus_dataset::binning::bin_target;
use numerus_dataset::crypto::{CryptoReport, CryptoSpec, HISTORY_DAYS_MIN, build_crypto};
use numerus_dataset::panel::{PanelDay, PanelKind};
use numerus_dataset::synth::{CryptoSpec as SynthSpec, synthesize_crypto};
use numerus_frames::{ReadOptions, Table, read_table};

/// Writes `days` as a crypto panel in `dir` and builds a version from it into `dir/name`.
fn build(dir: &Path, name: &str, days: &[PanelDay]) -> (PathBuf, CryptoReport) {
    let panel = dir.join(format!("{name}.parquet"));
    write_panel(&panel, PanelKind::Crypto, days);
    let out = dir.join(name);
    fs::create_dir_all(&out).unwrap();
    let report = build_crypto(
        &panel,
        &CryptoSpec { min_symbols: 5 },
        &mut Directory(out.clone()),
        &|_, _| {},
    )
    .unwrap();
    (out, report)
}

fn read(dir: &Path, name: &str) -> Table {
    read_table(&dir.join(name), &ReadOptions::default()).unwrap()
}

fn text<'a>(table: &'a Table, name: &str) -> &'a [String] {
    table.column(name).unwrap().values.as_text().unwrap()
}

fn numbers<'a>(table: &'a Table, name: &str) -> &'a [f64] {
    table.column(name).unwrap().values.as_numbers().unwrap()
}

/// The symbols of each date, in file order.
fn symbols_by_date(table: &Table) -> BTreeMap<String, Vec<String>> {
    let mut dates: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (date, symbol) in text(table, "date").iter().zip(text(table, "symbol")) {
        dates.entry(date.clone()).or_default().push(symbol.clone());
    }
    dates
}

/// A deterministic pseudo-random return in about ±5 % for (symbol index, day, stream).
fn noise(symbol: usize, day: usize, stream: u64) -> f64 {
    let mut x = (symbol as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (day as u64 + 7).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ stream;
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x % 10_001) as f64 / 100_000.0 - 0.05
}

/// One token of a hand-made panel: its symbol, first day, market cap and daily traded value.
struct Token {
    symbol: String,
    listed: usize,
    cap: f64,
    traded: f64,
}

/// `count` days from 2023-01-01 of `tokens`, returns drawn from `stream` (the days in `keep`
/// always from stream 0).
fn panel(
    tokens: &[Token],
    count: usize,
    stream: u64,
    keep: std::ops::RangeInclusive<usize>,
) -> Vec<PanelDay> {
    let start = Date::constant(2023, 1, 1);
    (0..count)
        .map(|index| {
            let date = start
                .checked_add(jiff::Span::new().days(index as i64))
                .unwrap();
            let mut day = PanelDay::new(date);
            for (i, token) in tokens
                .iter()
                .enumerate()
                .filter(|(_, token)| token.listed <= index)
            {
                let ret = if index == token.listed {
                    f64::NAN
                } else {
                    noise(i, index, if keep.contains(&index) { 0 } else { stream })
                };
                day.ticker.push(token.symbol.clone());
                day.close.push(10.0 + i as f64);
                day.ret.push(ret);
                day.volume.push(token.traded);
                day.market_cap.push(token.cap);
            }
            day
        })
        .collect()
}

fn token(symbol: &str, listed: usize, cap: f64, traded: f64) -> Token {
    Token {
        symbol: symbol.to_string(),
        listed,
        cap,
        traded,
    }
}

fn regular_tokens(count: usize) -> Vec<Token> {
    let mut tokens = vec![token("BTC", 0, 1e12, 1e10), token("ETH", 0, 2e11, 5e9)];
    tokens.extend((0..count).map(|i| token(&format!("T{i:02}"), 0, 1e8 * (i + 1) as f64, 1e7)));
    tokens
}

#[test]
fn crypto_universe_always_has_btc_eth_nmr() {
    let dir = scratch("crypto-universe");
    let mut tokens = regular_tokens(20);
    tokens.extend([
        // NMR trades far below the threshold and is tiny: it is in the universe all the same.
        token("NMR", 0, 1e5, 1_000.0),
        token("ZERO", 0, 0.0, 1e7),
        token("THIN", 0, 1e9, 100_000.0),
        token("LATE", 20, 5e8, 1e7),
    ]);
    let days = panel(&tokens, 90, 0, 0..=0);
    let (out, report) = build(&dir, "v1", &days);
    let targets = read(&out, "train_targets.parquet");
    let dates = symbols_by_date(&targets);
    assert_eq!(dates.len(), 90 - (HISTORY_DAYS_MIN - 1) - 21);
    assert_eq!(report.train_date_count, dates.len());
    for (index, (date, symbols)) in dates.iter().enumerate() {
        let day = index + HISTORY_DAYS_MIN - 1;
        assert_eq!(*date, days[day].date().to_string());
        for major in ["BTC", "ETH", "NMR"] {
            assert!(
                symbols.iter().any(|s| s == major),
                "{date}: {major} missing"
            );
        }
        assert!(
            !symbols.iter().any(|s| s == "ZERO" || s == "THIN"),
            "{date}: {symbols:?}"
        );
        let late_days = (day + 1).saturating_sub(20);
        assert_eq!(
            symbols.iter().any(|s| s == "LATE"),
            late_days >= HISTORY_DAYS_MIN,
            "{date}"
        );
        let mut sorted = symbols.clone();
        sorted.sort();
        assert_eq!(*symbols, sorted);
        assert_eq!(
            symbols.len(),
            23 + usize::from(late_days >= HISTORY_DAYS_MIN)
        );
    }
    let universe = read(&out, "live_universe.parquet");
    let live: Vec<&str> = text(&universe, "symbol")
        .iter()
        .map(String::as_str)
        .collect();
    assert!(
        ["BTC", "ETH", "NMR", "LATE"]
            .iter()
            .all(|s| live.contains(s))
    );
    assert!(
        text(&universe, "date")
            .iter()
            .all(|d| *d == days[89].date().to_string())
    );
    assert_eq!(read(&out, "live.parquet").len(), live.len());

    // The synthetic market's majors are in every date's universe too.
    let mut synthetic = Vec::new();
    let spec = SynthSpec {
        symbols: 30,
        days: 80,
        start: Date::constant(2022, 3, 1),
        seed: 3,
    };
    synthesize_crypto(&spec, |day| {
        synthetic.push(day);
        Ok(())
    })
    .unwrap();
    let (out, _) = build(&dir, "synthetic", &synthetic);
    for (date, symbols) in symbols_by_date(&read(&out, "train.parquet")) {
        for major in ["BTC", "ETH", "NMR"] {
            assert!(
                symbols.iter().any(|s| s == major),
                "synthetic {date}: {major} missing"
            );
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn crypto_targets_use_only_returns_after_the_date() {
    let dir = scratch("crypto-targets");
    let tokens = regular_tokens(40);
    const DAYS: usize = 80;
    let date = 45;
    // The target window of `date`: days date+2 ..= date+21, after a one-day lag.
    let window = date + 2..=date + 21;
    let (a, _) = build(&dir, "a", &panel(&tokens, DAYS, 1, window.clone()));
    let (b, _) = build(&dir, "b", &panel(&tokens, DAYS, 2, window.clone()));
    let (a, b) = (read(&a, "train.parquet"), read(&b, "train.parquet"));
    let text_date = Date::constant(2023, 1, 1)
        .checked_add(jiff::Span::new().days(date as i64))
        .unwrap()
        .to_string();
    let rows = |table: &Table| -> Vec<usize> {
        text(table, "date")
            .iter()
            .enumerate()
            .filter(|(_, d)| **d == text_date)
            .map(|(row, _)| row)
            .collect()
    };
    let (rows_a, rows_b) = (rows(&a), rows(&b));
    assert_eq!(rows_a.len(), tokens.len());
    let pick = |table: &Table, rows: &[usize], column: &str| -> Vec<f64> {
        rows.iter()
            .map(|&row| numbers(table, column)[row])
            .collect()
    };
    // Every other day's returns differ between the two panels, the window's do not: the
    // targets agree, the features (returns up to the date) do not.
    assert_eq!(pick(&a, &rows_a, "target"), pick(&b, &rows_b, "target"));
    assert_ne!(
        pick(&a, &rows_a, "feature_return_20d"),
        pick(&b, &rows_b, "feature_return_20d")
    );
    // And the target is exactly the binned compounded return over the window.
    let symbols: Vec<&String> = rows_a.iter().map(|&row| &text(&a, "symbol")[row]).collect();
    let index: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.symbol.as_str(), i))
        .collect();
    let forward: Vec<f64> = symbols
        .iter()
        .map(|symbol| {
            window
                .clone()
                .map(|day| noise(index[symbol.as_str()], day, 0).ln_1p())
                .sum::<f64>()
                .exp_m1()
        })
        .collect();
    let expected: Vec<f64> = bin_target(&forward).into_iter().map(f64::from).collect();
    assert_eq!(pick(&a, &rows_a, "target"), expected);
    let targets = read(&dir.join("a"), "train_targets.parquet");
    assert_eq!(numbers(&targets, "target"), numbers(&a, "target"));
    // The last published date is the last whose window the panel covers.
    let last = text(&a, "date").last().unwrap();
    assert_eq!(
        *last,
        Date::constant(2023, 1, 1)
            .checked_add(jiff::Span::new().days((DAYS - 22) as i64))
            .unwrap()
            .to_string()
    );
    fs::remove_dir_all(&dir).unwrap();
}
