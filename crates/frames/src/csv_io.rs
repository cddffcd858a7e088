//! CSV files with a header row.
//!
//! Text columns are named by the caller; every other column holds numbers, where the markers
//! pandas reads as missing (an empty field, `nan`, `NA`, ...) mean NaN. Numbers are written with
//! Rust's shortest round-trip formatting, so a written `f64` reads back to the same bits.

use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;

use crate::table::check_unique_names;
use crate::{Column, Error, ReadOptions, Table, Values};

/// Fields that mean a missing number: the default missing-value markers of pandas `read_csv`.
const MISSING_MARKERS: [&str; 16] = [
    "", "nan", "NaN", "-nan", "-NaN", "NA", "N/A", "n/a", "#N/A", "#NA", "NULL", "null", "None",
    "<NA>", "-1.#IND", "1.#IND",
];

/// Opens the CSV file `path` and reads its header row.
fn open(path: &Path) -> Result<(csv::Reader<File>, csv::StringRecord), Error> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "open",
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(file);
    let headers = reader
        .headers()
        .map_err(|source| csv_error(path, source))?
        .clone();
    if headers.is_empty() {
        return Err(Error::MissingHeader {
            path: path.to_path_buf(),
        });
    }
    Ok((reader, headers))
}

/// The column names of the CSV file `path` (its header row; no value is read).
pub(crate) fn column_names(path: &Path) -> Result<Vec<String>, Error> {
    Ok(open(path)?.1.iter().map(str::to_string).collect())
}

/// Reads the CSV file `path`.
pub(crate) fn read(path: &Path, options: &ReadOptions) -> Result<Table, Error> {
    let (mut reader, headers) = open(path)?;
    let kept = kept_fields(&headers, options);
    check_unique_names(path, kept.iter().map(|&index| &headers[index]))?;
    let mut columns: Vec<Column> = kept
        .iter()
        .map(|&index| empty_column(&headers[index], options))
        .collect();

    let mut record = csv::StringRecord::new();
    let mut row = 0;
    while reader
        .read_record(&mut record)
        .map_err(|source| csv_error(path, source))?
    {
        row += 1;
        for (column, &index) in columns.iter_mut().zip(&kept) {
            push_field(path, row, column, &record[index])?;
        }
    }
    Ok(Table { columns })
}

/// The indices of the header fields to read: the selected ones, less an unnamed first column
/// (the index pandas writes with `index=True`).
fn kept_fields(headers: &csv::StringRecord, options: &ReadOptions) -> Vec<usize> {
    headers
        .iter()
        .enumerate()
        .filter(|&(index, name)| !(index == 0 && name.is_empty()) && options.selects(name))
        .map(|(index, _)| index)
        .collect()
}

fn empty_column(name: &str, options: &ReadOptions) -> Column {
    if options.is_text(name) {
        Column::text(name, Vec::new())
    } else {
        Column::number(name, Vec::new())
    }
}

/// Appends `field` (of 1-based data row `row`) to `column`.
fn push_field(path: &Path, row: usize, column: &mut Column, field: &str) -> Result<(), Error> {
    match &mut column.values {
        Values::Text(values) => values.push(field.to_owned()),
        Values::Number(values) => match parse_number(field) {
            Some(number) => values.push(number),
            None => {
                return Err(Error::NotANumber {
                    path: path.to_path_buf(),
                    row,
                    column: column.name.clone(),
                    value: field.to_owned(),
                });
            }
        },
    }
    Ok(())
}

/// The number in `field`, NaN for a missing-value marker, `None` if it is not a number.
fn parse_number(field: &str) -> Option<f64> {
    let field = field.trim();
    if MISSING_MARKERS.contains(&field) {
        return Some(f64::NAN);
    }
    field.parse().ok()
}

/// Writes `table` (already checked for shape) to `path`.
pub(crate) fn write(path: &Path, table: &Table) -> Result<(), Error> {
    let file = File::create(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "create",
        source,
    })?;
    let mut writer = csv::Writer::from_writer(file);
    let names = table.columns.iter().map(|column| column.name.as_str());
    writer
        .write_record(names)
        .map_err(|source| csv_error(path, source))?;
    let mut number = String::new();
    for row in 0..table.len() {
        for column in &table.columns {
            let field = match &column.values {
                Values::Text(values) => values[row].as_str(),
                Values::Number(values) => format_number(&mut number, values[row]),
            };
            writer
                .write_field(field)
                .map_err(|source| csv_error(path, source))?;
        }
        writer
            .write_record(None::<&[u8]>)
            .map_err(|source| csv_error(path, source))?;
    }
    writer.flush().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "write",
        source,
    })
}

/// `value` in `buffer` as its shortest round-trip text, or empty for NaN.
fn format_number(buffer: &mut String, value: f64) -> &str {
    buffer.clear();
    if !value.is_nan() {
        write!(buffer, "{value}").expect("writing to a String cannot fail");
    }
    buffer
}

/// A CSV error, as an I/O error when that is what it is.
fn csv_error(path: &Path, source: csv::Error) -> Error {
    if source.is_io_error() {
        if let csv::ErrorKind::Io(source) = source.into_kind() {
            return Error::Io {
                path: path.to_path_buf(),
                action: "read or write",
                source,
            };
        }
        unreachable!("is_io_error means the kind is Io");
    }
    Error::Csv {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_markers_are_nan_and_numbers_parse() {
        for marker in ["", "nan", "NaN", "NA", " NA ", "<NA>"] {
            assert!(parse_number(marker).unwrap().is_nan(), "{marker:?}");
        }
        assert_eq!(parse_number("0.25"), Some(0.25));
        assert_eq!(parse_number(" -1e-3 "), Some(-0.001));
        assert_eq!(parse_number("inf"), Some(f64::INFINITY));
        assert_eq!(parse_number("0.5x"), None);
        assert_eq!(parse_number("yes"), None);
    }

    #[test]
    fn numbers_format_to_round_trip_text() {
        let mut buffer = String::new();
        assert_eq!(format_number(&mut buffer, 1.0), "1");
        assert_eq!(format_number(&mut buffer, 0.1), "0.1");
        assert_eq!(format_number(&mut buffer, f64::NAN), "");
        let tiny = 5e-324;
        assert_eq!(
            format_number(&mut buffer, tiny).parse::<f64>().unwrap(),
            tiny
        );
    }
}
