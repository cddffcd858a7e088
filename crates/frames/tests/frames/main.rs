//! Reading and writing Numerai-layout tables through real Parquet and CSV files.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BooleanArray, DictionaryArray, Float32Array, Int8Array, Int64Array, LargeStringArray,
    RecordBatch, StringArray,
};
use numerus_frames::{Column, Error, ReadOptions, Table, Values, read_table, write_table};
use parquet::arrow::ArrowWriter;

/// A fresh directory for one test, unique to this process.
fn scratch(test: &str) -> PathBuf {
    // Under the build's own scratch space, so test runs leave nothing outside `target/`.
    let directory = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("numerus-frames-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&directory);
    fs::create_dir_all(&directory).unwrap();
    directory
}

/// Writes Arrow columns as given (types and nulls included) to a Parquet file.
fn write_arrow(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut writer =
        ArrowWriter::try_new(fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn numbers<'t>(table: &'t Table, name: &str) -> &'t [f64] {
    table.column(name).unwrap().values.as_numbers().unwrap()
}

fn texts<'t>(table: &'t Table, name: &str) -> &'t [String] {
    table.column(name).unwrap().values.as_text().unwrap()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|&value| value.to_owned()).collect()
}

/// Equal bits, or both NaN.
fn assert_same_numbers(left: &[f64], right: &[f64]) {
    assert_eq!(left.len(), right.len());
    for (row, (a, b)) in left.iter().zip(right).enumerate() {
        assert!(
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            "row {row}: {a} != {b}"
        );
    }
}

fn awkward_table() -> Table {
    Table {
        columns: vec![
            Column::text("id", strings(&["n0a", "n0b", "n,\"quoted\"", "n0d", ""])),
            Column::text("era", strings(&["0001", "0001", "0002", "0002", "0003"])),
            Column::number(
                "prediction",
                vec![1.0 / 3.0, f64::NAN, -0.0, 5e-324, 1.7976931348623157e308],
            ),
            Column::number(
                "target",
                vec![0.0, 0.25, f64::INFINITY, f64::NAN, 0.1 + 0.2],
            ),
        ],
    }
}

fn assert_round_trips(path: &Path) {
    let table = awkward_table();
    write_table(path, &table).unwrap();
    let options = ReadOptions {
        text_columns: &["id", "era"],
        select: None,
    };
    let read = read_table(path, &options).unwrap();
    let names: Vec<&str> = read
        .columns
        .iter()
        .map(|column| column.name.as_str())
        .collect();
    assert_eq!(names, ["id", "era", "prediction", "target"]);
    assert_eq!(read.len(), 5);
    assert_eq!(texts(&read, "id"), texts(&table, "id"));
    assert_eq!(texts(&read, "era"), texts(&table, "era"));
    assert_same_numbers(numbers(&read, "prediction"), numbers(&table, "prediction"));
    assert_same_numbers(numbers(&read, "target"), numbers(&table, "target"));
}

#[test]
fn parquet_round_trip_keeps_every_bit_and_nan() {
    assert_round_trips(&scratch("parquet_round_trip").join("table.parquet"));
}

#[test]
fn csv_round_trip_keeps_every_bit_and_nan() {
    assert_round_trips(&scratch("csv_round_trip").join("table.csv"));
}

#[test]
fn pq_extension_and_an_empty_table_round_trip() {
    let path = scratch("empty").join("table.pq");
    let table = Table {
        columns: vec![Column::text("id", vec![]), Column::number("x", vec![])],
    };
    write_table(&path, &table).unwrap();
    let read = read_table(
        &path,
        &ReadOptions {
            text_columns: &["id"],
            select: None,
        },
    )
    .unwrap();
    assert_eq!(read, table);
}

#[test]
fn projection_reads_only_selected_columns() {
    let path = scratch("projection").join("table.parquet");
    write_arrow(
        &path,
        vec![
            (
                "id",
                Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
            ),
            (
                "flag",
                Arc::new(BooleanArray::from(vec![true, false])) as ArrayRef,
            ),
            (
                "x",
                Arc::new(Float32Array::from(vec![0.5, 1.5])) as ArrayRef,
            ),
        ],
    );
    // The boolean column cannot be decoded, so reading succeeds only if it is never touched.
    let select = |name: &str| name != "flag";
    let options = ReadOptions {
        text_columns: &["id"],
        select: Some(&select),
    };
    let read = read_table(&path, &options).unwrap();
    let names: Vec<&str> = read
        .columns
        .iter()
        .map(|column| column.name.as_str())
        .collect();
    assert_eq!(names, ["id", "x"]);
    assert_eq!(numbers(&read, "x"), [0.5, 1.5]);

    let message = read_table(&path, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("\"flag\"") && message.contains("Boolean"),
        "{message}"
    );
}

