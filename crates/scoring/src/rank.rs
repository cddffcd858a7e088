//! Tie-kept ranks, kept as integer codes, and the tables that turn them into scores.
//!
//! pandas' `rank(method="average")` gives a tie group spanning sorted positions `i..j`
//! (0-based, `j` exclusive) the rank `(i + 1 + j) / 2`, a multiple of ½. numerai-tools then
//! maps rank `r` to `(r − 0.5) / n`. We store `code = 2r − 1 = i + j`, an integer in
//! `1..2n`, so that `(r − 0.5) / n = code / 2n` exactly (both are one correctly rounded
//! division of the same real number). Every transform of a rank (gaussian, its 1.5 power)
//! then becomes a lookup in a table of `2n` entries computed once per row count: this is
//! the "gaussianized rank table" that all submissions of an era share.

use faer::MatRef;
use rayon::prelude::*;

use crate::gaussian::ndtri;
use crate::stats::pow15;

/// Tie-kept rank codes of `values` into `codes` (same length): `code = 2r − 1`.
///
/// `scratch` is reused between calls to avoid allocation. Values must not be NaN.
pub fn rank_codes(values: &[f64], scratch: &mut Vec<(f64, u32)>, codes: &mut [u32]) {
    debug_assert_eq!(values.len(), codes.len());
    scratch.clear();
    scratch.extend(values.iter().enumerate().map(|(i, &v)| (v, i as u32)));
    // A radix sort over the float keys: predictions are mostly widened f32 in [0, 1],
    // so most key bytes are the same for every row and their passes are skipped.
    radsort::sort_by_key(scratch, |pair| pair.0);
    let mut start = 0;
    while start < scratch.len() {
        let key = scratch[start].0;
        let mut end = start + 1;
        while end < scratch.len() && scratch[end].0 == key {
            end += 1;
        }
        let code = (start + end) as u32;
        for &(_, row) in &scratch[start..end] {
            codes[row as usize] = code;
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
        let mut codes = vec![0u32; row_count * values.ncols()];
        if row_count > 0 {
            codes.par_chunks_mut(row_count).enumerate().for_each_init(
                || (Vec::new(), Vec::new()),
                |(gathered, scratch), (column, out)| {
                    let source = values.col(column);
                    gathered.clear();
                    match rows {
                        Some(rows) => gathered.extend(rows.iter().map(|&r| source[r])),
                        None => gathered.extend(source.iter().copied()),
                    }
                    rank_codes(gathered, scratch, out);
                },
            );
        }
        let constant = codes_constant(&codes, row_count, values.ncols());
        Self {
            rows: row_count,
            codes,
            constant,
            scale: RankScale::new(row_count),
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

    /// Writes `Φ⁻¹(rank)` of a column into `out`.
    pub fn gaussian_into(&self, column: usize, out: &mut [f64]) {
        for (o, &code) in out.iter_mut().zip(self.codes(column)) {
            *o = self.scale.gaussian(code);
        }
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
        fill_columns(&mut out, |column, slice| self.gaussian_into(column, slice));
        out
    }

    /// `pow15(Φ⁻¹(rank))` of every column as a matrix (rows × columns), built in parallel.
    #[must_use]
    pub fn gaussian_pow15_matrix(&self) -> faer::Mat<f64> {
        let mut out = faer::Mat::<f64>::zeros(self.rows, self.columns());
        fill_columns(&mut out, |column, slice| {
            for (o, &code) in slice.iter_mut().zip(self.codes(column)) {
                *o = self.scale.gaussian_pow15(code);
            }
        });
        out
    }
}

/// Fills each column of `out` with `fill(column, slice)`, columns in parallel.
pub(crate) fn fill_columns(
    out: &mut faer::Mat<f64>,
    fill: impl Fn(usize, &mut [f64]) + Sync + Send,
) {
    out.as_mut()
        .par_col_iter_mut()
        .enumerate()
        .for_each(|(column, col)| {
            let slice = col
                .try_as_col_major_mut()
                .expect("columns of an owned matrix are contiguous")
                .as_slice_mut();
            fill(column, slice);
        });
}

fn codes_constant(codes: &[u32], rows: usize, columns: usize) -> Vec<bool> {
    (0..columns)
        .map(|c| {
            let column = &codes[c * rows..(c + 1) * rows];
            column
                .first()
                .is_none_or(|&first| column.iter().all(|&x| x == first))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(values: &[f64]) -> Vec<u32> {
        let mut out = vec![0; values.len()];
        rank_codes(values, &mut Vec::new(), &mut out);
        out
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
    fn ranking_a_subset_of_rows_ranks_only_those_rows() {
        let data = [9.0, 1.0, 5.0, 3.0];
        let ranked = RankedColumns::of_vector(&data, Some(&[1, 3, 2]));
        assert_eq!(ranked.codes(0), &[1, 3, 5]);
    }
}
