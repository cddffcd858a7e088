//! Tie-kept ranks, kept as integer codes, and the tables that turn them into scores.
//!
//! pandas' `rank(method="average")` gives a tie group spanning sorted positions `i..j`
//! (0-based, `j` exclusive) the rank `(i + 1 + j) / 2`, a multiple of ½. numerai-tools then
//! maps rank `r` to `(r − 0.5) / n`. We store `code = 2r − 1 = i + j`, an integer in
//! `1..2n`, so that `(r − 0.5) / n = code / 2n` exactly (both are one correctly rounded
//! division of the same real number). Every transform of a rank (gaussian, its 1.5 power)
//! then becomes a lookup in a table of `2n` entries computed once per row count: this is
//! the "gaussianized rank table" that all submissions of an era share.
//!
//! Ranking sorts every column, and is the floor of every metric. [`rank_codes`] sorts with
//! a radix sort on 32-bit keys when the column's values are all `f32`s (as predictions
//! read from a `float32` Parquet column are), and otherwise by value buckets (CSV and
//! `float64` predictions), falling back to a radix sort of the full `f64` keys.

use faer::MatRef;
use rayon::prelude::*;

use crate::gaussian::ndtri;
use crate::stats::pow15;

/// Bits of the key digit that one radix pass of the f32 fast path sorts on. 10 measured
/// fastest (against 8, 9 and 11) on 5,000-row columns: values in [0, 1] span 27 to 30
/// key bits, three passes, with tables of 1,024 counts that stay in the L1 cache.
const DIGIT_BITS: u32 = 10;
/// Buckets of one radix pass.
const DIGIT_BUCKETS: usize = 1 << DIGIT_BITS;
/// Radix passes that the widest key range, all 32 bits, needs.
const MAX_PASSES: usize = u32::BITS.div_ceil(DIGIT_BITS) as usize;
/// The bits of a sort record that hold the row; the key is in the upper 32 bits.
const ROW_MASK: u64 = 0xffff_ffff;

/// Buffers reused between calls of [`rank_codes`], so that ranking many columns allocates
/// once per thread.
#[derive(Debug, Clone, Default)]
pub struct RankScratch {
    /// Sort records `key << 32 | row` of the f32 fast path.
    records: Vec<u64>,
    /// Where each radix pass scatters `records` to (the two swap after every pass).
    scattered: Vec<u64>,
    /// Digit counts of each radix pass, turned into bucket offsets when it runs.
    histograms: Vec<[u32; DIGIT_BUCKETS]>,
    /// `(order key, row)` records of the general path.
    keyed_rows: Vec<(u64, u32)>,
    /// Value-bucket counts of the general path, turned into bucket offsets.
    bucket_counts: Vec<u32>,
}

