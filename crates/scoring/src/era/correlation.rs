//! Correlation-type metrics: CORR, FNC, neutral CORR, feature exposure, CWMM, peer
//! correlations and churn between submissions.

use faer::{Mat, MatRef};
use rayon::prelude::*;

use super::{Era, MissingInput, NOISE_RATIO_MAX, Signals, gather, gather_rows};
use crate::neutralize::Projector;
use crate::rank::{ColumnRanker, RankScale, RankedColumns, fill_columns, proper_subset};
use crate::stats::{dot, mean, pearson, pearson_with_centered, pow15};
use crate::undefined::check_overlap;
use crate::{Score, Undefined};

/// A target restricted to some rows, centered, with its norm: the fixed side of Pearson.
struct CenteredTarget {
    values: Vec<f64>,
    norm: f64,
}

impl CenteredTarget {
    fn new(mut values: Vec<f64>) -> Result<Self, Undefined> {
        crate::stats::center(&mut values);
        let norm = dot(&values, &values).sqrt();
        if norm == 0.0 {
            return Err(Undefined::ConstantReference { what: "target" });
        }
        Ok(Self { values, norm })
    }

    fn pearson(&self, column: &[f64]) -> Score {
        pearson_with_centered(column, &self.values, self.norm).ok_or(Undefined::ConstantColumn)
    }
}

/// Rows with every feature present, the features scanned column by column, in memory
/// order.
fn feature_complete_rows(features: MatRef<'_, f64>) -> Vec<usize> {
    let mut complete = vec![true; features.nrows()];
    for f in 0..features.ncols() {
        for (row, value) in features.col(f).iter().enumerate() {
            if value.is_nan() {
                complete[row] = false;
            }
        }
    }
    (0..features.nrows()).filter(|&r| complete[r]).collect()
}

