//! Parquet files through the Arrow reader and writer.
//!
//! Reading decodes only the selected root columns (a [`ProjectionMask`]) and turns each Arrow
//! array into [`Values`]: strings (plain, large, view or dictionary-encoded) become text, every
//! integer and float type is widened exactly to `f64`.

use std::fmt::Display;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, Float64Array, PrimitiveArray, RecordBatch,
    RecordBatchOptions, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::table::check_unique_names;
use crate::{Column, Error, Heading, ReadOptions, Table, Values};

/// The column pandas writes for an unnamed index; it is not data.
const PANDAS_INDEX_COLUMN: &str = "__index_level_0__";

/// Rows decoded per Arrow batch.
const BATCH_ROWS: usize = 64 * 1024;

/// Whether a column is read as text or as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
}

/// A Parquet file opened for reading: its metadata and the selected columns, none decoded yet.
pub(crate) struct ParquetFile {
    path: PathBuf,
    file: File,
    metadata: ArrowReaderMetadata,
    /// The selected columns: their index among the file's root columns, and how each is read.
    roots: Vec<usize>,
    kinds: Vec<Kind>,
    headings: Vec<Heading>,
    rows: usize,
}

/// Opens the Parquet file `path` and checks the selected columns' names and types.
pub(crate) fn open(path: &Path, options: &ReadOptions) -> Result<ParquetFile, Error> {
    let file = File::open(path).map_err(|source| io_error(path, "open", source))?;
    let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::default())
        .map_err(|source| parquet_error(path, source))?;
    let schema = Arc::clone(metadata.schema());
    let roots: Vec<usize> = (0..schema.fields().len())
        .filter(|&index| {
            let name = schema.field(index).name();
            name != PANDAS_INDEX_COLUMN && options.selects(name)
        })
        .collect();
    check_unique_names(
        path,
        roots
            .iter()
            .map(|&index| schema.field(index).name().as_str()),
    )?;
    let kinds = roots
        .iter()
        .map(|&index| kind_of_field(path, schema.field(index), options))
        .collect::<Result<Vec<_>, _>>()?;
    let headings = roots
        .iter()
        .zip(&kinds)
        .map(|(&index, &kind)| Heading {
            name: schema.field(index).name().clone(),
            text: kind == Kind::Text,
        })
        .collect();
    let rows = metadata.metadata().file_metadata().num_rows();
    let rows = usize::try_from(rows).map_err(|_| {
        let message = format!("the footer gives {rows} rows");
        parquet_error(path, parquet::errors::ParquetError::General(message))
    })?;
    Ok(ParquetFile {
        path: path.to_path_buf(),
        file,
        metadata,
        roots,
        kinds,
        headings,
        rows,
    })
}

impl ParquetFile {
    pub(crate) fn headings(&self) -> &[Heading] {
        &self.headings
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Decodes the selected columns at `wanted` (increasing positions in [`Self::headings`]).
    pub(crate) fn read(&self, wanted: &[usize]) -> Result<Vec<Column>, Error> {
        let path = self.path.as_path();
        let mut columns: Vec<Column> = wanted
            .iter()
            .map(|&c| empty_column(&self.headings[c].name, self.kinds[c]))
            .collect();
        if wanted.is_empty() {
            return Ok(columns);
        }
        let file = self
            .file
            .try_clone()
            .map_err(|source| io_error(path, "open", source))?;
        let builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone());
        let mask = ProjectionMask::roots(
            builder.parquet_schema(),
            wanted.iter().map(|&c| self.roots[c]),
        );
        let mut reader = Some(
            builder
                .with_projection(mask)
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|source| parquet_error(path, source))?,
        );
        let mut rows_before = 0;
        while let Some(batch) = reader.as_mut().and_then(Iterator::next) {
            let batch = batch.map_err(|source| Error::Arrow {
                path: path.to_path_buf(),
                source,
            })?;
            let batch_rows = batch.num_rows();
            if rows_before + batch_rows >= self.rows {
                // The last batch: dropping the reader now frees its dictionaries and page
                // buffers before the batch is decoded, not after.
                reader = None;
            }
            // Taken out of the batch, each array is freed as soon as it is decoded (or becomes
            // the column itself), so a batch and its decoded copy never both exist whole.
            let (_, arrays, _) = batch.into_parts();
            for ((column, array), &c) in columns.iter_mut().zip(arrays).zip(wanted) {
                let place = Place {
                    path,
                    column: &column.name,
                    rows_before,
                };
                let values = decode(array, self.kinds[c], &place)?;
                column.values.append(values, self.rows);
            }
            rows_before += batch_rows;
        }
        Ok(columns)
    }
}

