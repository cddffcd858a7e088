//! The Classic build end to end on a small synthetic market: files, manifest, bins, ids, leaks,
//! neutralization and signal.

use std::collections::{HashMap, HashSet};
use std::fs::{self};
use std::path::{Path, PathBuf};

use super::{Directory, scratch, write_panel};
use jiff::civil::Date;
use numerus_dataset::classic::{ClassicReport, ClassicSpec, build_classic};
use numerus_dataset::history::History;
use numerus_dataset::ids::IdKey;
use numerus_dataset::panel::{PanelDay, PanelKind};
use numerus_dataset::recipe::Measure;
use numerus_dataset::synth::{StockSpec, synthesize_stocks};
use numerus_dataset::targets::{Exposures, Neutral, VARIANTS, neutral_returns};
use numerus_frames::{ReadOptions, Table, read_table};
use sha2::{Digest, Sha256};

const STOCKS: usize = 150;
const DAYS: usize = 720;
const FEATURES: usize = 40;

fn market(seed: u64) -> Vec<PanelDay> {
    let mut days = Vec::new();
    let spec = StockSpec {
        stocks: STOCKS,
        days: DAYS,
        start: Date::constant(2016, 1, 4),
        seed,
    };
    synthesize_stocks(&spec, |day| {
        days.push(day);
        Ok(())
    })
    .unwrap();
    days
}

fn spec() -> ClassicSpec {
    ClassicSpec {
        features: FEATURES,
        seed: 3,
        validation_fraction: 0.25,
        key: IdKey::new([9; 32]),
        min_stocks: 50,
    }
}

fn build(dir: &Path, days: &[PanelDay]) -> ClassicReport {
    let panel = dir.join("panel.parquet");
    write_panel(&panel, PanelKind::Stocks, days);
    let out = dir.join("v1");
    fs::create_dir_all(&out).unwrap();
    build_classic(&panel, &spec(), &mut Directory(out), &|_, _| {}).unwrap()
}

fn read(path: &Path) -> Table {
    let options = ReadOptions {
        text_columns: &["id", "era", "data_type"],
        ..ReadOptions::default()
    };
    read_table(path, &options).unwrap()
}

fn text<'a>(table: &'a Table, name: &str) -> &'a [String] {
    table.column(name).unwrap().values.as_text().unwrap()
}

fn numbers<'a>(table: &'a Table, name: &str) -> &'a [f64] {
    table.column(name).unwrap().values.as_numbers().unwrap()
}

/// The one build most tests read (built once per test process).
fn shared() -> &'static (PathBuf, ClassicReport) {
    static BUILT: std::sync::OnceLock<(PathBuf, ClassicReport)> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = scratch("classic-shared");
        let report = build(&dir, &market(11));
        (dir.join("v1"), report)
    })
}

#[test]
fn build_writes_every_file_and_the_manifest_has_their_rows_and_hashes() {
    let (dir, report) = shared();
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let names: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for expected in [
        "train.parquet",
        "validation.parquet",
        "live.parquet",
        "validation_example_preds.parquet",
        "live_example_preds.parquet",
        "features.json",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for file in manifest["files"].as_array().unwrap() {
        let bytes = fs::read(dir.join(file["name"].as_str().unwrap())).unwrap();
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(file["sha256"], digest.as_str());
        assert_eq!(file["bytes"], bytes.len());
    }
    let train = read(&dir.join("train.parquet"));
    assert_eq!(manifest["files"][0]["rows"], train.len());
    assert_eq!(report.files[0].rows, train.len());
    let features: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("features.json")).unwrap()).unwrap();
    assert_eq!(
        features["feature_sets"]["all"].as_array().unwrap().len(),
        FEATURES
    );
    assert!(
        !features["feature_sets"]["small"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        features["targets"]
            .as_array()
            .unwrap()
            .contains(&"target".into())
    );
}

#[test]
fn every_era_bins_its_features_into_five_equal_groups() {
    let (dir, report) = shared();
    let train = read(&dir.join("train.parquet"));
    let eras = text(&train, "era");
    let mut rows_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (row, era) in eras.iter().enumerate() {
        rows_of.entry(era).or_default().push(row);
    }
    // Continuous measures over short windows have neither ties nor (past a stock's first
    // weeks) missing values: their bins must hold a fifth of the era each, give or take one.
    // Others may tie (a zero dividend, a drawdown of 0 at a new high) and share a bin.
    let continuous = |measure: &Measure| match *measure {
        Measure::Return { window }
        | Measure::Volatility { window }
        | Measure::Liquidity { window }
        | Measure::RiskAdjustedReturn { window } => window <= 60,
        _ => false,
    };
    let (mut columns, mut even) = (0, 0);
    for feature in &report.recipe.recipe.features {
        let values = numbers(&train, &feature.name);
        for rows in rows_of.values() {
            let mut counts = [0usize; 5];
            for &row in rows {
                let value = values[row];
                assert!(
                    value.fract() == 0.0 && (0.0..=4.0).contains(&value),
                    "{}: {value}",
                    feature.name
                );
                counts[value as usize] += 1;
            }
            if !continuous(&feature.measure) {
                continue;
            }
            let fifth = rows.len() as f64 / 5.0;
            columns += 1;
            if counts
                .iter()
                .all(|&count| (count as f64 - fifth).abs() <= 1.0)
            {
                even += 1;
            }
        }
    }
    assert!(columns > 100, "only {columns} continuous columns");
    // A stock listed in the last weeks lacks a 60-day value and sits in bin 2.
    assert!(
        even as f64 >= 0.95 * columns as f64,
        "{even} of {columns} columns evenly binned"
    );
}

