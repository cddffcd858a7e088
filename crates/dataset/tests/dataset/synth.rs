//! The seeded synthetic market: determinism, prefix stability, panel rules, the weak edge in
//! its returns, and a round trip through the panel file format.

use std::collections::{HashMap, HashSet};

use jiff::civil::{Date, date};
use numerus_dataset::Error;
use numerus_dataset::panel::{PanelDay, PanelKind, PanelReader, PanelWriter, is_business_day};
use numerus_dataset::synth::{CryptoSpec, StockSpec, synthesize_crypto, synthesize_stocks};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

fn stocks(stocks: usize, days: usize, seed: u64) -> Vec<PanelDay> {
    let spec = StockSpec {
        stocks,
        days,
        start: date(2015, 1, 3),
        seed,
    };
    let mut panel = Vec::new();
    synthesize_stocks(&spec, |day| {
        panel.push(day);
        Ok(())
    })
    .expect("a valid spec");
    panel
}

fn crypto(symbols: usize, days: usize, seed: u64) -> Vec<PanelDay> {
    let spec = CryptoSpec {
        symbols,
        days,
        start: date(2020, 2, 27),
        seed,
    };
    let mut panel = Vec::new();
    synthesize_crypto(&spec, |day| {
        panel.push(day);
        Ok(())
    })
    .expect("a valid spec");
    panel
}

/// Panels compared bit for bit (NaN equals NaN).
fn same_panel(left: &[PanelDay], right: &[PanelDay]) -> bool {
    fn bits(values: &[f64]) -> Vec<u64> {
        values.iter().map(|value| value.to_bits()).collect()
    }
    fn numbers(day: &PanelDay) -> [Vec<u64>; 8] {
        [
            bits(&day.close),
            bits(&day.ret),
            bits(&day.volume),
            bits(&day.market_cap),
            bits(&day.book_value),
            bits(&day.earnings),
            bits(&day.sales),
            bits(&day.dividends),
        ]
    }
    left.len() == right.len()
        && left.iter().zip(right).all(|(left, right)| {
            left.date == right.date
                && left.ticker == right.ticker
                && left.country == right.country
                && left.sector == right.sector
                && numbers(left) == numbers(right)
        })
}

#[test]
fn same_seed_gives_the_same_panel_and_another_seed_does_not() {
    let first = stocks(60, 30, 11);
    assert!(same_panel(&first, &stocks(60, 30, 11)));
    assert!(!same_panel(&first, &stocks(60, 30, 12)));
    let first = crypto(25, 30, 11);
    assert!(same_panel(&first, &crypto(25, 30, 11)));
    assert!(!same_panel(&first, &crypto(25, 30, 12)));
}

#[test]
fn a_longer_panel_starts_with_the_shorter_one() {
    let long = stocks(80, 300, 5);
    for days in [1, 2, 64, 299] {
        assert!(
            same_panel(&long[..days], &stocks(80, days, 5)),
            "{days} stock days"
        );
    }
    let long = crypto(30, 200, 5);
    for days in [1, 37, 199] {
        assert!(
            same_panel(&long[..days], &crypto(30, days, 5)),
            "{days} crypto days"
        );
    }
}

