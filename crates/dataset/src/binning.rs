//! Per-era equal-frequency binning of features and the 5/20/50/20/5 binning of targets.
//!
//! Both bin a column by the *position* of each value in the sorted column:
//!
//! - Values are sorted; a run of equal values (a tie) shares one position, the middle of the
//!   run (`(first + last) / 2`, 0-based), so equal values always get the same bin.
//! - A value at position `p` of `n` finite values has quantile `q = (p + 0.5) / n`, and its bin
//!   is the number of cut points at or below `q`. For features the cuts are 0.2, 0.4, 0.6, 0.8
//!   (five bins of 20 %: without ties each bin holds `n/5` values, give or take one); for
//!   targets 0.05, 0.25, 0.75, 0.95 (5/20/50/20/5 %).
//! - Missing values (NaN, ±∞) are not counted in `n`. A missing feature value gets the middle
//!   bin, 2, as Numerai's files do; a missing target stays NaN. A column with no finite values,
//!   or a constant one, is all 2 (features) or all 0.5 (targets).

/// Feature bins: 20 % each.
const FEATURE_CUTS: [f64; 4] = [0.2, 0.4, 0.6, 0.8];
/// Target bins: 5/20/50/20/5 %.
const TARGET_CUTS: [f64; 4] = [0.05, 0.25, 0.75, 0.95];
/// The values of the five target bins.
pub const TARGET_VALUES: [f32; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

/// Bins `values` into 0..=4, writing into `bins` (same length). `scratch` is reused between
/// calls to save allocations.
pub fn bin_feature(values: &[f64], bins: &mut [i8], scratch: &mut Vec<(f64, u32)>) {
    bins.fill(2);
    positions(
        values,
        scratch,
        |row, bin| bins[row] = bin as i8,
        &FEATURE_CUTS,
    );
}

/// Bins every column of `columns` (in parallel), as [`bin_feature`] does.
pub fn bin_features(columns: &[Vec<f64>]) -> Vec<Vec<i8>> {
    use rayon::prelude::*;
    columns
        .par_iter()
        .map_init(Vec::new, |scratch, column| {
            let mut bins = vec![2; column.len()];
            bin_feature(column, &mut bins, scratch);
            bins
        })
        .collect()
}

/// Bins `values` 5/20/50/20/5 % into {0, 0.25, 0.5, 0.75, 1}; NaN stays NaN.
pub fn bin_target(values: &[f64]) -> Vec<f32> {
    let mut binned: Vec<f32> = values
        .iter()
        .map(|v| if v.is_finite() { 0.5 } else { f32::NAN })
        .collect();
    let mut scratch = Vec::new();
    positions(
        values,
        &mut scratch,
        |row, bin| binned[row] = TARGET_VALUES[bin],
        &TARGET_CUTS,
    );
    binned
}

/// `(rank − 0.5) / n` over the `n` finite values, ties sharing their average rank: values in
/// (0, 1). A missing value gets 0.5.
pub fn rank_percentiles(values: &[f64]) -> Vec<f64> {
    let mut out = vec![0.5; values.len()];
    let mut sorted: Vec<(f64, u32)> = values
        .iter()
        .enumerate()
        .filter(|(_, value)| value.is_finite())
        .map(|(row, &value)| (value, row as u32))
        .collect();
    let n = sorted.len();
    radsort::sort_by_key(&mut sorted, |&(value, _)| value);
    let mut first = 0;
    while first < n {
        let mut last = first;
        while last + 1 < n && sorted[last + 1].0 == sorted[first].0 {
            last += 1;
        }
        let rank = (first + last) as f64 / 2.0 + 1.0;
        for &(_, row) in &sorted[first..=last] {
            out[row as usize] = (rank - 0.5) / n as f64;
        }
        first = last + 1;
    }
    out
}

/// Calls `assign(row, bin)` for every finite value, with its bin under `cuts`.
fn positions(
    values: &[f64],
    sorted: &mut Vec<(f64, u32)>,
    mut assign: impl FnMut(usize, usize),
    cuts: &[f64; 4],
) {
    sorted.clear();
    sorted.extend(
        values
            .iter()
            .enumerate()
            .filter(|(_, value)| value.is_finite())
            .map(|(row, &value)| (value, row as u32)),
    );
    let n = sorted.len();
    if n == 0 {
        return;
    }
    radsort::sort_by_key(sorted, |&(value, _)| value);
    let mut first = 0;
    while first < n {
        let value = sorted[first].0;
        let mut last = first;
        while last + 1 < n && sorted[last + 1].0 == value {
            last += 1;
        }
        if first == 0 && last == n - 1 {
            // A constant column carries no order: everything stays in the middle.
            return;
        }
        let position = (first + last) as f64 / 2.0;
        let quantile = (position + 0.5) / n as f64;
        let bin = cuts.iter().filter(|&&cut| cut <= quantile).count();
        for &(_, row) in &sorted[first..=last] {
            assign(row as usize, bin);
        }
        first = last + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bins(values: &[f64]) -> Vec<i8> {
        let mut out = vec![0; values.len()];
        bin_feature(values, &mut out, &mut Vec::new());
        out
    }

    #[test]
    fn distinct_values_fill_five_equal_bins() {
        let values: Vec<f64> = (0..100).map(|i| ((i * 37) % 100) as f64).collect();
        let binned = bins(&values);
        for bin in 0..5 {
            assert_eq!(binned.iter().filter(|&&b| b == bin).count(), 20);
        }
        assert_eq!(binned[0], 0);
        assert_eq!(binned[values.iter().position(|&v| v == 99.0).unwrap()], 4);
    }

    #[test]
    fn uneven_counts_differ_by_at_most_one() {
        for n in [5, 7, 12, 13, 999] {
            let values: Vec<f64> = (0..n).map(f64::from).collect();
            let binned = bins(&values);
            let counts: Vec<usize> = (0..5)
                .map(|bin| binned.iter().filter(|&&b| b == bin).count())
                .collect();
            let (low, high) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(high - low <= 1, "n = {n}: {counts:?}");
        }
    }

    #[test]
    fn ties_share_a_bin_and_missing_values_are_two() {
        let values = [
            1.0,
            1.0,
            1.0,
            1.0,
            5.0,
            f64::NAN,
            7.0,
            f64::INFINITY,
            9.0,
            10.0,
        ];
        let binned = bins(&values);
        assert!(binned[..4].iter().all(|&b| b == binned[0]));
        assert_eq!(binned[5], 2);
        assert_eq!(binned[7], 2);
        assert_eq!(binned[9], 4);
    }

    #[test]
    fn constant_and_empty_columns_are_all_two() {
        assert_eq!(bins(&[3.0; 6]), vec![2; 6]);
        assert_eq!(bins(&[f64::NAN; 4]), vec![2; 4]);
        assert!(bins(&[]).is_empty());
    }

    #[test]
    fn rank_percentiles_share_ties_and_stay_inside_zero_one() {
        let ranks = rank_percentiles(&[3.0, 1.0, 3.0, f64::NAN, 2.0]);
        assert_eq!(ranks[1], 0.125);
        assert_eq!(ranks[4], 0.375);
        assert_eq!(ranks[0], ranks[2]);
        assert_eq!(ranks[0], 0.75);
        assert_eq!(ranks[3], 0.5);
        assert!(rank_percentiles(&[]).is_empty());
    }

    #[test]
    fn targets_are_binned_5_20_50_20_5() {
        let values: Vec<f64> = (0..1000).map(|i| f64::from((i * 7919) % 1000)).collect();
        let binned = bin_target(&values);
        let count = |v: f32| binned.iter().filter(|&&b| b == v).count();
        assert_eq!(
            [count(0.0), count(0.25), count(0.5), count(0.75), count(1.0)],
            [50, 200, 500, 200, 50]
        );
        assert!(bin_target(&[f64::NAN, 1.0, 2.0])[0].is_nan());
    }
}