/// How the field is read, or [`Error::UnsupportedType`].
fn kind_of_field(path: &Path, field: &Field, options: &ReadOptions) -> Result<Kind, Error> {
    kind_of(field.data_type(), options.is_text(field.name())).ok_or_else(|| {
        Error::UnsupportedType {
            path: path.to_path_buf(),
            column: field.name().clone(),
            data_type: field.data_type().to_string(),
        }
    })
}

/// Strings are text; numbers are text when `as_text`, numbers otherwise; others are `None`.
fn kind_of(data_type: &DataType, as_text: bool) -> Option<Kind> {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(Kind::Text),
        DataType::Dictionary(_, values) if !matches!(**values, DataType::Dictionary(..)) => {
            kind_of(values, as_text)
        }
        data_type if is_number(data_type) && as_text => Some(Kind::Text),
        data_type if is_number(data_type) => Some(Kind::Number),
        _ => None,
    }
}

/// Whether the type is an integer or float type.
fn is_number(data_type: &DataType) -> bool {
    data_type.is_integer() || data_type.is_floating()
}

fn empty_column(name: &str, kind: Kind) -> Column {
    let values = match kind {
        Kind::Text => Values::Text(Vec::new()),
        Kind::Number => Values::Number(Vec::new()),
    };
    Column {
        name: name.to_owned(),
        values,
    }
}

/// Where a batch sits, for error messages.
struct Place<'a> {
    path: &'a Path,
    column: &'a str,
    /// Data rows in the earlier batches.
    rows_before: usize,
}

impl Place<'_> {
    fn missing(&self, row_in_batch: usize) -> Error {
        Error::MissingText {
            path: self.path.to_path_buf(),
            row: self.rows_before + row_in_batch + 1,
            column: self.column.to_owned(),
        }
    }

    fn inexact(&self, row_in_batch: usize, value: impl Display) -> Error {
        Error::InexactInteger {
            path: self.path.to_path_buf(),
            row: self.rows_before + row_in_batch + 1,
            column: self.column.to_owned(),
            value: value.to_string(),
        }
    }
}

/// Which entry of the value array each row reads: the same index, or through dictionary keys.
/// `None` is a null row.
enum Lookup {
    Direct(usize),
    Keys(Vec<Option<usize>>),
}

impl Lookup {
    fn entries(&self) -> Box<dyn Iterator<Item = Option<usize>> + '_> {
        match self {
            Self::Direct(rows) => Box::new((0..*rows).map(Some)),
            Self::Keys(keys) => Box::new(keys.iter().copied()),
        }
    }
}

/// Decodes one array of a batch (the type was checked by [`kind_of`]).
fn decode(array: ArrayRef, kind: Kind, place: &Place) -> Result<Values, Error> {
    let array = match kind {
        Kind::Number => match plain_floats(array) {
            Ok(values) => return Ok(Values::Number(values)),
            Err(array) => array,
        },
        Kind::Text => array,
    };
    let array = array.as_ref();
    let (entries, lookup) = match array.as_any_dictionary_opt() {
        Some(dictionary) => {
            let keys = dictionary.keys();
            let normalized = if dictionary.values().is_empty() {
                vec![0; keys.len()]
            } else {
                dictionary.normalized_keys()
            };
            let lookup = (0..keys.len())
                .map(|row| keys.is_valid(row).then_some(normalized[row]))
                .collect();
            (dictionary.values().as_ref(), Lookup::Keys(lookup))
        }
        None => (array, Lookup::Direct(array.len())),
    };
    match kind {
        Kind::Text => texts(entries, &lookup, place).map(Values::Text),
        Kind::Number => numbers(entries, &lookup, place).map(Values::Number),
    }
}

