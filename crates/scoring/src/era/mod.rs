//! The batched tier: every metric for every submission of one era at once.
//!
//! An [`Era`] borrows the era's matrix (ids × submissions) and its companions (target,
//! meta model, features, neutralizers, ...), and computes the shared work once, lazily:
//! the rows that have a target, the rank codes of every column over those rows, the
//! factorization of the neutralizers. Each metric method then returns one [`Score`] per
//! submission, computed in parallel over columns.
//!
//! Row sets follow numerai-tools exactly: the *target rows* are the prediction rows whose
//! target is not NaN, and every "overlap" assertion of numerai-tools (`filter_sort_index`:
//! at least 80 % of each input's ids must survive) becomes [`Undefined::TooLittleOverlap`].

mod contribution;
mod correlation;
mod portfolio;

use std::sync::OnceLock;

use faer::{Mat, MatRef};

use crate::neutralize::Projector;
use rayon::prelude::*;

use crate::rank::{RankedColumn, RankedColumns, map_ranked};
use crate::undefined::check_overlap;
use crate::{Score, Undefined};

/// What the era's data file says about its target, over all its rows, including rows that
/// no submission predicted: numerai-tools centers the target over those before aligning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EraTarget {
    /// Rows of the era in the data (with or without a target).
    pub rows: usize,
    /// Mean of the era's non-NaN targets.
    pub mean: f64,
}

impl EraTarget {
    /// Summarizes a target column (NaN = unknown).
    #[must_use]
    pub fn of(target: &[f64]) -> Self {
        let known: Vec<f64> = target.iter().copied().filter(|t| !t.is_nan()).collect();
        Self {
            rows: target.len(),
            mean: crate::stats::mean(&known),
        }
    }
}

/// One era's inputs. Every vector and matrix row is aligned with `predictions`' rows.
#[derive(Debug, Clone, Copy)]
pub struct EraInput<'a> {
    /// Predictions, rows × submissions; no NaN.
    pub predictions: MatRef<'a, f64>,
    /// The target for each prediction row; NaN where unknown.
    pub target: &'a [f64],
    /// The era's target over all its data rows.
    pub era_target: EraTarget,
    /// The meta model (`numerai_meta_model`), for MMC, neutral MMC and CWMM.
    pub meta_model: Option<&'a [f64]>,
    /// The benchmark model, for BMC.
    pub benchmark: Option<&'a [f64]>,
    /// Features, rows × features; a row with any NaN is left out of FNC and exposure.
    pub features: Option<MatRef<'a, f64>>,
    /// Neutralizers, rows × neutralizers; no NaN.
    pub neutralizers: Option<MatRef<'a, f64>>,
    /// Sample weights for alpha, MPC and turnover; no NaN.
    pub sample_weights: Option<&'a [f64]>,
    /// Stake of each submission (`None` = not staked), for MPC and the stake-weighted series.
    pub stakes: Option<&'a [Option<f64>]>,
}

impl<'a> EraInput<'a> {
    /// An era with predictions and a target only; add the rest with struct update syntax.
    #[must_use]
    pub fn new(predictions: MatRef<'a, f64>, target: &'a [f64]) -> Self {
        Self {
            predictions,
            target,
            era_target: EraTarget::of(target),
            meta_model: None,
            benchmark: None,
            features: None,
            neutralizers: None,
            sample_weights: None,
            stakes: None,
        }
    }
}

/// Per-submission signals over an era's rows (rows × submissions) and, per column,
/// whether it is usable: what cross-era metrics compare (neutralized signals, portfolio
/// weights).
#[derive(Debug, Clone)]
pub struct Signals {
    /// One column per submission.
    pub values: Mat<f64>,
    /// Per column: usable, or why not.
    pub status: Vec<Result<(), Undefined>>,
}

/// A missing input that a metric needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{metric} needs {input}, which this era was not given")]
pub struct MissingInput {
    /// The metric asked for.
    pub metric: &'static str,
    /// The input it needs.
    pub input: &'static str,
}

/// One era, with its shared work computed on first use.
#[derive(Debug)]
pub struct Era<'a> {
    input: EraInput<'a>,
    target_rows: OnceLock<Vec<usize>>,
    complete_rows: OnceLock<Vec<usize>>,
    ranked_target_rows: OnceLock<RankedColumns>,
    ranked_all_rows: OnceLock<RankedColumns>,
    /// What neutral CORR and neutral MMC share: the neutralizers' factorization over the
    /// target rows.
    neutral_projector: OnceLock<Result<Projector, Undefined>>,
    keep_rank_codes: bool,
}

impl<'a> Era<'a> {
    /// Wraps one era's inputs.
    ///
    /// # Panics
    /// If a companion vector or matrix does not have one row per prediction row.
    #[must_use]
    pub fn new(input: EraInput<'a>) -> Self {
        let rows = input.predictions.nrows();
        assert_eq!(input.target.len(), rows, "target rows");
        for (name, len) in [
            ("meta model", input.meta_model.map(<[f64]>::len)),
            ("benchmark", input.benchmark.map(<[f64]>::len)),
            ("features", input.features.map(|f| f.nrows())),
            ("neutralizers", input.neutralizers.map(|n| n.nrows())),
            ("sample weights", input.sample_weights.map(<[f64]>::len)),
        ] {
            if let Some(len) = len {
                assert_eq!(len, rows, "{name} rows");
            }
        }
        if let Some(stakes) = input.stakes {
            assert_eq!(
                stakes.len(),
                input.predictions.ncols(),
                "one stake per submission"
            );
        }
        Self {
            input,
            target_rows: OnceLock::new(),
            complete_rows: OnceLock::new(),
            ranked_target_rows: OnceLock::new(),
            ranked_all_rows: OnceLock::new(),
            neutral_projector: OnceLock::new(),
            keep_rank_codes: true,
        }
    }