#[test]
fn stock_panel_has_business_days_unique_tickers_and_finite_prices() {
    let panel = stocks(400, 700, 3);
    assert_eq!(panel.len(), 700);
    assert_eq!(
        panel[0].date(),
        date(2015, 1, 5),
        "the first business day on or after Jan 3"
    );
    let mut previous: Option<Date> = None;
    let mut ever_listed = HashSet::new();
    let mut listings_after_the_first_day = 0;
    for (index, day) in panel.iter().enumerate() {
        assert!(
            is_business_day(day.date()),
            "{} is a business day",
            day.date()
        );
        if let Some(previous) = previous {
            assert!(day.date() > previous);
            assert!(
                day.date() <= previous + jiff::Span::new().days(3),
                "no business day skipped"
            );
        }
        previous = Some(day.date());
        assert_eq!(day.len(), 400);
        for column in [&day.country, &day.sector] {
            assert_eq!(column.len(), 400);
            assert!(column.iter().all(|text| !text.is_empty()));
        }
        let unique: HashSet<&String> = day.ticker.iter().collect();
        assert_eq!(unique.len(), 400, "tickers unique within {}", day.date());
        for (row, ticker) in day.ticker.iter().enumerate() {
            assert!(
                (1..=5).contains(&ticker.len()) && ticker.bytes().all(|b| b.is_ascii_uppercase())
            );
            let new = ever_listed.insert(ticker.clone());
            assert_eq!(
                day.ret[row].is_nan(),
                new,
                "NaN return exactly on {ticker}'s first day"
            );
            if new && index > 0 {
                listings_after_the_first_day += 1;
            }
            if !new {
                assert!(day.ret[row].is_finite() && day.ret[row] >= -0.9);
            }
            for value in [
                day.close[row],
                day.market_cap[row],
                day.volume[row],
                day.sales[row],
            ] {
                assert!(
                    value.is_finite() && value > 0.0,
                    "{ticker} on {}: {value}",
                    day.date()
                );
            }
            assert!(day.book_value[row] > 0.0 && day.earnings[row].is_finite());
            assert!(day.dividends[row] >= 0.0);
        }
    }
    // 400 stocks × 3 %/year × 700/252 years ≈ 33 delistings, each replaced the same day.
    assert!(
        (15..=60).contains(&listings_after_the_first_day),
        "{listings_after_the_first_day}"
    );
    let countries: HashSet<&String> = panel[0].country.iter().collect();
    let sectors: HashSet<&String> = panel[0].sector.iter().collect();
    assert!(
        countries.len() >= 8 && countries.contains(&"US".to_string()),
        "{countries:?}"
    );
    assert_eq!(sectors.len(), 11, "{sectors:?}");
    let us_share = panel[0]
        .country
        .iter()
        .filter(|country| *country == "US")
        .count() as f64
        / 400.0;
    assert!((0.35..0.55).contains(&us_share), "{us_share}");
    let payers = panel[0]
        .dividends
        .iter()
        .filter(|&&dividend| dividend > 0.0)
        .count();
    assert!(
        (240..=320).contains(&payers),
        "about 70 % pay dividends: {payers}"
    );
    assert!(
        panel[0].earnings.iter().any(|&earnings| earnings < 0.0),
        "some losses"
    );
}

#[test]
fn crypto_panel_has_every_calendar_day_and_the_majors() {
    let panel = crypto(40, 400, 9);
    assert_eq!(panel.len(), 400);
    assert_eq!(panel[0].date(), date(2020, 2, 27));
    assert_eq!(panel[2].date(), date(2020, 2, 29), "leap day included");
    let mut ever_listed = HashSet::new();
    for pair in panel.windows(2) {
        assert_eq!(pair[1].date(), pair[0].date().tomorrow().unwrap());
    }
    for day in &panel {
        assert_eq!(day.len(), 40);
        for major in ["BTC", "ETH", "NMR"] {
            assert!(
                day.ticker.iter().any(|symbol| symbol == major),
                "{major} on {}",
                day.date()
            );
        }
        assert!(day.country.is_empty() && day.book_value.is_empty());
        for (row, symbol) in day.ticker.iter().enumerate() {
            let new = ever_listed.insert(symbol.clone());
            assert_eq!(
                day.ret[row].is_nan(),
                new,
                "NaN return exactly on {symbol}'s first day"
            );
            for value in [day.close[row], day.volume[row], day.market_cap[row]] {
                assert!(
                    value.is_finite() && value > 0.0,
                    "{symbol} on {}: {value}",
                    day.date()
                );
            }
        }
    }
    assert!(ever_listed.len() > 40, "some listings after the first day");
    let bitcoin = panel[0]
        .ticker
        .iter()
        .position(|symbol| symbol == "BTC")
        .unwrap();
    let largest = panel[0].market_cap.iter().cloned().fold(0.0, f64::max);
    assert_eq!(panel[0].market_cap[bitcoin], largest);
}

