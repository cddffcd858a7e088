//! The market panel: what an operator's market data is converted to, and what the synthetic
//! market writes.
//!
//! A stock panel is one Parquet file, one row per (business date, ticker), **sorted by date**
//! (tickers in any order within a date). Its columns:
//!
//! | column       | type   | meaning                                                           |
//! |--------------|--------|-------------------------------------------------------------------|
//! | `date`       | string | `YYYY-MM-DD`, a Monday to Friday (holidays are simply absent)     |
//! | `ticker`     | string | the stock's symbol, unique within a date                          |
//! | `country`    | string | ISO 3166 alpha-2 country of listing (`US`, `JP`, …)               |
//! | `sector`     | string | the stock's sector (any stable set of names)                      |
//! | `close`      | f64    | split-adjusted closing price                                      |
//! | `return`     | f64    | total return from the previous close (dividends in); NaN on a     |
//! |              |        | ticker's first day                                                |
//! | `volume`     | f64    | shares traded that day                                            |
//! | `market_cap` | f64    | market capitalisation at the close                                |
//! | `book_value`, `earnings`, `sales`, `dividends` | f64 | trailing fundamentals *as known on that date* (point in time); NaN when unknown |
//!
//! A crypto panel has one row per (calendar date, symbol), every day of the week, with the
//! columns `date`, `symbol`, `close`, `return`, `volume` (traded value) and `market_cap`.
//!
//! [`PanelWriter`] writes a panel one day at a time; [`PanelReader`] reads it back one day at a
//! time, checking the rules above as it goes, so neither ever holds more than a day of it.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float32Type, Float64Type};
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use jiff::civil::{Date, Weekday};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::Error;

/// Which kind of panel a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelKind {
    /// Stocks on business days: the Classic and Signals source.
    Stocks,
    /// Crypto tokens on every calendar day.
    Crypto,
}

impl PanelKind {
    /// The text columns, in file order.
    pub fn text_columns(self) -> &'static [&'static str] {
        match self {
            PanelKind::Stocks => &["date", "ticker", "country", "sector"],
            PanelKind::Crypto => &["date", "symbol"],
        }
    }

    /// The number columns, in file order.
    pub fn number_columns(self) -> &'static [&'static str] {
        match self {
            PanelKind::Stocks => &[
                "close",
                "return",
                "volume",
                "market_cap",
                "book_value",
                "earnings",
                "sales",
                "dividends",
            ],
            PanelKind::Crypto => &["close", "return", "volume", "market_cap"],
        }
    }

    /// The name of the identifier column: `ticker` or `symbol`.
    pub fn key_column(self) -> &'static str {
        match self {
            PanelKind::Stocks => "ticker",
            PanelKind::Crypto => "symbol",
        }
    }

    fn schema(self) -> Arc<Schema> {
        let text = self
            .text_columns()
            .iter()
            .map(|name| Field::new(*name, DataType::Utf8, false));
        let numbers = self
            .number_columns()
            .iter()
            .map(|name| Field::new(*name, DataType::Float64, true));
        Arc::new(Schema::new(text.chain(numbers).collect::<Vec<_>>()))
    }
}

/// One date of a panel, column by column: row `i` of every vector is one ticker.
///
/// For a crypto panel `country` and `sector` are empty and `book_value` … `dividends` are
/// empty; `ticker` holds the symbols.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PanelDay {
    /// The date.
    pub date: Option<Date>,
    /// The tickers (or crypto symbols).
    pub ticker: Vec<String>,
    /// ISO country of listing.
    pub country: Vec<String>,
    /// Sector name.
    pub sector: Vec<String>,
    /// Closing price.
    pub close: Vec<f64>,
    /// Total return from the previous close.
    pub ret: Vec<f64>,
    /// Shares traded (crypto: traded value).
    pub volume: Vec<f64>,
    /// Market capitalisation.
    pub market_cap: Vec<f64>,
    /// Trailing book value, as known on the date.
    pub book_value: Vec<f64>,
    /// Trailing earnings, as known on the date.
    pub earnings: Vec<f64>,
    /// Trailing sales, as known on the date.
    pub sales: Vec<f64>,
    /// Trailing dividends, as known on the date.
    pub dividends: Vec<f64>,
}