    /// Uses `ranked`, the rank codes of every submission over all the era's rows (kept from an
    /// earlier era with the same predictions, as a tournament's 20 scoring days of one round
    /// are), instead of ranking the predictions again. The scores are the same: the codes are
    /// what ranking the predictions gives.
    ///
    /// # Panics
    /// If `ranked` does not have one column per submission and one code per row.
    #[must_use]
    pub fn with_ranks(self, ranked: RankedColumns) -> Self {
        assert_eq!(ranked.rows(), self.rows(), "one rank code per row");
        assert_eq!(
            ranked.columns(),
            self.submissions(),
            "one column per submission"
        );
        let cache = if self.target_rows().len() == self.rows() {
            &self.ranked_target_rows
        } else {
            &self.ranked_all_rows
        };
        cache
            .set(ranked)
            .expect("ranks are given before any are computed");
        self
    }

    /// Whether to keep every submission's rank codes once computed (the default: several
    /// metrics read them) or, with `false`, to let CORR, MMC, BMC and alpha rank each column
    /// on the fly and drop it, which is faster when only one of them is asked for.
    #[must_use]
    pub fn keep_rank_codes(mut self, keep: bool) -> Self {
        self.keep_rank_codes = keep;
        self
    }

    /// `consume(submission, ranked, buffer)` for every submission's ranks over the target
    /// rows, in parallel: from the kept rank codes, or ranked on the fly (see
    /// [`Era::keep_rank_codes`]). `buffer` is a per-thread column of the target rows'
    /// length for `consume` to write into.
    fn map_target_ranks<T: Send>(
        &self,
        consume: impl Fn(usize, RankedColumn<'_>, &mut [f64]) -> T + Sync + Send,
    ) -> Vec<T> {
        if let Some(ranked) = self.kept_target_ranks() {
            return (0..self.submissions())
                .into_par_iter()
                .map_init(
                    || vec![0.0; ranked.rows()],
                    |buffer, s| consume(s, ranked.column(s), buffer),
                )
                .collect();
        }
        map_ranked(self.input.predictions, Some(self.target_rows()), consume)
    }

    /// The rank codes of the target rows when they are kept (see [`Era::keep_rank_codes`])
    /// or already built; `None` when each column is to be ranked on the fly.
    fn kept_target_ranks(&self) -> Option<&RankedColumns> {
        (self.keep_rank_codes || self.ranked_target_rows.get().is_some())
            .then(|| self.ranked_target_rows())
    }

    /// The rank codes over all rows if they are given ([`Era::with_ranks`]) or already
    /// built, without building them.
    fn given_or_kept_all_ranks(&self) -> Option<&RankedColumns> {
        if self.target_rows().len() == self.rows() {
            self.ranked_target_rows.get()
        } else {
            self.ranked_all_rows.get()
        }
    }

    /// Number of prediction rows.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.input.predictions.nrows()
    }

    /// Number of submissions.
    #[must_use]
    pub fn submissions(&self) -> usize {
        self.input.predictions.ncols()
    }

    /// The inputs.
    #[must_use]
    pub fn input(&self) -> &EraInput<'a> {
        &self.input
    }

    /// Prediction rows whose target is known.
    fn target_rows(&self) -> &[usize] {
        self.target_rows.get_or_init(|| {
            (0..self.rows())
                .filter(|&r| !self.input.target[r].is_nan())
                .collect()
        })
    }

    /// Rank codes of every submission over the target rows.
    fn ranked_target_rows(&self) -> &RankedColumns {
        self.ranked_target_rows
            .get_or_init(|| RankedColumns::new(self.input.predictions, Some(self.target_rows())))
    }

    /// Rank codes of every submission over all rows: the target rows' codes when every
    /// row has a target (the usual case), so that an era is ranked once.
    fn ranked_all_rows(&self) -> &RankedColumns {
        if self.target_rows().len() == self.rows() {
            return self.ranked_target_rows();
        }
        self.ranked_all_rows
            .get_or_init(|| RankedColumns::new(self.input.predictions, None))
    }

    /// The target rows, if numerai-tools would score them: some exist and they cover at
    /// least 80 % of the era's data rows and of the prediction rows.
    fn scored_target_rows(&self) -> Result<&[usize], Undefined> {
        let rows = self.target_rows();
        if rows.is_empty() {
            return Err(Undefined::NoTargetRows);
        }
        check_overlap(rows.len(), &[self.input.era_target.rows, self.rows()])?;
        Ok(rows)
    }

    fn require<T>(
        value: Option<T>,
        metric: &'static str,
        input: &'static str,
    ) -> Result<T, MissingInput> {
        value.ok_or(MissingInput { metric, input })
    }

    fn all(&self, undefined: Undefined) -> Vec<Score> {
        vec![Err(undefined); self.submissions()]
    }
}

/// Copies the given rows of a matrix.
pub(crate) fn gather_rows(matrix: MatRef<'_, f64>, rows: &[usize]) -> Mat<f64> {
    Mat::from_fn(rows.len(), matrix.ncols(), |i, j| matrix[(rows[i], j)])
}

/// Copies the given entries of a vector.
pub(crate) fn gather(values: &[f64], rows: &[usize]) -> Vec<f64> {
    rows.iter().map(|&r| values[r]).collect()
}

/// A residual whose norm is this small relative to its input is rounding noise.
pub(crate) const NOISE_RATIO_MAX: f64 = 1e-9;