impl Era<'_> {
    /// Rows with every feature present, found once per era for FNC and exposure. The
    /// features are scanned column by column, in memory order.
    fn complete_rows(&self, features: MatRef<'_, f64>) -> &[usize] {
        self.complete_rows
            .get_or_init(|| feature_complete_rows(features))
    }

    /// `numerai_corr`: Pearson of `pow15(Φ⁻¹(rank(p)))` with `pow15(t − mean_era(t))` over
    /// the target rows. The target is centered over all the era's data rows *before* it is
    /// restricted to the predicted rows, as numerai-tools does.
    #[must_use]
    pub fn numerai_corr(&self) -> Vec<Score> {
        let setup = || -> Result<CenteredTarget, Undefined> {
            let rows = self.scored_target_rows()?;
            if rows.len() < 2 {
                return Err(Undefined::TooFewRows {
                    rows: rows.len(),
                    needed: 1,
                });
            }
            let mean = self.input.era_target.mean;
            CenteredTarget::new(
                rows.iter()
                    .map(|&r| pow15(self.input.target[r] - mean))
                    .collect(),
            )
        };
        let target = match setup() {
            Ok(target) => target,
            Err(undefined) => return self.all(undefined),
        };
        self.map_target_ranks(|_, ranked, column| {
            if ranked.constant {
                return Err(Undefined::ConstantColumn);
            }
            ranked.gaussian_pow15_into(column);
            target.pearson(column)
        })
    }

    /// `fnc`: numerai-tools' `feature_neutral_corr` over the rows whose features are all
    /// present: gaussianized ranks neutralized against every feature (plus a ones column,
    /// lstsq with rcond 1e-6), then `numerai_corr` of that residual, re-ranked over the
    /// feature-complete rows that have a target.
    ///
    /// # Errors
    /// [`MissingInput`] without features.
    pub fn fnc(&self) -> Result<Vec<Score>, MissingInput> {
        let features = Self::require(self.input.features, "fnc", "features")?;
        let complete = self.complete_rows(features);
        Ok(self
            .feature_neutral_corr(features.ncols(), complete, || {
                Projector::with_intercept_over(features, Some(complete))
            })
            .unwrap_or_else(|undefined| self.all(undefined)))
    }

    /// [`Era::fnc`] against `features` handed over by value (the era's own features, if
    /// any, are not read): the factorization is made in their memory
    /// ([`Projector::with_intercept_in_place`]), so FNC holds no second `rows × features`
    /// matrix, the largest buffer of any metric. Give the matrix room for one more column
    /// ([`Mat::with_capacity`]) and it is not moved either. Same scores as [`Era::fnc`].
    #[must_use]
    pub fn fnc_in_place(&self, features: Mat<f64>) -> Vec<Score> {
        let complete = feature_complete_rows(features.as_ref());
        self.feature_neutral_corr(features.ncols(), &complete, || {
            Projector::with_intercept_in_place(features, Some(&complete))
        })
        .unwrap_or_else(|undefined| self.all(undefined))
    }

    /// FNC a block of submissions at a time: gaussianized ranks over the `complete` rows,
    /// neutralized in place against the features' factorization, re-ranked over the
    /// rows with a target and correlated with it. Nothing `rows × submissions` is held.
    fn feature_neutral_corr(
        &self,
        feature_count: usize,
        complete: &[usize],
        factor: impl FnOnce() -> Result<Projector, Undefined>,
    ) -> Result<Vec<Score>, Undefined> {
        let needed = feature_count + 1;
        if complete.len() <= needed {
            return Err(Undefined::TooFewRows {
                rows: complete.len(),
                needed,
            });
        }
        let with_target: Vec<usize> = (0..complete.len())
            .filter(|&i| !self.input.target[complete[i]].is_nan())
            .collect();
        if with_target.is_empty() {
            return Err(Undefined::NoTargetRows);
        }
        check_overlap(
            with_target.len(),
            &[self.input.era_target.rows, complete.len()],
        )?;
        let mean = self.input.era_target.mean;
        let target = CenteredTarget::new(
            with_target
                .iter()
                .map(|&i| pow15(self.input.target[complete[i]] - mean))
                .collect(),
        )?;
        let projector = factor()?;
        let complete_scale = RankScale::new(complete.len());
        let target_scale = RankScale::new(with_target.len());
        let predictions = self.input.predictions;
        let mut scores = Vec::with_capacity(self.submissions());
        let mut block = Mat::<f64>::zeros(complete.len(), 0);
        for first in (0..self.submissions()).step_by(FNC_BLOCK) {
            let width = FNC_BLOCK.min(self.submissions() - first);
            block.resize_with(complete.len(), width, |_, _| 0.0);
            // Gaussianized ranks of the block's submissions; `before` is each column's norm
            // (0 for a constant column) for the residual-is-noise test.
            // Over all rows, the era's rank codes serve when it has them (every row
            // feature-complete, the ranks given or kept).
            let all_ranked = (complete.len() == self.rows())
                .then(|| self.given_or_kept_all_ranks())
                .flatten();
            let before: Vec<f64> =
                fill_columns(&mut block, ColumnRanker::default, |j, column, ranker| {
                    let ranked = match all_ranked {
                        Some(ranks) => ranks.column(first + j),
                        None => {
                            ranker.rank(predictions, first + j, Some(complete), &complete_scale)
                        }
                    };
                    if ranked.constant {
                        column.fill(0.0);
                        return 0.0;
                    }
                    ranked.gaussian_into(column);
                    dot(column, column).sqrt()
                });
            projector.residual_in_place(block.as_mut(), faer::get_global_parallelism());
            let block_scores: Vec<Score> = (0..width)
                .into_par_iter()
                .map_init(
                    || (ColumnRanker::default(), vec![0.0; with_target.len()]),
                    |(ranker, values), j| {
                        if before[j] == 0.0 {
                            return Err(Undefined::ConstantColumn);
                        }
                        let residual = block.col_as_slice(j);
                        if dot(residual, residual).sqrt() <= NOISE_RATIO_MAX * before[j] {
                            return Err(Undefined::ResidualIsNoise);
                        }
                        ranker
                            .rank(block.as_ref(), j, Some(&with_target), &target_scale)
                            .gaussian_pow15_into(values);
                        target.pearson(values)
                    },
                )
                .collect();
            scores.extend(block_scores);
        }
        Ok(scores)
    }

    /// `neutral_corr`: Pearson of the gaussianized ranks, neutralized against the
    /// neutralizers (plus a ones column), with the target, over the target rows.
    ///
    /// # Errors
    /// [`MissingInput`] without neutralizers.
    pub fn neutral_corr(&self) -> Result<Vec<Score>, MissingInput> {
        Self::require(self.input.neutralizers, "neutral_corr", "neutralizers")?;
        let setup = || -> Result<(&Projector, Vec<f64>, f64), Undefined> {
            let projector = self.neutral_projector().as_ref().map_err(Clone::clone)?;
            let rows = self.target_rows();
            let target = CenteredTarget::new(gather(self.input.target, rows))?;
            // tᵀr = tᵀ(I − P)g = ((I − P)t)ᵀg: one era-wide vector for every submission.
            let neutral_target = projector.residual_vector(&target.values);
            Ok((projector, neutral_target, target.norm))
        };
        let (projector, neutral_target, target_norm) = match setup() {
            Ok(setup) => setup,
            Err(undefined) => return Ok(self.all(undefined)),
        };
        Ok(
            self.map_neutral_target_ranks(projector, |gaussian, residual_norm2| {
                let covariance = dot(&neutral_target, gaussian);
                Ok((covariance / (residual_norm2.sqrt() * target_norm)).clamp(-1.0, 1.0))
            }),
        )
    }

    /// The neutralizers' factorization over the target rows, shared by neutral CORR and
    /// neutral MMC.
    pub(super) fn neutral_projector(&self) -> &Result<Projector, Undefined> {
        self.neutral_projector.get_or_init(|| {
            let neutralizers = self.input.neutralizers.expect("checked by the caller");
            let rows = self.scored_target_rows()?;
            let projector = Projector::with_intercept_over(neutralizers, Some(rows))?;
            if projector.rank() >= rows.len() {
                return Err(Undefined::TooFewRows {
                    rows: rows.len(),
                    needed: projector.rank(),
                });
            }
            Ok(projector)
        })
    }

    /// What neutral CORR and neutral MMC do per submission: its gaussianized ranks `g`
    /// over the target rows and `‖r‖²` of their residual `r = (I − P)g` go to
    /// `consume(g, ‖r‖²)`; a constant column, or one whose residual is only rounding
    /// noise, is undefined without a call.
    ///
    /// Both metrics are linear in `r` apart from that norm, and `aᵀr = ((I − P)a)ᵀg` for
    /// any era-wide `a`, so no residual is formed: the norm comes from
    /// `‖r‖² = ‖g‖² − ‖Uᵀg‖²`, or from `r` itself when that difference would lose digits.
    /// [`NEUTRAL_BLOCK`] submissions are ranked (from the kept codes, or on the fly),
    /// projected and consumed together, one block per task, so ranks are read once.
    pub(super) fn map_neutral_target_ranks(
        &self,
        projector: &Projector,
        consume: impl Fn(&[f64], f64) -> Score + Sync + Send,
    ) -> Vec<Score> {
        let rows = self.target_rows();
        let kept = self.kept_target_ranks();
        let subset = proper_subset(Some(rows), self.rows());
        let scale = RankScale::new(rows.len());
        let blocks: Vec<Vec<Score>> = (0..self.submissions().div_ceil(NEUTRAL_BLOCK))
            .into_par_iter()
            .map_init(
                || (ColumnRanker::default(), Mat::<f64>::zeros(rows.len(), 0)),
                |(ranker, gaussian), block| {
                    let first = block * NEUTRAL_BLOCK;
                    let columns = first..(first + NEUTRAL_BLOCK).min(self.submissions());
                    gaussian.resize_with(rows.len(), columns.len(), |_, _| 0.0);
                    let constant: Vec<bool> = columns
                        .clone()
                        .map(|s| {
                            let ranked = match kept {
                                Some(kept) => kept.column(s),
                                None => ranker.rank(self.input.predictions, s, subset, &scale),
                            };
                            ranked.gaussian_into(gaussian.col_as_slice_mut(s - first));
                            ranked.constant
                        })
                        .collect();
                    residual_norms(projector, gaussian.as_ref(), &constant)
                        .into_iter()
                        .enumerate()
                        .map(|(j, norm2)| consume(gaussian.col_as_slice(j), norm2?))
                        .collect()
                },
            )
            .collect();
        blocks.into_iter().flatten().collect()
    }

    /// Feature exposure: the largest |Pearson| of the raw predictions with any feature,
    /// over the rows whose features are all present; constant features are skipped.
    ///
    /// # Errors
    /// [`MissingInput`] without features.
    pub fn feature_exposure(&self) -> Result<Vec<Score>, MissingInput> {
        let features = Self::require(self.input.features, "feature_exposure", "features")?;
        let complete = self.complete_rows(features);
        if complete.len() < 2 {
            return Ok(self.all(Undefined::TooFewRows {
                rows: complete.len(),
                needed: 1,
            }));
        }
        // The features are read in place when every row is complete (the usual case);
        // only rows with a missing feature force a copy without them.
        let gathered;
        let features = if complete.len() == features.nrows() {
            features
        } else {
            gathered = gather_rows(features, complete);
            gathered.as_ref()
        };
        let feature_norms: Vec<Option<f64>> = (0..features.ncols())
            .into_par_iter()
            .map(|f| centered_norm(|| features.col(f).iter().copied()))
            .collect();
        if feature_norms.iter().all(Option::is_none) {
            return Ok(self.all(Undefined::NoDefinedFeatures));
        }
        let mut scores = Vec::with_capacity(self.submissions());
        let mut block = Mat::<f64>::zeros(complete.len(), 0);
        for first in (0..self.submissions()).step_by(EXPOSURE_BLOCK) {
            let width = EXPOSURE_BLOCK.min(self.submissions() - first);
            block.resize_with(complete.len(), width, |_, _| 0.0);
            // Each prediction column centered and scaled to unit norm (0 when constant):
            // then Σᵢ xᵢ·p̃ᵢ / ‖x − x̄‖ is Pearson, as centering one side is enough.
            let live: Vec<bool> = fill_columns(
                &mut block,
                || (),
                |j, column, ()| {
                    let source = self.input.predictions.col(first + j);
                    for (o, &r) in column.iter_mut().zip(complete) {
                        *o = source[r];
                    }
                    standardize(column)
                },
            );
            let products = features.transpose() * &block;
            scores.extend((0..width).map(|j| {
                if !live[j] {
                    return Err(Undefined::ConstantColumn);
                }
                let largest = feature_norms
                    .iter()
                    .enumerate()
                    .filter_map(|(f, norm)| norm.map(|norm| (products[(f, j)] / norm).abs()))
                    .fold(0.0, f64::max);
                Ok(largest.min(1.0))
            }));
        }
        Ok(scores)
    }

    /// CWMM: Pearson of the gaussianized ranks of each submission and of the meta model,
    /// over all rows.
    ///
    /// # Errors
    /// [`MissingInput`] without a meta model.
    pub fn cwmm(&self) -> Result<Vec<Score>, MissingInput> {
        let meta_model = Self::require(self.input.meta_model, "cwmm", "meta model")?;
        let meta = RankedColumns::of_vector(meta_model, None);
        if meta.is_constant(0) {
            return Ok(self.all(Undefined::ConstantReference { what: "meta model" }));
        }
        let reference = CenteredTarget::new(meta.gaussian(0)).expect("not constant");
        let ranked = self.ranked_all_rows();
        Ok((0..self.submissions())
            .into_par_iter()
            .map_init(
                || vec![0.0; ranked.rows()],
                |gaussian, s| {
                    if ranked.is_constant(s) {
                        return Err(Undefined::ConstantColumn);
                    }
                    ranked.gaussian_into(s, gaussian);
                    reference.pearson(gaussian)
                },
            )
            .collect())
    }

    /// MCWNM and APCWNM: for each submission, the maximum and the mean Pearson
    /// correlation of its gaussianized ranks with every other non-constant submission's.
    #[must_use]
    pub fn peer_correlations(&self) -> (Vec<Score>, Vec<Score>) {
        let ranked = self.ranked_all_rows();
        let (normalized, live) = standardized_columns(ranked.gaussian_matrix());
        let gram = normalized.transpose() * &normalized;
        (0..self.submissions())
            .map(|s| {
                if !live[s] {
                    return (
                        Err(Undefined::ConstantColumn),
                        Err(Undefined::ConstantColumn),
                    );
                }
                let others: Vec<f64> = (0..self.submissions())
                    .filter(|&o| o != s && live[o])
                    .map(|o| gram[(o, s)].clamp(-1.0, 1.0))
                    .collect();
                if others.is_empty() {
                    return (
                        Err(Undefined::NoOtherSubmissions),
                        Err(Undefined::NoOtherSubmissions),
                    );
                }
                (
                    Ok(others.iter().copied().fold(f64::MIN, f64::max)),
                    Ok(mean(&others)),
                )
            })
            .unzip()
    }

    /// Churn between pairs of submissions of this era: `1 − Spearman` over all rows.
    #[must_use]
    pub fn pair_churn(&self, pairs: &[(usize, usize)]) -> Vec<Score> {
        let ranked = self.ranked_all_rows();
        pairs
            .par_iter()
            .map(|&(a, b)| {
                if ranked.is_constant(a) || ranked.is_constant(b) {
                    return Err(Undefined::ConstantColumn);
                }
                let a: Vec<f64> = ranked.codes(a).iter().map(|&c| f64::from(c)).collect();
                let b: Vec<f64> = ranked.codes(b).iter().map(|&c| f64::from(c)).collect();
                Ok(1.0 - pearson(&a, &b).ok_or(Undefined::ConstantColumn)?)
            })
            .collect()
    }

    /// Gaussianized ranks over all rows, neutralized against the neutralizers: the signal
    /// that `neutral_churn` compares across eras. Per column, the residual or why not.
    ///
    /// # Errors
    /// [`MissingInput`] without neutralizers.
    pub fn neutral_signal(&self) -> Result<Result<Signals, Undefined>, MissingInput> {
        let neutralizers = Self::require(self.input.neutralizers, "neutral_churn", "neutralizers")?;
        let compute = || {
            let projector = Projector::with_intercept(neutralizers)?;
            if projector.rank() >= self.rows() {
                return Err(Undefined::TooFewRows {
                    rows: self.rows(),
                    needed: projector.rank(),
                });
            }
            let ranked = self.ranked_all_rows();
            let gaussian = ranked.gaussian_matrix();
            Ok(neutral_signals(
                ranked,
                &gaussian,
                projector.residual(gaussian.as_ref()),
            ))
        };
        Ok(compute())
    }
}

