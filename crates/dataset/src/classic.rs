//! The Classic build: a stock panel in, a dataset version in Numerai's v5 layout out.
//!
//! One pass over the panel, a day at a time, keeping only the [`History`] window: when the
//! panel has reached an era's last target day, the era's features are computed from history up
//! to the era's date, binned, given fresh ids, joined with its targets and written as one row
//! group of `train.parquet` or `validation.parquet`. Memory is the window plus one era,
//! whatever the panel's length.
//!
//! The example model, which gives `validation_example_preds.parquet` and
//! `live_example_preds.parquet`, is a ridge regression of `target` on the feature bins, fitted
//! on every fourth train era (the subsample Numerai's notebooks use); its predictions are
//! ranked within each era into (0, 1).

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::binning::{bin_features, rank_percentiles};
use crate::features::raw_features;
use crate::history::History;
use crate::ids::IdKey;
use crate::output::{FileEntry, Files, Hashing, write_json};
use crate::panel::{PanelDay, PanelKind, PanelReader, scan_dates};
use crate::plan::{Era, Plan, Split};
use crate::recipe::{LOOKBACK, Recipe};
use crate::targets::{Exposures, LAG, target_names, targets};
use crate::writer::{Kind, TableWriter, Values};

/// Days of history a build keeps: the features' lookback and the longest target window.
pub const HISTORY_DAYS: usize = LOOKBACK + LAG + 60 + 8;

/// What to build.
#[derive(Debug, Clone)]
pub struct ClassicSpec {
    /// Number of engineered features.
    pub features: usize,
    /// Seeds the choice, order and names of the features.
    pub seed: u64,
    /// Share of the complete eras that are validation.
    pub validation_fraction: f64,
    /// The secret ids are derived from.
    pub key: IdKey,
    /// Fewest stocks a date may have.
    pub min_stocks: usize,
}

/// What a later `live` or `targets` run needs to extend a version: private, since it says
/// what each feature is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecipe {
    /// The features.
    pub recipe: Recipe,
    /// The week era labels count from.
    pub first_week: Date,
    /// The example model's weights on the centred feature bins.
    pub example_weights: Vec<f64>,
    /// The eras as built.
    pub plan: Plan,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct ClassicReport {
    /// The private recipe.
    pub recipe: VersionRecipe,
    /// The published files (the manifest lists them too).
    pub files: Vec<FileEntry>,
}

/// One era's published rows, sorted by id.
pub(crate) struct EraRows {
    pub ids: Vec<String>,
    /// Feature bins, one column per feature.
    pub bins: Vec<Vec<i8>>,
    /// Target columns in [`target_names`] order.
    pub targets: Vec<Vec<f32>>,
    /// Each stock's raw compounded return over the scored window (daily targets files only).
    pub returns: Option<Vec<f64>>,
}

/// Computes an era's rows at history day `day` for the stocks present that day. `era_key`
/// keys the ids; `target_days` caps the target windows (`Some(0)`: no targets at all).
pub(crate) fn era_rows(
    history: &History,
    day: usize,
    era_key: &str,
    recipe: &Recipe,
    key: &IdKey,
    target_days: Option<usize>,
) -> Result<EraRows, Error> {
    let slots = history.members(day);
    let raw = raw_features(history, day, slots, &recipe.features);
    let bins = bin_features(&raw);
    drop(raw);
    let targets = if target_days == Some(0) {
        vec![vec![f32::NAN; slots.len()]; target_names().len()]
    } else {
        let exposures = Exposures::measure(history, day, slots);
        targets(history, day, slots, &exposures, target_days)
    };
    let tickers: Vec<&str> = slots
        .iter()
        .map(|&slot| history.stock(slot, day).ticker)
        .collect();
    let ids: Vec<String> = tickers
        .iter()
        .map(|ticker| key.id(era_key, ticker))
        .collect();
    let mut seen = HashSet::with_capacity(ids.len());
    if let Some(twice) = ids.iter().find(|id| !seen.insert(id.as_str())) {
        return Err(Error::input(format!(
            "two stocks of era {era_key} got the id {twice}; build again with another id key"
        )));
    }
    let returns = target_days
        .filter(|&days| days > 0)
        .and_then(|days| crate::targets::forward_returns(history, day, slots, days));
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_unstable_by(|&a, &b| ids[a].cmp(&ids[b]));
    let permute_i8 = |column: &Vec<i8>| order.iter().map(|&row| column[row]).collect();
    let permute_f32 = |column: &Vec<f32>| order.iter().map(|&row| column[row]).collect();
    Ok(EraRows {
        ids: order.iter().map(|&row| ids[row].clone()).collect(),
        bins: bins.iter().map(permute_i8).collect(),
        targets: targets.iter().map(permute_f32).collect(),
        returns: returns.map(|column| order.iter().map(|&row| column[row]).collect()),
    })
}