/// The values of a `Float64` array without nulls, or the array back if it is anything else.
///
/// They are the array's own buffer, not a copy, when nothing else shares it (as with an array
/// just taken out of a decoded batch).
fn plain_floats(array: ArrayRef) -> Result<Vec<f64>, ArrayRef> {
    let floats = match array.as_primitive_opt::<Float64Type>() {
        Some(floats) if floats.null_count() == 0 => floats.clone(),
        _ => return Err(array),
    };
    // The clone shares the buffer; dropping the original leaves it the only owner.
    drop(array);
    let (_, values, _) = floats.into_parts();
    Ok(Vec::from(values))
}

/// Integers and floats widened exactly to `f64`, nulls as NaN.
fn numbers(entries: &dyn Array, lookup: &Lookup, place: &Place) -> Result<Vec<f64>, Error> {
    match entries.data_type() {
        DataType::Int8 => widen::<Int8Type>(entries, lookup, place, |v| Some(f64::from(v))),
        DataType::Int16 => widen::<Int16Type>(entries, lookup, place, |v| Some(f64::from(v))),
        DataType::Int32 => widen::<Int32Type>(entries, lookup, place, |v| Some(f64::from(v))),
        DataType::Int64 => widen::<Int64Type>(entries, lookup, place, exact_i64),
        DataType::UInt8 => widen::<UInt8Type>(entries, lookup, place, |v| Some(f64::from(v))),
        DataType::UInt16 => widen::<UInt16Type>(entries, lookup, place, |v| Some(f64::from(v))),
        DataType::UInt32 => widen::<UInt32Type>(entries, lookup, place, |v| Some(f64::from(v))),
        DataType::UInt64 => widen::<UInt64Type>(entries, lookup, place, exact_u64),
        DataType::Float16 => widen::<Float16Type>(entries, lookup, place, |v| Some(v.to_f64())),
        DataType::Float32 => widen::<Float32Type>(entries, lookup, place, |v| Some(f64::from(v))),
        DataType::Float64 => widen::<Float64Type>(entries, lookup, place, Some),
        other => unreachable!("kind_of admits only numbers here, not {other}"),
    }
}

/// `value` as `f64` if that is exact.
fn exact_i64(value: i64) -> Option<f64> {
    // 2^63 is the first float past i64::MAX; below it the cast back is exact or saturates lower.
    let widened = value as f64;
    (widened < 9_223_372_036_854_775_808.0 && widened as i64 == value).then_some(widened)
}

/// `value` as `f64` if that is exact.
fn exact_u64(value: u64) -> Option<f64> {
    let widened = value as f64;
    (widened < 18_446_744_073_709_551_616.0 && widened as u64 == value).then_some(widened)
}

/// Converts each entry with `convert` (`None`: not exact), nulls as NaN.
fn widen<T: ArrowPrimitiveType>(
    entries: &dyn Array,
    lookup: &Lookup,
    place: &Place,
    convert: impl Fn(T::Native) -> Option<f64>,
) -> Result<Vec<f64>, Error>
where
    T::Native: Display,
{
    let array: &PrimitiveArray<T> = entries.as_primitive();
    if let (Lookup::Direct(_), 0) = (lookup, array.null_count()) {
        let widened: Option<Vec<f64>> = array.values().iter().map(|&v| convert(v)).collect();
        if let Some(widened) = widened {
            return Ok(widened);
        }
    }
    lookup
        .entries()
        .enumerate()
        .map(
            |(row, entry)| match entry.filter(|&entry| array.is_valid(entry)) {
                None => Ok(f64::NAN),
                Some(entry) => {
                    let value = array.value(entry);
                    convert(value).ok_or_else(|| place.inexact(row, value))
                }
            },
        )
        .collect()
}