impl PanelDay {
    /// An empty day at `date`.
    pub fn new(date: Date) -> Self {
        Self {
            date: Some(date),
            ..Self::default()
        }
    }

    /// The date (every day read or built has one).
    pub fn date(&self) -> Date {
        self.date.expect("a panel day has a date")
    }

    /// The number of tickers on this date.
    pub fn len(&self) -> usize {
        self.ticker.len()
    }

    /// Whether the day has no tickers.
    pub fn is_empty(&self) -> bool {
        self.ticker.is_empty()
    }

    fn number_columns(&self, kind: PanelKind) -> Vec<&Vec<f64>> {
        let mut columns = vec![&self.close, &self.ret, &self.volume, &self.market_cap];
        if kind == PanelKind::Stocks {
            columns.extend([
                &self.book_value,
                &self.earnings,
                &self.sales,
                &self.dividends,
            ]);
        }
        columns
    }

    fn number_columns_mut(&mut self, kind: PanelKind) -> Vec<&mut Vec<f64>> {
        let mut columns = vec![
            &mut self.close,
            &mut self.ret,
            &mut self.volume,
            &mut self.market_cap,
        ];
        if kind == PanelKind::Stocks {
            columns.extend([
                &mut self.book_value,
                &mut self.earnings,
                &mut self.sales,
                &mut self.dividends,
            ]);
        }
        columns
    }
}

/// Whether `date` is a business day (Monday to Friday).
pub fn is_business_day(date: Date) -> bool {
    !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// Writes a panel one day at a time into any `Write` (a file, a buffer).
pub struct PanelWriter<W: Write + Send> {
    kind: PanelKind,
    writer: ArrowWriter<W>,
}

impl<W: Write + Send> PanelWriter<W> {
    /// Starts a panel of `kind` in `sink`.
    pub fn new(sink: W, kind: PanelKind) -> Result<Self, Error> {
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = ArrowWriter::try_new(sink, kind.schema(), Some(properties))?;
        Ok(Self { kind, writer })
    }

    /// Appends one day. Days must come in increasing date order.
    pub fn write_day(&mut self, day: &PanelDay) -> Result<(), Error> {
        let rows = day.len();
        let date = day.date().to_string();
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(&date, rows),
        ))];
        columns.push(Arc::new(StringArray::from_iter_values(&day.ticker)));
        if self.kind == PanelKind::Stocks {
            columns.push(Arc::new(StringArray::from_iter_values(&day.country)));
            columns.push(Arc::new(StringArray::from_iter_values(&day.sector)));
        }
        for values in day.number_columns(self.kind) {
            assert_eq!(
                values.len(),
                rows,
                "every column of a panel day has one value per ticker"
            );
            columns.push(Arc::new(Float64Array::from(values.clone())));
        }
        let batch = RecordBatch::try_new(self.kind.schema(), columns)?;
        self.writer.write(&batch)?;
        // One row group per about 64k rows keeps reading streamable.
        if self.writer.in_progress_rows() >= 64 * 1024 {
            self.writer.flush()?;
        }
        Ok(())
    }

    /// Finishes the file and gives the sink back.
    pub fn finish(self) -> Result<W, Error> {
        Ok(self.writer.into_inner()?)
    }
}

/// Reads a panel file one date at a time, checking it as it goes.
pub struct PanelReader {
    path: PathBuf,
    kind: PanelKind,
    batches: ParquetRecordBatchReader,
    /// The current batch, decoded once, and the next row of it to read.
    batch: Option<Decoded>,
    row: usize,
    /// The day being gathered (its date is known once its first row is read).
    pending: Option<PanelDay>,
    previous_date: Option<Date>,
    seen: HashSet<String>,
    /// Rows read so far (for error messages).
    rows_read: usize,
    /// Days with fewer tickers are refused.
    min_tickers: usize,
}

