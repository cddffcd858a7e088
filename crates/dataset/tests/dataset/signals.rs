//! The Signals build end to end on a small synthetic market: layout, tickers, targets,
//! neutralizer and sample weights.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::OnceLock;

use super::{Directory, scratch, write_panel};
use arrow_schema::DataType;
use jiff::civil::Date;
use numerus_dataset::binning::bin_target;
use numerus_dataset::panel::{PanelDay, PanelKind};
use numerus_dataset::signals::{FACTORS, SignalsReport, SignalsSpec, TARGETS, build_signals};
use numerus_dataset::synth::{StockSpec, synthesize_stocks};
use numerus_dataset::targets::LAG;
use numerus_frames::{ReadOptions, Table, read_table};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

const STOCKS: usize = 50;
const DAYS: usize = 420;

struct Built {
    dir: PathBuf,
    days: Vec<PanelDay>,
    report: SignalsReport,
}

/// The one build the tests read (built once per test process).
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = scratch("signals-shared");
        let mut days = Vec::new();
        let spec = StockSpec {
            stocks: STOCKS,
            days: DAYS,
            start: Date::constant(2018, 1, 1),
            seed: 5,
        };
        synthesize_stocks(&spec, |day| {
            days.push(day);
            Ok(())
        })
        .unwrap();
        let panel = dir.join("panel.parquet");
        write_panel(&panel, PanelKind::Stocks, &days);
        let out = dir.join("v1");
        fs::create_dir_all(&out).unwrap();
        let spec = SignalsSpec {
            validation_fraction: 0.25,
            min_stocks: 50,
        };
        let report = build_signals(&panel, &spec, &mut Directory(out.clone()), &|_, _| {}).unwrap();
        Built {
            dir: out,
            days,
            report,
        }
    })
}

fn read(name: &str) -> Table {
    read_table(&built().dir.join(name), &ReadOptions::default()).unwrap()
}

fn text<'a>(table: &'a Table, name: &str) -> &'a [String] {
    table
        .column(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .values
        .as_text()
        .unwrap()
}

fn numbers<'a>(table: &'a Table, name: &str) -> &'a [f64] {
    table
        .column(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .values
        .as_numbers()
        .unwrap()
}

/// The rows of each date, in file order.
fn rows_by_date(table: &Table) -> BTreeMap<String, Vec<usize>> {
    let mut rows: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (row, date) in text(table, "date").iter().enumerate() {
        rows.entry(date.clone()).or_default().push(row);
    }
    rows
}

/// Column names and Arrow types of a Parquet file, and its pandas index columns.
fn schema(name: &str) -> (Vec<(String, DataType)>, serde_json::Value) {
    let file = File::open(built().dir.join(name)).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = builder.schema();
    let pandas: serde_json::Value = serde_json::from_str(&schema.metadata()["pandas"]).unwrap();
    let fields = schema
        .fields()
        .iter()
        .map(|field| (field.name().clone(), field.data_type().clone()))
        .collect();
    (fields, pandas["index_columns"].clone())
}