#[test]
fn csv_projection_keeps_only_selected_columns() {
    let path = scratch("csv_projection").join("table.csv");
    fs::write(&path, "id,junk,x\na,not a number,1\n").unwrap();
    let select = |name: &str| name != "junk";
    let options = ReadOptions {
        text_columns: &["id"],
        select: Some(&select),
    };
    let read = read_table(&path, &options).unwrap();
    assert_eq!(read.columns.len(), 2);
    assert_eq!(numbers(&read, "x"), [1.0]);
}

#[test]
fn era_0001_stays_text_in_csv_and_the_pandas_index_is_dropped() {
    let path = scratch("era_text").join("data.csv");
    fs::write(&path, ",id,era,feature_0\n0,n1,0001,2\n1,n2,0002,NA\n").unwrap();
    let read = read_table(
        &path,
        &ReadOptions {
            text_columns: &["id", "era"],
            select: None,
        },
    )
    .unwrap();
    assert_eq!(read.columns.len(), 3);
    assert_eq!(texts(&read, "era"), ["0001", "0002"]);
    assert_eq!(numbers(&read, "feature_0")[0], 2.0);
    assert!(numbers(&read, "feature_0")[1].is_nan());
}

/// Writes `text` to `file` and reads it back as CSV with `id` as text, expecting an error.
fn csv_error(test: &str, file: &str, text: &str) -> Error {
    let path = scratch(test).join(file);
    fs::write(&path, text).unwrap();
    read_table(
        &path,
        &ReadOptions {
            text_columns: &["id"],
            select: None,
        },
    )
    .unwrap_err()
}

#[test]
fn bad_number_error_names_row_column_and_value() {
    let error = csv_error(
        "bad_number",
        "predictions.csv",
        "id,prediction\na,0.5\nb,0.7x\n",
    );
    let message = error.to_string();
    assert!(
        matches!(&error, Error::NotANumber { row: 2, column, value, .. } if column == "prediction" && value == "0.7x")
    );
    assert!(
        message.contains("predictions.csv") && message.contains("row 2"),
        "{message}"
    );
    assert!(
        message.contains("\"prediction\"") && message.contains("\"0.7x\""),
        "{message}"
    );
}

#[test]
fn csv_row_with_missing_fields_is_refused() {
    let error = csv_error("short_row", "t.csv", "id,prediction\na,0.5\nb\n");
    assert!(matches!(error, Error::Csv { .. }), "{error}");
}

#[test]
fn csv_without_header_is_refused() {
    let path = scratch("no_header").join("t.csv");
    fs::write(&path, "").unwrap();
    let error = read_table(&path, &ReadOptions::default()).unwrap_err();
    assert!(matches!(error, Error::MissingHeader { .. }), "{error}");
}

#[test]
fn unknown_extension_error_names_path_and_accepted_extensions() {
    let path = Path::new("/nowhere/predictions.tsv");
    for error in [
        read_table(path, &ReadOptions::default()).unwrap_err(),
        write_table(path, &Table::default()).unwrap_err(),
    ] {
        let message = error.to_string();
        assert!(matches!(error, Error::UnknownExtension { .. }));
        assert!(message.contains("/nowhere/predictions.tsv"), "{message}");
        assert!(
            message.contains(".parquet") && message.contains(".pq") && message.contains(".csv")
        );
    }
}

#[test]
fn parquet_int8_and_float32_widen_exactly() {
    let path = scratch("widen").join("features.parquet");
    let small = vec![Some(-128), Some(0), Some(4), Some(127), None];
    let floats = vec![
        Some(0.1_f32),
        Some(f32::MIN_POSITIVE),
        Some(-3.75),
        Some(f32::MAX),
        None,
    ];
    write_arrow(
        &path,
        vec![
            (
                "feature_int8",
                Arc::new(Int8Array::from(small.clone())) as ArrayRef,
            ),
            (
                "feature_f32",
                Arc::new(Float32Array::from(floats.clone())) as ArrayRef,
            ),
        ],
    );
    let read = read_table(&path, &ReadOptions::default()).unwrap();
    let expected_int: Vec<f64> = small
        .iter()
        .map(|v| v.map_or(f64::NAN, f64::from))
        .collect();
    let expected_float: Vec<f64> = floats
        .iter()
        .map(|v| v.map_or(f64::NAN, |v| v as f64))
        .collect();
    assert_same_numbers(numbers(&read, "feature_int8"), &expected_int);
    assert_same_numbers(numbers(&read, "feature_f32"), &expected_float);
    assert_eq!(numbers(&read, "feature_f32")[0], 0.10000000149011612);
}