impl PanelReader {
    /// Opens the panel `path` of `kind`. Each date must have at least `min_tickers` rows.
    pub fn open(path: &Path, kind: PanelKind, min_tickers: usize) -> Result<Self, Error> {
        let file = File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            action: "open the panel",
            source,
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|source| Error::panel(path, format!("is not a Parquet file: {source}")))?;
        let schema = builder.schema().clone();
        let mut roots = Vec::new();
        let wanted = kind.text_columns().iter().chain(kind.number_columns());
        let missing: Vec<&str> = wanted
            .clone()
            .filter(|name| schema.index_of(name).is_err())
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(Error::panel(
                path,
                format!(
                    "lacks the column(s) {}; a {} panel needs {} (see `numerus data --help`)",
                    missing.join(", "),
                    if kind == PanelKind::Stocks {
                        "stock"
                    } else {
                        "crypto"
                    },
                    wanted.copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        for name in kind.text_columns().iter().chain(kind.number_columns()) {
            let index = schema.index_of(name).expect("checked above");
            let field = schema.field(index);
            let ok = match field.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                    kind.text_columns().contains(name)
                }
                DataType::Date32 => *name == "date",
                DataType::Float64 | DataType::Float32 => kind.number_columns().contains(name),
                _ => false,
            };
            if !ok {
                return Err(Error::panel(
                    path,
                    format!(
                        "column `{name}` has type {}; it must be {}",
                        field.data_type(),
                        if kind.text_columns().contains(name) {
                            "a string (`date` may also be a date32)"
                        } else {
                            "a float64 (or float32)"
                        }
                    ),
                ));
            }
            roots.push(index);
        }
        let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots.clone());
        let batches = builder
            .with_projection(mask)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|source| Error::panel(path, format!("cannot be read: {source}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            kind,
            batches,
            batch: None,
            row: 0,
            pending: None,
            previous_date: None,
            seen: HashSet::new(),
            rows_read: 0,
            min_tickers,
        })
    }

    /// The next date of the panel, or `None` at the end.
    pub fn next_day(&mut self) -> Result<Option<PanelDay>, Error> {
        loop {
            if self
                .batch
                .as_ref()
                .is_none_or(|batch| self.row >= batch.dates.len())
            {
                match self.batches.next() {
                    Some(batch) => {
                        let batch = batch.map_err(|source| {
                            Error::panel(&self.path, format!("cannot be read: {source}"))
                        })?;
                        self.batch = Some(Decoded::new(&batch, self.kind, self.rows_read)?);
                        self.row = 0;
                        continue;
                    }
                    None => {
                        return match self.pending.take() {
                            Some(day) => self.finish_day(day).map(Some),
                            None if self.previous_date.is_none() => {
                                Err(Error::panel(&self.path, "has no rows".to_string()))
                            }
                            None => Ok(None),
                        };
                    }
                }
            }
            let mut batch = self.batch.take().expect("a batch is loaded");
            let outcome = self.take_rows(&mut batch);
            self.batch = Some(batch);
            if let Some(day) = outcome? {
                return Ok(Some(day));
            }
        }
    }

    /// Copies rows of `batch` into the pending day until the date changes (returning the
    /// finished day) or the batch ends.
    fn take_rows(&mut self, batch: &mut Decoded) -> Result<Option<PanelDay>, Error> {
        while self.row < batch.dates.len() {
            let row = self.row;
            let line = self.rows_read + 1;
            let date = batch.dates[row];
            if let Some(day) = &self.pending
                && day.date() != date
            {
                let day = self.pending.take().expect("checked");
                return self.finish_day(day).map(Some);
            }
            if self.pending.is_none() {
                self.start_day(date, line)?;
            }
            let day = self.pending.as_mut().expect("started above");
            let ticker = std::mem::take(&mut batch.text[0][row]);
            if ticker.is_empty() {
                return Err(Error::panel(
                    &self.path,
                    format!("row {line} has an empty `{}`", self.kind.key_column()),
                ));
            }
            if !self.seen.insert(ticker.clone()) {
                return Err(Error::panel(
                    &self.path,
                    format!(
                        "row {line}: ({date}, {ticker}) appears twice; keep one row per date and {}",
                        self.kind.key_column()
                    ),
                ));
            }
            day.ticker.push(ticker);
            if self.kind == PanelKind::Stocks {
                day.country.push(std::mem::take(&mut batch.text[1][row]));
                day.sector.push(std::mem::take(&mut batch.text[2][row]));
            }
            for (values, column) in day
                .number_columns_mut(self.kind)
                .into_iter()
                .zip(&batch.numbers)
            {
                values.push(column[row]);
            }
            self.row += 1;
            self.rows_read += 1;
        }
        Ok(None)
    }

    fn start_day(&mut self, date: Date, line: usize) -> Result<(), Error> {
        if let Some(previous) = self.previous_date
            && date <= previous
        {
            return Err(Error::panel(
                &self.path,
                format!(
                    "row {line}: date {date} comes after {previous}; the panel must be sorted by \
                     date (sort it, e.g. `df.sort_values(\"date\")`, and write it again)"
                ),
            ));
        }
        if self.kind == PanelKind::Stocks && !is_business_day(date) {
            return Err(Error::panel(
                &self.path,
                format!(
                    "row {line}: {date} is a {:?}; a stock panel has business days only (drop \
                     weekend rows)",
                    date.weekday()
                ),
            ));
        }
        self.seen.clear();
        self.pending = Some(PanelDay::new(date));
        Ok(())
    }

    fn finish_day(&mut self, day: PanelDay) -> Result<PanelDay, Error> {
        if day.len() < self.min_tickers {
            return Err(Error::panel(
                &self.path,
                format!(
                    "{} has {} {}s; at least {} are needed per date to bin features into five \
                     groups",
                    day.date(),
                    day.len(),
                    self.kind.key_column(),
                    self.min_tickers
                ),
            ));
        }
        self.previous_date = Some(day.date());
        Ok(day)
    }
}

