//! Portfolio metrics from Signals: alpha, MPC, the neutralized weights behind turnover,
//! and the stake-weighted series.
//!
//! numerai-tools' `generate_neutralized_weights` turns a signal `s = pow15(Φ⁻¹(rank(p)))`
//! into weights `w = (s − N(Nᵀ(v⊙s)))⊙v` (N as given: no lstsq, no ones column). That is
//! `w = L s` with the symmetric matrix `L = V − ÑÑᵀ`, `Ñ = diag(v)N`. So `wᵀx = sᵀ(Lx)`:
//! alpha and MPC need `L` applied to a handful of era-wide vectors, then one dot product
//! per submission, instead of an n × j product per submission.

use faer::{Mat, MatRef};
use rayon::prelude::*;

use super::{Era, MissingInput, Signals, gather, gather_rows};
use crate::rank::RankedColumn;
use crate::stats::{center, dot};
use crate::{Score, Undefined};

/// Rows of the stake-weighted portfolio signal summed per task: 512 rows of 1,000
/// submissions is about 2 MB of rank codes read per task.
const PORTFOLIO_ROW_CHUNK: usize = 512;

/// `L = V − ÑÑᵀ` over some rows, applied to vectors.
struct WeightMap {
    weights: Vec<f64>,
    scaled: Mat<f64>,
    neutralizers: Mat<f64>,
}

impl WeightMap {
    fn new(neutralizers: Mat<f64>, weights: Vec<f64>) -> Self {
        let scaled = Mat::from_fn(neutralizers.nrows(), neutralizers.ncols(), |i, j| {
            weights[i] * neutralizers[(i, j)]
        });
        Self {
            weights,
            scaled,
            neutralizers,
        }
    }

    /// `L x = v⊙x − Ñ(Ñᵀx)`... written as numerai-tools orders it: `(x − N(Nᵀ(v⊙x)))⊙v`.
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        let vx: Vec<f64> = x.iter().zip(&self.weights).map(|(a, b)| a * b).collect();
        let vx = MatRef::from_column_major_slice(&vx, vx.len(), 1);
        let coefficients = self.neutralizers.transpose() * vx;
        let fitted = &self.neutralizers * &coefficients;
        (0..x.len())
            .map(|i| (x[i] - fitted[(i, 0)]) * self.weights[i])
            .collect()
    }

    /// `W = L S` for every column of `S` at once.
    fn apply_matrix(&self, signals: &Mat<f64>) -> Mat<f64> {
        let coefficients = self.scaled.transpose() * signals;
        let fitted = &self.neutralizers * &coefficients;
        Mat::from_fn(signals.nrows(), signals.ncols(), |i, j| {
            (signals[(i, j)] - fitted[(i, j)]) * self.weights[i]
        })
    }
}

