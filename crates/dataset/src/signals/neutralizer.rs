//! The Signals neutralizer and sample weights: the exposure columns of a panel ([`Layout`]),
//! their weighted orthonormalization, and the per-stock weights the payout score uses.

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::path::Path;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::Error;
use crate::history::History;
use crate::recipe::Measure;
use crate::targets::Exposures;

/// The measure the sample weights come from: log mean traded value over 20 days.
pub(super) const WEIGHT_MEASURE: Measure = Measure::Liquidity { window: 20 };

/// The neutralizer columns before the sector and country dummies, in Gram–Schmidt order.
const STYLE_NEUTRALIZERS: [&str; 6] = [
    "neutralizer_intercept",
    "neutralizer_beta",
    "neutralizer_size",
    "neutralizer_value",
    "neutralizer_momentum",
    "neutralizer_volatility",
];

/// A neutralizer column whose weighted residual is below this share of its weighted norm,
/// after projecting out the earlier columns, is dependent on them and left at zero.
pub const DEPENDENCE_TOLERANCE: f64 = 1e-8;

/// The neutralizer's columns, fixed for a panel: the styles, then one dummy per sector and
/// per country but the first of each.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    sectors: Vec<String>,
    countries: Vec<String>,
    pub(super) names: Vec<String>,
}

impl Layout {
    pub(super) fn new(sectors: BTreeSet<String>, countries: BTreeSet<String>) -> Self {
        let sectors: Vec<String> = sectors.into_iter().collect();
        let countries: Vec<String> = countries.into_iter().collect();
        let mut names: Vec<String> = STYLE_NEUTRALIZERS
            .iter()
            .map(|name| name.to_string())
            .collect();
        let mut taken: HashSet<String> = names.iter().cloned().collect();
        for (kind, values) in [("sector", &sectors), ("country", &countries)] {
            for value in values.iter().skip(1) {
                let base = format!("neutralizer_{kind}_{}", slug(value));
                let mut name = base.clone();
                let mut suffix = 2;
                while !taken.insert(name.clone()) {
                    name = format!("{base}_{suffix}");
                    suffix += 1;
                }
                names.push(name);
            }
        }
        Self {
            sectors,
            countries,
            names,
        }
    }
}

/// `"Information Technology"` → `"information_technology"`.
fn slug(value: &str) -> String {
    let slug: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let slug = slug.trim_matches('_').to_string();
    if slug.is_empty() {
        "unnamed".to_string()
    } else {
        slug
    }
}

/// The distinct sectors and countries of a stock panel, reading only those two columns.
pub(super) fn scan_groups(path: &Path) -> Result<(BTreeSet<String>, BTreeSet<String>), Error> {
    let file = File::open(path).map_err(Error::io(path, "open the panel"))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|source| Error::panel(path, format!("is not a Parquet file: {source}")))?;
    let mut roots = Vec::new();
    for name in ["sector", "country"] {
        let index = builder
            .schema()
            .index_of(name)
            .map_err(|_| Error::panel(path, format!("has no `{name}` column")))?;
        roots.push(index);
    }
    // Projected columns come back in file order.
    let sector_first = roots[0] < roots[1];
    let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots);
    let batches = builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|source| Error::panel(path, format!("cannot be read: {source}")))?;
    let (mut sectors, mut countries) = (BTreeSet::new(), BTreeSet::new());
    for batch in batches {
        let batch =
            batch.map_err(|source| Error::panel(path, format!("cannot be read: {source}")))?;
        let (sector, country) = if sector_first {
            (batch.column(0), batch.column(1))
        } else {
            (batch.column(1), batch.column(0))
        };
        collect_text(sector, &mut sectors)
            .ok_or_else(|| Error::panel(path, "column `sector` must be a string".into()))?;
        collect_text(country, &mut countries)
            .ok_or_else(|| Error::panel(path, "column `country` must be a string".into()))?;
    }
    Ok((sectors, countries))
}

/// Adds the distinct values of a text column to `into`; `None` if it is not text.
fn collect_text(array: &dyn Array, into: &mut BTreeSet<String>) -> Option<()> {
    let mut add = |value: Option<&str>| {
        let value = value.unwrap_or("");
        if !into.contains(value) {
            into.insert(value.to_string());
        }
    };
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().for_each(&mut add),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().for_each(&mut add),
        DataType::Utf8View => array.as_string_view().iter().for_each(&mut add),
        _ => return None,
    }
    Some(())
}