/// Submissions whose neutralizer coordinates are computed together, one block per task.
const NEUTRAL_BLOCK: usize = 32;

/// Below this ratio `‖r‖²/‖g‖²`, `‖g‖² − ‖Uᵀg‖²` would have lost more than about four
/// digits, so the residual is formed and measured directly.
const CANCELLATION_RATIO_MIN: f64 = 1e-4;

/// `‖(I − P)g‖²` for each column `g` of `gaussian` (some submissions' gaussianized
/// ranks), or why it is undefined: a `constant` column, or a residual that is only
/// rounding noise.
fn residual_norms(
    projector: &Projector,
    gaussian: MatRef<'_, f64>,
    constant: &[bool],
) -> Vec<Result<f64, Undefined>> {
    let coordinates = projector.coordinates(gaussian, faer::Par::Seq);
    (0..gaussian.ncols())
        .map(|j| {
            if constant[j] {
                return Err(Undefined::ConstantColumn);
            }
            let column = gaussian
                .col(j)
                .try_as_col_major()
                .expect("the gaussian block is column-major")
                .as_slice();
            let norm2 = dot(column, column);
            let by_difference = coordinates.as_ref().map(|c| {
                let projected = c.col(j).squared_norm_l2();
                norm2 - projected
            });
            let residual_norm2 = match by_difference {
                Some(difference) if difference >= CANCELLATION_RATIO_MIN * norm2 => difference,
                _ => {
                    let residual = projector.residual_vector(column);
                    dot(&residual, &residual)
                }
            };
            if residual_norm2.sqrt() <= NOISE_RATIO_MAX * norm2.sqrt() {
                return Err(Undefined::ResidualIsNoise);
            }
            Ok(residual_norm2)
        })
        .collect()
}

