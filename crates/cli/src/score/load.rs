//! Reading and joining the input files of `numerus score` into eras.
//!
//! Every file is joined on (`era`, `id`) whatever its row order. A file without an `era`
//! column takes each id's era from the data file. Anything a user must fix (a missing
//! column, a duplicate id, a NaN prediction, an unknown era, too little overlap) is a
//! [`BadInput`] naming the file, the row or column, and the fix.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use faer::Mat;
use numerus_frames::{ReadOptions, Table, TableReader, Values, open_table, read_table};
use numerus_scoring::EraTarget;

/// Columns that are always text in Numerai's layouts.
const TEXT_COLUMNS: &[&str] = &["id", "era", "submission", "data_type", "numerai_ticker"];

/// The bytes of numbers read from a file at a time (at least one column).
///
/// The big inputs (features, predictions) are copied into the era matrices one group of columns
/// at a time, so on top of the matrices there is only one group and its decoding; read whole,
/// a file would be held twice over. Measured on 5,000 rows x 3,376 columns, groups of 2 MiB
/// load no slower than bigger ones (the reader opened per group costs little) and hold less.
const GROUP_BYTES: usize = 2 << 20;

/// An input problem the user must fix; `numerus score` exits with status 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn bad<T>(message: String) -> Result<T, BadInput> {
    Err(BadInput(message))
}

/// The files to read.
#[derive(Debug, Clone)]
pub struct Sources {
    pub data: PathBuf,
    pub predictions: PathBuf,
    pub target: String,
    pub meta_model: Option<PathBuf>,
    pub benchmark: Option<PathBuf>,
    pub benchmark_column: Option<String>,
    pub neutralizers: Option<PathBuf>,
    pub sample_weights: Option<PathBuf>,
    pub stakes: Option<PathBuf>,
    /// Whether to read the feature columns at all (only FNC and exposure need them).
    pub features: bool,
}

/// Everything `numerus score` scores, split into eras sorted by name.
#[derive(Debug)]
pub struct Inputs {
    pub submissions: Vec<String>,
    pub feature_count: usize,
    pub stakes: Option<Vec<Option<f64>>>,
    pub eras: Vec<EraData>,
}

/// One era's rows, aligned with its predictions.
#[derive(Debug)]
pub struct EraData {
    pub name: String,
    pub ids: Vec<String>,
    pub predictions: Mat<f64>,
    pub target: Vec<f64>,
    pub era_target: EraTarget,
    pub features: Option<Mat<f64>>,
    pub meta_model: Option<Vec<f64>>,
    pub benchmark: Option<Vec<f64>>,
    pub neutralizers: Option<Mat<f64>>,
    pub sample_weights: Option<Vec<f64>>,
}

/// A file with its keys read; its number columns stay in the file until read.
struct Keyed {
    path: PathBuf,
    eras: Option<Vec<String>>,
    ids: Vec<String>,
    /// The names of the number columns, in file order.
    names: Vec<String>,
    /// Where each of `names` is in `file`.
    positions: Vec<usize>,
    file: TableReader,
}

fn options(select: &dyn Fn(&str) -> bool) -> ReadOptions<'_> {
    ReadOptions {
        text_columns: TEXT_COLUMNS,
        select: Some(select),
    }
}

fn read(path: &Path, select: &dyn Fn(&str) -> bool) -> Result<Table, BadInput> {
    read_table(path, &options(select)).map_err(|e| BadInput(e.to_string()))
}

