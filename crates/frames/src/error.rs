//! The one error type of this crate.

use std::path::PathBuf;

/// Why a table could not be read or written.
///
/// Every message names the file and, where it applies, the 1-based data row (the first row after
/// the CSV header is row 1) and the column, and says how to fix the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file name does not end in a known extension.
    #[error(
        "{}: unknown table format; name the file with one of the extensions .parquet, .pq or .csv",
        path.display()
    )]
    UnknownExtension {
        /// The file.
        path: PathBuf,
    },

    /// The file could not be opened, created or written.
    #[error("{}: cannot {action} the file: {source}; check the path and its permissions", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was attempted: "open", "create" or "write".
        action: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The Parquet decoder or encoder failed.
    #[error(
        "{}: not a readable or writable Parquet file: {source}; check that the file is complete \
         (re-export it with pandas `to_parquet`)",
        path.display()
    )]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// Arrow failed to decode or assemble a batch of rows.
    #[error("{}: cannot decode the Parquet data: {source}; check that the file is complete", path.display())]
    Arrow {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: arrow_schema::ArrowError,
    },

    /// The CSV reader or writer failed (bad UTF-8, a row with the wrong number of fields, ...).
    #[error(
        "{}: malformed CSV: {source}; every row needs as many comma-separated fields as the header",
        path.display()
    )]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause, with its line where known.
        #[source]
        source: csv::Error,
    },

    /// A CSV file without a header row.
    #[error("{}: the CSV file has no header row; add a first line with the column names", path.display())]
    MissingHeader {
        /// The file.
        path: PathBuf,
    },

    /// Two columns share a name.
    #[error("{}: the column name {column:?} appears twice; rename or drop one of them", path.display())]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The repeated name.
        column: String,
    },

    /// A table to write has columns of different lengths.
    #[error(
        "{}: column {column:?} has {rows} rows but column {first_column:?} has {first_rows}; \
         give every column one value per row",
        path.display()
    )]
    RaggedColumns {
        /// The file.
        path: PathBuf,
        /// The column of the wrong length.
        column: String,
        /// Its length.
        rows: usize,
        /// The first column of the table.
        first_column: String,
        /// The length of the first column.
        first_rows: usize,
    },

    /// A CSV field of a number column is not a number.
    #[error(
        "{}: row {row}, column {column:?}: {value:?} is not a number; write a decimal number such \
         as 0.5, or leave the field empty for a missing value",
        path.display()
    )]
    NotANumber {
        /// The file.
        path: PathBuf,
        /// The 1-based data row.
        row: usize,
        /// The column.
        column: String,
        /// The field as written.
        value: String,
    },

    /// A text column (or a number column read as text) has a missing value.
    #[error(
        "{}: row {row}, column {column:?}: the value is missing; every row needs a {column} value",
        path.display()
    )]
    MissingText {
        /// The file.
        path: PathBuf,
        /// The 1-based data row.
        row: usize,
        /// The column.
        column: String,
    },

    /// An integer too large to be held exactly by an `f64`.
    #[error(
        "{}: row {row}, column {column:?}: the integer {value} cannot be held exactly as a 64-bit \
         float; store values below 2^53 in magnitude, or name the column as a text column",
        path.display()
    )]
    InexactInteger {
        /// The file.
        path: PathBuf,
        /// The 1-based data row.
        row: usize,
        /// The column.
        column: String,
        /// The integer.
        value: String,
    },

    /// A Parquet column of a type that is neither text nor a number.
    #[error(
        "{}: column {column:?} has type {data_type}, which is neither text nor a number; store it \
         as strings, integers or floats, or leave it out of the file",
        path.display()
    )]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The Arrow type, as Arrow prints it.
        data_type: String,
    },
}
