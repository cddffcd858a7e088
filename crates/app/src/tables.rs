//! Reading and writing the tables the service keeps as blobs (also what a checker of the
//! service's results reads them with).

use std::path::Path;

use jiff::civil::Date;
use numerus_frames::{Column, ReadOptions, Table, read_table, write_table};

use crate::Error;
use crate::blobs::BlobDir;

/// Columns read as text unless told otherwise.
const TEXT_COLUMNS: [&str; 4] = ["id", "era", "data_type", "date"];

/// The table in blob `id`, with `text` (or the usual id columns) read as text.
pub fn read_blob_table(blobs: &BlobDir, id: &str, text: Option<&[String]>) -> Result<Table, Error> {
    let names: Vec<&str> = match text {
        Some(names) => names.iter().map(String::as_str).collect(),
        None => TEXT_COLUMNS.to_vec(),
    };
    Ok(read_table(
        &blobs.path(id),
        &ReadOptions {
            text_columns: &names,
            select: None,
        },
    )?)
}

/// The text column `name`.
pub fn text<'t>(table: &'t Table, name: &str) -> Result<&'t [String], Error> {
    table
        .column(name)
        .and_then(|column| column.values.as_text())
        .ok_or_else(|| Error::Corrupt(format!("a stored table has no text column `{name}`")))
}

/// The number column `name`.
pub fn numbers<'t>(table: &'t Table, name: &str) -> Result<&'t [f64], Error> {
    table
        .column(name)
        .and_then(|column| column.values.as_numbers())
        .ok_or_else(|| Error::Corrupt(format!("a stored table has no number column `{name}`")))
}

/// The meta model as a table: `id`, `numerai_meta_model`.
pub fn meta_model_table(ids: &[String], values: &[f64]) -> Table {
    Table {
        columns: vec![
            Column::text("id", ids.to_vec()),
            Column::number("numerai_meta_model", values.to_vec()),
        ],
    }
}

/// Stores `table` as a Parquet blob.
pub fn put_table(blobs: &BlobDir, scratch: &Path, table: &Table) -> Result<String, Error> {
    let path = scratch.join(format!("table-{}.parquet", std::process::id()));
    write_table(&path, table)?;
    blobs.put_file(&path)
}

/// Column `name` of blob `id`, aligned with `ids` by its `id` column (NaN where absent).
pub fn aligned_column(
    blobs: &BlobDir,
    id: &str,
    name: &str,
    ids: &[String],
) -> Result<Vec<f64>, Error> {
    let table = read_blob_table(blobs, id, None)?;
    let values = numbers(&table, name)?;
    let found: std::collections::HashMap<&str, f64> = text(&table, "id")?
        .iter()
        .map(String::as_str)
        .zip(values.iter().copied())
        .collect();
    Ok(ids
        .iter()
        .map(|id| found.get(id.as_str()).copied().unwrap_or(f64::NAN))
        .collect())
}

/// The target `name` of the live era of `data_date` on scoring day `day`, from a targets
/// file (`numerus data targets`), aligned with `ids` (NaN where unknown).
pub fn day_target(
    blobs: &BlobDir,
    id: &str,
    name: &str,
    data_date: Date,
    day: u32,
    ids: &[String],
) -> Result<Vec<f64>, Error> {
    let table = read_blob_table(blobs, id, None)?;
    let dates = text(&table, "date")?;
    let days = numbers(&table, "day")?;
    let targets = numbers(&table, name)?;
    let date = data_date.to_string();
    let found: std::collections::HashMap<&str, f64> = text(&table, "id")?
        .iter()
        .enumerate()
        .filter(|&(row, _)| dates[row] == date && days[row] == f64::from(day))
        .map(|(row, id)| (id.as_str(), targets[row]))
        .collect();
    if found.is_empty() {
        return Err(Error::Market(format!(
            "the targets file has no rows for the live era of {date} on day {day}"
        )));
    }
    Ok(ids
        .iter()
        .map(|id| found.get(id.as_str()).copied().unwrap_or(f64::NAN))
        .collect())
}
