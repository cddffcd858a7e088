//! Published files: Parquet tables written an era at a time (row groups of about
//! [`ROW_GROUP_ROWS`] rows, closed between eras), in the layout pandas and pyarrow read as
//! Numerai's.
//!
//! The `id` column is stored last and marked as the pandas index in the file's `pandas`
//! metadata, exactly as `DataFrame.to_parquet` marks it, so `pd.read_parquet(path)` gives a
//! frame indexed by `id` — participants' code builds its submission from that index.
//! Features are `int8`, targets and predictions `float32`/`float64`, text `string`.
//!
//! Signals and Crypto files have no index: their keys (`numerai_ticker`, `symbol`, `date`) are
//! ordinary columns, as in Numerai's files, which participants read as `df["numerai_ticker"]`.
//! [`TableWriter::unindexed`] writes those, marked with an empty pandas index (pandas gives
//! the frame a plain `RangeIndex`).

use std::io::Write;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, Int8Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::Error;

/// Rows per row group, about: large enough that the file's footer (one entry per column and
/// row group, held in memory until the file is finished) stays small for long histories,
/// small enough that a row group being encoded is a few megabytes.
pub const ROW_GROUP_ROWS: usize = 16 * 1024;

/// The type of a published column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// A feature bin.
    Int8,
    /// A target.
    Float32,
    /// A prediction or an exposure.
    Float64,
}

impl Kind {
    fn arrow(self) -> DataType {
        match self {
            Kind::Text => DataType::Utf8,
            Kind::Int8 => DataType::Int8,
            Kind::Float32 => DataType::Float32,
            Kind::Float64 => DataType::Float64,
        }
    }

    fn pandas(self) -> (&'static str, &'static str) {
        match self {
            Kind::Text => ("unicode", "object"),
            Kind::Int8 => ("int8", "int8"),
            Kind::Float32 => ("float32", "float32"),
            Kind::Float64 => ("float64", "float64"),
        }
    }
}

/// The values of one column for one era.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Text.
    Text(Vec<String>),
    /// Feature bins.
    Int8(Vec<i8>),
    /// Targets.
    Float32(Vec<f32>),
    /// Predictions, exposures.
    Float64(Vec<f64>),
}

impl Values {
    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::Text(values) => values.len(),
            Values::Int8(values) => values.len(),
            Values::Float32(values) => values.len(),
            Values::Float64(values) => values.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn array(self) -> ArrayRef {
        match self {
            Values::Text(values) => Arc::new(StringArray::from(values)),
            Values::Int8(values) => Arc::new(Int8Array::from(values)),
            Values::Float32(values) => Arc::new(Float32Array::from(values)),
            Values::Float64(values) => Arc::new(Float64Array::from(values)),
        }
    }
}

/// A table, with or without an index column, written to Parquet one group of rows at a time.
pub struct TableWriter<W: Write + Send> {
    schema: Arc<Schema>,
    writer: ArrowWriter<W>,
    rows: usize,
    indexed: bool,
}

impl<W: Write + Send> TableWriter<W> {
    /// Starts a table whose columns are `columns` followed by the index column `index` (text).
    pub fn new(sink: W, index: &str, columns: &[(String, Kind)]) -> Result<Self, Error> {
        Self::start(sink, Some(index), columns)
    }

    /// Starts a table of `columns` without an index column; write it with
    /// [`TableWriter::write_rows`].
    pub fn unindexed(sink: W, columns: &[(String, Kind)]) -> Result<Self, Error> {
        Self::start(sink, None, columns)
    }

    fn start(sink: W, index: Option<&str>, columns: &[(String, Kind)]) -> Result<Self, Error> {
        let mut fields: Vec<Field> = columns
            .iter()
            .map(|(name, kind)| Field::new(name, kind.arrow(), *kind != Kind::Text))
            .collect();
        if let Some(index) = index {
            fields.push(Field::new(index, DataType::Utf8, false));
        }
        let metadata = pandas_metadata(index, columns);
        // pyarrow reads the pandas metadata from the footer's own key-value list (row-group
        // and batch readers look nowhere else); the Arrow schema carries it too.
        let footer = vec![KeyValue::new("pandas".to_string(), metadata.clone())];
        let schema = Arc::new(
            Schema::new(fields).with_metadata(
                [("pandas".to_string(), metadata)]
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            ),
        );
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(4 * ROW_GROUP_ROWS))
            .set_key_value_metadata(Some(footer))
            .build();
        let writer = ArrowWriter::try_new(sink, schema.clone(), Some(properties))?;
        Ok(Self {
            schema,
            writer,
            rows: 0,
            indexed: index.is_some(),
        })
    }

    /// Writes one era's rows (the index values last). Row groups close at about
    /// [`ROW_GROUP_ROWS`] rows, on an era boundary, so an era never spans two of them.
    ///
    /// # Panics
    /// If the table was started [unindexed](TableWriter::unindexed).
    pub fn write(&mut self, columns: Vec<Values>, index: Vec<String>) -> Result<(), Error> {
        assert!(
            self.indexed,
            "an unindexed table is written with write_rows"
        );
        let rows = index.len();
        let mut arrays: Vec<ArrayRef> = columns.into_iter().map(Values::array).collect();
        arrays.push(Arc::new(StringArray::from(index)));
        self.write_batch(arrays, rows)
    }

    /// Writes one group of rows (one era or date) of an unindexed table as one row group.
    ///
    /// # Panics
    /// If the table has an index column (use [`TableWriter::write`]).
    pub fn write_rows(&mut self, columns: Vec<Values>) -> Result<(), Error> {
        assert!(!self.indexed, "an indexed table is written with write");
        let rows = columns.first().map_or(0, Values::len);
        self.write_batch(columns.into_iter().map(Values::array).collect(), rows)
    }

    fn write_batch(&mut self, arrays: Vec<ArrayRef>, rows: usize) -> Result<(), Error> {
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        self.writer.write(&batch)?;
        if self.writer.in_progress_rows() >= ROW_GROUP_ROWS {
            self.writer.flush()?;
        }
        self.rows += rows;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Finishes the file and gives the sink back.
    pub fn finish(self) -> Result<W, Error> {
        Ok(self.writer.into_inner()?)
    }
}

/// The `pandas` schema metadata `DataFrame.to_parquet` writes for a frame indexed by `index`
/// (or, without one, for a frame written with `index=False`).
fn pandas_metadata(index: Option<&str>, columns: &[(String, Kind)]) -> String {
    let column = |name: &str, kind: Kind| {
        let (pandas_type, numpy_type) = kind.pandas();
        serde_json::json!({
            "name": name,
            "field_name": name,
            "pandas_type": pandas_type,
            "numpy_type": numpy_type,
            "metadata": null,
        })
    };
    let mut described: Vec<serde_json::Value> = columns
        .iter()
        .map(|(name, kind)| column(name, *kind))
        .collect();
    described.extend(index.map(|index| column(index, Kind::Text)));
    serde_json::json!({
        "index_columns": index.into_iter().collect::<Vec<_>>(),
        "column_indexes": [{
            "name": null,
            "field_name": null,
            "pandas_type": "unicode",
            "numpy_type": "object",
            "metadata": {"encoding": "UTF-8"},
        }],
        "columns": described,
        "creator": {"library": "numerus", "version": env!("CARGO_PKG_VERSION")},
        "pandas_version": "2.2.0",
    })
    .to_string()
}