/// The columns of train, validation and live files (before the `id` index).
pub(crate) fn data_columns(recipe: &Recipe) -> Vec<(String, Kind)> {
    let mut columns = vec![
        ("era".to_string(), Kind::Text),
        ("data_type".to_string(), Kind::Text),
    ];
    columns.extend(recipe.names().into_iter().map(|name| (name, Kind::Int8)));
    columns.extend(target_names().into_iter().map(|name| (name, Kind::Float32)));
    columns
}

/// A data file being written.
pub(crate) struct DataFile {
    name: &'static str,
    writer: TableWriter<Hashing<Box<dyn Write + Send>>>,
}

impl DataFile {
    pub(crate) fn create(
        files: &mut dyn Files,
        name: &'static str,
        columns: &[(String, Kind)],
    ) -> Result<Self, Error> {
        let writer = TableWriter::new(Hashing::new(files.create(name)?), "id", columns)?;
        Ok(Self { name, writer })
    }

    /// Writes an era of `rows` labelled `label` as `data_type`.
    pub(crate) fn write_era(
        &mut self,
        rows: &EraRows,
        label: &str,
        data_type: &str,
    ) -> Result<(), Error> {
        let count = rows.ids.len();
        let mut columns = vec![
            Values::Text(vec![label.to_string(); count]),
            Values::Text(vec![data_type.to_string(); count]),
        ];
        columns.extend(rows.bins.iter().map(|bins| Values::Int8(bins.clone())));
        columns.extend(
            rows.targets
                .iter()
                .map(|targets| Values::Float32(targets.clone())),
        );
        self.writer.write(columns, rows.ids.clone())
    }

    /// Writes an era's partial targets: `era`, `date`, `day`, the targets.
    pub(crate) fn write_targets(
        &mut self,
        rows: &EraRows,
        label: &str,
        date: &str,
        day: usize,
    ) -> Result<(), Error> {
        let count = rows.ids.len();
        let mut columns = vec![
            Values::Text(vec![label.to_string(); count]),
            Values::Text(vec![date.to_string(); count]),
            Values::Int8(vec![
                i8::try_from(day).expect("scoring days fit an i8");
                count
            ]),
        ];
        columns.extend(
            rows.targets
                .iter()
                .map(|targets| Values::Float32(targets.clone())),
        );
        columns.push(Values::Float64(
            rows.returns
                .clone()
                .unwrap_or_else(|| vec![f64::NAN; count]),
        ));
        self.writer.write(columns, rows.ids.clone())
    }

    /// Writes one column of predictions for an era.
    pub(crate) fn write_predictions(
        &mut self,
        ids: &[String],
        predictions: Vec<f64>,
    ) -> Result<(), Error> {
        self.writer
            .write(vec![Values::Float64(predictions)], ids.to_vec())
    }

    pub(crate) fn finish(self) -> Result<FileEntry, Error> {
        let rows = self.writer.rows();
        self.writer.finish()?.entry(self.name, rows)
    }
}

/// The example model: ridge regression of `target − 0.5` on `bins − 2`.
pub(crate) struct ExampleModel {
    gram: Mat<f64>,
    moment: Mat<f64>,
    rows: usize,
}

impl ExampleModel {
    pub(crate) fn new(features: usize) -> Self {
        Self {
            gram: Mat::zeros(features, features),
            moment: Mat::zeros(features, 1),
            rows: 0,
        }
    }

    pub(crate) fn add(&mut self, rows: &EraRows) {
        let x = centred(&rows.bins);
        let y = Mat::from_fn(rows.ids.len(), 1, |i, _| {
            f64::from(rows.targets[0][i]) - 0.5
        });
        self.gram += x.transpose() * &x;
        self.moment += x.transpose() * &y;
        self.rows += rows.ids.len();
    }