impl RankScratch {
    /// Empty buffers; they grow to the column length on first use.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

/// Tie-kept rank codes of `values` into `codes` (same length): `code = 2r − 1`.
///
/// `scratch` is reused between calls to avoid allocation. Values must not be NaN; `-0.0`
/// ties with `0.0`.
///
/// Predictions are almost always `f32` values widened to `f64` (Parquet files store
/// `float32`). When every value of the column is zero or a normal `f32`, the column is
/// ranked by its `f32` bits (`rank_codes_as_f32`): a 32-bit key and its row fit one
/// 8-byte sort record, half the `(f64, u32)` pair of the general path, and values in
/// [0, 1] sort in three passes of 10-bit digits instead of four of bytes. That is about
/// 1.5 times faster. The general path (`rank_codes_as_f64`) is right for every `f64`:
/// predictions parsed from CSV, residuals and other computed values, values beyond the
/// `f32` range or finer than its precision, infinities. Both paths give the same codes.
///
/// # Panics
/// If `codes` is not as long as `values`, or `values` has 2³¹ values or more (codes go up
/// to `2n − 1` and must fit a `u32`).
pub fn rank_codes(values: &[f64], scratch: &mut RankScratch, codes: &mut [u32]) {
    assert_eq!(values.len(), codes.len(), "one code per value");
    assert!(
        values.len() < 1 << 31,
        "rank codes of 2^31 values or more do not fit a u32"
    );
    if values.is_empty() {
        return;
    }
    if !rank_codes_as_f32(values, scratch, codes) {
        rank_codes_as_f64(values, scratch, codes);
    }
}

/// The f32 fast path of [`rank_codes`], for a non-empty column: returns `false`, leaving
/// `codes` untouched, at the first value that is neither zero nor a normal `f32`.
///
/// Each value becomes an order-preserving 32-bit key of its `f32` bits ([`f32_order_key`]),
/// packed over its row into one `u64` sort record. A least-significant-digit radix sort
/// then orders the records by key alone, in [`DIGIT_BITS`]-bit digits of the key less the
/// column's smallest key, so that the passes are only those the key range needs (values in
/// [0, 1] need three; a constant column none). The digit counts of all passes are taken in
/// one sweep before the first. Equal values have equal keys, so the runs of equal keys in
/// the sorted records are exactly the tie groups.
///
/// The whole path runs on integer registers, none on vector ones, on purpose: after faer's
/// AVX-512 kernels have run on a thread (any neutralization does), the SSE instructions of
/// a default `x86-64` build run several times slower on it. With a vectorized key sweep,
/// ranking 1,000 columns of 5,000 values on two cores took 16 ms, but 22 ms after a
/// neutralization, more than radsort's 21; with this one it takes 14 ms either way. The
/// exit at each value also keeps the compiler from vectorizing the sweep.
fn rank_codes_as_f32(values: &[f64], scratch: &mut RankScratch, codes: &mut [u32]) -> bool {
    let RankScratch {
        records,
        scattered,
        histograms,
        ..
    } = scratch;
    // Every record is overwritten below, so the buffer is not cleared first: resizing it to
    // the length it already has (the same row count, column after column) costs nothing.
    records.resize(values.len(), 0);
    let mut min_key = u32::MAX;
    let mut max_key = u32::MIN;
    for ((record, &value), row) in records.iter_mut().zip(values).zip(0u64..) {
        // Computed values (residuals) are almost never `f32`: such a column leaves here, at
        // its first value.
        let Some(key) = f32_order_key(value) else {
            return false;
        };
        min_key = min_key.min(key);
        max_key = max_key.max(key);
        *record = (u64::from(key) << 32) | row;
    }
    let digits = RelativeDigits {
        min_record: u64::from(min_key) << 32,
    };
    let passes = (u32::BITS - (max_key - min_key).leading_zeros()).div_ceil(DIGIT_BITS);
    histograms.resize(MAX_PASSES, [0; DIGIT_BUCKETS]);
    let histograms = &mut histograms[..passes as usize];
    for histogram in histograms.iter_mut() {
        histogram.fill(0);
    }
    // With the pass count a constant, the per-record loop over the histograms unrolls:
    // ranking is about 15% faster than with a loop of run-time length.
    match histograms {
        [] => {}
        [h0] => count_digits(records, digits, [h0]),
        [h0, h1] => count_digits(records, digits, [h0, h1]),
        [h0, h1, h2] => count_digits(records, digits, [h0, h1, h2]),
        [h0, h1, h2, h3] => count_digits(records, digits, [h0, h1, h2, h3]),
        _ => unreachable!("32-bit keys have at most {MAX_PASSES} digits"),
    }
    scattered.resize(records.len(), 0);
    for (pass, histogram) in histograms.iter_mut().enumerate() {
        // A digit that every record shares leaves the order as it is: skip its pass.
        if histogram[digits.of(records[0], pass)] as usize == records.len() {
            continue;
        }
        counts_into_offsets(histogram);
        for &record in records.iter() {
            let slot = &mut histogram[digits.of(record, pass)];
            scattered[*slot as usize] = record;
            *slot += 1;
        }
        std::mem::swap(records, scattered);
    }
    write_tie_codes(
        records,
        |&record| record >> 32,
        |&record| record & ROW_MASK,
        codes,
    );
    true
}

/// Counts the digits of every pass over all `records` in one sweep.
fn count_digits<const PASSES: usize>(
    records: &[u64],
    digits: RelativeDigits,
    mut histograms: [&mut [u32; DIGIT_BUCKETS]; PASSES],
) {
    for &record in records {
        for (pass, histogram) in histograms.iter_mut().enumerate() {
            histogram[digits.of(record, pass)] += 1;
        }
    }
}

/// The radix digits of sort records `key << 32 | row`, taken from the key less the
/// column's smallest key: the range of the keys, not their size, sets the passes.
#[derive(Debug, Clone, Copy)]
struct RelativeDigits {
    /// The record of the smallest key with row 0.
    min_record: u64,
}

impl RelativeDigits {
    /// The `pass`-th digit, least significant first.
    fn of(self, record: u64, pass: usize) -> usize {
        // Every key is at least the smallest, so the subtraction leaves the row bits alone.
        let relative = record - self.min_record;
        (relative >> (32 + pass as u32 * DIGIT_BITS)) as usize & (DIGIT_BUCKETS - 1)
    }
}

/// A `u32` that orders like `value` when it is zero or a normal `f32` (the `f32` bits read
/// from the `f64` bits, with integer operations only), with one key for both zeros; `None`
/// for any other value (not an `f32`, an `f32` subnormal, an infinity, NaN).
///
/// A float's bits without the sign, its magnitude, order like its absolute value. The key
/// is `2³¹ + magnitude` for a positive value and `2³¹ − magnitude` for a negative one: a
/// larger magnitude is a smaller negative number. Both zeros have magnitude 0 and key 2³¹,
/// so they tie, as they compare equal.
fn f32_order_key(value: f64) -> Option<u32> {
    const SIGN: u64 = 1 << 63;
    /// Mantissa bits an `f64` has beyond the 23 of an `f32`: zero in a widened `f32`.
    const EXTRA_MANTISSA_BITS: u32 = 52 - 23;
    /// Biased `f64` exponents of the normal `f32`s: `f32` exponents 1..=254, rebiased
    /// from 127 to 1023.
    const F32_NORMAL_EXPONENTS: std::ops::RangeInclusive<u64> = 1023 - 126..=1023 + 127;
    let bits = value.to_bits();
    let magnitude = bits & !SIGN;
    let f32_magnitude = if magnitude == 0 {
        0
    } else {
        let exponent = magnitude >> 52;
        if !F32_NORMAL_EXPONENTS.contains(&exponent)
            || magnitude.trailing_zeros() < EXTRA_MANTISSA_BITS
        {
            return None;
        }
        // Exponent and mantissa shift down together, then the exponent is rebiased: the
        // `f32` magnitude, below 2³¹.
        let rebias = (1023 - 127) << 23;
        ((magnitude >> EXTRA_MANTISSA_BITS) - rebias) as u32
    };
    Some(if bits & SIGN == 0 {
        (1 << 31) + f32_magnitude
    } else {
        (1 << 31) - f32_magnitude
    })
}

/// The general path of [`rank_codes`], right for every non-NaN `f64`: sorts
/// `(order key, row)` records ([`f64_order_key`]) by key.
///
/// Predictions parsed from CSV, or computed in `f64`, spread fairly evenly over their
/// range. Such a column is sorted by value buckets ([`sort_by_value_buckets`]): about 1.3
/// times faster than the radix sort of every key byte that is the fallback, for columns
/// whose values crowd into a few buckets (one outlier far from the rest) or that hold an
/// infinity.
fn rank_codes_as_f64(values: &[f64], scratch: &mut RankScratch, codes: &mut [u32]) {
    let RankScratch {
        keyed_rows,
        bucket_counts,
        ..
    } = scratch;
    if !sort_by_value_buckets(values, keyed_rows, bucket_counts) {
        keyed_rows_in_row_order(values, keyed_rows);
        radsort::sort_by_key(keyed_rows, |record| record.0);
    }
    write_tie_codes(
        keyed_rows,
        |record| record.0,
        |record| u64::from(record.1),
        codes,
    );
}

/// Value buckets per value of a column, before rounding up to a power of two: about 1.6
/// for 5,000 rows, which measured fastest (against 0.4, 0.8 and 3.3).
const BUCKETS_PER_VALUE: f64 = 1.5;
/// Record moves per value that the insertion sort of [`sort_by_value_buckets`] may make
/// before it gives up: an even column needs about one.
const INSERTION_MOVES_PER_VALUE: usize = 8;

/// Sorts `(order key, row)` records of a non-empty column into `keyed_rows` by value
/// buckets, or returns `false` (leaving `keyed_rows` in any order) when the column does not
/// suit them.
///
/// Value `v` goes to bucket `⌊(v − min)·scale⌋` of about 1.5 buckets per value, `scale`
/// being the bucket count over the column's range. Each step (subtraction, multiplication,
/// truncation) is monotone in `v`, so a bucket holds only values no smaller than those of
/// the buckets before it, and equal values share one. After a counting pass and a scatter
/// of the records into their buckets, the records are out of order only within buckets, a
/// handful each in an even column, and one insertion sort over the whole column finishes
/// the job. It gives up after [`INSERTION_MOVES_PER_VALUE`] moves per value (values crowded
/// into few buckets), and the column is refused up front when its range is not a finite,
/// non-zero number (an infinity, a range beyond `f64::MAX`).
fn sort_by_value_buckets(
    values: &[f64],
    keyed_rows: &mut Vec<(u64, u32)>,
    bucket_counts: &mut Vec<u32>,
) -> bool {
    let (mut min, mut max) = (values[0], values[0]);
    for &value in values {
        min = if value < min { value } else { min };
        max = if value > max { value } else { max };
    }
    let buckets = ((values.len() as f64 * BUCKETS_PER_VALUE) as usize).next_power_of_two();
    if min == max {
        // Sorted as it stands (its zeros share one key).
        keyed_rows_in_row_order(values, keyed_rows);
        return true;
    }
    let scale = buckets as f64 / (max - min);
    // Infinite for a range below `buckets` subnormals; zero for an infinite range.
    if !(scale.is_finite() && scale > 0.0) {
        return false;
    }
    let last = buckets - 1;
    // Saturates at 0 below and is capped above: `max` itself lands on `buckets`.
    let bucket = |value: f64| (((value - min) * scale) as usize).min(last);
    bucket_counts.clear();
    bucket_counts.resize(buckets, 0);
    for &value in values {
        bucket_counts[bucket(value)] += 1;
    }
    counts_into_offsets(bucket_counts);
    keyed_rows.resize(values.len(), (0, 0));
    for (&value, row) in values.iter().zip(0u32..) {
        let slot = &mut bucket_counts[bucket(value)];
        keyed_rows[*slot as usize] = (f64_order_key(value), row);
        *slot += 1;
    }
    insertion_sort_within(keyed_rows, values.len() * INSERTION_MOVES_PER_VALUE)
}

/// `keyed_rows` ← the `(order key, row)` record of every value, in row order.
fn keyed_rows_in_row_order(values: &[f64], keyed_rows: &mut Vec<(u64, u32)>) {
    keyed_rows.clear();
    keyed_rows.extend(
        values
            .iter()
            .zip(0u32..)
            .map(|(&value, row)| (f64_order_key(value), row)),
    );
}

/// Turns bucket counts into the offsets where each bucket starts, in place.
fn counts_into_offsets(counts: &mut [u32]) {
    let mut offset = 0;
    for count in counts {
        let bucket_len = *count;
        *count = offset;
        offset += bucket_len;
    }
}

/// Insertion sort of `records` by key, giving up (`false`, the records still a permutation)
/// once it has moved records more than `budget` places in all.
fn insertion_sort_within(records: &mut [(u64, u32)], mut budget: usize) -> bool {
    for next in 1..records.len() {
        let record = records[next];
        let mut place = next;
        while place > 0 && records[place - 1].0 > record.0 {
            records[place] = records[place - 1];
            place -= 1;
        }
        records[place] = record;
        let Some(left) = budget.checked_sub(next - place) else {
            return false;
        };
        budget = left;
    }
    true
}

/// A `u64` that orders like `value` for every non-NaN `f64`, with one key for both zeros:
/// `2⁶³ + magnitude` for a positive value, `2⁶³ − 1 − magnitude` for a negative one (the
/// complement of its bits), `2⁶³` for either zero.
fn f64_order_key(value: f64) -> u64 {
    const SIGN: u64 = 1 << 63;
    let bits = value.to_bits();
    if bits & !SIGN == 0 {
        SIGN
    } else if bits & SIGN == 0 {
        bits | SIGN
    } else {
        !bits
    }
}

/// Writes `code = start + end` at `codes[row]` for every item of each run of equal keys in
/// `sorted`, the run spanning sorted positions `start..end`.
fn write_tie_codes<T, K: PartialEq>(
    sorted: &[T],
    key: impl Fn(&T) -> K,
    row: impl Fn(&T) -> u64,
    codes: &mut [u32],
) {
    let mut start = 0;
    for run in sorted.chunk_by(|a, b| key(a) == key(b)) {
        let end = start + run.len();
        // Below 2^32: `rank_codes` takes fewer than 2^31 values.
        let code = (start + end) as u32;
        for item in run {
            codes[row(item) as usize] = code;
        }
        start = end;
    }
}

/// Lookup tables from rank code to percentile, gaussian and gaussian^1.5, for `n` rows.
#[derive(Debug, Clone)]
pub struct RankScale {
    rows: usize,
    gaussian: Vec<f64>,
    gaussian_pow15: Vec<f64>,
}

impl RankScale {
    /// Tables for ranks over `rows` values.
    #[must_use]
    pub fn new(rows: usize) -> Self {
        let denominator = (2 * rows) as f64;
        let gaussian: Vec<f64> = (0..2 * rows)
            .map(|code| ndtri(code as f64 / denominator))
            .collect();
        let gaussian_pow15 = gaussian.iter().map(|&g| pow15(g)).collect();
        Self {
            rows,
            gaussian,
            gaussian_pow15,
        }
    }