#[test]
fn no_id_appears_in_two_eras() {
    let (dir, _) = shared();
    let mut era_of: HashMap<String, String> = HashMap::new();
    for file in ["train.parquet", "validation.parquet", "live.parquet"] {
        let table = read(&dir.join(file));
        for (id, era) in text(&table, "id").iter().zip(text(&table, "era")) {
            assert!(id.len() == 16 && id.starts_with('n'), "{id}");
            if let Some(other) = era_of.insert(id.clone(), era.clone()) {
                panic!("{id} is in era {other} and era {era}");
            }
        }
    }
}

#[test]
fn train_eras_end_before_an_embargo_and_validation_has_its_data_type() {
    let (dir, report) = shared();
    let train = read(&dir.join("train.parquet"));
    let validation = read(&dir.join("validation.parquet"));
    let last_train: u32 = text(&train, "era")
        .iter()
        .map(|e| e.parse().unwrap())
        .max()
        .unwrap();
    let first_validation: u32 = text(&validation, "era")
        .iter()
        .map(|e| e.parse().unwrap())
        .min()
        .unwrap();
    assert!(
        first_validation > last_train + 12,
        "{last_train} then {first_validation}"
    );
    assert!(
        text(&validation, "data_type")
            .iter()
            .all(|t| t == "validation")
    );
    assert!(
        numbers(&validation, "target")
            .iter()
            .all(|t| [0.0, 0.25, 0.5, 0.75, 1.0].contains(t))
    );
    let live = read(&dir.join("live.parquet"));
    assert_eq!(live.len(), STOCKS);
    assert!(numbers(&live, "target").iter().all(|t| t.is_nan()));
    assert_eq!(text(&live, "era")[0], report.recipe.plan.live.1);
}

#[test]
fn features_of_a_date_do_not_change_when_later_prices_change() {
    let days = market(11);
    let cut = days[560].date();
    let mut perturbed = days.clone();
    for day in perturbed.iter_mut().filter(|day| day.date() > cut) {
        for (ret, close) in day.ret.iter_mut().zip(&mut day.close) {
            *ret = -*ret * 1.7 + 0.01;
            *close *= 1.3;
        }
        day.volume.iter_mut().for_each(|v| *v *= 0.5);
        day.book_value.iter_mut().for_each(|v| *v *= 2.0);
        // Stocks change sector and country later: the earlier eras keep the old ones.
        day.sector.rotate_left(1);
        day.country.rotate_left(2);
    }
    let (a, b) = (scratch("classic-leak-a"), scratch("classic-leak-b"));
    let report = build(&a, &days);
    build(&b, &perturbed);
    let features = report.recipe.recipe.names();
    let mut compared = 0;
    for file in ["train.parquet", "validation.parquet"] {
        let (x, y) = (
            read(&a.join("v1").join(file)),
            read(&b.join("v1").join(file)),
        );
        let eras_before: HashSet<&str> = report
            .recipe
            .plan
            .eras
            .iter()
            .filter(|era| era.date <= cut)
            .map(|era| era.label.as_str())
            .collect();
        for (row, era) in text(&x, "era").iter().enumerate() {
            if !eras_before.contains(era.as_str()) {
                continue;
            }
            assert_eq!(text(&x, "id")[row], text(&y, "id")[row]);
            for feature in &features {
                assert_eq!(
                    numbers(&x, feature)[row],
                    numbers(&y, feature)[row],
                    "{feature} in era {era}"
                );
            }
            compared += 1;
        }
    }
    assert!(compared > 1000, "only {compared} rows compared");
    // And the perturbation did reach the later eras.
    let (x, y) = (
        read(&a.join("v1/validation.parquet")),
        read(&b.join("v1/validation.parquet")),
    );
    let last = x.len() - 1;
    assert!(
        features
            .iter()
            .any(|f| numbers(&x, f)[last] != numbers(&y, f)[last])
    );
}

#[test]
fn targets_are_orthogonal_to_the_exposures_they_are_neutralized_against_before_binning() {
    let days = market(5);
    let mut history = History::new(400);
    for day in &days[..400] {
        history.push(day);
    }
    let era = 300;
    let slots = history.members(era).to_vec();
    let exposures = Exposures::measure(&history, era, &slots);
    let residuals = neutral_returns(&history, era, &slots, &exposures, None);
    for (index, residual) in residuals.iter().enumerate() {
        let variant = VARIANTS[index / 2];
        let residual = residual
            .as_ref()
            .expect("400 days cover both horizons of day 300");
        let scale = residual.iter().map(|r| r * r).sum::<f64>().sqrt();
        let Some(matrix) = exposures.matrix(variant.neutral) else {
            assert_eq!(variant.neutral, Neutral::Nothing);
            continue;
        };
        assert!(
            residual.iter().sum::<f64>().abs() < 1e-9 * scale.max(1.0),
            "{}: mean",
            variant.name
        );
        for j in 0..matrix.ncols() {
            let dot: f64 = (0..matrix.nrows())
                .map(|i| matrix[(i, j)] * residual[i])
                .sum();
            let norm = (0..matrix.nrows())
                .map(|i| matrix[(i, j)].powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(
                dot.abs() <= 1e-9 * scale * norm.max(1.0),
                "{} column {j}: {dot}",
                variant.name
            );
        }
    }
}