/// Opens a file with `id`, optional `era`, and the selected number columns, and reads the keys.
fn open_keyed(path: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<Keyed, BadInput> {
    let select = |name: &str| name == "id" || name == "era" || wanted(name);
    let mut file = open_table(path, &options(&select)).map_err(|e| BadInput(e.to_string()))?;
    let shown = path.display();
    let key_positions: Vec<usize> = (0..file.headings().len())
        .filter(|&c| matches!(file.headings()[c].name.as_str(), "id" | "era"))
        .collect();
    let keys = file
        .read(&key_positions)
        .map_err(|e| BadInput(e.to_string()))?;
    let mut eras = None;
    let mut ids = None;
    for column in keys.columns {
        match (column.name.as_str(), column.values) {
            ("id", Values::Text(values)) => ids = Some(values),
            ("era", Values::Text(values)) => eras = Some(values),
            _ => unreachable!("`id` and `era` are text columns"),
        }
    }
    let mut names = Vec::new();
    let mut positions = Vec::new();
    for (position, heading) in file.headings().iter().enumerate() {
        match (heading.name.as_str(), heading.text) {
            ("id" | "era", _) => {}
            (name, false) => {
                names.push(name.to_owned());
                positions.push(position);
            }
            (name, true) => {
                return bad(format!(
                    "{shown}: column `{name}` holds text; it must hold numbers"
                ));
            }
        }
    }
    let Some(ids) = ids else {
        return bad(format!(
            "{shown}: no `id` column. Numerai-layout files key every row by `id` (and `era`); \
             if the ids are the pandas index, save with `df.to_parquet(path)` (index kept) or `df.reset_index()`"
        ));
    };
    Ok(Keyed {
        path: path.to_owned(),
        eras,
        ids,
        names,
        positions,
        file,
    })
}

impl Keyed {
    /// The number columns `columns` (increasing indices into `names`).
    fn read(&mut self, columns: &[usize]) -> Result<Vec<Vec<f64>>, BadInput> {
        let positions: Vec<usize> = columns.iter().map(|&c| self.positions[c]).collect();
        let table = self
            .file
            .read(&positions)
            .map_err(|e| BadInput(e.to_string()))?;
        Ok(table
            .columns
            .into_iter()
            .map(|column| match column.values {
                Values::Number(values) => values,
                Values::Text(_) => unreachable!("open_keyed refuses text number columns"),
            })
            .collect())
    }

    /// Hands each of the number columns `columns` (increasing indices into `names`) to `each`
    /// with its name, reading [`GROUP_BYTES`] at a time: a group is gone before the next is read.
    fn for_each_column(
        &mut self,
        columns: &[usize],
        mut each: impl FnMut(&str, Vec<f64>) -> Result<(), BadInput>,
    ) -> Result<(), BadInput> {
        let per_group = (GROUP_BYTES / (8 * self.ids.len()).max(1)).max(1);
        for group in columns.chunks(per_group) {
            for (&c, values) in group.iter().zip(self.read(group)?) {
                each(&self.names[c], values)?;
            }
        }
        Ok(())
    }
}

/// Row lookup by (era, id) over the data file, the reference for every other file.
struct DataIndex {
    era_of_id: HashMap<String, Option<String>>,
    rows: HashMap<(String, String), usize>,
}

impl DataIndex {
    fn new(data: &Keyed) -> Result<Self, BadInput> {
        let eras = data.eras.as_ref().ok_or_else(|| {
            BadInput(format!(
                "{}: no `era` column; the data file must say which era each row belongs to",
                data.path.display()
            ))
        })?;
        let mut rows = HashMap::with_capacity(data.ids.len());
        let mut era_of_id: HashMap<String, Option<String>> = HashMap::with_capacity(data.ids.len());
        for (row, (era, id)) in eras.iter().zip(&data.ids).enumerate() {
            if rows.insert((era.clone(), id.clone()), row).is_some() {
                return bad(format!(
                    "{}: row {}: id `{id}` appears twice in era `{era}`; each id may appear once per era",
                    data.path.display(),
                    row + 1
                ));
            }
            era_of_id
                .entry(id.clone())
                .and_modify(|e| {
                    if e.as_deref() != Some(era) {
                        *e = None
                    }
                })
                .or_insert_with(|| Some(era.clone()));
        }
        Ok(Self { era_of_id, rows })
    }

    /// The era of each row of `file`: its own `era` column, or the data file's era of the id.
    fn eras_of(&self, file: &Keyed) -> Result<Vec<String>, BadInput> {
        if let Some(eras) = &file.eras {
            return Ok(eras.clone());
        }
        file.ids
            .iter()
            .enumerate()
            .map(|(row, id)| match self.era_of_id.get(id) {
                Some(Some(era)) => Ok(era.clone()),
                Some(None) => bad(format!(
                    "{}: row {}: id `{id}` is in several eras of the data; add an `era` column",
                    file.path.display(),
                    row + 1
                )),
                None => bad(format!(
                    "{}: row {}: id `{id}` is not in the data file, and the file has no `era` column to place it",
                    file.path.display(),
                    row + 1
                )),
            })
            .collect()
    }
}

/// Rows of a companion file by (era, id).
fn index_rows(file: &Keyed, eras: &[String]) -> Result<HashMap<(String, String), usize>, BadInput> {
    let mut rows = HashMap::with_capacity(file.ids.len());
    for (row, (era, id)) in eras.iter().zip(&file.ids).enumerate() {
        if rows.insert((era.clone(), id.clone()), row).is_some() {
            return bad(format!(
                "{}: row {}: id `{id}` appears twice in era `{era}`; keep one row per id and era",
                file.path.display(),
                row + 1
            ));
        }
    }
    Ok(rows)
}

/// Loads every file and splits the rows into eras.
pub fn load(sources: &Sources) -> Result<Inputs, BadInput> {
    let target_name = sources.target.clone();
    let want_features = sources.features;
    let mut data = open_keyed(&sources.data, &|name| {
        name == target_name || (want_features && name.starts_with("feature_"))
    })?;
    let target = data
        .names
        .iter()
        .position(|name| *name == sources.target)
        .ok_or_else(|| {
            BadInput(format!(
                "{}: no target column `{}`; name the target with --target COLUMN",
                sources.data.display(),
                sources.target
            ))
        })?;
    let target = data.read(&[target])?.remove(0);
    let index = DataIndex::new(&data)?;

    let mut predictions = open_keyed(&sources.predictions, &|_| true)?;
    let submissions = predictions.names.clone();
    if submissions.is_empty() {
        return bad(format!(
            "{}: no prediction column; add one number column per submission beside `id` and `era`",
            sources.predictions.display()
        ));
    }
    let all_submissions: Vec<usize> = (0..submissions.len()).collect();
    let by_era = match index
        .eras_of(&predictions)
        .and_then(|eras| group_by_era(&predictions, &eras, &index))
    {
        Ok(by_era) => by_era,
        Err(misplaced) => {
            // A gap in the predictions outranks a misplaced row, as when every column was
            // checked before the rows were placed: check them all before giving up.
            let path = predictions.path.clone();
            predictions.for_each_column(&all_submissions, |name, values| {
                check_predictions(&path, name, &values)
            })?;
            return Err(misplaced);
        }
    };
    let prediction_rows: Vec<Vec<Option<usize>>> = by_era
        .iter()
        .map(|(_, rows)| rows.iter().map(|&r| Some(r)).collect())
        .collect();
    let path = predictions.path.clone();
    let prediction_matrices = era_matrices(
        &mut predictions,
        &all_submissions,
        0,
        &prediction_rows,
        |name, values| check_predictions(&path, name, values),
    )?;

    let data_rows: Vec<Vec<Option<usize>>> = by_era
        .iter()
        .map(|(name, rows)| {
            rows.iter()
                .map(|&r| {
                    index
                        .rows
                        .get(&(name.clone(), predictions.ids[r].clone()))
                        .copied()
                })
                .collect()
        })
        .collect();
    let feature_columns: Vec<usize> = (0..data.names.len())
        .filter(|&c| data.names[c].starts_with("feature_"))
        .collect();
    let feature_matrices = if feature_columns.is_empty() {
        None
    } else {
        // Room for one more column: FNC appends its ones column there and factors the
        // features in place (`Era::fnc_in_place`).
        Some(era_matrices(
            &mut data,
            &feature_columns,
            1,
            &data_rows,
            |_, _| Ok(()),
        )?)
    };

    let companion = |path: &Option<PathBuf>,
                     wanted: &dyn Fn(&str) -> bool|
     -> Result<Option<Companion>, BadInput> {
        path.as_ref()
            .map(|p| Companion::load(p, wanted, &index))
            .transpose()
    };
    let meta = companion(&sources.meta_model, &|n| n == "numerai_meta_model")?;
    let benchmark = companion(&sources.benchmark, &|n| n != "data_type")?;
    let neutralizers = companion(&sources.neutralizers, &|n| n.starts_with("neutralizer_"))?;
    let weights = companion(&sources.sample_weights, &|n| {
        n == "sample_weight" || n == "sample_weights"
    })?;
    let meta_column = meta
        .as_ref()
        .map(|m| m.single("numerai_meta_model", None))
        .transpose()?;
    let benchmark_column = benchmark
        .as_ref()
        .map(|b| b.single("a benchmark model", sources.benchmark_column.as_deref()))
        .transpose()?;
    let weights_column = weights
        .as_ref()
        .map(|w| w.single("sample_weight", None))
        .transpose()?;
    if let Some(n) = &neutralizers
        && n.columns.is_empty()
    {
        return bad(format!(
            "{}: no `neutralizer_*` column; neutralizer columns must be named `neutralizer_<name>`",
            n.file.path.display()
        ));
    }
    let stakes = sources
        .stakes
        .as_ref()
        .map(|path| load_stakes(path, &submissions))
        .transpose()?;

    let era_targets = era_targets(&data, &target);
    let mut feature_matrices = feature_matrices.map(Vec::into_iter);
    let mut eras = Vec::with_capacity(by_era.len());
    for (((name, rows), predictions_of_era), data_rows) in
        by_era.into_iter().zip(prediction_matrices).zip(data_rows)
    {
        let ids: Vec<String> = rows.iter().map(|&r| predictions.ids[r].clone()).collect();
        eras.push(EraData {
            predictions: predictions_of_era,
            target: data_rows
                .iter()
                .map(|r| r.map_or(f64::NAN, |r| target[r]))
                .collect(),
            era_target: era_targets[name.as_str()],
            features: feature_matrices.as_mut().and_then(Iterator::next),
            meta_model: meta
                .as_ref()
                .zip(meta_column)
                .map(|(m, c)| m.vector(c, &name, &ids))
                .transpose()?,
            benchmark: benchmark
                .as_ref()
                .zip(benchmark_column)
                .map(|(b, c)| b.vector(c, &name, &ids))
                .transpose()?,
            neutralizers: neutralizers
                .as_ref()
                .map(|n| n.matrix(&name, &ids))
                .transpose()?,
            sample_weights: weights
                .as_ref()
                .zip(weights_column)
                .map(|(w, c)| w.vector(c, &name, &ids))
                .transpose()?,
            name,
            ids,
        });
    }
    check_coverage(&eras, &index, &sources.predictions)?;
    Ok(Inputs {
        submissions,
        feature_count: feature_columns.len(),
        stakes,
        eras,
    })
}

/// Each era's matrix of the number columns `columns` of `file`: row `i` of era `e` is file row
/// `rows[e][i]` (NaN where that is `None`). Every column is passed to `check` first. Each
/// matrix has room for `spare_columns` more columns.
///
/// The columns come a group at a time and each is dropped once copied into every era, so the
/// file's numbers are held once, in the matrices, plus one group.
fn era_matrices(
    file: &mut Keyed,
    columns: &[usize],
    spare_columns: usize,
    rows: &[Vec<Option<usize>>],
    check: impl Fn(&str, &[f64]) -> Result<(), BadInput>,
) -> Result<Vec<Mat<f64>>, BadInput> {
    let mut matrices: Vec<Mat<f64>> = rows
        .iter()
        .map(|rows| Mat::with_capacity(rows.len(), columns.len() + spare_columns))
        .collect();
    file.for_each_column(columns, |name, values| {
        check(name, &values)?;
        for (matrix, rows) in matrices.iter_mut().zip(rows) {
            // Into the room reserved above: each matrix is allocated once, never moved.
            matrix.resize_with(rows.len(), matrix.ncols() + 1, |i, _| {
                rows[i].map_or(f64::NAN, |r| values[r])
            });
        }
        Ok(())
    })?;
    Ok(matrices)
}

/// Every prediction must be a finite number.
fn check_predictions(path: &Path, name: &str, values: &[f64]) -> Result<(), BadInput> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(row) => bad(format!(
            "{}: row {}: column `{name}` is {} — predictions must be numbers; fill or drop the row before scoring",
            path.display(),
            row + 1,
            if values[row].is_nan() {
                "empty or NaN".to_owned()
            } else {
                values[row].to_string()
            }
        )),
    }
}