    /// Number of rows the tables are for.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `(r − 0.5) / n` for a rank code.
    #[must_use]
    pub fn percentile(&self, code: u32) -> f64 {
        f64::from(code) / (2 * self.rows) as f64
    }

    /// `Φ⁻¹((r − 0.5) / n)` for a rank code.
    #[must_use]
    pub fn gaussian(&self, code: u32) -> f64 {
        self.gaussian[code as usize]
    }

    /// `pow15(Φ⁻¹((r − 0.5) / n))` for a rank code.
    #[must_use]
    pub fn gaussian_pow15(&self, code: u32) -> f64 {
        self.gaussian_pow15[code as usize]
    }
}

/// Rank codes of every column of a matrix over one set of rows: the shared work of an era.
#[derive(Debug, Clone)]
pub struct RankedColumns {
    rows: usize,
    codes: Vec<u32>,
    constant: Vec<bool>,
    scale: RankScale,
}

impl RankedColumns {
    /// Ranks each column of `values` over `rows` (all rows when `None`), in parallel.
    #[must_use]
    pub fn new(values: MatRef<'_, f64>, rows: Option<&[usize]>) -> Self {
        let row_count = rows.map_or(values.nrows(), <[usize]>::len);
        let rows = proper_subset(rows, values.nrows());
        let mut codes = vec![0u32; row_count * values.ncols()];
        let mut constant = vec![true; values.ncols()];
        if row_count > 0 {
            codes
                .par_chunks_mut(row_count)
                .zip(constant.par_iter_mut())
                .enumerate()
                .for_each_init(
                    || (Vec::new(), RankScratch::new()),
                    |(gathered, scratch), (column, (out, constant))| {
                        *constant = rank_column(values, column, rows, gathered, scratch, out);
                    },
                );
        }
        Self {
            rows: row_count,
            codes,
            constant,
            scale: RankScale::new(row_count),
        }
    }

