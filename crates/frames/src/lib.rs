//! Numerai-layout tables in Parquet or CSV, read and written as named text and number columns.
//!
//! A [`Table`] is a list of equally long [`Column`]s; each holds either text (ids, eras, model
//! names) or numbers (features, targets, predictions) as [`Values`]. Numbers are always `f64`:
//! integer and narrower float columns are widened exactly, and a missing number is NaN.
//!
//! - [`read_table`] reads a `.parquet`/`.pq` or `.csv` file. [`ReadOptions::text_columns`] names
//!   the columns kept as text (so the era `"0001"` stays `"0001"`), and [`ReadOptions::select`]
//!   keeps only some columns; in Parquet the others are never decoded.
//! - [`open_table`] opens a file without decoding it; [`TableReader::read`] then reads a few
//!   columns at a time, so a caller that copies each group where it belongs and drops it never
//!   holds the whole table.
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
pub use table::{Column, Heading, ReadOptions, Table, Values};

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
    let mut reader = open_table(path, options)?;
    let all: Vec<usize> = (0..reader.headings().len()).collect();
    reader.read(&all)
}

/// Opens the table in `path` for reading a few columns at a time; see [`read_table`] for the
/// formats, the columns kept and how they are read.
///
/// A Parquet file is only opened: its columns are decoded when read. A CSV file is parsed now,
/// so every CSV error is reported here.
///
/// # Errors
///
/// As [`read_table`]; for Parquet, an error in the values themselves (a null text, an integer
/// too large for `f64`, a damaged page) is reported when its column is read.
pub fn open_table(path: &Path, options: &ReadOptions) -> Result<TableReader, Error> {
    let source = match Format::of(path)? {
        Format::Parquet => Source::Parquet(parquet_io::open(path, options)?),
        Format::Csv => {
            let table = csv_io::read(path, options)?;
            let headings = table
                .columns
                .iter()
                .map(|column| Heading {
                    name: column.name.clone(),
                    text: matches!(column.values, Values::Text(_)),
                })
                .collect();
            Source::Csv {
                headings,
                rows: table.len(),
                table,
            }
        }
    };
    Ok(TableReader { source })
}

/// The column names of a Parquet (its schema) or CSV (its header row) file, without reading a
/// value: what a caller checks before deciding how to read the columns.
pub fn column_names(path: &Path) -> Result<Vec<String>, Error> {
    match Format::of(path)? {
        Format::Parquet => Ok(parquet_io::open(path, &ReadOptions::default())?
            .headings()
            .iter()
            .map(|heading| heading.name.clone())
            .collect()),
        Format::Csv => csv_io::column_names(path),
    }
}

/// A table file opened by [`open_table`], whose columns are handed over when read.
pub struct TableReader {
    source: Source,
}

enum Source {
    Parquet(parquet_io::ParquetFile),
    /// Parsed already; [`TableReader::read`] moves the columns out.
    Csv {
        headings: Vec<Heading>,
        rows: usize,
        table: Table,
    },
}

impl TableReader {
    /// The selected columns, in file order.
    pub fn headings(&self) -> &[Heading] {
        match &self.source {
            Source::Parquet(file) => file.headings(),
            Source::Csv { headings, .. } => headings,
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        match &self.source {
            Source::Parquet(file) => file.rows(),
            Source::Csv { rows, .. } => *rows,
        }
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The columns at `columns`, increasing positions in [`Self::headings`], in that order.
    ///
    /// Each column is meant to be read once: a CSV column is handed over, leaving it empty.
    ///
    /// # Errors
    ///
    /// For Parquet, a value that cannot be decoded (see [`open_table`]).
    pub fn read(&mut self, columns: &[usize]) -> Result<Table, Error> {
        debug_assert!(
            columns.windows(2).all(|pair| pair[0] < pair[1]),
            "columns are read in file order, each once"
        );
        let columns = match &mut self.source {
            Source::Parquet(file) => file.read(columns)?,
            Source::Csv { table, .. } => columns
                .iter()
                .map(|&c| {
                    let column = &mut table.columns[c];
                    let empty = match column.values {
                        Values::Text(_) => Values::Text(Vec::new()),
                        Values::Number(_) => Values::Number(Vec::new()),
                    };
                    Column {
                        name: column.name.clone(),
                        values: std::mem::replace(&mut column.values, empty),
                    }
                })
                .collect(),
        };
        Ok(Table { columns })
    }
}

impl std::fmt::Debug for TableReader {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TableReader")
            .field("headings", &self.headings())
            .field("rows", &self.len())
            .finish()
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

    fn sample_table() -> Table {
        Table {
            columns: vec![
                Column::text("id", vec!["a".into(), "b".into(), "c".into()]),
                Column::number("x", vec![1.0, f64::NAN, 3.0]),
                Column::number("y", vec![4.0, 5.0, 6.0]),
                Column::number("z", vec![7.0, 8.0, -0.0]),
            ],
        }
    }

    /// Opens `file` (written from [`sample_table`]) and reads it in two groups of columns.
    fn read_in_groups(file: &str) {
        let path =
            std::env::temp_dir().join(format!("numerus-frames-{}-{file}", std::process::id()));
        write_table(&path, &sample_table()).unwrap();
        let select = |name: &str| name != "y";
        let options = ReadOptions {
            text_columns: &["id"],
            select: Some(&select),
        };
        let mut reader = open_table(&path, &options).unwrap();
        let headings: Vec<(&str, bool)> = reader
            .headings()
            .iter()
            .map(|heading| (heading.name.as_str(), heading.text))
            .collect();
        assert_eq!(headings, [("id", true), ("x", false), ("z", false)]);
        assert_eq!(reader.len(), 3);
        let first = reader.read(&[0, 2]).unwrap();
        let second = reader.read(&[1]).unwrap();
        let whole = read_table(&path, &options).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(first.columns[0], whole.columns[0]);
        assert_eq!(first.columns[1], whole.columns[2]);
        assert_eq!(second.columns[0].name, "x");
        let x = second.columns[0].values.as_numbers().unwrap();
        assert_eq!((x[0], x[2]), (1.0, 3.0));
        assert!(x[1].is_nan());
        assert_eq!(
            reader.len(),
            3,
            "the row count outlives the columns handed over"
        );
    }

    #[test]
    fn parquet_columns_read_in_groups_are_the_columns_read_whole() {
        read_in_groups("groups.parquet");
    }

    #[test]
    fn csv_columns_read_in_groups_are_the_columns_read_whole() {
        read_in_groups("groups.csv");
    }

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
