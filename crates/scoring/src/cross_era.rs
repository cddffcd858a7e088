//! Metrics across two consecutive eras, over the ids they share: churn, turnover and
//! neutral churn (Signals).
//!
//! numerai-tools aligns the two eras with `filter_sort_index`, so fewer than 80 % shared
//! ids (of either era) is [`Undefined::TooLittleOverlap`]. Classic eras have fresh ids
//! every era and never overlap; Signals and Crypto tickers do.

use faer::MatRef;
use rayon::prelude::*;

use crate::rank::RankedColumns;
use crate::stats::pearson;
use crate::undefined::check_overlap;
use crate::{Score, Signals, Undefined};

/// Shared ids of two eras, as (row in the earlier era, row in the later era) pairs.
#[derive(Debug, Clone)]
pub struct CommonRows {
    pairs: Vec<(usize, usize)>,
    earlier_rows: usize,
    later_rows: usize,
}

impl CommonRows {
    /// Matches the ids of two eras.
    #[must_use]
    pub fn new(earlier: &[&str], later: &[&str]) -> Self {
        let index: std::collections::HashMap<&str, usize> =
            earlier.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let mut pairs: Vec<(usize, usize)> = later
            .iter()
            .enumerate()
            .filter_map(|(j, id)| index.get(id).map(|&i| (i, j)))
            .collect();
        pairs.sort_unstable();
        Self {
            pairs,
            earlier_rows: earlier.len(),
            later_rows: later.len(),
        }
    }

    /// Number of shared ids.
    #[must_use]
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the eras share no id.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    fn check(&self) -> Result<(), Undefined> {
        check_overlap(self.len(), &[self.earlier_rows, self.later_rows])
    }

    fn gather(
        &self,
        earlier: MatRef<'_, f64>,
        later: MatRef<'_, f64>,
        column: usize,
    ) -> (Vec<f64>, Vec<f64>) {
        self.pairs
            .iter()
            .map(|&(i, j)| (earlier[(i, column)], later[(j, column)]))
            .unzip()
    }
}

/// Churn of each submission between two eras: `1 − Spearman` of its predictions over the
/// shared ids. `earlier` and `later` hold the same submissions in the same column order.
#[must_use]
pub fn churn(earlier: MatRef<'_, f64>, later: MatRef<'_, f64>, common: &CommonRows) -> Vec<Score> {
    per_column(earlier.ncols(), common, |s| {
        spearman_churn(common, earlier, later, s)
    })
}

/// Neutral churn: [`churn`] of the neutralized signals (see `Era::neutral_signal`), with
/// each era's per-column status carried through.
#[must_use]
pub fn neutral_churn(earlier: &Signals, later: &Signals, common: &CommonRows) -> Vec<Score> {
    per_column(earlier.values.ncols(), common, |s| {
        earlier.status[s].clone()?;
        later.status[s].clone()?;
        spearman_churn(common, earlier.values.as_ref(), later.values.as_ref(), s)
    })
}

/// Turnover of each submission between two eras: `Σ|w_later − w_earlier| / 2` over the
/// shared ids, of the weights from `Era::portfolio_weights`.
#[must_use]
pub fn turnover(earlier: &Signals, later: &Signals, common: &CommonRows) -> Vec<Score> {
    per_column(earlier.values.ncols(), common, |s| {
        earlier.status[s].clone()?;
        later.status[s].clone()?;
        let (a, b) = common.gather(earlier.values.as_ref(), later.values.as_ref(), s);
        Ok(a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f64>() / 2.0)
    })
}

fn per_column(
    columns: usize,
    common: &CommonRows,
    score: impl Fn(usize) -> Score + Sync + Send,
) -> Vec<Score> {
    if let Err(undefined) = common.check() {
        return vec![Err(undefined); columns];
    }
    (0..columns).into_par_iter().map(score).collect()
}

fn spearman_churn(
    common: &CommonRows,
    earlier: MatRef<'_, f64>,
    later: MatRef<'_, f64>,
    column: usize,
) -> Score {
    let (a, b) = common.gather(earlier, later, column);
    let codes = |values: &[f64]| -> Option<Vec<f64>> {
        let ranked = RankedColumns::of_vector(values, None);
        (!ranked.is_constant(0)).then(|| ranked.codes(0).iter().map(|&c| f64::from(c)).collect())
    };
    let (a, b) = (codes(&a), codes(&b));
    let (Some(a), Some(b)) = (a, b) else {
        return Err(Undefined::ConstantColumn);
    };
    Ok(1.0 - pearson(&a, &b).ok_or(Undefined::ConstantColumn)?)
}