    /// Rank codes computed earlier (by [`rank_codes`], column after column, `rows` each):
    /// what [`RankedColumns::new`] would make of the values they were computed from, over all
    /// their rows.
    ///
    /// # Panics
    /// If `codes` is not a whole number of columns of `rows` codes.
    #[must_use]
    pub fn from_codes(rows: usize, codes: Vec<u32>) -> Self {
        assert!(
            rows == 0 || codes.len().is_multiple_of(rows),
            "rank codes come in columns of {rows}"
        );
        let constant = if rows == 0 {
            Vec::new()
        } else {
            codes
                .chunks(rows)
                .map(|column| column.iter().all(|&code| code == column[0]))
                .collect()
        };
        Self {
            rows,
            codes,
            constant,
            scale: RankScale::new(rows),
        }
    }

    /// Ranks one vector over `rows` (all when `None`).
    #[must_use]
    pub fn of_vector(values: &[f64], rows: Option<&[usize]>) -> Self {
        Self::new(
            MatRef::from_column_major_slice(values, values.len(), 1),
            rows,
        )
    }

    /// Number of ranked rows.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    #[must_use]
    pub fn columns(&self) -> usize {
        self.constant.len()
    }

    /// The rank codes of one column.
    #[must_use]
    pub fn codes(&self, column: usize) -> &[u32] {
        &self.codes[column * self.rows..(column + 1) * self.rows]
    }

    /// Whether every value of the column ties (a constant column, or fewer than 2 rows).
    #[must_use]
    pub fn is_constant(&self, column: usize) -> bool {
        self.constant[column]
    }

    /// The lookup tables for this row count.
    #[must_use]
    pub fn scale(&self) -> &RankScale {
        &self.scale
    }

    /// One column's codes, with whether it is constant and the tables.
    #[must_use]
    pub fn column(&self, column: usize) -> RankedColumn<'_> {
        RankedColumn {
            codes: self.codes(column),
            constant: self.is_constant(column),
            scale: &self.scale,
        }
    }

    /// Writes `Φ⁻¹(rank)` of a column into `out`.
    pub fn gaussian_into(&self, column: usize, out: &mut [f64]) {
        self.column(column).gaussian_into(out);
    }

    /// `Φ⁻¹(rank)` of a column.
    #[must_use]
    pub fn gaussian(&self, column: usize) -> Vec<f64> {
        let mut out = vec![0.0; self.rows];
        self.gaussian_into(column, &mut out);
        out
    }