#[test]
fn signals_files_have_numerais_columns_types_and_a_manifest_of_their_hashes() {
    let keys = [("numerai_ticker", DataType::Utf8), ("date", DataType::Utf8)];
    let expect = |name: &str, extra: &[(&str, DataType)]| {
        let (fields, index) = schema(name);
        let wanted: Vec<(String, DataType)> = keys
            .iter()
            .chain(extra)
            .map(|(name, kind)| (name.to_string(), kind.clone()))
            .collect();
        assert_eq!(fields, wanted, "{name}");
        assert_eq!(index, serde_json::json!([]), "{name} has no pandas index");
    };
    let mut data: Vec<(&str, DataType)> = vec![
        ("era", DataType::Utf8),
        ("data_type", DataType::Utf8),
        ("feature_country", DataType::Utf8),
    ];
    data.extend(FACTORS.iter().map(|(name, _)| (*name, DataType::Int8)));
    let live = data.clone();
    data.extend(TARGETS.iter().map(|name| (*name, DataType::Float32)));
    expect("train.parquet", &data);
    expect("validation.parquet", &data);
    expect("live.parquet", &live);
    let neutralizers: Vec<(&str, DataType)> = built()
        .report
        .neutralizers
        .iter()
        .map(|name| (name.as_str(), DataType::Float64))
        .collect();
    expect("train_neutralizer.parquet", &neutralizers);
    expect("validation_neutralizer.parquet", &neutralizers);
    expect(
        "train_sample_weights.parquet",
        &[("sample_weights", DataType::Float64)],
    );
    expect(
        "validation_sample_weights.parquet",
        &[("sample_weights", DataType::Float64)],
    );
    expect(
        "validation_example_preds.parquet",
        &[("signal", DataType::Float64)],
    );
    expect(
        "live_example_preds.parquet",
        &[("signal", DataType::Float64)],
    );
    assert_eq!(FACTORS.len() + 1, 23, "Numerai's 23 Signals features");

    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(built().dir.join("manifest.json")).unwrap())
            .unwrap();
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 9);
    for file in files {
        let name = file["name"].as_str().unwrap();
        let bytes = fs::read(built().dir.join(name)).unwrap();
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(file["sha256"], digest.as_str(), "{name}");
        assert_eq!(file["bytes"], bytes.len(), "{name}");
        assert_eq!(file["rows"], read(name).len(), "{name}");
    }
    let train = read("train.parquet");
    let dates = rows_by_date(&train);
    assert_eq!(manifest["eras"]["train"]["count"], dates.len());
    assert_eq!(
        manifest["eras"]["train"]["first_date"],
        dates.keys().next().unwrap().as_str()
    );
    assert!(text(&train, "data_type").iter().all(|t| t == "train"));
    let live = read("live.parquet");
    let last = built().days.last().unwrap();
    assert!(
        text(&live, "date")
            .iter()
            .all(|date| *date == last.date().to_string())
    );
    assert_eq!(live.len(), last.len());
    assert_eq!(
        manifest["eras"]["live"]["date"],
        last.date().to_string().as_str()
    );
}

#[test]
fn numerai_ticker_is_ticker_space_country() {
    let panel: HashMap<String, &PanelDay> = built()
        .days
        .iter()
        .map(|day| (day.date().to_string(), day))
        .collect();
    for name in [
        "train.parquet",
        "validation.parquet",
        "live.parquet",
        "validation_example_preds.parquet",
    ] {
        let table = read(name);
        let tickers = text(&table, "numerai_ticker");
        for (date, rows) in rows_by_date(&table) {
            let day = panel[&date];
            let mut expected: Vec<String> = day
                .ticker
                .iter()
                .zip(&day.country)
                .map(|(ticker, country)| format!("{ticker} {country}"))
                .collect();
            expected.sort();
            let got: Vec<String> = rows.iter().map(|&row| tickers[row].clone()).collect();
            assert_eq!(
                got, expected,
                "{name} {date}: every stock of the date, sorted"
            );
        }
        if let Some(countries) = table.column("feature_country") {
            let countries = countries.values.as_text().unwrap();
            for (ticker, country) in tickers.iter().zip(countries) {
                assert_eq!(ticker.rsplit_once(' ').unwrap().1, country);
            }
        }
    }
}