/// Prediction rows per era, sorted by era name; eras the data file lacks are refused.
fn group_by_era(
    file: &Keyed,
    eras: &[String],
    index: &DataIndex,
) -> Result<Vec<(String, Vec<usize>)>, BadInput> {
    let known: std::collections::HashSet<&str> =
        index.rows.keys().map(|(e, _)| e.as_str()).collect();
    let mut groups: std::collections::BTreeMap<String, Vec<usize>> =
        std::collections::BTreeMap::new();
    let mut seen = std::collections::HashSet::with_capacity(eras.len());
    for (row, (era, id)) in eras.iter().zip(&file.ids).enumerate() {
        if !known.contains(era.as_str()) {
            return bad(format!(
                "{}: row {}: era `{era}` is not in the data file; score predictions against the data of the same eras",
                file.path.display(),
                row + 1
            ));
        }
        if !seen.insert((era.as_str(), id.as_str())) {
            return bad(format!(
                "{}: row {}: id `{id}` appears twice in era `{era}`; keep one prediction per id and era",
                file.path.display(),
                row + 1
            ));
        }
        groups.entry(era.clone()).or_default().push(row);
    }
    Ok(groups.into_iter().collect())
}

/// Each era's target summary over all of the era's data rows, in one pass.
fn era_targets<'a>(data: &'a Keyed, target: &[f64]) -> HashMap<&'a str, EraTarget> {
    let eras = data.eras.as_ref().expect("checked by DataIndex");
    let mut values: HashMap<&str, Vec<f64>> = HashMap::new();
    for (era, &t) in eras.iter().zip(target) {
        values.entry(era.as_str()).or_default().push(t);
    }
    values
        .into_iter()
        .map(|(era, v)| (era, EraTarget::of(&v)))
        .collect()
}