/// Makes `columns` (each one value per row) orthonormal under the positive weights `w`:
/// returns `N` spanning the same space, column by column in order, with
/// `Nᵀ·diag(w)·N = I` — `N = diag(1/√w)·Q`, `Q` the Gram–Schmidt orthonormal factor of
/// `diag(√w)·A` (each column orthogonalized twice, which keeps it orthogonal to working
/// precision). A column dependent on the earlier ones (its residual below
/// [`DEPENDENCE_TOLERANCE`] of its norm) is dropped: returned as zeros.
///
/// # Panics
/// If a weight is not positive and finite, or a column's length differs from the weights'.
pub fn orthonormalize(mut columns: Vec<Vec<f64>>, weights: &[f64]) -> Vec<Vec<f64>> {
    assert!(
        weights.iter().all(|w| w.is_finite() && *w > 0.0),
        "sample weights are positive"
    );
    let roots: Vec<f64> = weights.iter().map(|w| w.sqrt()).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
    let mut kept: Vec<usize> = Vec::new();
    for j in 0..columns.len() {
        let mut column = std::mem::take(&mut columns[j]);
        assert_eq!(column.len(), roots.len(), "one value per weighted row");
        for (value, root) in column.iter_mut().zip(&roots) {
            *value *= root;
        }
        let norm = dot(&column, &column).sqrt();
        for _ in 0..2 {
            for &k in &kept {
                let basis = &columns[k];
                let coefficient = dot(basis, &column);
                for (value, b) in column.iter_mut().zip(basis) {
                    *value -= coefficient * b;
                }
            }
        }
        let residual = dot(&column, &column).sqrt();
        if norm.is_finite() && norm > 0.0 && residual > DEPENDENCE_TOLERANCE * norm {
            column.iter_mut().for_each(|value| *value /= residual);
            kept.push(j);
        } else {
            column.fill(0.0);
        }
        columns[j] = column;
    }
    for column in &mut columns {
        for (value, root) in column.iter_mut().zip(&roots) {
            *value /= root;
        }
    }
    columns
}

/// `√(mean traded value)` normalised to mean 1; missing values get the smallest weight.
pub(super) fn sample_weights(log_traded: &[f64]) -> Vec<f64> {
    let raw: Vec<f64> = log_traded.iter().map(|l| (l / 2.0).exp()).collect();
    let smallest = raw
        .iter()
        .copied()
        .filter(|w| w.is_finite() && *w > 0.0)
        .fold(f64::INFINITY, f64::min);
    let filled: Vec<f64> = raw
        .iter()
        .map(|&w| {
            if w.is_finite() && w > 0.0 {
                w
            } else if smallest.is_finite() {
                smallest
            } else {
                1.0
            }
        })
        .collect();
    let mean = filled.iter().sum::<f64>() / filled.len().max(1) as f64;
    filled.iter().map(|w| w / mean).collect()
}

/// The exposure matrix `A` of the neutralizer, column by column in [`Layout`] order.
pub(super) fn exposure_columns(
    history: &History,
    day: usize,
    slots: &[usize],
    exposures: &Exposures,
    layout: &Layout,
) -> Vec<Vec<f64>> {
    let dummy = |matches: &dyn Fn(usize) -> bool| -> Vec<f64> {
        slots
            .iter()
            .map(|&slot| if matches(slot) { 1.0 } else { 0.0 })
            .collect()
    };
    let mut columns = vec![vec![1.0; slots.len()], exposures.beta.clone()];
    columns.extend(exposures.styles.iter().cloned());
    assert_eq!(
        columns.len(),
        STYLE_NEUTRALIZERS.len(),
        "one column per style neutralizer"
    );
    for sector in layout.sectors.iter().skip(1) {
        columns.push(dummy(&|slot| history.stock(slot, day).sector == *sector));
    }
    for country in layout.countries.iter().skip(1) {
        columns.push(dummy(&|slot| history.stock(slot, day).country == *country));
    }
    columns
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthonormalize_drops_a_dependent_column_and_keeps_the_span() {
        let weights = [0.5, 1.0, 2.0, 1.5, 1.0];
        let a = vec![1.0; 5];
        let b = vec![1.0, 2.0, 3.0, 4.0, 5.0];
        let dependent: Vec<f64> = a.iter().zip(&b).map(|(a, b)| 2.0 * a - b).collect();
        let n = orthonormalize(vec![a, b, dependent], &weights);
        assert!(n[2].iter().all(|&v| v == 0.0));
        for i in 0..2 {
            for j in 0..2 {
                let g: f64 = (0..5).map(|r| n[i][r] * weights[r] * n[j][r]).sum();
                assert!(
                    (g - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12,
                    "{i} {j}: {g}"
                );
            }
        }
        // The first column is the intercept scaled to unit weighted norm.
        let total: f64 = weights.iter().sum();
        assert!(
            n[0].iter()
                .all(|&v| (v - total.sqrt().recip()).abs() < 1e-12)
        );
    }

    #[test]
    fn sample_weights_are_positive_with_mean_one() {
        let weights = sample_weights(&[10.0, 12.0, f64::NAN, 14.0]);
        assert!(weights.iter().all(|w| *w > 0.0));
        assert!((weights.iter().sum::<f64>() / 4.0 - 1.0).abs() < 1e-12);
        assert_eq!(weights[2], weights[0]);
        assert_eq!(sample_weights(&[f64::NAN; 3]), vec![1.0; 3]);
    }

    #[test]
    fn the_layout_names_a_dummy_per_group_but_the_first() {
        let layout = Layout::new(
            ["Energy", "Information Technology", "Utilities"]
                .map(String::from)
                .into(),
            ["JP", "US"].map(String::from).into(),
        );
        assert_eq!(
            &layout.names[STYLE_NEUTRALIZERS.len()..],
            [
                "neutralizer_sector_information_technology",
                "neutralizer_sector_utilities",
                "neutralizer_country_us"
            ]
        );
    }
}