/// Strings as they are, numbers as their decimal text; a null (or a NaN) is an error.
fn texts(entries: &dyn Array, lookup: &Lookup, place: &Place) -> Result<Vec<String>, Error> {
    match entries.data_type() {
        DataType::Utf8 => {
            let array = entries.as_string::<i32>();
            gather(lookup, place, |e| {
                array.is_valid(e).then(|| array.value(e).to_owned())
            })
        }
        DataType::LargeUtf8 => {
            let array = entries.as_string::<i64>();
            gather(lookup, place, |e| {
                array.is_valid(e).then(|| array.value(e).to_owned())
            })
        }
        DataType::Utf8View => {
            let array = entries.as_string_view();
            gather(lookup, place, |e| {
                array.is_valid(e).then(|| array.value(e).to_owned())
            })
        }
        DataType::Int8 => display::<Int8Type>(entries, lookup, place),
        DataType::Int16 => display::<Int16Type>(entries, lookup, place),
        DataType::Int32 => display::<Int32Type>(entries, lookup, place),
        DataType::Int64 => display::<Int64Type>(entries, lookup, place),
        DataType::UInt8 => display::<UInt8Type>(entries, lookup, place),
        DataType::UInt16 => display::<UInt16Type>(entries, lookup, place),
        DataType::UInt32 => display::<UInt32Type>(entries, lookup, place),
        DataType::UInt64 => display::<UInt64Type>(entries, lookup, place),
        DataType::Float16 => display_float::<Float16Type>(entries, lookup, place, |v| v.is_nan()),
        DataType::Float32 => display_float::<Float32Type>(entries, lookup, place, f32::is_nan),
        DataType::Float64 => display_float::<Float64Type>(entries, lookup, place, f64::is_nan),
        other => unreachable!("kind_of admits only strings and numbers here, not {other}"),
    }
}

/// Integers as decimal text.
fn display<T: ArrowPrimitiveType>(
    entries: &dyn Array,
    lookup: &Lookup,
    place: &Place,
) -> Result<Vec<String>, Error>
where
    T::Native: Display,
{
    display_float::<T>(entries, lookup, place, |_| false)
}

/// Numbers as their shortest decimal text (integral floats without ".0"); NaN counts as missing.
fn display_float<T: ArrowPrimitiveType>(
    entries: &dyn Array,
    lookup: &Lookup,
    place: &Place,
    is_nan: impl Fn(T::Native) -> bool,
) -> Result<Vec<String>, Error>
where
    T::Native: Display,
{
    let array: &PrimitiveArray<T> = entries.as_primitive();
    gather(lookup, place, |entry| {
        let value = array.value(entry);
        (array.is_valid(entry) && !is_nan(value)).then(|| value.to_string())
    })
}

/// The text of each row's entry; a null row or entry is [`Error::MissingText`].
fn gather(
    lookup: &Lookup,
    place: &Place,
    text_of: impl Fn(usize) -> Option<String>,
) -> Result<Vec<String>, Error> {
    lookup
        .entries()
        .enumerate()
        .map(|(row, entry)| entry.and_then(&text_of).ok_or_else(|| place.missing(row)))
        .collect()
}

/// Writes `table` (already checked for shape) to `path`, snappy-compressed.
pub(crate) fn write(path: &Path, table: &Table) -> Result<(), Error> {
    let fields: Vec<Field> = table.columns.iter().map(field_of).collect();
    let arrays: Vec<ArrayRef> = table.columns.iter().map(array_of).collect();
    let schema = Arc::new(Schema::new(fields));
    let options = RecordBatchOptions::new().with_row_count(Some(table.len()));
    let batch = RecordBatch::try_new_with_options(Arc::clone(&schema), arrays, &options).map_err(
        |source| Error::Arrow {
            path: path.to_path_buf(),
            source,
        },
    )?;
    let file = File::create(path).map_err(|source| io_error(path, "create", source))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties))
        .map_err(|source| parquet_error(path, source))?;
    writer
        .write(&batch)
        .map_err(|source| parquet_error(path, source))?;
    writer
        .close()
        .map_err(|source| parquet_error(path, source))?;
    Ok(())
}

