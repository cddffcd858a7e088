//! Numerai-layout tables in Parquet or CSV, read and written as named text and number columns.
//!
//! A [`Table`] is a list of equally long [`Column`]s; each holds either text (ids, eras, model
//! names) or numbers (features, targets, predictions) as [`Values`]. Numbers are always `f64`:
//! integer and narrower float columns are widened exactly, and a missing number is NaN.
//!
//! - [`read_table`] reads a `.parquet`/`.pq` or `.csv` file. [`ReadOptions::text_columns`] names
//!   the columns kept as text (so the era `"0001"` stays `"0001"`), and [`ReadOptions::select`]
//!   keeps only some columns; in Parquet the others are never decoded.
//! - [`write_table`] writes a table back: Parquet (snappy, text as UTF-8 strings, numbers as
//!   64-bit floats) or CSV (numbers printed so they read back to the same bits, NaN as an empty
//!   field).
//! - Every failure is an [`Error`] that names the file, the row and column where they apply, and
//!   the fix.
//!
//! ```
//! use numerus_frames::{Column, ReadOptions, Table, Values, read_table, write_table};
//!
//! let path = std::env::temp_dir().join(format!("numerus-frames-doc-{}.csv", std::process::id()));
//! let table = Table {
//!     columns: vec![
//!         Column { name: "era".into(), values: Values::Text(vec!["0001".into(), "0002".into()]) },
//!         Column { name: "prediction".into(), values: Values::Number(vec![0.25, f64::NAN]) },
//!     ],
//! };
//! write_table(&path, &table)?;
//!
//! let options = ReadOptions { text_columns: &["era"], ..ReadOptions::default() };
//! let read = read_table(&path, &options)?;
//! assert_eq!(read.len(), 2);
//! assert_eq!(read.column("era").unwrap().values, Values::Text(vec!["0001".into(), "0002".into()]));
//! let predictions = read.column("prediction").unwrap().values.as_numbers().unwrap();
//! assert_eq!(predictions[0], 0.25);
//! assert!(predictions[1].is_nan());
//! # std::fs::remove_file(&path).unwrap();
//! # Ok::<(), numerus_frames::Error>(())
//! ```

mod csv_io;
mod error;
mod parquet_io;
mod table;

use std::path::Path;

pub use error::Error;
pub use table::{Column, ReadOptions, Table, Values};

/// The file formats, chosen by the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Parquet,
    Csv,
}

impl Format {
    /// The format of `path` from its extension (case-insensitive).
    fn of(path: &Path) -> Result<Self, Error> {
        let extension = path.extension().and_then(|extension| extension.to_str());
        match extension.map(str::to_ascii_lowercase).as_deref() {
            Some("parquet" | "pq") => Ok(Self::Parquet),
            Some("csv") => Ok(Self::Csv),
            _ => Err(Error::UnknownExtension {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Reads the table in `path`, a Parquet (`.parquet`, `.pq`) or CSV (`.csv`) file.
///
/// Parquet string columns become [`Values::Text`]; integer and float columns become
/// [`Values::Number`] (nulls as NaN), except that a column named in
/// [`ReadOptions::text_columns`] is turned into decimal text. A column named `__index_level_0__`
/// (an index pandas stored) is dropped.
///
/// CSV needs a header row. Columns named in [`ReadOptions::text_columns`] are text; every other
/// column must hold numbers, where an empty field, `nan`, `NaN`, `NA` and the other missing-value
/// markers of pandas `read_csv` (`N/A`, `NULL`, `None`, `<NA>`, ...) mean NaN. An unnamed first
/// column (the index pandas writes) is dropped.
///
/// # Errors
///
/// An unknown extension, a file that cannot be opened or decoded, a column of another type
/// (booleans, dates, ...), a missing text value, a CSV field that is not a number, or two
/// columns with the same name.
pub fn read_table(path: &Path, options: &ReadOptions) -> Result<Table, Error> {
    match Format::of(path)? {
        Format::Parquet => parquet_io::read(path, options),
        Format::Csv => csv_io::read(path, options),
    }
}

/// Writes `table` to `path`, as Parquet (`.parquet`, `.pq`) or CSV (`.csv`), replacing the file.
///
/// Parquet is snappy-compressed with text as UTF-8 strings and numbers as 64-bit floats. CSV
/// prints numbers with the shortest text that reads back to the same `f64`, and NaN as an empty
/// field.
///
/// # Errors
///
/// An unknown extension, columns of unequal length or with the same name, or a failure to
/// create or write the file.
pub fn write_table(path: &Path, table: &Table) -> Result<(), Error> {
    let format = Format::of(path)?;
    table.check_shape(path)?;
    match format {
        Format::Parquet => parquet_io::write(path, table),
        Format::Csv => csv_io::write(path, table),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_comes_from_the_extension_in_any_case() {
        assert_eq!(
            Format::of(Path::new("a/b.parquet")).unwrap(),
            Format::Parquet
        );
        assert_eq!(Format::of(Path::new("b.PQ")).unwrap(), Format::Parquet);
        assert_eq!(Format::of(Path::new("b.Csv")).unwrap(), Format::Csv);
        assert!(Format::of(Path::new("b.tsv")).is_err());
        assert!(Format::of(Path::new("parquet")).is_err());
    }
}