/// Submissions correlated with the features together: one `features × 256` product.
const EXPOSURE_BLOCK: usize = 256;

/// `‖x − x̄‖`, or `None` when every value is the same (exactly, as pandas sees a constant
/// column: a rounded mean must not make it look alive).
/// `values` makes a fresh pass over the values each time it is called.
fn centered_norm<I: Iterator<Item = f64>>(values: impl Fn() -> I) -> Option<f64> {
    let mut iter = values();
    let first = iter.next()?;
    if iter.all(|v| v == first) {
        return None;
    }
    let (count, sum) = values().fold((0usize, 0.0), |(n, s), v| (n + 1, s + v));
    let mean = sum / count as f64;
    Some(
        values()
            .map(|v| (v - mean) * (v - mean))
            .sum::<f64>()
            .sqrt(),
    )
}

/// Submissions neutralized together in FNC: 128 columns of 5,000 rows is 5 MB.
const FNC_BLOCK: usize = 128;

/// Neutralized gaussianized ranks with their status: a constant input, or a residual that
/// is only rounding noise, is undefined.
fn neutral_signals(ranked: &RankedColumns, input: &Mat<f64>, residual: Mat<f64>) -> Signals {
    let status = (0..input.ncols())
        .map(|s| {
            if ranked.is_constant(s) {
                return Err(Undefined::ConstantColumn);
            }
            let before = input.col(s).norm_l2();
            let after = residual.col(s).norm_l2();
            if after <= NOISE_RATIO_MAX * before {
                return Err(Undefined::ResidualIsNoise);
            }
            Ok(())
        })
        .collect();
    Signals {
        values: residual,
        status,
    }
}

/// Centers each column and scales it to unit norm, so that `XᵀY` holds Pearson
/// correlations. Returns the matrix and, per column, whether it has any variance.
fn standardized_columns(mut matrix: Mat<f64>) -> (Mat<f64>, Vec<bool>) {
    let live = (0..matrix.ncols())
        .map(|j| standardize(matrix.col_as_slice_mut(j)))
        .collect();
    (matrix, live)
}

/// Centers `column` and scales it to unit norm; a constant column becomes all zeros.
/// Returns whether it has any variance.
fn standardize(column: &mut [f64]) -> bool {
    // Exact constancy, as pandas sees it: a rounded mean must not make a constant column
    // look alive.
    let live = column.iter().any(|&v| v != column[0]);
    crate::stats::center(column);
    let norm = dot(column, column).sqrt();
    for v in column.iter_mut() {
        *v = if live { *v / norm } else { 0.0 };
    }
    live
}