impl Era<'_> {
    fn weight_map(
        &self,
        rows: Option<&[usize]>,
        metric: &'static str,
    ) -> Result<WeightMap, MissingInput> {
        let neutralizers = Self::require(self.input.neutralizers, metric, "neutralizers")?;
        let weights = Self::require(self.input.sample_weights, metric, "sample weights")?;
        Ok(match rows {
            Some(rows) => WeightMap::new(gather_rows(neutralizers, rows), gather(weights, rows)),
            None => WeightMap::new(neutralizers.to_owned(), weights.to_vec()),
        })
    }

    /// Alpha: `wᵀ(t − mean_era(t)) / n` over the target rows, with `w` the neutralized
    /// weights. Computed as `sᵀz / n` with `z = L(t − mean)` shared by all submissions.
    ///
    /// # Errors
    /// [`MissingInput`] without neutralizers or sample weights.
    pub fn alpha(&self) -> Result<Vec<Score>, MissingInput> {
        let rows = match self.scored_target_rows() {
            Ok(rows) => rows,
            Err(undefined) => return Ok(self.all(undefined)),
        };
        let map = self.weight_map(Some(rows), "alpha")?;
        let mean = self.input.era_target.mean;
        let target: Vec<f64> = rows.iter().map(|&r| self.input.target[r] - mean).collect();
        let z = map.apply(&target);
        let n = rows.len() as f64;
        Ok(self.map_target_ranks(|_, ranked, _| Ok(signal_dot(ranked, &z) / n)))
    }

    /// MPC: numerai-tools' `meta_portfolio_contribution`, the gradient of the
    /// stake-weighted portfolio's alpha with respect to each staked submission's stake.
    /// With `q = center(W σ)` and `t` centered over the target rows,
    /// `mpc_k = (W_kᵀt − (W_kᵀq)(qᵀt)/(qᵀq)) / ‖q‖ / 50`.
    ///
    /// # Errors
    /// [`MissingInput`] without neutralizers, sample weights or stakes.
    pub fn mpc(&self) -> Result<Vec<Score>, MissingInput> {
        let stakes = Self::require(self.input.stakes, "mpc", "stakes")?;
        let rows = match self.scored_target_rows() {
            Ok(rows) => rows,
            Err(undefined) => return Ok(self.all(undefined)),
        };
        let map = self.weight_map(Some(rows), "mpc")?;
        let total: f64 = stakes.iter().flatten().map(|s| s.abs()).sum();
        let unstaked_or = |undefined: Undefined| -> Vec<Score> {
            stakes
                .iter()
                .map(|s| {
                    Err(if s.is_some() {
                        undefined.clone()
                    } else {
                        Undefined::NoStake
                    })
                })
                .collect()
        };
        if total == 0.0 {
            return Ok(unstaked_or(Undefined::ZeroTotalStake));
        }
        let ranked = self.ranked_target_rows();
        // Rows in parallel, each summing over the submissions in order: the same sums,
        // bit for bit, as one pass over the submissions.
        let mut portfolio_signal = vec![0.0; rows.len()];
        portfolio_signal
            .par_chunks_mut(PORTFOLIO_ROW_CHUNK)
            .enumerate()
            .for_each(|(chunk, out)| {
                let start = chunk * PORTFOLIO_ROW_CHUNK;
                for (s, stake) in stakes.iter().enumerate() {
                    if let Some(stake) = stake {
                        let sigma = stake / total;
                        let codes = &ranked.codes(s)[start..start + out.len()];
                        for (o, &code) in out.iter_mut().zip(codes) {
                            *o += sigma * ranked.scale().gaussian_pow15(code);
                        }
                    }
                }
            });
        let mut q = map.apply(&portfolio_signal);
        center(&mut q);
        let q_norm2 = dot(&q, &q);
        if q_norm2 == 0.0 {
            return Ok(unstaked_or(Undefined::ConstantReference {
                what: "stake-weighted portfolio",
            }));
        }
        let mut target = gather(self.input.target, rows);
        center(&mut target);
        let q_dot_target = dot(&q, &target);
        let (l_target, l_q) = (map.apply(&target), map.apply(&q));
        let q_norm = q_norm2.sqrt();
        Ok((0..self.submissions())
            .into_par_iter()
            .map(|s| {
                stakes[s].ok_or(Undefined::NoStake)?;
                let a = signal_dot(ranked.column(s), &l_target);
                let b = signal_dot(ranked.column(s), &l_q);
                Ok((a - b * q_dot_target / q_norm2) / q_norm / 50.0)
            })
            .collect())
    }

    /// The neutralized weights over all rows, centered and scaled to Σ|w| = 1
    /// (`generate_neutralized_weights(..., center_and_normalize=True)`): what turnover
    /// compares across eras. Per column, the weights or why there are none.
    ///
    /// # Errors
    /// [`MissingInput`] without neutralizers or sample weights.
    pub fn portfolio_weights(&self) -> Result<Signals, MissingInput> {
        let map = self.weight_map(None, "turnover")?;
        let signals = self.ranked_all_rows().gaussian_pow15_matrix();
        let mut weights = map.apply_matrix(&signals);
        let status = (0..weights.ncols())
            .map(|s| {
                let column = weights.col_as_slice_mut(s);
                center(column);
                let gross: f64 = column.iter().map(|w| w.abs()).sum();
                if gross == 0.0 {
                    return Err(Undefined::ConstantColumn);
                }
                for w in column.iter_mut() {
                    *w /= gross;
                }
                Ok(())
            })
            .collect();
        Ok(Signals {
            values: weights,
            status,
        })
    }

    /// The stake-weighted meta model per row, `Σ stake_k·P_k / Σ stake_k` over the staked
    /// submissions; with `ranked`, each `P_k` is first replaced by its percentile rank.
    ///
    /// # Errors
    /// [`MissingInput`] without stakes.
    pub fn stake_weight(&self, ranked: bool) -> Result<Result<Vec<f64>, Undefined>, MissingInput> {
        let stakes = Self::require(self.input.stakes, "stake_weight", "stakes")?;
        let total: f64 = stakes.iter().flatten().sum();
        if total == 0.0 {
            return Ok(Err(Undefined::ZeroTotalStake));
        }
        let mut blended = vec![0.0; self.rows()];
        for (s, stake) in stakes.iter().enumerate() {
            let Some(stake) = stake else { continue };
            if ranked {
                let ranks = self.ranked_all_rows();
                for (o, &code) in blended.iter_mut().zip(ranks.codes(s)) {
                    *o += stake * ranks.scale().percentile(code);
                }
            } else {
                for (o, &p) in blended.iter_mut().zip(self.input.predictions.col(s).iter()) {
                    *o += stake * p;
                }
            }
        }
        for o in &mut blended {
            *o /= total;
        }
        Ok(Ok(blended))
    }
}

/// `Σᵢ pow15(Φ⁻¹(rankᵢ)) · xᵢ` for one submission.
fn signal_dot(ranked: RankedColumn<'_>, x: &[f64]) -> f64 {
    ranked
        .codes
        .iter()
        .zip(x)
        .map(|(&code, v)| ranked.scale.gaussian_pow15(code) * v)
        .sum()
}
