//! Daily operation of a built version: the live file of a date, and the partial targets of the
//! live eras being scored.
//!
//! Both read the panel only up to the date they are built for: rows after it are never
//! decoded into the history, so nothing later can leak in.

use std::path::Path;

use jiff::civil::Date;

use crate::Error;
use crate::classic::{
    DataFile, HISTORY_DAYS, VersionRecipe, data_columns, era_rows, live_key, predict,
};
use crate::history::History;
use crate::ids::IdKey;
use crate::output::{FileEntry, Files};
use crate::panel::{PanelKind, PanelReader};
use crate::plan::label;
use crate::targets::{HORIZONS, LAG, target_names};
use crate::writer::Kind;

/// Scoring days of a live era: its partial targets exist for days `1..=SCORING_DAYS`.
pub const SCORING_DAYS: usize = HORIZONS[0];

/// Reads the panel into a history up to and including `date`, which must be one of its dates.
fn history_until(panel: &Path, date: Date, min_stocks: usize) -> Result<History, Error> {
    let mut reader = PanelReader::open(panel, PanelKind::Stocks, min_stocks)?;
    let mut history = History::new(HISTORY_DAYS);
    while let Some(day) = reader.next_day()? {
        if day.date() > date {
            break;
        }
        history.push(&day);
    }
    if history.days() == 0 || history.date(history.days() - 1) != date {
        return Err(Error::input(format!(
            "the panel has no rows for {date}; add that business day's market data to the panel \
             first (`numerus data live` builds from the panel's own rows)"
        )));
    }
    Ok(history)
}

/// Writes `live.parquet` and `live_example_preds.parquet` for `date` into `files`.
pub fn build_live(
    panel: &Path,
    version: &VersionRecipe,
    key: &IdKey,
    date: Date,
    min_stocks: usize,
    files: &mut dyn Files,
) -> Result<Vec<FileEntry>, Error> {
    let history = history_until(panel, date, min_stocks)?;
    let today = history.days() - 1;
    let rows = era_rows(
        &history,
        today,
        &live_key(date),
        &version.recipe,
        key,
        Some(0),
    )?;
    let mut live = DataFile::create(files, "live.parquet", &data_columns(&version.recipe))?;
    live.write_era(&rows, &label(version.first_week, date), "live")?;
    let prediction = [("prediction".to_string(), Kind::Float64)];
    let mut preds = DataFile::create(files, "live_example_preds.parquet", &prediction)?;
    preds.write_predictions(&rows.ids, predict(&version.example_weights, &rows))?;
    Ok(vec![live.finish()?, preds.finish()?])
}

/// Writes `targets.parquet`: for every live era of the last [`SCORING_DAYS`] scoring days,
/// its targets over the returns known on `date` (day `k` of the era: `k` days of returns after
/// the lag). Columns `era`, `date` (the live era's date), `day` (k), the target columns,
/// `return` (each stock's raw compounded return over those k days), and the `id` index.
pub fn build_targets(
    panel: &Path,
    version: &VersionRecipe,
    key: &IdKey,
    date: Date,
    min_stocks: usize,
    files: &mut dyn Files,
) -> Result<FileEntry, Error> {
    let history = history_until(panel, date, min_stocks)?;
    let today = history.days() - 1;
    let mut columns = vec![
        ("era".to_string(), Kind::Text),
        ("date".to_string(), Kind::Text),
        ("day".to_string(), Kind::Int8),
    ];
    columns.extend(target_names().into_iter().map(|name| (name, Kind::Float32)));
    // The raw compounded return through the scoring day: what a portfolio of the era earned.
    columns.push(("return".to_string(), Kind::Float64));
    let mut out = DataFile::create(files, "targets.parquet", &columns)?;
    // The targets file has no features: rows over an empty recipe skip computing them.
    let no_features = crate::recipe::Recipe {
        features: Vec::new(),
    };
    for scoring_day in (1..=SCORING_DAYS).rev() {
        let Some(era_day) = today.checked_sub(LAG + scoring_day) else {
            continue;
        };
        let era_date = history.date(era_day);
        let rows = era_rows(
            &history,
            era_day,
            &live_key(era_date),
            &no_features,
            key,
            Some(scoring_day),
        )?;
        out.write_targets(
            &rows,
            &label(version.first_week, era_date),
            &era_date.to_string(),
            scoring_day,
        )?;
    }
    out.finish()
}