#[test]
fn signals_targets_are_binned_and_target_is_the_feature_neutral_20() {
    let train = read("train.parquet");
    let validation = read("validation.parquet");
    for table in [&train, &validation] {
        for name in TARGETS {
            assert!(
                numbers(table, name)
                    .iter()
                    .all(|v| v.is_nan() || [0.0, 0.25, 0.5, 0.75, 1.0].contains(v))
            );
        }
        let target = numbers(table, "target");
        assert!(
            target.iter().all(|v| !v.is_nan()),
            "the main target is never missing"
        );
        assert_eq!(target, numbers(table, "target_factor_feat_neutral_20"));
        for (name, _) in FACTORS {
            assert!(
                numbers(table, name)
                    .iter()
                    .all(|v| (0.0..=4.0).contains(v) && v.fract() == 0.0)
            );
        }
    }
    // Train targets are complete; the raw 20-day target is the binned forward return of the
    // panel after the lag.
    assert!(
        numbers(&train, "target_raw_return_60")
            .iter()
            .all(|v| !v.is_nan())
    );
    let index: HashMap<String, usize> = built()
        .days
        .iter()
        .enumerate()
        .map(|(i, day)| (day.date().to_string(), i))
        .collect();
    let tickers = text(&train, "numerai_ticker");
    let raw = numbers(&train, "target_raw_return_20");
    let (neutral, feature_neutral) = (
        numbers(&train, "target_factor_neutral_20"),
        numbers(&train, "target"),
    );
    let mut differs = (0, 0);
    for (date, rows) in rows_by_date(&train) {
        let day = index[&date];
        let forward: Vec<f64> = rows
            .iter()
            .map(|&row| {
                let ticker = tickers[row].split_once(' ').unwrap().0;
                built().days[day + LAG + 1..=day + LAG + 20]
                    .iter()
                    .filter_map(|later| {
                        later
                            .ticker
                            .iter()
                            .position(|t| t == ticker)
                            .map(|i| later.ret[i])
                    })
                    .filter(|r| r.is_finite())
                    .map(|r| r.ln_1p())
                    .sum::<f64>()
                    .exp_m1()
            })
            .collect();
        let expected = bin_target(&forward);
        for (&row, value) in rows.iter().zip(expected) {
            assert_eq!(raw[row], f64::from(value), "{date} {}", tickers[row]);
        }
        differs.0 += rows.iter().filter(|&&row| neutral[row] != raw[row]).count();
        differs.1 += rows
            .iter()
            .filter(|&&row| feature_neutral[row] != neutral[row])
            .count();
    }
    assert!(
        differs.0 > 0 && differs.1 > 0,
        "neutralizing changes the targets: {differs:?}"
    );
}

#[test]
fn neutralizer_is_orthonormal_under_the_sample_weights() {
    let names = &built().report.neutralizers;
    assert_eq!(names[0], "neutralizer_intercept");
    assert!(
        names
            .iter()
            .any(|name| name.starts_with("neutralizer_sector_"))
    );
    assert!(
        names
            .iter()
            .any(|name| name.starts_with("neutralizer_country_"))
    );
    for split in ["train", "validation"] {
        let data = read(&format!("{split}.parquet"));
        let neutralizer = read(&format!("{split}_neutralizer.parquet"));
        let weights = read(&format!("{split}_sample_weights.parquet"));
        assert_eq!(
            text(&neutralizer, "numerai_ticker"),
            text(&data, "numerai_ticker")
        );
        assert_eq!(text(&weights, "date"), text(&data, "date"));
        let w = numbers(&weights, "sample_weights");
        let columns: Vec<&[f64]> = names
            .iter()
            .map(|name| numbers(&neutralizer, name))
            .collect();
        for (date, rows) in rows_by_date(&neutralizer) {
            assert!(rows.iter().all(|&row| w[row] > 0.0));
            let mean = rows.iter().map(|&row| w[row]).sum::<f64>() / rows.len() as f64;
            assert!((mean - 1.0).abs() < 1e-9, "{date}: weights average {mean}");
            let zero: Vec<bool> = columns
                .iter()
                .map(|column| rows.iter().all(|&row| column[row] == 0.0))
                .collect();
            assert!(
                zero.iter().filter(|z| !**z).count() >= 6 + 3,
                "{date}: styles and some groups are kept"
            );
            for i in 0..columns.len() {
                for j in 0..columns.len() {
                    let gram: f64 = rows
                        .iter()
                        .map(|&row| columns[i][row] * w[row] * columns[j][row])
                        .sum();
                    let identity = if i == j && !zero[i] { 1.0 } else { 0.0 };
                    assert!(
                        (gram - identity).abs() < 1e-9,
                        "{split} {date}: (NᵀWN)[{}, {}] = {gram}",
                        names[i],
                        names[j]
                    );
                }
            }
            // The intercept column is constant: the weighted mean is what it projects out.
            let first = columns[0][rows[0]];
            assert!(
                rows.iter()
                    .all(|&row| (columns[0][row] - first).abs() < 1e-12)
            );
        }
    }
}

#[test]
fn example_signals_are_inside_zero_one() {
    for name in [
        "validation_example_preds.parquet",
        "live_example_preds.parquet",
    ] {
        let preds = read(name);
        assert!(!preds.is_empty());
        assert!(
            numbers(&preds, "signal")
                .iter()
                .all(|s| *s > 0.0 && *s < 1.0),
            "{name}"
        );
    }
}