/// Predictions and data must share at least 80 % of each era's ids.
fn check_coverage(eras: &[EraData], index: &DataIndex, path: &Path) -> Result<(), BadInput> {
    let mut data_rows: HashMap<&str, usize> = HashMap::new();
    for (era, _) in index.rows.keys() {
        *data_rows.entry(era.as_str()).or_default() += 1;
    }
    for era in eras {
        let matched = era
            .ids
            .iter()
            .filter(|id| index.rows.contains_key(&(era.name.clone(), (*id).clone())))
            .count();
        let in_data = data_rows[era.name.as_str()];
        let ratio = |n: usize| matched as f64 / n as f64;
        if ratio(era.ids.len()) < 0.8 || ratio(in_data) < 0.8 {
            return bad(format!(
                "{}: era `{}`: only {matched} ids match the data file's {in_data} (of {} predicted); \
                 at least 80% must overlap — predict the era's own ids",
                path.display(),
                era.name,
                era.ids.len()
            ));
        }
    }
    Ok(())
}

/// A companion file (meta model, benchmark, neutralizers, weights) indexed by (era, id).
struct Companion {
    file: Keyed,
    /// All of `file`'s number columns: companions are small beside features and predictions.
    columns: Vec<Vec<f64>>,
    rows: HashMap<(String, String), usize>,
}