    /// The weights, with a ridge penalty of 1 % of the mean diagonal per feature.
    pub(crate) fn weights(&self) -> Vec<f64> {
        let features = self.gram.nrows();
        let trace: f64 = (0..features).map(|i| self.gram[(i, i)]).sum();
        let ridge = 0.01 * trace / features as f64 + 1e-9;
        let mut penalized = self.gram.clone();
        for i in 0..features {
            penalized[(i, i)] += ridge;
        }
        match penalized.llt(Side::Lower) {
            Ok(llt) => {
                let solution = llt.solve(&self.moment);
                (0..features).map(|i| solution[(i, 0)]).collect()
            }
            Err(_) => vec![0.0; features],
        }
    }
}

/// The feature bins centred at 0, rows × features.
fn centred(bins: &[Vec<i8>]) -> Mat<f64> {
    let rows = bins.first().map_or(0, Vec::len);
    Mat::from_fn(rows, bins.len(), |i, j| f64::from(bins[j][i]) - 2.0)
}

/// The example model's predictions for an era, ranked into (0, 1).
pub(crate) fn predict(weights: &[f64], rows: &EraRows) -> Vec<f64> {
    let x = centred(&rows.bins);
    let w = Mat::from_fn(weights.len(), 1, |i, _| weights[i]);
    let raw = &x * &w;
    let values: Vec<f64> = (0..x.nrows()).map(|i| raw[(i, 0)]).collect();
    rank_percentiles(&values)
}

/// `features.json`: the feature sets and the target names.
pub(crate) fn features_json(recipe: &Recipe) -> serde_json::Value {
    let sets: serde_json::Map<String, serde_json::Value> = recipe
        .feature_sets()
        .into_iter()
        .map(|(name, members)| (name, serde_json::json!(members)))
        .collect();
    serde_json::json!({ "feature_sets": sets, "targets": target_names() })
}