    /// `Φ⁻¹(rank)` of every column as a matrix (rows × columns), built in parallel.
    #[must_use]
    pub fn gaussian_matrix(&self) -> faer::Mat<f64> {
        let mut out = faer::Mat::<f64>::zeros(self.rows, self.columns());
        fill_columns(
            &mut out,
            || (),
            |column, slice, ()| {
                self.column(column).gaussian_into(slice);
            },
        );
        out
    }

    /// `pow15(Φ⁻¹(rank))` of every column as a matrix (rows × columns), built in parallel.
    #[must_use]
    pub fn gaussian_pow15_matrix(&self) -> faer::Mat<f64> {
        let mut out = faer::Mat::<f64>::zeros(self.rows, self.columns());
        fill_columns(
            &mut out,
            || (),
            |column, slice, ()| {
                self.column(column).gaussian_pow15_into(slice);
            },
        );
        out
    }
}

/// One column's rank codes, whether they are all equal, and the tables that turn them
/// into scores.
#[derive(Debug, Clone, Copy)]
pub struct RankedColumn<'a> {
    /// The code of each row.
    pub codes: &'a [u32],
    /// Whether every value ties (a constant column, or fewer than 2 rows).
    pub constant: bool,
    /// The tables for this row count.
    pub scale: &'a RankScale,
}

impl RankedColumn<'_> {
    /// Writes `Φ⁻¹(rank)` of each row into `out`.
    pub fn gaussian_into(&self, out: &mut [f64]) {
        for (o, &code) in out.iter_mut().zip(self.codes) {
            *o = self.scale.gaussian(code);
        }
    }

    /// Writes `pow15(Φ⁻¹(rank))` of each row into `out`.
    pub fn gaussian_pow15_into(&self, out: &mut [f64]) {
        for (o, &code) in out.iter_mut().zip(self.codes) {
            *o = self.scale.gaussian_pow15(code);
        }
    }
}

/// Buffers to rank one column at a time, reused from column to column (one per thread).
#[derive(Debug, Clone, Default)]
pub struct ColumnRanker {
    gathered: Vec<f64>,
    scratch: RankScratch,
    codes: Vec<u32>,
}

impl ColumnRanker {
    /// Ranks `column` of `values` over `rows` (all rows when `None`); the codes are kept in
    /// `self` until the next call. `scale` must be for as many rows as are ranked.
    pub fn rank<'s>(
        &'s mut self,
        values: MatRef<'_, f64>,
        column: usize,
        rows: Option<&[usize]>,
        scale: &'s RankScale,
    ) -> RankedColumn<'s> {
        let row_count = rows.map_or(values.nrows(), <[usize]>::len);
        debug_assert_eq!(scale.rows(), row_count);
        self.codes.resize(row_count, 0);
        let constant = rank_column(
            values,
            column,
            rows,
            &mut self.gathered,
            &mut self.scratch,
            &mut self.codes,
        );
        RankedColumn {
            codes: &self.codes,
            constant,
            scale,
        }
    }
}

/// `rows`, or `None` when they are every row of a `row_count`-row matrix in order (every
/// row has a target, the usual case): such a column is ranked in place, without gathering.
pub(crate) fn proper_subset(rows: Option<&[usize]>, row_count: usize) -> Option<&[usize]> {
    rows.filter(|rows| !rows.iter().copied().eq(0..row_count))
}