/// A batch of panel rows decoded into owned columns.
struct Decoded {
    dates: Vec<Date>,
    /// The text columns after `date`: the key, then (stocks) country and sector.
    text: Vec<Vec<String>>,
    numbers: Vec<Vec<f64>>,
}

impl Decoded {
    /// Decodes `batch`, whose first row is row `rows_before + 1` of the file.
    fn new(batch: &RecordBatch, kind: PanelKind, rows_before: usize) -> Result<Self, Error> {
        let text_count = kind.text_columns().len();
        let column = DateColumn::new(batch.column(0));
        let mut dates = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let date = match (&column, dates.last()) {
                (DateColumn::Text(text), Some(&last)) if row > 0 && text[row] == text[row - 1] => {
                    last
                }
                _ => column.get(row, rows_before + row + 1)?,
            };
            dates.push(date);
        }
        let text = (1..text_count)
            .map(|index| {
                text_values(batch.column(index))
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            })
            .collect();
        let numbers = (text_count..batch.num_columns())
            .map(|index| number_values(batch.column(index)))
            .collect();
        Ok(Self {
            dates,
            text,
            numbers,
        })
    }
}

/// The `date` column of a batch: text or date32.
enum DateColumn<'a> {
    Text(Vec<&'a str>),
    Days(&'a arrow_array::PrimitiveArray<Date32Type>),
}

impl<'a> DateColumn<'a> {
    fn new(array: &'a ArrayRef) -> Self {
        match array.data_type() {
            DataType::Date32 => DateColumn::Days(array.as_primitive::<Date32Type>()),
            _ => DateColumn::Text(text_values(array)),
        }
    }

    fn get(&self, row: usize, line: usize) -> Result<Date, Error> {
        match self {
            DateColumn::Text(values) => values[row].parse::<Date>().map_err(|_| Error::Input {
                what: format!(
                    "row {line}: date {:?} is not a date; write dates as YYYY-MM-DD",
                    values[row]
                ),
            }),
            DateColumn::Days(values) => {
                let epoch = Date::constant(1970, 1, 1);
                epoch
                    .checked_add(jiff::Span::new().days(values.value(row)))
                    .map_err(|_| Error::Input {
                        what: format!("row {line}: date out of range"),
                    })
            }
        }
    }
}

/// A string column's values ("" for a null).
fn text_values(array: &ArrayRef) -> Vec<&str> {
    match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.unwrap_or(""))
            .collect(),
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|v| v.unwrap_or(""))
            .collect(),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .map(|v| v.unwrap_or(""))
            .collect(),
        other => unreachable!("checked at open: {other}"),
    }
}