impl Companion {
    fn load(
        path: &Path,
        wanted: &dyn Fn(&str) -> bool,
        index: &DataIndex,
    ) -> Result<Self, BadInput> {
        let mut file = open_keyed(path, wanted)?;
        let all: Vec<usize> = (0..file.names.len()).collect();
        let columns = file.read(&all)?;
        for (name, values) in file.names.iter().zip(&columns) {
            if let Some(row) = values.iter().position(|v| !v.is_finite()) {
                return bad(format!(
                    "{}: row {}: column `{name}` is not a finite number; this file may not have gaps",
                    path.display(),
                    row + 1
                ));
            }
        }
        let eras = index.eras_of(&file)?;
        let rows = index_rows(&file, &eras)?;
        Ok(Self {
            file,
            columns,
            rows,
        })
    }

    /// The one column to use: `preferred` if given, else the only column there is.
    fn single(&self, what: &str, preferred: Option<&str>) -> Result<usize, BadInput> {
        let names: Vec<&str> = self.file.names.iter().map(String::as_str).collect();
        let path = self.file.path.display();
        match preferred {
            Some(name) => names.iter().position(|n| *n == name).ok_or_else(|| {
                BadInput(format!(
                    "{path}: no column `{name}`; the file has {}",
                    names.join(", ")
                ))
            }),
            None if names.len() == 1 => Ok(0),
            None if names.is_empty() => bad(format!("{path}: no {what} column")),
            None => bad(format!(
                "{path}: {} model columns ({}); choose one with --benchmark-column",
                names.len(),
                names.join(", ")
            )),
        }
    }