/// Ranks every column of `values` over `rows` (all rows when `None`) and hands each
/// column to `consume(column, ranked, buffer)` at once, in parallel, without keeping the
/// codes: what one metric needs, at the cost of per-thread buffers instead of a
/// `rows × columns` table that a fresh process must fault in page by page. `buffer` is a
/// per-thread scratch column of the ranked length, for `consume` to write into.
pub fn map_ranked<T: Send>(
    values: MatRef<'_, f64>,
    rows: Option<&[usize]>,
    consume: impl Fn(usize, RankedColumn<'_>, &mut [f64]) -> T + Sync + Send,
) -> Vec<T> {
    let row_count = rows.map_or(values.nrows(), <[usize]>::len);
    let rows = proper_subset(rows, values.nrows());
    let scale = RankScale::new(row_count);
    (0..values.ncols())
        .into_par_iter()
        .map_init(
            || (ColumnRanker::default(), vec![0.0; row_count]),
            |(ranker, buffer), column| {
                consume(column, ranker.rank(values, column, rows, &scale), buffer)
            },
        )
        .collect()
}

/// Rank codes of one column over `rows` (all rows when `None`) into `out`; returns whether
/// the column is constant over those rows.
fn rank_column(
    values: MatRef<'_, f64>,
    column: usize,
    rows: Option<&[usize]>,
    gathered: &mut Vec<f64>,
    scratch: &mut RankScratch,
    out: &mut [u32],
) -> bool {
    if out.is_empty() {
        return true;
    }
    let source = values.col(column);
    let column_values = match (rows, source.try_as_col_major()) {
        // All rows of a contiguous column: ranked in place, no copy.
        (None, Some(contiguous)) => contiguous.as_slice(),
        (None, None) => {
            gathered.clear();
            gathered.extend(source.iter().copied());
            gathered.as_slice()
        }
        (Some(rows), _) => {
            gathered.clear();
            gathered.extend(rows.iter().map(|&r| source[r]));
            gathered.as_slice()
        }
    };
    rank_codes(column_values, scratch, out);
    // Checked here, in parallel, while the codes are still in cache.
    out.iter().all(|&code| code == out[0])
}

/// Fills each column of `out` in parallel with `fill(column, slice, state)`, where `state`
/// is per thread (made by `init`), and collects what each call returns.
pub(crate) fn fill_columns<S, T: Send>(
    out: &mut faer::Mat<f64>,
    init: impl Fn() -> S + Sync + Send,
    fill: impl Fn(usize, &mut [f64], &mut S) -> T + Sync + Send,
) -> Vec<T> {
    out.as_mut()
        .par_col_iter_mut()
        .enumerate()
        .map_init(init, |state, (column, col)| {
            let slice = col
                .try_as_col_major_mut()
                .expect("columns of an owned matrix are contiguous")
                .as_slice_mut();
            fill(column, slice, state)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn codes(values: &[f64]) -> Vec<u32> {
        let mut out = vec![0; values.len()];
        rank_codes(values, &mut RankScratch::new(), &mut out);
        out
    }

    /// Codes the slow, obvious way: sort the rows by value (`-0.0` made `0.0`, so that the
    /// zeros tie) and give every row of a tie group spanning `start..end` `start + end`.
    fn reference_codes(values: &[f64]) -> Vec<u32> {
        let normalized: Vec<f64> = values
            .iter()
            .map(|&v| if v == 0.0 { 0.0 } else { v })
            .collect();
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| normalized[a].total_cmp(&normalized[b]));
        let mut codes = vec![0; values.len()];
        let mut start = 0;
        while start < order.len() {
            let mut end = start + 1;
            while end < order.len() && normalized[order[end]] == normalized[order[start]] {
                end += 1;
            }
            for &row in &order[start..end] {
                codes[row] = u32::try_from(start + end).unwrap();
            }
            start = end;
        }
        codes
    }

    /// The codes of the f32 fast path, or `None` when it declines the column.
    fn fast_path_codes(values: &[f64], scratch: &mut RankScratch) -> Option<Vec<u32>> {
        let mut out = vec![0; values.len()];
        rank_codes_as_f32(values, scratch, &mut out).then_some(out)
    }

    /// The codes of the general path (the implementation before the fast path existed).
    fn general_path_codes(values: &[f64]) -> Vec<u32> {
        let mut out = vec![0; values.len()];
        rank_codes_as_f64(values, &mut RankScratch::new(), &mut out);
        out
    }

    /// A kind of value a random column draws from.
    type Draw = fn(&mut ChaCha8Rng) -> f64;

    /// Kinds of values the fast path takes, zeros and normal `f32`s: predictions, heavy
    /// ties, negatives, both zeros, the extremes of the normal range, any normal `f32` bits.
    const FAST_PATH_DRAWS: [Draw; 8] = [
        |rng| f64::from(rng.random::<f32>()),
        // Rounded to one or two decimals: a few distinct values, each tied many times.
        |rng| f64::from(((rng.random::<f64>() * 10.0).round() / 10.0) as f32),
        |rng| f64::from(((rng.random::<f64>() * 100.0).round() / 100.0) as f32),
        |rng| -f64::from(((rng.random::<f64>() * 100.0).round() / 100.0) as f32),
        |rng| if rng.random_bool(0.5) { -0.0 } else { 0.0 },
        |rng| {
            let extremes = [f32::MIN, f32::MAX, f32::MIN_POSITIVE, -f32::MIN_POSITIVE];
            f64::from(extremes[rng.random_range(0..extremes.len())])
        },
        |rng| {
            let value = f32::from_bits(rng.random::<u32>());
            f64::from(if value.is_normal() { value } else { 1.5 })
        },
        |rng| f64::from(((rng.random::<f64>() - 0.5) * 2e6) as f32),
    ];

    /// Kinds of values only the general path takes: `f32` infinities and subnormals, and
    /// values that are not `f32`s at all, beyond its range or finer than its precision.
    const GENERAL_PATH_DRAWS: [Draw; 7] = [
        |rng| {
            if rng.random_bool(0.5) {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            }
        },
        |rng| f64::from(f32::from_bits(rng.random_range(1..1 << 23))),
        |rng| {
            if rng.random_bool(0.5) {
                1e-300
            } else {
                -1e-300
            }
        },
        |rng| if rng.random_bool(0.5) { 1e300 } else { -1e300 },
        |rng| rng.random::<f64>(),
        // Two decimals without the round trip through `f32`: ties again.
        |rng| (rng.random::<f64>() * 100.0).round() / 100.0 + 1e-9,
        |_| f64::from(f32::MAX) * 2.0,
    ];

    /// Every kind of value, on either path.
    fn all_draws() -> Vec<Draw> {
        FAST_PATH_DRAWS
            .iter()
            .chain(&GENERAL_PATH_DRAWS)
            .copied()
            .collect()
    }

    /// `rank_codes` with a reused `scratch` gives the reference's codes for `values`.
    fn assert_ranks_like_the_reference(values: &[f64], scratch: &mut RankScratch) {
        let mut out = vec![0; values.len()];
        rank_codes(values, scratch, &mut out);
        assert_eq!(out, reference_codes(values), "{values:?}");
    }

    /// A column of `len` values drawn from a random few of `draws`.
    fn random_column(rng: &mut ChaCha8Rng, len: usize, draws: &[Draw]) -> Vec<f64> {
        let mut chosen: Vec<Draw> = draws
            .iter()
            .copied()
            .filter(|_| rng.random_bool(0.4))
            .collect();
        if chosen.is_empty() {
            chosen.push(draws[rng.random_range(0..draws.len())]);
        }
        (0..len)
            .map(|_| chosen[rng.random_range(0..chosen.len())](rng))
            .collect()
    }

    /// Column lengths from one value to a 5,000-row era.
    fn random_len(rng: &mut ChaCha8Rng) -> usize {
        if rng.random_bool(0.1) {
            rng.random_range(1..=5_000)
        } else {
            rng.random_range(1..=60)
        }
    }

    #[test]
    fn columns_of_zeros_and_normal_f32s_take_the_fast_path_and_rank_like_the_reference() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut scratch = RankScratch::new();
        for _ in 0..1_000 {
            let len = random_len(&mut rng);
            let values = random_column(&mut rng, len, &FAST_PATH_DRAWS);
            let expected = reference_codes(&values);
            assert_eq!(
                fast_path_codes(&values, &mut scratch).as_ref(),
                Some(&expected),
                "{values:?}"
            );
            assert_eq!(general_path_codes(&values), expected, "{values:?}");
            assert_eq!(codes(&values), expected, "{values:?}");
        }
    }

    #[test]
    fn columns_with_one_value_the_fast_path_declines_rank_like_the_reference() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut scratch = RankScratch::new();
        for _ in 0..1_000 {
            let len = random_len(&mut rng);
            // A fast-path column but for one value, anywhere (first and last included).
            let mut values = random_column(&mut rng, len, &FAST_PATH_DRAWS);
            let position = [0, len - 1, rng.random_range(0..len)][rng.random_range(0..3)];
            values[position] =
                GENERAL_PATH_DRAWS[rng.random_range(0..GENERAL_PATH_DRAWS.len())](&mut rng);
            assert_eq!(fast_path_codes(&values, &mut scratch), None, "{values:?}");
            assert_eq!(codes(&values), reference_codes(&values), "{values:?}");
        }
    }

    #[test]
    fn columns_mixing_every_kind_of_value_rank_like_the_reference() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let all_draws = all_draws();
        let mut scratch = RankScratch::new();
        for _ in 0..1_000 {
            let len = random_len(&mut rng);
            let values = random_column(&mut rng, len, &all_draws);
            assert_ranks_like_the_reference(&values, &mut scratch);
        }
    }

    #[test]
    fn tiny_and_constant_columns_rank_like_the_reference() {
        let columns: [&[f64]; 16] = [
            &[],
            &[0.25],
            &[0.1],
            &[0.25, 0.75],
            &[0.75, 0.25],
            &[0.5, 0.5],
            &[0.1, 0.1],
            &[-0.0, 0.0],
            &[0.0, -0.0, -0.0],
            &[f64::INFINITY, f64::NEG_INFINITY],
            &[f64::from(f32::MAX), f64::INFINITY, f64::from(f32::MIN)],
            &[1e300, f64::INFINITY],
            &[0.5; 7],
            &[0.1; 7],
            &[1e-300; 3],
            &[-1.0, 1e-300, 0.0, -0.0],
        ];
        for values in columns {
            assert_eq!(codes(values), reference_codes(values), "{values:?}");
        }
    }

    /// Whether the value buckets sort `values` (`Some(codes)`), or refuse the column.
    fn value_bucket_codes(values: &[f64]) -> Option<Vec<u32>> {
        let mut keyed_rows = Vec::new();
        if !sort_by_value_buckets(values, &mut keyed_rows, &mut Vec::new()) {
            return None;
        }
        let mut out = vec![0; values.len()];
        write_tie_codes(&keyed_rows, |r| r.0, |r| u64::from(r.1), &mut out);
        Some(out)
    }

    #[test]
    fn even_full_precision_columns_sort_by_value_buckets_and_rank_like_the_reference() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let draws: [Draw; 5] = [
            |rng| rng.random::<f64>(),
            // A bell: the sum of four uniforms, both signs.
            |rng| (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0,
            // Ties without being f32s.
            |rng| (rng.random::<f64>() * 100.0).round() / 100.0 + 1e-9,
            |rng| if rng.random_bool(0.5) { -0.0 } else { 0.0 },
            |rng| -rng.random::<f64>() * 1e-3,
        ];
        for _ in 0..300 {
            let len = random_len(&mut rng);
            let draw = draws[rng.random_range(0..draws.len())];
            let values: Vec<f64> = (0..len).map(|_| draw(&mut rng)).collect();
            assert_eq!(
                value_bucket_codes(&values),
                Some(reference_codes(&values)),
                "{values:?}"
            );
        }
    }

    #[test]
    fn columns_crowded_into_few_value_buckets_fall_back_and_rank_like_the_reference() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let even =
            |rng: &mut ChaCha8Rng| -> Vec<f64> { (0..5_000).map(|_| rng.random()).collect() };
        let mut far_outlier = even(&mut rng);
        far_outlier[17] = 1e12;
        let mut infinity = even(&mut rng);
        infinity[0] = f64::NEG_INFINITY;
        let mut beyond_max = even(&mut rng);
        beyond_max[1] = f64::MAX;
        beyond_max[2] = -f64::MAX;
        let subnormal_range = vec![0.0, 5e-324, 1e-323, 5e-324];
        for values in [far_outlier, infinity, beyond_max, subnormal_range] {
            assert_eq!(value_bucket_codes(&values), None);
            assert_eq!(codes(&values), reference_codes(&values));
        }
    }

    #[test]
    fn a_digit_shared_by_every_value_skips_its_pass_and_keeps_the_order() {
        // Keys 1.0 + (high << 20) + low: relative to the smallest (1.0 itself), the middle
        // 10-bit digit is 0 for every value, so only the first and third passes run.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let base = 1.0f32.to_bits();
        let mut values: Vec<f64> = (0..2_000)
            .map(|_| {
                let bits = base + (rng.random_range(0..4u32) << 20) + rng.random_range(0..1024u32);
                f64::from(f32::from_bits(bits))
            })
            .collect();
        values.push(1.0);
        let expected = reference_codes(&values);
        assert_eq!(
            fast_path_codes(&values, &mut RankScratch::new()),
            Some(expected)
        );
    }

    #[test]
    fn one_scratch_ranks_columns_of_any_length_in_any_order() {
        // The buffers are resized, not cleared, between columns: longer and shorter
        // columns, on either path, must not see what the last one left.
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let all_draws = all_draws();
        let mut scratch = RankScratch::new();
        for _ in 0..300 {
            let len = rng.random_range(0..=3_000);
            let values = random_column(&mut rng, len, &all_draws);
            assert_ranks_like_the_reference(&values, &mut scratch);
        }
    }

    #[test]
    fn f32_keys_order_like_the_values_and_the_zeros_share_one() {
        let ascending = [
            f32::MIN,
            -1.0,
            -f32::MIN_POSITIVE,
            0.0,
            f32::MIN_POSITIVE,
            1.0 - f32::EPSILON / 2.0,
            1.0,
            1.0 + f32::EPSILON,
            f32::MAX,
        ];
        let keys: Vec<u32> = ascending
            .iter()
            .map(|&value| f32_order_key(f64::from(value)).expect("a normal f32 or zero"))
            .collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "{keys:?}");
        for value in ascending {
            // The key is the f32 bits, moved so that the order holds across the sign.
            let bits = value.abs().to_bits();
            let expected = if value < 0.0 {
                (1 << 31) - bits
            } else {
                (1 << 31) + bits
            };
            assert_eq!(f32_order_key(f64::from(value)), Some(expected), "{value}");
        }
        assert_eq!(f32_order_key(-0.0), f32_order_key(0.0));
    }

    #[test]
    fn values_other_than_zeros_and_normal_f32s_have_no_f32_key() {
        let declined = [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::from(f32::from_bits(1)),
            -f64::from(f32::MIN_POSITIVE) / 2.0,
            0.1,
            // One bit finer than an f32, then the finest f64 step.
            1.0 + f64::from(f32::EPSILON) / 2.0,
            1.0 + f64::EPSILON,
            f64::from(f32::MAX) * 2.0,
            f64::from(f32::MIN_POSITIVE) / 2.0f64.powi(30),
            1e-300,
        ];
        for value in declined {
            assert_eq!(f32_order_key(value), None, "{value:e}");
        }
    }

    #[test]
    fn ties_share_the_average_rank_like_pandas() {
        // pandas: [0.3, 0.1, 0.3, 0.2].rank() = [3.5, 1, 3.5, 2] → codes 2r − 1.
        assert_eq!(codes(&[0.3, 0.1, 0.3, 0.2]), vec![6, 1, 6, 3]);
        // A three-way tie at the bottom: ranks 2, 2, 2, 4.
        assert_eq!(codes(&[1.0, 1.0, 1.0, 2.0]), vec![3, 3, 3, 7]);
    }

    #[test]
    fn negative_zero_ties_with_zero_and_order_follows_value() {
        assert_eq!(codes(&[0.0, -0.0, -1.0, 5.0]), vec![4, 4, 1, 7]);
    }

    #[test]
    fn percentiles_are_strictly_inside_the_unit_interval() {
        let scale = RankScale::new(3);
        let values = [0.5, 0.25, 0.75];
        for &code in &codes(&values) {
            let p = scale.percentile(code);
            assert!(p > 0.0 && p < 1.0);
        }
        // (r − 0.5) / n computed the pandas way equals code / 2n exactly.
        for r2 in 1..6u32 {
            let r = f64::from(r2) / 2.0 + 0.5;
            assert_eq!((r - 0.5) / 3.0, scale.percentile(r2));
        }
    }

    #[test]
    fn constant_and_single_row_columns_are_flagged() {
        let data = [1.0, 1.0, 1.0, 0.0, 1.0, 2.0];
        let ranked = RankedColumns::new(MatRef::from_column_major_slice(&data, 3, 2), None);
        assert!(ranked.is_constant(0));
        assert!(!ranked.is_constant(1));
        let one = RankedColumns::of_vector(&[4.0], None);
        assert!(one.is_constant(0));
        assert_eq!(one.gaussian(0), vec![0.0]);
    }

    #[test]
    fn strided_columns_rank_like_contiguous_ones() {
        // A row-major matrix: its columns are not contiguous and are copied to be ranked.
        let data = [0.3, 5.0, 0.1, 5.0, 0.2, 4.0];
        let strided = RankedColumns::new(MatRef::from_row_major_slice(&data, 3, 2), None);
        let contiguous = RankedColumns::new(
            MatRef::from_column_major_slice(&[0.3, 0.1, 0.2, 5.0, 5.0, 4.0], 3, 2),
            None,
        );
        for column in 0..2 {
            assert_eq!(strided.codes(column), contiguous.codes(column));
            assert!(!strided.is_constant(column));
        }
        assert_eq!(strided.codes(0), &[5, 1, 3]);
        assert_eq!(strided.codes(1), &[4, 4, 1]);
    }

    #[test]
    fn listing_every_row_in_order_ranks_like_all_rows_and_any_other_order_follows_the_list() {
        let data = [0.5, 0.25, 0.75, 0.25];
        let all = RankedColumns::of_vector(&data, None);
        let listed = RankedColumns::of_vector(&data, Some(&[0, 1, 2, 3]));
        assert_eq!(listed.codes(0), all.codes(0));
        assert_eq!(all.codes(0), &[5, 2, 7, 2]);
        let reversed = RankedColumns::of_vector(&data, Some(&[3, 2, 1, 0]));
        assert_eq!(reversed.codes(0), &[2, 7, 2, 5]);
    }

    #[test]
    fn ranking_a_subset_of_rows_ranks_only_those_rows() {
        let data = [9.0, 1.0, 5.0, 3.0];
        let ranked = RankedColumns::of_vector(&data, Some(&[1, 3, 2]));
        assert_eq!(ranked.codes(0), &[1, 3, 5]);
    }
}
