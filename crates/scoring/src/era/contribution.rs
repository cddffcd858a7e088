//! Contribution metrics: MMC, BMC and neutral MMC.
//!
//! numerai-tools' `correlation_contribution`: over the target rows, `p = Φ⁻¹(rank(p))`,
//! `m = Φ⁻¹(rank(m))`, `r = p − m(mᵀp)/(mᵀm)`, `y = center(4t)` (4t when every target is
//! in [0, 1]) and the score is `yᵀr / n`, a covariance. Expanding `r`, each submission
//! costs two dot products against vectors shared by the whole era:
//! `(yᵀp − (yᵀm)(mᵀp)/(mᵀm)) / n`.

use super::{Era, MissingInput, NOISE_RATIO_MAX, gather};
use crate::rank::RankedColumns;
use crate::stats::{center, dot};
use crate::{Score, Undefined};

/// The era-wide side of a contribution: the contribution target and the reference.
struct Reference {
    target: Vec<f64>,
    reference: Vec<f64>,
    target_dot_reference: f64,
    reference_norm2: f64,
}

impl Reference {
    fn score(&self, column: &[f64]) -> f64 {
        let target_dot = dot(&self.target, column);
        let reference_dot = dot(&self.reference, column);
        (target_dot - self.target_dot_reference * reference_dot / self.reference_norm2)
            / self.target.len() as f64
    }
}

/// `4t` when every target is in [0, 1] (Numerai's buckets), else `t`; then centered.
fn contribution_target(mut target: Vec<f64>) -> Vec<f64> {
    if target.iter().all(|t| (0.0..=1.0).contains(t)) {
        for t in &mut target {
            *t *= 4.0;
        }
    }
    center(&mut target);
    target
}

impl Era<'_> {
    /// MMC: the contribution of each submission to the meta model's correlation.
    ///
    /// # Errors
    /// [`MissingInput`] without a meta model.
    pub fn mmc(&self) -> Result<Vec<Score>, MissingInput> {
        let meta_model = Self::require(self.input.meta_model, "mmc", "meta model")?;
        Ok(self.contribution(meta_model, "meta model"))
    }

    /// BMC: as MMC, against the benchmark model.
    ///
    /// # Errors
    /// [`MissingInput`] without a benchmark.
    pub fn bmc(&self) -> Result<Vec<Score>, MissingInput> {
        let benchmark = Self::require(self.input.benchmark, "bmc", "benchmark")?;
        Ok(self.contribution(benchmark, "benchmark"))
    }

    /// `correlation_contribution` against any reference column. A constant submission
    /// has gaussianized ranks of exactly 0 and so contributes exactly 0, as in
    /// numerai-tools.
    fn contribution(&self, reference: &[f64], what: &'static str) -> Vec<Score> {
        let setup = || -> Result<Reference, Undefined> {
            let rows = self.scored_target_rows()?;
            let ranked = RankedColumns::of_vector(reference, Some(rows));
            if ranked.is_constant(0) {
                return Err(Undefined::ConstantReference { what });
            }
            let reference = ranked.gaussian(0);
            let target = contribution_target(gather(self.input.target, rows));
            Ok(Reference {
                target_dot_reference: dot(&target, &reference),
                reference_norm2: dot(&reference, &reference),
                target,
                reference,
            })
        };
        let reference = match setup() {
            Ok(reference) => reference,
            Err(undefined) => return self.all(undefined),
        };
        self.map_target_ranks(|_, ranked, column| {
            ranked.gaussian_into(column);
            Ok(reference.score(column))
        })
    }

    /// Neutral MMC: numerai-tools' `neutral_contribution`: MMC after neutralizing both the
    /// submission's and the meta model's gaussianized ranks against the neutralizers.
    ///
    /// # Errors
    /// [`MissingInput`] without a meta model or neutralizers.
    pub fn neutral_mmc(&self) -> Result<Vec<Score>, MissingInput> {
        let meta_model = Self::require(self.input.meta_model, "neutral_mmc", "meta model")?;
        Self::require(self.input.neutralizers, "neutral_mmc", "neutralizers")?;
        let setup = || -> Result<_, Undefined> {
            let projector = self.neutral_projector().as_ref().map_err(Clone::clone)?;
            let rows = self.target_rows();
            let ranked = RankedColumns::of_vector(meta_model, Some(rows));
            if ranked.is_constant(0) {
                return Err(Undefined::ConstantReference { what: "meta model" });
            }
            let gaussian = ranked.gaussian(0);
            let reference = projector.residual_vector(&gaussian);
            let norm = dot(&reference, &reference).sqrt();
            if norm <= NOISE_RATIO_MAX * dot(&gaussian, &gaussian).sqrt() {
                return Err(Undefined::ResidualIsNoise);
            }
            // With r = (I − P)g: yᵀr = ((I − P)y)ᵀg and m_rᵀr = m_rᵀg, as m_r = (I − P)m
            // already lies in the residual space. So the score is `Reference::score` of
            // the plain gaussianized ranks against the neutralized target.
            let target = contribution_target(gather(self.input.target, rows));
            let target = projector.residual_vector(&target);
            let reference = Reference {
                target_dot_reference: dot(&target, &reference),
                reference_norm2: dot(&reference, &reference),
                target,
                reference,
            };
            Ok((projector, reference))
        };
        let (projector, reference) = match setup() {
            Ok(setup) => setup,
            Err(undefined) => return Ok(self.all(undefined)),
        };
        // The residual norm only decides whether the score is defined.
        Ok(self.map_neutral_target_ranks(projector, |gaussian, _| Ok(reference.score(gaussian))))
    }
}