    fn row_of(&self, era: &str, id: &str) -> Result<usize, BadInput> {
        self.rows.get(&(era.to_owned(), id.to_owned())).copied().ok_or_else(|| {
            BadInput(format!(
                "{}: no row for id `{id}` in era `{era}`; this file must cover every predicted id",
                self.file.path.display()
            ))
        })
    }

    fn vector(&self, column: usize, era: &str, ids: &[String]) -> Result<Vec<f64>, BadInput> {
        ids.iter()
            .map(|id| Ok(self.columns[column][self.row_of(era, id)?]))
            .collect()
    }

    fn matrix(&self, era: &str, ids: &[String]) -> Result<Mat<f64>, BadInput> {
        let rows: Vec<usize> = ids
            .iter()
            .map(|id| self.row_of(era, id))
            .collect::<Result<_, _>>()?;
        Ok(Mat::from_fn(rows.len(), self.columns.len(), |i, j| {
            self.columns[j][rows[i]]
        }))
    }
}

/// Stakes by submission: `submission`, `stake`; every named submission must exist.
fn load_stakes(path: &Path, submissions: &[String]) -> Result<Vec<Option<f64>>, BadInput> {
    let table = read(path, &|n| n == "submission" || n == "stake")?;
    let shown = path.display();
    let (Some(names), Some(stakes)) = (
        table.column("submission").and_then(|c| c.values.as_text()),
        table.column("stake").and_then(|c| c.values.as_numbers()),
    ) else {
        return bad(format!(
            "{shown}: a stakes file has two columns, `submission` (text) and `stake` (number)"
        ));
    };
    let mut out = vec![None; submissions.len()];
    for (row, (name, &stake)) in names.iter().zip(stakes).enumerate() {
        let Some(position) = submissions.iter().position(|s| s == name) else {
            return bad(format!(
                "{shown}: row {}: submission `{name}` is not a column of the predictions file",
                row + 1
            ));
        };
        if !stake.is_finite() {
            return bad(format!(
                "{shown}: row {}: the stake of `{name}` is not a number",
                row + 1
            ));
        }
        if out[position].replace(stake).is_some() {
            return bad(format!(
                "{shown}: row {}: `{name}` is staked twice; keep one row per submission",
                row + 1
            ));
        }
    }
    Ok(out)
}