#[test]
fn parquet_text_columns_accept_numbers_dictionaries_and_large_strings() {
    let path = scratch("text_kinds").join("data.parquet");
    let era: DictionaryArray<Int32Type> = vec!["0001", "0002", "0001"].into_iter().collect();
    write_arrow(
        &path,
        vec![
            (
                "id",
                Arc::new(LargeStringArray::from(vec!["a", "b", "c"])) as ArrayRef,
            ),
            ("era", Arc::new(era) as ArrayRef),
            (
                "round",
                Arc::new(Int64Array::from(vec![1, 20, 300])) as ArrayRef,
            ),
            (
                "stake",
                Arc::new(Float32Array::from(vec![1.0, 2.5, 3.0])) as ArrayRef,
            ),
            (
                "__index_level_0__",
                Arc::new(Int64Array::from(vec![0, 1, 2])) as ArrayRef,
            ),
        ],
    );
    let options = ReadOptions {
        text_columns: &["id", "round", "stake"],
        select: None,
    };
    let read = read_table(&path, &options).unwrap();
    assert_eq!(read.columns.len(), 4, "the pandas index column is dropped");
    assert_eq!(texts(&read, "id"), ["a", "b", "c"]);
    assert_eq!(texts(&read, "era"), ["0001", "0002", "0001"]);
    assert_eq!(texts(&read, "round"), ["1", "20", "300"]);
    assert_eq!(texts(&read, "stake"), ["1", "2.5", "3"]);
}

#[test]
fn parquet_null_text_error_names_row_and_column() {
    let path = scratch("null_text").join("data.parquet");
    write_arrow(
        &path,
        vec![(
            "id",
            Arc::new(StringArray::from(vec![Some("a"), None])) as ArrayRef,
        )],
    );
    let error = read_table(&path, &ReadOptions::default()).unwrap_err();
    assert!(
        matches!(&error, Error::MissingText { row: 2, column, .. } if column == "id"),
        "{error}"
    );
}

#[test]
fn ragged_table_is_not_written() {
    let path = scratch("ragged").join("t.csv");
    let table = Table {
        columns: vec![Column::number("a", vec![1.0]), Column::number("b", vec![])],
    };
    let error = write_table(&path, &table).unwrap_err();
    assert!(matches!(error, Error::RaggedColumns { .. }), "{error}");
    assert!(!path.exists());
}

#[test]
fn missing_file_error_names_the_path() {
    let path = scratch("missing").join("absent.parquet");
    let message = read_table(&path, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("absent.parquet") && message.contains("cannot open"),
        "{message}"
    );
}

#[test]
fn values_report_their_kind() {
    let values = Values::Number(vec![1.0]);
    assert_eq!(values.len(), 1);
    assert!(values.as_text().is_none());
}

#[test]
fn column_names_come_from_the_header_or_schema_without_reading_values() {
    let dir = scratch("column-names");
    // A value that could not be read as a number, under a name nobody asked to keep as text.
    let csv = dir.join("ids.csv");
    fs::write(&csv, "ID,prediction\nn0001,0.5\n").unwrap();
    assert_eq!(
        numerus_frames::column_names(&csv).unwrap(),
        ["ID", "prediction"]
    );
    let parquet = dir.join("ids.parquet");
    let table = Table {
        columns: vec![
            Column::text("ID", vec!["n0001".into()]),
            Column::number("prediction", vec![0.5]),
        ],
    };
    write_table(&parquet, &table).unwrap();
    assert_eq!(
        numerus_frames::column_names(&parquet).unwrap(),
        ["ID", "prediction"]
    );
    let empty = dir.join("empty.csv");
    fs::write(&empty, "").unwrap();
    assert!(numerus_frames::column_names(&empty).is_err());
}