/// Builds a Classic version from the stock panel at `panel` into `files`, calling
/// `progress(days_read, days_total)` as it reads.
pub fn build_classic(
    panel: &Path,
    spec: &ClassicSpec,
    files: &mut dyn Files,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ClassicReport, Error> {
    if !(0.0..1.0).contains(&spec.validation_fraction) || spec.validation_fraction <= 0.0 {
        return Err(Error::input(
            "--validation-fraction must be between 0 and 1 (exclusive)",
        ));
    }
    let recipe = Recipe::draw(spec.features, spec.seed)?;
    let dates = scan_dates(panel, PanelKind::Stocks)?;
    let plan = Plan::new(&dates, spec.validation_fraction)?;
    let first_week = crate::plan::first_week(&dates).expect("the plan checked the length");
    let columns = data_columns(&recipe);
    let prediction = [("prediction".to_string(), Kind::Float64)];
    let sink = EraSink {
        train: DataFile::create(files, "train.parquet", &columns)?,
        validation: DataFile::create(files, "validation.parquet", &columns)?,
        validation_preds: DataFile::create(files, "validation_example_preds.parquet", &prediction)?,
        model: ExampleModel::new(recipe.features.len()),
        weights: None,
        train_eras: 0,
    };
    let reader = PanelReader::open(panel, PanelKind::Stocks, spec.min_stocks)?;
    let mut history = History::new(HISTORY_DAYS);
    // Three stages overlap: a thread decodes the panel, this one computes eras, a third
    // encodes and writes them. Bounded channels keep at most a few days and eras in flight.
    let sink = std::thread::scope(|scope| -> Result<EraSink, Error> {
        let days = read_ahead(scope, reader);
        let (eras, to_write) = std::sync::mpsc::sync_channel::<(EraRows, &Era)>(2);
        let writer = scope.spawn(move || -> Result<EraSink, Error> {
            let mut sink = sink;
            for (rows, era) in to_write {
                sink.take(&rows, era)?;
            }
            Ok(sink)
        });
        let computed = (|| -> Result<(), Error> {
            let mut next_era = 0;
            for day in days {
                history.push(&day?);
                let today = history.days() - 1;
                progress(today + 1, dates.len());
                for era in plan.due(&mut next_era, today, dates.len()) {
                    if matches!(era.split, Split::Train | Split::Validation) {
                        let rows =
                            era_rows(&history, era.day, &era.label, &recipe, &spec.key, None)?;
                        if eras.send((rows, era)).is_err() {
                            // The writer stopped on an error; joining it below reports it.
                            return Ok(());
                        }
                    }
                }
            }
            Ok(())
        })();
        drop(eras);
        let written = writer.join().expect("the writer thread does not panic");
        computed?;
        written
    })?;
    if history.days() != dates.len() {
        return Err(Error::input(
            "the panel changed while it was being read; build again",
        ));
    }
    let EraSink {
        train,
        validation,
        validation_preds,
        model,
        weights,
        ..
    } = sink;
    let weights = weights.unwrap_or_else(|| model.weights());
    let (live_date, live_label) = &plan.live;
    let live_rows = era_rows(
        &history,
        history.days() - 1,
        &live_key(*live_date),
        &recipe,
        &spec.key,
        Some(0),
    )?;
    let mut live = DataFile::create(files, "live.parquet", &columns)?;
    live.write_era(&live_rows, live_label, "live")?;
    let mut live_preds = DataFile::create(files, "live_example_preds.parquet", &prediction)?;
    live_preds.write_predictions(&live_rows.ids, predict(&weights, &live_rows))?;

    let mut entries = vec![
        train.finish()?,
        validation.finish()?,
        live.finish()?,
        validation_preds.finish()?,
        live_preds.finish()?,
    ];
    entries.push(write_json(files, "features.json", &features_json(&recipe))?);
    let manifest = serde_json::json!({
        "tournament": "classic",
        "eras": {
            "train": era_range(&plan, Split::Train),
            "embargo": plan.count(Split::Embargo),
            "validation": era_range(&plan, Split::Validation),
            "live": { "era": live_label, "date": live_date.to_string() },
        },
        "features": recipe.features.len(),
        "targets": target_names(),
        "files": entries,
    });
    write_json(files, "manifest.json", &manifest)?;
    Ok(ClassicReport {
        recipe: VersionRecipe {
            recipe,
            first_week,
            example_weights: weights,
            plan,
        },
        files: entries,
    })
}

/// The files and model that train and validation eras go to, on the writer thread.
struct EraSink {
    train: DataFile,
    validation: DataFile,
    validation_preds: DataFile,
    model: ExampleModel,
    weights: Option<Vec<f64>>,
    train_eras: usize,
}

impl EraSink {
    fn take(&mut self, rows: &EraRows, era: &Era) -> Result<(), Error> {
        match era.split {
            Split::Train => {
                if self.train_eras.is_multiple_of(4) {
                    self.model.add(rows);
                }
                self.train_eras += 1;
                self.train.write_era(rows, &era.label, "train")
            }
            Split::Validation => {
                let model = &self.model;
                let weights = self.weights.get_or_insert_with(|| model.weights());
                self.validation.write_era(rows, &era.label, "validation")?;
                self.validation_preds
                    .write_predictions(&rows.ids, predict(weights, rows))
            }
            Split::Embargo | Split::Incomplete => Ok(()),
        }
    }
}

/// Decodes the panel on its own thread, a few days ahead of the caller.
pub(crate) fn read_ahead<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    mut reader: PanelReader,
) -> std::sync::mpsc::Receiver<Result<PanelDay, Error>> {
    let (days, received) = std::sync::mpsc::sync_channel(4);
    scope.spawn(move || {
        loop {
            let next = reader.next_day().transpose();
            let stop = !matches!(next, Some(Ok(_)));
            if let Some(next) = next
                && days.send(next).is_err()
            {
                break;
            }
            if stop {
                break;
            }
        }
    });
    received
}

/// The id key of the live era on `date`: ids change every day.
pub fn live_key(date: Date) -> String {
    format!("live-{date}")
}

/// `{"first": "0001", "last": "0420", "count": 420}` for a split.
fn era_range(plan: &Plan, split: Split) -> serde_json::Value {
    let eras: Vec<&str> = plan
        .eras
        .iter()
        .filter(|era| era.split == split)
        .map(|era| era.label.as_str())
        .collect();
    serde_json::json!({
        "first": eras.first(),
        "last": eras.last(),
        "count": eras.len(),
    })
}