/// A float column's values (NaN for a null).
fn number_values(array: &ArrayRef) -> Vec<f64> {
    match array.data_type() {
        DataType::Float64 => {
            let values = array.as_primitive::<Float64Type>();
            (0..values.len())
                .map(|i| {
                    if values.is_null(i) {
                        f64::NAN
                    } else {
                        values.value(i)
                    }
                })
                .collect()
        }
        DataType::Float32 => {
            let values = array.as_primitive::<Float32Type>();
            (0..values.len())
                .map(|i| {
                    if values.is_null(i) {
                        f64::NAN
                    } else {
                        f64::from(values.value(i))
                    }
                })
                .collect()
        }
        other => unreachable!("checked at open: {other}"),
    }
}

/// The distinct dates of a panel, in file order, reading only its `date` column. Checks the
/// columns, that the dates ascend and (stocks) that they are business days; the other rules are checked by [`PanelReader`] as the build reads the rows.
pub fn scan_dates(path: &Path, kind: PanelKind) -> Result<Vec<Date>, Error> {
    // Opening a reader checks the columns, so a panel missing one is refused before the scan.
    drop(PanelReader::open(path, kind, 0)?);
    let file = File::open(path).map_err(Error::io(path, "open the panel"))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|source| Error::panel(path, format!("is not a Parquet file: {source}")))?;
    let Ok(index) = builder.schema().index_of("date") else {
        return Err(Error::panel(path, "has no `date` column".to_string()));
    };
    let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), [index]);
    let batches = builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|source| Error::panel(path, format!("cannot be read: {source}")))?;
    let mut dates: Vec<Date> = Vec::new();
    let mut previous = String::new();
    let mut line = 0;
    for batch in batches {
        let batch =
            batch.map_err(|source| Error::panel(path, format!("cannot be read: {source}")))?;
        let column = batch.column(0);
        if !matches!(
            column.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Date32
        ) {
            return Err(Error::panel(
                path,
                "column `date` must be a string or a date32".to_string(),
            ));
        }
        let values = DateColumn::new(column);
        for row in 0..batch.num_rows() {
            line += 1;
            if let DateColumn::Text(text) = &values
                && text[row] == previous
            {
                continue;
            }
            let date = values.get(row, line)?;
            if let DateColumn::Text(text) = &values {
                previous.clear();
                previous.push_str(text[row]);
            }
            match dates.last() {
                Some(&last) if last == date => {}
                Some(&last) if date < last => {
                    return Err(Error::panel(
                        path,
                        format!(
                            "row {line}: date {date} comes after {last}; the panel must be \
                             sorted by date (sort it, e.g. `df.sort_values(\"date\")`, and \
                             write it again)"
                        ),
                    ));
                }
                _ if kind == PanelKind::Stocks && !is_business_day(date) => {
                    return Err(Error::panel(
                        path,
                        format!(
                            "row {line}: {date} is a {:?}; a stock panel has business days only \
                             (drop weekend rows)",
                            date.weekday()
                        ),
                    ));
                }
                _ => dates.push(date),
            }
        }
    }
    Ok(dates)
}