#[test]
fn invalid_specs_name_the_fix() {
    let spec = StockSpec {
        stocks: 49,
        days: 10,
        start: date(2015, 1, 5),
        seed: 0,
    };
    let error = synthesize_stocks(&spec, |_| unreachable!("nothing is emitted")).unwrap_err();
    assert!(
        error.to_string().contains("--stocks must be at least 50"),
        "{error}"
    );
    let spec = StockSpec {
        stocks: 50,
        days: 0,
        ..spec
    };
    let error = synthesize_stocks(&spec, |_| unreachable!()).unwrap_err();
    assert!(
        error.to_string().contains("--days must be at least 1"),
        "{error}"
    );
    let spec = StockSpec {
        stocks: 50,
        days: 10,
        start: date(9999, 12, 20),
        seed: 0,
    };
    let error = synthesize_stocks(&spec, |_| unreachable!()).unwrap_err();
    assert!(error.to_string().contains("earlier --start"), "{error}");
    let spec = CryptoSpec {
        symbols: 19,
        days: 10,
        start: date(2015, 1, 5),
        seed: 0,
    };
    let error = synthesize_crypto(&spec, |_| unreachable!()).unwrap_err();
    assert!(
        error.to_string().contains("--symbols must be at least 20"),
        "{error}"
    );
}