fn field_of(column: &Column) -> Field {
    let data_type = match column.values {
        Values::Text(_) => DataType::Utf8,
        Values::Number(_) => DataType::Float64,
    };
    Field::new(&column.name, data_type, false)
}

fn array_of(column: &Column) -> ArrayRef {
    match &column.values {
        Values::Text(values) => Arc::new(StringArray::from_iter_values(values)),
        Values::Number(values) => Arc::new(Float64Array::from_iter_values(values.iter().copied())),
    }
}

fn io_error(path: &Path, action: &'static str, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

fn parquet_error(path: &Path, source: parquet::errors::ParquetError) -> Error {
    Error::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_widen_only_when_exact() {
        assert_eq!(exact_i64(-(1 << 53)), Some(-9_007_199_254_740_992.0));
        assert_eq!(exact_i64(i64::MIN), Some(-9_223_372_036_854_775_808.0));
        assert_eq!(exact_i64((1 << 53) + 1), None);
        assert_eq!(exact_i64(i64::MAX), None);
        assert_eq!(exact_u64(u64::MAX), None);
        assert_eq!(exact_u64(1 << 60), Some(1_152_921_504_606_846_976.0));
    }

    #[test]
    fn unshared_float_arrays_become_columns_without_a_copy() {
        let values = vec![0.5, -1.0, 2.0];
        let address = values.as_ptr();
        let array: ArrayRef = Arc::new(Float64Array::from(values));
        let taken = plain_floats(array).unwrap();
        assert_eq!(taken.as_ptr(), address);
        assert_eq!(taken, [0.5, -1.0, 2.0]);

        let shared: ArrayRef = Arc::new(Float64Array::from(vec![0.5, -1.0]));
        let copied = plain_floats(Arc::clone(&shared)).unwrap();
        assert_eq!(copied, [0.5, -1.0]);
        assert_eq!(shared.as_primitive::<Float64Type>().value(1), -1.0);

        let with_null: ArrayRef = Arc::new(Float64Array::from(vec![Some(0.5), None]));
        assert!(plain_floats(with_null).is_err());
        let integers: ArrayRef = Arc::new(arrow_array::Int32Array::from(vec![1, 2]));
        assert!(plain_floats(integers).is_err());
    }

    #[test]
    fn batches_fill_a_column_allocated_once() {
        let rows = BATCH_ROWS + 1000;
        let path = std::env::temp_dir().join(format!(
            "numerus-frames-{}-batches.parquet",
            std::process::id()
        ));
        let values: Vec<f64> = (0..rows).map(|row| row as f64 / 7.0).collect();
        let table = Table {
            columns: vec![Column::number("x", values.clone())],
        };
        crate::write_table(&path, &table).unwrap();
        let read = crate::read_table(&path, &ReadOptions::default());
        std::fs::remove_file(&path).unwrap();
        let read = read.unwrap();
        let Values::Number(read) = &read.columns[0].values else {
            panic!("a number column");
        };
        assert_eq!(*read, values);
        assert_eq!(read.capacity(), rows);
    }

    #[test]
    fn only_strings_and_numbers_have_a_kind() {
        assert_eq!(kind_of(&DataType::Int8, false), Some(Kind::Number));
        assert_eq!(kind_of(&DataType::Int8, true), Some(Kind::Text));
        assert_eq!(kind_of(&DataType::Utf8View, false), Some(Kind::Text));
        let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        assert_eq!(kind_of(&dictionary, false), Some(Kind::Text));
        assert_eq!(kind_of(&DataType::Boolean, false), None);
        assert_eq!(kind_of(&DataType::Date32, true), None);
    }
}