#[test]
fn an_error_from_emit_stops_the_panel() {
    let spec = StockSpec {
        stocks: 50,
        days: 10,
        start: date(2015, 1, 5),
        seed: 0,
    };
    let mut emitted = 0;
    let error = synthesize_stocks(&spec, |_| {
        emitted += 1;
        if emitted == 3 {
            Err(Error::Input {
                what: "disk full".into(),
            })
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(emitted, 3);
    assert_eq!(error.to_string(), "disk full");
}

#[test]
fn written_panel_reads_back() {
    let directory = std::env::temp_dir().join(format!(
        "numerus-synth-round-trip-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&directory).unwrap();
    for (kind, panel) in [
        (PanelKind::Stocks, stocks(60, 40, 2)),
        (PanelKind::Crypto, crypto(25, 40, 2)),
    ] {
        let path = directory.join(format!("{kind:?}.parquet"));
        let mut writer = PanelWriter::new(std::fs::File::create(&path).unwrap(), kind).unwrap();
        for day in &panel {
            writer.write_day(day).unwrap();
        }
        writer.finish().unwrap();
        let mut reader = PanelReader::open(&path, kind, 20).unwrap();
        let mut read = Vec::new();
        while let Some(day) = reader.next_day().unwrap() {
            read.push(day);
        }
        assert!(same_panel(&panel, &read), "{kind:?}");
    }
    std::fs::remove_dir_all(&directory).unwrap();
}

// ------------------------------------------------------------------------ the weak edge

/// Business days of the forward return, and of the momentum window's end and skip.
const HORIZON_DAYS: usize = 20;
const MOMENTUM_END_DAYS: usize = 140;
const MOMENTUM_SKIP_DAYS: usize = 20;
const REVERSAL_DAYS: usize = 5;

/// Weekly information coefficients of a composite built from the panel alone.
struct WeeklyEdge {
    composite: Vec<f64>,
    shuffled: Vec<f64>,
}

/// The ICs, every fifth date, of the mean of standardized value (book / market cap), earnings
/// yield, reversal (minus the 5-day return) and momentum (return from 140 to 20 days ago)
/// against the next 20 days' return demeaned by sector; and of the same composite shuffled
/// within the date.
fn weekly_edge(panel: &[PanelDay]) -> WeeklyEdge {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for day in panel {
        for ticker in &day.ticker {
            let next = index.len();
            index.entry(ticker).or_insert(next);
        }
    }
    // log(1 + return) by date and ticker; NaN where absent.
    let mut log_returns = vec![vec![f64::NAN; index.len()]; panel.len()];
    for (t, day) in panel.iter().enumerate() {
        for (row, ticker) in day.ticker.iter().enumerate() {
            log_returns[t][index[ticker.as_str()]] = day.ret[row].ln_1p();
        }
    }
    let window = |j: usize, from: usize, to: usize| -> f64 {
        (from..=to).map(|t| log_returns[t][j]).sum::<f64>()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut edge = WeeklyEdge {
        composite: Vec::new(),
        shuffled: Vec::new(),
    };
    for t in (MOMENTUM_END_DAYS..panel.len() - HORIZON_DAYS).step_by(5) {
        let day = &panel[t];
        let mut columns: [Vec<f64>; 4] = Default::default();
        let mut forward = Vec::new();
        let mut sectors = Vec::new();
        for (row, ticker) in day.ticker.iter().enumerate() {
            let j = index[ticker.as_str()];
            let momentum = window(j, t + 1 - MOMENTUM_END_DAYS, t - MOMENTUM_SKIP_DAYS);
            let reversal = -window(j, t + 1 - REVERSAL_DAYS, t);
            let future = window(j, t + 1, t + HORIZON_DAYS);
            if !(momentum.is_finite() && reversal.is_finite() && future.is_finite()) {
                continue;
            }
            columns[0].push(day.book_value[row] / day.market_cap[row]);
            columns[1].push(day.earnings[row] / day.market_cap[row]);
            columns[2].push(reversal);
            columns[3].push(momentum);
            forward.push(future.exp() - 1.0);
            sectors.push(day.sector[row].as_str());
        }
        let columns = columns.map(|column| z_scores(&column));
        let mut composite: Vec<f64> = (0..forward.len())
            .map(|i| columns.iter().map(|c| c[i]).sum::<f64>() / 4.0)
            .collect();
        let forward = demeaned_by_group(&forward, &sectors);
        edge.composite.push(spearman(&composite, &forward));
        composite.shuffle(&mut rng);
        edge.shuffled.push(spearman(&composite, &forward));
    }
    edge
}

fn z_scores(values: &[f64]) -> Vec<f64> {
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    let spread = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count).sqrt();
    values
        .iter()
        .map(|v| ((v - mean) / spread).clamp(-3.0, 3.0))
        .collect()
}

fn demeaned_by_group(values: &[f64], groups: &[&str]) -> Vec<f64> {
    let mut totals: HashMap<&str, (f64, f64)> = HashMap::new();
    for (value, group) in values.iter().zip(groups) {
        let total = totals.entry(group).or_default();
        total.0 += value;
        total.1 += 1.0;
    }
    values
        .iter()
        .zip(groups)
        .map(|(value, group)| value - totals[group].0 / totals[group].1)
        .collect()
}

/// Average ranks (ties share their mean rank).
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        for &i in &order[start..end] {
            ranks[i] = (start + end - 1) as f64 / 2.0;
        }
        start = end;
    }
    ranks
}

fn spearman(left: &[f64], right: &[f64]) -> f64 {
    let (left, right) = (ranks(left), ranks(right));
    let mean = (left.len() as f64 - 1.0) / 2.0;
    let covariance: f64 = left
        .iter()
        .zip(&right)
        .map(|(a, b)| (a - mean) * (b - mean))
        .sum();
    let variance_left: f64 = left.iter().map(|a| (a - mean).powi(2)).sum();
    let variance_right: f64 = right.iter().map(|b| (b - mean).powi(2)).sum();
    covariance / (variance_left * variance_right).sqrt()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[test]
fn spearman_of_a_monotone_transform_is_one_and_ties_share_ranks() {
    assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), [2.5, 0.0, 2.5, 1.0]);
    let values = [0.3, -1.0, 2.0, 0.1];
    let cubes: Vec<f64> = values.iter().map(|v: &f64| v.powi(3)).collect();
    assert!((spearman(&values, &cubes) - 1.0).abs() < 1e-12);
}

#[test]
fn an_observable_composite_predicts_forward_returns_weakly() {
    let edge = weekly_edge(&stocks(300, 1000, 1));
    let composite = mean(&edge.composite);
    let negative_weeks = edge.composite.iter().filter(|&&ic| ic < 0.0).count();
    assert!(
        (0.005..=0.08).contains(&composite),
        "mean weekly IC {composite}"
    );
    assert!(
        negative_weeks > 0,
        "the edge is unstable: some weeks go against it"
    );
    let shuffled = mean(&edge.shuffled);
    assert!(
        shuffled.abs() < 0.01,
        "a shuffled composite has no edge: {shuffled}"
    );
}

#[test]
#[ignore = "prints the edge over several seeds; run with --release -- --ignored --nocapture"]
fn print_the_edge_over_seeds() {
    for (stocks_count, days) in [(300, 1000), (1000, 2500)] {
        for seed in 0..5 {
            let edge = weekly_edge(&stocks(stocks_count, days, seed));
            let ics = &edge.composite;
            let average = mean(ics);
            let spread = (ics.iter().map(|ic| (ic - average).powi(2)).sum::<f64>()
                / ics.len() as f64)
                .sqrt();
            let positive = ics.iter().filter(|&&ic| ic > 0.0).count() as f64 / ics.len() as f64;
            println!(
                "{stocks_count} x {days} seed {seed}: mean {average:.4} sd {spread:.4} positive {positive:.2} weeks {} shuffled mean {:.4}",
                ics.len(),
                mean(&edge.shuffled)
            );
        }
    }
}
